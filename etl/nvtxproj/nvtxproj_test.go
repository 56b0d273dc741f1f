package nvtxproj

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"vitlab/schemas"
)

type tRange struct {
	id, typ, start int64
	end            *int64
	gtid           int64
	endGtid        *int64
}

type tOp struct{ gpid, corr, start, end int64 }

type tCall struct{ gtid, corr, start, end int64 }

func p(v int64) *int64 { return &v }

// nvtxRecord builds an nvtx record in the warehouse schema.
func nvtxRecord(mem memory.Allocator, rs []tRange) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, schemas.NVTX.Schema())
	defer b.Release()
	t := schemas.NVTX
	for i := range t.Columns {
		f := b.Field(i)
		for _, r := range rs {
			switch t.Columns[i].Name {
			case "batch_id", "run_id", "style":
				f.(*array.StringBuilder).Append("x")
			case "range_id":
				f.(*array.Int64Builder).Append(r.id)
			case "event_type":
				f.(*array.Int32Builder).Append(int32(r.typ))
			case "start":
				f.(*array.Int64Builder).Append(r.start)
			case "end":
				appendOpt(f.(*array.Int64Builder), r.end)
			case "global_tid":
				f.(*array.Int64Builder).Append(r.gtid)
			case "end_global_tid":
				appendOpt(f.(*array.Int64Builder), r.endGtid)
			default:
				f.AppendNull()
			}
		}
	}
	return b.NewRecordBatch()
}

func appendOpt(b *array.Int64Builder, v *int64) {
	if v == nil {
		b.AppendNull()
	} else {
		b.Append(*v)
	}
}

// int64Record builds a record of int64 columns from rows.
func int64Record(mem memory.Allocator, names []string, rows [][]int64) arrow.RecordBatch {
	fields := make([]arrow.Field, len(names))
	for i, n := range names {
		fields[i] = arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Int64, Nullable: true}
	}
	b := array.NewRecordBuilder(mem, arrow.NewSchema(fields, nil))
	defer b.Release()
	for _, r := range rows {
		for i, v := range r {
			b.Field(i).(*array.Int64Builder).Append(v)
		}
	}
	return b.NewRecordBatch()
}

func opsRecord(mem memory.Allocator, ops []tOp) arrow.RecordBatch {
	var rows [][]int64
	for _, o := range ops {
		rows = append(rows, []int64{o.gpid, o.corr, o.start, o.end})
	}
	return int64Record(mem, []string{"global_pid", "correlation_id", "start", "end"}, rows)
}

func callsRecord(mem memory.Allocator, calls []tCall) arrow.RecordBatch {
	var rows [][]int64
	for _, c := range calls {
		rows = append(rows, []int64{c.gtid, c.corr, c.start, c.end})
	}
	return int64Record(mem, []string{"global_tid", "correlation_id", "start", "end"}, rows)
}

func project(t *testing.T, mem memory.Allocator, rs []tRange, ops []tOp, calls []tCall) *Projection {
	t.Helper()
	pr := New()
	rec := nvtxRecord(mem, rs)
	defer rec.Release()
	if err := pr.AddRanges(rec); err != nil {
		t.Fatal(err)
	}
	o := opsRecord(mem, ops)
	defer o.Release()
	if err := pr.AddOps(o); err != nil {
		t.Fatal(err)
	}
	c := callsRecord(mem, calls)
	defer c.Release()
	if err := pr.AddCalls(c); err != nil {
		t.Fatal(err)
	}
	return pr.Project()
}

const proc1 = 1<<48 | 7<<24

// TestAgainstDefinition compares the one-pass algorithm with a direct
// transcription of nsys's definition (every pair of ranges, every call) on
// random threads of nested and overlapping ranges. Range lengths are
// distinct, so the tightest parent is unique as in nsys.
func TestAgainstDefinition(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(7, 11))
	for iter := 0; iter < 200; iter++ {
		var rs []tRange
		usedLen := map[int64]bool{}
		threads := []int64{proc1 | 1, proc1 | 2, 1<<48 | 9<<24 | 1}
		for i := 0; i < 1+r.IntN(40); i++ {
			start := r.Int64N(10000) - 2000
			length := r.Int64N(5000)
			for usedLen[length] {
				length++
			}
			usedLen[length] = true
			rg := tRange{id: int64(i + 1), typ: []int64{59, 60, 70, 71, 34}[r.IntN(5)], start: start, end: p(start + length), gtid: threads[r.IntN(len(threads))]}
			if r.IntN(10) == 0 {
				rg.endGtid = p(threads[r.IntN(len(threads))])
			}
			rs = append(rs, rg)
		}
		var ops []tOp
		var calls []tCall
		for c := int64(1); c < 60; c++ {
			th := threads[r.IntN(len(threads))]
			st := r.Int64N(12000) - 2000
			calls = append(calls, tCall{th, c, st, st + r.Int64N(300)})
			if r.IntN(4) > 0 { // some calls launch nothing
				for k := 0; k < 1+r.IntN(2); k++ {
					os := r.Int64N(20000)
					ops = append(ops, tOp{th &^ threadBits, c, os, os + r.Int64N(1000)})
				}
			}
			if iter%2 == 1 && r.IntN(10) == 0 { // a second API row with the same correlation id
				calls = append(calls, tCall{th, c, st + 1, st + 2})
			}
		}
		got := project(t, mem, rs, ops, calls)
		want := definition(rs, ops, calls)
		if got.Len() != len(want) {
			t.Fatalf("iter %d: %d ranges, want %d", iter, got.Len(), len(want))
		}
		for _, w := range want {
			g, ok := got.Lookup(w.ID)
			if !ok || g != w {
				t.Fatalf("iter %d: range %d = %+v, want %+v", iter, w.ID, g, w)
			}
		}
	}
}

// definition is nsys's nvtx_gpu_proj_trace written out directly.
func definition(rs []tRange, ops []tOp, calls []tCall) []Range {
	var elig []tRange
	for _, r := range rs {
		if schemas.IsNVTXRange(r.typ) && r.endGtid == nil {
			elig = append(elig, r)
		}
	}
	parent := map[int64]int64{}
	for _, c := range elig {
		best, bestT := int64(-1), int64(0)
		for _, pr := range elig {
			if pr.id == c.id || pr.gtid != c.gtid || pr.start > c.start || *pr.end < *c.end {
				continue
			}
			if tt := (c.start - pr.start) + (*pr.end - *c.end); best < 0 || tt < bestT {
				best, bestT = pr.id, tt
			}
		}
		if best >= 0 {
			parent[c.id] = best
		}
	}
	var out []Range
	for _, c := range elig {
		o := Range{ID: c.id}
		for id, ok := parent[c.id]; ok; id, ok = parent[id] {
			o.Depth++
		}
		o.Parent, o.HasParent = parent[c.id]
		corrs := map[int64]bool{}
		for _, call := range calls {
			if call.gtid != c.gtid || call.start < c.start || call.end > *c.end {
				continue
			}
			for _, op := range ops {
				if op.gpid != call.gtid&^threadBits || op.corr != call.corr {
					continue
				}
				if len(corrs) == 0 {
					o.GPUStart, o.GPUEnd = op.start, op.end
				}
				o.GPUStart, o.GPUEnd = min(o.GPUStart, op.start), max(o.GPUEnd, op.end)
				corrs[call.corr] = true
			}
		}
		o.GPUOps = int64(len(corrs))
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b Range) int { return cmp(a.ID, b.ID) })
	return out
}

func TestOpenRangeEndsAtLatestTimestamp(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rs := []tRange{
		{id: 1, typ: 59, start: 10, gtid: proc1 | 1},                                      // open
		{id: 2, typ: 60, start: 20, end: p(9000), gtid: proc1 | 2, endGtid: p(proc1 | 3)}, // other thread: still sets the latest time
		{id: 3, typ: 34, start: 50000, gtid: proc1 | 1},                                   // marks do not
	}
	got := project(t, mem, rs, []tOp{{proc1, 1, 100, 200}}, []tCall{{proc1 | 1, 1, 8000, 8999}})
	r, ok := got.Lookup(1)
	if !ok || !r.Open || r.GPUOps != 1 || r.GPUStart != 100 || r.GPUEnd != 200 {
		t.Errorf("open range = %+v", r)
	}
	if _, ok := got.Lookup(2); ok || got.Len() != 1 || got.OpenRanges() != 1 {
		t.Errorf("projection has %d ranges, %d open", got.Len(), got.OpenRanges())
	}
}

func TestStageOrder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	pr := New()
	rec := nvtxRecord(mem, []tRange{{id: 1, typ: 59, start: 0, end: p(10), gtid: proc1 | 1}})
	defer rec.Release()
	c := callsRecord(mem, nil)
	defer c.Release()
	o := opsRecord(mem, nil)
	defer o.Release()
	if err := pr.AddRanges(rec); err != nil {
		t.Fatal(err)
	}
	if err := pr.AddCalls(c); err != nil {
		t.Fatal(err)
	}
	if err := pr.AddOps(o); err == nil {
		t.Error("AddOps after AddCalls: no error")
	}
	if err := pr.AddRanges(o); err == nil {
		t.Error("AddRanges of a record without NVTX columns: no error")
	}
}

// TestNoRanges: without ranges nothing is kept, whatever comes after.
func TestNoRanges(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	got := project(t, mem, []tRange{{id: 1, typ: 34, start: 5, gtid: proc1 | 1}},
		[]tOp{{proc1, 1, 0, 1}}, []tCall{{proc1 | 1, 1, 0, 1}})
	if got.Len() != 0 {
		t.Errorf("%d ranges", got.Len())
	}
}

func TestFill(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rs := []tRange{
		{id: 4, typ: 59, start: 0, end: p(100), gtid: proc1 | 1},
		{id: 5, typ: 59, start: 10, end: p(20), gtid: proc1 | 1},
		{id: 6, typ: 34, start: 15, gtid: proc1 | 1},
		{id: 7, typ: 59, start: 30, end: p(40), gtid: proc1 | 1},
	}
	proj := project(t, mem, rs, []tOp{{proc1, 1, 500, 600}}, []tCall{{proc1 | 1, 1, 11, 12}})
	rec := nvtxRecord(mem, rs)
	defer rec.Release()
	filled, err := proj.Fill(mem, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer filled.Release()
	if !filled.Schema().Equal(schemas.NVTX.Schema()) {
		t.Fatalf("schema changed: %v", filled.Schema())
	}
	col := func(name string) arrow.Array { return filled.Column(schemas.NVTX.MustIndex(name)) }
	want := map[string]string{
		"depth":     "[0 1 (null) 1]",
		"parent_id": "[(null) 4 (null) 4]",
		"gpu_start": "[500 500 (null) (null)]",
		"gpu_end":   "[600 600 (null) (null)]",
		"gpu_ops":   "[1 1 (null) 0]",
		"start":     "[0 10 15 30]",
	}
	for name, w := range want {
		if got := col(name).String(); got != w {
			t.Errorf("%s = %s, want %s", name, got, w)
		}
	}
}

// TestLeakedRanges: ranges never closed all end at the last timestamp and
// overlap everything after them; the tree and the projection must stay
// near-linear (a pairwise algorithm would take minutes here).
func TestLeakedRanges(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const n = 200_000
	rs := make([]tRange, 0, n+1)
	calls := make([]tCall, 0, n)
	ops := make([]tOp, 0, n)
	for i := int64(0); i < n; i++ {
		rs = append(rs, tRange{id: i + 1, typ: 59, start: i * 10, gtid: proc1 | 1}) // never popped
		calls = append(calls, tCall{proc1 | 1, i, i*10 + 1, i*10 + 2})
		ops = append(ops, tOp{proc1, i, 5_000_000 + i, 5_000_000 + i + 1})
	}
	rs = append(rs, tRange{id: n + 1, typ: 59, start: 0, end: p(n * 10), gtid: proc1 | 1})
	start := time.Now()
	got := project(t, mem, rs, ops, calls)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v", d)
	}
	last, _ := got.Lookup(n)
	first, _ := got.Lookup(1)
	if got.OpenRanges() != n || first.GPUOps != n || last.GPUOps != 1 || last.Depth != n || last.Parent != n-1 {
		t.Errorf("first %+v last %+v", first, last)
	}
}
