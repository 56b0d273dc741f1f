package queries

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vitlab/etl/ingest"
	"vitlab/etl/warehouse"
)

// ingestSample ingests sample batches into wh without deriving them.
func ingestSample(t *testing.T, wh string, batches ...string) {
	t.Helper()
	for _, b := range batches {
		p := filepath.Join("..", "data", "sample", b)
		if _, err := ingest.Run(context.Background(), ingest.Request{Warehouse: wh, Paths: []string{p}, Jobs: 2}); err != nil {
			t.Fatalf("ingest %s: %v", b, err)
		}
	}
}

// count runs a SELECT of one number.
func count(t *testing.T, w *Warehouse, sql string) int64 {
	t.Helper()
	res, err := w.SQL(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	return asInt64(res.Rows[0][0])
}

// runQuery runs a saved query with its defaults and returns its rows as
// text.
func runQuery(t *testing.T, w *Warehouse, name string) string {
	t.Helper()
	q, ok := w.Catalog().Query(name)
	if !ok {
		t.Fatalf("no query %s", name)
	}
	res, err := w.Run(context.Background(), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(res.Columns, res.Rows)
}

// TestViewDBStale: the view database answers while it is current; after a
// batch lands it is stale (its fingerprint no longer matches), and Open
// gives the current rows, from a view database written anew; moved to
// another folder the warehouse opens from the same file, untouched.
func TestViewDBStale(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	ingestSample(t, wh, "rq3r-quick-h200", "rq3c-quick-h200")
	if _, err := Derive(ctx, wh, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteViews(ctx, wh); err != nil {
		t.Fatal(err)
	}
	w, err := Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	if w.Views != filepath.Join(wh, ViewsFile) || len(w.Stale) != 0 || !w.IsDerived("nsys_kern_sum") {
		t.Fatalf("opened from %q, stale %v", w.Views, w.Stale)
	}
	before := count(t, w, "select count(*) from runs")
	kern := runQuery(t, w, "nsys_kern_sum")
	// run_metrics (not derived) answers from its stored answer.
	rm, _ := w.Catalog().Query("run_metrics")
	if _, ok, err := w.storedAnswer(ctx, rm, nil); !ok || err != nil {
		t.Fatalf("run_metrics: stored answer not used (%v)", err)
	}
	runMetricsBatches := func(w *Warehouse) map[any]bool {
		t.Helper()
		res, err := w.Run(ctx, rm, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Columns[0].Name != "batch_id" {
			t.Fatalf("run_metrics columns %v", res.Columns)
		}
		out := map[any]bool{}
		for _, r := range res.Rows {
			out[r[0]] = true
		}
		return out
	}
	if b := runMetricsBatches(w); len(b) != 2 {
		t.Fatalf("run_metrics over batches %v, want 2", b)
	}
	w.Close()

	// A batch lands; the view database is not written (as when an ingest
	// is killed after its commit, or another vitlab landed it).
	ingestSample(t, wh, "rq5-pipeline-r3-b32-h100")
	cat, _ := Embedded()
	raw, err := os.ReadFile(filepath.Join(wh, warehouse.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if stale, err := openViewDB(ctx, wh, viewsFingerprint(raw, cat), cat, DefaultResources()); err != nil || stale != nil {
		t.Fatalf("the view database of the earlier manifest opened as current (%v)", err)
	}
	w, err = Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	after := count(t, w, "select count(*) from runs")
	rq5 := count(t, w, "select count(*) from runs where batch_id = 'rq5-pipeline-r3-b32-h100'")
	if rq5 == 0 || after != before+rq5 {
		t.Errorf("runs: %d before, %d after, %d of the new batch", before, after, rq5)
	}
	q, _ := cat.Query("nsys_kern_sum")
	res, err := w.Run(ctx, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	batches := map[any]bool{}
	for _, r := range res.Rows {
		batches[r[0]] = true
	}
	if len(batches) != 3 || res.Columns[0].Name != "batch_id" {
		t.Errorf("nsys_kern_sum over %d batches, want 3 (the new one computed live)", len(batches))
	}
	if !strings.Contains(strings.Join(w.Stale, ","), "nsys_kern_sum") || w.Views == "" {
		t.Errorf("after the new batch: stale %v, views %q", w.Stale, w.Views)
	}
	// run_metrics has the new batch's runs: computed live (with a
	// derivation not current the view database stores no answer that
	// reads it, storeAnswers).
	if b := runMetricsBatches(w); len(b) != 3 || !b["rq5-pipeline-r3-b32-h100"] {
		t.Errorf("run_metrics after the new batch: batches %v, want 3", b)
	}
	if _, ok, err := w.storedAnswer(ctx, rm, nil); ok || err != nil || len(w.answers) != 0 {
		t.Errorf("run_metrics after the new batch: stored answer used (%v), %d stored", err, len(w.answers))
	}
	w.Close()

	// Derived again, moved: the copy opens from its own view database
	// (relative paths), with the same answers, without writing it again.
	if _, err := Derive(ctx, wh, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteViews(ctx, wh); err != nil {
		t.Fatal(err)
	}
	w, err = Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	want := runQuery(t, w, "nsys_kern_sum")
	// Derived: run_metrics' stored answer again, with the new batch.
	if _, ok, err := w.storedAnswer(ctx, rm, nil); !ok || err != nil {
		t.Errorf("run_metrics derived again: stored answer not used (%v)", err)
	}
	if b := runMetricsBatches(w); len(b) != 3 || !b["rq5-pipeline-r3-b32-h100"] {
		t.Errorf("run_metrics derived again: batches %v, want 3", b)
	}
	w.Close()
	if !strings.HasPrefix(want, kern[:strings.Index(kern, " [[")]) {
		t.Errorf("nsys_kern_sum columns changed")
	}
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(wh, moved); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(moved, ViewsFile))
	if err != nil {
		t.Fatal(err)
	}
	w, err = Open(ctx, moved)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if got := runQuery(t, w, "nsys_kern_sum"); got != want {
		t.Errorf("moved warehouse: nsys_kern_sum differs")
	}
	st2, err := os.Stat(filepath.Join(moved, ViewsFile))
	if err != nil || !st2.ModTime().Equal(st.ModTime()) || len(w.Stale) != 0 {
		t.Errorf("moved warehouse: view database written again (%v) or stale %v", err, w.Stale)
	}
}

// helperDeriveKill makes TestDeriveKilledHelper derive the warehouse it
// names and kill itself (SIGKILL) after the first pass's commit.
const helperDeriveKill = "VITLAB_TEST_HELPER_DERIVE_KILL"

func TestDeriveKilledHelper(t *testing.T) {
	wh := os.Getenv(helperDeriveKill)
	if wh == "" {
		t.Skip("helper process of TestDeriveKilled")
	}
	opts := DefaultDeriveOptions()
	opts.MaxEvents = 1 // a pass per batch
	opts.Progress = func(string, time.Duration) {
		if os.Getenv(warehouse.CrashEnv) == "" {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	if _, err := DeriveWith(context.Background(), wh, opts); err != nil {
		t.Fatal(err)
	}
}

// TestDeriveKilled kills a derive mid-way — after its first pass
// committed, and inside the first pass's commit — and checks that the
// warehouse stays queryable with the answers of a warehouse never
// derived, and that the next derive completes it with the same answers.
func TestDeriveKilled(t *testing.T) {
	ctx := context.Background()
	seed := t.TempDir()
	ingestSample(t, seed, "rq3r-quick-h200", "rq3c-quick-h200", "rq3-quick-h200")
	w, err := Open(ctx, seed)
	if err != nil {
		t.Fatal(err)
	}
	want := runQuery(t, w, "nsys_kern_sum") + runQuery(t, w, "runs_overview")
	w.Close()
	for _, kill := range []string{"after the first pass", "inside the first commit"} {
		t.Run(kill, func(t *testing.T) {
			wh := filepath.Join(t.TempDir(), "w")
			if err := copyDir(seed, wh); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestDeriveKilledHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperDeriveKill+"="+wh)
			if kill == "inside the first commit" {
				cmd.Env = append(cmd.Env, warehouse.CrashEnv+"=3")
			}
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("helper was not killed: %v\n%s", err, out)
			}
			w, err := Open(ctx, wh)
			if err != nil {
				t.Fatalf("after the kill: %v", err)
			}
			got := runQuery(t, w, "nsys_kern_sum") + runQuery(t, w, "runs_overview")
			stale := len(w.Stale)
			w.Close()
			if got != want {
				t.Errorf("after the kill: answers differ from the underived warehouse's")
			}
			if stale == 0 {
				t.Errorf("after the kill: nothing stale; the derive was not cut short")
			}
			st, err := Derive(ctx, wh, nil)
			if err != nil || len(st.Batches) == 0 {
				t.Fatalf("next derive: %v, %v", st.Batches, err)
			}
			w, err = Open(ctx, wh)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if len(w.Stale) != 0 {
				t.Errorf("after the next derive: stale %v", w.Stale)
			}
			if got := runQuery(t, w, "nsys_kern_sum") + runQuery(t, w, "runs_overview"); got != want {
				t.Errorf("after the next derive: answers differ")
			}
		})
	}
}

// copyDir copies the regular files and folders under src to dst.
func copyDir(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, in); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}

// TestDeriveRunGroups derives batches bigger than a pass in groups of
// their runs (rq5: 8 runs, ~170k events, in passes of 50k events) and
// checks every derived view and query against the live SQL: same rows,
// same order.
func TestDeriveRunGroups(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	ingestSample(t, wh, "rq5-pipeline-r3-b32-h100", "rq3r-quick-h200")
	cat, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if !heavyDerived["nsys_nvtx_kern_sum"] {
		t.Error("nsys_nvtx_kern_sum is not derived in the smaller groups")
	}
	split := 0
	for _, q := range cat.DerivedQueries() {
		if ordersByRun(q) {
			split++
		}
	}
	if split < len(cat.DerivedQueries())/2 {
		t.Errorf("only %d of %d derived queries order by batch_id, run_id", split, len(cat.DerivedQueries()))
	}
	// Groups of 50k events for the heavy queries (heavyDerived), of 400k
	// (the default factor: rq5 is one group) or 100k (several) for the
	// rest; with 20k and 400k, nsys_nvtx_kern_sum's Go path computes a
	// group in several chunks of its runs (goChunkFactor × 20k).
	for i, c := range []struct{ max, wide int64 }{{50_000, 0}, {50_000, 100_000}, {20_000, 400_000}} {
		wide := c.wide
		if i > 0 {
			wh = t.TempDir()
			ingestSample(t, wh, "rq5-pipeline-r3-b32-h100", "rq3r-quick-h200")
		}
		live := answers(t, wh)
		opts := DefaultDeriveOptions()
		opts.MaxEvents = c.max
		opts.WideEvents = wide
		st, err := DeriveWith(ctx, wh, opts)
		if err != nil || len(st.Batches) != 2 {
			t.Fatalf("derive (wide %d): %v, %v", wide, st.Batches, err)
		}
		w, err := Open(ctx, wh)
		if err != nil {
			t.Fatal(err)
		}
		stale := w.Stale
		w.Close()
		if len(stale) != 0 {
			t.Fatalf("stale after derive (wide %d): %v", wide, stale)
		}
		compareAnswers(t, fmt.Sprintf("derived in run groups (wide %d)", wide), live, answers(t, wh))
	}
}
