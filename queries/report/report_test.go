package report

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"vitlab/etl/ingest"
	"vitlab/queries"
	"vitlab/queries/duck"

	"vitlab/internal/testfixtures"
)

// sampleDir holds the shipped sample batches (real H100 runs).
const sampleDir = "../../data/sample"

var testNow = func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }

// warehouses built once per test binary: name → directory.
var (
	whOnce sync.Map
	whRoot string
)

func TestMain(m *testing.M) {
	var err error
	if whRoot, err = os.MkdirTemp("", "vitlab-report-test-"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(whRoot)
	os.Exit(code)
}

// warehouseOf ingests paths (batch directories, or exports as one batch
// named by batchID) with the real ETL, once per test binary.
func warehouseOf(t *testing.T, name, batchID string, paths ...string) string {
	t.Helper()
	v, _ := whOnce.LoadOrStore(name, sync.OnceValues(func() (string, error) {
		dir := filepath.Join(whRoot, name)
		ctx := context.Background()
		if batchID != "" {
			_, err := ingest.Run(ctx, ingest.Request{Warehouse: dir, Paths: paths, BatchID: batchID, Jobs: 2})
			return dir, err
		}
		for _, p := range paths {
			if _, err := ingest.Run(ctx, ingest.Request{Warehouse: dir, Paths: []string{p}, Jobs: 2}); err != nil {
				return dir, err
			}
		}
		return dir, nil
	}))
	dir, err := v.(func() (string, error))()
	if err != nil {
		t.Fatalf("warehouse %s: %v", name, err)
	}
	return dir
}

// sampleWarehouse is data/sample ingested.
func sampleWarehouse(t *testing.T) string {
	batches, _ := filepath.Glob(filepath.Join(sampleDir, "*", "batch.json"))
	if len(batches) == 0 {
		t.Fatal("no sample batches in " + sampleDir)
	}
	for i, b := range batches {
		batches[i] = filepath.Dir(b)
	}
	return warehouseOf(t, "sample", "", batches...)
}

// fixtureWarehouse is every fixture export (bare exports of nsys 2020.3 to
// 2025.5) ingested as one batch.
func fixtureWarehouse(t *testing.T) string {
	exports, _ := filepath.Glob(filepath.Join(testfixtures.Nsys(), "*.sqlite"))
	if len(exports) == 0 {
		t.Fatal("no fixture exports in " + testfixtures.Nsys())
	}
	return warehouseOf(t, "fixtures", "fixtures", exports...)
}

// reports written once per test binary: warehouse → output directory.
var reports sync.Map

type written struct {
	out string
	sum Summary
	w   *queries.Warehouse
}

func writeReport(t *testing.T, wh string) written {
	t.Helper()
	v, _ := reports.LoadOrStore(wh, sync.OnceValues(func() (written, error) {
		ctx := context.Background()
		w, err := queries.Open(ctx, wh)
		if err != nil {
			return written{}, err
		}
		out := wh + "-report"
		sum, err := Write(ctx, w, out, Options{MaxRows: 5, Version: "test", Now: testNow})
		return written{out, sum, w}, err
	}))
	r, err := v.(func() (written, error))()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestReportSample writes the report of the sample warehouse: every saved
// query ran once into its CSV, every finding and the claims into Parquet
// with the same rows, every declared chart was drawn.
func TestReportSample(t *testing.T) {
	r := writeReport(t, sampleWarehouse(t))
	ctx := context.Background()
	if len(r.sum.QueriesFailed) > 0 {
		t.Errorf("queries failed on the sample:\n%s", strings.Join(r.sum.QueriesFailed, "\n"))
	}
	if len(r.sum.ChartErrors) > 0 {
		t.Errorf("charts not drawn on the sample:\n%s", strings.Join(r.sum.ChartErrors, "\n"))
	}
	cat := r.w.Catalog()
	charts := 1 - strings.Count(readFile(t, filepath.Join(r.out, "index.html")), `class="chart-nodata`) // the timeline, less charts with no data
	for _, q := range cat.Queries {
		csvRows := csvRecords(t, filepath.Join(r.out, "queries", q.Name+".csv")) - 1
		if q.Layer != queries.LayerFinding && q.Layer != queries.LayerClaims {
			continue
		}
		charts += len(q.Charts)
		pq := filepath.Join(r.out, "findings", q.Name+".parquet")
		res, err := r.w.SQL(ctx, "select count(*) from read_parquet("+duck.Quote(pq)+")")
		if err != nil {
			t.Errorf("%s: %v", q.Name, err)
			continue
		}
		if n := res.Rows[0][0].(int64); n != int64(csvRows) {
			t.Errorf("%s: %d rows in Parquet, %d in the CSV", q.Name, n, csvRows)
		}
	}
	if r.sum.Charts != charts {
		t.Errorf("drew %d charts, the findings declare %d (and the timeline)", r.sum.Charts, charts-1)
	}
	if r.sum.Queries != len(cat.Queries) {
		t.Errorf("ran %d saved queries, the catalog has %d", r.sum.Queries, len(cat.Queries))
	}
	// Each query ran once (the report is timed, and a query run twice
	// costs twice).
	seen := map[string]bool{}
	for _, tm := range r.sum.Timings {
		if seen[tm.Name] {
			t.Errorf("%s ran twice", tm.Name)
		}
		seen[tm.Name] = true
	}
	md := readFile(t, filepath.Join(r.out, "report.md"))
	for _, want := range []string{"## Claims", "## RQ1 · Architecture", "## Timeline of one run", "![timeline](charts/timeline.svg)",
		"## Provenance", "| rq1-quick-h100 |", "| rq3r-quick-h200 |", "NVIDIA H200", "## Checks", "### runs_overview", "2026-12-07 12:40", "2026-11-26T12:00:00Z"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

// TestReportSections checks index.html's order (claims, RQ1…RQ5, timeline,
// provenance, checks, appendix), one article per finding with its charts
// inline and its table, and the claims table.
func TestReportSections(t *testing.T) {
	r := writeReport(t, sampleWarehouse(t))
	doc := parseHTML(t, readFile(t, filepath.Join(r.out, "index.html")))
	var ids []string
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "section" {
			ids = append(ids, attr(n, "id"))
		}
	})
	want := []string{"claims", "rq1", "rq2", "rq3", "rq4", "rq5"}
	if len(ids) < len(want) || strings.Join(ids[:len(want)], " ") != strings.Join(want, " ") {
		t.Fatalf("sections %v, want %v first", ids, want)
	}
	if tail := strings.Join(ids[len(ids)-4:], " "); tail != "timeline provenance checks appendix" {
		t.Errorf("sections end %q", tail)
	}
	byID := map[string]*html.Node{}
	walk(doc, func(n *html.Node) {
		if id := attr(n, "id"); id != "" && n.Type == html.ElementNode {
			byID[id] = n
		}
	})
	for _, q := range r.w.Catalog().Queries {
		if q.Layer != queries.LayerFinding {
			continue
		}
		a := byID["finding-"+q.Name]
		if q.Name == betweenQuery && a == nil {
			// The sample has one batch per plan: nothing to compare, no
			// "Between batches" section (cmd/vitlab's TestCompareGate
			// checks the section on two batches of one plan).
			if byID["between"] != nil {
				t.Error("a between section without the compare_batches finding")
			}
			continue
		}
		if a == nil {
			t.Errorf("no article for finding %s", q.Name)
			continue
		}
		if sec := enclosing(a, "section"); q.RQ != "" && q.RQ != "-" && attr(sec, "id") != q.RQ {
			t.Errorf("finding %s (-- rq: %s) is in section %s", q.Name, q.RQ, attr(sec, "id"))
		}
		svgs, noData := 0, 0
		walk(a, func(n *html.Node) {
			if n.Type == html.ElementNode && n.Data == "svg" {
				svgs++
			}
			if strings.Contains(attr(n, "class"), "chart-nodata") {
				noData++
			}
		})
		if svgs+noData != len(q.Charts) {
			t.Errorf("finding %s: %d inline SVGs and %d without data, %d charts declared", q.Name, svgs, noData, len(q.Charts))
		}
		if byID["q-"+q.Name] == nil && !strings.Contains(text(a), "(no rows)") {
			t.Errorf("finding %s: no table", q.Name)
		}
	}
	if byID["timeline"] == nil || count(byID["timeline"], "svg") != 1 {
		t.Error("the timeline section has no chart")
	}
	if r.sum.Claims > 0 {
		rows := 0
		walk(byID["claims"], func(n *html.Node) {
			if n.Type == html.ElementNode && n.Data == "tr" && strings.HasPrefix(attr(n, "id"), "claim-") {
				rows++
			}
		})
		if rows != r.sum.Claims {
			t.Errorf("claims table has %d rows, the query %d", rows, r.sum.Claims)
		}
	}
}

// TestReportSelfContained: index.html loads nothing: no script, no
// stylesheet, font or image from elsewhere (links in text are allowed, as
// are SVG's xmlns namespace names, which are never fetched).
func TestReportSelfContained(t *testing.T) {
	r := writeReport(t, sampleWarehouse(t))
	page := readFile(t, filepath.Join(r.out, "index.html"))
	if bad := externalRefs(t, page); len(bad) > 0 {
		t.Errorf("index.html refers outside itself:\n%s", strings.Join(bad, "\n"))
	}
	// The detector finds what it is for.
	bad := externalRefs(t, `<html><head><link rel="stylesheet" href="https://cdn.example/x.css"><style>@import url(//x/y.css);</style></head>
		<body><script src="x.js"></script><img src="http://example.com/a.png"><svg><image href="https://e/x.png"/></svg><a href="https://example.com">ok</a></body></html>`)
	if len(bad) != 5 {
		t.Errorf("detector found %d of 5 problems: %v", len(bad), bad)
	}
}

// externalRefs lists what in page would load something: every <script>,
// <link>, <iframe>, <object>, <embed>; a src, href (outside <a>), srcset,
// poster or xlink:href that is not a data: URL or a fragment; CSS url() or
// @import that is not data:.
func externalRefs(t *testing.T, page string) []string {
	doc := parseHTML(t, page)
	var bad []string
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.Data {
		case "script", "link", "iframe", "object", "embed":
			bad = append(bad, "<"+n.Data+">")
			return
		case "style":
			css := strings.ToLower(text(n))
			if strings.Contains(css, "@import") || (strings.Contains(css, "url(") && !strings.Contains(css, "url(data:")) {
				bad = append(bad, "<style> loads: "+css[:min(len(css), 60)])
			}
		}
		for _, a := range n.Attr {
			key := strings.ToLower(a.Key)
			v := strings.TrimSpace(a.Val)
			switch {
			case key == "href" && n.Data == "a":
			case key == "src" || key == "href" || key == "srcset" || key == "poster" || key == "data" || (a.Namespace != "" && key == "href"):
				if !strings.HasPrefix(v, "data:") && !strings.HasPrefix(v, "#") {
					bad = append(bad, "<"+n.Data+" "+key+"="+v+">")
				}
			case key == "style" && strings.Contains(strings.ToLower(v), "url("):
				bad = append(bad, "<"+n.Data+" style="+v+">")
			}
		}
	})
	return bad
}

// TestReportFixtures writes the report of the fixture exports (bare exports
// of every nsys version, no plan settings): it must still be written, with
// every check passing and no query failing.
func TestReportFixtures(t *testing.T) {
	r := writeReport(t, fixtureWarehouse(t))
	if len(r.sum.QueriesFailed) > 0 {
		t.Errorf("queries failed on the fixtures:\n%s", strings.Join(r.sum.QueriesFailed, "\n"))
	}
	if len(r.sum.ChecksFailed) != 0 {
		t.Errorf("checks failed on the fixtures: %v", r.sum.ChecksFailed)
	}
	page := readFile(t, filepath.Join(r.out, "index.html"))
	for _, want := range []string{`id="checks-summary" class="ok"`, "every check passed", `id="q-nsys_kern_sum"`, `id="q-runs_overview"`} {
		if !strings.Contains(page, want) {
			t.Errorf("index.html lacks %s", want)
		}
	}
}

// TestReportEmptyWarehouse: a warehouse with no batch gives a report that
// says so everywhere.
func TestReportEmptyWarehouse(t *testing.T) {
	ctx := context.Background()
	w, err := queries.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	out := t.TempDir()
	sum, err := Write(ctx, w, out, Options{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.QueriesFailed) > 0 {
		t.Errorf("queries failed on an empty warehouse:\n%s", strings.Join(sum.QueriesFailed, "\n"))
	}
	page := readFile(t, filepath.Join(out, "index.html"))
	for _, want := range []string{"No run with GPU work in the warehouse", "(no rows)"} {
		if !strings.Contains(page, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
}

// TestRenderWithoutClaimsOrFindings renders a page as a build without
// claims.sql and findings/ gives it: each section says what is missing.
func TestRenderWithoutClaimsOrFindings(t *testing.T) {
	out := t.TempDir()
	r := &run{dir: out, opt: Options{MaxRows: 5, MaxCell: 90}, sum: &Summary{}}
	pg := &page{Title: "t", Timeline: &timelineView{Note: "nothing"},
		ClaimsNote: "No claims query: queries/claims.sql is not in this build of vitlab, so no claim has a verdict yet.", NoFindings: true}
	for _, q := range researchQuestions {
		pg.RQs = append(pg.RQs, &rqSection{ID: q.ID, Title: q.Title, Question: q.Question})
	}
	pg.Checks = []checkView{{Name: "c1", Description: "d", Err: "boom"}}
	pg.ChecksFailed = []string{"c1"}
	pg.Appendix = []tableSection{{Name: "broken", Err: "Catalog Error: no view x"}}
	if err := r.render(pg); err != nil {
		t.Fatal(err)
	}
	page := readFile(t, filepath.Join(out, "index.html"))
	for _, want := range []string{"No claims query", "No finding answers RQ1 yet", "No finding answers RQ5 yet",
		`id="checks-summary" class="bad"`, "Checks failed: c1", "The query failed: Catalog Error: no view x"} {
		if !strings.Contains(page, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	md := readFile(t, filepath.Join(out, "report.md"))
	for _, want := range []string{"No claims query", "No finding answers RQ3 yet.", "CHECKS FAILED: c1", "failed: boom"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

// TestClaimsOf reads the claims by column name, verdicts to badges.
func TestClaimsOf(t *testing.T) {
	res := &duck.Result{
		Columns: []duck.Column{{Name: "claim_id"}, {Name: "rq"}, {Name: "verdict"}, {Name: "value"}, {Name: "ci_low"}, {Name: "ci_high"}},
		Rows: [][]any{
			{"C1", "rq1", "holds", 0.9812345, 0.97, 0.99},
			{"C2", "rq1", "refuted", nil, nil, nil},
			{"C3", "rq1", "inconclusive", 1.0, nil, nil},
			{"C4", "rq1", nil, nil, nil, nil},
		},
	}
	cs := claimsOf(res)
	got := []string{}
	for _, c := range cs {
		got = append(got, c.ID+" "+c.Verdict+" "+c.VerdictClass()+" "+c.Value+" "+c.CI())
	}
	want := []string{"C1 holds v-holds 0.9812 [0.97, 0.99]", "C2 refuted v-refuted  ", "C3 inconclusive v-inconclusive 1 ", "C4 no data v-nodata  "}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func csvRecords(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return len(recs)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parseHTML(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("page does not parse: %v", err)
	}
	return doc
}

func walk(n *html.Node, f func(*html.Node)) {
	if n == nil {
		return
	}
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, key string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func enclosing(n *html.Node, tag string) *html.Node {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.Type == html.ElementNode && p.Data == tag {
			return p
		}
	}
	return nil
}

func count(n *html.Node, tag string) int {
	c := 0
	walk(n, func(m *html.Node) {
		if m.Type == html.ElementNode && m.Data == tag {
			c++
		}
	})
	return c
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(m *html.Node) {
		if m.Type == html.TextNode {
			b.WriteString(m.Data)
		}
	})
	return b.String()
}
