//go:build !noduckdb

package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sampleRQ5 is the shipped rq5 batch the compare test replicates.
const sampleRQ5 = "../../data/sample/rq5-pipeline-r3-b32-h100"

// compareRuns are the sample runs the test repeats: one whose throughput
// NEW changes, one it keeps.
var compareRuns = map[string]bool{"sync-q1-gpu": true, "async-q1-gpu": false}

// writeReplicatedBatch copies the sample's sync and async q1 GPU runs
// (repeat 1 of each, the traced one) into
// batch id with one run per jitter (run.json ids r1.., clean windows scaled
// by the jitter so the runs differ like real repeats, and no run is the
// copy of another: ingest refuses copies), the
// changed run's windows also scaled by factor. The exports are the sample's
// own: ingest, the metrics and the kernels are real.
func writeReplicatedBatch(t *testing.T, root, id string, started string, factor float64, jitters []float64) string {
	t.Helper()
	dst := filepath.Join(root, id)
	var batch map[string]any
	readJSON(t, filepath.Join(sampleRQ5, "batch.json"), &batch)
	batch["id"] = id
	batch["started_at"] = started
	batch["finished"] = started
	entries, err := os.ReadDir(filepath.Join(sampleRQ5, "runs"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		var changes, keep bool
		for key, ch := range compareRuns {
			if strings.Contains(e.Name(), "-"+key+"-") {
				keep, changes = true, ch
			}
		}
		// repeat 1 only: the traced run of each configuration (its
		// export, kernels and samples are what the copies share)
		if !keep || !strings.HasSuffix(e.Name(), "-r1") {
			continue
		}
		for rep, jitter := range jitters {
			runID := strings.TrimSuffix(e.Name(), "-r1") + fmt.Sprintf("-r%d", rep+1)
			src := filepath.Join(sampleRQ5, "runs", e.Name())
			dir := filepath.Join(dst, "runs", runID)
			copyDir(t, src, dir)
			var run map[string]any
			readJSON(t, filepath.Join(dir, "run.json"), &run)
			f := jitter
			if changes {
				f *= factor
			}
			run["id"] = runID
			run["repeat"] = rep + 1
			for _, w := range run["windows"].([]any) {
				w := w.(map[string]any)
				w["throughput"] = w["throughput"].(float64) * f
			}
			tm := run["timings"].(map[string]any)
			tm["clean_throughput"] = tm["clean_throughput"].(float64) * f
			if xs, ok := tm["clean_throughput_runs"].([]any); ok {
				for i := range xs {
					xs[i] = xs[i].(float64) * f
				}
			}
			writeJSON(t, filepath.Join(dir, "run.json"), run)
			n++
		}
	}
	batch["runs"] = n
	writeJSON(t, filepath.Join(dst, "batch.json"), batch)
	return dst
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCompareGate ingests two real batches (three runs a configuration;
// NEW's sync runs 30 % slower) and checks vitlab compare: the slower
// configuration is named and --fail-on slower exits 1; a threshold above
// the change passes; the auto pairing of a plan's two newest batches finds
// the same; bad command lines are usage errors.
func TestCompareGate(t *testing.T) {
	if testing.Short() {
		t.Skip("ingests 12 real runs")
	}
	root := t.TempDir()
	a := writeReplicatedBatch(t, root, "rq5-a", "2026-12-01T10:00:00Z", 1, []float64{1, 1.01, 0.99})
	b := writeReplicatedBatch(t, root, "rq5-b", "2026-12-02T10:00:00Z", 0.7, []float64{1.002, 1.012, 0.993})
	wh := filepath.Join(root, "wh")
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		e := &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
		code := runMain(context.Background(), e, args)
		return code, out.String(), errb.String()
	}
	for _, dir := range []string{a, b} {
		if code, _, stderr := run("ingest", "--warehouse", wh, dir); code != 0 {
			t.Fatalf("ingest %s: exit %d: %s", dir, code, stderr)
		}
	}

	code, stdout, stderr := run("compare", "--warehouse", wh, "--format", "csv", "--fail-on", "slower", "rq5-a", "rq5-b")
	if code != 1 {
		t.Fatalf("compare --fail-on slower: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "--fail-on slower: 1 configuration(s)") || !strings.Contains(stderr, "sync-q1-gpu") && !strings.Contains(stderr, "-sync-q1-gpu-") {
		t.Errorf("stderr does not name the one slower configuration:\n%s", stderr)
	}
	rows := csvRows(t, stdout)
	var slower, same int
	for _, r := range rows {
		if r["metric"] != "clean_throughput" {
			continue
		}
		switch {
		case strings.Contains(r["config"], "-sync-q1-gpu-"):
			if r["verdict"] != "slower" || r["base_n"] != "3" || r["new_n"] != "3" || r["kernels"] == "" {
				t.Errorf("sync: %v, want slower over 3 runs a side with kernels named", r)
			}
			slower++
		case strings.Contains(r["config"], "-async-q1-gpu-"):
			if r["verdict"] == "slower" || r["verdict"] == "faster" {
				t.Errorf("async q1 (unchanged): %v", r)
			}
			same++
		}
	}
	if slower != 1 || same != 1 {
		t.Fatalf("clean_throughput rows: %d sync, %d async; want one each\n%s", slower, same, stdout)
	}

	// A threshold beyond the 30 % change: nothing is slower beyond it.
	if code, stdout, stderr := run("compare", "--warehouse", wh, "--threshold", "50%", "--fail-on", "slower", "rq5-a", "rq5-b"); code != 0 {
		t.Errorf("--threshold 50%%: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// No sides: plan rq5's newest batch against the one before.
	if code, stdout, stderr := run("compare", "--warehouse", wh, "--fail-on", "slower"); code != 1 || !strings.Contains(stdout, "slower") {
		t.Errorf("auto pairing: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The report's "Between batches" section: plan rq5's two batches, the
	// forest plot of throughput ratios, the slower configuration in red.
	out := filepath.Join(root, "report")
	if code, stdout, stderr := run("report", "--warehouse", wh, "--out", out); code != 0 {
		t.Fatalf("report: exit %d\n%s\n%s", code, stdout, stderr)
	}
	page, err := os.ReadFile(filepath.Join(out, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	if d := os.Getenv("VITLAB_KEEP_REPORT"); d != "" {
		copyDir(t, out, d)
	}
	for _, want := range []string{`<a href="#between">Between batches</a>`, `<section id="between"`,
		`id="chart-compare_batches-1"`, "rq5: rq5-a → rq5-b: 2 configurations in both — clean throughput 1 slower"} {
		if !strings.Contains(html, want) {
			t.Errorf("report: no %q", want)
		}
	}
	svg, err := os.ReadFile(filepath.Join(out, "charts", "compare_batches-1.svg"))
	if err != nil {
		t.Fatal(err)
	}
	// Two rows labelled by what differs (the rest of the key is shared),
	// the slower one's dot in the colour of "slower".
	for _, want := range []string{">sync<", ">async<", ">slower<", "fill:#E15759"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("forest plot: no %q", want)
		}
	}

	for _, bad := range [][]string{
		{"compare", "--warehouse", wh, "rq5-a"},
		{"compare", "--warehouse", wh, "--threshold", "abc", "rq5-a", "rq5-b"},
		{"compare", "--warehouse", wh, "--fail-on", "sideways", "rq5-a", "rq5-b"},
		{"compare", "--warehouse", wh, "--base", "rq5-a"},
	} {
		if code, _, stderr := run(bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)\n%s", bad, code, stderr)
		}
	}
}

// csvRows reads CSV text with a header into maps.
func csvRows(t *testing.T, text string) []map[string]string {
	t.Helper()
	recs, err := readCSV(text)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func readCSV(text string) ([][]string, error) {
	return csv.NewReader(strings.NewReader(text)).ReadAll()
}
