// Package batchdir defines the batch directory: what the collector writes on a
// GPU host and what ingest reads anywhere (DESIGN.md, "Batch directory").
//
//	<batch-id>/batch.json                       Batch
//	<batch-id>/runs/<run-id>/run.json           Run: EFFECTIVE settings, status, timings
//	<batch-id>/runs/<run-id>/trace.sqlite[.zst] nsys export
//	<batch-id>/runs/<run-id>/nvml.jsonl         NVML samples, one Sample per line
//	                                            (nvml.jsonl.zst, zstd, once the run is ok)
//	<batch-id>/runs/<run-id>/stdout.log, stderr.log
//
// The configuration of a run is read from run.json, never parsed from a file
// or directory name. A batch is complete when batch.json has Finished set.
//
// Several processes on several hosts (shards: Slurm array tasks, one per
// GPU) may fill one batch directory at once. Each run owns its folder; a
// folder without run.json is unfinished (running, or left by a killed
// process) and is redone on resume. batch.json is only replaced whole
// (WriteJSON: temp file, fsync, rename) and changed under an exclusive
// flock on <batch-id>/.batch.lock (Update), so merges (hosts, software)
// are never lost. Scan counts runs by status; Finalize sets Finished once
// every run has its run.json.
// It imports only the standard library.
package batchdir
