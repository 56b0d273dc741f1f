package queries

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"vitlab/etl/ingest"
	"vitlab/etl/warehouse"
	"vitlab/queries/duck"
)

// TestDerivedEqualsLive ingests two sample batches, computes every derived
// view and query live, derives the batches, and checks that the warehouse
// then answers each one from its derived files with exactly the same rows
// in the same order (and the same with a batch or run filter); a batch
// ingested afterwards has no derivation, so those names are computed live
// again, with the same answer, until Derive catches up.
func TestDerivedEqualsLive(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	add := func(batch string) {
		t.Helper()
		p := filepath.Join("..", "data", "sample", batch)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("sample batch %s: %v", batch, err)
		}
		if _, err := ingest.Run(ctx, ingest.Request{Warehouse: wh, Paths: []string{p}, Jobs: 2}); err != nil {
			t.Fatal(err)
		}
	}
	add("rq4-quick-h200")  // CPU preprocessing, 3 ok runs and 3 unavailable
	add("rq3r-quick-h200") // CUDA-graph runs (reduce-overhead)
	add("rq3c-quick-h200") // torch.compile default (Triton kernels)

	cat, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.DerivedViews()) < 10 || len(cat.DerivedQueries()) < 8 {
		t.Fatalf("derived: %d views, %d queries", len(cat.DerivedViews()), len(cat.DerivedQueries()))
	}
	live := answers(t, wh)
	w, err := Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Stale) != len(derivedNames(cat)) {
		t.Errorf("before Derive, stale = %v", w.Stale)
	}
	w.Close()

	st, err := Derive(ctx, wh, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Batches, []string{"rq3c-quick-h200", "rq3r-quick-h200", "rq4-quick-h200"}) {
		t.Fatalf("derived batches %v", st.Batches)
	}
	w, err = Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Stale) != 0 {
		t.Errorf("after Derive, stale = %v", w.Stale)
	}
	for _, q := range cat.DerivedQueries() {
		if !w.IsDerived(q.Name) {
			t.Errorf("%s is not answered from derived files", q.Name)
		}
	}
	w.Close()
	compareAnswers(t, "derived", live, answers(t, wh))
	if st, err := Derive(ctx, wh, nil); err != nil || len(st.Batches) != 0 {
		t.Fatalf("second Derive: %v, %v (want nothing to do)", st.Batches, err)
	}

	// a batch without derivation: those names run live over all batches
	add("rq2-quick-h100")
	live3 := answers(t, wh)
	w, err = Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Stale) != len(derivedNames(cat)) {
		t.Errorf("with an underived batch, stale = %v", w.Stale)
	}
	w.Close()
	if st, err := Derive(ctx, wh, nil); err != nil || !slices.Equal(st.Batches, []string{"rq2-quick-h100"}) {
		t.Fatalf("third Derive: %v, %v", st.Batches, err)
	}
	compareAnswers(t, "derived after a new batch", live3, answers(t, wh))

	// One batch of the first chunk derived again on its own: the chunk's
	// shared files still hold its old rows, which readers must skip. Up to
	// here every file held a run of consecutive batches (one list scan);
	// now rq3r sits between rq3c and rq4 of the first chunk's file, which
	// is read in two segments (orderedScan's UNION ALL form).
	m, err := warehouse.ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	if err := deriveBatches(ctx, cat, wh, m, []string{"rq3r-quick-h200"}, cat.DeriveKey(), DefaultResources(), func(string) {}); err != nil {
		t.Fatal(err)
	}
	m, err = warehouse.ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	if srcs, missing := m.DerivedSources("nsys_kern_sum", cat.DeriveKey()); len(srcs) != 3 || len(missing) != 0 {
		t.Fatalf("sources after deriving one batch again: %+v, missing %v", srcs, missing)
	}
	compareAnswers(t, "one batch of a chunk derived again", live3, answers(t, wh))

	// Read a part at a time (a part per segment: rq2, rq3c, rq3r, rq4 in
	// three files, the first file's in two segments), the answers are the
	// same rows in the same order.
	one := DefaultResources()
	one.PartRows = 1
	w, err = OpenWith(ctx, wh, one)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := cat.Query("nsys_kern_sum")
	if parts, err := w.derivedParts(ctx, q, nil); err != nil || len(parts) != 4 {
		t.Errorf("nsys_kern_sum read in %d parts (%v), want 4", len(parts), err)
	}
	if duck.ArrowAvailable { // and as Arrow record batches, part after part
		var got []string
		var plain []bool // the columns compared (numbers, text), not decimals
		if _, err := w.RunArrow(ctx, q, nil, func(rec arrow.RecordBatch) error {
			if plain == nil {
				for _, f := range rec.Schema().Fields() {
					plain = append(plain, plainArrow(f.Type))
				}
			}
			for i := 0; i < int(rec.NumRows()); i++ {
				cells := make([]string, rec.NumCols())
				for j, col := range rec.Columns() {
					if plain[j] {
						cells[j] = fmt.Sprint(arrowCell(col, i))
					}
				}
				got = append(got, strings.Join(cells, "|"))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want := live3["nsys_kern_sum defaults"]
		if len(got) != len(want.Rows) {
			t.Errorf("nsys_kern_sum as Arrow in parts: %d rows, live %d", len(got), len(want.Rows))
		}
		for i := range min(len(got), len(want.Rows)) {
			cells := make([]string, len(want.Rows[i]))
			for j, v := range want.Rows[i] {
				if plain[j] {
					cells[j] = fmt.Sprint(v)
				}
			}
			if got[i] != strings.Join(cells, "|") {
				t.Errorf("nsys_kern_sum as Arrow in parts, row %d:\n got  %s\n want %s", i, got[i], strings.Join(cells, "|"))
				break
			}
		}
	}
	w.Close()
	compareAnswers(t, "read a part at a time", live3, answersWith(t, wh, one))
}

// answers runs every derived view and query on the warehouse: each query
// with its defaults, with batch = the first batch, with run = one run (where
// it has those params) and with a non-default param (live, not derived);
// each view as a sorted table. name → formatted rows.
func answers(t *testing.T, wh string) map[string]*duck.Result {
	t.Helper()
	return answersWith(t, wh, DefaultResources())
}

// answersWith is answers with the warehouse opened within res.
func answersWith(t *testing.T, wh string, res Resources) map[string]*duck.Result {
	t.Helper()
	ctx := context.Background()
	w, err := OpenWith(ctx, wh, res)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	out := map[string]*duck.Result{}
	var views []string
	for _, v := range w.Catalog().DerivedViews() {
		views = append(views, v.Name)
	}
	for _, v := range append(views, smallTables...) {
		res, err := w.SQL(ctx, "select * from "+v+" order by all")
		if err != nil {
			t.Fatalf("view %s: %v", v, err)
		}
		out["view "+v] = res
	}
	first, err := w.SQL(ctx, "select batch_id, run_id from runs order by batch_id, run_id limit 1")
	if err != nil || len(first.Rows) != 1 {
		t.Fatalf("no run: %v", err)
	}
	batch, run := fmt.Sprint(first.Rows[0][0]), fmt.Sprint(first.Rows[0][1])
	for _, q := range w.Catalog().DerivedQueries() {
		variants := map[string]map[string]string{"defaults": nil}
		for _, p := range q.Params {
			switch p.Key {
			case "batch":
				variants["batch"] = map[string]string{"batch": batch}
			case "run":
				variants["run"] = map[string]string{"run": run}
			case "kernel_name":
				variants["short names"] = map[string]string{"kernel_name": "short"}
			}
		}
		for label, args := range variants {
			res, err := w.Run(ctx, q, args)
			if err != nil {
				t.Fatalf("%s (%s): %v", q.Name, label, err)
			}
			out[q.Name+" "+label] = res
		}
	}
	return out
}

// compareAnswers wants the same columns (names and types) and rows in the
// same order; floating-point cells may differ in their last bits (DuckDB
// sums floats in parallel, in no fixed order, live or not).
func compareAnswers(t *testing.T, label string, want, got map[string]*duck.Result) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: %d answers, want %d", label, len(got), len(want))
	}
	for k, w := range want {
		g := got[k]
		if fmt.Sprint(g.Columns) != fmt.Sprint(w.Columns) {
			t.Errorf("%s: %s: columns %v, live %v", label, k, g.Columns, w.Columns)
			continue
		}
		if len(g.Rows) != len(w.Rows) {
			t.Errorf("%s: %s: %d rows, live %d", label, k, len(g.Rows), len(w.Rows))
			continue
		}
	rows:
		for i := range w.Rows {
			for j := range w.Rows[i] {
				if !sameCell(g.Rows[i][j], w.Rows[i][j]) {
					t.Errorf("%s: %s differs from the live SQL at row %d, column %s:\n got  %v\n want %v",
						label, k, i, w.Columns[j].Name, g.Rows[i], w.Rows[i])
					break rows
				}
			}
		}
	}
}

func sameCell(a, b any) bool {
	fa, ok1 := a.(float64)
	fb, ok2 := b.(float64)
	if ok1 && ok2 {
		return fa == fb || math.Abs(fa-fb) <= 1e-12*max(math.Abs(fa), math.Abs(fb))
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// TestDeriveViewFiles: a derivation creates only the view files its derived
// views and queries read (deriveViewFiles); they open without falling back
// to every file, and the metrics over derived views are left out.
func TestDeriveViewFiles(t *testing.T) {
	cat, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	files := deriveViewFiles(cat)
	names := map[string]bool{}
	for v := range files {
		names[v.Name] = true
	}
	for _, v := range cat.DerivedViews() {
		if !files[v] {
			t.Errorf("derived view %s left out", v.Name)
		}
	}
	for _, n := range []string{"config_compare", "config_summary", "usable_runs"} {
		if names[n] {
			t.Errorf("%s is created for a derivation", n)
		}
	}
	wh, err := fixtureWarehouse()
	if err != nil {
		t.Fatal(err)
	}
	m, err := warehouse.ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	base, err := baseViews(wh, m, m.BatchIDs(), false)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := openSQLFiles(context.Background(), base, DefaultResources().config(), files)
	if err != nil {
		t.Fatalf("the views a derivation needs: %v", err)
	}
	sub.Close()
}
