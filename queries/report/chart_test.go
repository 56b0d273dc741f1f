package report

import (
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"vitlab/queries"
	"vitlab/queries/duck"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata files")

// TestCharts runs testdata/charts.txt: each case is a chart line as a
// finding's header declares it, the rows (CSV: header, then rows until
// ----; an empty cell is NULL, numbers are BIGINT or DOUBLE, the rest text),
// and the expected summary of the SVG gonum/plot drew: its size, every text
// it shows (title, axis labels, ticks, legend) in order, and how many
// shapes; or "error: …". go test ./queries/report -run TestCharts -rewrite
// regenerates the expectations; review the diff.
func TestCharts(t *testing.T) {
	const file = "testdata/charts.txt"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	var out []string
	for i := 0; i < len(lines); {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			out = append(out, line)
			i++
			continue
		}
		if !strings.HasPrefix(line, "chart ") {
			t.Fatalf("%s:%d: want a chart line, got %q", file, i+1, line)
		}
		pos := fmt.Sprintf("%s:%d", file, i+1)
		out = append(out, line)
		spec := strings.TrimPrefix(line, "chart ")
		i++
		var rows []string
		for ; i < len(lines) && lines[i] != "----"; i++ {
			rows = append(rows, lines[i])
			out = append(out, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("%s: no ----", pos)
		}
		out = append(out, "----")
		i++
		var want []string
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			want = append(want, lines[i])
		}
		got := chartSummary(t, pos, spec, rows)
		out = append(out, got...)
		if !*rewrite && strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: chart %s\ngot:\n%s\nwant:\n%s", pos, spec, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	svgText  = regexp.MustCompile(`<text[^>]*>([^<]*)</text>`)
	svgShape = regexp.MustCompile(`<path `)
	svgSize  = regexp.MustCompile(`<svg width="([0-9.]+)pt" height="([0-9.]+)pt"`)
)

func chartSummary(t *testing.T, pos, specText string, rows []string) []string {
	t.Helper()
	res, err := resultFromCSV(strings.Join(rows, "\n"))
	if err != nil {
		t.Fatalf("%s: rows: %v", pos, err)
	}
	// The chart line as a finding's header holds it, parsed by the catalog.
	q, err := queries.ParseQuery("findings/t.sql", "-- name: t\n-- description: d\n-- inputs: v\n-- chart: "+specText+"\nselect 1")
	if err != nil {
		t.Fatalf("%s: %v", pos, err)
	}
	spec := q.Charts[0]
	if got := chartLine(spec); got != specText {
		t.Errorf("%s: chart prints as %q", pos, got)
	}
	svg, err := RenderChart(spec, res)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	s := string(svg)
	var out []string
	if m := svgSize.FindStringSubmatch(s); m != nil {
		out = append(out, "size "+m[1]+"x"+m[2]+"pt")
	}
	for _, m := range svgText.FindAllStringSubmatch(s, -1) {
		out = append(out, "text "+m[1])
	}
	out = append(out, fmt.Sprintf("shapes %d", len(svgShape.FindAllString(s, -1))))
	return out
}

// resultFromCSV types each cell: empty is NULL, then BIGINT, DOUBLE, text.
func resultFromCSV(text string) (*duck.Result, error) {
	recs, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("no header")
	}
	res := &duck.Result{}
	for _, h := range recs[0] {
		res.Columns = append(res.Columns, duck.Column{Name: h})
	}
	for _, rec := range recs[1:] {
		row := make([]any, len(rec))
		for i, c := range rec {
			if c == "" {
				continue
			}
			if v, err := strconv.ParseInt(c, 10, 64); err == nil {
				row[i] = v
			} else if v, err := strconv.ParseFloat(c, 64); err == nil {
				row[i] = v
			} else {
				row[i] = c
			}
		}
		res.Rows = append(res.Rows, row)
	}
	return res, nil
}
