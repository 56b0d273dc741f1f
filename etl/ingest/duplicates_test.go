package ingest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vitlab/etl/warehouse"
)

// sampleBatch is a shipped batch of one run (data/sample).
const sampleBatch = "../../data/sample/rq3c-quick-h200"

// copyBatch copies the sample batch directory to dir/id with batch.json's
// id set to id, and edit applied to the text of its one run.json.
func copyBatch(t *testing.T, dir, id string, edit func(string) string) string {
	t.Helper()
	dst := filepath.Join(dir, id)
	if err := os.CopyFS(dst, os.DirFS(sampleBatch)); err != nil {
		t.Fatal(err)
	}
	rewrite := func(path string, f func(string) string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(f(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rewrite(filepath.Join(dst, "batch.json"), func(s string) string {
		return strings.Replace(s, `"id": "rq3c-quick-h200"`, `"id": "`+id+`"`, 1)
	})
	runs, _ := filepath.Glob(filepath.Join(dst, "runs", "*", "run.json"))
	if len(runs) != 1 {
		t.Fatalf("%s: want one run.json, got %v", dst, runs)
	}
	if edit != nil {
		rewrite(runs[0], edit)
	}
	return dst
}

// TestDuplicateRunRefused ingests a shipped batch, then the same run
// directory under new batch ids: a copy (even moved, its command lines
// naming another directory) is set aside with ErrDuplicateRun naming the
// batch and run that hold it, and nothing is committed; with
// AllowDuplicateRuns it lands; a run whose run.json differs in a
// measurement is another run and lands.
func TestDuplicateRunRefused(t *testing.T) {
	dir := t.TempDir()
	wh := filepath.Join(dir, "wh")
	sum, err := run(t, Request{Warehouse: wh, Paths: []string{sampleBatch}})
	if err != nil || !sum.Committed || sum.Runs != 1 {
		t.Fatalf("first ingest: %+v, %v", sum, err)
	}
	m, err := warehouse.ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	content := m.Batches["rq3c-quick-h200"].RunContent
	if len(content) != 1 {
		t.Fatalf("manifest run_content %v: want the one run", content)
	}
	rows := readRows(t, wh, "rq3c-quick-h200", "runs")
	for runID, sha := range content {
		if len(rows) != 1 || rows[0]["run_id"] != runID || rows[0]["run_content_sha256"] != sha {
			t.Fatalf("runs row %v: want run_content_sha256 %s of run %s", rows, sha, runID)
		}
	}

	moved := copyBatch(t, dir, "again", func(s string) string {
		return strings.ReplaceAll(s, "/tmp/batches/rq3c-quick-h200", "/elsewhere/again")
	})
	sum, err = run(t, Request{Warehouse: wh, Paths: []string{moved}})
	if !errors.Is(err, ErrNothingLanded) {
		t.Fatalf("copy: err %v, want ErrNothingLanded", err)
	}
	if len(sum.Failed) != 1 || !errors.Is(sum.Failed[0].Err, ErrDuplicateRun) ||
		!strings.Contains(sum.Failed[0].Err.Error(), "batch rq3c-quick-h200 run rq3-p16-d12-h384-r224-b8-default-sync-q1-gpu-nnone-r1") ||
		!strings.HasPrefix(sum.Failed[0].Path, filepath.Join(moved, "runs")) {
		t.Fatalf("copy: failures %+v, want one ErrDuplicateRun naming the batch and run that hold it", sum.Failed)
	}
	if m, _ := warehouse.ReadManifest(wh); len(m.Batches) != 1 {
		t.Fatalf("copy committed: %v", m.BatchIDs())
	}

	sum, err = run(t, Request{Warehouse: wh, Paths: []string{moved}, AllowDuplicateRuns: true})
	if err != nil || !sum.Committed || sum.Runs != 1 {
		t.Fatalf("copy allowed: %+v, %v", sum, err)
	}
	if got := readRows(t, wh, "again", "runs"); got[0]["run_content_sha256"] != rows[0]["run_content_sha256"] {
		t.Fatalf("allowed copy has content %v, want the original's %v", got[0]["run_content_sha256"], rows[0]["run_content_sha256"])
	}

	// Another measurement (one clean window's throughput differs): not a
	// copy, though its export is the same file.
	other := copyBatch(t, dir, "other", func(s string) string {
		return strings.Replace(s, `"clean_throughput": 1981.7687941385313`, `"clean_throughput": 1981.7687941385314`, 1)
	})
	sum, err = run(t, Request{Warehouse: wh, Paths: []string{other}})
	if err != nil || !sum.Committed || sum.Runs != 1 {
		t.Fatalf("other run: %+v, %v", sum, err)
	}
}

// TestDuplicateBareExport: a bare export's labels stand in for its
// run.json. The same bytes twice in one ingest both land (ingest compares
// with other batches; the check duplicate_runs names the copy); under a
// new batch with the same labels they are refused, with other labels
// (other settings) they land.
func TestDuplicateBareExport(t *testing.T) {
	dir := t.TempDir()
	wh := filepath.Join(dir, "wh")
	src := fixtures(t)[0]
	a := copyFile(t, filepath.Join(dir, "in", "a.sqlite"), src)
	b := copyFile(t, filepath.Join(dir, "in", "b.sqlite"), src)
	l1, _ := ParseLabels([]string{"patch=16"})
	l2, _ := ParseLabels([]string{"patch=32"})
	sum, err := run(t, Request{Warehouse: wh, Paths: []string{a, b}, BatchID: "x", Labels: l1})
	if err != nil || sum.Runs != 2 {
		t.Fatalf("%+v, %v: want both copies of one ingest landed", sum, err)
	}
	sum, err = run(t, Request{Warehouse: wh, Paths: []string{a}, BatchID: "y", Labels: l1})
	if !errors.Is(err, ErrNothingLanded) || len(sum.Failed) != 1 || sum.Failed[0].Path != a ||
		!errors.Is(sum.Failed[0].Err, ErrDuplicateRun) || !strings.Contains(sum.Failed[0].Err.Error(), "batch x run a") {
		t.Fatalf("%+v, %v: want a set aside as a copy of x/a", sum, err)
	}
	sum, err = run(t, Request{Warehouse: wh, Paths: []string{a}, BatchID: "z", Labels: l2})
	if err != nil || sum.Runs != 1 {
		t.Fatalf("%+v, %v: want a landed under other labels", sum, err)
	}
}

// TestRunContentIgnoresCommandLines: the content identity leaves out the
// command lines (they name the batch directory) and nothing else.
func TestRunContentIgnoresCommandLines(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := write("a.json", `{"id":"r","timings":{"clean_throughput":1.50},"command":["nsys","/b1/r"],"clean_command":["python3","/b1/r"]}`)
	same := write("b.json", `{"clean_command":["python3","/b2/r"],"command":["nsys","/b2/r"],"timings":{"clean_throughput":1.50},"id":"r"}`)
	other := write("c.json", `{"id":"r","timings":{"clean_throughput":1.5},"command":["nsys","/b1/r"]}`)
	h := func(exp, p string) string {
		s, err := runContentSHA256(exp, p, "{}")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if h("e", base) != h("e", same) {
		t.Error("key order or command lines changed the identity")
	}
	if h("e", base) == h("e", other) {
		t.Error("1.50 and 1.5 are other run.json text but gave one identity")
	}
	if h("e", base) == h("f", base) || h("e", "") == h("", "") {
		t.Error("the export does not enter the identity")
	}
	if l, _ := runContentSHA256("e", "", `{"patch":"16"}`); l == h("e", "") {
		t.Error("a bare export's labels do not enter its identity")
	}
	if l, _ := runContentSHA256("e", base, `{"patch":"16"}`); l != h("e", base) {
		t.Error("labels entered the identity of a run with a run.json")
	}
}
