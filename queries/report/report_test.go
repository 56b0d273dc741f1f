package report

import (
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"vitlab/etl/ingest"
	"vitlab/queries"

	"vitlab/internal/testfixtures"
)

var fixtureDir = testfixtures.Nsys()

// fixtureReport ingests every fixture export with the real ETL, writes the
// report and returns its directory and summary.
func fixtureReport(t *testing.T) (string, Summary, *queries.Warehouse) {
	t.Helper()
	exports, _ := filepath.Glob(filepath.Join(fixtureDir, "*.sqlite"))
	if len(exports) == 0 {
		t.Fatal("no fixture exports in " + fixtureDir)
	}
	ctx := context.Background()
	wh := t.TempDir()
	if _, err := ingest.Run(ctx, ingest.Request{Warehouse: wh, Paths: exports, BatchID: "fixtures", Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	w, err := queries.Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	out := t.TempDir()
	now := func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }
	sum, err := Write(ctx, w, out, Options{MaxRows: 5, Version: "test", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return out, sum, w
}

func TestReportFiles(t *testing.T) {
	out, sum, w := fixtureReport(t)
	cat := w.Catalog()
	if sum.Queries != len(cat.Queries) {
		t.Errorf("ran %d queries, catalog has %d", sum.Queries, len(cat.Queries))
	}
	if len(sum.ChecksFailed) != 0 {
		t.Errorf("checks failed on the fixtures: %v", sum.ChecksFailed)
	}
	// Each CSV holds every row of its query, with the query's own header.
	for _, q := range cat.Queries {
		res, err := w.Run(context.Background(), q, nil)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(filepath.Join(out, "queries", q.Name+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatalf("%s.csv: %v", q.Name, err)
		}
		if len(recs) != len(res.Rows)+1 {
			t.Errorf("%s.csv: %d records, want header + %d rows", q.Name, len(recs), len(res.Rows))
		}
		if len(recs) > 0 && len(recs[0]) != len(res.Columns) {
			t.Errorf("%s.csv header has %d columns, query %d", q.Name, len(recs[0]), len(res.Columns))
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### nsys_kern_sum", "every check passed", "| fixtures |", "more rows in the CSV", "2026-11-26T12:00:00Z"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

// TestReportHTML parses report.html: it must be well formed, hold one table
// per query with rows, and say that the checks passed.
func TestReportHTML(t *testing.T) {
	out, _, w := fixtureReport(t)
	b, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	tables, ids := htmlTables(t, string(b))
	for _, q := range w.Catalog().Queries {
		if rows, ok := tables["q-"+q.Name]; !ok {
			t.Errorf("report.html: no table for %s (ids %v)", q.Name, ids)
		} else if rows < 2 {
			t.Errorf("report.html: table of %s has %d rows", q.Name, rows)
		}
	}
	if !strings.Contains(string(b), `id="checks-summary" class="ok"`) {
		t.Error("report.html does not say the checks passed")
	}
}

// TestReportInBrowser renders report.html in headless Chromium, as a reader
// would open it, and checks the rendered DOM.
func TestReportInBrowser(t *testing.T) {
	chromium := ""
	for _, c := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(c); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		t.Skip("no Chromium on this machine (make test-browser installs it)")
	}
	out, _, w := fixtureReport(t)
	page := "file://" + filepath.Join(out, "report.html")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--dump-dom", page)
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	tables, _ := htmlTables(t, string(dom))
	for _, q := range w.Catalog().Queries {
		if tables["q-"+q.Name] < 2 {
			t.Errorf("rendered page: table of %s missing or empty", q.Name)
		}
	}
	if !strings.Contains(string(dom), "every check passed") {
		t.Error("rendered page does not say the checks passed")
	}
}

// htmlTables parses a page and returns the number of rows of each table by
// id; a parse error fails the test.
func htmlTables(t *testing.T, page string) (map[string]int, []string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("report.html does not parse: %v", err)
	}
	rows := map[string]int{}
	var ids []string
	var walk func(n *html.Node, table string)
	walk = func(n *html.Node, table string) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "table":
				for _, a := range n.Attr {
					if a.Key == "id" {
						table = a.Val
						ids = append(ids, table)
					}
				}
			case "tr":
				rows[table]++
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, table)
		}
	}
	walk(doc, "")
	return rows, ids
}
