package nvtxproj

import (
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"vitlab/schemas"
)

// threadBits are the thread bits of an nsys serialized global thread id;
// clearing them gives the global process id that GPU operations carry.
const threadBits = 0xFFFFFF

// rng is one range that takes part in the projection.
type rng struct {
	id, start, end int64
	gtid           int64
	hasTid         bool
	open           bool // end was null
	// results
	parent           int32 // index into Projector.ranges, or -1
	depth            int32
	gpuStart, gpuEnd int64
	ops              int64
}

// span is the GPU time of the operations of one (process, correlation id).
type span struct{ start, end int64 }

// call is an API call that launched kept GPU operations.
type call struct {
	start, end, corr int64
	op               span
}

type thread struct {
	ranges []int32
	calls  []call
}

// Projector collects ranges, GPU operations and API calls, then computes
// the tree and the projection. Add ranges first, then operations, then
// calls; the zero value is not ready: use New.
type Projector struct {
	ranges  []rng
	maxTS   int64
	hasTS   bool
	threads map[int64]*thread
	procs   map[int64]map[int64]span // global pid → correlation id → span
	stage   int
}

// New returns an empty Projector.
func New() *Projector {
	return &Projector{threads: map[int64]*thread{}, procs: map[int64]map[int64]span{}}
}

const (
	stageRanges = iota
	stageOps
	stageCalls
	stageDone
)

func (p *Projector) enter(stage int, what string) error {
	if p.stage > stage {
		return fmt.Errorf("nvtxproj: %s after a later stage", what)
	}
	p.stage = stage
	return nil
}

// HasRanges reports whether any range takes part: when none does, the
// operations and calls need not be read for the projection.
func (p *Projector) HasRanges() bool { return len(p.ranges) > 0 }

// AddRanges takes the NVTX events of one nvtx record.
func (p *Projector) AddRanges(rec arrow.RecordBatch) error {
	if err := p.enter(stageRanges, "AddRanges"); err != nil {
		return err
	}
	ids, err1 := int64Col(rec, "range_id")
	types, err2 := int32Col(rec, "event_type")
	starts, err3 := int64Col(rec, "start")
	ends, err4 := int64Col(rec, "end")
	tids, err5 := int64Col(rec, "global_tid")
	endTids, err6 := int64Col(rec, "end_global_tid")
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return err
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		if types.IsNull(i) || !schemas.IsNVTXRange(int64(types.Value(i))) || starts.IsNull(i) || ids.IsNull(i) {
			continue
		}
		start := starts.Value(i)
		p.observeTS(start)
		r := rng{id: ids.Value(i), start: start, parent: -1}
		if ends.IsNull(i) {
			r.open = true
		} else {
			r.end = ends.Value(i)
			p.observeTS(r.end)
		}
		if !endTids.IsNull(i) {
			continue // ends on another thread: no projection
		}
		if !tids.IsNull(i) {
			r.gtid, r.hasTid = tids.Value(i), true
		}
		p.ranges = append(p.ranges, r)
		if r.hasTid {
			t := p.threads[r.gtid]
			if t == nil {
				t = &thread{}
				p.threads[r.gtid] = t
				if p.procs[r.gtid&^threadBits] == nil {
					p.procs[r.gtid&^threadBits] = map[int64]span{}
				}
			}
			t.ranges = append(t.ranges, int32(len(p.ranges)-1))
		}
	}
	return nil
}

func (p *Projector) observeTS(ts int64) {
	if !p.hasTS || ts > p.maxTS {
		p.maxTS, p.hasTS = ts, true
	}
}

// AddOps takes the GPU operations of one kernels, memcpys or memsets record.
func (p *Projector) AddOps(rec arrow.RecordBatch) error {
	if err := p.enter(stageOps, "AddOps"); err != nil {
		return err
	}
	if len(p.procs) == 0 {
		return nil
	}
	pids, err1 := int64Col(rec, "global_pid")
	corrs, err2 := int64Col(rec, "correlation_id")
	starts, err3 := int64Col(rec, "start")
	ends, err4 := int64Col(rec, "end")
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return err
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		if pids.IsNull(i) || corrs.IsNull(i) || starts.IsNull(i) || ends.IsNull(i) {
			continue
		}
		ops := p.procs[pids.Value(i)]
		if ops == nil {
			continue
		}
		c, s, e := corrs.Value(i), starts.Value(i), ends.Value(i)
		if old, ok := ops[c]; ok {
			s, e = min(s, old.start), max(e, old.end)
		}
		ops[c] = span{s, e}
	}
	return nil
}

// AddCalls takes the API calls of one cuda_api record. Call it after every
// AddOps.
func (p *Projector) AddCalls(rec arrow.RecordBatch) error {
	if err := p.enter(stageCalls, "AddCalls"); err != nil {
		return err
	}
	if len(p.threads) == 0 {
		return nil
	}
	tids, err1 := int64Col(rec, "global_tid")
	corrs, err2 := int64Col(rec, "correlation_id")
	starts, err3 := int64Col(rec, "start")
	ends, err4 := int64Col(rec, "end")
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return err
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		if tids.IsNull(i) || corrs.IsNull(i) || starts.IsNull(i) || ends.IsNull(i) {
			continue
		}
		gtid := tids.Value(i)
		t := p.threads[gtid]
		if t == nil {
			continue
		}
		op, ok := p.procs[gtid&^threadBits][corrs.Value(i)]
		if !ok {
			continue
		}
		t.calls = append(t.calls, call{start: starts.Value(i), end: ends.Value(i), corr: corrs.Value(i), op: op})
	}
	return nil
}

// Project computes the tree and the projection. The Projector must not be
// used afterwards.
func (p *Projector) Project() *Projection {
	p.stage = stageDone
	for i := range p.ranges {
		if p.ranges[i].open {
			p.ranges[i].end = p.maxTS
		}
	}
	var scratch []int64
	for _, t := range p.threads {
		p.tree(t)
		scratch = p.project(t, scratch)
	}
	p.procs, p.threads = nil, nil
	return newProjection(p.ranges)
}

// tree finds each range's parent and depth in one pass over the thread's
// ranges sorted by (start, end desc, id). Every range seen before the
// current one starts no later, so it contains the current one exactly when
// it ends no earlier; and since tightness (start − p.start) + (p.end − end)
// equals p's length minus the range's own, the tightest container is the
// shortest seen range whose end is ≥ the current end (ties: the one seen
// last). A Fenwick tree over the thread's end values answers that in
// O(log n), so ranges that stay open for long (leaked, never closed) cost
// no more than nested ones.
func (p *Projector) tree(t *thread) {
	rs := p.ranges
	slices.SortFunc(t.ranges, func(a, b int32) int {
		x, y := &rs[a], &rs[b]
		switch {
		case x.start != y.start:
			return cmp(x.start, y.start)
		case x.end != y.end:
			return cmp(y.end, x.end)
		}
		return cmp(x.id, y.id)
	})
	ends := make([]int64, len(t.ranges))
	for i, ri := range t.ranges {
		ends[i] = rs[ri].end
	}
	slices.Sort(ends)
	ends = slices.Compact(ends)
	fw := make([]candidate, len(ends)+1) // 1-based, over end ranks from the largest end down
	for ord, ci := range t.ranges {
		c := &rs[ci]
		k, _ := slices.BinarySearch(ends, c.end)
		pos := len(ends) - k // ends ≥ c.end are ranks 1 … pos
		best := candidate{}
		for i := pos; i > 0; i -= i & -i {
			if fw[i].better(best) {
				best = fw[i]
			}
		}
		if best.ok {
			c.parent = best.idx
			c.depth = rs[best.idx].depth + 1
		}
		me := candidate{ok: true, length: length(c.start, c.end), ord: int32(ord), idx: ci}
		for i := pos; i < len(fw); i += i & -i {
			if me.better(fw[i]) {
				fw[i] = me
			}
		}
	}
}

// candidate is a possible parent in tree's Fenwick tree.
type candidate struct {
	ok     bool
	length uint64
	ord    int32 // position in the thread's sorted ranges
	idx    int32 // index into Projector.ranges
}

// better reports whether c is a tighter parent than o: shorter, or as long
// and seen later.
func (c candidate) better(o candidate) bool {
	return c.ok && (!o.ok || c.length < o.length || c.length == o.length && c.ord > o.ord)
}

// length is end − start as an unsigned number (exact for any int64 pair
// with end ≥ start); 0 for the inverted ranges of damaged input.
func length(start, end int64) uint64 {
	if end < start {
		return 0
	}
	return uint64(end) - uint64(start)
}

// project gives each range of the thread its GPU span and operation count:
// the calls with start ≥ range.start and end ≤ range.end. Ranges are taken
// by increasing end while calls enter a Fenwick tree (over call starts) by
// increasing end, so each range is one suffix query: O((ranges + calls)
// log calls). Threads where two API rows share a correlation id (they must
// be counted once) are scanned call by call instead.
func (p *Projector) project(t *thread, scratch []int64) []int64 {
	if len(t.calls) == 0 {
		return scratch
	}
	seen := make(map[int64]struct{}, len(t.calls))
	for _, c := range t.calls {
		if _, dup := seen[c.corr]; dup {
			return p.scan(t, scratch)
		}
		seen[c.corr] = struct{}{}
	}
	starts := make([]int64, len(t.calls))
	for i, c := range t.calls {
		starts[i] = c.start
	}
	slices.Sort(starts)
	starts = slices.Compact(starts)
	slices.SortFunc(t.calls, func(a, b call) int { return cmp(a.end, b.end) })
	byEnd := slices.Clone(t.ranges)
	slices.SortFunc(byEnd, func(a, b int32) int { return cmp(p.ranges[a].end, p.ranges[b].end) })
	fw := make([]gpuAgg, len(starts)+1) // 1-based, over start ranks from the largest start down
	j := 0
	for _, ri := range byEnd {
		r := &p.ranges[ri]
		for ; j < len(t.calls) && t.calls[j].end <= r.end; j++ {
			c := &t.calls[j]
			k, _ := slices.BinarySearch(starts, c.start)
			add := gpuAgg{n: 1, start: c.op.start, end: c.op.end}
			for i := len(starts) - k; i < len(fw); i += i & -i {
				fw[i] = fw[i].merge(add)
			}
		}
		k, _ := slices.BinarySearch(starts, r.start) // first call start ≥ r.start
		var agg gpuAgg
		for i := len(starts) - k; i > 0; i -= i & -i {
			agg = agg.merge(fw[i])
		}
		r.ops, r.gpuStart, r.gpuEnd = agg.n, agg.start, agg.end
	}
	return scratch
}

// gpuAgg is the GPU span and count of a set of calls.
type gpuAgg struct {
	n          int64
	start, end int64
}

func (a gpuAgg) merge(b gpuAgg) gpuAgg {
	switch {
	case b.n == 0:
		return a
	case a.n == 0:
		return b
	}
	return gpuAgg{n: a.n + b.n, start: min(a.start, b.start), end: max(a.end, b.end)}
}

// scan is project for threads with repeated correlation ids: for each
// range, the calls are walked from the first that starts in it.
func (p *Projector) scan(t *thread, scratch []int64) []int64 {
	slices.SortFunc(t.calls, func(a, b call) int { return cmp(a.start, b.start) })
	for _, ri := range t.ranges {
		r := &p.ranges[ri]
		lo, _ := slices.BinarySearchFunc(t.calls, r.start, func(c call, s int64) int { return cmp(c.start, s) })
		scratch = scratch[:0]
		for j := lo; j < len(t.calls) && t.calls[j].start <= r.end; j++ {
			c := &t.calls[j]
			if c.end > r.end {
				continue
			}
			if len(scratch) == 0 {
				r.gpuStart, r.gpuEnd = c.op.start, c.op.end
			} else {
				r.gpuStart, r.gpuEnd = min(r.gpuStart, c.op.start), max(r.gpuEnd, c.op.end)
			}
			scratch = append(scratch, c.corr)
		}
		slices.Sort(scratch)
		r.ops = int64(len(slices.Compact(scratch)))
	}
	return scratch
}

func cmp(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func column(rec arrow.RecordBatch, name string) (arrow.Array, error) {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) != 1 {
		return nil, fmt.Errorf("nvtxproj: record lacks column %s", name)
	}
	return rec.Column(idx[0]), nil
}

func int64Col(rec arrow.RecordBatch, name string) (*array.Int64, error) {
	c, err := column(rec, name)
	if err != nil {
		return nil, err
	}
	a, ok := c.(*array.Int64)
	if !ok {
		return nil, fmt.Errorf("nvtxproj: column %s is %s, want int64", name, c.DataType())
	}
	return a, nil
}

func int32Col(rec arrow.RecordBatch, name string) (*array.Int32, error) {
	c, err := column(rec, name)
	if err != nil {
		return nil, err
	}
	a, ok := c.(*array.Int32)
	if !ok {
		return nil, fmt.Errorf("nvtxproj: column %s is %s, want int32", name, c.DataType())
	}
	return a, nil
}
