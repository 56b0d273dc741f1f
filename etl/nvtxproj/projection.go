package nvtxproj

import (
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Range is the tree position and GPU projection of one range.
type Range struct {
	ID        int64
	Depth     int32
	Parent    int64 // range id of the parent; meaningful when HasParent
	HasParent bool
	// GPUStart and GPUEnd are meaningful when GPUOps > 0.
	GPUStart, GPUEnd int64
	GPUOps           int64
	// Open reports that the range had no end in the export.
	Open bool
}

// Projection is the result of Project, looked up by range id.
type Projection struct {
	ranges []Range // sorted by ID
	open   int
	cursor int
}

func newProjection(rs []rng) *Projection {
	p := &Projection{ranges: make([]Range, len(rs))}
	for i := range rs {
		r := &rs[i]
		out := Range{ID: r.id, Depth: r.depth, GPUOps: r.ops, Open: r.open}
		if r.parent >= 0 {
			out.Parent, out.HasParent = rs[r.parent].id, true
		}
		if r.ops > 0 {
			out.GPUStart, out.GPUEnd = r.gpuStart, r.gpuEnd
		}
		if r.open {
			p.open++
		}
		p.ranges[i] = out
	}
	slices.SortFunc(p.ranges, func(a, b Range) int { return cmp(a.ID, b.ID) })
	return p
}

// Len is the number of ranges that took part.
func (p *Projection) Len() int { return len(p.ranges) }

// OpenRanges is the number of ranges that took part without an end.
func (p *Projection) OpenRanges() int { return p.open }

// Ranges returns every range that took part, by id.
func (p *Projection) Ranges() []Range { return p.ranges }

// Lookup returns the projection of a range id; false for events that did
// not take part. Lookups in increasing id order are the fastest.
func (p *Projection) Lookup(id int64) (Range, bool) {
	if p.cursor < len(p.ranges) && p.ranges[p.cursor].ID == id {
		r := p.ranges[p.cursor]
		p.cursor++
		return r, true
	}
	i, ok := slices.BinarySearchFunc(p.ranges, id, func(r Range, id int64) int { return cmp(r.ID, id) })
	if !ok {
		return Range{}, false
	}
	p.cursor = i + 1
	return p.ranges[i], true
}

// Fill returns rec (an nvtx record with at least range_id, depth,
// parent_id, gpu_start, gpu_end and gpu_ops) with those five columns set
// from the projection. The caller releases both records.
func (p *Projection) Fill(mem memory.Allocator, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	ids, err := int64Col(rec, "range_id")
	if err != nil {
		return nil, err
	}
	names := []string{"depth", "parent_id", "gpu_start", "gpu_end", "gpu_ops"}
	idx := make([]int, len(names))
	for i, n := range names {
		f := rec.Schema().FieldIndices(n)
		if len(f) != 1 {
			return nil, fmt.Errorf("nvtxproj: record lacks column %s", n)
		}
		idx[i] = f[0]
	}
	n := int(rec.NumRows())
	depth := array.NewInt32Builder(mem)
	defer depth.Release()
	int64s := make([]*array.Int64Builder, 4)
	for i := range int64s {
		int64s[i] = array.NewInt64Builder(mem)
		defer int64s[i].Release()
		int64s[i].Reserve(n)
	}
	depth.Reserve(n)
	parent, gstart, gend, ops := int64s[0], int64s[1], int64s[2], int64s[3]
	for i := 0; i < n; i++ {
		var r Range
		ok := !ids.IsNull(i)
		if ok {
			r, ok = p.Lookup(ids.Value(i))
		}
		if !ok {
			depth.AppendNull()
			parent.AppendNull()
			gstart.AppendNull()
			gend.AppendNull()
			ops.AppendNull()
			continue
		}
		depth.Append(r.Depth)
		if r.HasParent {
			parent.Append(r.Parent)
		} else {
			parent.AppendNull()
		}
		if r.GPUOps > 0 {
			gstart.Append(r.GPUStart)
			gend.Append(r.GPUEnd)
		} else {
			gstart.AppendNull()
			gend.AppendNull()
		}
		ops.Append(r.GPUOps)
	}
	built := []arrow.Array{depth.NewArray(), parent.NewArray(), gstart.NewArray(), gend.NewArray(), ops.NewArray()}
	defer func() {
		for _, a := range built {
			a.Release()
		}
	}()
	cols := slices.Clone(rec.Columns())
	for i, j := range idx {
		if !arrow.TypeEqual(cols[j].DataType(), built[i].DataType()) {
			return nil, fmt.Errorf("nvtxproj: column %s is %s, want %s", names[i], cols[j].DataType(), built[i].DataType())
		}
		cols[j] = built[i]
	}
	return array.NewRecordBatch(rec.Schema(), cols, rec.NumRows()), nil
}
