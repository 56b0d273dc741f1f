// Package schemas declares every table of the vitlab warehouse once: its
// name, what a row is, and each column's Arrow type, unit and meaning. It
// imports nothing but Arrow. Everything that writes or reads the warehouse
// takes its column lists from here; SCHEMA.md and testdata/<table>.schema are
// generated from these declarations (go test ./schemas -rewrite), so a column
// change is a reviewed diff.
//
// Run settings are declared once, in settings.json (embedded; Settings()).
//
// Schemas only grow. Readers combine files of different versions with
// DuckDB's union_by_name; a column a file lacks reads as null.
//
// Version table:
//
//	version  change
//	1        tables batches, runs, devices, kernels, memcpys, memsets, cuda_api, nvtx, gpu_samples
//	2        batches.filter, batches.warnings (from batch.json)
//	3        settings registry settings.json (the runs setting columns derive from it); runs: the new
//	         settings and cpus_allowed; gpu_samples.phase, gpu_samples.energy_mj; table clean_windows;
//	         batches.hosts (hosts of a batch collected in shards); later within 3: runs.host,
//	         runs.run_content_sha256 (a run's content identity; older files read it as null)
//	4        runs.forward_bound_img_s, runs.prep_bound_img_s (the workload's headroom rates)
//	5        runs.gpu_power_limit_w (NVML enforced power limit), gpu_samples.clocks_event_reasons
//	         (NVML clocks event reasons bitmask); older batches read both as null
//	6        gpu_samples.cpu_canary_ns (the sampler's CPU canary: the host CPU's speed at each
//	         sample); older batches read it as null
package schemas
