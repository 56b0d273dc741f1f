//go:build !duckdb_arrow

package duck

import (
	"context"
	"errors"

	"github.com/apache/arrow-go/v18/arrow"
)

// ArrowAvailable says whether this build hands answers over as Arrow record
// batches: not without the duckdb_arrow build tag (make sets it; a plain
// go build or go test does not).
const ArrowAvailable = false

// ErrNoArrow is QueryArrow's answer in a build without duckdb_arrow.
var ErrNoArrow = errors.New("duck: built without the duckdb_arrow tag: no Arrow answers (build with make, or go build -tags duckdb_arrow)")

// QueryArrow needs the duckdb_arrow build tag; without it, it returns
// ErrNoArrow.
func (d *DB) QueryArrow(ctx context.Context, query string, fn func(arrow.RecordBatch) error) (*arrow.Schema, error) {
	return nil, ErrNoArrow
}
