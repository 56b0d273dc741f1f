package runner

// runner.go: the Config and Summary of a collection, the runner's state,
// Run and Prepare (expand, place, select, name) and the collect loop that
// runs the selected runs into the batch directory (one run: run.go).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
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
	// TraceRepeats, when not nil, replaces the plan's trace_repeats: how
	// many repeats of each configuration run a traced phase (0: all).
	TraceRepeats *int
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
	// TopoMatrix returns the text of `nvidia-smi topo -m` (nvsmi.Run); nil
	// when nvidia-smi is not found. The text goes to batch.json, and where
	// it disagrees with the GPUs' NUMA node or CPU affinity from NVML and
	// sysfs, a warning naming the GPU and both values.
	TopoMatrix func(ctx context.Context) (string, error)
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
	// WarmStart forks each eager run's clean phase from a warm interpreter
	// that imported torch, timm and torchvision once (warm.go).
	WarmStart bool
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
	smiTopo     string // nvidia-smi topo -m, cut to nvsmi.MaxText
	warnings    []string
	nsysVer     string
	numactl     string
	batchID     string
	dir         string
	software    batchdir.Software
	warm        warmPool
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
	if cfg.TraceRepeats != nil {
		x.SetTraceRepeats(*cfg.TraceRepeats)
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
	defer r.closeWarm()
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
	if cfg.TraceRepeats != nil {
		x.SetTraceRepeats(*cfg.TraceRepeats)
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
