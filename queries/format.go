package queries

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
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

// TableOptions tune WriteTable.
type TableOptions struct {
	// MaxWidth cuts longer cells to that many characters, ending in "…";
	// 0 keeps them whole.
	MaxWidth int
}

// WriteTable writes res as aligned text for a terminal: a header, a rule,
// then the rows, numbers right-aligned, and a last line counting the rows.
func WriteTable(w io.Writer, res *duck.Result, opt TableOptions) error {
	return writeAll(NewTableWriter(w, res.Columns, opt), res)
}

// tableSample is how many rows a table writer holds to size its columns;
// the rows after them are written as they come, in those widths (a wider
// cell then pushes its line out of alignment). Answers up to this many
// rows come out exactly as if sized on all of them.
const tableSample = 10000

// NewTableWriter writes rows as WriteTable does, holding at most
// tableSample rows.
func NewTableWriter(w io.Writer, cols []duck.Column, opt TableOptions) RowWriter {
	t := &tableRows{w: bufio.NewWriter(w), opt: opt, right: make([]bool, len(cols)), width: make([]int, len(cols))}
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = c.Name
	}
	t.held = append(t.held, head)
	return t
}

type tableRows struct {
	w       *bufio.Writer
	opt     TableOptions
	right   []bool
	width   []int
	held    [][]string // header first, until sized
	sized   bool
	n       int
	lineBuf strings.Builder
}

func (t *tableRows) Row(row []any) error {
	cells := make([]string, len(row))
	for i, v := range row {
		s := FormatValue(v)
		switch v.(type) {
		case int64, float64, duck.Decimal, *big.Int:
			if !t.sized {
				t.right[i] = true
			}
		}
		if t.opt.MaxWidth > 0 && utf8.RuneCountInString(s) > t.opt.MaxWidth {
			s = string([]rune(s)[:t.opt.MaxWidth-1]) + "…"
		}
		cells[i] = s
	}
	t.n++
	if t.sized {
		return t.line(cells)
	}
	t.held = append(t.held, cells)
	if len(t.held) > tableSample {
		return t.size()
	}
	return nil
}

// size fixes the widths from the rows held and writes them.
func (t *tableRows) size() error {
	t.sized = true
	for _, row := range t.held {
		for i, s := range row {
			t.width[i] = max(t.width[i], utf8.RuneCountInString(s))
		}
	}
	if err := t.line(t.held[0]); err != nil {
		return err
	}
	rule := make([]string, len(t.width))
	for i := range rule {
		rule[i] = strings.Repeat("-", t.width[i])
	}
	if err := t.line(rule); err != nil {
		return err
	}
	for _, row := range t.held[1:] {
		if err := t.line(row); err != nil {
			return err
		}
	}
	t.held = nil
	return nil
}

func (t *tableRows) line(row []string) error {
	l := &t.lineBuf
	l.Reset()
	for i, s := range row {
		pad := strings.Repeat(" ", max(0, t.width[i]-utf8.RuneCountInString(s)))
		if i > 0 {
			l.WriteString("  ")
		}
		if t.right[i] {
			l.WriteString(pad + s)
		} else {
			l.WriteString(s + pad)
		}
	}
	_, err := t.w.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	return err
}

func (t *tableRows) Close() error {
	if !t.sized {
		if err := t.size(); err != nil {
			return err
		}
	}
	fmt.Fprintf(t.w, "(%d rows)\n", t.n)
	return t.w.Flush()
}
