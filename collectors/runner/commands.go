package runner

// commands.go: what a run executes — its directory, the clean and traced
// argv (commands), the compile cache the two phases share, the workload's
// environment (CUDA_VISIBLE_DEVICES and the rest) and the run's labels.

import (
	"fmt"
	"os"
	"path/filepath"

	"vitlab/collectors/batchdir"
	"vitlab/collectors/nsys"
	"vitlab/collectors/numa"
	"vitlab/collectors/plan"
)

func (r *runner) runDir(run plan.Run) string {
	return filepath.Join(r.dir, batchdir.RunsDir, run.ID)
}

// commands returns the clean and traced argv of a run. The clean argv is
// the warm launch (warm.go) when the run may start warm, else, like the
// traced one, numactl's prefix then the workload.
func (r *runner) commands(run plan.Run, b numa.Binding) (clean, traced []string) {
	prefix := b.Prefix(r.numactlPath())
	if r.warmEligible(run) {
		clean = r.warmArgv(prefix, r.workloadArgv(run, PhaseClean))
	} else {
		clean = r.coldClean(run, b)
	}
	tool := r.cfg.Nsys
	if tool == nil {
		tool = &nsys.Tool{Path: "nsys"}
	}
	mode := deref(run.Settings.CompileMode)
	graphs := mode == "reduce-overhead" || mode == "max-autotune"
	traced = append(append([]string{}, prefix...),
		tool.ProfileCommand(nsys.ProfileOptions{OutBase: filepath.Join(r.runDir(run), batchdir.TraceBase), CUDAGraphNodes: graphs}, r.workloadArgv(run, PhaseTraced))...)
	return clean, traced
}

// coldClean is the executed clean command: numactl's prefix, then the
// workload.
func (r *runner) coldClean(run plan.Run, b numa.Binding) []string {
	return append(append([]string{}, b.Prefix(r.numactlPath())...), r.workloadArgv(run, PhaseClean)...)
}

// workloadArgv is the workload's command line for one phase of a run.
func (r *runner) workloadArgv(run plan.Run, phase string) []string {
	dir := r.runDir(run)
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

// numactlPath is the numactl executable the prefixes name.
func (r *runner) numactlPath() string {
	if r.numactl == "" {
		return "numactl"
	}
	return r.numactl
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

// deref is *p, or the zero value for nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
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
