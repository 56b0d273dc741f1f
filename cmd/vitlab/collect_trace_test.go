package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vitlab/collectors/batchdir"
	"vitlab/queries"
)

// tracePlan: two configurations, two repeats, only the first traced.
const tracePlan = `name: tr
repeats: 2
allow_few_repeats: true
trace_repeats: 1
defaults: {patch: 16, depth: 2, hidden: 64, resolution: 32, warmup_batches: 1, timed_batches: 2, batch_size: 1}
matrix:
  depth: [2, 4]
`

// TestTraceRepeats collects a plan with trace_repeats 1 through the CLI
// (stand-in workload and nsys): repeat 1 of each configuration has both
// phases and an export, repeat 2 only its clean phase (run.json untraced,
// no traced command, no export, its settings from the clean phase);
// batch.json records trace_repeats; ingest lands all four runs, events
// only for the traced ones and the untraced ones with their clean windows
// and a warning; a --resume with another --trace-repeats is refused, and
// --trace-repeats 0 traces every run.
func TestTraceRepeats(t *testing.T) {
	dir, common, vitlab := standInCollect(t, tracePlan)
	if out, _ := vitlab(0, append(common, "--batch", "dry", "--dry-run")...); !strings.Contains(out, "traced: repeat 1 of each configuration") ||
		strings.Count(out, "traced: none (repeat 2 is beyond trace_repeats 1)") != 2 {
		t.Errorf("dry run:\n%s", out)
	}
	vitlab(0, append(common, "--batch", "tr")...)
	bd := filepath.Join(dir, "out", "tr")
	b, err := batchdir.ReadBatch(bd)
	if err != nil || b.TraceRepeats != 1 {
		t.Fatalf("batch.json trace_repeats %v (%v)", b, err)
	}
	for _, id := range []string{"tr-p16-d2-h64-r32-b1-eager-sync-q1-cpu-nnone", "tr-p16-d4-h64-r32-b1-eager-sync-q1-cpu-nnone"} {
		r1, err1 := batchdir.ReadRun(filepath.Join(bd, "runs", id+"-r1"))
		r2, err2 := batchdir.ReadRun(filepath.Join(bd, "runs", id+"-r2"))
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", id, err1, err2)
		}
		if r1.Status != batchdir.StatusOK || r1.Untraced || r1.Export == "" || r1.PhaseSeconds.Traced == 0 {
			t.Errorf("%s-r1: %+v", id, r1)
		}
		if r2.Status != batchdir.StatusOK || !r2.Untraced || r2.Export != "" || len(r2.Command) != 0 || r2.Effective == nil ||
			r2.PhaseSeconds.Traced != 0 || r2.Timings.CleanThroughput == nil || len(r2.Windows) != 3 {
			t.Errorf("%s-r2: %+v", id, r2)
		}
		if _, err := os.Stat(filepath.Join(bd, "runs", id+"-r2", "trace.sqlite.zst")); err == nil {
			t.Errorf("%s-r2 has an export", id)
		}
	}
	wh := filepath.Join(dir, "wh")
	if out, _ := vitlab(0, "ingest", "--warehouse", wh, bd); !strings.Contains(out, "batch tr: 4 runs landed, 0 failed") {
		t.Fatalf("ingest:\n%s", out)
	}
	res, _ := vitlab(0, "query", "--warehouse", wh, "--format", "csv", "runs_overview")
	if !strings.Contains(res, "-r2") {
		t.Errorf("runs_overview has no untraced run:\n%s", res)
	}
	w, err := queries.Open(context.Background(), wh)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	qr, err := w.SQL(context.Background(), `select run_id, kernels, (select count(*) from clean_windows w where w.run_id = r.run_id) as windows, contains(coalesce(warnings, ''), 'untraced by design') as untraced from runs r order by run_id`)
	if err != nil {
		t.Fatal(err)
	}
	sql := qr.Rows
	if len(sql) != 4 {
		t.Fatalf("runs rows %v", sql)
	}
	for _, r := range sql {
		second := strings.HasSuffix(r[0].(string), "-r2")
		if k := r[1].(int64); (k == 0) != second || r[2].(int64) != 3 || r[3].(bool) != second {
			t.Errorf("run %v: kernels %v, %v clean windows, untraced warning %v", r[0], r[1], r[2], r[3])
		}
	}
	// The warehouse checks accept ok runs without an export (no events by design).
	vitlab(0, "verify", "--warehouse", wh)
	if _, out := vitlab(1, append(common, "--batch", "tr", "--resume", "--trace-repeats", "0")...); !strings.Contains(out, "it traced repeat 1 of each configuration, not every repeat (give --trace-repeats 1)") {
		t.Errorf("resume with another --trace-repeats:\n%s", out)
	}
	vitlab(0, append(common, "--batch", "all", "--trace-repeats", "0")...)
	if b, _ := batchdir.ReadBatch(filepath.Join(dir, "out", "all")); b == nil || b.TraceRepeats != 0 {
		t.Errorf("--trace-repeats 0: batch %+v", b)
	}
	if r, _ := batchdir.ReadRun(filepath.Join(dir, "out", "all", "runs", "tr-p16-d2-h64-r32-b1-eager-sync-q1-cpu-nnone-r2")); r == nil || r.Untraced || r.Export == "" {
		t.Errorf("--trace-repeats 0: repeat 2 %+v", r)
	}
}
