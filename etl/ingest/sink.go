package ingest

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"vitlab/etl/warehouse"
	"vitlab/schemas"
)

// workerSpools are the spools of one load worker: one per table, created
// on the table's first record, that every run the worker loads appends
// to. A worker loads one run at a time, so a run's records of a table are
// consecutive in its spool: one warehouse.Segment.
type workerSpools struct {
	st     *warehouse.Staging
	name   string
	opts   warehouse.SpoolOptions
	spools map[*schemas.Table]*warehouse.Spool
}

func newWorkerSpools(st *warehouse.Staging, worker int, opts warehouse.SpoolOptions) *workerSpools {
	return &workerSpools{st: st, name: "w" + strconv.Itoa(worker), opts: opts, spools: map[*schemas.Table]*warehouse.Spool{}}
}

// spool returns t's spool, creating it on first use.
func (w *workerSpools) spool(t *schemas.Table) (*warehouse.Spool, error) {
	if sp := w.spools[t]; sp != nil {
		return sp, nil
	}
	sp, err := w.st.CreateSpool(t, w.name, w.opts)
	if err != nil {
		return nil, err
	}
	w.spools[t] = sp
	return sp, nil
}

// close closes every spool, which makes them readable.
func (w *workerSpools) close() error {
	var first error
	for _, sp := range w.spools {
		if err := sp.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// runSink is the normalize.Sink of one run: it appends the run's records
// to its worker's spools and keeps, per table, the segment they form.
// Nothing it appends reaches the warehouse unless the run's segments are
// handed to Compact, so a run set aside half way needs no undoing.
type runSink struct {
	w *workerSpools

	mu   sync.Mutex
	segs map[*schemas.Table]warehouse.Segment
	err  error
}

func newRunSink(w *workerSpools) *runSink {
	return &runSink{w: w, segs: map[*schemas.Table]warehouse.Segment{}}
}

// loaderTables are the tables a loader may write.
var loaderTables = map[*schemas.Table]bool{
	schemas.Devices: true, schemas.Kernels: true, schemas.Memcpys: true,
	schemas.Memsets: true, schemas.CudaAPI: true, schemas.NVTX: true,
}

// Write implements normalize.Sink.
func (s *runSink) Write(t *schemas.Table, rec arrow.RecordBatch) error {
	if !loaderTables[t] {
		return fmt.Errorf("ingest: the loader wrote table %s, which is not one of its tables", t.Name)
	}
	return s.write(t, rec)
}

// write appends rec to t's spool and extends the run's segment of t.
func (s *runSink) write(t *schemas.Table, rec arrow.RecordBatch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if rec.NumRows() == 0 {
		return nil
	}
	sp, err := s.w.spool(t)
	if err != nil {
		s.err = err
		return err
	}
	i, err := sp.Append(rec)
	if err != nil {
		s.err = err
		return err
	}
	sg, ok := s.segs[t]
	switch {
	case !ok:
		sg = warehouse.Segment{Spool: sp, First: i}
	case sg.First+sg.Count != i:
		// Another run appended in between: the worker's one-run-at-a-time
		// rule was broken.
		s.err = fmt.Errorf("ingest: %s: record %d of a run does not follow its record %d", sp.Path(), i, sg.First+sg.Count-1)
		return s.err
	}
	sg.Count++
	sg.Rows += rec.NumRows()
	s.segs[t] = sg
	return nil
}

// rows returns the rows of t written so far.
func (s *runSink) rows(t *schemas.Table) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.segs[t].Rows
}

// segments returns the run's segments by table; the sink takes no more
// records.
func (s *runSink) segments() map[*schemas.Table]warehouse.Segment {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = fmt.Errorf("ingest: sink closed")
	return s.segs
}
