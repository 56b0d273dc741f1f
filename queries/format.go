package queries

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"vitlab/queries/duck"
)

// FormatValue renders one result value as text: integers in decimal,
// DECIMAL values with their exact scale ("0.0", "12.300"), floats in the
// shortest form that reads back, timestamps in RFC 3339, NULL as "".
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case duck.Decimal:
		return x.String()
	case *big.Int:
		return x.String()
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case []byte:
		return fmt.Sprintf("%x", x)
	}
	return fmt.Sprint(v)
}

// WriteCSV writes res as CSV: a header of the column names, then one line
// per row.
func WriteCSV(w io.Writer, res *duck.Result) error {
	return writeAll(NewCSVWriter(w, res.Columns), res)
}

// WriteJSON writes res as a JSON array of objects, keys in column order.
// DECIMAL values are JSON numbers with their scale; NaN and infinities are
// null.
func WriteJSON(w io.Writer, res *duck.Result) error {
	return writeAll(NewJSONWriter(w, res.Columns), res)
}

// RowWriter writes an answer one row at a time (an answer of millions of
// rows need not be held in memory); Close writes what ends it.
type RowWriter interface {
	Row(row []any) error
	Close() error
}

func writeAll(rw RowWriter, res *duck.Result) error {
	for _, row := range res.Rows {
		if err := rw.Row(row); err != nil {
			return err
		}
	}
	return rw.Close()
}

// NewCSVWriter writes rows of columns cols as WriteCSV does: a header
// line first (written by the first Row or by Close).
func NewCSVWriter(w io.Writer, cols []duck.Column) RowWriter {
	return &csvRows{cw: csv.NewWriter(w), cols: cols}
}

type csvRows struct {
	cw   *csv.Writer
	cols []duck.Column
	rec  []string
}

func (c *csvRows) Row(row []any) error {
	if c.rec == nil {
		head := make([]string, len(c.cols))
		for i, col := range c.cols {
			head[i] = col.Name
		}
		if err := c.cw.Write(head); err != nil {
			return err
		}
		c.rec = make([]string, len(c.cols))
	}
	if row == nil {
		return nil
	}
	for i, v := range row {
		c.rec[i] = FormatValue(v)
	}
	return c.cw.Write(c.rec)
}

func (c *csvRows) Close() error {
	if err := c.Row(nil); err != nil {
		return err
	}
	c.cw.Flush()
	return c.cw.Error()
}

// NewJSONWriter writes rows of columns cols as WriteJSON does.
func NewJSONWriter(w io.Writer, cols []duck.Column) RowWriter {
	return &jsonRows{w: bufio.NewWriter(w), cols: cols}
}

type jsonRows struct {
	w    *bufio.Writer
	cols []duck.Column
	n    int
}

func (j *jsonRows) Row(row []any) error {
	var b strings.Builder
	if j.n == 0 {
		b.WriteString("[")
	} else {
		b.WriteString(",")
	}
	j.n++
	b.WriteString("\n  {")
	for i, v := range row {
		if i > 0 {
			b.WriteString(", ")
		}
		k, err := jsonString(j.cols[i].Name)
		if err != nil {
			return err
		}
		b.WriteString(k)
		b.WriteString(": ")
		val, err := jsonValue(v)
		if err != nil {
			return fmt.Errorf("column %s: %w", j.cols[i].Name, err)
		}
		b.WriteString(val)
	}
	b.WriteString("}")
	_, err := j.w.WriteString(b.String())
	return err
}

func (j *jsonRows) Close() error {
	end := "\n]\n"
	if j.n == 0 {
		end = "[]\n"
	}
	if _, err := j.w.WriteString(end); err != nil {
		return err
	}
	return j.w.Flush()
}

func jsonValue(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "null", nil
	case int64, bool:
		return FormatValue(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "null", nil
		}
		return FormatValue(x), nil
	case duck.Decimal, *big.Int:
		return FormatValue(x), nil
	case time.Time:
		return `"` + FormatValue(x) + `"`, nil
	case string:
		return jsonString(x)
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// jsonString encodes s as a JSON string without escaping <, > and &
// (kernel names are full of them).
func jsonString(s string) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// TableOptions tune WriteTable and NewTableWriter.
type TableOptions struct {
	// MaxWidth cuts longer cells to that many characters, ending in "…";
	// 0 keeps them whole.
	MaxWidth int
	// Width is the widest line to print (the terminal's width); 0 means no
	// limit. A table wider than that has its widest columns cut (cells end
	// in "…"); one that cannot fit even so is printed one row at a time,
	// a line per column ("expanded", as psql's \x).
	Width int
	// Whole says how to get cut cells whole, for the note under a table
	// that cut some (e.g. "--format csv or json prints every cell whole").
	Whole string
	// SizeRows is how many rows, the first ones, the columns are sized on
	// (0: TableSizeRows). They are held until then; every later row is
	// printed as it comes, a text cell cut to those widths where longer (a
	// number is printed whole), so that a table of any length holds at
	// most SizeRows rows.
	SizeRows int
}

// TableSizeRows is TableOptions.SizeRows' default: an answer of up to that
// many rows is sized on all of them (as when every row was held), a
// longer one on its first TableSizeRows (a few MB of cells).
const TableSizeRows = 10000

// minColumn is the narrowest a column is cut to when fitting a width.
const minColumn = 8

// WriteTable writes res as aligned text for a terminal: a header, a rule,
// then the rows, numbers right-aligned, and a last line counting the rows
// (and saying how many cells were cut, and how to get them whole). See
// NewTableWriter.
func WriteTable(w io.Writer, res *duck.Result, opt TableOptions) error {
	t := NewTableWriter(w, res.Columns, opt)
	return writeAll(t, res)
}

// TableWriter writes an answer as WriteTable does, one row at a time: it
// holds the first rows (TableOptions.SizeRows), sizes the columns on them
// and the header, prints them, then prints every later row as it comes
// with those widths (a longer cell cut, ending in "…", and counted with
// the cut cells in the last line, which also says the columns were sized
// on the first rows; a longer number is printed whole). Lines are written
// whole, one Write per line or more.
type TableWriter struct {
	w     *bufio.Writer
	opt   TableOptions
	head  []string
	right []bool // numbers, right-aligned (set by the held rows' values)
	rows  int    // rows so far
	cut   int    // cells cut so far

	// until sized: the rows held (cells after MaxWidth) and which of
	// their cells MaxWidth cut
	held    [][]string
	heldCut [][]bool
	sized   bool

	// once sized
	width    []int
	expanded bool
	name     int      // expanded: the width of the names
	room     int      // expanded: the width of the values
	names    []string // expanded: the header cut to name
	line     []byte
	err      error
}

// NewTableWriter writes rows of columns cols to w as WriteTable does; see
// TableWriter. Close writes what is held and the last line.
func NewTableWriter(w io.Writer, cols []duck.Column, opt TableOptions) *TableWriter {
	if opt.SizeRows <= 0 {
		opt.SizeRows = TableSizeRows
	}
	t := &TableWriter{w: bufio.NewWriterSize(w, 64<<10), opt: opt, head: make([]string, len(cols)), right: make([]bool, len(cols))}
	for i, c := range cols {
		t.head[i] = c.Name
	}
	return t
}

// Held returns how many rows the writer holds now (at most
// TableOptions.SizeRows).
func (t *TableWriter) Held() int { return len(t.held) }

// Row writes one row (values as duck.DB.Each gives them).
func (t *TableWriter) Row(row []any) error {
	if row == nil {
		return nil
	}
	cells := make([]string, len(row))
	num := make([]bool, len(row))
	for i, v := range row {
		cells[i] = FormatValue(v)
		switch v.(type) {
		case int64, float64, duck.Decimal, *big.Int:
			num[i] = true
		}
	}
	return t.add(cells, num)
}

// add writes one row of cells (FormatValue's text); num says which are
// numbers (not null): while the columns are not sized yet, a column with
// a number is right-aligned.
func (t *TableWriter) add(cells []string, num []bool) error {
	if t.err != nil {
		return t.err
	}
	t.rows++
	cut := make([]bool, len(cells))
	for i, s := range cells {
		if t.opt.MaxWidth > 0 && utf8.RuneCountInString(s) > t.opt.MaxWidth {
			cells[i] = cutTo(s, t.opt.MaxWidth)
			cut[i] = true
		}
	}
	if t.sized {
		t.err = t.emit(t.rows, cells, cut, num)
		return t.err
	}
	for i, n := range num {
		t.right[i] = t.right[i] || n
	}
	t.held = append(t.held, cells)
	t.heldCut = append(t.heldCut, cut)
	if len(t.held) >= t.opt.SizeRows {
		t.err = t.size()
	}
	return t.err
}

// cutTo cuts s to n characters, the last one "…".
func cutTo(s string, n int) string {
	r := []rune(s)
	return string(r[:max(0, min(len(r), n-1))]) + "…"
}

// size sizes the columns on the header and the held rows, writes the
// header (or nothing, expanded) and the held rows, and lets them go.
func (t *TableWriter) size() error {
	t.sized = true
	n := len(t.head)
	t.width = make([]int, n)
	for i, h := range t.head {
		t.width[i] = utf8.RuneCountInString(h)
	}
	for _, row := range t.held {
		for i, s := range row {
			t.width[i] = max(t.width[i], utf8.RuneCountInString(s))
		}
	}
	total := func() int {
		x := 2 * max(0, n-1)
		for _, w := range t.width {
			x += w
		}
		return x
	}
	head := slices.Clone(t.head)
	if t.opt.Width > 0 && total() > t.opt.Width {
		// Cut the widest column by one until the table fits: first down
		// to its header (values are cut before names), then to minColumn.
		for _, keepHeader := range []bool{true, false} {
			for total() > t.opt.Width {
				widest := -1
				for i, x := range t.width {
					floor := minColumn
					if keepHeader {
						floor = max(minColumn, utf8.RuneCountInString(t.head[i]))
					}
					if x > floor && (widest < 0 || x > t.width[widest]) {
						widest = i
					}
				}
				if widest < 0 {
					break
				}
				t.width[widest]--
			}
		}
		if total() > t.opt.Width {
			t.expanded = true
			t.name = 0
			for _, h := range t.head {
				t.name = max(t.name, utf8.RuneCountInString(h))
			}
			t.name = min(t.name, max(minColumn, t.opt.Width/3))
			t.room = max(minColumn, t.opt.Width-t.name-2)
			t.names = make([]string, n)
			for i, h := range t.head {
				if utf8.RuneCountInString(h) > t.name {
					h = cutTo(h, t.name)
				}
				t.names[i] = h
			}
		}
		for i, h := range head {
			if utf8.RuneCountInString(h) > t.width[i] {
				head[i] = cutTo(h, t.width[i])
			}
		}
	}
	if !t.expanded {
		t.writeLine(head)
		rule := make([]string, n)
		for i := range rule {
			rule[i] = strings.Repeat("-", t.width[i])
		}
		t.writeLine(rule)
	}
	held, heldCut := t.held, t.heldCut
	t.held, t.heldCut = nil, nil
	for r, row := range held {
		if err := t.emit(r+1, row, heldCut[r], nil); err != nil {
			return err
		}
	}
	return nil
}

// emit writes row number r (from 1) with the sized columns; cut says
// which cells MaxWidth cut already. A cell wider than its column is cut,
// but for a number of a row after those the columns were sized on (whole
// says which): it is printed whole and its line runs wider (a cut number
// reads as another number).
func (t *TableWriter) emit(r int, cells []string, cut, whole []bool) error {
	if t.expanded {
		t.line = fmt.Appendf(t.line[:0], "-[ row %d ]", r)
		t.line = append(t.line, strings.Repeat("-", max(0, min(t.opt.Width, 40)-len(t.line)))...)
		t.line = append(t.line, '\n')
		for i, s := range cells {
			if utf8.RuneCountInString(s) > t.room && (whole == nil || !whole[i]) {
				s = cutTo(s, t.room)
				cut[i] = true
			}
			h := t.names[i]
			t.line = append(t.line, h...)
			t.line = append(t.line, strings.Repeat(" ", t.name-utf8.RuneCountInString(h))...)
			t.line = append(t.line, "  "...)
			t.line = append(t.line, s...)
			t.line = append(t.line, '\n')
		}
		t.count(cut)
		return t.flushLine()
	}
	for i, s := range cells {
		if utf8.RuneCountInString(s) > t.width[i] && (whole == nil || !whole[i]) {
			cells[i] = cutTo(s, t.width[i])
			cut[i] = true
		}
	}
	t.count(cut)
	return t.writeLine(cells)
}

func (t *TableWriter) count(cut []bool) {
	for _, c := range cut {
		if c {
			t.cut++
		}
	}
}

// writeLine writes one line of cells padded to the widths.
func (t *TableWriter) writeLine(cells []string) error {
	b := t.line[:0]
	for i, s := range cells {
		pad := max(0, t.width[i]-utf8.RuneCountInString(s))
		if i > 0 {
			b = append(b, ' ', ' ')
		}
		if !t.right[i] {
			b = append(b, s...)
		}
		for range pad {
			b = append(b, ' ')
		}
		if t.right[i] {
			b = append(b, s...)
		}
	}
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	t.line = append(b, '\n')
	return t.flushLine()
}

// flushLine writes t.line whole: the buffer is flushed first where the
// line would not fit in it (a writer that indents every line, as vitlab
// verify's, sees only whole lines).
func (t *TableWriter) flushLine() error {
	if len(t.line) > t.w.Available() && t.w.Buffered() > 0 {
		if err := t.w.Flush(); err != nil {
			return err
		}
	}
	_, err := t.w.Write(t.line)
	return err
}

// Close writes the rows still held and the last line, and flushes.
func (t *TableWriter) Close() error {
	if t.err != nil {
		return t.err
	}
	if !t.sized {
		if err := t.size(); err != nil {
			return err
		}
	}
	t.line = appendTableNote(t.line[:0], t.rows, t.cut, t.opt)
	if err := t.flushLine(); err != nil {
		return err
	}
	return t.w.Flush()
}

// appendTableNote appends the last line of a table: its rows, the
// columns sized on the first rows where there were more, and the cells
// cut with how to get them whole.
func appendTableNote(b []byte, rows, cut int, opt TableOptions) []byte {
	noun := "rows"
	if rows == 1 {
		noun = "row"
	}
	b = fmt.Appendf(b, "(%d %s", rows, noun)
	if rows > opt.SizeRows {
		b = fmt.Appendf(b, ", columns sized on the first %d", opt.SizeRows)
	}
	if cut == 0 {
		return append(b, ")\n"...)
	}
	cells := "cells"
	if cut == 1 {
		cells = "cell"
	}
	b = fmt.Appendf(b, "; %d %s cut to fit, ending in …", cut, cells)
	if opt.Whole != "" {
		b = append(b, ": "+opt.Whole...)
	}
	return append(b, ")\n"...)
}

// ShortKeys drops the '-'-separated parts of the keys that every key
// shares (p16-d12-…-w15 keys of one plan differ in a few settings), so the
// chart or a terminal table names each configuration by what sets it
// apart (the report's Between batches chart, vitlab compare's table); keys
// that would become empty (one configuration) keep their full text.
func ShortKeys(keys []string) []string {
	if len(keys) < 2 {
		return keys
	}
	parts := make([][]string, len(keys))
	count := map[string]int{}
	for i, k := range keys {
		parts[i] = strings.Split(k, "-")
		seen := map[string]bool{}
		for _, p := range parts[i] {
			if !seen[p] {
				seen[p] = true
				count[p]++
			}
		}
	}
	out := make([]string, len(keys))
	for i, ps := range parts {
		var keep []string
		for _, p := range ps {
			if count[p] < len(keys) {
				keep = append(keep, p)
			}
		}
		if len(keep) == 0 {
			out[i] = keys[i]
		} else {
			out[i] = strings.Join(keep, "-")
		}
	}
	return out
}
