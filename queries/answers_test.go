package queries

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"vitlab/etl/ingest"
	"vitlab/queries/duck"
)

// sampleWarehouse builds, in wh, a warehouse of every batch of
// data/sample, derived, with its view database written.
func sampleWarehouse(wh string) error {
	ctx := context.Background()
	batches, err := filepath.Glob(filepath.Join("..", "data", "sample", "*", "batch.json"))
	if err != nil || len(batches) == 0 {
		return fmt.Errorf("sample batches: %v (%d)", err, len(batches))
	}
	for _, b := range batches {
		if _, err := ingest.Run(ctx, ingest.Request{Warehouse: wh, Paths: []string{filepath.Dir(b)}, Jobs: 2}); err != nil {
			return fmt.Errorf("ingest %s: %w", b, err)
		}
	}
	if _, err := Derive(ctx, wh, nil); err != nil {
		return err
	}
	_, err = WriteViews(ctx, wh)
	return err
}

// storable returns the saved queries and checks whose answer the view
// database stores: every one not derived.
func storable(cat *Catalog) []*Query {
	var out []*Query
	for _, q := range append(append([]*Query(nil), cat.Queries...), cat.Checks...) {
		if !q.Derive {
			out = append(out, q)
		}
	}
	return out
}

// runOn runs q with args on w and fails the test on an error.
func runOn(t *testing.T, w *Warehouse, q *Query, args map[string]string) *duck.Result {
	t.Helper()
	res, err := w.Run(context.Background(), q, args)
	if err != nil {
		t.Fatalf("%s %v: %v", q.Name, args, err)
	}
	return res
}

// sameAnswer fails unless got and want have the same columns (names and
// DuckDB types) and the same rows in the same order, cell by cell.
func sameAnswer(t *testing.T, what string, got, want *duck.Result) {
	t.Helper()
	if !slices.Equal(got.Columns, want.Columns) {
		t.Errorf("%s: columns %v, live %v", what, got.Columns, want.Columns)
		return
	}
	if len(got.Rows) != len(want.Rows) {
		t.Errorf("%s: %d rows, live %d", what, len(got.Rows), len(want.Rows))
		return
	}
	for i := range got.Rows {
		if !sameRow(got.Rows[i], want.Rows[i]) {
			t.Errorf("%s: row %d is %v, live %v", what, i, got.Rows[i], want.Rows[i])
			return
		}
	}
}

// sameRow compares two rows cell by cell, a double within a relative
// 1e-12: DuckDB's parallel sums differ in the last bits from run to run.
func sameRow(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, ok1 := a[i].(float64)
		y, ok2 := b[i].(float64)
		if ok1 && ok2 {
			if x != y && math.Abs(x-y) > 1e-12*math.Max(math.Abs(x), math.Abs(y)) {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestStoredAnswersEqualLive: on the whole sample every saved query and
// check that is not derived has its answer stored in the view database,
// and that answer is the live one: the same columns, of the same DuckDB
// types, and the same rows in the same order (the live one from the same
// view database with VITLAB_NO_STORED_ANSWERS set).
func TestStoredAnswersEqualLive(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	if err := sampleWarehouse(wh); err != nil {
		t.Fatal(err)
	}
	w, err := Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	qs := storable(w.Catalog())
	if len(qs) < 15 || w.Views == "" {
		t.Fatalf("%d storable queries, views %q", len(qs), w.Views)
	}
	t.Setenv(noAnswersEnv, "1")
	live, err := Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if len(live.answers) != 0 {
		t.Fatalf("with %s: %d stored answers in use", noAnswersEnv, len(live.answers))
	}
	for _, q := range qs {
		if !w.answers[q.File] {
			t.Errorf("%s: no stored answer", q.File)
			continue
		}
		sql, ok, err := w.storedAnswer(ctx, q, nil)
		if err != nil || !ok {
			t.Errorf("%s: stored answer not used with the defaults (%v)", q.File, err)
			continue
		}
		got := runOn(t, w, q, nil)
		want := runOn(t, live, q, nil)
		sameAnswer(t, q.File+" ("+sql+")", got, want)
	}
}

// TestStoredAnswerOnlyAtDefaults tells the stored answer from the live one
// by changing it: the stored claims table of a view database is cut to
// its first row. With the defaults (none given, or the default given)
// claims answers that one row; with a param of another value, or a
// DuckDB variable set in the session (one the views read, or another
// query's param holding another value), it answers live.
func TestStoredAnswerOnlyAtDefaults(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	ingestSample(t, wh, "rq3r-quick-h200", "rq3c-quick-h200", "rq1-quick-h100")
	if _, err := Derive(ctx, wh, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteViews(ctx, wh); err != nil {
		t.Fatal(err)
	}
	cat, _ := Embedded()
	q, _ := cat.Query("claims")
	t.Setenv(noAnswersEnv, "1")
	live, err := Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	liveDefault := runOn(t, live, q, nil)
	liveAlpha := runOn(t, live, q, map[string]string{"claims_alpha": "0.25"})
	live.Close()
	os.Unsetenv(noAnswersEnv)
	if len(liveDefault.Rows) < 2 || reflect.DeepEqual(liveDefault.Rows, liveAlpha.Rows) {
		t.Fatalf("claims: %d rows; claims_alpha=0.25 changes nothing: the test cannot tell", len(liveDefault.Rows))
	}

	// Cut the stored answer (the view database stays current).
	db, err := duck.OpenConfig(ctx, duck.Config{Path: filepath.Join(wh, ViewsFile), FileSearchPath: wh})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(ctx, "delete from "+answerTable(q)+" where claim_id <> "+duck.Quote(fmt.Sprint(liveDefault.Rows[0][0]))+"; checkpoint"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	w, err := Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Views == "" {
		t.Fatal("the view database did not open")
	}
	def := ""
	for _, p := range q.Params {
		if p.Key == "claims_alpha" {
			def = fmt.Sprint(p.Default)
		}
	}
	for _, args := range []map[string]string{nil, {"claims_alpha": def}} {
		if got := runOn(t, w, q, args); len(got.Rows) != 1 {
			t.Errorf("claims %v: %d rows, want the stored (cut) answer's 1", args, len(got.Rows))
		}
	}
	sameAnswer(t, "claims claims_alpha=0.25", runOn(t, w, q, map[string]string{"claims_alpha": "0.25"}), liveAlpha)
	if got := runOn(t, w, q, nil); len(got.Rows) != 1 {
		t.Errorf("claims after claims_alpha=0.25: %d rows, want the stored answer's 1", len(got.Rows))
	}
	for _, v := range []struct{ name, value string }{
		{"validity_max_overhead", "0.5"}, // read by the views (run_validity's macro)
		{"batch", "'rq1-quick-h100'"},    // another query's param, not at its default
		{"vitlab_unknown", "1"},          // no query's
		{"claims_alpha", "0.25"},         // claims' own: bound to its default again
	} {
		if _, err := w.SQL(ctx, "set variable "+v.name+" = "+v.value); err != nil {
			t.Fatal(err)
		}
		got := runOn(t, w, q, nil)
		if v.name == "claims_alpha" {
			if len(got.Rows) != 1 {
				t.Errorf("after set variable %s: %d rows, want the stored answer's 1", v.name, len(got.Rows))
			}
			continue
		}
		sameAnswer(t, "claims after set variable "+v.name, got, liveDefault)
		if _, err := w.SQL(ctx, "reset variable "+v.name); err != nil {
			t.Fatal(err)
		}
		if got := runOn(t, w, q, nil); len(got.Rows) != 1 {
			t.Errorf("after reset variable %s: %d rows, want the stored answer's 1", v.name, len(got.Rows))
		}
	}
}

// TestStoreAnswersSkips: a query that fails when the view database is
// written, or that reads more than the stored tables (directly or through
// a view file's inputs), gets no stored answer, and the write goes on; a
// query over the stored tables (through a view file over them) gets one.
func TestStoreAnswersSkips(t *testing.T) {
	ctx := context.Background()
	db, err := duck.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Exec(ctx, "create table t as select range as x from range(3); create view v as select x from t; create view events as select 1 as x"); err != nil {
		t.Fatal(err)
	}
	q := func(name, input, sql string) *Query {
		return &Query{Name: name, File: name + ".sql", Inputs: []string{input}, SQL: sql}
	}
	cat := &Catalog{
		ViewFiles: []*ViewFile{{Name: "v", Inputs: []string{"t"}}, {Name: "w", Inputs: []string{"events"}}},
		Queries: []*Query{
			q("ok", "v", "select x from v order by x desc"),
			q("fails", "t", "select error('boom') from t"),
			q("live", "w", "select x from events"),
		},
	}
	w := &Warehouse{db: db, cat: cat}
	files, err := w.storeAnswers(ctx, map[string]bool{"t": true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(files, []string{"ok.sql"}) {
		t.Fatalf("stored %v, want [ok.sql]", files)
	}
	res, err := db.Query(ctx, "select * from "+answerTable(cat.Queries[0]))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Rows) != "[[2] [1] [0]]" {
		t.Errorf("stored ok: %v, want its order", res.Rows)
	}
}
