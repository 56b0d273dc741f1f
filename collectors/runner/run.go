package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"vitlab/collectors/batchdir"
	"vitlab/collectors/nsys"
	"vitlab/collectors/numa"
	"vitlab/collectors/plan"
	"vitlab/schemas"
)

// execRun runs one configuration: the clean phase, the traced phase with
// NVML sampling, then the export. It always returns a record to write, and
// a non-nil error when the host cannot trace at all (nsys's importer
// fails), so that the batch stops instead of failing every run alike.
func (r *runner) execRun(ctx context.Context, run plan.Run, b numa.Binding) (*batchdir.Run, error) {
	dir := r.runDir(run)
	rec := &batchdir.Run{
		ID: run.ID, RQ: run.RQ, Name: run.Name, Repeat: run.Repeat,
		Status:    batchdir.StatusFailed,
		Requested: run.Settings,
		NUMA:      b.Placement,
		GPU:       r.gpu,
		Software:  batchdir.Software{Nsys: r.nsysVer, Driver: r.gpu.Driver},
		StartedAt: r.cfg.Now().UTC(),
		Labels:    r.labels(run),
	}
	finish := func(status, msg string) (*batchdir.Run, error) {
		rec.Status = status
		rec.Error = msg
		t := r.cfg.Now().UTC()
		rec.FinishedAt = &t
		return rec, nil
	}
	var warn []string
	clean, traced := r.commands(run, b)
	clean = r.warmClean(ctx, run, b, rec, clean, &warn)
	if cache := r.compileCache(run); cache != "" {
		defer os.RemoveAll(cache)
	}
	rec.CleanCommand, rec.Command = clean, traced
	if err := writeJSON(filepath.Join(dir, RequestFile), Request{RunID: run.ID, Settings: run.Settings}); err != nil {
		return finish(batchdir.StatusFailed, err.Error())
	}
	stdout, err := os.OpenFile(filepath.Join(dir, batchdir.StdoutFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return finish(batchdir.StatusFailed, err.Error())
	}
	defer stdout.Close()
	stderrPath := filepath.Join(dir, batchdir.StderrFile)
	stderr, err := os.OpenFile(stderrPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return finish(batchdir.StatusFailed, err.Error())
	}
	defer stderr.Close()

	runCtx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()

	rec.CPUs = r.cpuBudget(b)
	if r.cfg.ReadEnergy == nil {
		rec.Warnings = append(rec.Warnings, "GPU energy counter unavailable (no NVML): windows have no energy_mj")
	}

	// Clean phase: untraced, its windows' edges marked on stdout.
	rec.PhaseSeconds = &batchdir.PhaseSeconds{}
	t0 := time.Now()
	hostCPU := startHostCPU(r.cfg.SysRoot)
	cleanRes, cleanMarks, status, msg := r.phase(runCtx, ctx, PhaseClean, clean, dir, stdout, stderr, &warn)
	rec.PhaseSeconds.Clean = seconds(time.Since(t0))
	if hc, w := hostCPU.finish(); hc != nil {
		rec.HostCPU = hc
		if w != "" {
			warn = append(warn, w)
		}
	}
	r.recordWindows(rec, cleanRes, cleanMarks, &warn)
	if msg != "" {
		rec.Warnings = append(rec.Warnings, warn...)
		return finish(status, withTail(msg, stderrPath))
	}
	if !run.Traced {
		// Beyond the batch's trace_repeats: the clean phase is the run.
		return r.finishUntraced(rec, run, dir, cleanRes, warn, finish)
	}
	// Traced phase: under nsys.
	t0 = time.Now()
	tracedRes, tracedMarks, status, msg := r.phase(runCtx, ctx, PhaseTraced, traced, dir, stdout, stderr, &warn)
	rec.PhaseSeconds.Traced = seconds(time.Since(t0))
	r.recordTracedWindow(rec, tracedRes, tracedMarks, &warn)
	rec.Warnings = append(rec.Warnings, warn...)
	rec.Timings = mergeTimings(cleanRes, tracedRes)
	r.fillFromResults(rec, cleanRes, tracedRes)
	if msg != "" {
		rec.Effective = nil
		return finish(status, withTail(msg, stderrPath))
	}

	if msg := settle(rec, run.Settings, cleanRes, tracedRes); msg != "" {
		return finish(batchdir.StatusFailed, msg)
	}

	// Export and compress, outside the run's timeout.
	exCtx, exCancel := context.WithTimeout(ctx, exportTimeout)
	defer exCancel()
	t0 = time.Now()
	res, err := r.cfg.Nsys.Finish(exCtx, filepath.Join(dir, batchdir.TraceBase), r.cfg.KeepRaw)
	rec.PhaseSeconds.Export = seconds(time.Since(t0))
	if err != nil {
		if ctx.Err() != nil {
			return finish(batchdir.StatusFailed, "interrupted during the export")
		}
		rec, _ = finish(batchdir.StatusFailed, "export: "+err.Error())
		if errors.Is(err, nsys.ErrImporter) {
			return rec, err
		}
		return rec, nil
	}
	rec.Export = res.Export
	rec.ExportBytes = res.SQLiteBytes
	if err := compressSamples(dir); err != nil {
		rec.Warnings = append(rec.Warnings, "NVML samples kept uncompressed: "+err.Error())
	}
	return finish(batchdir.StatusOK, "")
}

// finishUntraced ends a run that has no traced phase by design (its
// repeat is beyond trace_repeats): its effective settings, timings,
// software and GPU come from the clean phase's result alone, it has no
// export, and run.json says untraced.
func (r *runner) finishUntraced(rec *batchdir.Run, run plan.Run, dir string, cleanRes *Result, warn []string,
	finish func(status, msg string) (*batchdir.Run, error)) (*batchdir.Run, error) {
	rec.Untraced = true
	rec.Command = nil
	rec.Warnings = append(rec.Warnings, warn...)
	rec.Timings = mergeTimings(cleanRes, nil)
	r.fillFromResults(rec, cleanRes)
	if cleanRes == nil || cleanRes.Effective == nil {
		return finish(batchdir.StatusFailed, "the clean phase reported no effective settings")
	}
	if msg := settle(rec, run.Settings, cleanRes, cleanRes); msg != "" {
		return finish(batchdir.StatusFailed, msg)
	}
	if err := compressSamples(dir); err != nil {
		rec.Warnings = append(rec.Warnings, "NVML samples kept uncompressed: "+err.Error())
	}
	return finish(batchdir.StatusOK, "")
}

// compressSamples replaces an ok run's nvml.jsonl by nvml.jsonl.zst (20 Hz
// samples of both phases shrink ~20x: 144 kB → 7 kB a run on an H100);
// ingest reads either. Nothing to do without samples.
func compressSamples(dir string) error {
	src := filepath.Join(dir, batchdir.NVMLFile)
	if _, err := os.Stat(src); os.IsNotExist(err) {
		return nil
	}
	if _, _, err := nsys.Compress(src, filepath.Join(dir, batchdir.NVMLZstFile)); err != nil {
		return err
	}
	return os.Remove(src)
}

// phase runs one phase, with NVML sampling and the child's stdout read
// line by line for window markers, and reads its result. It returns the
// result (nil when there is none), the markers seen and, when the phase
// failed, the status and message. runCtx carries the run's timeout, parent
// the batch's interrupt.
func (r *runner) phase(runCtx, parent context.Context, phase string, argv []string, dir string, stdout, stderr *os.File, warn *[]string) (*Result, []Marker, string, string) {
	header := fmt.Sprintf("==> vitlab %s phase: %s\n", phase, shellJoin(argv))
	io.WriteString(stdout, header)
	io.WriteString(stderr, header)
	resPath := filepath.Join(dir, ResultFile(phase))
	os.Remove(resPath)

	var sampler Stopper
	if r.cfg.StartSampler != nil {
		// Both phases append to one nvml.jsonl; each sample names its phase.
		f, err := os.OpenFile(filepath.Join(dir, batchdir.NVMLFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			defer f.Close()
			sampler, err = r.cfg.StartSampler(r.cfg.GPU, r.cfg.SampleEvery, phase, f)
		}
		if err != nil {
			*warn = append(*warn, fmt.Sprintf("NVML sampling (%s phase): %v", phase, err))
		}
	}
	tee := &markerTee{out: stdout, energy: r.cfg.ReadEnergy}
	o := runGroup(runCtx, argv, r.env(phase == PhaseTraced), dir, tee, stderr, r.cfg.KillGrace)
	if sampler != nil {
		if n, err := sampler.Stop(); err != nil {
			*warn = append(*warn, fmt.Sprintf("NVML sampling (%s phase): %v", phase, err))
		} else if n == 0 {
			*warn = append(*warn, fmt.Sprintf("NVML sampling wrote no samples in the %s phase", phase))
		}
	}
	marks, bad := tee.result()
	for _, b := range bad {
		*warn = append(*warn, fmt.Sprintf("%s phase: %s", phase, b))
	}
	res, status, msg := r.phaseOutcome(o, parent, phase, argv[0], resPath)
	return res, marks, status, msg
}

// phaseOutcome judges how a phase ended and reads its result.
func (r *runner) phaseOutcome(o outcome, parent context.Context, phase, argv0, resPath string) (*Result, string, string) {
	res, rerr := readResult(resPath, phase)
	switch {
	case o.err != nil && errors.Is(o.err, context.DeadlineExceeded) && parent.Err() == nil:
		return res, batchdir.StatusTimeout, fmt.Sprintf("timeout: the run exceeded %s in the %s phase (process group killed)", r.timeout, phase)
	case o.err != nil && parent.Err() != nil:
		return res, batchdir.StatusFailed, fmt.Sprintf("interrupted in the %s phase", phase)
	case o.err != nil:
		return res, batchdir.StatusFailed, fmt.Sprintf("%s phase: cannot start %s: %v", phase, argv0, o.err)
	case o.exitCode != 0 && signalled(o) && interruptFollows(parent):
		// A scheduler cancelling or preempting a task signals every process
		// of it at once: the child may die before the collector hears.
		return res, batchdir.StatusFailed, fmt.Sprintf("interrupted in the %s phase", phase)
	case o.exitCode != 0:
		msg := fmt.Sprintf("%s phase: %s", phase, o.state)
		if res != nil && res.Error != "" {
			msg += ": " + res.Error
		}
		return res, batchdir.StatusFailed, msg
	case errors.Is(rerr, os.ErrNotExist):
		return nil, batchdir.StatusFailed, fmt.Sprintf("%s phase: exit status 0 but the workload wrote no %s", phase, ResultFile(phase))
	case rerr != nil:
		return res, batchdir.StatusFailed, fmt.Sprintf("%s phase: %v", phase, rerr)
	case !res.OK:
		msg := fmt.Sprintf("%s phase: exit status 0 but the workload reports failure", phase)
		if res.Error != "" {
			msg += ": " + res.Error
		}
		return res, batchdir.StatusFailed, msg
	}
	return res, "", ""
}

// cpuBudget says which CPUs a run may use: its NUMA node's when bound,
// else the collector's own affinity (which the workload inherits).
func (r *runner) cpuBudget(b numa.Binding) *batchdir.CPUBudget {
	if b.Node >= 0 {
		for _, n := range r.topo.Nodes {
			if n.ID == b.Node {
				cpus, _ := numa.ParseCPUList(n.CPUs)
				return &batchdir.CPUBudget{Allowed: n.CPUs, Count: len(cpus), Source: fmt.Sprintf("numa node %d", n.ID)}
			}
		}
	}
	if list, err := ownAffinity(); err == nil {
		if cpus, err := numa.ParseCPUList(list); err == nil && len(cpus) > 0 {
			return &batchdir.CPUBudget{Allowed: list, Count: len(cpus), Source: "affinity"}
		}
	}
	n := runtime.NumCPU()
	return &batchdir.CPUBudget{Allowed: numa.FormatCPUList(seq(n)), Count: n, Source: "runtime.NumCPU"}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// ownAffinity is the collector's CPU affinity as a cpulist, from
// /proc/self/status (Cpus_allowed_list).
func ownAffinity() (string, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", errors.New("no Cpus_allowed_list in /proc/self/status")
}

// recordWindows puts the clean windows, with the energy read at their
// markers, into rec.Windows, and says where energy is missing.
func (r *runner) recordWindows(rec *batchdir.Run, res *Result, marks []Marker, warn *[]string) {
	var reported []batchdir.Window
	if res != nil {
		reported = res.Windows
		if res.Details.CPUsAllowed != nil && rec.CPUs != nil {
			rec.CPUs.WorkloadAllowed = res.Details.CPUsAllowed
		}
	}
	if len(reported) == 0 && len(marks) == 0 {
		return
	}
	ws, w := mergeWindows(reported, marks)
	rec.Windows = ws
	for _, x := range w {
		*warn = append(*warn, "clean phase: "+x)
	}
	if p := energyProblem(marks); p != "" {
		*warn = append(*warn, p)
	}
}

// recordTracedWindow puts the traced phase's timed window, with its
// energy when it was marked, into rec.TracedWindow.
func (r *runner) recordTracedWindow(rec *batchdir.Run, res *Result, marks []Marker, warn *[]string) {
	var reported []batchdir.Window
	if res != nil {
		reported = res.Details.TracedWindow
	}
	if len(reported) == 0 && len(marks) == 0 {
		return
	}
	ws, w := mergeWindows(reported, marks)
	if len(marks) > 0 { // an unmarked traced window is no problem: it is for structure
		for _, x := range w {
			*warn = append(*warn, "traced phase: "+x)
		}
	}
	if len(ws) > 0 {
		rec.TracedWindow = &ws[0]
	}
}

// fillFromResults copies versions and the GPU the workload saw into rec.
func (r *runner) fillFromResults(rec *batchdir.Run, results ...*Result) {
	for _, res := range results {
		if res == nil {
			continue
		}
		sw := res.Software
		rec.Software = mergeSoftware(rec.Software, batchdir.Software{
			Torch: sw.Torch, CUDA: sw.CUDA, Timm: sw.Timm, Python: sw.Python, Driver: sw.Driver,
		})
		g := res.GPU
		switch {
		case rec.GPU.UUID == "" && g.UUID != "":
			rec.GPU.UUID = g.UUID
		case g.UUID != "" && !sameUUID(rec.GPU.UUID, g.UUID):
			w := fmt.Sprintf("the workload ran on GPU %s, NVML index %d is %s", g.UUID, r.cfg.GPU, rec.GPU.UUID)
			if !contains(rec.Warnings, w) {
				rec.Warnings = append(rec.Warnings, w)
			}
		}
		if rec.GPU.Name == "" {
			rec.GPU.Name = g.Name
		}
	}
}

// sameUUID compares GPU UUIDs with or without NVML's "GPU-" prefix.
func sameUUID(a, b string) bool {
	trim := func(s string) string { return strings.TrimPrefix(strings.ToLower(s), "gpu-") }
	return trim(a) == trim(b)
}

// withTail appends the end of stderr.log to a failure message.
func withTail(msg, stderrPath string) string {
	t := fileTail(stderrPath, errTail)
	if t == "" {
		return msg
	}
	return msg + "\nstderr (end):\n" + t
}

func fileTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := st.Size() - n
	if off < 0 {
		off = 0
	}
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	s := strings.TrimSpace(string(b))
	if off > 0 {
		s = "…" + s
	}
	return s
}

// settle decides what a run whose two phases both completed ran: the two
// phases must have run the same settings, except those only the clean phase
// uses (phase "clean" in the registry: its windows), which the traced phase
// does not report and take the clean phase's value. On agreement it records
// the effective settings, the CPU numbers and any mismatch with the request
// and returns ""; otherwise it clears rec.Effective and returns why the run
// failed.
func settle(rec *batchdir.Run, requested batchdir.Settings, cleanRes, tracedRes *Result) string {
	ce, te := *cleanRes.Effective, *tracedRes.Effective
	for _, st := range schemas.Settings() {
		if !st.CleanOnly() {
			continue
		}
		v, _ := ce.Get(st.Key)
		if err := te.Set(st.Key, v); err != nil {
			return "the clean phase's " + st.Key + ": " + err.Error()
		}
	}
	if d := settingsDiff(ce, te, false); len(d) > 0 {
		rec.Effective = nil
		return fmt.Sprintf("the clean and traced phases ran different settings (clean→traced: %s); the run is not labelled with either", strings.Join(d, ", "))
	}
	rec.Effective = &te
	if rec.CPUs != nil {
		rec.CPUs.Workers, rec.CPUs.ThreadsPerWorker = te.CPUWorkers, te.CPUThreadsPerWorker
	}
	rec.Mismatch = nil
	if d := settingsDiff(requested, te, true); len(d) > 0 {
		rec.Mismatch = fieldNames(d)
		w := "effective settings differ from the request: " + strings.Join(d, ", ")
		if !contains(rec.Warnings, w) {
			rec.Warnings = append(rec.Warnings, w)
		}
	}
	return ""
}

// signalled says the process died of SIGTERM, SIGINT or SIGKILL (or a
// shell in front of it exited with 128+that signal).
func signalled(o outcome) bool {
	switch o.state {
	case "signal: terminated", "signal: interrupt", "signal: killed", "exit status 143", "exit status 130", "exit status 137":
		return true
	}
	return false
}

// interruptWait is how long a run whose process was signalled from
// outside waits for the collector's own interrupt before it is judged a
// failure.
const interruptWait = 3 * time.Second

// interruptFollows waits up to interruptWait for ctx to end.
func interruptFollows(ctx context.Context) bool {
	t := time.NewTimer(interruptWait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return true
	case <-t.C:
		return false
	}
}

// seconds is d in seconds, to the millisecond.
func seconds(d time.Duration) float64 {
	return float64(d.Milliseconds()) / 1000
}
