package report

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	texttemplate "text/template"
	"unicode/utf8"

	"vitlab/queries/duck"
)

//go:embed templates/index.html.tmpl templates/report.md.tmpl templates/style.css
var templateFiles embed.FS

// page is everything the templates show.
type page struct {
	Title, Version, Generated string

	Claims        []claimRow
	ClaimsNote    string
	ClaimsError   string
	ClaimsFiles   []string
	VerdictCounts []verdictCount

	RQs        []*rqSection
	NoFindings bool

	Timeline *timelineView

	Batches, Repeats, FewRepeats tableView

	Checks       []checkView
	ChecksFailed []string

	Appendix []tableSection
}

type claimRow struct {
	ID, RQ, Claim, Verdict, Value, CILow, CIHigh, Threshold, Configs, Runs, Evidence string
	// From the statistics columns, where the claims query has them (empty
	// otherwise): the value's unit, the interval's confidence level and
	// method, the fewest runs of a configuration behind the verdict, the
	// runs per configuration that would decide it, and why the verdict is
	// what it is.
	Unit, Level, Method, NRunsMin, RunsNeeded, Reason string
	// EvidenceFull is the evidence as the query wrote it (Evidence may
	// have its configuration ids shortened).
	EvidenceFull string
}

// ValueWithUnit is the deciding value and its unit ("54.59 GB/s").
func (c claimRow) ValueWithUnit() string {
	if c.Value == "" {
		return ""
	}
	u := c.Unit
	if u == "" {
		u = unitFromThreshold(c.Threshold)
	}
	switch u {
	case "", "1", "fraction":
		return c.Value
	case "x", "×", "ratio":
		return c.Value + "×"
	}
	return c.Value + " " + u
}

// unitFromThreshold guesses a claim's unit from its testable form when the
// claims query has no unit column.
func unitFromThreshold(t string) string {
	t = strings.ToLower(t)
	switch {
	case strings.Contains(t, "gb/s"):
		return "GB/s"
	case strings.Contains(t, "images"):
		return "images"
	case strings.Contains(t, "speedup"), strings.Contains(t, "ratio"), strings.Contains(t, "/remote"), strings.Contains(t, "async/sync"),
		strings.Contains(t, "cpu/gpu"), strings.Contains(t, "token rate"), strings.Contains(t, " / throughput"):
		return "×"
	}
	return ""
}

// NRuns is the runs behind the verdict: the fewest per configuration when
// the claims query says, else the runs it used.
func (c claimRow) NRuns() string {
	if c.NRunsMin != "" {
		return c.NRunsMin + " per config"
	}
	return c.Runs
}

// Why is the verdict's reason, or the evidence where there is none.
func (c claimRow) Why() string {
	if c.Reason != "" {
		return c.Reason
	}
	return c.Evidence
}

// VerdictClass is the CSS class of the verdict's badge.
func (c claimRow) VerdictClass() string { return verdictClass(c.Verdict) }

func verdictClass(v string) string {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "holds":
		return "v-holds"
	case "refuted":
		return "v-refuted"
	case "inconclusive":
		return "v-inconclusive"
	}
	return "v-nodata"
}

// CI is the interval as "[lo, hi]", empty when there is none.
func (c claimRow) CI() string {
	if c.CILow == "" && c.CIHigh == "" {
		return ""
	}
	return "[" + c.CILow + ", " + c.CIHigh + "]"
}

type verdictCount struct {
	Verdict, Class string
	N              int
}

type rqSection struct {
	ID, Title, Question string
	Nav                 string // the navigation bar's label
	Answer              string // in words, from the findings (answers.go)
	Findings            []findingView
	Claims              []claimRow
}

type findingView struct {
	Name, Description, File string
	CSV, Parquet            string
	Charts                  []chartView
	Main                    tableView // the answer's columns first, short labels
	Table                   tableView // every column, folded
	Err                     string    // the query failed
}

type chartView struct {
	Spec, Title string
	Note        string // e.g. why no interval is drawn
	File        string
	SVG         template.HTML
	Err         string // the chart could not be drawn
	NoData      string // the rows hold nothing to draw
}

type timelineView struct {
	BatchID, RunID, Name, Why string
	WindowMs                  float64
	WindowFrom                string
	Ops, Lanes                int
	File                      string
	SVG                       template.HTML
	Note                      string
}

type checkView struct {
	Name, Description string
	Rows              int
	Table             *tableView
	Err               string
}

type tableSection struct {
	Name, Description, File, CSV string
	Table                        tableView
	Err                          string
}

type tableView struct {
	ID   string
	Head []string
	// HeadTitle is each header's hover text (the column's name where the
	// header is in words); may be shorter than Head.
	HeadTitle []string
	Rows      [][]cellView
	Total     int
	More      int
}

type cellView struct {
	Text  string
	Num   bool
	Title string // hover text: the whole value (e.g. the full config_id)
}

// Th is the i-th header's hover text.
func (t tableView) Th(i int) string {
	if i < len(t.HeadTitle) {
		return t.HeadTitle[i]
	}
	return ""
}

// claimsOf reads the claims query's rows by column name; a column the
// query lacks reads as empty.
func claimsOf(res *duck.Result) []claimRow {
	idx := map[string]int{}
	for i, c := range res.Columns {
		idx[c.Name] = i
	}
	get := func(r []any, name string) string {
		i, ok := idx[name]
		if !ok || r[i] == nil {
			return ""
		}
		return displayText(r[i])
	}
	var out []claimRow
	for _, r := range res.Rows {
		c := claimRow{ID: get(r, "claim_id"), RQ: get(r, "rq"), Claim: get(r, "claim"), Verdict: get(r, "verdict"),
			Value: get(r, "value"), CILow: get(r, "ci_low"), CIHigh: get(r, "ci_high"), Threshold: get(r, "threshold"),
			Configs: get(r, "configs"), Runs: get(r, "runs"), Evidence: get(r, "evidence"),
			Unit: get(r, "unit"), Method: get(r, "method"), NRunsMin: get(r, "n_runs_min"), RunsNeeded: get(r, "runs_needed"),
			Reason: get(r, "reason")}
		if lv := get(r, "conf_level"); lv != "" {
			// 0.95 or 95: printed as a percentage.
			if f, err := strconv.ParseFloat(lv, 64); err == nil {
				if f <= 1 {
					f *= 100
				}
				lv = strconv.FormatFloat(f, 'f', -1, 64) + " %"
			}
			c.Level = lv
		}
		if c.Verdict == "" {
			c.Verdict = "no data"
		}
		out = append(out, c)
	}
	return out
}

func verdictCounts(cs []claimRow) []verdictCount {
	var out []verdictCount
	for _, v := range []string{"holds", "refuted", "inconclusive", "no data"} {
		n := 0
		for _, c := range cs {
			if verdictClass(c.Verdict) == verdictClass(v) {
				n++
			}
		}
		out = append(out, verdictCount{v, verdictClass(v), n})
	}
	return out
}

// table turns a result into the first MaxRows rows of display text.
func (r *run) table(res *duck.Result, id string) tableView {
	t := tableView{ID: id, Total: len(res.Rows)}
	if n, ok := r.totals[res]; ok {
		t.Total = n
	}
	for _, c := range res.Columns {
		t.Head = append(t.Head, c.Name)
	}
	for i, row := range res.Rows {
		if i == r.opt.MaxRows {
			t.More = t.Total - i
			break
		}
		cells := make([]cellView, len(row))
		for j, v := range row {
			s := displayText(v)
			if utf8.RuneCountInString(s) > r.opt.MaxCell {
				s = string([]rune(s)[:r.opt.MaxCell-1]) + "…"
			}
			_, num := number(v)
			_, isBool := v.(bool)
			cells[j] = cellView{Text: s, Num: num && !isBool}
		}
		t.Rows = append(t.Rows, cells)
	}
	return t
}

var svgProlog = regexp.MustCompile(`(?s)^\s*<\?xml[^>]*\?>\s*(<!--.*?-->\s*)?`)

// inlineSVG makes a standalone SVG document an element of the page: no XML
// prolog, an id, a class for the stylesheet, and an accessible name.
func inlineSVG(svg []byte, id, label string) template.HTML {
	s := svgProlog.ReplaceAllString(string(svg), "")
	attrs := fmt.Sprintf(`<svg id="%s" class="chart" role="img" aria-label="%s" `,
		template.HTMLEscapeString(id), template.HTMLEscapeString(label))
	s = strings.Replace(s, "<svg ", attrs, 1)
	return template.HTML(s) // gonum/plot's SVG: text is escaped by vgsvg
}

var funcs = map[string]any{
	"upper":     strings.ToUpper,
	"hasPrefix": strings.HasPrefix,
	"md":        mdEscape,
	"plus":      func(a, b int) int { return a + b },
	"ms":        func(f float64) string { return fmt.Sprintf("%.1f", f) },
}

var (
	htmlTmpl = template.Must(template.New("index.html.tmpl").Funcs(funcs).ParseFS(templateFiles, "templates/index.html.tmpl"))
	mdTmpl   = texttemplate.Must(texttemplate.New("report.md.tmpl").Funcs(funcs).ParseFS(templateFiles, "templates/report.md.tmpl"))
)

// render writes index.html and report.md.
func (r *run) render(pg *page) error {
	css, err := templateFiles.ReadFile("templates/style.css")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var h bytes.Buffer
	if err := htmlTmpl.Execute(&h, struct {
		*page
		CSS template.CSS
	}{pg, template.CSS(css)}); err != nil {
		return fmt.Errorf("report: index.html: %w", err)
	}
	var m bytes.Buffer
	if err := mdTmpl.Execute(&m, pg); err != nil {
		return fmt.Errorf("report: report.md: %w", err)
	}
	for name, b := range map[string][]byte{"index.html": h.Bytes(), "report.md": m.Bytes()} {
		if err := writeFile(filepath.Join(r.dir, name), string(b)); err != nil {
			return err
		}
		r.sum.Files = append(r.sum.Files, name)
	}
	return nil
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;").Replace(s)
}
