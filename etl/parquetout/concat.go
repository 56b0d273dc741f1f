package parquetout

import (
	"context"
	"errors"
	"fmt"

	"vitlab/schemas"
)

// Concat writes the rows of the Parquet files srcs, in order, into a new
// file dst of table t, streaming one record at a time. Every source must
// have t's columns (same names, types and order). It returns the rows
// written; on error dst is removed.
func Concat(ctx context.Context, dst string, t *schemas.Table, srcs []string, opts Options) (int64, error) {
	w, err := Create(dst, t, opts)
	if err != nil {
		return 0, err
	}
	for _, src := range srcs {
		if err := copyInto(ctx, w, src, opts); err != nil {
			return 0, errors.Join(err, w.Abort())
		}
	}
	if err := w.Close(); err != nil {
		return 0, errors.Join(err, w.Abort())
	}
	return w.Rows(), nil
}

func copyInto(ctx context.Context, w *Writer, src string, opts Options) error {
	r, err := Open(src, ReadOptions{Allocator: opts.Allocator})
	if err != nil {
		return err
	}
	defer r.Close()
	if !r.Schema().Equal(w.Table().Schema()) {
		return fmt.Errorf("parquetout: %s: columns differ from table %s", src, w.Table().Name)
	}
	before := w.Rows()
	for rec, err := range r.Records(ctx) {
		if err != nil {
			return err
		}
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	if got := w.Rows() - before; got != r.NumRows() {
		return fmt.Errorf("parquetout: %s: read %d rows, footer says %d", src, got, r.NumRows())
	}
	return nil
}
