package warehouse

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"vitlab/etl/parquetout"
	"vitlab/schemas"
)

// rowKeys returns "run_id/start" of every row of the given records.
func rowKeys(recs ...arrow.RecordBatch) []string {
	var out []string
	for _, rec := range recs {
		runs := rec.Column(1).(*array.String)
		starts := rec.Column(2).(*array.Int64)
		for i := range int(rec.NumRows()) {
			out = append(out, fmt.Sprintf("%s/%d", runs.Value(i), starts.Value(i)))
		}
	}
	return out
}

// segmentKeys reads the rows a segment names straight from its spool file
// (arrow's IPC reader, not Compact's path).
func segmentKeys(t *testing.T, sg Segment) []string {
	t.Helper()
	f, err := os.Open(sg.Spool.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := ipc.NewFileReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	for i := sg.First; i < sg.First+sg.Count; i++ {
		rec, err := r.RecordBatch(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rowKeys(rec)...)
	}
	return out
}

// partKeys reads a part file through parquetout.
func partKeys(t *testing.T, path string) []string {
	t.Helper()
	r, err := parquetout.Open(path, parquetout.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	for rec, err := range r.Records(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rowKeys(rec)...)
	}
	return out
}

// TestCompact compacts segments of two spools, one of them LZ4, leaving
// one segment out as ingest does for a run set aside half way: the parts
// hold exactly the named segments' rows in the given order, cut after
// PartRows, and every other table gets one empty part.
func TestCompact(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	s := newStaging(t, t.TempDir())
	tbl := schemas.CudaAPI
	a := stage(t, mem, s, tbl, "b", 7, 10, 20, 200, 60, 90, 5) // uncompressed spool
	b := stage(t, mem, s, tbl, "b", 8, 3, 4)                   // LZ4 spool
	// a[1] is left out; PartRows 150: [10 3 200] → 213, [60 90] → 150, [5 4] → 9.
	segs := []Segment{a[0], b[0], a[2], a[3], a[4], a[5], b[1]}
	var want []string
	for _, sg := range segs {
		want = append(want, segmentKeys(t, sg)...)
	}
	for _, jobs := range []int{1, 3} {
		parts, err := s.Compact(ctx, map[*schemas.Table][]Segment{tbl: segs},
			CompactOptions{Parquet: parquetout.Options{Allocator: mem, MaxRowGroupRows: 64}, PartRows: 150, Jobs: jobs})
		if err != nil {
			t.Fatal(err)
		}
		var rows []int64
		var got []string
		for _, p := range parts[tbl.Name] {
			keys := partKeys(t, p.Path)
			if int64(len(keys)) != p.Rows {
				t.Fatalf("%s: %d rows, reported %d", p.Path, len(keys), p.Rows)
			}
			rows = append(rows, p.Rows)
			got = append(got, keys...)
		}
		if !slices.Equal(rows, []int64{213, 150, 9}) {
			t.Fatalf("jobs %d: parts of %v rows, want [213 150 9]", jobs, rows)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("jobs %d: parts hold other rows or another order than the segments", jobs)
		}
		for _, other := range schemas.All() {
			if other == tbl {
				continue
			}
			ps := parts[other.Name]
			if len(ps) != 1 || ps[0].Rows != 0 {
				t.Fatalf("table %s: parts %v, want one empty part", other.Name, ps)
			}
			r, err := parquetout.Open(ps[0].Path, parquetout.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !r.Schema().Equal(other.Schema()) || r.NumRows() != 0 {
				t.Fatalf("%s: schema %s, %d rows", ps[0].Path, r.Schema(), r.NumRows())
			}
			r.Close()
		}
		// The spools are only read: a second compaction sees them whole.
		if _, err := os.Stat(a[0].Spool.Path()); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(s.Dir(), "parts")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCompactRefuses: segments that do not fit their spool or table are
// refused before anything is written, and a segment whose rows differ from
// its records fails without leaving parts behind.
func TestCompactRefuses(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	s := newStaging(t, t.TempDir())
	segs := stage(t, mem, s, schemas.Kernels, "b", 1, 10, 12)
	open, err := s.CreateSpool(schemas.Kernels, "open", SpoolOptions{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	opts := CompactOptions{Parquet: parquetout.Options{Allocator: mem}}
	for name, tc := range map[string]struct {
		segs map[*schemas.Table][]Segment
		want string
	}{
		"other table":    {map[*schemas.Table][]Segment{schemas.NVTX: segs}, "holds table kernels"},
		"not closed":     {map[*schemas.Table][]Segment{schemas.Kernels: {{Spool: open}}}, "is not closed"},
		"out of range":   {map[*schemas.Table][]Segment{schemas.Kernels: {{Spool: segs[1].Spool, First: segs[1].First, Count: segs[1].Count + 1}}}, "outside spool"},
		"no spool":       {map[*schemas.Table][]Segment{schemas.Kernels: {{}}}, "without a spool"},
		"not a table":    {map[*schemas.Table][]Segment{{Name: "nope"}: nil}, "not a warehouse table"},
		"rows disagree":  {map[*schemas.Table][]Segment{schemas.Kernels: {segs[0], {Spool: segs[1].Spool, First: segs[1].First, Count: segs[1].Count, Rows: 11}}}, "hold 12 rows, the segment says 11"},
		"negative start": {map[*schemas.Table][]Segment{schemas.Kernels: {{Spool: segs[0].Spool, First: -1, Count: 1}}}, "outside spool"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Compact(ctx, tc.segs, opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			left, _ := filepath.Glob(filepath.Join(s.Dir(), "parts", "*", "*.parquet"))
			if len(left) != 0 {
				t.Fatalf("parts left after a failed compaction: %v", left)
			}
		})
	}
}

func TestPlanParts(t *testing.T) {
	seg := func(rows ...int64) []Segment {
		var out []Segment
		for _, r := range rows {
			out = append(out, Segment{Rows: r})
		}
		return out
	}
	sizes := func(groups [][]Segment) []string {
		var out []string
		for _, g := range groups {
			var rs []string
			for _, sg := range g {
				rs = append(rs, fmt.Sprint(sg.Rows))
			}
			out = append(out, strings.Join(rs, "+"))
		}
		return out
	}
	for _, tc := range []struct {
		rows []int64
		want []string
	}{
		{nil, []string{""}},
		{[]int64{5}, []string{"5"}},
		{[]int64{100}, []string{"100"}},
		{[]int64{500, 1}, []string{"500", "1"}},
		{[]int64{40, 40, 40, 40, 40}, []string{"40+40+40", "40+40"}},
		{[]int64{99, 1, 99, 2}, []string{"99+1", "99+2"}},
	} {
		if got := sizes(planParts(seg(tc.rows...), 100)); !slices.Equal(got, tc.want) {
			t.Errorf("planParts(%v, 100) = %v, want %v", tc.rows, got, tc.want)
		}
	}
}
