package queries

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"vitlab/etl/ingest"
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
	wh := t.TempDir()
	for _, batch := range []string{"rq5-quick-h200", "rq3r-quick-h200", "rq3c-quick-h200"} {
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
}
