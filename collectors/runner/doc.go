// Package runner drives a plan's runs on a GPU host and writes the batch
// directory that ingest reads (collectors/batchdir).
//
// In: an expanded plan (collectors/plan), the host's facts (GPU inventory
// and samples from collectors/nvml through the Config's functions, NUMA
// topology and GPU locality from collectors/numa), an nsys installation
// (collectors/nsys), a Python interpreter and the workload directory
// (collectors/workload/vit_workload.py).
//
// Out: <out>/<batch-id>/ with batch.json (written at the start without
// finished, and again at the end with it), plan.yaml (a copy of the plan the
// batch was made from, used to refuse a resume with a changed plan), and per
// run runs/<run-id>/ holding request.json, result.clean.json,
// result.traced.json, stdout.log, stderr.log, nvml.jsonl.zst (nvml.jsonl
// while the run goes on, and kept so in a run that failed), trace.sqlite.zst
// and run.json. With WarmStart (warm.go) the batch directory also holds
// warm-<pid>-<n>.log, the log of each warm interpreter (what it preloaded,
// each run it forked and how that ended); ingest ignores it.
//
// A run beyond the batch's trace_repeats (plan.Run.Traced false) runs the
// clean phase only: run.json says untraced, has no traced command and no
// export, and takes its effective settings from the clean phase.
//
// Each run executes the workload twice, as the workload contract says:
// first the clean phase (untraced; numactl only), then the traced phase
// (numactl, then nsys, then the workload), both under one per-run timeout
// that kills the whole process group (SIGTERM, then SIGKILL after a grace
// period). NVML is sampled in both phases (DefaultSampleEvery, 20 Hz; each
// sample names its phase and carries the energy counter). The workload's
// stdout is read line by line as it comes (and copied to stdout.log): on
// each window marker "VITLAB_WINDOW begin|end <index> <unix_ns>" the GPU's
// total-energy counter is read at once, and run.json's windows get the
// workload's clean windows with energy_mj = end − begin reading
// (traced_window likewise); where the counter is unsupported the run says
// so in its warnings. run.json's cpus records the CPUs the run may use (its
// NUMA node's when bound, else the collector's affinity) and what the
// workload saw and used and host_cpu what the host's CPUs were and did
// over the clean phase (hostcpu.go: model, load, busy / steal / iowait
// shares of /proc/stat; a warning when a VM's steal reaches 2 %). Runs are named after the placement the host
// really gives: nlocal/nremote when bound, nnone when unbound (a local
// request where the GPU's node is unknown is unbound, and merges with a
// none run), nunavailable when the host cannot give it. run.json takes its
// effective settings from the workload's traced result and never from the
// request; if the two phases report different effective settings the run
// is failed with the difference, so it is never labelled with settings it
// did not use. Requested settings the workload changed are listed in
// run.json's mismatch. A run that fails or times out is recorded with the
// tail of its stderr and the batch goes on; a placement the host cannot give
// (remote NUMA on a one-node host) is recorded as unavailable without
// running. The export (nsys export, zstd) follows the traced phase outside
// the run's timeout. One failure stops the batch: nsys's report importer
// failing (libdw missing), which every later run would meet too. With
// Resume, runs whose run.json says ok are kept and all others run again in
// the same batch directory (their old files are removed first).
//
// CUDA_VISIBLE_DEVICES is the chosen GPU's UUID when NVML gives one, else
// its index with CUDA_DEVICE_ORDER=PCI_BUS_ID, so CUDA and NVML name the
// same card. Interrupting (ctx cancelled: Ctrl-C, or Slurm's SIGTERM to a
// cancelled or preempted task) stops the current run's process group and
// leaves that run unfinished (its folder without run.json, so --resume
// redoes it) and batch.json without finished.
//
// Shards: Prepare writes a batch directory without running anything (a
// login node can); Run with Join and Shard/Shards runs runs i with
// i % Shards == Shard into it (resume semantics: ok runs are kept), on any
// host, several at once. Each run records its host; batch.json is merged
// under the batch's flock (batchdir.Update: this host joins hosts), and
// batchdir.Finalize marks the batch finished once every run has run.json.
//
// The commands are run with os/exec in their own process group; the
// package spells no nsys or numactl flags itself.
package runner
