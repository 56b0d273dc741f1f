package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"vitlab/collectors/batchdir"
	"vitlab/collectors/nsys"
	"vitlab/collectors/nvml"
	"vitlab/collectors/nvsmi"
	"vitlab/collectors/plan"
	"vitlab/collectors/runner"
)

func init() {
	register(command{
		name:    "collect",
		summary: "run a plan's ViT experiments under nsys on this GPU host into a batch directory",
		run:     runCollect,
	})
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runCollect(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "collect", "--plan FILE [--profile quick] [--out DIR] [--gpu N | --gpus 0,1,… | --slurm [slurm flags]] [--only GLOB] [--resume --batch ID] [--dry-run] [flags]\n"+
		"       vitlab collect --status DIR | --finalize DIR | --refinish DIR | --batch-dir DIR (--shard I --of N | --resume) [flags]")
	planFile := fs.String("plan", "", "plan YAML file (required; see collectors/plans/README.md)")
	profile := fs.String("profile", "quick", "profile of the plan to run: quick, full, or another the plan defines")
	out := fs.String("out", "batches", "directory that holds batch directories")
	gpu := fs.Int("gpu", 0, "GPU to use, by NVML index (sets CUDA_VISIBLE_DEVICES)")
	only := fs.String("only", "", "run only the runs whose id matches this glob, e.g. '*-b32-*'")
	orderSeed := fs.Int64("order-seed", -1, "seed of the run order inside each repeat round (0: the plan's order; default: the plan's order_seed, else 1); recorded in batch.json")
	traceRepeats := fs.Int("trace-repeats", -1, "trace only repeats 1..N of each configuration under nsys (0: every repeat; default: the plan's trace_repeats, else 0); the others are clean phase only; recorded in batch.json")
	resume := fs.Bool("resume", false, "continue the batch named by --batch: keep runs whose run.json says ok, run the others")
	dryRun := fs.Bool("dry-run", false, "print the runs and their exact commands; run nothing")
	nsysPath := fs.String("nsys", "", "nsys executable (default: PATH, then /opt/nvidia/nsight-systems/*/bin, /usr/local/cuda/bin, /opt/nvidia/nsight-compute/*/host/target-linux-x64)")
	var nsysEnv listFlag
	fs.Var(&nsysEnv, "nsys-env", "KEY=VALUE for nsys and the traced phase, repeatable; LD_LIBRARY_PATH is put in front of the inherited one (also from $VITLAB_NSYS_ENV, space-separated)")
	var workloadEnv listFlag
	fs.Var(&workloadEnv, "env", "KEY=VALUE added to the workload's environment in both phases, repeatable")
	python := fs.String("python", "python3", "Python interpreter that runs the workload")
	workload := fs.String("workload", "", "workload folder holding vit_workload.py (default: collectors/workload above the working directory or the executable)")
	timeout := fs.Duration("timeout", 0, "per-run timeout, both phases (default: the plan's timeout, else 30m)")
	batchID := fs.String("batch", "", "batch id (default <plan>-<profile>-<host>-<UTC yyyymmddThhmmss>); needed with --resume")
	keepRaw := fs.Bool("keep-raw", false, "keep trace.nsys-rep and trace.sqlite beside trace.sqlite.zst")
	sampleEvery := fs.Duration("sample-every", runner.DefaultSampleEvery, "NVML sampling interval, in both phases (power, clocks, temperature, energy counter)")
	gpuBus := fs.String("gpu-bus", "", "PCI bus id of the GPU (e.g. 0000:17:00.0) when NVML is unavailable, to read its NUMA node from sysfs")
	numactl := fs.String("numactl", "", "numactl executable (default: numactl on PATH)")
	nvidiaSMI := fs.String("nvidia-smi", "", "nvidia-smi executable: its 'topo -m' is recorded in batch.json and checked against the GPUs' NUMA node and CPU affinity (default: nvidia-smi on PATH; not found: nothing recorded)")
	useNVML := fs.Bool("nvml", true, "use NVML for the GPU inventory and samples (false: neither)")
	compileCache := fs.String("compile-cache", "", "folder for the per-run torch.compile caches, removed after each run (default <TMPDIR>/vitlab-compile-cache)")
	warm := fs.Bool("warm-start", false, "fork each eager run's clean phase from a warm interpreter that imported torch, timm and torchvision once (collectors/workload/vit_zygote.py); each run is still its own process")
	sysRoot := fs.String("sysfs-root", "/", "root under which sys/devices/system/node and sys/bus/pci are read")
	var sh shardFlags
	fs.StringVar(&sh.gpus, "gpus", "", "run the batch as shards side by side on these GPUs of this host, one shard per GPU (NVML indices, e.g. 0,1,2,3)")
	fs.BoolVar(&sh.slurm, "slurm", false, "submit the batch to Slurm: one job array (a shard per task) and a finalising job; the batch directory under --out must be on storage every node sees")
	fs.StringVar(&sh.partition, "partition", "", "Slurm partition of the jobs (--slurm)")
	fs.StringVar(&sh.account, "account", "", "Slurm account of the jobs (--slurm)")
	fs.IntVar(&sh.gpusPerTask, "gpus-per-task", 1, "GPUs each array task asks for (--slurm; 0 for CPU-only nodes, e.g. with a stand-in workload)")
	fs.StringVar(&sh.time, "time", "", "time limit of each array task, as sbatch --time (--slurm)")
	fs.IntVar(&sh.maxParallel, "max-parallel", 0, "array tasks running at once, at most (--slurm; 0: as many as Slurm gives)")
	fs.IntVar(&sh.runsPerTask, "runs-per-task", 1, "runs each array task does (--slurm)")
	fs.StringVar(&sh.status, "status", "", "show a batch directory's runs: done, failed, unfinished, not started, and its Slurm jobs")
	fs.StringVar(&sh.finalize, "finalize", "", "mark a sharded batch directory finished once every run has run.json (the finalising job runs this)")
	refinish := fs.String("refinish", "", "settle again the runs of batch `DIR` whose two phases completed but that the collector's bookkeeping marked failed (a since-fixed check); needs trace.sqlite (nsys export) in each; measures nothing")
	fs.StringVar(&sh.batchDir, "batch-dir", "", "an existing batch directory to run runs into: a shard (--shard I --of N), or every run not ok (--resume; with --slurm, resubmitted)")
	fs.IntVar(&sh.shard, "shard", -1, "with --batch-dir: run shard I (runs j with j mod N = I)")
	fs.IntVar(&sh.of, "of", 0, "with --shard: the number of shards N")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("unexpected argument %q", fs.Arg(0))
	case sh.status != "":
		return collectStatus(ctx, e, sh.status)
	case sh.finalize != "":
		return collectFinalize(e, sh.finalize)
	case *refinish != "":
		return collectRefinish(e, *refinish)
	}
	if sh.batchDir != "" {
		if err := sh.fromBatchDir(fs, planFile, profile, out, batchID, resume); err != nil {
			return err
		}
	}
	if err := sh.check(*gpu); err != nil {
		return err
	}
	switch {
	case *planFile == "":
		return usagef("--plan is required")
	case *resume && *batchID == "":
		return usagef("--resume needs --batch ID (the batch directory's name under --out)")
	case *gpu < 0:
		return usagef("--gpu must not be negative")
	case *timeout < 0:
		return usagef("--timeout must not be negative")
	case *sampleEvery <= 0:
		return usagef("--sample-every must be positive")
	}
	if v := e.getenv("VITLAB_NSYS_ENV"); v != "" {
		nsysEnv = append(strings.Fields(v), nsysEnv...)
	}
	for _, kv := range nsysEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return usagef("--nsys-env %q: want KEY=VALUE", kv)
		}
	}
	for _, kv := range workloadEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return usagef("--env %q: want KEY=VALUE", kv)
		}
	}

	pl, err := plan.Load(*planFile)
	if err != nil {
		return err
	}
	if !slices.Contains(pl.Profiles(), *profile) {
		return usagef("plan %s has no profile %q (have %s)", *planFile, *profile, strings.Join(pl.Profiles(), ", "))
	}

	cfg := runner.Config{
		Plan: pl, PlanFile: *planFile, Profile: *profile, OutDir: *out, BatchID: *batchID,
		GPU: *gpu, GPUBusID: *gpuBus, Only: *only, Resume: *resume, DryRun: *dryRun,
		Python: *python, Timeout: *timeout, KeepRaw: *keepRaw, SampleEvery: *sampleEvery,
		SysRoot: *sysRoot, Numactl: *numactl, Env: workloadEnv, Version: version(), CompileCacheDir: *compileCache,
		WarmStart: *warm,
		Stdout:    e.stdout, Progress: e.stderr,
	}
	if *orderSeed < -1 {
		return usagef("--order-seed %d: want a seed >= 0 (0: the plan's order)", *orderSeed)
	}
	if *orderSeed >= 0 {
		cfg.OrderSeed = orderSeed
	}
	if *traceRepeats < -1 {
		return usagef("--trace-repeats %d: want N >= 0 (0: every repeat)", *traceRepeats)
	}
	if *traceRepeats >= 0 {
		cfg.TraceRepeats = traceRepeats
	}

	nsysExe, err := nsys.Find(*nsysPath)
	switch {
	case err == nil:
		cfg.Nsys = &nsys.Tool{Path: nsysExe, Env: nsysEnv}
	case sh.slurm:
		cfg.Nsys = &nsys.Tool{Path: "nsys", Env: nsysEnv} // each task finds its node's nsys
	case *dryRun:
		cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%v; the commands below say plain nsys", err))
		cfg.Nsys = &nsys.Tool{Path: "nsys", Env: nsysEnv}
	default:
		return err
	}

	cfg.WorkloadDir = *workload
	if cfg.WorkloadDir == "" {
		exeDir := ""
		if exe, err := os.Executable(); err == nil {
			exeDir = filepath.Dir(exe)
		}
		wd, _ := os.Getwd()
		if cfg.WorkloadDir, err = runner.FindWorkload(wd, exeDir); err != nil {
			return err
		}
	}
	if cfg.WorkloadDir, err = filepath.Abs(cfg.WorkloadDir); err != nil {
		return err
	}

	if sh.slurm {
		// The submitting host (a login node) runs nothing: each task
		// finds nsys, NVML and the GPU on its own node.
		return collectSlurm(ctx, e, fs, cfg, sh)
	}
	var energy func(gpu int) (func() (int64, error), error)
	if *useNVML {
		lib, err := nvml.Open()
		if err != nil {
			cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%v: no GPU inventory and no NVML samples (the samples carry the CPU canary only)", err))
			cfg.StartSampler = func(index int, every time.Duration, phase string, w io.Writer) (runner.Stopper, error) {
				return nvml.StartCanarySampler(index, every, phase, w), nil
			}
		} else {
			defer lib.Close()
			cfg.GPUs = lib.Devices
			if g, ok := slurmGPU(fs, sh, e.getenv("SLURM_JOB_GPUS"), lib.Devices); ok {
				*gpu, cfg.GPU = g, g
			}
			cfg.StartSampler = func(index int, every time.Duration, phase string, w io.Writer) (runner.Stopper, error) {
				return lib.StartSampler(index, every, phase, w)
			}
			energy = lib.EnergyCounter
			if read, err := lib.EnergyCounter(*gpu); err != nil {
				cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("GPU energy counter: %v", err))
			} else {
				cfg.ReadEnergy = read
			}
		}
	} else {
		cfg.Warnings = append(cfg.Warnings, "NVML not used (--nvml=false): no GPU inventory and no NVML samples")
	}

	if smi := *nvidiaSMI; !*dryRun {
		if smi == "" {
			smi, _ = exec.LookPath("nvidia-smi")
		}
		if smi != "" {
			cfg.TopoMatrix = func(ctx context.Context) (string, error) { return nvsmi.Run(ctx, smi) }
		}
	}

	switch {
	case sh.gpus != "":
		return collectGPUs(ctx, e, cfg, sh, energy)
	case sh.batchDir != "":
		return collectShard(ctx, e, cfg, sh)
	}
	sum, err := runner.Run(ctx, cfg)
	if err != nil {
		if sum != nil && errors.Is(err, context.Canceled) {
			fmt.Fprintf(e.stderr, "vitlab collect: interrupted; batch %s is incomplete; continue it with --resume --batch %s\n", sum.Dir, sum.BatchID)
		}
		return err
	}
	if *dryRun {
		return nil
	}
	fmt.Fprintf(e.stdout, "batch %s: %d runs: %s %d, %s %d, %s %d, %s %d, kept %d\n", sum.Dir, sum.Total,
		batchdir.StatusOK, sum.OK, batchdir.StatusFailed, sum.Failed, batchdir.StatusTimeout, sum.Timeout,
		batchdir.StatusUnavailable, sum.Unavailable, sum.Kept)
	if sum.Failures() > 0 {
		fmt.Fprintf(e.stderr, "vitlab collect: %d run(s) failed; see run.json and stderr.log in their run directories; rerun them with --resume --batch %s\n",
			sum.Failures(), sum.BatchID)
		return errPartial
	}
	return nil
}

// collectRefinish runs runner.Refinish over a batch directory and says what
// became of each failed run.
func collectRefinish(e *env, dir string) error {
	done, err := runner.Refinish(dir, version(), time.Now())
	for _, r := range done {
		if r.OK {
			fmt.Fprintf(e.stdout, "%s: ok (re-finished)\n", r.RunID)
		} else {
			fmt.Fprintf(e.stdout, "%s: left failed: %s\n", r.RunID, r.Why)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "batch %s: %d failed run(s) looked at\n", dir, len(done))
	return nil
}
