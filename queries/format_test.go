package queries

import (
	"bytes"
	"encoding/csv"
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
