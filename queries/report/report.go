package report

import (
	"context"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"time"

	"vitlab/queries"
	"vitlab/queries/duck"
)

// Options tune the report.
type Options struct {
	// MaxRows is the number of rows of each query shown in the report
	// (the CSV beside it holds all of them). Default 40.
	MaxRows int
	// MaxCell cuts longer cells in the report (not in the CSVs). Default 90.
	MaxCell int
	// Title of the report.
	Title string
	// Version is the vitlab version printed in the header.
	Version string
	// Now stamps the report (default time.Now).
	Now func() time.Time
}

// Section is one query's (or check's) result in the report.
type Section struct {
	Query  *queries.Query
	Result *duck.Result
	CSV    string // file name of the full result, relative to the output dir
	Check  bool
}

// Summary says what the report holds.
type Summary struct {
	Queries      int
	Rows         int
	ChecksFailed []string // checks that returned rows
	Files        []string // files written, relative to the output dir
}

// Write runs the catalog over w and writes the report into dir.
func Write(ctx context.Context, w *queries.Warehouse, dir string, opt Options) (Summary, error) {
	if opt.MaxRows <= 0 {
		opt.MaxRows = 40
	}
	if opt.MaxCell <= 0 {
		opt.MaxCell = 90
	}
	if opt.Title == "" {
		opt.Title = "vitlab report"
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	var sum Summary
	if err := os.MkdirAll(filepath.Join(dir, "queries"), 0o755); err != nil {
		return sum, fmt.Errorf("report: %w", err)
	}
	cat := w.Catalog()
	var sections []Section
	for _, q := range cat.Queries {
		res, err := w.Run(ctx, q, nil)
		if err != nil {
			return sum, fmt.Errorf("report: query %s: %w", q.Name, err)
		}
		csvName := "queries/" + q.Name + ".csv"
		if err := writeCSV(filepath.Join(dir, csvName), res); err != nil {
			return sum, err
		}
		sum.Files = append(sum.Files, csvName)
		sum.Queries++
		sum.Rows += len(res.Rows)
		sections = append(sections, Section{Query: q, Result: res, CSV: csvName})
	}
	for _, q := range cat.Checks {
		res, err := w.Run(ctx, q, nil)
		if err != nil {
			return sum, fmt.Errorf("report: check %s: %w", q.Name, err)
		}
		if len(res.Rows) > 0 {
			sum.ChecksFailed = append(sum.ChecksFailed, q.Name)
		}
		sections = append(sections, Section{Query: q, Result: res, Check: true})
	}
	batches, err := w.SQL(ctx, `select batch_id, source, plan, profile, host, runs, failed_inputs,
		strftime(ingested_at, '%Y-%m-%d %H:%M:%SZ') as ingested_at from batches order by batch_id`)
	if err != nil {
		return sum, fmt.Errorf("report: batches: %w", err)
	}
	doc := &document{opt: opt, batches: batches, sections: sections, summary: &sum}
	for name, render := range map[string]func() string{"report.md": doc.markdown, "report.html": doc.html} {
		if err := writeFile(filepath.Join(dir, name), render()); err != nil {
			return sum, err
		}
		sum.Files = append(sum.Files, name)
	}
	return sum, nil
}

func writeCSV(path string, res *duck.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := queries.WriteCSV(f, res); err != nil {
		f.Close()
		return fmt.Errorf("report: %s: %w", path, err)
	}
	return f.Close()
}

func writeFile(path, text string) error {
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

type document struct {
	opt      Options
	batches  *duck.Result
	sections []Section
	summary  *Summary
}

func (d *document) cells(res *duck.Result, max int) (head []string, rows [][]string, more int) {
	for _, c := range res.Columns {
		head = append(head, c.Name)
	}
	for i, r := range res.Rows {
		if i == max {
			more = len(res.Rows) - max
			break
		}
		row := make([]string, len(r))
		for j, v := range r {
			s := queries.FormatValue(v)
			if rs := []rune(s); len(rs) > d.opt.MaxCell {
				s = string(rs[:d.opt.MaxCell-1]) + "…"
			}
			row[j] = s
		}
		rows = append(rows, row)
	}
	return head, rows, more
}

func (d *document) checkLine() string {
	if len(d.summary.ChecksFailed) == 0 {
		return fmt.Sprintf("every check passed (%d checks returned no rows)", countChecks(d.sections))
	}
	return fmt.Sprintf("CHECKS FAILED: %s", strings.Join(d.summary.ChecksFailed, ", "))
}

func countChecks(ss []Section) int {
	n := 0
	for _, s := range ss {
		if s.Check {
			n++
		}
	}
	return n
}

func (d *document) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", d.opt.Title)
	fmt.Fprintf(&b, "Generated %s by vitlab %s from the committed batches of the warehouse. "+
		"Every table below is a saved query (`queries/<name>.sql`) as `vitlab query <name>` prints it; "+
		"the full results are in `queries/<name>.csv`.\n\n", d.opt.Now().UTC().Format(time.RFC3339), d.opt.Version)
	fmt.Fprintf(&b, "**Checks:** %s.\n\n## Batches\n\n", d.checkLine())
	mdTable(&b, d, d.batches)
	b.WriteString("\n## Saved queries\n\n")
	for _, s := range d.sections {
		if !s.Check {
			fmt.Fprintf(&b, "- [%s](#%s) — %d rows\n", s.Query.Name, s.Query.Name, len(s.Result.Rows))
		}
	}
	for _, s := range d.sections {
		if s.Check {
			continue
		}
		fmt.Fprintf(&b, "\n### %s\n\n%s\n\n", s.Query.Name, s.Query.Description)
		fmt.Fprintf(&b, "%d rows; all of them in [`%s`](%s).\n\n", len(s.Result.Rows), s.CSV, s.CSV)
		mdTable(&b, d, s.Result)
	}
	b.WriteString("\n## Checks\n\nEach check returns no rows on a healthy warehouse.\n\n| check | rows | what it looks for |\n|---|---|---|\n")
	for _, s := range d.sections {
		if s.Check {
			fmt.Fprintf(&b, "| %s | %d | %s |\n", s.Query.Name, len(s.Result.Rows), mdEscape(s.Query.Description))
		}
	}
	for _, s := range d.sections {
		if s.Check && len(s.Result.Rows) > 0 {
			fmt.Fprintf(&b, "\n### check %s\n\n", s.Query.Name)
			mdTable(&b, d, s.Result)
		}
	}
	return b.String()
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;").Replace(s)
}

func mdTable(b *strings.Builder, d *document, res *duck.Result) {
	head, rows, more := d.cells(res, d.opt.MaxRows)
	if len(rows) == 0 {
		b.WriteString("(no rows)\n")
		return
	}
	b.WriteString("|")
	for _, h := range head {
		b.WriteString(" " + mdEscape(h) + " |")
	}
	b.WriteString("\n|")
	for range head {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("|")
		for _, c := range r {
			b.WriteString(" " + mdEscape(c) + " |")
		}
		b.WriteString("\n")
	}
	if more > 0 {
		fmt.Fprintf(b, "\n… %d more rows in the CSV.\n", more)
	}
}

const css = `body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:12px}th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0;position:sticky;top:0}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#176317}.bad{color:#a40000;font-weight:bold}code{background:#f4f4f4;padding:0 3px}.wrap{overflow-x:auto}`

func (d *document) html() string {
	var b strings.Builder
	e := html.EscapeString
	fmt.Fprintf(&b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title><style>%s</style></head><body>\n", e(d.opt.Title), css)
	fmt.Fprintf(&b, "<h1>%s</h1>\n<p>Generated %s by vitlab %s from the committed batches of the warehouse. "+
		"Every table is a saved query (<code>queries/&lt;name&gt;.sql</code>) as <code>vitlab query &lt;name&gt;</code> prints it; "+
		"the full results are in <code>queries/&lt;name&gt;.csv</code>.</p>\n",
		e(d.opt.Title), e(d.opt.Now().UTC().Format(time.RFC3339)), e(d.opt.Version))
	class := "ok"
	if len(d.summary.ChecksFailed) > 0 {
		class = "bad"
	}
	fmt.Fprintf(&b, "<p id=\"checks-summary\" class=\"%s\">Checks: %s.</p>\n<h2>Batches</h2>\n", class, e(d.checkLine()))
	htmlTable(&b, d, d.batches, "batches")
	b.WriteString("<h2>Saved queries</h2>\n<ul>\n")
	for _, s := range d.sections {
		if !s.Check {
			fmt.Fprintf(&b, "<li><a href=\"#%s\">%s</a> — %d rows</li>\n", e(s.Query.Name), e(s.Query.Name), len(s.Result.Rows))
		}
	}
	b.WriteString("</ul>\n")
	for _, s := range d.sections {
		if s.Check {
			continue
		}
		fmt.Fprintf(&b, "<h3 id=\"%s\">%s</h3>\n<p>%s</p>\n<p>%d rows; all of them in <a href=\"%s\">%s</a>.</p>\n",
			e(s.Query.Name), e(s.Query.Name), e(s.Query.Description), len(s.Result.Rows), e(s.CSV), e(s.CSV))
		htmlTable(&b, d, s.Result, "q-"+s.Query.Name)
	}
	b.WriteString("<h2>Checks</h2>\n<p>Each check returns no rows on a healthy warehouse.</p>\n<table id=\"checks\"><tr><th>check</th><th>rows</th><th>what it looks for</th></tr>\n")
	for _, s := range d.sections {
		if s.Check {
			cl := "ok"
			if len(s.Result.Rows) > 0 {
				cl = "bad"
			}
			fmt.Fprintf(&b, "<tr><td>%s</td><td class=\"n %s\">%d</td><td>%s</td></tr>\n", e(s.Query.Name), cl, len(s.Result.Rows), e(s.Query.Description))
		}
	}
	b.WriteString("</table>\n")
	for _, s := range d.sections {
		if s.Check && len(s.Result.Rows) > 0 {
			fmt.Fprintf(&b, "<h3>check %s</h3>\n", e(s.Query.Name))
			htmlTable(&b, d, s.Result, "check-"+s.Query.Name)
		}
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

func htmlTable(b *strings.Builder, d *document, res *duck.Result, id string) {
	head, rows, more := d.cells(res, d.opt.MaxRows)
	if len(rows) == 0 {
		b.WriteString("<p>(no rows)</p>\n")
		return
	}
	e := html.EscapeString
	fmt.Fprintf(b, "<div class=\"wrap\"><table id=\"%s\"><tr>", e(id))
	for _, h := range head {
		fmt.Fprintf(b, "<th>%s</th>", e(h))
	}
	b.WriteString("</tr>\n")
	for i, r := range rows {
		b.WriteString("<tr>")
		for j, c := range r {
			cl := ""
			switch res.Rows[i][j].(type) {
			case int64, float64, duck.Decimal:
				cl = ` class="n"`
			}
			fmt.Fprintf(b, "<td%s>%s</td>", cl, e(c))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table></div>\n")
	if more > 0 {
		fmt.Fprintf(b, "<p>… %d more rows in the CSV.</p>\n", more)
	}
}
