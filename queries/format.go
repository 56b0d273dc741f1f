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
	// Width is the widest line to print (the terminal's width); 0 means no
	// limit. A table wider than that has its widest columns cut (cells end
	// in "…"); one that cannot fit even so is printed one row at a time,
	// a line per column ("expanded", as psql's \x).
	Width int
	// Whole says how to get cut cells whole, for the note under a table
	// that cut some (e.g. "--format csv or json prints every cell whole").
	Whole string
}

// minColumn is the narrowest a column is cut to when fitting a width.
const minColumn = 8

// WriteTable writes res as aligned text for a terminal: a header, a rule,
// then the rows, numbers right-aligned, and a last line counting the rows
// (and saying how many cells were cut, and how to get them whole).
func WriteTable(w io.Writer, res *duck.Result, opt TableOptions) error {
	n := len(res.Columns)
	cells := make([][]string, len(res.Rows)+1)
	right := make([]bool, n)
	width := make([]int, n)
	cells[0] = make([]string, n)
	for i, c := range res.Columns {
		cells[0][i] = c.Name
	}
	cutCells := map[[2]int]bool{} // (row, column) of the cells cut
	for r, row := range res.Rows {
		cells[r+1] = make([]string, n)
		for i, v := range row {
			s := FormatValue(v)
			switch v.(type) {
			case int64, float64, duck.Decimal, *big.Int:
				right[i] = true
			}
			if opt.MaxWidth > 0 && utf8.RuneCountInString(s) > opt.MaxWidth {
				s = string([]rune(s)[:opt.MaxWidth-1]) + "…"
				cutCells[[2]int{r + 1, i}] = true
			}
			cells[r+1][i] = s
		}
	}
	for _, row := range cells {
		for i, s := range row {
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	var b strings.Builder
	total := func() int {
		t := 2 * max(0, n-1)
		for _, x := range width {
			t += x
		}
		return t
	}
	if opt.Width > 0 && total() > opt.Width {
		// Cut the widest column by one until the table fits: first down
		// to its header (values are cut before names), then to minColumn.
		for _, keepHeader := range []bool{true, false} {
			for total() > opt.Width {
				widest := -1
				for i, x := range width {
					floor := minColumn
					if keepHeader {
						floor = max(minColumn, utf8.RuneCountInString(cells[0][i]))
					}
					if x > floor && (widest < 0 || x > width[widest]) {
						widest = i
					}
				}
				if widest < 0 {
					break
				}
				width[widest]--
			}
		}
		if total() > opt.Width {
			writeExpanded(&b, cells, opt.Width, cutCells)
			writeTableNote(&b, len(res.Rows), len(cutCells), opt)
			_, err := io.WriteString(w, b.String())
			return err
		}
		for r, row := range cells {
			for i, s := range row {
				if utf8.RuneCountInString(s) > width[i] {
					row[i] = string([]rune(s)[:width[i]-1]) + "…"
					if r > 0 {
						cutCells[[2]int{r, i}] = true
					}
				}
			}
		}
	}
	line := func(row []string) {
		var l strings.Builder
		for i, s := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(s))
			if i > 0 {
				l.WriteString("  ")
			}
			if right[i] {
				l.WriteString(pad + s)
			} else {
				l.WriteString(s + pad)
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteString("\n")
	}
	line(cells[0])
	rule := make([]string, n)
	for i := range rule {
		rule[i] = strings.Repeat("-", width[i])
	}
	line(rule)
	for _, row := range cells[1:] {
		line(row)
	}
	writeTableNote(&b, len(res.Rows), len(cutCells), opt)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeExpanded prints each row as a block of "column  value" lines no
// wider than width, and adds the cells it cuts to cut.
func writeExpanded(b *strings.Builder, cells [][]string, width int, cut map[[2]int]bool) {
	head := cells[0]
	name := 0
	for _, h := range head {
		name = max(name, utf8.RuneCountInString(h))
	}
	name = min(name, max(minColumn, width/3))
	room := max(minColumn, width-name-2)
	for r, row := range cells[1:] {
		fmt.Fprintf(b, "-[ row %d ]%s\n", r+1, strings.Repeat("-", max(0, min(width, 40)-len(fmt.Sprintf("-[ row %d ]", r+1)))))
		for i, s := range row {
			h := head[i]
			if utf8.RuneCountInString(h) > name {
				h = string([]rune(h)[:name-1]) + "…"
			}
			if utf8.RuneCountInString(s) > room {
				s = string([]rune(s)[:room-1]) + "…"
				cut[[2]int{r + 1, i}] = true
			}
			fmt.Fprintf(b, "%s%s  %s\n", h, strings.Repeat(" ", name-utf8.RuneCountInString(h)), s)
		}
	}
}

func writeTableNote(b *strings.Builder, rows, cut int, opt TableOptions) {
	noun := "rows"
	if rows == 1 {
		noun = "row"
	}
	if cut == 0 {
		fmt.Fprintf(b, "(%d %s)\n", rows, noun)
		return
	}
	cells := "cells"
	if cut == 1 {
		cells = "cell"
	}
	fmt.Fprintf(b, "(%d %s; %d %s cut to fit, ending in …", rows, noun, cut, cells)
	if opt.Whole != "" {
		b.WriteString(": " + opt.Whole)
	}
	b.WriteString(")\n")
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
