package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"vitlab/queries"
	"vitlab/queries/duck"
)

// Options tune the report.
type Options struct {
	// MaxRows is the number of rows of each table shown in the report (the
	// CSV and Parquet files beside it hold all of them). Default 40.
	MaxRows int
	// MaxCell cuts longer cells in the report (not in the files). Default 90.
	MaxCell int
	// Title of the report.
	Title string
	// Version is the vitlab version printed in the header.
	Version string
	// Now stamps the report (default time.Now).
	Now func() time.Time
	// TimelineRun is the run_id whose timeline the report draws; empty
	// picks a representative async run.
	TimelineRun string
}

// Summary says what the report holds.
type Summary struct {
	Queries      int      // saved queries run
	Rows         int      // rows they returned
	Findings     int      // saved queries of findings/
	Charts       int      // charts drawn (the timeline included)
	ChartErrors  []string // charts declared but not drawn, and why
	Claims       int      // rows of the claims query; -1 when there is none
	ChecksFailed []string // checks that returned rows (or failed to run)
	// QueriesFailed are the saved queries and checks that could not run,
	// with DuckDB's error; the report shows the error in their place.
	QueriesFailed []string
	Files         []string // files written, relative to the output dir
	// Timings is how long each saved query and check took, slowest first.
	Timings []Timing
	Elapsed time.Duration
}

// Timing is one query's run time.
type Timing struct {
	Name     string
	Duration time.Duration
}

// The research questions (docs/claims.md), in the report's order.
var researchQuestions = []struct{ ID, Title, Question string }{
	{"rq1", "Architecture", "How patch, depth and hidden change throughput, GPU busy time and achieved TFLOP/s; where runs turn from launch-bound to compute-bound."},
	{"rq2", "Resolution", "Throughput, latency and memory against resolution and token count."},
	{"rq3", "Compilation", "Speedup of each torch.compile mode over eager, compile time, break-even image count."},
	{"rq4", "NUMA", "Throughput ratio local/remote, by model and batch size."},
	{"rq5", "Pipeline", "Sync vs async, queue depth, CPU vs GPU preprocessing: throughput and latency percentiles."},
}

// Write runs every saved query and check of w's catalog once and writes the
// report into dir: index.html (self-contained: inline CSS and SVG, no
// script), report.md, charts/*.svg, queries/<name>.csv for every saved
// query, and findings/<name>.parquet for every finding and the claims.
func Write(ctx context.Context, w *queries.Warehouse, dir string, opt Options) (Summary, error) {
	start := time.Now()
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
	sum := Summary{Claims: -1}
	for _, sub := range []string{"queries", "findings", "charts"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return sum, fmt.Errorf("report: %w", err)
		}
	}
	r := &run{ctx: ctx, w: w, dir: dir, opt: opt, sum: &sum, totals: map[*duck.Result]int{}}
	pg := &page{Title: opt.Title, Version: opt.Version, Generated: opt.Now().UTC().Format(time.RFC3339)}

	cat := w.Catalog()
	if err := r.materialize(cat); err != nil {
		return sum, err
	}
	var findings []*queries.Query
	var claims *queries.Query
	var appendix []*queries.Query
	for _, q := range cat.Queries {
		switch q.Layer {
		case queries.LayerClaims:
			claims = q
		case queries.LayerFinding:
			findings = append(findings, q)
		default:
			appendix = append(appendix, q)
		}
	}

	// Claims first: the RQ sections list their own.
	var claimRows []claimRow
	results := map[string]*duck.Result{} // by query name, for the answers
	if claims == nil {
		pg.ClaimsNote = "No claims query: queries/claims.sql is not in this build of vitlab, so no claim has a verdict yet."
	} else {
		res, err := r.query(claims, true)
		if err != nil {
			pg.ClaimsError = err.Error()
			res = &duck.Result{}
		}
		sum.Claims = len(res.Rows)
		results[claims.Name] = res
		claimRows = claimsOf(res)
		pg.Claims = claimRows
		pg.ClaimsFiles = []string{"queries/" + claims.Name + ".csv", "findings/" + claims.Name + ".parquet"}
		if len(res.Rows) == 0 && err == nil {
			pg.ClaimsNote = "The claims query returned no rows."
		}
		pg.VerdictCounts = verdictCounts(claimRows)
	}

	// One section per research question, then the cross-cutting findings.
	sections := map[string]*rqSection{}
	for _, q := range researchQuestions {
		s := &rqSection{ID: q.ID, Nav: strings.ToUpper(q.ID), Title: strings.ToUpper(q.ID) + " · " + q.Title, Question: q.Question}
		pg.RQs = append(pg.RQs, s)
		sections[q.ID] = s
	}
	var between *rqSection
	cross := &rqSection{ID: "cross", Nav: "Cross-cutting", Title: "Cross-cutting", Question: "Findings and claims that span the research questions (e.g. host↔device bandwidth)."}
	for _, q := range findings {
		sum.Findings++
		f := findingView{Name: q.Name, Description: q.Description, File: q.File,
			CSV: "queries/" + q.Name + ".csv", Parquet: "findings/" + q.Name + ".parquet"}
		if res, err := r.query(q, true); err != nil {
			f.Err = err.Error()
		} else {
			results[q.Name] = res
			f.Main, f.Table = r.findingTables(q, res)
			for i, c := range q.Charts {
				f.Charts = append(f.Charts, r.chart(q.Name, i, c, res))
			}
		}
		if q.Name == betweenQuery {
			// Its own section, and only when a plan has two batches.
			between = r.between(q, f, results[q.Name])
			continue
		}
		s := cross
		if id := normRQ(q.RQ); sections[id] != nil {
			s = sections[id]
		}
		s.Findings = append(s.Findings, f)
	}
	// Configuration ids in the claims' evidence, shortened for reading (the
	// CSV and the hover keep them whole).
	short := shortConfigIDs(results)
	for i := range claimRows {
		claimRows[i].EvidenceFull = claimRows[i].Evidence
		claimRows[i].Evidence = short.Replace(claimRows[i].Evidence)
	}
	pg.Claims = claimRows
	for _, c := range claimRows {
		s := cross
		if sections[normRQ(c.RQ)] != nil {
			s = sections[normRQ(c.RQ)]
		}
		s.Claims = append(s.Claims, c)
	}
	if len(cross.Findings) > 0 || len(cross.Claims) > 0 {
		pg.RQs = append(pg.RQs, cross)
	}
	if between != nil {
		pg.RQs = append(pg.RQs, between)
	}
	pg.NoFindings = len(findings) == 0

	// An answer in words per research question, from the results above.
	for name, sql := range internalQueries {
		res, err := r.w.SQL(r.ctx, sql)
		if err != nil {
			return sum, fmt.Errorf("report: %s: %w", name, err)
		}
		results[name] = res
	}
	answers := (&answerer{results: results}).answers()
	for _, a := range answers {
		if s := sections[a.RQ]; s != nil {
			s.Answer = a.Text
		}
	}
	if err := writeJSON(filepath.Join(dir, "answers.json"), answers); err != nil {
		return sum, err
	}
	sum.Files = append(sum.Files, "answers.json")

	// The timeline of one run.
	tv, err := r.timeline()
	if err != nil {
		return sum, err
	}
	pg.Timeline = tv

	// Provenance.
	if pg.Batches, err = r.sqlTable(provenanceSQL, "provenance-batches"); err != nil {
		return sum, err
	}
	if pg.Repeats, err = r.sqlTable(repeatsSQL, "provenance-repeats"); err != nil {
		return sum, err
	}
	if pg.FewRepeats, err = r.sqlTable(fewRepeatsSQL, "provenance-few-repeats"); err != nil {
		return sum, err
	}

	// Checks.
	for _, q := range cat.Checks {
		cv := checkView{Name: q.Name, Description: q.Description}
		res, err := r.timed(q)
		if err != nil {
			cv.Err = err.Error()
			sum.ChecksFailed = append(sum.ChecksFailed, q.Name)
			sum.QueriesFailed = append(sum.QueriesFailed, "check "+q.Name+": "+err.Error())
		} else if cv.Rows = len(res.Rows); cv.Rows > 0 {
			sum.ChecksFailed = append(sum.ChecksFailed, q.Name)
			t := r.table(res, "check-"+q.Name)
			cv.Table = &t
		}
		pg.Checks = append(pg.Checks, cv)
	}
	pg.ChecksFailed = sum.ChecksFailed

	// Appendix: the runs overview first, then the other saved queries, the
	// nsys summaries last.
	slices.SortStableFunc(appendix, func(a, b *queries.Query) int { return appendixRank(a) - appendixRank(b) })
	for _, q := range appendix {
		ts := tableSection{Name: q.Name, Description: q.Description, File: q.File, CSV: "queries/" + q.Name + ".csv"}
		if res, err := r.query(q, false); err != nil {
			ts.Err = err.Error()
		} else {
			ts.Table = r.table(res, "q-"+q.Name)
		}
		pg.Appendix = append(pg.Appendix, ts)
	}

	if err := r.render(pg); err != nil {
		return sum, err
	}
	slices.SortStableFunc(sum.Timings, func(a, b Timing) int { return int(b.Duration - a.Duration) })
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// run is the state of one Write.
type run struct {
	ctx    context.Context
	w      *queries.Warehouse
	dir    string
	opt    Options
	sum    *Summary
	tables int // temp tables created
	// totals are the full row counts of results that hold only the first
	// rows (appendix queries), for the tables' "all N rows".
	totals map[*duck.Result]int
}

func (r *run) timed(q *queries.Query) (*duck.Result, error) {
	t0 := time.Now()
	res, err := r.w.Run(r.ctx, q, nil)
	r.sum.Timings = append(r.sum.Timings, Timing{q.Name, time.Since(t0)})
	return res, err
}

// query runs q once with its defaults and writes its CSV; with parquet, it
// also writes findings/<name>.parquet from the same result (the query runs
// into a temporary table that both read).
func (r *run) query(q *queries.Query, parquet bool) (*duck.Result, error) {
	res, err := r.query1(q, parquet)
	if err != nil {
		r.sum.QueriesFailed = append(r.sum.QueriesFailed, err.Error())
	}
	return res, err
}

func (r *run) query1(q *queries.Query, parquet bool) (*duck.Result, error) {
	rel := "queries/" + q.Name + ".csv"
	csvPath := filepath.Join(r.dir, filepath.FromSlash(rel))
	t0 := time.Now()
	var res *duck.Result
	var total int
	var err error
	if parquet {
		res, total, err = r.finding(q, csvPath)
	} else {
		// An appendix query (an nsys summary: millions of rows at scale):
		// its CSV is streamed from the query (the bytes of vitlab query
		// --format csv) and the page gets its first rows; no table holds
		// it whole.
		res, total, err = r.w.RunCSV(r.ctx, q, nil, csvPath, r.opt.MaxRows+1)
	}
	r.sum.Timings = append(r.sum.Timings, Timing{q.Name, time.Since(t0)})
	if err != nil {
		return nil, fmt.Errorf("report: query %s: %w", q.Name, err)
	}
	r.totals[res] = total
	r.sum.Files = append(r.sum.Files, rel)
	r.sum.Queries++
	r.sum.Rows += total
	return res, nil
}

// finding runs a finding (or the claims) once into a temporary table, reads
// every row of it for the page and the CSV at csvPath, and has DuckDB write
// findings/<name>.parquet from the same table.
func (r *run) finding(q *queries.Query, csvPath string) (*duck.Result, int, error) {
	r.tables++
	tmp := fmt.Sprintf("_report_result_%d", r.tables)
	if err := r.w.RunInto(r.ctx, q, nil, tmp); err != nil {
		return nil, 0, err
	}
	res, err := r.w.SQL(r.ctx, "select * from "+tmp)
	if err != nil {
		return nil, 0, err
	}
	rel := "findings/" + q.Name + ".parquet"
	read := &queries.Query{Name: q.Name, File: q.File, SQL: "select * from " + tmp}
	if err := r.w.WriteParquet(r.ctx, read, nil, filepath.Join(r.dir, filepath.FromSlash(rel))); err != nil {
		return nil, 0, err
	}
	r.sum.Files = append(r.sum.Files, rel)
	if err := writeCSV(csvPath, res); err != nil {
		return nil, 0, err
	}
	if _, err := r.w.SQL(r.ctx, "drop table "+tmp); err != nil {
		return nil, 0, err
	}
	return res, len(res.Rows), nil
}

// materialize computes the per-run and per-configuration metric views once
// (Warehouse.MaterializeMetrics) and records how long it took.
func (r *run) materialize(cat *queries.Catalog) error {
	d, err := r.w.MaterializeMetrics(r.ctx)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	r.sum.Timings = append(r.sum.Timings, Timing{"(metric views, once)", d})
	return nil
}

// sqlTable runs ad-hoc SQL over the views (provenance) into a table.
func (r *run) sqlTable(sql, id string) (tableView, error) {
	res, err := r.w.SQL(r.ctx, sql)
	if err != nil {
		return tableView{}, fmt.Errorf("report: %s: %w", id, err)
	}
	return r.table(res, id), nil
}

// chart draws the i-th chart line of a finding; a chart that cannot be drawn
// is reported in its place (and in the summary), not fatal.
func (r *run) chart(finding string, i int, spec queries.Chart, res *duck.Result) chartView {
	cv := chartView{Spec: chartLine(spec), Title: chartTitle(spec)}
	svg, f, err := renderChart(spec, res)
	if f != nil && f.hasIntervals && f.errorBars < len(f.points) {
		if f.errorBars == 0 {
			cv.Note = "No interval drawn: no row has one (intervals need repeats: see the answer above)."
		} else {
			cv.Note = fmt.Sprintf("Intervals drawn for %d of %d points; the others have none.", f.errorBars, len(f.points))
		}
	}
	{
		if err == nil {
			rel := fmt.Sprintf("charts/%s-%d.svg", finding, i+1)
			if err = writeFile(filepath.Join(r.dir, filepath.FromSlash(rel)), string(svg)); err != nil {
				return cv
			}
			r.sum.Files = append(r.sum.Files, rel)
			r.sum.Charts++
			cv.File, cv.SVG = rel, inlineSVG(svg, fmt.Sprintf("chart-%s-%d", finding, i+1), cv.Title)
			return cv
		}
	}
	if errors.Is(err, errNoPoints) {
		cv.NoData = fmt.Sprintf("none of the %d rows has both a %s and a %s; the answer above says why", len(res.Rows), spec.X, spec.Y)
		return cv
	}
	cv.Err = err.Error()
	r.sum.ChartErrors = append(r.sum.ChartErrors, finding+": "+cv.Err)
	return cv
}

func (r *run) timeline() (*timelineView, error) {
	batch, runID, name, why, err := chooseTimelineRun(r.ctx, r.w, r.opt.TimelineRun)
	if err != nil {
		return nil, err
	}
	if runID == "" {
		return &timelineView{Note: "No run with GPU work in the warehouse: nothing to draw."}, nil
	}
	tl, err := loadTimeline(r.ctx, r.w, batch, runID)
	if err != nil {
		return nil, err
	}
	tv := &timelineView{BatchID: batch, RunID: runID, Name: name, Why: why}
	if tl == nil {
		tv.Note = "The run has no timed window and no GPU operation."
		return tv, nil
	}
	tv.WindowMs = float64(tl.WindowNs) / 1e6
	tv.WindowFrom, tv.Ops, tv.Lanes = tl.WindowFrom, tl.Ops, len(tl.Lanes)
	svg, err := RenderTimeline(tl)
	if err != nil {
		tv.Note = err.Error()
		r.sum.ChartErrors = append(r.sum.ChartErrors, "timeline: "+err.Error())
		return tv, nil
	}
	rel := "charts/timeline.svg"
	if err := writeFile(filepath.Join(r.dir, rel), string(svg)); err != nil {
		return nil, err
	}
	r.sum.Files = append(r.sum.Files, rel)
	r.sum.Charts++
	tv.File, tv.SVG = rel, inlineSVG(svg, "timeline", "timeline of run "+runID)
	return tv, nil
}

func appendixRank(q *queries.Query) int {
	switch {
	case q.Name == "runs_overview":
		return 0
	case q.Layer == queries.LayerNsys:
		return 2
	}
	return 1
}

// shortConfigIDs replaces each config_id of the findings' results with a
// shorter form: without its "rqN-" prefix, "-nnone" and, when the
// warehouse holds one GPU, its " @ GPU" suffix; words joined by spaces.
func shortConfigIDs(results map[string]*duck.Result) *strings.Replacer {
	ids := map[string]bool{}
	gpus := map[string]bool{}
	for _, res := range results {
		for i, c := range res.Columns {
			if c.Name != "config_id" {
				continue
			}
			for _, r := range res.Rows {
				if id, ok := r[i].(string); ok {
					ids[id] = true
					if _, gpu, ok := strings.Cut(id, " @ "); ok {
						gpus[gpu] = true
					}
				}
			}
		}
	}
	var pairs []string
	for id := range ids {
		s := id
		if len(gpus) == 1 {
			s, _, _ = strings.Cut(s, " @ ")
		}
		if len(s) > 4 && s[:2] == "rq" && strings.IndexByte(s, '-') > 0 {
			s = s[strings.IndexByte(s, '-')+1:]
		}
		s = strings.ReplaceAll(strings.ReplaceAll(s, "-nnone", ""), "reduce-overhead", "reduce_overhead")
		s = strings.ReplaceAll(strings.ReplaceAll(s, "max-autotune", "max_autotune"), "-", " ")
		pairs = append(pairs, id, "["+s+"]")
	}
	// Longer ids first: one id may be a prefix of another.
	type pair struct{ from, to string }
	ps := make([]pair, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		ps = append(ps, pair{pairs[i], pairs[i+1]})
	}
	slices.SortFunc(ps, func(a, b pair) int { return len(b.from) - len(a.from) })
	var args []string
	for _, p := range ps {
		args = append(args, p.from, p.to)
	}
	return strings.NewReplacer(args...)
}

// normRQ maps "rq1", "RQ1", "1" to "rq1"; anything else ("-", "—", "") to "".
func normRQ(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "rq")
	if len(s) == 1 && s[0] >= '1' && s[0] <= '5' {
		return "rq" + s
	}
	return ""
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
	if err := f.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %s: %w", path, err)
	}
	return writeFile(path, string(b)+"\n")
}

func writeFile(path, text string) error {
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// provenanceSQL: one row per batch, with the GPUs and software versions its
// runs recorded (the batch's own record where runs say nothing). The nsys
// version is the one the exports name (EXPORT_PRODUCT_VERSION) where the
// batch has exports: runs without one (unavailable, failed) carry the
// collector's `nsys --version`, which can differ (2025.3.1.0 for an
// exporter that says 2025.3.2.0 on the H200 host) and would list one tool
// twice.
const provenanceSQL = `
with per_batch as (
    select
        batch_id,
        count(*) as runs,
        count(*) filter (where status = 'ok') as ok_runs,
        string_agg(distinct gpu_name, ', ' order by gpu_name) as gpus,
        string_agg(distinct driver, ', ' order by driver) as driver,
        string_agg(distinct cuda, ', ' order by cuda) as cuda,
        string_agg(distinct torch, ', ' order by torch) as torch,
        coalesce(
            string_agg(distinct nsys_version, ', ' order by nsys_version) filter (where export_bytes is not null),
            string_agg(distinct nsys_version, ', ' order by nsys_version)) as nsys
    from runs
    group by batch_id
)
select
    b.batch_id,
    b.plan,
    b.profile,
    b.host,
    strftime(b.started_at, '%Y-%m-%d %H:%M') as started,
    coalesce(strftime(b.finished_at, '%Y-%m-%d %H:%M'), 'no: incomplete') as finished,
    coalesce(r.runs, 0) as runs,
    coalesce(r.ok_runs, 0) as ok_runs,
    b.failed_inputs,
    r.gpus,
    coalesce(r.driver, json_extract_string(b.software, '$.driver')) as driver,
    coalesce(r.cuda, json_extract_string(b.software, '$.cuda')) as cuda,
    coalesce(r.torch, json_extract_string(b.software, '$.torch')) as torch,
    coalesce(r.nsys, json_extract_string(b.software, '$.nsys')) as nsys,
    b.numa_nodes
from batches as b
left join per_batch as r using (batch_id)
order by b.batch_id`

// repeatsSQL: repeats per configuration (runs of the same configuration
// name, over every batch), summarised per research question.
const repeatsSQL = `
with configs as (
    select coalesce(rq, '-') as rq, coalesce(name, run_id) as config,
        count(*) as runs, count(*) filter (where status = 'ok') as ok_runs
    from runs
    group by all
)
select
    rq,
    count(*) as configurations,
    sum(runs) as runs,
    min(ok_runs) as min_ok_repeats,
    max(ok_runs) as max_ok_repeats,
    count(*) filter (where ok_runs < 3) as configs_under_3_repeats
from configs
group by rq
order by rq`

// fewRepeatsSQL: the configurations with fewer than 3 successful runs.
const fewRepeatsSQL = `
select coalesce(rq, '-') as rq, coalesce(name, run_id) as config,
    count(*) as runs, count(*) filter (where status = 'ok') as ok_runs,
    string_agg(distinct status, ', ' order by status) as statuses
from runs
group by all
having count(*) filter (where status = 'ok') < 3
order by rq, config`
