package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"vitlab/collectors/batchdir"
	"vitlab/collectors/nsys"
	"vitlab/collectors/numa"
	"vitlab/collectors/plan"
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
	clean, traced := r.commands(run, b)
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

	// Clean phase: untraced.
	cleanRes, status, msg := r.phase(runCtx, ctx, PhaseClean, clean, dir, stdout, stderr, nil)
	if msg != "" {
		return finish(status, withTail(msg, stderrPath))
	}
	// Traced phase: under nsys, with NVML sampling.
	var warn []string
	tracedRes, status, msg := r.phase(runCtx, ctx, PhaseTraced, traced, dir, stdout, stderr, &warn)
	rec.Warnings = append(rec.Warnings, warn...)
	rec.Timings = mergeTimings(cleanRes, tracedRes)
	r.fillFromResults(rec, cleanRes, tracedRes)
	if msg != "" {
		rec.Effective = nil
		return finish(status, withTail(msg, stderrPath))
	}

	// The two phases must have run the same thing; the traced phase has no
	// clean repeats to report.
	ce, te := *cleanRes.Effective, *tracedRes.Effective
	te.CleanRepeats = ce.CleanRepeats
	if d := settingsDiff(ce, te, false); len(d) > 0 {
		rec.Effective = nil
		return finish(batchdir.StatusFailed, fmt.Sprintf("the clean and traced phases ran different settings (clean→traced: %s); the run is not labelled with either", strings.Join(d, ", ")))
	}
	rec.Effective = &te
	if d := settingsDiff(run.Settings, te, true); len(d) > 0 {
		rec.Mismatch = fieldNames(d)
		rec.Warnings = append(rec.Warnings, "effective settings differ from the request: "+strings.Join(d, ", "))
	}

	// Export and compress, outside the run's timeout.
	exCtx, exCancel := context.WithTimeout(ctx, exportTimeout)
	defer exCancel()
	res, err := r.cfg.Nsys.Finish(exCtx, filepath.Join(dir, batchdir.TraceBase), r.cfg.KeepRaw)
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
	return finish(batchdir.StatusOK, "")
}

// phase runs one phase and reads its result. It returns the result (nil
// when there is none) and, when the phase failed, the status and message.
// runCtx carries the run's timeout, parent the batch's interrupt.
func (r *runner) phase(runCtx, parent context.Context, phase string, argv []string, dir string, stdout, stderr *os.File, warn *[]string) (*Result, string, string) {
	header := fmt.Sprintf("==> vitlab %s phase: %s\n", phase, shellJoin(argv))
	io.WriteString(stdout, header)
	io.WriteString(stderr, header)
	resPath := filepath.Join(dir, ResultFile(phase))
	os.Remove(resPath)

	var sampler Stopper
	if phase == PhaseTraced && r.cfg.StartSampler != nil {
		f, err := os.Create(filepath.Join(dir, batchdir.NVMLFile))
		if err == nil {
			defer f.Close()
			sampler, err = r.cfg.StartSampler(r.cfg.GPU, r.cfg.SampleEvery, f)
		}
		if err != nil {
			*warn = append(*warn, fmt.Sprintf("NVML sampling: %v", err))
		}
	}
	o := runGroup(runCtx, argv, r.env(phase == PhaseTraced), dir, stdout, stderr, r.cfg.KillGrace)
	if sampler != nil {
		if n, err := sampler.Stop(); err != nil {
			*warn = append(*warn, fmt.Sprintf("NVML sampling: %v", err))
		} else if n == 0 {
			*warn = append(*warn, "NVML sampling wrote no samples")
		}
	}
	res, rerr := readResult(resPath, phase)
	switch {
	case o.err != nil && errors.Is(o.err, context.DeadlineExceeded) && parent.Err() == nil:
		return res, batchdir.StatusTimeout, fmt.Sprintf("timeout: the run exceeded %s in the %s phase (process group killed)", r.timeout, phase)
	case o.err != nil && parent.Err() != nil:
		return res, batchdir.StatusFailed, fmt.Sprintf("interrupted in the %s phase", phase)
	case o.err != nil:
		return res, batchdir.StatusFailed, fmt.Sprintf("%s phase: cannot start %s: %v", phase, argv[0], o.err)
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
