package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"vitlab/collectors/batchdir"
	"vitlab/collectors/nsys"
)

// Refinished says what Refinish did with one run.
type Refinished struct {
	RunID string
	// OK is true when the run was settled and is now ok.
	OK bool
	// Why says why a run was left as it was.
	Why string
}

// Refinish settles again the runs of batch directory dir that both phases
// completed on the GPU host but that the collector's own bookkeeping after
// the phases marked failed (a settings comparison that has since been
// fixed, say): for each run.json with status failed whose result.clean.json
// and result.traced.json both say ok, it applies today's settle rule to
// request.json and the two results, compresses the export (trace.sqlite,
// made with `nsys export --type sqlite` from trace.nsys-rep where nsys
// runs), and marks the run ok with a warning that names the failure it
// replaces, when and by which vitlab. Nothing is measured again and no
// number the workload wrote is changed. A run that failed inside a phase,
// or lacks a result or an export, is left as it was and reported with why.
// The batch's batch.json is not touched.
func Refinish(dir, version string, now time.Time) ([]Refinished, error) {
	runsDir := filepath.Join(dir, batchdir.RunsDir)
	ents, err := os.ReadDir(runsDir)
	if err != nil {
		return nil, fmt.Errorf("refinish %s: %w", dir, err)
	}
	var out []Refinished
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		rd := filepath.Join(runsDir, e.Name())
		r, err := refinishRun(rd, version, now)
		if err != nil {
			return out, err
		}
		if r != nil {
			out = append(out, *r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RunID < out[j].RunID })
	return out, nil
}

// refinishRun settles one run directory; nil when the run needs nothing
// (not failed, or never finished).
func refinishRun(rd, version string, now time.Time) (*Refinished, error) {
	rec, err := batchdir.ReadRun(rd)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // never finished: --resume redoes it
	}
	if err != nil {
		return nil, fmt.Errorf("refinish: %w", err)
	}
	if rec.Status != batchdir.StatusFailed {
		return nil, nil
	}
	left := func(why string) (*Refinished, error) { return &Refinished{RunID: rec.ID, Why: why}, nil }
	var req Request
	if b, err := os.ReadFile(filepath.Join(rd, RequestFile)); err != nil {
		return left("no readable request.json: " + err.Error())
	} else if err := json.Unmarshal(b, &req); err != nil {
		return left("request.json: " + err.Error())
	}
	var res [2]*Result
	for i, phase := range []string{PhaseClean, PhaseTraced} {
		r, err := readResult(filepath.Join(rd, ResultFile(phase)), phase)
		if err != nil {
			return left(fmt.Sprintf("%s phase: %v", phase, err))
		}
		if !r.OK {
			return left(fmt.Sprintf("the %s phase failed: %s", phase, r.Error))
		}
		res[i] = r
	}
	base := filepath.Join(rd, batchdir.TraceBase)
	sqlitePath := base + nsys.SQLiteSuffix
	zst := sqlitePath + nsys.ZstdSuffix
	var in int64
	switch {
	case fileExists(sqlitePath):
		if in, _, err = nsys.Compress(sqlitePath, zst); err != nil {
			return nil, fmt.Errorf("refinish %s: %w", rd, err)
		}
	case fileExists(zst) && rec.ExportBytes > 0:
		in = rec.ExportBytes
	default:
		return left("no export: run `nsys export --type sqlite -o trace.sqlite trace.nsys-rep` in the run directory where nsys is installed")
	}
	failure := rec.Error
	rec.Timings = mergeTimings(res[0], res[1])
	if msg := settle(rec, req.Settings, res[0], res[1]); msg != "" {
		return left(msg)
	}
	rec.Export = filepath.Base(zst)
	rec.ExportBytes = in
	rec.Status = batchdir.StatusOK
	rec.Error = ""
	rec.Warnings = append(rec.Warnings, fmt.Sprintf(
		"re-finished %s by vitlab %s (collect --refinish): both phases had completed; the collector had marked the run failed: %s",
		now.UTC().Format(time.RFC3339), version, failure))
	if err := batchdir.WriteJSON(filepath.Join(rd, batchdir.RunFile), rec); err != nil {
		return nil, fmt.Errorf("refinish: %w", err)
	}
	if fileExists(zst) && fileExists(sqlitePath) {
		if err := os.Remove(sqlitePath); err != nil {
			return nil, fmt.Errorf("refinish: %w", err)
		}
	}
	return &Refinished{RunID: rec.ID, OK: true}, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
