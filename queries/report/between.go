package report

import (
	"cmp"
	"fmt"
	"path/filepath"
	"strings"

	"vitlab/queries"
	"vitlab/queries/duck"
)

// betweenQuery is the finding the "Between batches" section shows.
const betweenQuery = "compare_batches"

// betweenMetric is the metric the section's charts draw (the table has
// them all).
const betweenMetric = "clean_throughput"

// between builds the "Between batches" section from compare_batches run
// with its defaults (every plan's newest batch against the one before): one
// forest plot of the throughput ratios per comparison, the verdicts counted
// in words, and the finding's table. nil when the query returned no row
// (no plan has two batches) and did not fail.
func (r *run) between(q *queries.Query, f findingView, res *duck.Result) *rqSection {
	s := &rqSection{ID: "between", Nav: "Between batches", Title: "Between batches",
		Question: "What changed between two collections of the same plan: each plan's newest batch against the one before, " +
			"configuration by configuration (matched on the effective settings), as ratios NEW/BASE with intervals over runs. " +
			"vitlab compare BASE NEW compares any two selections (batches, cards, drivers, torch versions)."}
	if f.Err != "" {
		s.Findings = []findingView{f}
		return s
	}
	if res == nil || len(res.Rows) == 0 {
		return nil
	}
	f.Charts = nil
	threshold := 0.03
	for _, p := range q.Params {
		if p.Key == "threshold" {
			if v, ok := number(p.Default); ok {
				threshold = v
			}
		}
	}
	type comparison struct {
		name   string
		rows   []forestRow
		keys   []string
		counts map[string]int
		onlyIn map[string]int
		level  string
		method string
	}
	var order []string
	comps := map[string]*comparison{}
	rows := (&answerer{results: map[string]*duck.Result{betweenQuery: res}}).rows(betweenQuery, nil)
	for _, row := range rows {
		name := txt(row["comparison"])
		c := comps[name]
		if c == nil {
			c = &comparison{name: name, counts: map[string]int{}, onlyIn: map[string]int{}}
			comps[name] = c
			order = append(order, name)
		}
		verdict := txt(row["verdict"])
		if strings.HasPrefix(verdict, "only in") || verdict == "left out" {
			c.onlyIn[verdict]++
			continue
		}
		if txt(row["metric"]) != betweenMetric {
			continue
		}
		c.counts[verdict]++
		c.keys = append(c.keys, txt(row["config"]))
		c.rows = append(c.rows, forestRow{Verdict: verdict, Ratio: num(row["ratio"]), Lo: num(row["ci_low"]), Hi: num(row["ci_high"])})
		if m := txt(row["method"]); m != "" && c.method == "" {
			c.method, c.level = m, txt(row["conf_level"])
		}
	}
	var answer []string
	for i, name := range order {
		c := comps[name]
		var parts []string
		for _, v := range []string{"faster", "slower", "no change", "inconclusive"} {
			if c.counts[v] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", c.counts[v], v))
			}
		}
		line := fmt.Sprintf("%s: %d configurations in both", name, len(c.rows))
		if len(parts) > 0 {
			line += " — clean throughput " + strings.Join(parts, ", ")
		}
		for _, v := range []string{"only in base", "only in new", "left out"} {
			if c.onlyIn[v] > 0 {
				line += fmt.Sprintf("; %d %s", c.onlyIn[v], v)
			}
		}
		answer = append(answer, line+".")
		if len(c.rows) == 0 {
			continue
		}
		labels := queries.ShortKeys(c.keys)
		for j := range c.rows {
			c.rows[j].Label = labels[j]
		}
		title := fmt.Sprintf("Untraced throughput NEW/BASE per configuration, %s", name)
		cv := chartView{Title: title, Spec: fmt.Sprintf("forest plot of %s ratios, sorted; whiskers: %s; grey band: no change (±%.3g %%)",
			betweenMetric, strings.ToLower(cmp.Or(c.method, "no interval (fewer than 2 runs a side)")), 100*threshold)}
		if c.level != "" {
			cv.Spec += "; level " + c.level
		}
		svg, err := renderForest(title, "ratio NEW / BASE (clean throughput)", c.rows, threshold)
		if err != nil {
			cv.Err = err.Error()
			r.sum.ChartErrors = append(r.sum.ChartErrors, betweenQuery+": "+cv.Err)
		} else {
			rel := fmt.Sprintf("charts/%s-%d.svg", betweenQuery, i+1)
			if err := writeFile(filepath.Join(r.dir, filepath.FromSlash(rel)), string(svg)); err != nil {
				cv.Err = err.Error()
			} else {
				r.sum.Files = append(r.sum.Files, rel)
				r.sum.Charts++
				cv.File, cv.SVG = rel, inlineSVG(svg, fmt.Sprintf("chart-%s-%d", betweenQuery, i+1), title)
			}
		}
		f.Charts = append(f.Charts, cv)
	}
	s.Answer = strings.Join(answer, " ")
	s.Findings = []findingView{f}
	return s
}
