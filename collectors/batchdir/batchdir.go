package batchdir

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// File names inside a batch directory.
const (
	BatchFile = "batch.json"
	RunsDir   = "runs"
	RunFile   = "run.json"
	NVMLFile  = "nvml.jsonl"
	// NVMLZstFile is NVMLFile compressed with zstd: what an ok run keeps
	// (20 Hz samples shrink ~20x); a failed run keeps NVMLFile as written.
	NVMLZstFile = "nvml.jsonl.zst"
	StdoutFile  = "stdout.log"
	StderrFile  = "stderr.log"
	// TraceBase is the export's base name; the file is TraceBase+".sqlite"
	// or TraceBase+".sqlite.zst".
	TraceBase = "trace"
)

// Run statuses.
const (
	StatusOK      = "ok"
	StatusFailed  = "failed"
	StatusTimeout = "timeout"
	// StatusUnavailable marks a run the host could not give (e.g. remote
	// NUMA placement on a one-node host): it was not run and has no export;
	// Error says why.
	StatusUnavailable = "unavailable"
)

// Batch is batch.json.
type Batch struct {
	ID            string     `json:"id"`
	Plan          string     `json:"plan"`
	PlanFile      string     `json:"plan_file,omitempty"`
	Profile       string     `json:"profile,omitempty"`
	Host          string     `json:"host"`
	VitlabVersion string     `json:"vitlab_version"`
	StartedAt     time.Time  `json:"started_at"`
	Finished      *time.Time `json:"finished,omitempty"` // nil while the batch is incomplete
	GPUs          []GPU      `json:"gpus"`
	NUMA          NUMA       `json:"numa"`
	Software      Software   `json:"software"`
	// Runs is the number of runs the plan expanded to (those Filter chose).
	Runs   int               `json:"runs"`
	Labels map[string]string `json:"labels,omitempty"`
	// Filter is the run-id glob (vitlab collect --only) that chose the
	// runs; "" when all ran.
	Filter string `json:"filter,omitempty"`
	// Warnings are problems the collector worked around (e.g. NVML
	// unavailable: no GPU inventory and no samples).
	Warnings []string `json:"warnings,omitempty"`
	// Hosts are the hosts that ran runs of the batch, sorted: one for a
	// batch collected on one host, several when shards ran elsewhere
	// (Slurm array tasks). Host is the one that created the batch.
	Hosts []string `json:"hosts,omitempty"`
	// Shards is the number of shards the runs were split into (vitlab
	// collect --slurm or --gpus); 0 when one process ran them all.
	Shards int `json:"shards,omitempty"`
	// OrderSeed is the seed of the run order: inside each repeat round the
	// configurations ran in a random order drawn from it (plan.Shuffle); 0
	// is the plan's own order. Nil in batches collected before the order
	// was shuffled (they ran in the plan's order).
	OrderSeed *int64 `json:"order_seed,omitempty"`
	// TraceRepeats is how many repeats of each configuration have a
	// traced phase (the plan's trace_repeats or --trace-repeats); 0 (and
	// absent) when every run is traced.
	TraceRepeats int `json:"trace_repeats,omitempty"`
	// NvidiaSMITopo is the text of `nvidia-smi topo -m` on the host that
	// created the batch (collectors/nvsmi: at most nvsmi.MaxText bytes,
	// cut at a line end and marked where longer); "" where nvidia-smi was
	// not found or failed (the warnings say why) and in batches collected
	// before it was recorded. Where it disagrees with GPUs' numa_node or
	// cpu_affinity, Warnings name the GPU and both values.
	NvidiaSMITopo string `json:"nvidia_smi_topo,omitempty"`
}

// GPU describes one GPU of the host as NVML (or the workload) saw it.
type GPU struct {
	Index        int    `json:"index"`
	Name         string `json:"name"`
	UUID         string `json:"uuid,omitempty"`
	BusID        string `json:"bus_id,omitempty"`
	MemoryBytes  int64  `json:"memory_bytes,omitempty"`
	NUMANode     *int   `json:"numa_node"` // nil: unknown (sysfs numa_node -1)
	CPUAffinity  string `json:"cpu_affinity,omitempty"`
	Driver       string `json:"driver,omitempty"`
	ComputeMajor int    `json:"compute_major,omitempty"`
	ComputeMinor int    `json:"compute_minor,omitempty"`
	// PowerLimitMW is the enforced power limit
	// (nvmlDeviceGetEnforcedPowerLimit, mW) when the inventory was taken;
	// nil when NVML did not answer and in batches collected before it was
	// recorded.
	PowerLimitMW *int64 `json:"enforced_power_limit_mw,omitempty"`
}

// NUMA is the host's NUMA topology.
type NUMA struct {
	Nodes     []NUMANode `json:"nodes"`
	Distances [][]int    `json:"distances,omitempty"`
	Source    string     `json:"source,omitempty"` // sysfs, numactl, …
}

// NUMANode is one NUMA node.
type NUMANode struct {
	ID          int    `json:"id"`
	CPUs        string `json:"cpus"` // cpulist, e.g. "0-15"
	MemoryBytes int64  `json:"memory_bytes,omitempty"`
}

// Software holds versions found on the host.
type Software struct {
	Driver string `json:"driver,omitempty"`
	CUDA   string `json:"cuda,omitempty"`
	Torch  string `json:"torch,omitempty"`
	Timm   string `json:"timm,omitempty"`
	Python string `json:"python,omitempty"`
	Nsys   string `json:"nsys,omitempty"`
	OS     string `json:"os,omitempty"`
}

// Placement is where a run was bound relative to its GPU.
type Placement struct {
	CPUNodes string `json:"cpu_nodes,omitempty"` // numactl --cpunodebind; "" unbound
	MemNodes string `json:"mem_nodes,omitempty"` // numactl --membind; "" unbound
	GPUNode  *int   `json:"gpu_node"`            // nil: unknown
	// Placement is local, remote or unknown.
	Placement string `json:"placement"`
	// Requested is what the plan asked for: none, local or remote (the
	// run ID says what happened: nnone, nlocal, nremote, nunavailable).
	Requested string `json:"requested,omitempty"`
}

// Timings are what the workload measured.
type Timings struct {
	CompileS            *float64  `json:"compile_s,omitempty"`
	TimedImages         int64     `json:"timed_images,omitempty"`
	TracedThroughput    *float64  `json:"traced_throughput,omitempty"`     // img/s, under nsys
	CleanThroughput     *float64  `json:"clean_throughput,omitempty"`      // img/s, median of untraced repeats
	CleanThroughputRuns []float64 `json:"clean_throughput_runs,omitempty"` // img/s, each untraced repeat
	CleanLatencyP50Ms   *float64  `json:"clean_latency_p50_ms,omitempty"`
	CleanLatencyP90Ms   *float64  `json:"clean_latency_p90_ms,omitempty"`
	CleanLatencyP99Ms   *float64  `json:"clean_latency_p99_ms,omitempty"`
	PeakMemBytes        int64     `json:"peak_mem_bytes,omitempty"`
	// ForwardBoundImgS is the forward-only rate of the run's model, batch
	// and resolution (input already on the GPU, back-to-back forwards),
	// img/s; PrepBoundImgS the rate of the run's preprocessing path alone
	// (its workers, uploads and GPU transforms, no model). The workload
	// measures both in its clean phase right after the clean windows
	// (collectors/workload/README.md, Headroom); nil in batches before
	// 2026-12-07. Ingest stores them in runs.forward_bound_img_s and
	// runs.prep_bound_img_s (schema version 4).
	ForwardBoundImgS *float64 `json:"forward_bound_img_s,omitempty"`
	PrepBoundImgS    *float64 `json:"prep_bound_img_s,omitempty"`
}

// Run is run.json.
type Run struct {
	ID         string            `json:"id"`
	RQ         string            `json:"rq,omitempty"`
	Name       string            `json:"name"`
	Repeat     int               `json:"repeat"`
	Status     string            `json:"status"`
	Error      string            `json:"error,omitempty"`
	Requested  Settings          `json:"requested"`
	Effective  *Settings         `json:"effective,omitempty"` // nil when the workload never reported
	NUMA       Placement         `json:"numa"`
	GPU        GPU               `json:"gpu"`
	Software   Software          `json:"software"`
	Timings    Timings           `json:"timings"`
	Export     string            `json:"export,omitempty"` // file name of the export inside the run dir
	Command    []string          `json:"command,omitempty"`
	StartedAt  time.Time         `json:"started_at"`
	FinishedAt *time.Time        `json:"finished_at,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`

	// CleanCommand is the untraced (clean phase) command; Command the
	// traced one.
	CleanCommand []string `json:"clean_command,omitempty"`
	// Launch says how the clean phase's process was started: LaunchWarm
	// (forked by the collector's warm interpreter, vit_zygote.py, which had
	// imported torch, timm and torchvision; still one fresh process per
	// run), or "" (executed: python3 vit_workload.py). The traced phase is
	// always executed under nsys.
	Launch string `json:"launch,omitempty"`
	// Mismatch names the settings whose effective value differs from the
	// requested one (requested values left to the workload are not
	// compared); Warnings has the values.
	Mismatch []string `json:"mismatch,omitempty"`
	// Warnings are notes on the run that did not fail it.
	Warnings []string `json:"warnings,omitempty"`
	// ExportBytes is the size of the uncompressed SQLite export.
	ExportBytes int64 `json:"export_bytes,omitempty"`
	// Windows are the clean measurement windows with their energy (schema
	// version 3; absent in older batches).
	Windows []Window `json:"windows,omitempty"`
	// TracedWindow is the traced phase's timed window with its energy,
	// when the workload marked it.
	TracedWindow *Window `json:"traced_window,omitempty"`
	// CPUs is the CPU budget of the run.
	CPUs *CPUBudget `json:"cpus,omitempty"`
	// Host is the host that ran the run (a batch split into shards runs
	// on several); "" in batches written before it was recorded.
	Host string `json:"host,omitempty"`
	// PhaseSeconds is where the run's wall time went (the collector's cost
	// per run: vitlab's cmd/collectbench sums it into runs per GPU-hour);
	// nil in batches written before it was recorded.
	PhaseSeconds *PhaseSeconds `json:"phase_seconds,omitempty"`
	// HostCPU is what the host's CPUs were and did while the clean phase
	// ran; nil in batches written before it was recorded.
	HostCPU *HostCPU `json:"host_cpu,omitempty"`
	// Untraced: by design the run had no traced phase (its repeat is
	// beyond the batch's trace_repeats): an ok run with no export, whose
	// effective settings come from the clean phase.
	Untraced bool `json:"untraced,omitempty"`
}

// HostCPU describes the host's CPUs during a run's clean phase, from
// /proc: two hosts with the same GPU can differ in the CPU that feeds it
// (a launch-bound forward, CPU preprocessing), and on a virtual machine
// other guests can take CPU time (steal). Fractions are of all the host's
// CPU time over the clean phase (every CPU, not only the run's); nil when
// /proc/stat could not be read.
type HostCPU struct {
	// Model is /proc/cpuinfo's first "model name" ("" when absent).
	Model string `json:"model,omitempty"`
	// CPUs is the number of CPUs /proc/stat lists.
	CPUs int `json:"cpus,omitempty"`
	// Load1 is the 1-minute load average when the clean phase began.
	Load1 *float64 `json:"load1,omitempty"`
	// Busy is user + nice + system + irq + softirq; Steal is time the
	// hypervisor gave to others while this guest wanted to run; IOWait
	// idle time with I/O outstanding.
	Busy   *float64 `json:"clean_busy,omitempty"`
	Steal  *float64 `json:"clean_steal,omitempty"`
	IOWait *float64 `json:"clean_iowait,omitempty"`
}

// LaunchWarm is Run.Launch for a clean phase forked by the warm interpreter.
const LaunchWarm = "warm"

// PhaseSeconds are the wall-clock seconds of a run's steps, each from the
// collector's side (process start to exit): the clean phase (interpreter,
// imports, CUDA context, model, warm-up, clean windows, headroom), the
// traced phase under nsys (the same plus nsys's start and its report
// written), and the export (nsys export to SQLite, zstd). Zero for a step
// the run did not reach.
type PhaseSeconds struct {
	Clean  float64 `json:"clean"`
	Traced float64 `json:"traced"`
	Export float64 `json:"export"`
}

// EnergyNVML is Window.EnergySource for NVML's total-energy counter.
const EnergyNVML = "nvml_total_energy"

// Window is one measurement window: what the workload measured (in
// result.clean.json "windows") and the GPU energy the collector read at its
// edges (VITLAB_WINDOW markers on the workload's stdout).
type Window struct {
	Index        int      `json:"index"`
	StartUnixNs  int64    `json:"start_unix_ns"`
	EndUnixNs    int64    `json:"end_unix_ns"`
	Batches      *int     `json:"batches"`
	Images       *int64   `json:"images"`
	Seconds      *float64 `json:"seconds"`
	Throughput   *float64 `json:"throughput"` // img/s
	LatencyP50Ms *float64 `json:"latency_p50_ms"`
	LatencyP90Ms *float64 `json:"latency_p90_ms"`
	LatencyP99Ms *float64 `json:"latency_p99_ms"`
	// EnergyMJ is the counter delta end − begin, mJ; nil when the GPU has
	// no counter or a marker was missed.
	EnergyMJ *int64 `json:"energy_mj"`
	// EnergySource is EnergyNVML when EnergyMJ is set, else "".
	EnergySource string `json:"energy_source,omitempty"`
	// EnergyBeginMJ and EnergyEndMJ are the raw counter readings.
	EnergyBeginMJ *int64 `json:"energy_begin_mj,omitempty"`
	EnergyEndMJ   *int64 `json:"energy_end_mj,omitempty"`
}

// CPUBudget is what CPUs a run could use: what the collector gave it, and
// what the workload saw and used.
type CPUBudget struct {
	// Allowed is the cpulist the run may use: its NUMA node's CPUs when
	// bound, else the collector's own affinity.
	Allowed string `json:"allowed"`
	// Count is the number of CPUs in Allowed.
	Count int `json:"count"`
	// Source says where Allowed comes from: "numa node N" or "affinity".
	Source string `json:"source"`
	// WorkloadAllowed is the CPU count the workload saw
	// (os.sched_getaffinity), from its result details.
	WorkloadAllowed *int `json:"workload_cpus_allowed,omitempty"`
	// Workers and ThreadsPerWorker are the effective CPU preprocessing
	// workers and their intra-op threads.
	Workers          *int `json:"cpu_workers,omitempty"`
	ThreadsPerWorker *int `json:"cpu_threads_per_worker,omitempty"`
}

// Sample is one line of nvml.jsonl.
type Sample struct {
	UnixNs      int64    `json:"unix_ns"`
	GPU         int      `json:"gpu"`
	SMClockMHz  *int     `json:"sm_clock_mhz,omitempty"`
	MemClockMHz *int     `json:"mem_clock_mhz,omitempty"`
	PowerW      *float64 `json:"power_w,omitempty"`
	TempC       *int     `json:"temp_c,omitempty"`
	UtilGPU     *int     `json:"util_gpu_pct,omitempty"`
	UtilMem     *int     `json:"util_mem_pct,omitempty"`
	MemUsed     *int64   `json:"mem_used_bytes,omitempty"`
	// EnergyMJ is NVML's total-energy counter; nil when unsupported.
	EnergyMJ *int64 `json:"energy_mj,omitempty"`
	// Phase is clean or traced; "" in batches before schema version 3.
	Phase string `json:"phase,omitempty"`
	// ClocksEventReasons is NVML's clocks event (throttle) reasons bitmask
	// (nvmlDeviceGetCurrentClocksEventReasons, or the older
	// nvmlDeviceGetCurrentClocksThrottleReasons): 0x4 SW power cap, 0x8 HW
	// slowdown, 0x20 SW thermal, 0x40 HW thermal, 0x80 HW power brake, …;
	// nil when not supported and in batches collected before it was
	// recorded.
	ClocksEventReasons *uint64 `json:"clocks_event_reasons,omitempty"`
	// CPUCanaryNs is the wall time (ns) the sampler took to run a fixed
	// amount of CPU-only integer work (nvml.CanaryIterations rounds) just
	// before the sample: how fast the host's CPU ran at that moment. nil in
	// batches collected before it was recorded.
	CPUCanaryNs *int64 `json:"cpu_canary_ns,omitempty"`
}

// ErrIncomplete marks a batch whose batch.json has no finished time.
var ErrIncomplete = errors.New("batch is incomplete (batch.json has no finished time)")

// ReadBatch reads dir/batch.json.
func ReadBatch(dir string) (*Batch, error) {
	var b Batch
	if err := readJSON(filepath.Join(dir, BatchFile), &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// ReadRun reads a run directory's run.json.
func ReadRun(runDir string) (*Run, error) {
	var r Run
	if err := readJSON(filepath.Join(runDir, RunFile), &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// WriteJSON writes v as indented JSON to path atomically (temp file, fsync,
// rename), so a crash never leaves a half-written batch.json or run.json.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("batchdir: %s: %w", path, err)
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("batchdir: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("batchdir: %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("batchdir: %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("batchdir: %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("batchdir: %w", err)
	}
	return nil
}

// ReadSamples reads an nvml.jsonl stream. A malformed line is an error that
// names the line.
func ReadSamples(r io.Reader, name string) ([]Sample, error) {
	var out []Sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var s Sample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return out, fmt.Errorf("batchdir: %s:%d: %w", name, line, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("batchdir: %s: %w", name, err)
	}
	return out, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("batchdir: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("batchdir: %s: %w", path, err)
	}
	return nil
}
