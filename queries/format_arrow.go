package queries

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"vitlab/queries/duck"
)

// ArrowCSV writes an answer handed over as Arrow record batches
// (Warehouse.RunArrow) as CSV, byte for byte as NewCSVWriter writes its
// rows: each cell as FormatValue renders the value database/sql gives,
// without that value (a 1.8M-row answer spent most of its time boxing
// and converting cells one by one), quoted as encoding/csv quotes it
// (csvField). Cells are appended to one line buffer (strconv.Append*), no
// string per cell: at 100x the sample, nsys_nvtx_kern_sum's 1.82M rows
// took ~1.3 s through encoding/csv.
type ArrowCSV struct {
	w     *bufio.Writer
	names []string
	cells []func([]byte, arrow.Array, int) []byte
	line  []byte
	head  bool
}

// NewArrowCSV returns an ArrowCSV writing to w an answer of schema s, and
// false when a column has a type it does not render (timestamps, lists,
// …): write the answer's rows instead.
func NewArrowCSV(w io.Writer, s *arrow.Schema) (*ArrowCSV, bool) {
	a := &ArrowCSV{w: bufio.NewWriterSize(w, 64<<10)}
	for _, f := range s.Fields() {
		cell := csvCellOf(f.Type)
		if cell == nil {
			return nil, false
		}
		a.names = append(a.names, f.Name)
		a.cells = append(a.cells, cell)
	}
	return a, true
}

// csvCellOf appends a non-null cell of an array of type t as FormatValue
// renders what duck.DB.Each gives for it, as a CSV field; nil for a type
// it does not render.
func csvCellOf(t arrow.DataType) func([]byte, arrow.Array, int) []byte {
	return cellOf(t, csvField)
}

// cellOf appends a non-null cell of an array of type t as FormatValue
// renders what duck.DB.Each gives for it, text through field (csvField, or
// appendText: as it is); nil for a type it does not render.
func cellOf(t arrow.DataType, field func([]byte, string) []byte) func([]byte, arrow.Array, int) []byte {
	switch t.ID() {
	case arrow.INT8:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendInt(b, int64(a.(*array.Int8).Value(i)), 10)
		}
	case arrow.INT16:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendInt(b, int64(a.(*array.Int16).Value(i)), 10)
		}
	case arrow.INT32:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendInt(b, int64(a.(*array.Int32).Value(i)), 10)
		}
	case arrow.INT64:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendInt(b, a.(*array.Int64).Value(i), 10)
		}
	case arrow.UINT8:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendUint(b, uint64(a.(*array.Uint8).Value(i)), 10)
		}
	case arrow.UINT16:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendUint(b, uint64(a.(*array.Uint16).Value(i)), 10)
		}
	case arrow.UINT32:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendUint(b, uint64(a.(*array.Uint32).Value(i)), 10)
		}
	case arrow.UINT64: // an int64, or a *big.Int above MaxInt64: the same digits
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendUint(b, a.(*array.Uint64).Value(i), 10)
		}
	case arrow.FLOAT32:
		// (-Inf and NaN need no quotes either: no comma, quote, line break
		// or leading space)
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendFloat(b, float64(a.(*array.Float32).Value(i)), 'f', -1, 64)
		}
	case arrow.FLOAT64:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendFloat(b, a.(*array.Float64).Value(i), 'f', -1, 64)
		}
	case arrow.BOOL:
		return func(b []byte, a arrow.Array, i int) []byte { return strconv.AppendBool(b, a.(*array.Boolean).Value(i)) }
	case arrow.STRING:
		return func(b []byte, a arrow.Array, i int) []byte { return field(b, a.(*array.String).Value(i)) }
	case arrow.LARGE_STRING:
		return func(b []byte, a arrow.Array, i int) []byte { return field(b, a.(*array.LargeString).Value(i)) }
	case arrow.STRING_VIEW:
		return func(b []byte, a arrow.Array, i int) []byte { return field(b, a.(*array.StringView).Value(i)) }
	case arrow.DECIMAL128: // DECIMAL, and HUGEINT as DECIMAL(38, 0): the same digits
		scale := int(t.(*arrow.Decimal128Type).Scale)
		return func(b []byte, a arrow.Array, i int) []byte {
			n := a.(*array.Decimal128).Value(i)
			if hi, lo := n.HighBits(), n.LowBits(); (hi == 0 && lo < 1<<63) || (hi == -1 && lo >= 1<<63) {
				return appendDecimal(b, int64(lo), scale)
			}
			return append(b, duck.Decimal{Value: n.BigInt(), Scale: scale}.String()...)
		}
	}
	return nil
}

// appendText appends s as it is (cellOf's text for a table).
func appendText(b []byte, s string) []byte { return append(b, s...) }

// numericArrow says whether FormatValue's value for a non-null cell of
// type t is a number (a table right-aligns its column): what duck.DB.Each
// gives for it is an int64, a float64, a *big.Int or a duck.Decimal.
func numericArrow(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128:
		return true
	}
	return false
}

// appendDecimal appends duck.FormatDecimal(v, scale) to b without
// making the string.
func appendDecimal(b []byte, v int64, scale int) []byte {
	var tmp [24]byte
	mag := uint64(v)
	if v < 0 {
		b = append(b, '-')
		mag = uint64(-v) // (MinInt64 too: 2^63)
	}
	d := strconv.AppendUint(tmp[:0], mag, 10)
	switch {
	case scale <= 0:
		return append(b, d...)
	case len(d) <= scale:
		b = append(b, '0', '.')
		for range scale - len(d) {
			b = append(b, '0')
		}
		return append(b, d...)
	}
	b = append(b, d[:len(d)-scale]...)
	b = append(b, '.')
	return append(b, d[len(d)-scale:]...)
}

// csvField appends field to b as encoding/csv's Writer writes it (comma
// separator, LF line ends): quoted when it holds a comma, a double quote,
// CR or LF, is `\.`, or starts with a space (unicode.IsSpace), with each
// double quote doubled; else as it is.
func csvField(b []byte, field string) []byte {
	if !csvNeedsQuotes(field) {
		return append(b, field...)
	}
	b = append(b, '"')
	for {
		i := strings.IndexByte(field, '"')
		if i < 0 {
			break
		}
		b = append(b, field[:i+1]...)
		b = append(b, '"')
		field = field[i+1:]
	}
	b = append(b, field...)
	return append(b, '"')
}

// csvNeedsQuotes is encoding/csv's fieldNeedsQuotes with Comma ','.
func csvNeedsQuotes(field string) bool {
	if field == "" {
		return false
	}
	if field == `\.` {
		return true
	}
	// four IndexByte scans (vectorised) beat one byte loop over the long
	// kernel names of the nsys summaries (~40% less time)
	if strings.IndexByte(field, ',') >= 0 || strings.IndexByte(field, '"') >= 0 ||
		strings.IndexByte(field, '\n') >= 0 || strings.IndexByte(field, '\r') >= 0 {
		return true
	}
	r1, _ := utf8.DecodeRuneInString(field)
	return unicode.IsSpace(r1)
}

// Write writes the rows of rec (the header line first).
func (a *ArrowCSV) Write(rec arrow.RecordBatch) error {
	if err := a.header(); err != nil {
		return err
	}
	cols := rec.Columns()
	nulls := make([]bool, len(cols)) // (a column without nulls skips the bitmap)
	for j, col := range cols {
		nulls[j] = col.NullN() > 0
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		b := a.line[:0]
		for j, col := range cols {
			if j > 0 {
				b = append(b, ',')
			}
			if !nulls[j] || !col.IsNull(i) {
				b = a.cells[j](b, col, i)
			}
		}
		b = append(b, '\n')
		a.line = b
		if _, err := a.w.Write(b); err != nil {
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
	b := a.line[:0]
	for j, n := range a.names {
		if j > 0 {
			b = append(b, ',')
		}
		b = csvField(b, n)
	}
	b = append(b, '\n')
	a.line = b
	_, err := a.w.Write(b)
	return err
}

// Close writes the header line if no batch came, and flushes.
func (a *ArrowCSV) Close() error {
	if err := a.header(); err != nil {
		return err
	}
	return a.w.Flush()
}

// ArrowTable writes an answer handed over as Arrow record batches as a
// table (TableWriter), the same text as from its rows: each cell as
// FormatValue renders the value database/sql gives (cellOf).
type ArrowTable struct {
	t     *TableWriter
	cells []func([]byte, arrow.Array, int) []byte
	num   []bool
	buf   []byte
	ends  []int
}

// NewArrowTable returns an ArrowTable writing to w an answer of schema s
// with opt, and false when a column has a type it does not render (write
// the answer's rows to a TableWriter instead).
func NewArrowTable(w io.Writer, s *arrow.Schema, opt TableOptions) (*ArrowTable, bool) {
	a := &ArrowTable{}
	cols := make([]duck.Column, len(s.Fields()))
	for i, f := range s.Fields() {
		cell := cellOf(f.Type, appendText)
		if cell == nil {
			return nil, false
		}
		cols[i] = duck.Column{Name: f.Name}
		a.cells = append(a.cells, cell)
		a.num = append(a.num, numericArrow(f.Type))
	}
	a.t = NewTableWriter(w, cols, opt)
	return a, true
}

// Table is the TableWriter the batches are written to.
func (a *ArrowTable) Table() *TableWriter { return a.t }

// Write writes the rows of rec.
func (a *ArrowTable) Write(rec arrow.RecordBatch) error {
	cols := rec.Columns()
	for i := 0; i < int(rec.NumRows()); i++ {
		// one string per row, its cells slices of it
		b, ends := a.buf[:0], a.ends[:0]
		num := make([]bool, len(cols))
		for j, col := range cols {
			if !col.IsNull(i) {
				b = a.cells[j](b, col, i)
				num[j] = a.num[j]
			}
			ends = append(ends, len(b))
		}
		a.buf, a.ends = b, ends
		line := string(b)
		cells := make([]string, len(cols))
		start := 0
		for j, end := range ends {
			cells[j] = line[start:end]
			start = end
		}
		if err := a.t.add(cells, num); err != nil {
			return err
		}
	}
	return nil
}

// Close writes what the table holds and its last line.
func (a *ArrowTable) Close() error { return a.t.Close() }
