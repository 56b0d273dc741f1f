package queries

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"vitlab/queries/duck"
)

func formatSample() *duck.Result {
	return &duck.Result{
		Columns: []duck.Column{{Name: "name"}, {Name: "n"}, {Name: "pct"}, {Name: "x"}, {Name: "at"}},
		Rows: [][]any{
			{"gemm<float>", int64(12), duck.Decimal{Value: big.NewInt(5), Scale: 1}, 0.25, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			{`a "quoted", long kernel name`, nil, duck.Decimal{Value: big.NewInt(1000), Scale: 1}, math.NaN(), nil},
		},
	}
}

func TestWriteCSV(t *testing.T) {
	var b strings.Builder
	if err := WriteCSV(&b, formatSample()); err != nil {
		t.Fatal(err)
	}
	want := "name,n,pct,x,at\n" +
		"gemm<float>,12,0.5,0.25,2026-01-02T03:04:05Z\n" +
		`"a ""quoted"", long kernel name",,100.0,NaN,` + "\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	var b strings.Builder
	if err := WriteJSON(&b, formatSample()); err != nil {
		t.Fatal(err)
	}
	want := `[
  {"name": "gemm<float>", "n": 12, "pct": 0.5, "x": 0.25, "at": "2026-01-02T03:04:05Z"},
  {"name": "a \"quoted\", long kernel name", "n": null, "pct": 100.0, "x": null, "at": null}
]
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := WriteJSON(&b, &duck.Result{Columns: []duck.Column{{Name: "a"}}}); err != nil || b.String() != "[]\n" {
		t.Errorf("empty: %q %v", b.String(), err)
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	if err := WriteTable(&b, formatSample(), TableOptions{MaxWidth: 12}); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"name           n    pct     x  at\n" +
		"------------  --  -----  ----  ------------\n" +
		"gemm<float>   12    0.5  0.25  2026-01-02T…\n" +
		"a \"quoted\",…      100.0   NaN\n" +
		"(2 rows; 2 cells cut to fit, ending in …)\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestWriteTableWidth: a table wider than the terminal has its widest
// columns cut to fit, with a note saying how to get them whole; one that
// cannot fit even so is printed a row at a time.
func TestWriteTableWidth(t *testing.T) {
	var b strings.Builder
	opt := TableOptions{Width: 40, Whole: "--format csv prints them whole"}
	if err := WriteTable(&b, formatSample(), opt); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	for _, l := range lines[:len(lines)-1] {
		if n := utf8.RuneCountInString(l); n > 40 {
			t.Errorf("line of %d characters: %q", n, l)
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "cut to fit") || !strings.Contains(last, "--format csv prints them whole") {
		t.Errorf("last line %q", last)
	}
	b.Reset()
	opt.Width = 24
	if err := WriteTable(&b, formatSample(), opt); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "-[ row 1 ]") {
		t.Errorf("want expanded rows at width 24, got\n%s", b.String())
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if n := utf8.RuneCountInString(l); n > 24 && !strings.HasPrefix(l, "(") {
			t.Errorf("line of %d characters: %q", n, l)
		}
	}
}

func TestShortKeys(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{[]string{"p16-d12-h768-sync-q1-gpu-w0", "p16-d12-h768-async-q2-gpu-w0", "p16-d12-h768-async-q2-cpu-w15"},
			[]string{"sync-q1-gpu-w0", "async-q2-gpu-w0", "async-q2-cpu-w15"}},
		{[]string{"p16-d12"}, []string{"p16-d12"}},                       // one key: whole
		{[]string{"p16-d12", "p16-d12"}, []string{"p16-d12", "p16-d12"}}, // nothing differs: whole
		{nil, nil},
	} {
		if got := ShortKeys(c.in); !slices.Equal(got, c.want) {
			t.Errorf("ShortKeys(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestCSVFieldAsEncodingCSV: csvField (ArrowCSV's cells) quotes and
// escapes as encoding/csv's Writer does.
func TestCSVFieldAsEncodingCSV(t *testing.T) {
	fields := []string{"", "a", `\.`, `\.x`, " lead", "\tlead", "\u00a0nbsp", "trail ", "a,b", `say "hi"`, `"`, `""`,
		"line\nbreak", "cr\rx", "crlf\r\n", "ünï", "\xff\xfe", "-1.5", "NaN", "a\"b,c\nd"}
	for _, f := range fields {
		var want bytes.Buffer
		cw := csv.NewWriter(&want)
		cw.Write([]string{f, f})
		cw.Flush()
		got := string(csvField(append(csvField(nil, f), ','), f)) + "\n"
		if got != want.String() {
			t.Errorf("%q: got %q, encoding/csv %q", f, got, want.String())
		}
	}
}

// TestAppendDecimal: appendDecimal writes duck.FormatDecimal's digits.
func TestAppendDecimal(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 5, -5, 12, -12, 123, 1000, -1000, 99999, 1234567890123, math.MaxInt64, math.MinInt64, math.MinInt64 + 1} {
		for _, scale := range []int{0, 1, 2, 3, 5, 18, 20} {
			if got, want := string(appendDecimal([]byte("x"), v, scale)), "x"+duck.FormatDecimal(v, scale); got != want {
				t.Errorf("appendDecimal(%d, %d) = %q, want %q", v, scale, got, want)
			}
		}
	}
}

// TestTableWriterHoldsFirstRows: a table of more rows than it is sized on
// holds at most SizeRows of them at any time, sizes its columns on the
// first ones, then prints each later row as it comes with those widths,
// a longer cell cut and counted in the last line.
func TestTableWriterHoldsFirstRows(t *testing.T) {
	var b strings.Builder
	cols := []duck.Column{{Name: "name"}, {Name: "n"}}
	tw := NewTableWriter(&b, cols, TableOptions{SizeRows: 3, Whole: "--format csv prints them whole"})
	for i := range 100 {
		name := "k" + strings.Repeat("x", i%3)
		if i == 50 {
			name = "a much longer kernel name"
		}
		if err := tw.Row([]any{name, int64(i)}); err != nil {
			t.Fatal(err)
		}
		if tw.Held() > 3 {
			t.Fatalf("after row %d the writer holds %d rows, want at most 3", i+1, tw.Held())
		}
		if i == 1 && b.Len() > 0 {
			t.Fatalf("printed before the columns were sized: %q", b.String())
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 103 {
		t.Fatalf("%d lines, want header, rule, 100 rows and the note:\n%s", len(lines), b.String())
	}
	want := []string{
		"name  n",
		"----  -",
		"k     0",
		"kx    1",
		"kxx   2",
		"k     3",
	}
	if !slices.Equal(lines[:6], want) {
		t.Errorf("first lines\n%s\nwant\n%s", strings.Join(lines[:6], "\n"), strings.Join(want, "\n"))
	}
	if got := lines[52]; got != "a m…  50" {
		t.Errorf("row 51: %q, want the name cut to the column", got)
	}
	if got := lines[101]; got != "k     99" {
		t.Errorf("row 100: %q, want a number wider than the column printed whole", got)
	}
	if note := lines[102]; note != "(100 rows, columns sized on the first 3; 1 cell cut to fit, ending in …: --format csv prints them whole)" {
		t.Errorf("note %q", note)
	}
}

// TestTableWriterExpandedStreams: a table too wide for the terminal, sized
// on its first row, prints every later row as a block of its own too,
// numbered on.
func TestTableWriterExpandedStreams(t *testing.T) {
	var b strings.Builder
	res := formatSample()
	tw := NewTableWriter(&b, res.Columns, TableOptions{Width: 24, SizeRows: 1})
	for range 3 {
		for _, r := range res.Rows {
			if err := tw.Row(slices.Clone(r)); err != nil {
				t.Fatal(err)
			}
			if tw.Held() > 1 {
				t.Fatalf("holds %d rows", tw.Held())
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for i := 1; i <= 6; i++ {
		if !strings.Contains(out, fmt.Sprintf("-[ row %d ]", i)) {
			t.Errorf("no block for row %d:\n%s", i, out)
		}
	}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if n := utf8.RuneCountInString(l); n > 24 && !strings.HasPrefix(l, "(") {
			t.Errorf("line of %d characters: %q", n, l)
		}
	}
	if !strings.HasSuffix(out, "(6 rows, columns sized on the first 1; 6 cells cut to fit, ending in …)\n") {
		t.Errorf("last line of\n%s", out)
	}
}

// TestTableWriterWholeLines: the table reaches its writer in whole lines
// (vitlab verify indents each Write's lines), however long it is.
func TestTableWriterWholeLines(t *testing.T) {
	var lw lineWrites
	cols := []duck.Column{{Name: "name"}, {Name: "n"}}
	tw := NewTableWriter(&lw, cols, TableOptions{SizeRows: 10})
	for i := range 20000 {
		if err := tw.Row([]any{fmt.Sprintf("kernel %d", i%37), int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if lw.writes < 2 || lw.bad != "" {
		t.Errorf("%d writes; one not of whole lines: %.80q", lw.writes, lw.bad)
	}
	if lw.lines != 20003 {
		t.Errorf("%d lines, want 20003", lw.lines)
	}
}

// lineWrites counts Writes and lines and keeps the first Write that does
// not end a line.
type lineWrites struct {
	writes, lines int
	bad           string
}

func (l *lineWrites) Write(p []byte) (int, error) {
	l.writes++
	l.lines += bytes.Count(p, []byte("\n"))
	if (len(p) == 0 || p[len(p)-1] != '\n') && l.bad == "" {
		l.bad = string(p)
	}
	return len(p), nil
}

// TestWriteTableSizedOnEveryRow: an answer of at most SizeRows rows is
// sized on all of them: the same text whatever SizeRows beyond that.
func TestWriteTableSizedOnEveryRow(t *testing.T) {
	for _, opt := range []TableOptions{{MaxWidth: 12}, {Width: 40, Whole: "w"}, {Width: 24}} {
		var want strings.Builder
		if err := WriteTable(&want, formatSample(), opt); err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{2, 3, 1000} {
			var got strings.Builder
			o := opt
			o.SizeRows = n
			if err := WriteTable(&got, formatSample(), o); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("%+v: got\n%s\nwant\n%s", o, got.String(), want.String())
			}
		}
	}
}
