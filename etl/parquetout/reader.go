package parquetout

import (
	"context"
	"fmt"
	"iter"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// DefaultBatchRows is the rows per record a Reader yields by default.
const DefaultBatchRows = 64 << 10

// streamAbove is the file size above which a Reader streams column chunks
// instead of reading each whole.
const streamAbove = 32 << 20

// ReadOptions tune a Reader. The zero value is the default.
type ReadOptions struct {
	// Allocator for the records (default memory.DefaultAllocator).
	Allocator memory.Allocator
	// BatchRows is the rows per record (default 64Ki).
	BatchRows int64
}

// Reader reads one Parquet file back as Arrow records, streaming: it holds
// one record at a time and, per column, one column chunk (files up to
// 32 MiB) or a 1 MiB buffer (bigger files).
type Reader struct {
	path   string
	opts   ReadOptions
	pf     *file.Reader
	fr     *pqarrow.FileReader
	schema *arrow.Schema
}

// Open opens a Parquet file written by a Writer (or any Parquet file).
func Open(path string, opts ReadOptions) (*Reader, error) {
	if opts.Allocator == nil {
		opts.Allocator = memory.DefaultAllocator
	}
	if opts.BatchRows <= 0 {
		opts.BatchRows = DefaultBatchRows
	}
	props := parquet.NewReaderProperties(opts.Allocator)
	// A column chunk is read whole unless the file is big: then through a
	// buffer, so memory stays bounded whatever the row group size.
	if fi, err := os.Stat(path); err == nil && fi.Size() > streamAbove {
		props.BufferedStreamEnabled = true
		props.BufferSize = 1 << 20
	}
	pf, err := file.OpenParquetFile(path, false, file.WithReadProps(props))
	if err != nil {
		return nil, fmt.Errorf("parquetout: %s: %w", path, err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: opts.BatchRows}, opts.Allocator)
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("parquetout: %s: %w", path, err)
	}
	sc, err := fr.Schema()
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("parquetout: %s: schema: %w", path, err)
	}
	return &Reader{path: path, opts: opts, pf: pf, fr: fr, schema: withoutFieldMetadata(sc)}, nil
}

// withoutFieldMetadata drops the per-field metadata the Parquet reader adds
// (PARQUET:field_id), so the schema of a warehouse file equals its table's.
func withoutFieldMetadata(sc *arrow.Schema) *arrow.Schema {
	fields := sc.Fields()
	for i := range fields {
		fields[i].Metadata = arrow.Metadata{}
	}
	md := sc.Metadata()
	return arrow.NewSchema(fields, &md)
}

// Schema returns the file's Arrow schema (the stored one when the file has
// it) with the file's key-value metadata; the records of Records have it.
func (r *Reader) Schema() *arrow.Schema { return r.schema }

// NumRows returns the rows of the file, from its footer.
func (r *Reader) NumRows() int64 { return r.pf.NumRows() }

// NumRowGroups returns the row groups of the file.
func (r *Reader) NumRowGroups() int { return r.pf.NumRowGroups() }

// RowGroupRows returns the rows of row group i.
func (r *Reader) RowGroupRows(i int) int64 { return r.pf.MetaData().RowGroup(i).NumRows() }

// CreatedBy returns the writer named in the file's footer.
func (r *Reader) CreatedBy() string { return r.pf.MetaData().GetCreatedBy() }

// ColumnCompression returns the compression codec name of column col in row
// group rg (e.g. "ZSTD"), and whether that chunk has a dictionary page.
func (r *Reader) ColumnCompression(rg, col int) (codec string, dict bool, err error) {
	cc, err := r.pf.MetaData().RowGroup(rg).ColumnChunk(col)
	if err != nil {
		return "", false, fmt.Errorf("parquetout: %s: %w", r.path, err)
	}
	return cc.Compression().String(), cc.HasDictionaryPage(), nil
}

// Records yields the file's rows as records of at most BatchRows rows. A
// record is valid only until the loop body returns; Retain it to keep it.
// Iteration stops at the first error, which it yields with a nil record.
func (r *Reader) Records(ctx context.Context) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		if r.pf.NumRowGroups() == 0 {
			return
		}
		rr, err := r.fr.GetRecordReader(ctx, nil, nil)
		if err != nil {
			yield(nil, fmt.Errorf("parquetout: %s: %w", r.path, err))
			return
		}
		defer rr.Release()
		for rr.Next() {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			rec := array.NewRecordBatch(r.schema, rr.RecordBatch().Columns(), rr.RecordBatch().NumRows())
			ok := yield(rec, nil)
			rec.Release()
			if !ok {
				return
			}
		}
		if err := rr.Err(); err != nil {
			yield(nil, fmt.Errorf("parquetout: %s: %w", r.path, err))
		}
	}
}

// Close closes the file.
func (r *Reader) Close() error {
	if err := r.pf.Close(); err != nil {
		return fmt.Errorf("parquetout: %s: %w", r.path, err)
	}
	return nil
}
