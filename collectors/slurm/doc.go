// Package slurm is the only code in vitlab that runs Slurm's commands
// (sbatch, squeue, sacct, scancel).
//
// In: a batch directory that runner.Prepare wrote on storage every node
// sees, the number of shards, and what the tasks need (partition,
// account, GPUs per task, time limit, how many run at once, the vitlab
// executable and the flags each shard passes on).
//
// Out: two job scripts, written into <batch>/slurm/ and submitted with
// `sbatch --parsable`: array.sh, one job array (--array=0-(N-1)%K) whose
// task i runs `vitlab collect --batch-dir DIR --shard i --of N`, and
// finalize.sh, submitted with --dependency=afterany:<array job>, which runs
// `vitlab collect --finalize DIR` once every task has ended however it
// ended. <batch>/slurm/jobs.json records the job ids; Status asks squeue
// (and sacct where accounting is on) what became of them.
package slurm
