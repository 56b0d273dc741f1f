package queries

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"

	"vitlab/queries/duck"
)

// RecordWriter writes an answer from its Arrow record batches (ArrowCSV,
// ArrowTable).
type RecordWriter interface {
	Write(arrow.RecordBatch) error
	Close() error
}

// WriteRecords runs q like RunArrow and writes its answer through the
// writer open makes for its schema; done is false, with nothing written,
// when open says a column has a type the writer leaves to rows (write the
// answer's rows instead). check (nil: none) runs before the writer is
// closed, with the answer's columns and row count: an error from it is
// returned and the writer is not closed (an empty answer has written
// nothing yet).
//
// The batches are written by a second goroutine while DuckDB reads and
// converts the next ones (or the next part of a derived answer): at 100x
// the sample, nsys_nvtx_kern_sum's read and its CSV took about as long as
// each other. At most recordQueue batches wait.
func (w *Warehouse) WriteRecords(ctx context.Context, q *Query, args map[string]string,
	open func(*arrow.Schema) (RecordWriter, bool), check func(cols []string, rows int64) error) (done bool, err error) {
	var rw RecordWriter
	ok := true
	var rows int64
	recs := make(chan arrow.RecordBatch, recordQueue)
	failed := make(chan struct{}) // closed when a write fails (werr)
	ended := make(chan struct{})  // closed when the writer has ended
	var werr error
	started := false
	start := func() {
		started = true
		go func() {
			defer close(ended)
			for rec := range recs {
				if werr == nil {
					if werr = rw.Write(rec); werr != nil {
						close(failed)
					}
				}
				rec.Release()
			}
		}()
	}
	schema, err := w.RunArrow(ctx, q, args, func(rec arrow.RecordBatch) error {
		if rw == nil {
			if rw, ok = open(rec.Schema()); !ok {
				return errRowsNeeded
			}
			start()
		}
		if rec.NumRows() == 0 {
			return nil // (an empty answer writes nothing before check)
		}
		rows += rec.NumRows()
		rec.Retain()
		select {
		case recs <- rec:
			return nil
		case <-failed:
			rec.Release()
			return errWriteFailed
		}
	})
	close(recs)
	if started {
		<-ended
		if werr != nil && (err == nil || errors.Is(err, errWriteFailed)) {
			err = werr
		}
	}
	if errors.Is(err, errRowsNeeded) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	if rw == nil {
		if rw, ok = open(schema); !ok {
			return false, nil
		}
	}
	if check != nil {
		var cols []string
		for _, f := range schema.Fields() {
			cols = append(cols, f.Name)
		}
		if err := check(cols, rows); err != nil {
			return true, err
		}
	}
	return true, rw.Close()
}

// errWriteFailed stops a query whose output could not be written (the
// writer's error is returned instead).
var errWriteFailed = errors.New("record write failed")

// errRowsNeeded: the answer has a column the record writer does not render.
var errRowsNeeded = errors.New("a column type the record writer leaves to rows")

// recordQueue is how many record batches wait for WriteRecords' writer:
// DuckDB hands on a derived answer's part (64k rows) only once it has read
// all of it, in batches of 2,048 rows, so with 2 batches the reader waited
// for the writer to take nearly the whole part before it could read the
// next, and the two took turns. 24 lets the writer hold most of a part
// while the next is read: nsys_nvtx_kern_sum as CSV at 100x the sample
// (1.88M rows, 2 CPUs) 2.1 s -> 1.3-1.6 s with the checked order of
// readKeyed (16: 1.7-2.1 s; 40: 1.4-1.7 s), peak RSS ~275 -> ~326 MB.
const recordQueue = 24

// WriteCSV writes q's answer to dst as CSV, as `vitlab query --format csv`
// prints it: from Arrow record batches (ArrowCSV, WriteRecords) where
// every column has a type ArrowCSV renders, else row by row (NewCSVWriter,
// RunEach), the same bytes either way. It returns the answer's rows.
func (w *Warehouse) WriteCSV(ctx context.Context, q *Query, args map[string]string, dst io.Writer) (rows int64, err error) {
	if duck.ArrowAvailable {
		done, err := w.WriteRecords(ctx, q, args, func(s *arrow.Schema) (RecordWriter, bool) {
			return NewArrowCSV(dst, s)
		}, func(_ []string, n int64) error {
			rows = n
			return nil
		})
		if done || err != nil {
			return rows, err
		}
	}
	var rw RowWriter
	rows = 0
	err = w.RunEach(ctx, q, args, func(c []duck.Column) error {
		rw = NewCSVWriter(dst, c)
		return nil
	}, func(row []any) error {
		rows++
		return rw.Row(row)
	})
	if err != nil {
		return 0, err
	}
	return rows, rw.Close()
}

// RunCSV runs a saved query like Run, writes every row of its answer to
// path as CSV (WriteCSV: the bytes of `vitlab query --format csv`), and
// returns its first limit rows and the number of rows written: no table
// holds a big answer whole (1.88M rows of nsys_nvtx_kern_sum at 100x the
// sample, read a part at a time).
func (w *Warehouse) RunCSV(ctx context.Context, q *Query, args map[string]string, path string, limit int) (*duck.Result, int, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, 0, err
	}
	total, err := w.WriteCSV(ctx, q, args, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, 0, err
	}
	res, err := w.firstRows(ctx, q, args, limit)
	if err != nil {
		return nil, 0, err
	}
	return res, int(total), nil
}
