package ingest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"vitlab/etl/parquetout"
	"vitlab/etl/warehouse"
	"vitlab/schemas"
)

// stageSink is the normalize.Sink of one run: one staged Parquet file per
// table, created on the table's first record and streamed to, so a run
// holds at most one row group per table in memory.
type stageSink struct {
	dir  string
	opts parquetout.Options

	mu      sync.Mutex
	writers map[string]*parquetout.Writer
	order   []*schemas.Table
	err     error
}

func newStageSink(dir string, opts parquetout.Options) (*stageSink, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return &stageSink{dir: dir, opts: opts, writers: map[string]*parquetout.Writer{}}, nil
}

// loaderTables are the tables a loader may write.
var loaderTables = map[*schemas.Table]bool{
	schemas.Devices: true, schemas.Kernels: true, schemas.Memcpys: true,
	schemas.Memsets: true, schemas.CudaAPI: true, schemas.NVTX: true,
}

// Write implements normalize.Sink.
func (s *stageSink) Write(t *schemas.Table, rec arrow.RecordBatch) error {
	if !loaderTables[t] {
		return fmt.Errorf("ingest: the loader wrote table %s, which is not one of its tables", t.Name)
	}
	return s.write(t, rec)
}

// write appends rec to t's staged file.
func (s *stageSink) write(t *schemas.Table, rec arrow.RecordBatch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	w := s.writers[t.Name]
	if w == nil {
		var err error
		w, err = parquetout.Create(filepath.Join(s.dir, t.Name+".parquet"), t, s.opts)
		if err != nil {
			s.err = err
			return err
		}
		s.writers[t.Name] = w
		s.order = append(s.order, t)
	}
	if err := w.Write(rec); err != nil {
		s.err = err
		return err
	}
	return nil
}

// rows returns the rows written to t so far.
func (s *stageSink) rows(t *schemas.Table) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.writers[t.Name]; w != nil {
		return w.Rows()
	}
	return 0
}

// close completes (and fsyncs) every staged file and returns them by table.
func (s *stageSink) close() (map[string]warehouse.StagedFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	out := map[string]warehouse.StagedFile{}
	for _, t := range s.order {
		w := s.writers[t.Name]
		if err := w.Close(); err != nil {
			s.err = err
			return nil, err
		}
		if w.Rows() > 0 {
			out[t.Name] = warehouse.StagedFile{Path: w.Path(), Rows: w.Rows()}
		}
	}
	s.err = errors.New("ingest: sink closed")
	return out, nil
}

// abort discards everything the run staged.
func (s *stageSink) abort() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, w := range s.writers {
		errs = append(errs, w.Abort())
	}
	s.err = errors.New("ingest: sink aborted")
	errs = append(errs, os.RemoveAll(s.dir))
	return errors.Join(errs...)
}
