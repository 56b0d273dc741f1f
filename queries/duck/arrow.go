//go:build duckdb_arrow

package duck

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	duckdb "github.com/duckdb/duckdb-go/v2"
)

// ArrowAvailable says whether this build hands answers over as Arrow record
// batches (the duckdb_arrow build tag, which the Makefile sets).
const ArrowAvailable = true

// QueryArrow runs query and calls fn with each record batch of its answer,
// in order, through DuckDB's Arrow interface: values are converted chunk by
// chunk into Arrow arrays instead of one boxed Go value per cell (Query),
// which is what a 1.8M-row answer costs most in Go. A batch is valid only
// during its call (Retain it to keep it). It returns the answer's schema.
func (d *DB) QueryArrow(ctx context.Context, query string, fn func(arrow.RecordBatch) error) (*arrow.Schema, error) {
	var schema *arrow.Schema
	err := d.conn.Raw(func(dc any) error {
		c, ok := dc.(*duckdb.Conn)
		if !ok {
			return fmt.Errorf("not a DuckDB connection: %T", dc)
		}
		ar, err := duckdb.NewArrowFromConn(c)
		if err != nil {
			return err
		}
		rr, err := ar.QueryContext(ctx, query)
		if err != nil {
			return err
		}
		defer rr.Release()
		schema = rr.Schema()
		for rr.Next() {
			if err := fn(rr.RecordBatch()); err != nil {
				return err
			}
		}
		return rr.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("duck: %w", err)
	}
	return schema, nil
}

// ErrNoArrow is QueryArrow's answer in a build without duckdb_arrow (never
// returned by this one).
var ErrNoArrow = errors.New("duck: built without the duckdb_arrow tag")
