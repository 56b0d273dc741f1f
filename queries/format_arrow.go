package queries

import (
	"encoding/csv"
	"io"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"vitlab/queries/duck"
)

// ArrowCSV writes an answer handed over as Arrow record batches
// (Warehouse.RunArrow) as CSV, byte for byte as NewCSVWriter writes its
// rows: each cell as FormatValue renders the value database/sql gives,
// without that value (a 1.8M-row answer spent most of its time boxing
// and converting cells one by one).
type ArrowCSV struct {
	cw    *csv.Writer
	names []string
	cells []func(arrow.Array, int) string
	rec   []string
	head  bool
}

// NewArrowCSV returns an ArrowCSV writing to w an answer of schema s, and
// false when a column has a type it does not render (timestamps, lists,
// …): write the answer's rows instead.
func NewArrowCSV(w io.Writer, s *arrow.Schema) (*ArrowCSV, bool) {
	a := &ArrowCSV{cw: csv.NewWriter(w)}
	for _, f := range s.Fields() {
		cell := csvCellOf(f.Type)
		if cell == nil {
			return nil, false
		}
		a.names = append(a.names, f.Name)
		a.cells = append(a.cells, cell)
	}
	a.rec = make([]string, len(a.cells))
	return a, true
}

// csvCellOf renders a non-null cell of an array of type t as FormatValue
// renders what duck.DB.Each gives for it; nil for a type it does not
// render.
func csvCellOf(t arrow.DataType) func(arrow.Array, int) string {
	switch t.ID() {
	case arrow.INT8:
		return func(a arrow.Array, i int) string { return strconv.FormatInt(int64(a.(*array.Int8).Value(i)), 10) }
	case arrow.INT16:
		return func(a arrow.Array, i int) string { return strconv.FormatInt(int64(a.(*array.Int16).Value(i)), 10) }
	case arrow.INT32:
		return func(a arrow.Array, i int) string { return strconv.FormatInt(int64(a.(*array.Int32).Value(i)), 10) }
	case arrow.INT64:
		return func(a arrow.Array, i int) string { return strconv.FormatInt(a.(*array.Int64).Value(i), 10) }
	case arrow.UINT8:
		return func(a arrow.Array, i int) string { return strconv.FormatUint(uint64(a.(*array.Uint8).Value(i)), 10) }
	case arrow.UINT16:
		return func(a arrow.Array, i int) string { return strconv.FormatUint(uint64(a.(*array.Uint16).Value(i)), 10) }
	case arrow.UINT32:
		return func(a arrow.Array, i int) string { return strconv.FormatUint(uint64(a.(*array.Uint32).Value(i)), 10) }
	case arrow.UINT64: // an int64, or a *big.Int above MaxInt64: the same digits
		return func(a arrow.Array, i int) string { return strconv.FormatUint(a.(*array.Uint64).Value(i), 10) }
	case arrow.FLOAT32:
		return func(a arrow.Array, i int) string {
			return strconv.FormatFloat(float64(a.(*array.Float32).Value(i)), 'f', -1, 64)
		}
	case arrow.FLOAT64:
		return func(a arrow.Array, i int) string {
			return strconv.FormatFloat(a.(*array.Float64).Value(i), 'f', -1, 64)
		}
	case arrow.BOOL:
		return func(a arrow.Array, i int) string { return strconv.FormatBool(a.(*array.Boolean).Value(i)) }
	case arrow.STRING:
		return func(a arrow.Array, i int) string { return a.(*array.String).Value(i) }
	case arrow.LARGE_STRING:
		return func(a arrow.Array, i int) string { return a.(*array.LargeString).Value(i) }
	case arrow.STRING_VIEW:
		return func(a arrow.Array, i int) string { return a.(*array.StringView).Value(i) }
	case arrow.DECIMAL128: // DECIMAL, and HUGEINT as DECIMAL(38, 0): the same digits
		scale := int(t.(*arrow.Decimal128Type).Scale)
		return func(a arrow.Array, i int) string {
			n := a.(*array.Decimal128).Value(i)
			if hi, lo := n.HighBits(), n.LowBits(); (hi == 0 && lo < 1<<63) || (hi == -1 && lo >= 1<<63) {
				return duck.FormatDecimal(int64(lo), scale)
			}
			return duck.Decimal{Value: n.BigInt(), Scale: scale}.String()
		}
	}
	return nil
}

// Write writes the rows of rec (the header line first).
func (a *ArrowCSV) Write(rec arrow.RecordBatch) error {
	if err := a.header(); err != nil {
		return err
	}
	cols := rec.Columns()
	for i := 0; i < int(rec.NumRows()); i++ {
		for j, col := range cols {
			if col.IsNull(i) {
				a.rec[j] = ""
			} else {
				a.rec[j] = a.cells[j](col, i)
			}
		}
		if err := a.cw.Write(a.rec); err != nil {
			return err
		}
	}
	return nil
}

func (a *ArrowCSV) header() error {
	if a.head {
		return nil
	}
	a.head = true
	return a.cw.Write(a.names)
}

// Close writes the header line if no batch came, and flushes.
func (a *ArrowCSV) Close() error {
	if err := a.header(); err != nil {
		return err
	}
	a.cw.Flush()
	return a.cw.Error()
}
