package queries

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"vitlab/etl/ingest"
	"vitlab/queries/duck"
)

// TestDerivedOrderExplicit checks that a derived query's answer read from
// several files does not depend on the order in which DuckDB meets their
// rows: three sample batches derived one at a time (three files), read
// with two threads whole and a part per segment, and again with the
// file scans listed in reverse (scanOrderHook), give the same rows in the
// same order as the live SQL. Before the order was asked for explicitly
// (orderKeys) the reversed listing gave the batches in reverse: the
// answer's order was whatever order the UNION ALL of scans produced, and
// at 100x the sample one read in six came out with a block of rows moved.
func TestDerivedOrderExplicit(t *testing.T) {
	ctx := context.Background()
	wh := threeFileWarehouse(t)
	res := DefaultResources()
	res.Threads = 2
	want := answersWith(t, wh, res)
	w, err := OpenWith(ctx, wh, res)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range w.Catalog().DerivedQueries() {
		if !w.IsDerived(q.Name) {
			t.Fatalf("%s is not answered from derived files", q.Name)
		}
	}
	q, _ := w.Catalog().Query("nsys_kern_sum")
	r, err := w.derivedReadOf(ctx, q.Name)
	if err != nil || r == nil || len(r.segs) != 3 {
		t.Fatalf("nsys_kern_sum: %+v, %v (want 3 segments)", r, err)
	}
	w.Close()

	scanOrderHook = func(scans []string) { slices.Reverse(scans) }
	defer func() { scanOrderHook = nil }()
	compareAnswers(t, "scans listed in reverse", want, answersWith(t, wh, res))
	one := res
	one.PartRows = 1
	compareAnswers(t, "scans listed in reverse, a part per segment", want, answersWith(t, wh, one))
	for i := 0; i < 3; i++ {
		compareAnswers(t, "read again", want, answersWith(t, wh, res))
	}

	// RunCSV a part at a time writes the bytes of the whole answer read in
	// one statement, and the same first rows.
	scanOrderHook = nil
	whole := res
	whole.PartRows = 1 << 40
	csv := func(r Resources, name string, limit int) ([]byte, *duck.Result, int) {
		t.Helper()
		w, err := OpenWith(ctx, wh, r)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		q, ok := w.Catalog().Query(name)
		if !ok {
			q, _ = w.Catalog().Check(name)
		}
		path := filepath.Join(t.TempDir(), "out.csv")
		got, total, err := w.RunCSV(ctx, q, nil, path, limit)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b, got, total
	}
	for _, name := range []string{"nsys_kern_sum", "nsys_nvtx_kern_sum", "runs_overview"} {
		for _, limit := range []int{1, 5, 1 << 20} {
			b1, r1, n1 := csv(whole, name, limit)
			b2, r2, n2 := csv(one, name, limit)
			if !bytes.Equal(b1, b2) || n1 != n2 || n1 < 3 {
				t.Errorf("%s: CSV in parts differs (%d bytes, %d rows; whole %d bytes, %d rows)", name, len(b2), n2, len(b1), n1)
			}
			compareAnswers(t, fmt.Sprintf("%s first %d rows", name, limit), map[string]*duck.Result{name: r1}, map[string]*duck.Result{name: r2})
			if len(r1.Rows) != min(limit, n1) {
				t.Errorf("%s: %d first rows, want %d", name, len(r1.Rows), min(limit, n1))
			}
		}
	}

	// WriteParquet a part at a time (parquetParts, through a temporary
	// table, with a lower memory_limit set back after) writes the columns,
	// types, rows and order of one COPY of the whole answer.
	parquet := func(r Resources, name string) *duck.Result {
		t.Helper()
		w, err := OpenWith(ctx, wh, r)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		q, _ := w.Catalog().Query(name)
		parts, err := w.derivedParts(ctx, q, nil)
		if err != nil || (r.PartRows == 1) != (len(parts) > 1) {
			t.Fatalf("%s with PartRows %d: %d parts (%v)", name, r.PartRows, len(parts), err)
		}
		limit := func() string {
			res, err := w.SQL(ctx, "select current_setting('memory_limit')")
			if err != nil {
				t.Fatal(err)
			}
			return fmt.Sprint(res.Rows[0][0])
		}
		before := limit()
		path := filepath.Join(t.TempDir(), "out.parquet")
		if err := w.WriteParquet(ctx, q, nil, path); err != nil {
			t.Fatal(err)
		}
		if after := limit(); after != before {
			t.Errorf("%s: memory_limit %s after WriteParquet, %s before", name, after, before)
		}
		res, err := w.SQL(ctx, "select * from read_parquet("+duck.Quote(path)+")")
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, name := range []string{"nsys_kern_sum", "nsys_nvtx_kern_sum"} {
		p1, p2 := parquet(whole, name), parquet(one, name)
		if len(p1.Rows) < 3 {
			t.Errorf("%s: %d rows in the Parquet file", name, len(p1.Rows))
		}
		compareAnswers(t, name+" as Parquet in parts", map[string]*duck.Result{name: p1}, map[string]*duck.Result{name: p2})
		compareAnswers(t, name+" as Parquet", map[string]*duck.Result{name: want[name+" defaults"]}, map[string]*duck.Result{name: p1})
	}
}

// threeFileWarehouse ingests three sample batches into a new warehouse,
// deriving after each, so that every derived query's answer is read from
// three files (three segments).
func threeFileWarehouse(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	wh := t.TempDir()
	for _, batch := range []string{"rq5-pipeline-r3-b32-h100", "rq3r-quick-h200", "rq3c-quick-h200"} {
		p := filepath.Join("..", "data", "sample", batch)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("sample batch %s: %v", batch, err)
		}
		if _, err := ingest.Run(ctx, ingest.Request{Warehouse: wh, Paths: []string{p}, Jobs: 2}); err != nil {
			t.Fatal(err)
		}
		if _, err := Derive(ctx, wh, nil); err != nil {
			t.Fatal(err)
		}
	}
	return wh
}
