#!/bin/bash
# cluster.sh start|stop|env DIR — a one-node Slurm cluster on loopback for
# the real-Slurm test (cluster_test.go; make test-slurm).
#
# start: generates a munge key, starts munged on a socket in DIR, writes
#        DIR/slurm.conf (this host as the only node, NodeAddr=127.0.0.1,
#        2 CPUs, state and logs under DIR) and starts slurmctld and slurmd,
#        then waits until the node is idle. Needs root and Debian's slurm-wlm
#        and munge (make deps installs them, best effort).
# stop:  stops the three daemons started from DIR.
# Clients use the cluster with SLURM_CONF=DIR/slurm.conf.
set -euo pipefail
cmd=${1:?usage: cluster.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: cluster.sh start|stop DIR}")
host=$(hostname -s)
export SLURM_CONF=$dir/slurm.conf

stop() {
	for p in slurmd slurmctld munged; do
		if [ -f "$dir/$p.pid" ]; then
			kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
		fi
	done
	sleep 1
	for p in slurmd slurmctld munged; do
		if [ -f "$dir/$p.pid" ] && kill -0 "$(cat "$dir/$p.pid")" 2>/dev/null; then
			kill -9 "$(cat "$dir/$p.pid")" 2>/dev/null || true
		fi
		rm -f "$dir/$p.pid"
	done
}

case $cmd in
start)
	[ "$(id -u)" = 0 ] || { echo "cluster.sh: needs root (slurmd runs jobs as their user)" >&2; exit 3; }
	for t in munged slurmctld slurmd sbatch; do
		command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || { echo "cluster.sh: $t not found (apt-get install slurm-wlm munge)" >&2; exit 3; }
	done
	mkdir -p "$dir"/{ctld,spool,log,munge}
	chmod 700 "$dir/munge"
	dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
	chmod 400 "$dir/munge/munge.key"
	/usr/sbin/munged --force --socket="$dir/munge/munge.sock" --key-file="$dir/munge/munge.key" \
		--pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed"
	cat >"$dir/slurm.conf" <<CONF
ClusterName=vitlabtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=defer_batch=0
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=300
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MaxArraySize=10000
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
	/usr/sbin/slurmctld -i -f "$dir/slurm.conf"
	/usr/sbin/slurmd -f "$dir/slurm.conf"
	for _ in $(seq 1 60); do
		state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
		case $state in idle) echo "cluster.sh: node $host idle ($dir)"; exit 0 ;; esac
		sleep 0.5
	done
	echo "cluster.sh: node $host did not become idle (state '${state:-?}'); logs in $dir/log" >&2
	tail -20 "$dir"/log/*.log >&2 || true
	stop
	exit 1
	;;
stop) stop ;;
*) echo "usage: cluster.sh start|stop DIR" >&2; exit 2 ;;
esac
