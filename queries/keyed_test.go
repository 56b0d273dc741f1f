package queries

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"vitlab/queries/duck"
)

// TestRunArrowCheckedOrder checks the order of a derived answer read a
// part at a time through RunArrow (readKeyed: each part without its ORDER
// BY, its order checked): on three sample batches derived into three
// files, every derived query gives the bytes (as CSV) of its answer read
// whole in one sorted statement, with no part read again; with the file
// scans listed in reverse (scanOrderHook), a part of two segments comes
// out of order, is caught, is read again sorted (Reordered), and the
// bytes are still the same.
func TestRunArrowCheckedOrder(t *testing.T) {
	if !duck.ArrowAvailable {
		t.Skip("built without the duckdb_arrow tag")
	}
	ctx := context.Background()
	wh := threeFileWarehouse(t)
	res := DefaultResources()
	res.Threads = 2
	// read answers as CSV with parts of partRows (0: the whole answer in
	// one sorted statement); reordered: the parts read again
	read := func(partRows int64) (csv map[string][]byte, parts map[string]int, reordered int) {
		t.Helper()
		r := res
		r.PartRows = 1 << 40
		if partRows > 0 {
			r.PartRows = partRows
		}
		w, err := OpenWith(ctx, wh, r)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		csv, parts = map[string][]byte{}, map[string]int{}
		for _, q := range w.Catalog().DerivedQueries() {
			sorted, _, err := w.keyedParts(ctx, q, nil)
			if err != nil {
				t.Fatal(err)
			}
			parts[q.Name] = len(sorted)
			var buf bytes.Buffer
			var out *ArrowCSV
			schema, err := w.RunArrow(ctx, q, nil, func(rec arrow.RecordBatch) error {
				if out == nil {
					var ok bool
					if out, ok = NewArrowCSV(&buf, rec.Schema()); !ok {
						t.Skipf("%s: a column ArrowCSV does not render", q.Name)
					}
				}
				return out.Write(rec)
			})
			if err != nil {
				t.Fatalf("%s: %v", q.Name, err)
			}
			if out == nil {
				if out, _ = NewArrowCSV(&buf, schema); out == nil {
					t.Fatalf("%s: schema %s", q.Name, schema)
				}
			}
			if err := out.Close(); err != nil {
				t.Fatal(err)
			}
			csv[q.Name] = buf.Bytes()
		}
		return csv, parts, w.Reordered
	}
	want, parts, _ := read(0)
	for name, n := range parts {
		if n != 0 {
			t.Fatalf("%s read whole: %d parts", name, n)
		}
	}
	if n := bytes.Count(want["nsys_nvtx_kern_sum"], []byte("\n")); n < 100 {
		t.Fatalf("nsys_nvtx_kern_sum: %d lines", n)
	}
	same := func(label string, got map[string][]byte) {
		t.Helper()
		for name, b := range want {
			if !bytes.Equal(got[name], b) {
				t.Errorf("%s: %s: %d bytes of CSV, %d read whole", label, name, len(got[name]), len(b))
			}
		}
	}

	// a part per segment: in order as read, nothing read again
	got, parts, reordered := read(1)
	if parts["nsys_nvtx_kern_sum"] != 3 {
		t.Fatalf("nsys_nvtx_kern_sum in %d parts, want 3 (one per file)", parts["nsys_nvtx_kern_sum"])
	}
	same("a part per segment", got)
	if reordered != 0 {
		t.Errorf("a part per segment: %d parts read again", reordered)
	}

	// parts of two segments and one, the scans listed in reverse: each
	// part of two segments comes out with its second file first
	w, err := OpenWith(ctx, wh, res)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := w.Catalog().Query("nsys_nvtx_kern_sum")
	r, err := w.derivedReadOf(ctx, q.Name)
	w.Close()
	if err != nil || r == nil || len(r.segs) != 3 {
		t.Fatalf("nsys_nvtx_kern_sum: %+v, %v (want 3 segments)", r, err)
	}
	two := r.segs[0].rows + r.segs[1].rows
	scanOrderHook = func(scans []string) { slices.Reverse(scans) }
	defer func() { scanOrderHook = nil }()
	got, parts, reordered = read(two)
	if parts["nsys_nvtx_kern_sum"] != 2 {
		t.Fatalf("nsys_nvtx_kern_sum in %d parts, want 2", parts["nsys_nvtx_kern_sum"])
	}
	same("scans listed in reverse", got)
	if reordered == 0 {
		t.Error("scans listed in reverse: no part read again (the order check did not catch them)")
	}
}
