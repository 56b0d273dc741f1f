package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vitlab/collectors/batchdir"
)

// TestRefinish settles a run that the collector marked failed after both
// phases completed (the traced phase does not report min_window_s, which
// the comparison of 2026-12-02 still counted), leaves a run whose clean
// phase failed, and leaves ok runs alone.
func TestRefinish(t *testing.T) {
	dir := t.TempDir()
	write := func(run, name, text string) {
		t.Helper()
		d := filepath.Join(dir, batchdir.RunsDir, run)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	eff := `"patch": 16, "depth": 12, "hidden": 768, "batch_size": 32, "pipeline": "async", "queue_depth": 2, "cpu_workers": 0`
	clean := `{"phase": "clean", "ok": true, "effective": {` + eff + `, "clean_repeats": 3, "min_window_s": 2},
		"timings": {"clean_throughput": 5988.0, "clean_throughput_runs": [5082.0, 5988.0, 6615.0], "timed_images": 640}}`
	traced := `{"phase": "traced", "ok": true, "effective": {` + eff + `},
		"timings": {"traced_throughput": 5789.0, "timed_images": 640}}`
	failedRun := `{"id": "%s", "status": "failed", "error": "the clean and traced phases ran different settings (clean→traced: min_window_s 2→null); the run is not labelled with either",
		"windows": [{"index": 0, "energy_mj": 863107}]}`
	request := `{"run_id": "x", "settings": {` + eff + `, "min_window_s": 2}}`

	// a: both phases ok, export made by nsys export: settled.
	write("a", batchdir.RunFile, strings.Replace(failedRun, "%s", "a", 1))
	write("a", RequestFile, request)
	write("a", ResultFile(PhaseClean), clean)
	write("a", ResultFile(PhaseTraced), traced)
	write("a", batchdir.TraceBase+".sqlite", strings.Repeat("SQLite format 3\x00", 1000))
	// b: the clean phase failed: left as it was.
	write("b", batchdir.RunFile, `{"id": "b", "status": "failed", "error": "clean phase: exit status 1"}`)
	write("b", RequestFile, request)
	write("b", ResultFile(PhaseClean), `{"phase": "clean", "ok": false, "error": "RuntimeError: boom"}`)
	// c: ok already: not looked at. d: never finished (no run.json).
	write("c", batchdir.RunFile, `{"id": "c", "status": "ok"}`)
	write("d", RequestFile, request)

	got, err := Refinish(dir, "test", time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].RunID != "a" || !got[0].OK || got[1].RunID != "b" || got[1].OK ||
		!strings.Contains(got[1].Why, "the clean phase failed: RuntimeError: boom") {
		t.Fatalf("Refinish = %+v", got)
	}
	a, err := batchdir.ReadRun(filepath.Join(dir, batchdir.RunsDir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != batchdir.StatusOK || a.Error != "" || a.Export != "trace.sqlite.zst" || a.ExportBytes != 16000 {
		t.Errorf("run a: status %q error %q export %q (%d B)", a.Status, a.Error, a.Export, a.ExportBytes)
	}
	if a.Effective == nil || a.Effective.MinWindowS == nil || *a.Effective.MinWindowS != 2 || a.Effective.CPUWorkers == nil || *a.Effective.CPUWorkers != 0 {
		t.Errorf("run a: effective %+v (min_window_s from the clean phase, cpu_workers 0 kept)", a.Effective)
	}
	if a.Timings.CleanThroughput == nil || *a.Timings.CleanThroughput != 5988 || len(a.Windows) != 1 || a.Windows[0].EnergyMJ == nil {
		t.Errorf("run a: timings %+v windows %+v: the measurements must stay", a.Timings, a.Windows)
	}
	if len(a.Warnings) == 0 || !strings.Contains(a.Warnings[len(a.Warnings)-1], "re-finished 2026-12-02T05:00:00Z by vitlab test") ||
		!strings.Contains(a.Warnings[len(a.Warnings)-1], "min_window_s 2→null") {
		t.Errorf("run a: warnings %q", a.Warnings)
	}
	if _, err := os.Stat(filepath.Join(dir, batchdir.RunsDir, "a", "trace.sqlite")); err == nil {
		t.Error("run a: trace.sqlite kept beside its .zst")
	}
	b, _ := batchdir.ReadRun(filepath.Join(dir, batchdir.RunsDir, "b"))
	if b.Status != batchdir.StatusFailed {
		t.Errorf("run b: %+v", b)
	}
	// Run again: nothing left to settle, run a stays ok.
	again, err := Refinish(dir, "test", time.Now())
	if err != nil || len(again) != 1 || again[0].RunID != "b" {
		t.Fatalf("second Refinish = %+v, %v", again, err)
	}
}
