package parquetout

import (
	"bufio"
	"errors"
	"fmt"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"vitlab/schemas"
)

// Defaults of Options.
const (
	DefaultMaxRowGroupRows  = 256 << 10
	DefaultMaxRowGroupBytes = 32 << 20
	// zstdLevel is a fast level: ingest is CPU-bound and the warehouse
	// is small next to the exports it comes from.
	zstdLevel = 3
)

// Options tune a Writer. The zero value is the default.
type Options struct {
	// Allocator for Arrow and Parquet buffers (default memory.DefaultAllocator).
	Allocator memory.Allocator
	// MaxRowGroupRows caps the rows of a row group (default 256Ki).
	MaxRowGroupRows int64
	// MaxRowGroupBytes starts a new row group once the current one holds
	// this many encoded bytes in memory (default 32 MiB): it bounds the
	// memory of a writer whose rows are wide.
	MaxRowGroupBytes int64
	// CreatedBy goes into the file's footer (default "vitlab").
	CreatedBy string
	// NoSync skips the fsync on Close, for scratch files whose durability
	// is someone else's business (the warehouse fsyncs the parts it
	// commits; staged files die with a crash anyway).
	NoSync bool
}

func (o Options) withDefaults() Options {
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	if o.MaxRowGroupRows <= 0 {
		o.MaxRowGroupRows = DefaultMaxRowGroupRows
	}
	if o.MaxRowGroupBytes <= 0 {
		o.MaxRowGroupBytes = DefaultMaxRowGroupBytes
	}
	if o.CreatedBy == "" {
		o.CreatedBy = "vitlab"
	}
	return o
}

// Writer writes the records of one table to one new Parquet file. It is not
// safe for concurrent use.
type Writer struct {
	table  *schemas.Table
	path   string
	opts   Options
	out    *syncFile
	fw     *pqarrow.FileWriter
	rows   int64
	closed bool
	err    error // first write error; Close reports it

	// Small records wait here (retained) until they add up to
	// gatherRows rows, then go to the Parquet writer as one record.
	pending     []arrow.RecordBatch
	pendingRows int64
}

// gatherRows is the size up to which Write gathers small records before it
// hands them to the Parquet writer: each hand-over costs a few
// microseconds per column, which dominated writing the tens-of-rows
// records of small exports.
const gatherRows = 4096

// Create creates (or truncates) path and returns a Writer for records of
// table t. The caller must Close or Abort it.
func Create(path string, t *schemas.Table, opts Options) (*Writer, error) {
	opts = opts.withDefaults()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("parquetout: %w", err)
	}
	out := &syncFile{f: f, w: bufio.NewWriterSize(f, 64<<10), noSync: opts.NoSync}
	fw, err := pqarrow.NewFileWriter(t.Schema(), out, writerProps(t, opts),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(opts.Allocator)))
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("parquetout: %s: %w", path, err)
	}
	return &Writer{table: t, path: path, opts: opts, out: out, fw: fw}, nil
}

// writerProps are the Parquet settings of every warehouse file.
func writerProps(t *schemas.Table, opts Options) *parquet.WriterProperties {
	props := []parquet.WriterProperty{
		parquet.WithAllocator(opts.Allocator),
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(zstdLevel),
		parquet.WithDictionaryDefault(false),
		parquet.WithMaxRowGroupLength(opts.MaxRowGroupRows),
		parquet.WithStats(true),
		parquet.WithDataPageSize(256 << 10),
		parquet.WithCreatedBy(opts.CreatedBy),
	}
	for _, c := range t.Columns {
		if c.Type.ID() == arrow.STRING {
			props = append(props, parquet.WithDictionaryFor(c.Name, true))
		}
	}
	return parquet.NewWriterProperties(props...)
}

// Table returns the table the writer writes.
func (w *Writer) Table() *schemas.Table { return w.table }

// Path returns the file's path.
func (w *Writer) Path() string { return w.path }

// Rows returns the rows written so far.
func (w *Writer) Rows() int64 { return w.rows }

// Write appends rec, which must have the table's schema. A record of
// fewer than 4096 rows may be kept (retained, not copied) and written
// later with the next ones as one; Close writes what is left, and an error
// writing it comes from a later Write or Close.
func (w *Writer) Write(rec arrow.RecordBatch) error {
	if w.closed {
		return fmt.Errorf("parquetout: %s: write after close", w.path)
	}
	if w.err != nil {
		return w.err
	}
	if !rec.Schema().Equal(w.table.Schema()) {
		w.err = fmt.Errorf("parquetout: %s: record does not have the schema of table %s: %s",
			w.path, w.table.Name, rec.Schema())
		return w.err
	}
	n := rec.NumRows()
	if n == 0 {
		return nil
	}
	w.rows += n
	if n >= gatherRows {
		if err := w.flushPending(); err != nil {
			return err
		}
		return w.write(rec)
	}
	rec.Retain()
	w.pending = append(w.pending, rec)
	w.pendingRows += n
	if w.pendingRows >= gatherRows {
		return w.flushPending()
	}
	return nil
}

// flushPending writes the gathered records as one.
func (w *Writer) flushPending() error {
	if len(w.pending) == 0 {
		return nil
	}
	defer w.releasePending()
	if len(w.pending) == 1 {
		return w.write(w.pending[0])
	}
	cols := make([]arrow.Array, len(w.table.Columns))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	parts := make([]arrow.Array, len(w.pending))
	for i := range cols {
		for j, r := range w.pending {
			parts[j] = r.Column(i)
		}
		c, err := array.Concatenate(parts, w.opts.Allocator)
		if err != nil {
			w.err = fmt.Errorf("parquetout: %s: %w", w.path, err)
			return w.err
		}
		cols[i] = c
	}
	rec := array.NewRecordBatch(w.table.Schema(), cols, w.pendingRows)
	defer rec.Release()
	return w.write(rec)
}

func (w *Writer) releasePending() {
	for _, r := range w.pending {
		r.Release()
	}
	clear(w.pending)
	w.pending, w.pendingRows = w.pending[:0], 0
}

// write hands rec to the Parquet writer and starts a new row group once
// the current one holds MaxRowGroupBytes.
func (w *Writer) write(rec arrow.RecordBatch) error {
	if err := w.fw.WriteBuffered(rec); err != nil {
		w.err = fmt.Errorf("parquetout: %s: %w", w.path, err)
		return w.err
	}
	if w.fw.RowGroupTotalCompressedBytes()+w.fw.RowGroupTotalBytesWritten() >= w.opts.MaxRowGroupBytes {
		if err := w.fw.NewBufferedRowGroupChecked(); err != nil {
			w.err = fmt.Errorf("parquetout: %s: %w", w.path, err)
			return w.err
		}
	}
	return nil
}

// Close writes the footer, fsyncs (unless Options.NoSync) and closes the
// file. After an earlier
// write error it closes the file and returns that error; the file is then
// incomplete and the caller should remove it (or call Abort instead).
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err == nil {
		w.flushPending()
	}
	w.releasePending()
	if w.err != nil {
		w.out.discard()
		w.fw.Close() // releases its buffers; nothing more reaches the file
		return w.err
	}
	// FileWriter.Close writes the footer and then closes out, which flushes
	// the buffer and fsyncs.
	if err := w.fw.Close(); err != nil {
		w.out.discard()
		w.err = fmt.Errorf("parquetout: %s: %w", w.path, err)
		return w.err
	}
	if w.out.err != nil {
		w.err = fmt.Errorf("parquetout: %s: %w", w.path, w.out.err)
		return w.err
	}
	return nil
}

// Abort closes the writer without completing the file and removes it.
func (w *Writer) Abort() error {
	if !w.closed {
		w.closed = true
		w.releasePending()
		w.fw.Close() // releases buffers; its error is moot, the file goes
		w.out.discard()
	}
	if err := os.Remove(w.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("parquetout: %w", err)
	}
	return nil
}

// syncFile is the io.Writer handed to the Parquet writer: buffered writes,
// and a Close (called by pqarrow's FileWriter.Close) that flushes, fsyncs
// and closes the file.
type syncFile struct {
	f      *os.File
	w      *bufio.Writer
	noSync bool
	closed bool
	err    error
}

func (s *syncFile) Write(p []byte) (int, error) {
	if s.closed {
		return 0, os.ErrClosed
	}
	n, err := s.w.Write(p)
	if err != nil && s.err == nil {
		s.err = err
	}
	return n, err
}

func (s *syncFile) Close() error {
	if s.closed {
		return s.err
	}
	s.closed = true
	if err := s.w.Flush(); err != nil && s.err == nil {
		s.err = err
	}
	if s.err == nil && !s.noSync {
		if err := s.f.Sync(); err != nil {
			s.err = err
		}
	}
	if err := s.f.Close(); err != nil && s.err == nil {
		s.err = err
	}
	return s.err
}

// discard closes the file without flushing.
func (s *syncFile) discard() {
	if !s.closed {
		s.closed = true
		s.f.Close()
	}
}
