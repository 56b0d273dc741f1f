package ingest

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"vitlab/collectors/batchdir"
)

// copyBatchRuns copies a collector batch's batch.json, plan and the named
// runs (every file of each) into a new batch directory.
func copyBatchRuns(t *testing.T, src string, runs ...string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	copyFile(t, filepath.Join(dst, batchdir.BatchFile), filepath.Join(src, batchdir.BatchFile))
	for _, r := range runs {
		ents, err := os.ReadDir(filepath.Join(src, batchdir.RunsDir, r))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			copyFile(t, filepath.Join(dst, batchdir.RunsDir, r, e.Name()), filepath.Join(src, batchdir.RunsDir, r, e.Name()))
		}
	}
	return dst
}

// An ok run's NVML samples as the collector keeps them now
// (nvml.jsonl.zst) land exactly as the same samples uncompressed
// (nvml.jsonl): two runs of a real H100 batch, ingested once as written
// and once with the samples compressed, give equal gpu_samples rows and
// runs.gpu_samples counts. A run holding both files is set aside with an
// error naming both.
func TestNVMLCompressedSamples(t *testing.T) {
	src := filepath.Join("..", "..", "data", "h100-pipeline-2026-12-07", "rq5-pipeline-h100")
	runs := []string{"rq5-p16-d12-h768-r224-b32-eager-async-q2-gpu-nnone-r1", "rq5-p16-d12-h768-r224-b64-eager-peer-q2-cpu-nnone-r1"}
	plain := copyBatchRuns(t, src, runs...)
	packed := copyBatchRuns(t, src, runs...)
	for _, r := range runs {
		p := filepath.Join(packed, batchdir.RunsDir, r, batchdir.NVMLFile)
		compressFile(t, filepath.Join(packed, batchdir.RunsDir, r, batchdir.NVMLZstFile), p)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	whPlain, whPacked := filepath.Join(t.TempDir(), "wh"), filepath.Join(t.TempDir(), "wh")
	for _, c := range []struct{ wh, dir string }{{whPlain, plain}, {whPacked, packed}} {
		sum, err := run(t, Request{Warehouse: c.wh, Paths: []string{c.dir}, AllowIncomplete: true})
		if err != nil || len(sum.Failed) != 0 {
			t.Fatalf("%s: %v %+v", c.dir, err, sum)
		}
	}
	a := readRows(t, whPlain, "rq5-pipeline-h100", "gpu_samples")
	b := readRows(t, whPacked, "rq5-pipeline-h100", "gpu_samples")
	if len(a) < 100 || !reflect.DeepEqual(a, b) {
		t.Fatalf("gpu_samples: %d rows from nvml.jsonl, %d from nvml.jsonl.zst, equal %v", len(a), len(b), reflect.DeepEqual(a, b))
	}
	ra := readRows(t, whPlain, "rq5-pipeline-h100", "runs")
	rb := readRows(t, whPacked, "rq5-pipeline-h100", "runs")
	for i := range ra {
		if ra[i]["gpu_samples"] != rb[i]["gpu_samples"] || ra[i]["gpu_samples"] == int64(0) {
			t.Errorf("%v: gpu_samples %v plain, %v compressed", ra[i]["run_id"], ra[i]["gpu_samples"], rb[i]["gpu_samples"])
		}
	}

	both := copyBatchRuns(t, src, runs[0])
	rd := filepath.Join(both, batchdir.RunsDir, runs[0])
	compressFile(t, filepath.Join(rd, batchdir.NVMLZstFile), filepath.Join(rd, batchdir.NVMLFile))
	sum, err := run(t, Request{Warehouse: filepath.Join(t.TempDir(), "wh"), Paths: []string{both}, AllowIncomplete: true})
	if err == nil && (sum == nil || len(sum.Failed) != 1) {
		t.Fatalf("both files: %v %+v, want the run set aside", err, sum)
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	} else {
		msg = sum.Failed[0].Err.Error()
	}
	if !strings.Contains(msg, "nvml.jsonl and nvml.jsonl.zst") {
		t.Errorf("both files: %q, want an error naming both", msg)
	}
}

// Run records shipped without their exports (data/h100-pipeline-2026-12-07/
// runs-only/…) land with RunsOnly: a runs row per run with its settings,
// clean windows and headroom, the record-only warning, and no events or
// samples; without it the missing exports set every run aside; exports
// with RunsOnly are a usage error.
func TestRunsOnly(t *testing.T) {
	dir := filepath.Join("..", "..", "data", "h100-pipeline-2026-12-07", "runs-only", "rq5-quick-h100-warm-seed2")
	wh := filepath.Join(t.TempDir(), "wh")
	if sum, err := run(t, Request{Warehouse: wh, Paths: []string{dir}}); err == nil || sum == nil || len(sum.Failed) != 8 ||
		!strings.Contains(sum.Failed[0].Err.Error(), "names export trace.sqlite.zst, which is missing") {
		t.Fatalf("without RunsOnly: %v %+v, want every run set aside for its missing export", err, sum)
	}
	sum, err := run(t, Request{Warehouse: wh, Paths: []string{dir}, RunsOnly: true})
	if err != nil || sum.Runs != 8 || sum.RecordOnly != 8 || sum.Events != 0 || len(sum.Failed) != 0 {
		t.Fatalf("RunsOnly: %v %+v", err, sum)
	}
	runs := readRows(t, wh, "rq5-quick-h100-warm-seed2", "runs")
	if len(runs) != 8 {
		t.Fatalf("%d runs rows", len(runs))
	}
	for _, r := range runs {
		if r["status"] != "ok" || r["kernels"] != int64(0) || r["gpu_samples"] != int64(0) || r["source_file"] != nil ||
			r["clean_throughput"] == nil || r["forward_bound_img_s"] == nil || r["batch_size"] != int64(32) ||
			!strings.Contains(fmt.Sprint(r["warnings"]), RecordOnlyWarning) {
			t.Errorf("%v: %v", r["run_id"], r)
		}
	}
	if w := readRows(t, wh, "rq5-quick-h100-warm-seed2", "clean_windows"); len(w) != 24 {
		t.Errorf("%d clean windows, want 3 for each of the 8 runs", len(w))
	}
	if _, err := run(t, Request{Warehouse: filepath.Join(t.TempDir(), "wh"), Paths: fixtures(t)[:1], RunsOnly: true}); err == nil ||
		!strings.Contains(err.Error(), "--runs-only takes a batch directory") {
		t.Errorf("exports with RunsOnly: %v", err)
	}
}

// A run the collector left untraced by design (run.json untraced, no
// export: trace_repeats) lands without any flag: its runs row with the
// untraced warning, its clean windows, and its GPU samples with unix_ns
// and no trace time t (there is no export timeline), so that the window
// and clock checks still see it.
func TestUntracedRunLands(t *testing.T) {
	src := filepath.Join("..", "..", "data", "h100-pipeline-2026-12-07", "rq5-pipeline-h100")
	id := "rq5-p16-d12-h768-r224-b64-eager-async-q2-gpu-nnone-r1"
	bd := copyBatchRuns(t, src, id)
	rd := filepath.Join(bd, batchdir.RunsDir, id)
	r, err := batchdir.ReadRun(rd)
	if err != nil {
		t.Fatal(err)
	}
	r.Untraced, r.Export, r.Command = true, "", nil
	if err := batchdir.WriteJSON(filepath.Join(rd, batchdir.RunFile), r); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(rd, "trace.sqlite.zst")); err != nil {
		t.Fatal(err)
	}
	lines, err := os.ReadFile(filepath.Join(rd, batchdir.NVMLFile))
	if err != nil {
		t.Fatal(err)
	}
	wh := filepath.Join(t.TempDir(), "wh")
	sum, err := run(t, Request{Warehouse: wh, Paths: []string{bd}, AllowIncomplete: true})
	if err != nil || sum.Runs != 1 || sum.RecordOnly != 1 || sum.Events != 0 || len(sum.Failed) != 0 {
		t.Fatalf("%v %+v", err, sum)
	}
	runs := readRows(t, wh, "rq5-pipeline-h100", "runs")
	if len(runs) != 1 || runs[0]["kernels"] != int64(0) || !strings.Contains(fmt.Sprint(runs[0]["warnings"]), UntracedWarning) {
		t.Fatalf("runs row %v", runs)
	}
	samples := readRows(t, wh, "rq5-pipeline-h100", "gpu_samples")
	if want := strings.Count(strings.TrimSpace(string(lines)), "\n") + 1; len(samples) != want || runs[0]["gpu_samples"] != int64(want) {
		t.Fatalf("%d samples (runs says %v), want %d", len(samples), runs[0]["gpu_samples"], want)
	}
	for _, s := range samples[:3] {
		if s["t"] != nil || s["unix_ns"] == nil {
			t.Errorf("sample %v: want unix_ns and no t", s)
		}
	}
}
