#!/bin/bash
# Measurement sessions on a lent GPU host (nsys under /opt/nvidia, no network), from the
# repository root, in the background so that no 10-minute call limit cuts it:
#
#   here:   GOOS=linux GOARCH=amd64 go build -tags noduckdb -trimpath -ldflags="-s -w" -o /tmp/vitlab ./cmd/vitlab
#           zstd -19 /tmp/vitlab -o .gpu-bin/vitlab.zst; stat -c %s /tmp/vitlab > .gpu-bin/vitlab.size
#           # (without DuckDB: 10 MB compressed; carry [".gpu-libs", ".gpu-bin"], the tree must stay < 64 MiB)
#   there:  bash collectors/workload/device_session.sh call 560 pipeline   # one call; then "call2 560"
#           bash collectors/workload/device_session.sh call 560 campaign   # the standard profiles, resumable:
#           # copy the packed campaign-*.tar.xz of earlier sessions into .campaign/ (git-ignored) and carry it
#   there:  bash collectors/workload/device_session.sh call 560 auto       # hostprobe first (a disturbed
#           # host collects nothing), then pipeline-r3 on an H200, else the two orders and the campaign
#   there:  bash collectors/workload/device_session.sh smoke      # tests + one collected run (~2.5 min)
#           setsid nohup bash collectors/workload/device_session.sh all > /tmp/session.out 2>&1 &
#           bash collectors/workload/device_session.sh pack       # later calls: results to $OUT
#
# "all": rq5 quick (ViT-B/16 b32: sync, async q1/q2/q8 × cpu/gpu, each run with its
# headroom), the same eight variants at b64 as direct clean runs, the DataLoader + timm
# peer at b32 and b64 (8 and 15 workers), preprocess_bench.py, then rq2 and rq1 quick;
# batches rq{5,2,1}-quick-<card> under /tmp/sess/batches, the rest under /tmp/sess/side.
set -u
S=/tmp/sess; W=collectors/workload
export PYTHONUNBUFFERED=1
mkdir -p /tmp/dw && for f in .gpu-libs/*.deb; do dpkg -x "$f" /tmp/dw; done
NSYS=${NSYS:-/opt/nvidia/nsight-compute/2025.3.1/host/target-linux-x64/nsys}
DWLIB=/tmp/dw/usr/lib/x86_64-linux-gnu
if [ ! -x /tmp/vitlab ]; then
  if command -v zstd >/dev/null; then zstd -q -d .gpu-bin/vitlab.zst -o /tmp/vitlab
  else python3 -c "
import os, pyarrow as pa
d = open('.gpu-bin/vitlab.zst', 'rb').read()
open('/tmp/vitlab', 'wb').write(pa.Codec('zstd').decompress(d, decompressed_size=int(open('.gpu-bin/vitlab.size').read())).to_pybytes())"
  fi
  chmod +x /tmp/vitlab
fi
collect() {  # plan batch [extra flags]; PROFILE=quick unless set
  /tmp/vitlab collect --plan collectors/plans/$1.yaml --profile ${PROFILE:-quick} --out $S/batches --batch $2 \
    --nsys $NSYS --nsys-env LD_LIBRARY_PATH=$DWLIB "${@:3}"
}
begin() {  # the session folders, the card's tag for batch ids, and log
  mkdir -p $S/side $S/batches
  CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
  case "$CARD" in *H200*) TAG=h200;; *H100*) TAG=h100;; *) TAG=gpu;; esac
  echo "card $CARD tag $TAG" > $S/card.txt
}
log() { echo "$(date -u +%T) $*" >> $S/progress.txt; }
unpack_campaign() {  # the campaign's batches of earlier sessions, once per session (a later
  # unpack would put an older copy over runs collected since)
  [ -f $S/.unpacked ] && return
  for t in .campaign/*.tar.xz; do [ -f "$t" ] && tar xJf "$t" -C $S/batches; done
  touch $S/.unpacked
}
case "${1:-}" in
smoke)
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  # test_torch_parts runs real GPU work: 120 s was not enough on the H100
  # (2026-12-07); the window markers the tests print are filtered out.
  (cd $W && timeout 360 python3 -m unittest test_workers test_sched test_settings test_cli test_stats \
     test_nvtx test_pipeline_logic test_torch_parts 2>&1 | grep -v '^VITLAB_WINDOW' | tail -30)
  S=/tmp/smoke; collect rq5 smoke --only '*async-q2-cpu*' --timeout 150s 2>&1 | tail -5
  python3 -c "import glob,json; r=json.load(open(glob.glob('/tmp/smoke/batches/smoke/runs/*/run.json')[0])); print(r['status'], r.get('error'), r['timings'], r.get('labels'))"
  ;;
all)
  begin
  collect rq5 rq5-quick-$TAG > $S/rq5.log 2>&1; log rq5
  for v in "sync cpu 1" "async cpu 1" "async cpu 2" "async cpu 8" "sync gpu 1" "async gpu 1" "async gpu 2" "async gpu 8"; do
    set -- $v; n=b64-$1-q$3-$2
    printf '{"run_id":"side-%s","settings":{"patch":16,"depth":12,"hidden":768,"resolution":224,"source_resolution":256,"batch_size":64,"pipeline":"%s","queue_depth":%s,"preprocess":"%s","warmup_batches":5,"timed_batches":20,"clean_repeats":3,"min_window_s":2}}' \
      $n $1 $3 $2 > $S/side/$n.req.json
    timeout 120 python3 $W/vit_workload.py --request $S/side/$n.req.json --result $S/side/$n.json --phase clean > $S/side/$n.log 2>&1
  done; log side
  for b in 32 64; do timeout 150 python3 $W/peer_bench.py --batch-size $b --workers 8,15 --json $S/side/peer-b$b.json > $S/side/peer-b$b.log 2>&1; done; log peer
  timeout 150 python3 $W/preprocess_bench.py --workers 1,2,4,8,15 --seconds 1 --repeats 2 --json $S/side/prep-b32.json > $S/side/prep.log 2>&1; log prep
  collect rq2 rq2-quick-$TAG > $S/rq2.log 2>&1; log rq2
  collect rq1 rq1-quick-$TAG > $S/rq1.log 2>&1; log rq1
  touch $S/ALLDONE
  ;;
core)
  # The short form of "all" for a session with little device time: rq5
  # quick first (every run with its headroom), then the DataLoader peer at
  # b32, the cost probe, rq2 and rq1 quick.
  begin
  collect rq5 rq5-quick-$TAG > $S/rq5.log 2>&1; log rq5
  timeout 120 python3 $W/peer_bench.py --batch-size 32 --workers 8,15 --json $S/side/peer-b32.json > $S/side/peer-b32.log 2>&1; log peer
  timeout 90 python3 $W/cost_probe.py --repeats 2 --nsys $NSYS --nsys-env LD_LIBRARY_PATH=$DWLIB --json $S/side/costs.json > $S/side/costs.log 2>&1; log costs
  collect rq2 rq2-quick-$TAG > $S/rq2.log 2>&1; log rq2
  collect rq1 rq1-quick-$TAG > $S/rq1.log 2>&1; log rq1
  touch $S/ALLDONE
  ;;
pipeline)
  # Issue 21 on one card, one session: rq5's "pipeline" profile (the quick
  # variants at b32 and b64, each run with its headroom, executed as
  # always), the DataLoader peer at b32 and b64, rq5 quick (its b32 half)
  # again with the warm start (--warm-start) in a second order (seed 2:
  # the two-order check, and warm against executed launches), the fork
  # probe, rq2 and rq1 quick warm, then the workload's unit tests (after
  # the measurements, so that they disturb none).
  begin
  PROFILE=pipeline collect rq5 rq5-pipeline-$TAG > $S/rq5.log 2>&1; log rq5
  for b in 32 64; do timeout 120 python3 $W/peer_bench.py --batch-size $b --workers 8,15 --json $S/side/peer-b$b.json > $S/side/peer-b$b.log 2>&1; done; log peer
  collect rq5 rq5-quick-$TAG-warm-seed2 --order-seed 2 --warm-start > $S/rq5-warm.log 2>&1; log rq5-warm-seed2
  bash $W/device_session.sh forkprobe > $S/forkprobe.log 2>&1; log forkprobe
  collect rq2 rq2-quick-$TAG --warm-start > $S/rq2.log 2>&1; log rq2
  collect rq1 rq1-quick-$TAG --warm-start > $S/rq1.log 2>&1; log rq1
  (cd $W && timeout 400 python3 -m unittest test_workers test_sched test_settings test_cli test_stats \
     test_nvtx test_pipeline_logic test_torch_parts test_zygote 2>&1 | grep -v '^VITLAB_WINDOW' | tail -30) > $S/side/unittest.log 2>&1; log unittest
  touch $S/ALLDONE
  ;;
pipeline-r3)
  # Issue 21 with repeats, one card, one session: rq5's "pipeline-r3"
  # profile (the pipeline profile's 18 configurations, b32 and b64 with the
  # DataLoader peer, three runs each in a seeded interleaved order, repeat 1
  # traced) warm, then rq2 and rq1 quick warm (the sample's batches), the
  # peer's worker sweep, and the workload's unit tests if time remains.
  begin
  PROFILE=pipeline-r3 collect rq5 rq5-pipeline-r3-$TAG --warm-start > $S/rq5.log 2>&1; log rq5
  collect rq2 rq2-quick-$TAG --warm-start > $S/rq2.log 2>&1; log rq2
  collect rq1 rq1-quick-$TAG --warm-start > $S/rq1.log 2>&1; log rq1
  for b in 32 64; do timeout 120 python3 $W/peer_bench.py --batch-size $b --workers 8,15 --json $S/side/peer-b$b.json > $S/side/peer-b$b.log 2>&1; done; log peer
  (cd $W && timeout 400 python3 -m unittest test_workers test_sched test_settings test_cli test_stats \
     test_nvtx test_pipeline_logic test_torch_parts test_zygote 2>&1 | grep -v '^VITLAB_WINDOW' | tail -30) > $S/side/unittest.log 2>&1; log unittest
  touch $S/ALLDONE
  ;;
pipeline-r3-b32)
  # pipeline-r3 for a session with ~15 device-minutes: its batch-32 half
  # (the 8 variants and the peer, 3 runs each, repeat 1 traced), then rq2
  # and rq1 quick warm (the sample's batches).
  begin
  PROFILE=pipeline-r3 collect rq5 rq5-pipeline-r3-b32-$TAG --warm-start --only '*-b32-*' > $S/rq5.log 2>&1; log rq5
  collect rq2 rq2-quick-$TAG --warm-start > $S/rq2.log 2>&1; log rq2
  collect rq1 rq1-quick-$TAG --warm-start > $S/rq1.log 2>&1; log rq1
  touch $S/ALLDONE
  ;;
hostprobe)
  # ~30 s: is this host steady? ViT-B/16 eager at b32 is launch-bound, so
  # its forward-only rate is the host CPU's speed as much as the GPU's: 30
  # windows of 150 back-to-back forwards (~0.5 s each). Exit status 3 when
  # the slowest window is below 0.90 of the fastest (on the disturbed H100
  # VM of 2026-12-07 15:07 the runs' forward-only rates spanned 4.7k-10.2k
  # img/s; on a quiet one 9.96k-10.17k). HP names its files (default
  # hostprobe): the campaign probes again before each plan.
  mkdir -p $S/side
  timeout 150 python3 $W/forward_bound.py --patch 16 --depth 12 --hidden 768 --resolution 224 \
    --batch-size 32 --iters 150 --repeats 30 --json $S/side/${HP:-hostprobe}.json > $S/side/${HP:-hostprobe}.log 2>&1
  HP=${HP:-hostprobe} python3 - <<'EOP'
import json, os, sys
try:
    w = sorted(json.load(open("/tmp/sess/side/%s.json" % os.environ["HP"]))[0]["runs"])
except Exception as e:  # no verdict: the session goes on
    print("hostprobe: no result (%s)" % e)
    sys.exit(0)
print("hostprobe: ViT-B/16 b32 eager forward-only: min %.0f, median %.0f, max %.0f img/s over %d windows"
      % (w[0], w[len(w) // 2], w[-1], len(w)))
sys.exit(3 if w[0] < 0.9 * w[-1] else 0)
EOP
  ;;
auto)
  # The host first: a disturbed one (hostprobe exit 3) collects nothing,
  # so that the device time left can go to another machine. Then the card
  # decides: an H200 runs pipeline-r3 (issue 21 is measured on the H200),
  # any other card the campaign's rq5 in two orders ("orders"), then the
  # rest of the campaign (resumable from .campaign/).
  begin
  bash $W/device_session.sh hostprobe >> $S/progress.txt 2>&1
  if [ $? -eq 3 ]; then log "host disturbed: nothing collected"; touch $S/DISTURBED $S/ALLDONE; exit 0; fi
  case "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)" in
    *H200*) exec bash $W/device_session.sh pipeline-r3;;
    *) exec bash $W/device_session.sh orders;;
  esac
  ;;
orders)
  # Issue 17's two-order check, in one session on one card, as the first
  # part of the campaign: rq5's standard profile (12 configurations, 5 runs
  # each) split into two batches with different run orders: repeats 1-3 in
  # order seed 2 (repeat 1 traced), repeats 4-5 in order seed 3 (clean phase
  # only). Each configuration's runs in one order are checked against the
  # other's interval (`vitlab compare`), and the two batches pooled are the
  # campaign's rq5 (5 runs each, same_session false: two batches). ~16 min
  # on an H100. Then the rest of the campaign.
  begin
  unpack_campaign
  for half in "campaign-rq5-$TAG 2 *-r[123]" "campaign-rq5-o3-$TAG 3 *-r[45]"; do
    set -f; set -- $half; set +f
    if [ -f $S/batches/$1/batch.json ]; then R="--resume"; else R=""; fi
    PROFILE=standard collect rq5 $1 --warm-start --order-seed $2 --only "$3" $R > $S/$1.log 2>&1; log $1
  done
  SKIP_RQ5=1 exec bash $W/device_session.sh campaign
  ;;
campaign)
  # The standard profiles (issue 17's campaign), warm start, in the order
  # rq5, rq2, rq4, rq1, rq3 (compile-heavy last), each into batch
  # campaign-<plan>-<card>. A batch begun in an earlier session travels
  # back in the carried folder .campaign/ (tar of the packed batch) and is
  # resumed: runs whose run.json says ok are kept. First the peer's GPU
  # test and the zygote tests (quick), so the session says whether they hold.
  begin
  unpack_campaign
  (cd $W && timeout 150 python3 -m unittest test_torch_parts.GPUSmoke.test_peer test_zygote 2>&1 | grep -v '^VITLAB_WINDOW' | tail -30) > $S/side/unittest-peer.log 2>&1; log unittest-peer
  for p in rq5 rq2 rq4 rq1 rq3; do
    # rq5 was collected by "orders" in two halves (two order seeds)
    if [ $p = rq5 ] && { [ -n "${SKIP_RQ5:-}" ] || [ -f $S/batches/campaign-rq5-o3-$TAG/batch.json ]; }; then continue; fi
    # the host again before each plan: a host disturbed since collects no more
    HP=hostprobe-$p bash $W/device_session.sh hostprobe >> $S/progress.txt 2>&1
    if [ $? -eq 3 ]; then log "host disturbed before $p: stopped"; touch $S/DISTURBED; break; fi
    B=campaign-$p-$TAG
    if [ -f $S/batches/$B/batch.json ]; then R="--resume"; else R=""; fi
    PROFILE=standard collect $p $B --warm-start $R > $S/$p.log 2>&1; log $p
  done
  touch $S/ALLDONE
  ;;
canary)
  # ~1.5 min, for a short lease: the host probe (whatever it says), then
  # one rq5 quick run (sync, nvJPEG, batch 32; executed, traced) whose NVML
  # samples carry the CPU canary (cpu_canary_ns), packed into $OUT.
  begin
  bash $W/device_session.sh hostprobe >> $S/progress.txt 2>&1; log "hostprobe exit $?"
  collect rq5 canary-$TAG --only '*sync-q1-gpu*' --timeout 100s > $S/canary.log 2>&1; log canary
  bash $W/device_session.sh pack
  ;;
tiny)
  # Very little device time: the fork probe, the peer's GPU test, rq5
  # quick's two q2 runs executed and then warm (the clean phase's cost both
  # ways, same card, same configurations), then rq5's pipeline profile warm.
  begin
  bash $W/device_session.sh forkprobe > $S/forkprobe.log 2>&1; log forkprobe
  (cd $W && timeout 120 python3 -m unittest test_torch_parts.GPUSmoke.test_peer test_zygote 2>&1 | grep -v '^VITLAB_WINDOW' | tail -30) > $S/side/unittest-peer.log 2>&1; log unittest-peer
  collect rq5 rq5-q2-$TAG-executed --only '*-q2-*' > $S/rq5-q2-executed.log 2>&1; log rq5-q2-executed
  collect rq5 rq5-q2-$TAG-warm --only '*-q2-*' --warm-start > $S/rq5-q2-warm.log 2>&1; log rq5-q2-warm
  PROFILE=pipeline collect rq5 rq5-pipeline-$TAG-warm-seed2 --order-seed 2 --warm-start > $S/rq5-warm.log 2>&1; log rq5-pipeline-warm-seed2
  touch $S/ALLDONE
  ;;
short)
  # Little device time left: rq5 quick executed (the baseline), then rq5's
  # pipeline profile (the quick variants and the DataLoader peer at b32 and
  # b64) with --warm-start in a second order (its b32 half against the
  # baseline: warm against executed, two orders, runs per GPU-hour), then
  # the fork probe and the workload's unit tests if time remains.
  begin
  collect rq5 rq5-quick-$TAG > $S/rq5.log 2>&1; log rq5
  PROFILE=pipeline collect rq5 rq5-pipeline-$TAG-warm-seed2 --order-seed 2 --warm-start > $S/rq5-warm.log 2>&1; log rq5-pipeline-warm-seed2
  bash $W/device_session.sh forkprobe > $S/forkprobe.log 2>&1; log forkprobe
  (cd $W && timeout 400 python3 -m unittest test_torch_parts test_zygote test_pipeline_logic 2>&1 | grep -v '^VITLAB_WINDOW' | tail -30) > $S/side/unittest.log 2>&1; log unittest
  touch $S/ALLDONE
  ;;
forkprobe)
  # Can one nsys session trace runs forked by a warm interpreter? nsys
  # profiles vit_zygote.py with --trace-fork-before-exec and a capture range
  # per cudaProfilerStart/Stop (repeat); two traced runs are launched
  # through it; what files come out, how long each launch takes, and
  # whether each export holds the run's kernels.
  # Seen on an H100 (nsys 2025.3.1, 2026-12-07): both forked runs ran (2.2 s
  # each, traced window included) but nsys wrote no report ("No reports were
  # generated"): a child forked without exec is not traced this way. The
  # second probe (nsys launch + start/stop) has not run yet.
  P=$S/side/forkprobe; mkdir -p $P; rm -f /tmp/fp.sock
  printf '{"run_id":"fp","settings":{"patch":16,"depth":12,"hidden":768,"resolution":224,"source_resolution":256,"batch_size":32,"pipeline":"async","queue_depth":2,"preprocess":"gpu","warmup_batches":5,"timed_batches":20,"clean_repeats":3,"min_window_s":2}}' > $P/req.json
  T0=$(date +%s.%N)
  LD_LIBRARY_PATH=$DWLIB:${LD_LIBRARY_PATH:-} timeout 150 $NSYS profile -t cuda,nvtx --sample=none --cpuctxsw=none --trace-fork-before-exec=true \
    --capture-range=cudaProfilerApi --capture-range-end=repeat --force-overwrite=true -o $P/trace \
    python3 $W/vit_zygote.py --socket /tmp/fp.sock --path $W --preload torch,timm,torchvision,vit_run,vit_sources > $P/zygote.out 2> $P/zygote.err &
  NP=$!
  for i in $(seq 60); do grep -q "VITLAB_ZYGOTE" $P/zygote.out 2>/dev/null && break; sleep 1; done
  echo "ready after $(awk "BEGIN{print $(date +%s.%N) - $T0}") s: $(head -1 $P/zygote.out)" > $P/probe.txt
  for i in 1 2; do
    t=$(date +%s.%N)
    timeout 60 python3 $W/vit_launch.py --socket /tmp/fp.sock -- $W/vit_workload.py --request $P/req.json --result $P/res$i.json --phase traced --cuda-profiler-range > $P/run$i.out 2> $P/run$i.err
    echo "run $i rc=$? $(awk "BEGIN{print $(date +%s.%N) - $t}") s" >> $P/probe.txt
  done
  pkill -TERM -f "vit_zygote.py --socket /tmp/fp.sock"; wait $NP; echo "nsys rc=$? total $(awk "BEGIN{print $(date +%s.%N) - $T0}") s" >> $P/probe.txt
  ls -la $P >> $P/probe.txt
  for f in $P/*.nsys-rep; do
    LD_LIBRARY_PATH=$DWLIB $NSYS export --type sqlite --force-overwrite=true -o ${f%.nsys-rep}.sqlite $f > /dev/null 2>&1
    python3 -c "
import sqlite3,sys; c=sqlite3.connect(sys.argv[1])
k=c.execute('select count(*), count(distinct globalPid) from CUPTI_ACTIVITY_KIND_KERNEL').fetchone()
n=c.execute(\"select count(*) from NVTX_EVENTS where text like 'timed%' or text like 'vitlab%'\").fetchone()
print(sys.argv[1], 'kernels', k[0], 'pids', k[1], 'nvtx', n[0])" ${f%.nsys-rep}.sqlite >> $P/probe.txt 2>&1
    rm -f $f ${f%.nsys-rep}.sqlite
  done
  # The same through an interactive session: nsys launch starts the warm
  # interpreter once; nsys start -o RUN_DIR/trace / nsys stop around each run
  # names each run's report itself.
  rm -f /tmp/fp2.sock; T0=$(date +%s.%N)
  # (--cpuctxsw is refused by "nsys launch" since 2021.5: it goes on "nsys start".)
  LD_LIBRARY_PATH=$DWLIB:${LD_LIBRARY_PATH:-} timeout 150 $NSYS launch --session-new=vitlabfp -t cuda,nvtx --sample=none \
    --trace-fork-before-exec=true python3 $W/vit_zygote.py --socket /tmp/fp2.sock --path $W \
    --preload torch,timm,torchvision,vit_run,vit_sources > $P/zygote2.out 2> $P/zygote2.err &
  NP=$!
  for i in $(seq 60); do grep -q "VITLAB_ZYGOTE" $P/zygote2.out 2>/dev/null && break; sleep 1; done
  echo "session: ready after $(awk "BEGIN{print $(date +%s.%N) - $T0}") s: $(head -1 $P/zygote2.out)" >> $P/probe.txt
  for i in 1 2; do
    t=$(date +%s.%N)
    LD_LIBRARY_PATH=$DWLIB $NSYS start --session=vitlabfp --cpuctxsw=none -o $P/s$i --force-overwrite=true >> $P/nsys-start.log 2>&1
    t1=$(date +%s.%N)
    timeout 60 python3 $W/vit_launch.py --socket /tmp/fp2.sock -- $W/vit_workload.py --request $P/req.json --result $P/sres$i.json --phase traced > $P/srun$i.out 2> $P/srun$i.err
    rc=$?; t2=$(date +%s.%N)
    LD_LIBRARY_PATH=$DWLIB $NSYS stop --session=vitlabfp >> $P/nsys-start.log 2>&1
    echo "session run $i rc=$rc start $(awk "BEGIN{print $t1 - $t}") s run $(awk "BEGIN{print $t2 - $t1}") s stop $(awk "BEGIN{print $(date +%s.%N) - $t2}") s" >> $P/probe.txt
  done
  pkill -TERM -f "vit_zygote.py --socket /tmp/fp2.sock"; wait $NP; echo "session nsys rc=$?" >> $P/probe.txt
  ls -la $P >> $P/probe.txt
  for f in $P/s*.nsys-rep; do
    [ -f "$f" ] || continue
    LD_LIBRARY_PATH=$DWLIB $NSYS export --type sqlite --force-overwrite=true -o ${f%.nsys-rep}.sqlite $f > /dev/null 2>&1
    python3 -c "
import sqlite3,sys; c=sqlite3.connect(sys.argv[1])
k=c.execute('select count(*), count(distinct globalPid) from CUPTI_ACTIVITY_KIND_KERNEL').fetchone()
print(sys.argv[1], 'kernels', k[0], 'pids', k[1])" ${f%.nsys-rep}.sqlite >> $P/probe.txt 2>&1
    rm -f $f ${f%.nsys-rep}.sqlite
  done
  cat $P/probe.txt
  ;;
call)
  # One device call: start mode $3 (default pipeline) in the background,
  # which outlives the call while the machine stays warm, wait until it is
  # done or $2 seconds (default 560) have passed, and pack what is there
  # into $OUT. The next call: "call2 SECONDS" (wait more, then pack).
  T0=$(date +%s)
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python3 -c "import torch, timm; print(torch.__version__, timm.__version__)"
  setsid nohup bash $W/device_session.sh ${3:-pipeline} > /tmp/session.out 2>&1 < /dev/null &
  sleep 5
  while [ $(( $(date +%s) - T0 )) -lt ${2:-560} ] && [ ! -f $S/ALLDONE ]; do sleep 10; done
  cat $S/progress.txt; bash $W/device_session.sh pack
  ;;
call2)
  T0=$(date +%s)
  while [ $(( $(date +%s) - T0 )) -lt ${2:-560} ] && [ ! -f $S/ALLDONE ]; do sleep 10; done
  tail -5 /tmp/session.out; bash $W/device_session.sh pack
  ;;
pack)
  cat $S/card.txt $S/progress.txt 2>/dev/null
  python3 - <<'EOP'
import glob, os, tarfile
S = "/tmp/sess"; OUT = os.environ["OUT"]
with tarfile.open(os.path.join(OUT, "side.tar.xz"), "w:xz", preset=3) as t:
    for p in ["side", "card.txt", "progress.txt"] + [os.path.basename(x) for x in glob.glob(S + "/*.log")]:
        if os.path.exists(os.path.join(S, p)):
            t.add(os.path.join(S, p), arcname=p)
for b in sorted(glob.glob(S + "/batches/*/")):
    n = os.path.basename(b.rstrip("/"))
    with tarfile.open(os.path.join(OUT, n + ".tar.xz"), "w:xz", preset=3) as t:
        # the SQLite exports are what ingest reads; the .nsys-rep files would not fit
        t.add(b.rstrip("/"), arcname=n, filter=lambda ti: None if ti.name.endswith(".nsys-rep") else ti)
for f in sorted(os.listdir(OUT)):
    print(f, os.path.getsize(os.path.join(OUT, f)))
EOP
  ;;
*) echo "usage: $0 smoke|canary|all|core|pipeline|pipeline-r3|pipeline-r3-b32|short|tiny|campaign|forkprobe|call|call2|pack" >&2; exit 2;;
esac
