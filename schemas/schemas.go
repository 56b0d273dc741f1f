package schemas

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
)

// Version is the warehouse schema version. It grows by one whenever a column
// or a table is added; the version table in doc.go says what each one added.
// Columns are never removed, renamed or retyped.
const Version = 6

// Metadata keys stored in every Arrow schema (and so in every Parquet file).
const (
	MetaTable   = "vitlab.table"
	MetaVersion = "vitlab.schema_version"
)

// PartitionDir is the hive partition directory prefix of a batch inside a
// table directory: <warehouse>/<table>/batch_id=<batch-id>/part-NNNN.parquet.
const PartitionDir = "batch_id="

// Column is one column of a warehouse table.
type Column struct {
	Name     string
	Type     arrow.DataType
	Nullable bool
	// Unit of the values ("ns", "B", "W", "img/s", …); empty for none.
	Unit string
	// Doc says what the column holds, in one sentence.
	Doc string
	// Since is the schema version that added the column.
	Since int
}

// Table is one warehouse table: its name (also its directory), what a row is,
// and its columns in file order.
type Table struct {
	Name string
	// Row says what one row stands for ("one CUDA kernel execution").
	Row string
	// Doc is a paragraph about the table.
	Doc     string
	Since   int
	Columns []Column

	schema *arrow.Schema
	index  map[string]int
}

// Schema returns the Arrow schema of the table, with the table name and the
// schema version in its metadata.
func (t *Table) Schema() *arrow.Schema { return t.schema }

// Index returns the position of a column, or -1 if the table has none of
// that name.
func (t *Table) Index(name string) int {
	if i, ok := t.index[name]; ok {
		return i
	}
	return -1
}

// MustIndex is Index for column names fixed in code; it panics on a typo,
// which is a programming error, never a data error.
func (t *Table) MustIndex(name string) int {
	i := t.Index(name)
	if i < 0 {
		panic(fmt.Sprintf("schemas: table %s has no column %q", t.Name, name))
	}
	return i
}

func newTable(name, row, doc string, cols ...Column) *Table {
	t := &Table{Name: name, Row: row, Doc: doc, Since: 1, Columns: cols, index: map[string]int{}}
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		if _, dup := t.index[c.Name]; dup {
			panic("schemas: duplicate column " + name + "." + c.Name)
		}
		if c.Since == 0 {
			t.Columns[i].Since = 1
		}
		t.index[c.Name] = i
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type, Nullable: c.Nullable}
	}
	md := arrow.NewMetadata([]string{MetaTable, MetaVersion}, []string{name, strconv.Itoa(Version)})
	t.schema = arrow.NewSchema(fields, &md)
	return t
}

var (
	i32  = arrow.PrimitiveTypes.Int32
	i64  = arrow.PrimitiveTypes.Int64
	f64  = arrow.PrimitiveTypes.Float64
	str  = arrow.BinaryTypes.String
	bln  = arrow.FixedWidthTypes.Boolean
	tsUS = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
)

// req is a non-null column, opt a nullable one.
func req(name string, t arrow.DataType, unit, doc string) Column {
	return Column{Name: name, Type: t, Unit: unit, Doc: doc}
}

func opt(name string, t arrow.DataType, unit, doc string) Column {
	return Column{Name: name, Type: t, Nullable: true, Unit: unit, Doc: doc}
}

// since marks a column added by schema version v.
func (c Column) since(v int) Column {
	c.Since = v
	return c
}

// Key columns shared by every table of the warehouse.
var (
	colBatch = req("batch_id", str, "", "Batch the row belongs to; also the hive partition directory batch_id=<id> (one column for hive readers).")
	colRun   = req("run_id", str, "", "Run (one nsys export) the row belongs to, unique within its batch.")
)

// Columns shared by the GPU activity tables.
func gpuActivity() []Column {
	return []Column{
		colBatch, colRun,
		req("start", i64, "ns", "Start on the GPU, ns since the export's session start."),
		req("end", i64, "ns", "End on the GPU, ns since the export's session start."),
		req("device_id", i32, "", "nsys device id of the GPU (devices.device_id)."),
		opt("context_id", i64, "", "CUDA context id."),
		req("stream_id", i64, "", "CUDA stream id."),
		opt("correlation_id", i64, "", "Correlation id linking the operation to its API call (cuda_api) within the process; 0 for unified-memory copies, which have no API call."),
		opt("global_pid", i64, "", "nsys serialized global process id; join key with cuda_api.global_pid together with correlation_id."),
		opt("pid", i32, "", "Operating-system process id."),
		opt("graph_node_id", i64, "", "CUDA graph node id when the operation ran inside a graph; null otherwise."),
	}
}

// Batches has one row per committed batch.
var Batches = newTable("batches",
	"one committed batch (a collector run of a plan, or a set of bare exports)",
	"What the collector wrote in batch.json, plus what ingest knew when it committed the batch.",
	colBatch,
	req("source", str, "", "Where the batch came from: collector (a batch directory) or exports (bare nsys exports)."),
	opt("plan", str, "", "Name of the plan the collector expanded."),
	opt("profile", str, "", "Profile of the plan (e.g. quick or full)."),
	opt("host", str, "", "Host name of the GPU machine."),
	opt("started_at", tsUS, "", "When collection started (UTC)."),
	opt("finished_at", tsUS, "", "When collection finished (UTC); null for an incomplete batch ingested on request."),
	req("ingested_at", tsUS, "", "When ingest committed the batch (UTC)."),
	opt("vitlab_version", str, "", "vitlab version that collected the batch (for bare exports, the one that ingested it)."),
	req("ingest_version", str, "", "vitlab version that ingested the batch."),
	opt("gpus", str, "", "GPUs of the host as JSON (NVML: index, name, uuid, bus id, memory, NUMA affinity, enforced_power_limit_mw from schema version 5)."),
	opt("numa_nodes", i32, "", "Number of NUMA nodes of the host; null when unknown."),
	opt("numa_topology", str, "", "NUMA topology of the host as JSON (nodes, their CPUs, distances)."),
	opt("software", str, "", "Software versions on the host as JSON (driver, CUDA, torch, timm, nsys, python)."),
	opt("labels", str, "", "Labels given on the command line (--label k=v) as a JSON object."),
	req("content_sha256", str, "", "SHA-256 over the batch's inputs: what decides whether a re-ingest is identical."),
	req("runs", i64, "", "Runs that landed."),
	req("failed_inputs", i64, "", "Inputs that were set aside because they could not be read."),
	opt("filter", str, "", "Run-id glob that chose the runs of the plan (vitlab collect --only); null when every run was chosen.").since(2),
	opt("warnings", str, "", "What the collector worked around (e.g. NVML unavailable), one per line.").since(2),
	opt("hosts", str, "", "Hosts that ran the batch's runs, as a sorted JSON array of names: one for a batch collected on one host, several when its shards ran on several (vitlab collect --slurm); null for bare exports and batches from before it was recorded.").since(3),
)

// Runs has one row per run (per nsys export).
var Runs = newTable("runs",
	"one run: one configuration executed once under nsys (one export)",
	"Effective settings of the run as recorded by the workload (never parsed from file names), its outcome, "+
		"untraced timings, and the versions of everything involved. For bare exports only the export-derived "+
		"columns and the --label values are filled. Every setting of the registry settings.json has a column "+
		"of its name (null: not recorded; a zero is a value).",
	withSettings([]Column{colBatch, colRun,
		opt("rq", str, "", "Research question the run serves (rq1 … rq5)."),
		opt("name", str, "", "Configuration name from the plan (without the repeat)."),
		opt("repeat", i32, "", "Repeat number of the configuration, from 1."),
		req("status", str, "", "ok, failed or timeout (collector runs); ok for bare exports that loaded."),
		opt("error", str, "", "Why the run failed; null when it did not."),
		opt("warnings", str, "", "Warnings raised while loading the export, one per line (e.g. no events recorded)."),
		setting("model"),
		setting("patch"),
		setting("depth"),
		setting("hidden"),
		setting("heads"),
		setting("mlp"),
		setting("resolution"),
		setting("source_resolution"),
		setting("batch_size"),
		setting("dtype"),
		setting("compile_mode"),
		setting("pipeline"),
		setting("queue_depth"),
		setting("preprocess"),
		setting("cpu_workers"),
		opt("numa_cpu", str, "", "NUMA node(s) the process CPUs were bound to (numactl --cpunodebind); null when unbound."),
		opt("numa_mem", str, "", "NUMA node(s) memory was bound to (numactl --membind); null when unbound."),
		opt("gpu_numa", i32, "", "NUMA node of the GPU; null when the host does not say (sysfs numa_node -1)."),
		opt("numa_placement", str, "", "local, remote or unknown: binding relative to the GPU's NUMA node."),
		opt("gpu_index", i32, "", "CUDA/NVML index of the GPU used."),
		opt("gpu_name", str, "", "GPU name."),
		opt("gpu_uuid", str, "", "GPU UUID."),
		opt("gpu_power_limit_w", f64, "W", "Enforced power limit of the GPU when the collector took its inventory (NVML nvmlDeviceGetEnforcedPowerLimit); null when NVML did not answer and for runs collected before it was recorded.").since(5),
		opt("driver", str, "", "NVIDIA driver version."),
		opt("cuda", str, "", "CUDA version torch was built with."),
		opt("torch", str, "", "PyTorch version."),
		opt("timm", str, "", "timm version; null when the model was not built by timm."),
		opt("nsys_version", str, "", "Nsight Systems version that wrote the export."),
		opt("export_schema", str, "", "nsys SQLite export schema version (META_DATA_EXPORT), null for exports older than 2021."),
		setting("warmup_batches"),
		setting("timed_batches"),
		opt("timed_images", i64, "img", "Images inside the timed window."),
		opt("traced_throughput", f64, "img/s", "Throughput of the timed window as the workload measured it under nsys."),
		opt("clean_throughput", f64, "img/s", "Median throughput of the untraced repeats (no profiler)."),
		opt("clean_throughput_runs", str, "img/s", "Every untraced repeat's throughput as a JSON array."),
		opt("clean_latency_p50_ms", f64, "ms", "Untraced per-batch latency, median (CUDA events)."),
		opt("clean_latency_p90_ms", f64, "ms", "Untraced per-batch latency, 90th percentile."),
		opt("clean_latency_p99_ms", f64, "ms", "Untraced per-batch latency, 99th percentile."),
		opt("compile_s", f64, "s", "Time of the first (compiling) call for torch.compile modes; 0 for eager."),
		opt("peak_mem_bytes", i64, "B", "Peak GPU memory allocated by PyTorch during the run."),
		opt("forward_bound_img_s", f64, "img/s", "Headroom: the model alone in the run's own process, input already on the GPU (same model, compile mode, batch and resolution; back-to-back forwards, no copies), measured right after the clean windows; null for runs collected before it was measured.").since(4),
		opt("prep_bound_img_s", f64, "img/s", "Headroom: the run's preprocessing path alone (its CPU workers, buffers, uploads and GPU transforms, or nvJPEG decode and GPU transforms), two or more batches in flight, no model; null for runs collected before it was measured.").since(4),
		opt("requested", str, "", "Settings the plan asked for, as JSON; compare with the effective columns."),
		opt("mismatch", str, "", "Settings whose effective value differs from the requested one, comma-separated; null when none."),
		opt("labels", str, "", "Labels of the run as a JSON object (plan labels and --label values)."),
		opt("started_at", tsUS, "", "When the run started (UTC)."),
		opt("finished_at", tsUS, "", "When the run finished (UTC)."),
		opt("source_file", str, "", "Path of the export as ingested, relative to the batch directory where there is one."),
		opt("export_sha256", str, "", "SHA-256 of the export file as stored (compressed when it is .zst)."),
		opt("export_bytes", i64, "B", "Size of the uncompressed SQLite export."),
		opt("session_start_utc_ns", i64, "ns", "UTC time of the capture's session start (ns since the Unix epoch); event times are relative to it."),
		req("kernels", i64, "", "Kernel rows loaded from the export."),
		req("memcpys", i64, "", "Memory copy rows loaded."),
		req("memsets", i64, "", "Memset rows loaded."),
		req("cuda_api", i64, "", "CUDA API call rows loaded."),
		req("nvtx", i64, "", "NVTX event rows loaded."),
		req("gpu_samples", i64, "", "NVML sample rows loaded."),
		opt("cpus_allowed", i32, "", "CPUs the workload process could run on (os.sched_getaffinity: its NUMA node's CPUs when bound); workers × threads per worker + the launching thread stay within it.").since(3),
		opt("host", str, "", "Host that ran the run (run.json host: with shards, each task's own node); null where run.json does not record it (batches collected before 2026-12-02, bare exports).").since(3),
		opt("run_content_sha256", str, "", "Content identity of the run: SHA-256 over its export's SHA-256 and its run.json without the command lines (which name the batch directory). Two runs with the same value are one measurement ingested twice (queries/checks/duplicate_runs.sql); null for batches ingested before it was recorded.").since(3),
	})...,
)

// settingsColumnsSince is the schema version from which every registry
// setting has a runs column: one the runs table did not have before gets
// that version (or its own since, if later).
const settingsColumnsSince = 3

// setting is the runs column of a registry setting: its name, type, unit
// and doc; nullable (null: not recorded).
func setting(key string) Column {
	s, ok := SettingByKey(key)
	if !ok {
		panic("schemas: no setting " + key + " in settings.json")
	}
	return Column{Name: s.Key, Type: s.ArrowType(), Nullable: true, Unit: s.Unit, Doc: s.Doc, Since: s.Since}
}

// withSettings appends to cols a column for every registry setting cols
// lacks, in registry order.
func withSettings(cols []Column) []Column {
	for _, s := range registry {
		if slices.ContainsFunc(cols, func(c Column) bool { return c.Name == s.Key }) {
			continue
		}
		c := setting(s.Key)
		c.Since = max(s.Since, settingsColumnsSince)
		cols = append(cols, c)
	}
	return cols
}

// Devices has one row per GPU listed in an export.
var Devices = newTable("devices",
	"one GPU listed in an export",
	"From TARGET_INFO_GPU (and TARGET_INFO_CUDA_DEVICE where present). Exports list every GPU of the host, used or not.",
	colBatch, colRun,
	req("device_id", i32, "", "nsys device id (the deviceId of kernels, memcpys and memsets)."),
	opt("name", str, "", "GPU name."),
	opt("uuid", str, "", "GPU UUID, when the export records it."),
	opt("bus_location", str, "", "PCI bus location."),
	opt("chip_name", str, "", "Chip name (e.g. GH100)."),
	opt("sm_count", i32, "", "Streaming multiprocessors."),
	opt("total_memory_bytes", i64, "B", "Device memory."),
	opt("memory_bandwidth_bytes_s", i64, "B/s", "Peak memory bandwidth as nsys records it."),
	opt("clock_rate_hz", i64, "Hz", "SM clock rate as nsys records it."),
	opt("l2_cache_bytes", i64, "B", "L2 cache size."),
	opt("compute_major", i32, "", "Compute capability, major."),
	opt("compute_minor", i32, "", "Compute capability, minor."),
	opt("cuda_device", i32, "", "CUDA device ordinal, when the export records it."),
)

// Kernels has one row per kernel execution.
var Kernels = newTable("kernels",
	"one CUDA kernel execution",
	"From CUPTI_ACTIVITY_KIND_KERNEL, names resolved through StringIds. Kernels inside CUDA graphs appear one row "+
		"per node only when the capture used --cuda-graph-trace=node.",
	append(gpuActivity(),
		req("short_name", str, "", "Base kernel function name."),
		req("demangled_name", str, "", "Demangled kernel name with templates and arguments (what nsys stats reports)."),
		opt("mangled_name", str, "", "Raw mangled name, when the export has it."),
		req("grid_x", i32, "", "Grid size, x."),
		req("grid_y", i32, "", "Grid size, y."),
		req("grid_z", i32, "", "Grid size, z."),
		req("block_x", i32, "", "Block size, x."),
		req("block_y", i32, "", "Block size, y."),
		req("block_z", i32, "", "Block size, z."),
		req("registers_per_thread", i32, "", "Registers per thread."),
		req("static_shared_bytes", i32, "B", "Static shared memory per block."),
		req("dynamic_shared_bytes", i32, "B", "Dynamic shared memory per block."),
		opt("local_bytes_per_thread", i32, "B", "Local memory per thread."),
		opt("launch_type", i32, "", "nsys launch type id (0 regular, 1 cooperative single device, 2 cooperative multi-device)."),
		opt("graph_id", i64, "", "CUDA graph id, when the export has it (nsys ≥ 2024)."),
	)...,
)

// Memcpys has one row per memory copy.
var Memcpys = newTable("memcpys",
	"one memory copy on the GPU",
	"From CUPTI_ACTIVITY_KIND_MEMCPY. Copy kind and memory kind ids are nsys's own, stable across versions "+
		"(memory kind 0 is pageable, not CUPTI's numbering).",
	append(gpuActivity(),
		req("bytes", i64, "B", "Bytes copied."),
		req("copy_kind_id", i32, "", "nsys copy kind id (1 HtoD, 2 DtoH, 8 DtoD, 10 PtoP, 11/12/13 unified memory …)."),
		req("kind", str, "", "Copy kind: HtoD, DtoH, HtoA, AtoH, AtoA, AtoD, DtoA, DtoD, HtoH, PtoP, UVM_HtoD, UVM_DtoH, UVM_DtoD or Unknown."),
		opt("src_kind_id", i32, "", "nsys memory kind id of the source."),
		opt("src_mem", str, "", "Source memory: pageable, pinned, device, array, managed, device_static, managed_static or unknown."),
		opt("dst_kind_id", i32, "", "nsys memory kind id of the destination."),
		opt("dst_mem", str, "", "Destination memory, as src_mem."),
		opt("src_device_id", i32, "", "Source device id (peer copies)."),
		opt("dst_device_id", i32, "", "Destination device id (peer copies)."),
		opt("migration_cause", i32, "", "Unified-memory migration cause id, when recorded."),
		opt("copy_count", i32, "", "Copies batched into this record (cudaMemcpyBatchAsync), when recorded."),
	)...,
)

// Memsets has one row per memset.
var Memsets = newTable("memsets",
	"one memset on the GPU",
	"From CUPTI_ACTIVITY_KIND_MEMSET.",
	append(gpuActivity(),
		req("bytes", i64, "B", "Bytes set."),
		opt("value", i32, "", "Value written."),
		opt("mem_kind_id", i32, "", "nsys memory kind id of the memory set."),
		opt("mem_kind", str, "", "Memory kind set, as memcpys.src_mem."),
	)...,
)

// CudaAPI has one row per CUDA runtime or driver API call.
var CudaAPI = newTable("cuda_api",
	"one CUDA runtime or driver API call on a host thread",
	"From CUPTI_ACTIVITY_KIND_RUNTIME (which holds driver calls too). GPU work links to its call by "+
		"(global_pid, correlation_id).",
	colBatch, colRun,
	req("start", i64, "ns", "Call start on the host, ns since the export's session start."),
	req("end", i64, "ns", "Call end on the host."),
	opt("global_tid", i64, "", "nsys serialized global thread id."),
	opt("global_pid", i64, "", "nsys serialized global process id (global_tid with the thread bits cleared)."),
	opt("pid", i32, "", "Operating-system process id."),
	opt("tid", i32, "", "Operating-system thread id."),
	req("name", str, "", "Function name as recorded (e.g. cudaLaunchKernel_v7000)."),
	opt("correlation_id", i64, "", "Correlation id shared with the GPU work the call launched."),
	opt("return_value", i64, "", "Return code of the call."),
	opt("event_class", i32, "", "nsys event class (0 CUDA runtime, 1 CUDA driver)."),
	req("api", str, "", "runtime, driver, or other (from event_class)."),
)

// NVTX has one row per NVTX event, with the GPU projection of each range.
var NVTX = newTable("nvtx",
	"one NVTX event: a push/pop or start/end range, a mark, or a domain event",
	"From NVTX_EVENTS. Names are COALESCE(StringIds[textId], text), the order nsys's own reports use; domain names come from the domain-create "+
		"event of the same domain id and process. The tree (depth, parent_id) and the GPU projection "+
		"(gpu_start, gpu_end, gpu_ops) follow nsys's nvtx_gpu_proj_trace: a GPU operation belongs to a range "+
		"when the API call that launched it lies inside the range on the same thread.",
	colBatch, colRun,
	req("range_id", i64, "", "Row id of the event in its export; unique within the run."),
	req("event_type", i32, "", "nsys event type (59 push/pop range, 60 start/end range, 34 mark, 75/76 domain create/destroy …)."),
	req("style", str, "", "PushPop, StartEnd, Mark, DomainCreate, DomainDestroy or Other."),
	req("start", i64, "ns", "Start on the host, ns since the export's session start (domain events may be negative)."),
	opt("end", i64, "ns", "End on the host; null for marks, domain events and ranges never closed."),
	opt("global_tid", i64, "", "nsys serialized global thread id of the thread that opened the range."),
	opt("pid", i32, "", "Operating-system process id."),
	opt("tid", i32, "", "Operating-system thread id."),
	opt("end_global_tid", i64, "", "Thread that closed a start/end range when it differs from the opening thread; such ranges get no projection."),
	opt("domain_id", i64, "", "NVTX domain id (0 or null: the default domain)."),
	opt("domain", str, "", "NVTX domain name; null for the default domain."),
	opt("name", str, "", "Range or mark name (message)."),
	opt("category", i32, "", "NVTX category."),
	opt("payload_int", i64, "", "Integer payload, when one was attached."),
	opt("payload_double", f64, "", "Floating-point payload, when one was attached."),
	opt("depth", i32, "", "Nesting level among same-thread ranges, 0 at the top; null for events that are not same-thread ranges."),
	opt("parent_id", i64, "", "range_id of the tightest enclosing same-thread range; null at the top."),
	opt("gpu_start", i64, "ns", "Start of the first GPU operation launched inside the range."),
	opt("gpu_end", i64, "ns", "End of the last GPU operation launched inside the range."),
	opt("gpu_ops", i64, "", "Distinct API calls inside the range that launched GPU work (nsys's 'GPU ops'); 0 when none, null for events that are not same-thread ranges."),
)

// GPUSamples has one row per NVML sample taken during a run.
var GPUSamples = newTable("gpu_samples",
	"one NVML sample of one GPU during a run",
	"Written by the collector's NVML sampler into nvml.jsonl (kept as nvml.jsonl.zst once the run is ok). t aligns samples with the export's timeline. From schema version 6, a host where NVML is unavailable still gets samples, with the CPU canary (cpu_canary_ns) and no GPU reading.",
	colBatch, colRun,
	opt("t", i64, "ns", "Sample time, ns since the export's session start; null when the export has no session start time."),
	req("unix_ns", i64, "ns", "Sample time, ns since the Unix epoch."),
	req("gpu_index", i32, "", "NVML index of the GPU."),
	opt("sm_clock_mhz", i32, "MHz", "SM clock."),
	opt("mem_clock_mhz", i32, "MHz", "Memory clock."),
	opt("power_w", f64, "W", "Board power draw."),
	opt("temp_c", i32, "°C", "GPU temperature."),
	opt("util_gpu_pct", i32, "%", "NVML GPU utilisation over the last sample period."),
	opt("util_mem_pct", i32, "%", "NVML memory-controller utilisation."),
	opt("mem_used_bytes", i64, "B", "Device memory in use."),
	opt("phase", str, "", "Phase of the run the sample was taken in: clean (untraced windows) or traced (under nsys); null in batches before schema version 3, which sampled the traced phase only.").since(3),
	opt("energy_mj", i64, "mJ", "NVML total-energy counter (nvmlDeviceGetTotalEnergyConsumption): energy since the driver loaded; null when the GPU has no counter.").since(3),
	opt("clocks_event_reasons", i64, "", "NVML clocks event (throttle) reasons bitmask at the sample (nvmlDeviceGetCurrentClocksEventReasons, or the older throttle-reasons call): 0x1 GPU idle, 0x4 SW power cap, 0x8 HW slowdown, 0x20 SW thermal, 0x40 HW thermal, 0x80 HW power brake, …; null when the GPU does not support it and in batches collected before it was recorded.").since(5),
	opt("cpu_canary_ns", i64, "ns", "Wall time the sampler took, just before the sample, to run a constant amount of CPU-only integer work (collectors/nvml CanaryIterations: 20,000 rounds of xorshift64 and a multiply-add, ~28 µs on a quiet core): the host CPU's speed at that moment, comparable across runs and hosts; larger is slower. Null in batches collected before it was recorded.").since(6),
)

// CleanWindows has one row per clean (untraced) measurement window.
var CleanWindows = newTable("clean_windows",
	"one clean (untraced) measurement window of a run",
	"From run.json windows: the workload prints a marker at each window edge (after a device sync) and the collector "+
		"reads NVML's total-energy counter at once, so energy_j is the counter's delta over the window. Batches "+
		"collected before schema version 3 have no rows here.",
	colBatch, colRun,
	req("window", i32, "", "Window index within the run, from 0.").since(3),
	req("start_unix_ns", i64, "ns", "Window start (after a device sync), ns since the Unix epoch.").since(3),
	req("end_unix_ns", i64, "ns", "Window end (after a device sync), ns since the Unix epoch.").since(3),
	req("duration_ns", i64, "ns", "end_unix_ns − start_unix_ns.").since(3),
	opt("batches", i32, "", "Batches completed inside the window.").since(3),
	opt("images", i64, "img", "Images completed inside the window.").since(3),
	opt("throughput", f64, "img/s", "images / window duration, as the workload measured it.").since(3),
	opt("energy_j", f64, "J", "GPU energy over the window from NVML's total-energy counter (end − begin); null when the GPU has no counter.").since(3),
	opt("latency_p50_ms", f64, "ms", "Per-batch latency inside the window, median.").since(3),
	opt("latency_p90_ms", f64, "ms", "Per-batch latency inside the window, 90th percentile.").since(3),
	opt("latency_p99_ms", f64, "ms", "Per-batch latency inside the window, 99th percentile.").since(3),
).since(3)

// since marks a table added by schema version v.
func (t *Table) since(v int) *Table {
	t.Since = v
	return t
}

var all = []*Table{Batches, Runs, Devices, Kernels, Memcpys, Memsets, CudaAPI, NVTX, GPUSamples, CleanWindows}

// All returns every warehouse table in a fixed order.
func All() []*Table { return append([]*Table(nil), all...) }

// ByName returns the table of that name.
func ByName(name string) (*Table, bool) {
	for _, t := range all {
		if t.Name == name {
			return t, true
		}
	}
	return nil, false
}

// EventTables are the tables loaded from the events of an export.
var EventTables = []*Table{Kernels, Memcpys, Memsets, CudaAPI, NVTX}
