package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"vitlab/collectors/batchdir"
	"vitlab/collectors/nsys"
	"vitlab/collectors/numa"
	"vitlab/collectors/plan"
)

// Defaults of a Config.
const (
	DefaultTimeout = 30 * time.Minute
	// DefaultSampleEvery is the NVML sampling interval: 20 Hz, in both
	// phases.
	DefaultSampleEvery = 50 * time.Millisecond
	DefaultKillGrace   = 15 * time.Second
	// exportTimeout bounds nsys export, which runs after the run's own
	// timeout and is not counted in it.
	exportTimeout = 20 * time.Minute
	// errTail is how much of stderr.log a failed run's error quotes.
	errTail = 2000
)

// Stopper stops a running NVML sampler and says how many samples it wrote.
type Stopper interface {
	Stop() (int, error)
}

// Config is one collection.
type Config struct {
	Plan *plan.Plan
	// PlanFile is the plan's path; its bytes are copied into the batch.
	PlanFile string
	Profile  string
	// OutDir holds batch directories.
	OutDir string
	// BatchID names the batch directory; "" makes
	// <plan>-<profile>-<host>-<UTC yyyymmddThhmmss>.
	BatchID string
	// GPU is the NVML index of the GPU to use (CUDA_VISIBLE_DEVICES).
	GPU int
	// GPUBusID is the GPU's PCI bus id when NVML cannot give it; its NUMA
	// node is then read from sysfs. With NVML it must agree.
	GPUBusID string
	// Only keeps the runs whose ID matches this glob (path.Match).
	Only string
	// OrderSeed, when not nil, replaces the plan's order_seed: the seed of
	// the run order inside each repeat round (0: the plan's order).
	OrderSeed *int64
	// Resume continues an existing batch: runs with status ok are kept.
	Resume bool
	// DryRun prints the runs and their commands and runs nothing.
	DryRun bool
	// Python runs the workload; WorkloadDir holds vit_workload.py.
	Python      string
	WorkloadDir string
	// Timeout bounds each run (both phases); 0 takes the plan's, else
	// DefaultTimeout.
	Timeout time.Duration
	// Nsys is the nsys installation; nil only in a dry run.
	Nsys *nsys.Tool
	// KeepRaw keeps trace.nsys-rep and trace.sqlite beside the .zst.
	KeepRaw bool
	// Numactl is the numactl executable; "" looks it up on PATH.
	Numactl string
	// SysRoot is the root of the sysfs tree ("" is /).
	SysRoot string
	// Host names the machine; "" asks the OS.
	Host string
	// Version is the vitlab version recorded in batch.json.
	Version string
	// CompileCacheDir holds the per-run torch.compile caches (removed after
	// each run); "" is <os.TempDir()>/vitlab-compile-cache.
	CompileCacheDir string
	// Env holds extra KEY=VALUE entries for the workload's environment.
	Env []string
	// GPUs lists the host's GPUs (NVML); nil when NVML is unavailable.
	GPUs func() ([]batchdir.GPU, error)
	// StartSampler starts NVML sampling of GPU index into w, each sample
	// labelled with the phase (clean or traced); nil when NVML is
	// unavailable.
	StartSampler func(index int, every time.Duration, phase string, w io.Writer) (Stopper, error)
	// ReadEnergy reads the GPU's total-energy counter (mJ) when the
	// workload marks a window edge; nil when NVML is unavailable. Its
	// error (e.g. no counter on this GPU) goes to the run's warnings.
	ReadEnergy func() (int64, error)
	// SampleEvery is the NVML sampling interval.
	SampleEvery time.Duration
	// Warnings are problems found while setting up (e.g. NVML
	// unavailable); they go to batch.json.
	Warnings []string
	// Stdout gets the dry-run listing; Progress the progress lines.
	Stdout, Progress io.Writer
	// KillGrace is how long a timed-out process group has between SIGTERM
	// and SIGKILL.
	KillGrace time.Duration
	// Now is the clock (tests fix it).
	Now func() time.Time
	// Shards > 0 runs only shard Shard (0 ≤ Shard < Shards) of the
	// selected runs: those whose index i has i % Shards == Shard.
	Shard, Shards int
	// Join runs into a batch directory that Prepare (or another host)
	// created: batch.json is merged under the batch's lock (this host
	// joins hosts), runs already ok are kept (resume semantics), and the
	// batch is never marked finished (batchdir.Finalize does that once
	// every shard is done).
	Join bool
}

// Summary is what a collection did.
type Summary struct {
	BatchID string
	Dir     string
	// Total is the number of selected runs; Kept were already ok (resume).
	Total, Kept                      int
	OK, Failed, Timeout, Unavailable int
}

// Failures is the number of runs that failed or timed out.
func (s *Summary) Failures() int { return s.Failed + s.Timeout }

// ErrBatchExists says the batch directory exists and Resume was not asked.
var ErrBatchExists = errors.New("batch directory exists (use --resume to continue it, or another --batch)")

var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// runner is one collection in progress.
type runner struct {
	cfg      Config
	x        *plan.Expansion
	runs     []plan.Run
	binds    []numa.Binding
	bindErrs []error
	// allBinds and allBindErrs are the placements of every run of the
	// expansion (x.Runs), binds and bindErrs those of the selected runs.
	allBinds    []numa.Binding
	allBindErrs []error
	timeout     time.Duration
	host        string
	gpus        []batchdir.GPU
	gpu         batchdir.GPU
	gpuNode     *int
	topo        batchdir.NUMA
	warnings    []string
	nsysVer     string
	numactl     string
	batchID     string
	dir         string
	software    batchdir.Software
}

// Run expands the plan, then either prints it (DryRun) or runs it into
// <OutDir>/<batch-id>. A run that fails is recorded and the batch goes on;
// the returned error is for problems that stop the whole batch (bad
// configuration, unwritable directory, interrupt: ctx.Err()).
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	r := &runner{cfg: cfg}
	r.defaults()
	x, err := cfg.Plan.Expand(cfg.Profile)
	if err != nil {
		return nil, err
	}
	if cfg.OrderSeed != nil {
		x.Shuffle(*cfg.OrderSeed)
	}
	r.x = x
	r.timeout = cfg.Timeout
	if r.timeout == 0 {
		r.timeout = x.Timeout
	}
	if r.timeout == 0 {
		r.timeout = DefaultTimeout
	}
	if err := r.hostFacts(ctx); err != nil {
		return nil, err
	}
	// Runs are named after the placement this host really gives, before
	// --only chooses among them.
	r.placeRuns()
	if err := r.selectRuns(); err != nil {
		return nil, err
	}
	if err := r.selectShard(); err != nil {
		return nil, err
	}
	if err := r.name(); err != nil {
		return nil, err
	}
	script := filepath.Join(r.cfg.WorkloadDir, WorkloadScript)
	if st, err := os.Stat(script); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("runner: workload %s not found (give --workload DIR)", script)
	}
	if cfg.DryRun {
		return r.dryRun()
	}
	if err := r.preflight(ctx); err != nil {
		return nil, err
	}
	return r.collect(ctx)
}

// Prepare creates the batch directory of a collection that shards will
// run (Join): batch.json without finished, runs/ and the plan's copy. It
// runs nothing and needs neither nsys nor a GPU, so a cluster's login node
// can call it. The Summary names the batch and counts its runs.
func Prepare(ctx context.Context, cfg Config) (*Summary, error) {
	r := &runner{cfg: cfg}
	r.defaults()
	x, err := cfg.Plan.Expand(cfg.Profile)
	if err != nil {
		return nil, err
	}
	if cfg.OrderSeed != nil {
		x.Shuffle(*cfg.OrderSeed)
	}
	r.x = x
	if err := r.hostFacts(ctx); err != nil {
		return nil, err
	}
	r.placeRuns()
	if err := r.selectRuns(); err != nil {
		return nil, err
	}
	if err := r.name(); err != nil {
		return nil, err
	}
	s := &Summary{BatchID: r.batchID, Dir: r.dir, Total: len(r.runs)}
	if cfg.DryRun {
		return s, nil
	}
	if _, err := r.openBatch(); err != nil {
		return nil, err
	}
	return s, nil
}

// selectShard keeps this shard's runs.
func (r *runner) selectShard() error {
	n := r.cfg.Shards
	if n == 0 {
		return nil
	}
	if r.cfg.Shard < 0 || r.cfg.Shard >= n {
		return fmt.Errorf("runner: shard %d of %d: want 0 ≤ shard < %d", r.cfg.Shard, n, n)
	}
	var runs []plan.Run
	var binds []numa.Binding
	var errs []error
	for i := r.cfg.Shard; i < len(r.runs); i += n {
		runs = append(runs, r.runs[i])
		binds = append(binds, r.binds[i])
		errs = append(errs, r.bindErrs[i])
	}
	r.runs, r.binds, r.bindErrs = runs, binds, errs
	return nil
}

// name sets the batch id and directory.
func (r *runner) name() error {
	cfg := r.cfg
	x := r.x
	r.batchID = cfg.BatchID
	if r.batchID == "" {
		r.batchID = fmt.Sprintf("%s-%s-%s-%s", x.Plan, x.Profile, r.host, r.cfg.Now().UTC().Format("20060102T150405"))
	}
	if !safeName.MatchString(r.batchID) {
		return fmt.Errorf("runner: batch id %q is not a safe directory name (letters, digits, . _ -)", r.batchID)
	}
	out, err := filepath.Abs(cfg.OutDir)
	if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	r.dir = filepath.Join(out, r.batchID)
	return nil
}

func (r *runner) defaults() {
	c := &r.cfg
	if c.Python == "" {
		c.Python = "python3"
	}
	if c.SampleEvery <= 0 {
		c.SampleEvery = DefaultSampleEvery
	}
	if c.KillGrace <= 0 {
		c.KillGrace = DefaultKillGrace
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.SysRoot == "" {
		c.SysRoot = "/"
	}
	if c.Profile == "" {
		c.Profile = "quick"
	}
	r.warnings = append(r.warnings, c.Warnings...)
}

func (r *runner) selectRuns() error {
	for i, run := range r.x.Runs {
		if r.cfg.Only != "" {
			if _, err := path.Match(r.cfg.Only, ""); err != nil {
				return fmt.Errorf("runner: --only %q: %w", r.cfg.Only, err)
			}
			if ok, _ := path.Match(r.cfg.Only, run.ID); !ok {
				continue
			}
		}
		r.runs = append(r.runs, run)
		r.binds = append(r.binds, r.allBinds[i])
		r.bindErrs = append(r.bindErrs, r.allBindErrs[i])
	}
	if len(r.runs) == 0 {
		return fmt.Errorf("runner: --only %q matches none of the %d runs of plan %s profile %s", r.cfg.Only, len(r.x.Runs), r.x.Plan, r.x.Profile)
	}
	return nil
}

// hostFacts gathers the host name, GPUs, the chosen GPU's NUMA node and
// the NUMA topology. Missing NVML or sysfs are warnings, not errors.
func (r *runner) hostFacts(ctx context.Context) error {
	r.host = r.cfg.Host
	if r.host == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "unknown-host"
		}
		r.host = h
	}
	r.host = sanitize(r.host)
	r.gpu = batchdir.GPU{Index: r.cfg.GPU}
	if r.cfg.GPUs != nil {
		gpus, err := r.cfg.GPUs()
		switch {
		case err != nil:
			r.warnings = append(r.warnings, fmt.Sprintf("GPU inventory: %v", err))
		case r.cfg.GPU < 0 || r.cfg.GPU >= len(gpus):
			return fmt.Errorf("runner: --gpu %d: the host has %d GPU(s) (NVML indices 0-%d)", r.cfg.GPU, len(gpus), len(gpus)-1)
		default:
			r.gpus = gpus
			r.gpu = gpus[r.cfg.GPU]
		}
	}
	if bus := r.cfg.GPUBusID; bus != "" {
		if r.gpu.BusID != "" && numa.NormalizeBusID(r.gpu.BusID) != numa.NormalizeBusID(bus) {
			return fmt.Errorf("runner: --gpu-bus %s: NVML says GPU %d is at %s", bus, r.cfg.GPU, r.gpu.BusID)
		}
		r.gpu.BusID = numa.NormalizeBusID(bus)
	}
	r.numactl = r.cfg.Numactl
	if r.numactl == "" {
		if p, err := exec.LookPath("numactl"); err == nil {
			r.numactl = p
		}
	}
	topo, err := numa.Host(ctx, r.cfg.SysRoot, r.numactl)
	if err != nil {
		r.warnings = append(r.warnings, fmt.Sprintf("NUMA topology unknown: %v", err))
	}
	r.topo = topo
	r.gpuNode = r.gpu.NUMANode
	if r.gpuNode == nil && r.gpu.BusID != "" {
		pci, err := numa.ReadPCI(r.cfg.SysRoot, r.gpu.BusID)
		if err != nil {
			r.warnings = append(r.warnings, fmt.Sprintf("GPU %d NUMA node: %v", r.cfg.GPU, err))
		}
		r.gpuNode = pci.Node
		if r.gpu.CPUAffinity == "" {
			r.gpu.CPUAffinity = pci.LocalCPUs
		}
	}
	if r.gpuNode != nil {
		n := *r.gpuNode
		r.gpu.NUMANode = &n
	}
	if r.cfg.GPU < len(r.gpus) {
		r.gpus[r.cfg.GPU] = r.gpu
	}
	return nil
}

// deref is *p, or the zero value for nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func sanitize(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "host"
	}
	return b.String()
}

// placeRuns resolves every run's NUMA placement on this host and names the
// run after it: the ID's numa token says what really happened — nlocal or
// nremote when bound, nnone when unbound (asked for none, or for local
// where the GPU's node is unknown), nunavailable when the host cannot give
// the placement (the run is recorded, not run). Two runs that become the
// same run on this host (none and an unbindable local) are merged, with a
// batch warning.
func (r *runner) placeRuns() {
	var runs []plan.Run
	seen := map[string]string{}
	for _, run := range r.x.Runs {
		b, err := numa.Resolve(r.topo, r.gpuNode, run.NUMA)
		b.Placement.Requested = run.NUMA
		named := run.WithPlacement(placementWord(b, err))
		if first, dup := seen[named.ID]; dup {
			if named.Repeat == 1 {
				r.warnings = append(r.warnings, fmt.Sprintf("run %s (numa %s) is the same as %s on this host: not run twice", run.ID, run.NUMA, first))
			}
			continue
		}
		seen[named.ID] = run.ID
		runs = append(runs, named)
		r.allBinds = append(r.allBinds, b)
		r.allBindErrs = append(r.allBindErrs, err)
	}
	r.x.Runs = runs
}

// placementWord is the run-ID word of a resolved placement.
func placementWord(b numa.Binding, err error) string {
	switch {
	case err != nil:
		return "unavailable"
	case b.Node >= 0:
		return b.Placement.Placement
	}
	return "none"
}

// preflight checks, before anything is written, that every tool the runs
// need is there.
func (r *runner) preflight(ctx context.Context) error {
	if r.cfg.Nsys == nil {
		return fmt.Errorf("runner: %w", nsys.ErrNotFound)
	}
	v, err := r.cfg.Nsys.Version(ctx)
	if err != nil {
		return err
	}
	r.nsysVer = v
	if _, err := exec.LookPath(r.cfg.Python); err != nil {
		return fmt.Errorf("runner: python %q: %w (give --python)", r.cfg.Python, err)
	}
	for i, b := range r.binds {
		if r.bindErrs[i] == nil && b.Node >= 0 && r.numactl == "" {
			return fmt.Errorf("runner: run %s needs numactl (NUMA %s), which is not on PATH", r.runs[i].ID, r.runs[i].NUMA)
		}
	}
	return nil
}

// cudaDevice is CUDA_VISIBLE_DEVICES for the chosen GPU: its UUID when NVML
// gave one (immune to CUDA's own device order), else its index with
// CUDA_DEVICE_ORDER=PCI_BUS_ID so CUDA and NVML count alike.
func (r *runner) cudaDevice() string {
	if r.gpu.UUID != "" {
		return r.gpu.UUID
	}
	return fmt.Sprint(r.cfg.GPU)
}

// setEnv is what the runner sets for every workload process.
func (r *runner) setEnv() []string {
	return append(append([]string{}, r.cfg.Env...),
		"CUDA_VISIBLE_DEVICES="+r.cudaDevice(),
		"CUDA_DEVICE_ORDER=PCI_BUS_ID",
		"PYTHONUNBUFFERED=1",
	)
}

func (r *runner) env(traced bool) []string {
	env := nsys.Environ(os.Environ(), r.setEnv())
	if traced && r.cfg.Nsys != nil {
		env = r.cfg.Nsys.Environ(env)
	}
	return env
}

func (r *runner) runDir(run plan.Run) string {
	return filepath.Join(r.dir, batchdir.RunsDir, run.ID)
}

// commands returns the clean and traced argv of a run.
func (r *runner) commands(run plan.Run, b numa.Binding) (clean, traced []string) {
	dir := r.runDir(run)
	wl := func(phase string) []string {
		argv := []string{r.cfg.Python, filepath.Join(r.cfg.WorkloadDir, WorkloadScript),
			"--request", filepath.Join(dir, RequestFile),
			"--result", filepath.Join(dir, ResultFile(phase)),
			"--phase", phase}
		if cache := r.compileCache(run); cache != "" {
			// Both phases share one inductor/triton cache: the clean phase
			// compiles cold (its compile_s is the one recorded), the traced
			// phase hits the cache, so the trace is not dominated by a second
			// compilation (max-autotune benchmarks every kernel choice).
			argv = append(argv, "--compile-cache", cache)
		}
		return argv
	}
	numactl := r.numactl
	if numactl == "" {
		numactl = "numactl"
	}
	prefix := b.Prefix(numactl)
	clean = append(append([]string{}, prefix...), wl(PhaseClean)...)
	tool := r.cfg.Nsys
	if tool == nil {
		tool = &nsys.Tool{Path: "nsys"}
	}
	mode := deref(run.Settings.CompileMode)
	graphs := mode == "reduce-overhead" || mode == "max-autotune"
	traced = append(append([]string{}, prefix...),
		tool.ProfileCommand(nsys.ProfileOptions{OutBase: filepath.Join(dir, batchdir.TraceBase), CUDAGraphNodes: graphs}, wl(PhaseTraced))...)
	return clean, traced
}

// compileCache is the compile cache shared by a compiled run's two phases,
// outside the batch directory (it can be large) and removed after the run;
// "" for eager runs.
func (r *runner) compileCache(run plan.Run) string {
	if m := deref(run.Settings.CompileMode); m == "" || m == "eager" {
		return ""
	}
	root := r.cfg.CompileCacheDir
	if root == "" {
		root = filepath.Join(os.TempDir(), "vitlab-compile-cache")
	}
	return filepath.Join(root, filepath.Base(r.dir), run.ID)
}

func (r *runner) labels(run plan.Run) map[string]string {
	l := map[string]string{}
	for k, v := range r.x.Labels {
		l[k] = v
	}
	if run.Model != "" {
		l["model"] = run.Model
	}
	if len(l) == 0 {
		return nil
	}
	return l
}

// orderText says how the runs are ordered inside each repeat round.
func orderText(seed int64) string {
	if seed == 0 {
		return "in the plan's order"
	}
	return fmt.Sprintf("shuffled with order seed %d", seed)
}

// dryRun prints the batch, each run and its exact commands.
func (r *runner) dryRun() (*Summary, error) {
	w := r.cfg.Stdout
	s := &Summary{BatchID: r.batchID, Dir: r.dir, Total: len(r.runs)}
	fmt.Fprintf(w, "batch %s: plan %s, profile %s, %d of %d runs (%d configurations × %d repeats), %s\n",
		r.batchID, r.x.Plan, r.x.Profile, len(r.runs), len(r.x.Runs), r.x.Configs, r.x.Repeats, orderText(r.x.OrderSeed))
	fmt.Fprintf(w, "dir: %s\n", r.dir)
	fmt.Fprintf(w, "gpu %d: %s; NUMA node %s; host NUMA nodes: %s\n", r.cfg.GPU, gpuText(r.gpu), nodeText(r.gpuNode), topoText(r.topo))
	fmt.Fprintf(w, "timeout per run: %s\n", r.timeout)
	fmt.Fprintf(w, "env: %s\n", shellJoin(r.setEnv()))
	if r.cfg.Nsys != nil && len(r.cfg.Nsys.Env) > 0 {
		fmt.Fprintf(w, "env of the traced phase also: %s (LD_LIBRARY_PATH is prepended)\n", shellJoin(r.cfg.Nsys.Env))
	}
	for _, wn := range r.warnings {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
	var done map[string]string
	if r.cfg.Resume {
		done = r.existingStatuses()
	}
	for i, run := range r.runs {
		fmt.Fprintf(w, "\n%s  model=%s numa=%s %s\n", run.ID, orDash(run.Model), run.NUMA, plan.Describe(run.Settings))
		if st, ok := done[run.ID]; ok && st == batchdir.StatusOK {
			fmt.Fprintf(w, "  kept: run.json says ok (resume)\n")
			s.Kept++
			continue
		}
		if err := r.bindErrs[i]; err != nil {
			fmt.Fprintf(w, "  unavailable: %v\n", err)
			s.Unavailable++
			continue
		}
		clean, traced := r.commands(run, r.binds[i])
		fmt.Fprintf(w, "  placement: %s\n", placementText(r.binds[i].Placement))
		fmt.Fprintf(w, "  clean:  %s\n", shellJoin(clean))
		fmt.Fprintf(w, "  traced: %s\n", shellJoin(traced))
	}
	return s, nil
}

func (r *runner) existingStatuses() map[string]string {
	out := map[string]string{}
	for _, run := range r.runs {
		if rec, err := batchdir.ReadRun(r.runDir(run)); err == nil {
			out[run.ID] = rec.Status
		}
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func gpuText(g batchdir.GPU) string {
	if g.Name == "" {
		return "unknown (no NVML inventory)"
	}
	s := g.Name
	if g.UUID != "" {
		s += " " + g.UUID
	}
	if g.BusID != "" {
		s += " at " + g.BusID
	}
	return s
}

func nodeText(n *int) string {
	if n == nil {
		return "unknown"
	}
	return fmt.Sprint(*n)
}

func topoText(t batchdir.NUMA) string {
	if len(t.Nodes) == 0 {
		return "unknown"
	}
	var parts []string
	for _, n := range t.Nodes {
		parts = append(parts, fmt.Sprintf("%d[cpus %s]", n.ID, n.CPUs))
	}
	return fmt.Sprintf("%d (%s: %s)", len(t.Nodes), t.Source, strings.Join(parts, " "))
}

func placementText(p batchdir.Placement) string {
	if p.CPUNodes == "" {
		return p.Placement + ", unbound"
	}
	return fmt.Sprintf("%s, cpus and memory on node %s", p.Placement, p.CPUNodes)
}

// shellJoin quotes argv for a POSIX shell, so printed commands can be
// pasted.
func shellJoin(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = shellQuote(a)
	}
	return strings.Join(out, " ")
}

var plainArg = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

func shellQuote(s string) string {
	if plainArg.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// openBatch creates the batch directory (or, with Resume, checks and
// reopens it) and writes batch.json without finished.
func (r *runner) openBatch() (*batchdir.Batch, error) {
	planBytes, err := os.ReadFile(r.cfg.PlanFile)
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	b := &batchdir.Batch{
		ID:            r.batchID,
		Plan:          r.x.Plan,
		PlanFile:      r.cfg.PlanFile,
		Profile:       r.x.Profile,
		Host:          r.host,
		VitlabVersion: r.cfg.Version,
		StartedAt:     r.cfg.Now().UTC(),
		GPUs:          r.gpus,
		NUMA:          r.topo,
		Software:      batchdir.Software{Nsys: r.nsysVer, Driver: r.gpu.Driver, OS: osText(r.cfg.SysRoot)},
		Runs:          len(r.runs),
		Labels:        r.x.Labels,
		Filter:        r.cfg.Only,
		Warnings:      r.warnings,
		Shards:        r.cfg.Shards,
		OrderSeed:     &r.x.OrderSeed,
	}
	if r.cfg.Shards == 0 {
		// One process runs them all here; shards add their own hosts.
		b.AddHost(r.host)
	}
	if b.GPUs == nil {
		b.GPUs = []batchdir.GPU{}
	}
	_, statErr := os.Stat(r.dir)
	exists := statErr == nil
	switch {
	case exists && !r.cfg.Resume:
		return nil, fmt.Errorf("runner: %s: %w", r.dir, ErrBatchExists)
	case !exists && r.cfg.Resume:
		return nil, fmt.Errorf("runner: --resume: no batch at %s", r.dir)
	case exists:
		old, err := batchdir.ReadBatch(r.dir)
		if err != nil {
			return nil, fmt.Errorf("runner: --resume: %w", err)
		}
		var problems []string
		if old.Plan != b.Plan || old.Profile != b.Profile {
			problems = append(problems, fmt.Sprintf("it is plan %s profile %s, not plan %s profile %s", old.Plan, old.Profile, b.Plan, b.Profile))
		}
		if old.Filter != b.Filter {
			problems = append(problems, fmt.Sprintf("it was collected with --only %q, not %q", old.Filter, b.Filter))
		}
		if old.OrderSeed != nil && *old.OrderSeed != r.x.OrderSeed {
			problems = append(problems, fmt.Sprintf("its runs were ordered with seed %d, not %d (give --order-seed %d)", *old.OrderSeed, r.x.OrderSeed, *old.OrderSeed))
		}
		if old.Host != b.Host {
			problems = append(problems, fmt.Sprintf("it was collected on host %s, this is %s", old.Host, b.Host))
		}
		if prev, err := os.ReadFile(filepath.Join(r.dir, PlanCopy)); err != nil || !bytes.Equal(prev, planBytes) {
			problems = append(problems, fmt.Sprintf("the plan file differs from the batch's copy %s", filepath.Join(r.dir, PlanCopy)))
		}
		if len(problems) > 0 {
			return nil, fmt.Errorf("runner: --resume %s: %s; start a new batch", r.batchID, strings.Join(problems, "; "))
		}
		b.StartedAt = old.StartedAt
		b.Software = mergeSoftware(b.Software, old.Software)
		b.Shards = old.Shards
		for _, h := range old.Hosts {
			b.AddHost(h)
		}
		for _, w := range old.Warnings {
			if !contains(b.Warnings, w) {
				b.Warnings = append(b.Warnings, w)
			}
		}
	default:
		if err := os.MkdirAll(filepath.Join(r.dir, batchdir.RunsDir), 0o755); err != nil {
			return nil, fmt.Errorf("runner: %w", err)
		}
		if err := os.WriteFile(filepath.Join(r.dir, PlanCopy), planBytes, 0o644); err != nil {
			return nil, fmt.Errorf("runner: %w", err)
		}
	}
	if err := writeJSON(filepath.Join(r.dir, batchdir.BatchFile), b); err != nil {
		return nil, err
	}
	return b, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// mergeSoftware fills the empty fields of a from b.
func mergeSoftware(a, b batchdir.Software) batchdir.Software {
	fill := func(x *string, y string) {
		if *x == "" {
			*x = y
		}
	}
	fill(&a.Driver, b.Driver)
	fill(&a.CUDA, b.CUDA)
	fill(&a.Torch, b.Torch)
	fill(&a.Timm, b.Timm)
	fill(&a.Python, b.Python)
	fill(&a.Nsys, b.Nsys)
	fill(&a.OS, b.OS)
	return a
}

func osText(root string) string {
	rel, err := os.ReadFile(filepath.Join(root, "proc", "sys", "kernel", "osrelease"))
	if err != nil {
		return "linux"
	}
	return "linux " + strings.TrimSpace(string(rel))
}

// joinBatch opens a batch directory that Prepare created, for a shard: it
// checks that the plan and profile are the batch's and adds this host to
// batch.json's hosts (and its GPUs and warnings where batch.json has none),
// under the batch's lock.
func (r *runner) joinBatch() (*batchdir.Batch, error) {
	planBytes, err := os.ReadFile(r.cfg.PlanFile)
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	if prev, err := os.ReadFile(filepath.Join(r.dir, PlanCopy)); err != nil || !bytes.Equal(prev, planBytes) {
		return nil, fmt.Errorf("runner: shard of %s: the plan file differs from the batch's copy %s", r.dir, filepath.Join(r.dir, PlanCopy))
	}
	var out *batchdir.Batch
	err = batchdir.Update(r.dir, func(b *batchdir.Batch) error {
		if b.Plan != r.x.Plan || b.Profile != r.x.Profile {
			return fmt.Errorf("runner: shard of %s: it is plan %s profile %s, not plan %s profile %s", r.dir, b.Plan, b.Profile, r.x.Plan, r.x.Profile)
		}
		if b.Filter != r.cfg.Only {
			return fmt.Errorf("runner: shard of %s: it was made with --only %q, not %q", r.dir, b.Filter, r.cfg.Only)
		}
		if b.OrderSeed != nil && *b.OrderSeed != r.x.OrderSeed {
			// Shards pick runs by their index in the order: another
			// order would run some runs twice and others never.
			return fmt.Errorf("runner: shard of %s: its runs are ordered with seed %d, not %d", r.dir, *b.OrderSeed, r.x.OrderSeed)
		}
		b.AddHost(r.host)
		if len(b.GPUs) == 0 && len(r.gpus) > 0 {
			b.GPUs = r.gpus
		}
		if len(b.NUMA.Nodes) == 0 {
			b.NUMA = r.topo
		}
		for _, w := range r.warnings {
			if contains(b.Warnings, w) {
				continue // the batch's creator said it already
			}
			if w = r.host + ": " + w; !contains(b.Warnings, w) {
				b.Warnings = append(b.Warnings, w)
			}
		}
		b.Software = mergeSoftware(b.Software, batchdir.Software{Nsys: r.nsysVer, Driver: r.gpu.Driver, OS: osText(r.cfg.SysRoot)})
		out = b
		return nil
	})
	return out, err
}

// collect runs the batch.
func (r *runner) collect(ctx context.Context) (*Summary, error) {
	open := r.openBatch
	if r.cfg.Join {
		open = r.joinBatch
	}
	b, err := open()
	if err != nil {
		return nil, err
	}
	// save writes batch.json: the whole of it for a batch of its own, only
	// what this shard learnt (software versions) when joined.
	save := func() error {
		if !r.cfg.Join {
			return writeJSON(filepath.Join(r.dir, batchdir.BatchFile), b)
		}
		return batchdir.Update(r.dir, func(nb *batchdir.Batch) error {
			nb.Software = mergeSoftware(nb.Software, r.software)
			return nil
		})
	}
	s := &Summary{BatchID: r.batchID, Dir: r.dir, Total: len(r.runs)}
	p := &progress{w: r.cfg.Progress, total: len(r.runs)}
	todo := 0
	kept := map[string]bool{}
	for i, run := range r.runs {
		if r.cfg.Resume || r.cfg.Join {
			if prev, err := batchdir.ReadRun(r.runDir(run)); err == nil && prev.Status == batchdir.StatusOK {
				kept[run.ID] = true
				r.software = mergeSoftware(r.software, prev.Software)
				continue
			}
		}
		if r.bindErrs[i] == nil {
			todo++
		}
	}
	s.Kept = len(kept)
	fmt.Fprintf(r.cfg.Progress, "batch %s: %d runs, %d to run, %d kept, %d unavailable here → %s\n",
		r.batchID, len(r.runs), todo, s.Kept, len(r.runs)-todo-s.Kept, r.dir)
	for _, w := range b.Warnings {
		fmt.Fprintf(r.cfg.Progress, "warning: %s\n", w)
	}
	p.todo = todo
	for i, run := range r.runs {
		if ctx.Err() != nil {
			break
		}
		if kept[run.ID] {
			p.done++
			continue
		}
		dir := r.runDir(run)
		if err := os.RemoveAll(dir); err != nil {
			return s, fmt.Errorf("runner: %w", err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return s, fmt.Errorf("runner: %w", err)
		}
		var rec *batchdir.Run
		var fatal error
		start := time.Now()
		if err := r.bindErrs[i]; err != nil {
			rec = r.unavailable(run, r.binds[i], err)
		} else {
			p.starting(run.ID)
			rec, fatal = r.execRun(ctx, run, r.binds[i])
		}
		if ctx.Err() != nil && rec.Status != batchdir.StatusOK {
			// Interrupted (or the task preempted): the run stays
			// unfinished, without run.json, so --resume redoes it.
			fmt.Fprintf(r.cfg.Progress, "%s interrupted: %s left unfinished (no %s); --resume redoes it\n", run.ID, dir, batchdir.RunFile)
			break
		}
		rec.Host = r.host
		if err := writeJSON(filepath.Join(dir, batchdir.RunFile), rec); err != nil {
			return s, err
		}
		switch rec.Status {
		case batchdir.StatusOK:
			s.OK++
			r.software = mergeSoftware(r.software, rec.Software)
		case batchdir.StatusTimeout:
			s.Timeout++
		case batchdir.StatusUnavailable:
			s.Unavailable++
		default:
			s.Failed++
		}
		p.finished(rec, time.Since(start), s)
		if fatal != nil {
			// Every later run would fail the same way: stop, leave the batch
			// unfinished, and let --resume continue once nsys is fixed.
			b.Software = mergeSoftware(b.Software, r.software)
			if err := save(); err != nil {
				return s, err
			}
			return s, fmt.Errorf("runner: stopping the batch: %w; fix it and continue with --resume --batch %s", fatal, r.batchID)
		}
	}
	b.Software = mergeSoftware(b.Software, r.software)
	if ctx.Err() != nil {
		// Interrupted: batch.json stays without finished.
		if err := save(); err != nil {
			return s, err
		}
		return s, ctx.Err()
	}
	if r.cfg.Join {
		return s, save()
	}
	fin := r.cfg.Now().UTC()
	b.Finished = &fin
	if err := writeJSON(filepath.Join(r.dir, batchdir.BatchFile), b); err != nil {
		return s, err
	}
	return s, nil
}

// unavailable is the record of a run whose placement the host cannot give.
func (r *runner) unavailable(run plan.Run, b numa.Binding, reason error) *batchdir.Run {
	now := r.cfg.Now().UTC()
	return &batchdir.Run{
		ID: run.ID, RQ: run.RQ, Name: run.Name, Repeat: run.Repeat,
		Status:    batchdir.StatusUnavailable,
		Error:     reason.Error(),
		Requested: run.Settings,
		NUMA:      b.Placement,
		GPU:       r.gpu,
		Software:  batchdir.Software{Nsys: r.nsysVer, Driver: r.gpu.Driver},
		StartedAt: now, FinishedAt: &now,
		Labels: r.labels(run),
	}
}

// progress prints one line per run with counts and an ETA from the mean
// time of the runs executed so far.
type progress struct {
	w                 io.Writer
	total, todo, done int
	ran               int
	spent             time.Duration
}

func (p *progress) starting(id string) {
	fmt.Fprintf(p.w, "[%d/%d] %s …\n", p.done+1, p.total, id)
}

func (p *progress) finished(rec *batchdir.Run, d time.Duration, s *Summary) {
	p.done++
	if rec.Status != batchdir.StatusUnavailable {
		p.ran++
		p.spent += d
	}
	eta := "?"
	if p.ran > 0 {
		left := p.todo - p.ran
		eta = (p.spent / time.Duration(p.ran) * time.Duration(max(left, 0))).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "[%d/%d] %s %s in %s | ok %d, failed %d, timeout %d, unavailable %d | ETA %s\n",
		p.done, p.total, rec.ID, rec.Status, d.Round(100*time.Millisecond), s.OK, s.Failed, s.Timeout, s.Unavailable, eta)
	if rec.Status != batchdir.StatusOK && rec.Error != "" {
		fmt.Fprintf(p.w, "    %s\n", firstLine(rec.Error))
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 300 {
		line = line[:300] + "…"
	}
	return line
}
