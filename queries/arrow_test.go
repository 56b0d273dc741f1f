package queries

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"vitlab/queries/duck"
)

// arrowFixture opens the fixture warehouse for the Arrow tests (skipped
// without the duckdb_arrow tag, where RunArrow answers duck.ErrNoArrow) and
// returns every saved query and check of its catalog.
func arrowFixture(t *testing.T) (context.Context, *Warehouse, []*Query) {
	t.Helper()
	if !duck.ArrowAvailable {
		t.Skip("built without the duckdb_arrow tag (make test sets it): RunArrow answers duck.ErrNoArrow")
	}
	wh, err := fixtureWarehouse()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w, err := Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	cat := w.Catalog()
	return ctx, w, append(append([]*Query{}, cat.Queries...), cat.Checks...)
}

// TestRunArrowEqualsRun runs every saved query and check over the fixture
// warehouse both ways — rows through database/sql (Run) and Arrow record
// batches (RunArrow) — and compares names, row counts, order and every
// cell of a number, text or boolean column.
func TestRunArrowEqualsRun(t *testing.T) {
	ctx, w, all := arrowFixture(t)
	cells := 0
	for _, q := range all {
		want, err := w.Run(ctx, q, nil)
		if err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		var got [][]any
		var compare []bool
		schema, err := w.RunArrow(ctx, q, nil, func(rec arrow.RecordBatch) error {
			if compare == nil {
				for _, f := range rec.Schema().Fields() {
					compare = append(compare, plainArrow(f.Type))
				}
			}
			for i := 0; i < int(rec.NumRows()); i++ {
				row := make([]any, rec.NumCols())
				for j, col := range rec.Columns() {
					if compare[j] && !col.IsNull(i) {
						row[j] = arrowCell(col, i)
					}
				}
				got = append(got, row)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		if len(schema.Fields()) != len(want.Columns) {
			t.Fatalf("%s: %d Arrow columns, %d by Run", q.Name, len(schema.Fields()), len(want.Columns))
		}
		for j, f := range schema.Fields() {
			if f.Name != want.Columns[j].Name {
				t.Errorf("%s: column %d is %q in Arrow, %q by Run", q.Name, j, f.Name, want.Columns[j].Name)
			}
		}
		if len(got) != len(want.Rows) {
			t.Fatalf("%s: %d rows as Arrow, %d by Run", q.Name, len(got), len(want.Rows))
		}
		for i, row := range want.Rows {
			for j, v := range row {
				if !compare[j] {
					continue
				}
				cells++
				if !arrowSameCell(got[i][j], v) {
					t.Fatalf("%s: row %d column %s: Arrow %v (%T), Run %v (%T)", q.Name, i, want.Columns[j].Name, got[i][j], got[i][j], v, v)
				}
			}
		}
	}
	if cells == 0 {
		t.Fatal("no cell compared")
	}
	t.Logf("%d saved queries and checks, %d cells equal", len(all), cells)
}

func plainArrow(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64, arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW, arrow.BOOL:
		return true
	}
	return false
}

func arrowCell(col arrow.Array, i int) any {
	switch a := col.(type) {
	case *array.Int8:
		return int64(a.Value(i))
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int64:
		return a.Value(i)
	case *array.Uint8:
		return int64(a.Value(i))
	case *array.Uint16:
		return int64(a.Value(i))
	case *array.Uint32:
		return int64(a.Value(i))
	case *array.Uint64:
		return a.Value(i)
	case *array.Float32:
		return float64(a.Value(i))
	case *array.Float64:
		return a.Value(i)
	case *array.String:
		return strings.Clone(a.Value(i)) // the batch's buffers go with it
	case *array.LargeString:
		return strings.Clone(a.Value(i)) // the batch's buffers go with it
	case *array.StringView:
		return strings.Clone(a.Value(i)) // the batch's buffers go with it
	case *array.Boolean:
		return a.Value(i)
	}
	return fmt.Sprintf("unexpected %T", col)
}

func arrowSameCell(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	case uint64:
		return fmt.Sprint(x) == fmt.Sprint(b)
	}
	return a == b
}

// TestArrowCSVEqualsRows writes every saved query and check over the
// fixture warehouse as CSV both ways — rows through database/sql into
// NewCSVWriter, and Arrow record batches into ArrowCSV — and wants the
// same bytes (queries whose columns ArrowCSV does not render are written
// from rows by vitlab query, and counted here).
func TestArrowCSVEqualsRows(t *testing.T) {
	ctx, w, all := arrowFixture(t)
	written, other := 0, 0
	for _, q := range all {
		var rows strings.Builder
		var rw RowWriter
		if err := w.RunEach(ctx, q, nil, func(c []duck.Column) error {
			rw = NewCSVWriter(&rows, c)
			return nil
		}, func(r []any) error { return rw.Row(r) }); err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		if err := rw.Close(); err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		var ac *ArrowCSV
		ok := true
		schema, err := w.RunArrow(ctx, q, nil, func(rec arrow.RecordBatch) error {
			if ac == nil {
				if ac, ok = NewArrowCSV(&got, rec.Schema()); !ok {
					return errSkip
				}
			}
			return ac.Write(rec)
		})
		if err != nil && !errors.Is(err, errSkip) {
			t.Fatalf("%s: %v", q.Name, err)
		}
		if ok && ac == nil {
			ac, ok = NewArrowCSV(&got, schema)
		}
		if !ok {
			other++
			continue
		}
		if err := ac.Close(); err != nil {
			t.Fatal(err)
		}
		written++
		if got.String() != rows.String() {
			g, r := got.String(), rows.String()
			i := 0
			for i < min(len(g), len(r)) && g[i] == r[i] {
				i++
			}
			t.Errorf("%s: Arrow CSV differs at byte %d of %d:\n got  %.120q\n rows %.120q", q.Name, i, len(r), g[i:], r[i:])
		}
	}
	if written < 10 {
		t.Fatalf("%d queries written through Arrow, %d from rows", written, other)
	}
	t.Logf("%d queries and checks byte-identical through Arrow, %d with a column type it leaves to rows", written, other)
}

var errSkip = errors.New("a column ArrowCSV does not render")

// TestArrowTableEqualsRows writes every saved query and check over the
// fixture warehouse as a table both ways — rows into NewTableWriter, and
// Arrow record batches into ArrowTable — and wants the same text: sized on
// every row, and sized on the first two (the rest streamed).
func TestArrowTableEqualsRows(t *testing.T) {
	ctx, w, all := arrowFixture(t)
	written, streamed := 0, 0
	for _, opt := range []TableOptions{{MaxWidth: 80, Width: 120, Whole: "w"}, {MaxWidth: 80, SizeRows: 2}} {
		for _, q := range all {
			var rows strings.Builder
			var tw *TableWriter
			n := 0
			if err := w.RunEach(ctx, q, nil, func(c []duck.Column) error {
				tw = NewTableWriter(&rows, c, opt)
				return nil
			}, func(r []any) error {
				n++
				return tw.Row(r)
			}); err != nil {
				t.Fatalf("%s: %v", q.Name, err)
			}
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			var at *ArrowTable
			ok := true
			schema, err := w.RunArrow(ctx, q, nil, func(rec arrow.RecordBatch) error {
				if at == nil {
					if at, ok = NewArrowTable(&got, rec.Schema(), opt); !ok {
						return errSkip
					}
				}
				return at.Write(rec)
			})
			if err != nil && !errors.Is(err, errSkip) {
				t.Fatalf("%s: %v", q.Name, err)
			}
			if ok && at == nil {
				at, ok = NewArrowTable(&got, schema, opt)
			}
			if !ok {
				continue
			}
			if err := at.Close(); err != nil {
				t.Fatal(err)
			}
			written++
			if opt.SizeRows > 0 && n > opt.SizeRows {
				streamed++
			}
			if got.String() != rows.String() {
				t.Errorf("%s (%+v): the table from Arrow differs:\n%s\nfrom rows:\n%s", q.Name, opt, got.String(), rows.String())
			}
		}
	}
	if written < 20 || streamed < 5 {
		t.Fatalf("%d tables written through Arrow, %d of them streamed", written, streamed)
	}
	t.Logf("%d tables identical through Arrow, %d streamed past their first rows", written, streamed)
}
