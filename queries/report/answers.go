package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"vitlab/queries/duck"
)

// Answer is one research question's answer in words, written from query
// results by a template: every number in Text is one of Numbers, each a
// value of a query's output (report/answers.json holds them, and a test
// checks each against its query).
type Answer struct {
	RQ      string   `json:"rq"`
	Text    string   `json:"text"`
	Numbers []Number `json:"numbers"`
}

// Number is a number an answer cites: the value of Column in the rows of
// Query that match Where (column = value as text; every row when empty).
// With Agg "count" the value is how many rows match, with "min" or "max"
// the least or greatest value of Column over them. Text is the number as
// the answer prints it.
type Number struct {
	Query  string            `json:"query"`
	Column string            `json:"column"`
	Value  float64           `json:"value"`
	Where  map[string]string `json:"where,omitempty"`
	Agg    string            `json:"agg,omitempty"`
	Text   string            `json:"text"`
}

// internalQueries are the report's own SQL that answers cite, by the name
// Number.Query gives them (saved queries are cited by their names).
var internalQueries = map[string]string{
	"report:measured": measuredSQL,
}

// measuredSQL: per research question, how many configurations and runs
// the warehouse holds, how many runs each configuration has, the GPUs and
// precisions of the successful runs, and why runs were unavailable.
const measuredSQL = `
with per_config as (
    select coalesce(rq, '-') as rq, coalesce(name, run_id) as config,
        count(*) as runs,
        count(*) filter (where status = 'ok') as ok_runs,
        count(*) filter (where status = 'unavailable') as unavailable_runs
    from runs
    group by all
), per_rq as (
    select coalesce(rq, '-') as rq,
        string_agg(distinct gpu_name, ', ' order by gpu_name) filter (where status = 'ok') as gpus,
        string_agg(distinct dtype, ', ' order by dtype) filter (where status = 'ok') as dtypes,
        string_agg(distinct error, ' | ' order by error) filter (where status = 'unavailable') as unavailable_reasons
    from runs
    group by all
), left_out as (
    -- ok runs that usable_runs keeps out of every number, and why
    select coalesce(rq, '-') as rq,
        count(distinct (batch_id, run_id)) as left_out_runs,
        string_agg(distinct reason, ', ' order by reason) as left_out_reasons
    from runs_left_out
    group by all
), info as (
    -- usable runs that carry a run_validity flag of severity info (e.g.
    -- power_capped): kept in every number, told to the reader
    select coalesce(u.rq, '-') as rq,
        count(distinct (u.batch_id, u.run_id)) as info_runs,
        string_agg(distinct v.flag, ', ' order by v.flag) as info_flags
    from usable_runs as u
    join run_validity as v
        on v.batch_id = u.batch_id and v.run_id = u.run_id and v.severity = 'info'
    group by all
)
select c.rq, count(*) as configurations, sum(c.runs)::bigint as runs, sum(c.ok_runs)::bigint as ok_runs,
    sum(c.unavailable_runs)::bigint as unavailable_runs,
    min(c.ok_runs) as min_ok_runs, max(c.ok_runs) as max_ok_runs,
    any_value(p.gpus) as gpus, any_value(p.dtypes) as dtypes, any_value(p.unavailable_reasons) as unavailable_reasons,
    coalesce(any_value(l.left_out_runs), 0) as left_out_runs, any_value(l.left_out_reasons) as left_out_reasons,
    coalesce(any_value(i.info_runs), 0) as info_runs, any_value(i.info_flags) as info_flags
from per_config as c
join per_rq as p using (rq)
left join left_out as l using (rq)
left join info as i using (rq)
group by c.rq
order by c.rq`

// row is one result row by column name.
type row map[string]any

// answerer writes answers from the results of the queries they cite.
type answerer struct {
	results map[string]*duck.Result
	nums    []Number
}

func (a *answerer) rows(query string, where map[string]string) []row {
	res := a.results[query]
	if res == nil {
		return nil
	}
	var out []row
	for _, r := range res.Rows {
		m := row{}
		for i, c := range res.Columns {
			m[c.Name] = r[i]
		}
		if matches(m, where) {
			out = append(out, m)
		}
	}
	return out
}

func matches(m row, where map[string]string) bool {
	for k, v := range where {
		x, ok := m[k]
		if !ok || x == nil || cellText(x) != v {
			return false
		}
	}
	return true
}

// num cites column of the row r of query, identified by the key columns;
// "" when the value is null.
func (a *answerer) num(query string, r row, column string, key ...string) string {
	v, ok := number(r[column])
	if !ok || math.IsNaN(v) {
		return ""
	}
	where := map[string]string{}
	for _, k := range key {
		where[k] = cellText(r[k])
	}
	t := fmtNumber(v)
	a.nums = append(a.nums, Number{Query: query, Column: column, Value: v, Where: where, Text: t})
	return t
}

// count cites how many rows of query match where.
func (a *answerer) count(query string, where map[string]string) int {
	n := len(a.rows(query, where))
	a.nums = append(a.nums, Number{Query: query, Column: "*", Value: float64(n), Where: where, Agg: "count", Text: strconv.Itoa(n)})
	return n
}

// interval is " [lo, hi]" cited from r's interval columns, "" when null.
func (a *answerer) interval(query string, r row, lo, hi string, key ...string) string {
	if r[lo] == nil || r[hi] == nil {
		return ""
	}
	return " [" + a.num(query, r, lo, key...) + ", " + a.num(query, r, hi, key...) + "]"
}

// fmtNumber prints v as the answers do: at most 4 significant digits
// (all of an integer part), thousands separated.
func fmtNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return numLabel(v, 0)
	}
	a := math.Abs(v)
	digits := 0
	if a < 1000 {
		digits = 3 - int(math.Floor(math.Log10(a)))
		if a == 0 {
			digits = 0
		}
	}
	return numLabel(v, max(0, digits))
}

func num(v any) float64 {
	f, ok := number(v)
	if !ok {
		return math.NaN()
	}
	return f
}

func txt(v any) string {
	if v == nil {
		return ""
	}
	return cellText(v)
}

// byNum returns rows sorted by a numeric column (nulls last).
func byNum(rs []row, col string) []row {
	out := slices.Clone(rs)
	slices.SortStableFunc(out, func(x, y row) int {
		a, b := num(x[col]), num(y[col])
		switch {
		case math.IsNaN(a) && math.IsNaN(b):
			return 0
		case math.IsNaN(a):
			return 1
		case math.IsNaN(b):
			return -1
		}
		return cmpFloat(a, b)
	})
	return out
}

func withValue(rs []row, col string) []row {
	var out []row
	for _, r := range rs {
		if v := num(r[col]); !math.IsNaN(v) {
			out = append(out, r)
		}
	}
	return out
}

// measured is the opening sentence: what was measured for rq.
func (a *answerer) measured(rq, what string) (string, row) {
	rs := a.rows("report:measured", map[string]string{"rq": rq})
	if len(rs) == 0 {
		return "", nil
	}
	m := rs[0]
	q := "report:measured"
	w := []string{"rq"}
	s := fmt.Sprintf("Measured on %s in %s: %s configurations of %s, %s runs",
		orText(txt(m["gpus"]), "no GPU (no successful run)"), orText(precision(txt(m["dtypes"])), "no precision recorded"),
		a.num(q, m, "configurations", w...), what, a.num(q, m, "runs", w...))
	if lo, hi := num(m["min_ok_runs"]), num(m["max_ok_runs"]); lo == hi && !math.IsNaN(lo) {
		s += fmt.Sprintf(" (%s successful per configuration)", a.num(q, m, "min_ok_runs", w...))
	} else if !math.IsNaN(lo) {
		s += fmt.Sprintf(" (%s to %s successful per configuration)", a.num(q, m, "min_ok_runs", w...), a.num(q, m, "max_ok_runs", w...))
	}
	if n := num(m["left_out_runs"]); n > 0 {
		s += fmt.Sprintf("; %s successful run(s) are left out of every number (%s)", a.num(q, m, "left_out_runs", w...), txt(m["left_out_reasons"]))
	}
	if n := num(m["info_runs"]); n > 0 {
		s += fmt.Sprintf("; %s run(s) count with a note (%s)", a.num(q, m, "info_runs", w...), infoNote(txt(m["info_flags"])))
	}
	return s + ".", m
}

// infoNote says what each run_validity flag of severity info means.
func infoNote(flags string) string {
	return strings.ReplaceAll(flags, "power_capped",
		"power_capped: the SM clock fell in a clean window under the GPU's power cap, its steady state at that load")
}

func precision(dtypes string) string {
	return strings.NewReplacer("bfloat16", "bf16", "float16", "fp16", "float32", "fp32").Replace(dtypes)
}

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// limits is the closing sentence: what one run per configuration means
// for the intervals, and the verdicts of rq's claims.
func (a *answerer) limits(m row, rq string) string {
	ids, counts := a.verdictParts(rq)
	if m != nil {
		if hi := num(m["max_ok_runs"]); !math.IsNaN(hi) && hi < 3 {
			s := fmt.Sprintf("With at most %s successful run per configuration, intervals over runs (the unit of replication: an interval needs two or more) are few or none",
				a.num("report:measured", m, "max_ok_runs", "rq"))
			if ids == "" {
				return s + ": the numbers show what one run measured, not how a repeat would differ."
			}
			return fmt.Sprintf("%s, so claims %s (%s) cannot be decided yet; the claims table says how many runs would decide each.", s, ids, counts)
		}
	}
	if ids == "" {
		return ""
	}
	return fmt.Sprintf("Claims %s: %s.", ids, counts)
}

// verdicts is "Claims C12, C13: 2 no data." for rq.
func (a *answerer) verdicts(rq string) string {
	ids, counts := a.verdictParts(rq)
	if ids == "" {
		return ""
	}
	return fmt.Sprintf("Claims %s: %s.", ids, counts)
}

// verdictParts is the ids of rq's claims and the count of each verdict
// ("C1, C2", "1 refuted, 1 no data").
func (a *answerer) verdictParts(rq string) (ids, counts string) {
	rs := a.rows("claims", map[string]string{"rq": rq})
	if len(rs) == 0 {
		return "", ""
	}
	var id []string
	for _, r := range rs {
		id = append(id, txt(r["claim_id"]))
	}
	var parts []string
	for _, v := range []string{"holds", "refuted", "inconclusive", "no data"} {
		if n := len(a.rows("claims", map[string]string{"rq": rq, "verdict": v})); n > 0 {
			a.count("claims", map[string]string{"rq": rq, "verdict": v})
			parts = append(parts, fmt.Sprintf("%d %s", n, v))
		}
	}
	return strings.Join(id, ", "), strings.Join(parts, ", ")
}

// answers writes the answer of each research question.
func (a *answerer) answers() []Answer {
	gens := []struct {
		rq string
		f  func() []string
	}{{"rq1", a.rq1}, {"rq2", a.rq2}, {"rq3", a.rq3}, {"rq4", a.rq4}, {"rq5", a.rq5}}
	var out []Answer
	for _, g := range gens {
		a.nums = nil
		var sents []string
		for _, s := range g.f() {
			if s != "" {
				sents = append(sents, s)
			}
		}
		out = append(out, Answer{RQ: g.rq, Text: strings.Join(sents, " "), Numbers: a.nums})
	}
	return out
}

func (a *answerer) rq1() []string {
	const q = "rq1_architecture"
	open, m := a.measured("rq1", "patch × depth × hidden")
	rs := withValue(a.rows(q, nil), "clean_throughput")
	if len(rs) == 0 {
		return []string{open, "No rq1 configuration has a throughput in this warehouse: run the rq1 plan (collectors/plans/rq1.yaml)."}
	}
	k := []string{"config_id"}
	label := func(r row) string { return fmt.Sprintf("%s h%s", txt(r["arch"]), txt(r["hidden"])) }
	s := byNum(rs, "clean_throughput")
	lo, hi := s[0], s[len(s)-1]
	out := []string{open,
		fmt.Sprintf("Untraced throughput ranges from %s img/s%s (%s) to %s img/s%s (%s).",
			a.num(q, lo, "clean_throughput", k...), a.interval(q, lo, "clean_throughput_lo", "clean_throughput_hi", k...), label(lo),
			a.num(q, hi, "clean_throughput", k...), a.interval(q, hi, "clean_throughput_lo", "clean_throughput_hi", k...), label(hi))}
	if b := byNum(withValue(rs, "gpu_busy"), "gpu_busy"); len(b) > 0 {
		blo, bhi := b[0], b[len(b)-1]
		sent := fmt.Sprintf("GPU busy (the union of kernel time over the timed window) goes from %s (%s) to %s (%s)",
			a.num(q, blo, "gpu_busy", k...), label(blo), a.num(q, bhi, "gpu_busy", k...), label(bhi))
		if t := byNum(withValue(rs, "tflops"), "tflops"); len(t) > 0 {
			top := t[len(t)-1]
			sent += fmt.Sprintf("; achieved TFLOP/s peaks at %s (%s, a fraction %s of the card's dense bf16 peak)",
				a.num(q, top, "tflops", k...), label(top), orText(a.num(q, top, "peak_fraction", k...), "unknown"))
		}
		out = append(out, sent+".")
	}
	const lb = "rq1_launch_bound"
	if n := len(a.rows(lb, map[string]string{"rq": "rq1"})); n > 0 {
		var parts []string
		for _, c := range []string{"launch-bound", "mixed", "compute-bound"} {
			if len(a.rows(lb, map[string]string{"rq": "rq1", "bound": c})) > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", a.count(lb, map[string]string{"rq": "rq1", "bound": c}), c))
			}
		}
		why := ""
		switch nl, nc := len(a.rows(lb, map[string]string{"rq": "rq1", "bound": "launch-bound"})), len(a.rows(lb, map[string]string{"rq": "rq1", "bound": "compute-bound"})); {
		case 2*nl > n:
			why = ": in most of them the GPU waits on kernel launches, not on arithmetic"
		case 2*nc > n:
			why = ": in most of them the GPU, not the launching CPU, is the limit"
		}
		out = append(out, fmt.Sprintf("Of the %d traced rq1 configurations, the launch-gap and GPU-busy rule finds %s%s.",
			a.count(lb, map[string]string{"rq": "rq1"}), strings.Join(parts, ", "), why))
	}
	out = append(out, a.limits(m, "rq1"))
	return out
}

func (a *answerer) rq2() []string {
	const q = "rq2_resolution"
	open, m := a.measured("rq2", "model × resolution")
	rs := withValue(a.rows(q, nil), "clean_throughput")
	if len(rs) == 0 {
		return []string{open, "No rq2 configuration has a throughput in this warehouse: run the rq2 plan (collectors/plans/rq2.yaml)."}
	}
	k := []string{"config_id"}
	var out = []string{open}
	var models []string
	for _, r := range rs {
		if md := txt(r["model"]); !slices.Contains(models, md) {
			models = append(models, md)
		}
	}
	for _, md := range models {
		g := byNum(withValue(a.rows(q, map[string]string{"model": md}), "tokens"), "tokens")
		if len(g) < 2 {
			continue
		}
		f, l := g[0], g[len(g)-1]
		sent := fmt.Sprintf("For %s, going from %s to %s tokens per image (%s to %s px) takes throughput from %s to %s img/s and the token rate from %s to %s million tokens/s",
			md, a.num(q, f, "tokens", k...), a.num(q, l, "tokens", k...), a.num(q, f, "resolution", k...), a.num(q, l, "resolution", k...),
			a.num(q, f, "clean_throughput", k...), a.num(q, l, "clean_throughput", k...),
			a.num(q, f, "token_rate_m", k...), a.num(q, l, "token_rate_m", k...))
		if f["latency_p99_ms"] != nil && l["latency_p99_ms"] != nil {
			sent += fmt.Sprintf("; per-batch p99 latency goes from %s to %s ms", a.num(q, f, "latency_p99_ms", k...), a.num(q, l, "latency_p99_ms", k...))
		}
		if f["peak_mem_per_image_mib"] != nil && l["peak_mem_per_image_mib"] != nil {
			sent += fmt.Sprintf(" and peak memory per image from %s to %s MiB", a.num(q, f, "peak_mem_per_image_mib", k...), a.num(q, l, "peak_mem_per_image_mib", k...))
		}
		out = append(out, sent+".")
		if len(out) >= 3 {
			break
		}
	}
	if len(models) > 2 {
		out = append(out, fmt.Sprintf("%d more models are in the table below.", len(models)-2))
	}
	if bs := byNum(withValue(rs, "batch_size"), "batch_size"); len(bs) > 1 && num(bs[0]["batch_size"]) != num(bs[len(bs)-1]["batch_size"]) {
		out = append(out, fmt.Sprintf("The plan shrinks the batch as resolution grows (batch %s down to %s), so compare memory per image, not per run.",
			a.num(q, bs[len(bs)-1], "batch_size", k...), a.num(q, bs[0], "batch_size", k...)))
	}
	out = append(out, a.limits(m, "rq2"))
	return out
}

func (a *answerer) rq3() []string {
	const q = "rq3_compile"
	open, m := a.measured("rq3", "compile mode")
	rs := a.rows(q, nil)
	if len(rs) == 0 {
		return []string{open, "No rq3 configuration in this warehouse: run the rq3 plan (collectors/plans/rq3.yaml)."}
	}
	k := []string{"config_id"}
	out := []string{open}
	var modes, speed, cost []string
	for _, r := range rs {
		mode := txt(r["compile_mode"])
		modes = append(modes, mode)
		if mode == "eager" {
			continue
		}
		if r["speedup"] != nil {
			speed = append(speed, fmt.Sprintf("%s %s×%s", mode, a.num(q, r, "speedup", k...), a.interval(q, r, "speedup_lo", "speedup_hi", k...)))
		}
		if r["compile_s"] != nil {
			c := fmt.Sprintf("%s %s s", mode, a.num(q, r, "compile_s", k...))
			if r["break_even_images"] != nil {
				c += fmt.Sprintf(", paid back after %s images", a.num(q, r, "break_even_images", k...))
			} else if be := txt(r["break_even"]); be != "" {
				c += " (" + be + ")"
			}
			cost = append(cost, c)
		}
	}
	if len(speed) > 0 {
		model := txt(rs[0]["model"])
		out = append(out, fmt.Sprintf("Untraced speedup over eager (%s, batch %s): %s.", model, txt(rs[0]["batch_size"]), strings.Join(speed, "; ")))
	}
	if len(cost) > 0 {
		out = append(out, fmt.Sprintf("The first, compiling call takes %s.", strings.Join(cost, "; ")))
	}
	var missing []string
	for _, mode := range []string{"eager", "default", "reduce-overhead", "max-autotune"} {
		if !slices.Contains(modes, mode) {
			missing = append(missing, mode)
		}
	}
	if len(missing) > 0 {
		out = append(out, fmt.Sprintf("No usable run here (not collected, or every run left out: see above): %s.", strings.Join(missing, ", ")))
	}
	out = append(out, a.limits(m, "rq3"))
	return out
}

func (a *answerer) rq4() []string {
	const q = "rq4_numa"
	open, m := a.measured("rq4", "model × batch size × NUMA placement")
	rs := a.rows(q, nil)
	if len(rs) == 0 {
		return []string{open, "No rq4 configuration in this warehouse: run the rq4 plan (collectors/plans/rq4.yaml) on a host with more than one NUMA node."}
	}
	k := []string{"model", "batch_size"}
	out := []string{open}
	if ratios := withValue(rs, "ratio"); len(ratios) > 0 {
		s := byNum(ratios, "ratio")
		lo, hi := s[0], s[len(s)-1]
		out = append(out, fmt.Sprintf("Local over remote throughput ranges from %s%s (%s, batch %s) to %s%s (%s, batch %s).",
			a.num(q, lo, "ratio", k...), a.interval(q, lo, "ratio_lo", "ratio_hi", k...), txt(lo["model"]), txt(lo["batch_size"]),
			a.num(q, hi, "ratio", k...), a.interval(q, hi, "ratio_lo", "ratio_hi", k...), txt(hi["model"]), txt(hi["batch_size"])))
	} else {
		why := ""
		if m != nil {
			why = txt(m["unavailable_reasons"])
		}
		if why == "" {
			for _, r := range rs {
				if st := txt(r["status"]); st != "" {
					why = st
					break
				}
			}
		}
		sent := "There is no answer on this data: no configuration has both a local and a remote run"
		if m != nil && num(m["unavailable_runs"]) > 0 {
			sent += fmt.Sprintf("; %s runs were unavailable", a.num("report:measured", m, "unavailable_runs", "rq"))
		}
		if why != "" {
			sent += " (" + why + ")"
		}
		out = append(out, sent+". Measuring RQ4 needs a host with more than one NUMA node.")
		if u := byNum(withValue(rs, "unbound_throughput"), "batch_size"); len(u) > 0 {
			var parts []string
			for _, r := range u {
				parts = append(parts, fmt.Sprintf("%s img/s at batch %s", a.num(q, r, "unbound_throughput", k...), a.num(q, r, "batch_size", k...)))
			}
			out = append(out, fmt.Sprintf("What was measured is the throughput without a remote counterpart (%s): %s.", txt(u[0]["model"]), strings.Join(parts, ", ")))
		}
	}
	out = append(out, a.verdicts("rq4"))
	return out
}

func (a *answerer) rq5() []string {
	const q = "rq5_pipeline"
	open, m := a.measured("rq5", "pipeline × queue depth × preprocessing")
	rs := withValue(a.rows(q, nil), "clean_throughput")
	if len(rs) == 0 {
		return []string{open, "No rq5 configuration has a throughput in this warehouse: run the rq5 plan (collectors/plans/rq5.yaml)."}
	}
	k := []string{"config_id"}
	// The DataLoader peer (pipeline peer) is the reference, not a design:
	// the fastest is vitlab's, and the peer gets a sentence of its own.
	var peers, own []row
	for _, r := range rs {
		if txt(r["pipeline"]) == "peer" {
			peers = append(peers, r)
		} else {
			own = append(own, r)
		}
	}
	if len(own) == 0 {
		return []string{open, "Only the DataLoader peer has a throughput in this warehouse: run the rq5 plan's sync and async variants (collectors/plans/rq5.yaml)."}
	}
	rs = own
	s := byNum(rs, "clean_throughput")
	best := s[len(s)-1]
	out := []string{open,
		fmt.Sprintf("The fastest pipeline is %s at %s img/s%s (%s, batch %s).", txt(best["label"]),
			a.num(q, best, "clean_throughput", k...), a.interval(q, best, "clean_throughput_lo", "clean_throughput_hi", k...),
			txt(best["model"]), txt(best["batch_size"]))}
	var clauses []string
	for _, pre := range []string{"gpu", "cpu"} {
		v := byNum(withValue(a.rows(q, map[string]string{"pipeline": "async", "preprocess": pre}), "vs_sync"), "vs_sync")
		if len(v) == 0 {
			continue
		}
		lo, hi := v[0], v[len(v)-1]
		if len(v) == 1 {
			word := "slower"
			if num(lo["vs_sync"]) > 1 {
				word = "faster"
			}
			clauses = append(clauses, fmt.Sprintf("%s with %s preprocessing in its one usable configuration (%s: %s times sync's throughput)",
				word, strings.ToUpper(pre), txt(lo["label"]), a.num(q, lo, "vs_sync", k...)))
			continue
		}
		clause := "never faster"
		switch {
		case num(lo["vs_sync"]) > 1:
			clause = "faster at every queue depth"
		case num(hi["vs_sync"]) > 1:
			clause = "faster only at some queue depths"
		}
		clauses = append(clauses, fmt.Sprintf("%s with %s preprocessing (%s to %s times sync's throughput, %s to %s)",
			clause, strings.ToUpper(pre), a.num(q, lo, "vs_sync", k...), a.num(q, hi, "vs_sync", k...), txt(lo["label"]), txt(hi["label"])))
	}
	if len(clauses) > 0 {
		out = append(out, "Against sync, async is "+strings.Join(clauses, ", and ")+".")
	}
	var peerParts []string
	for _, p := range byNum(peers, "batch_size") {
		// the fastest of vitlab's designs on the same model and batch
		var same []row
		for _, r := range rs {
			if txt(r["model"]) == txt(p["model"]) && txt(r["batch_size"]) == txt(p["batch_size"]) && txt(r["gpu_name"]) == txt(p["gpu_name"]) {
				same = append(same, r)
			}
		}
		if len(same) == 0 {
			continue
		}
		sb := byNum(same, "clean_throughput")
		top := sb[len(sb)-1]
		ratio := ""
		if pv := num(p["clean_throughput"]); pv > 0 {
			ratio = fmt.Sprintf(", %.2f times the loop", num(top["clean_throughput"])/pv)
		}
		peerParts = append(peerParts, fmt.Sprintf("at batch %s it reached %s img/s%s against %s img/s for the fastest vitlab design, %s%s",
			txt(p["batch_size"]), a.num(q, p, "clean_throughput", k...),
			a.interval(q, p, "clean_throughput_lo", "clean_throughput_hi", k...),
			a.num(q, top, "clean_throughput", k...), txt(top["label"]), ratio))
	}
	if len(peerParts) > 0 {
		out = append(out, fmt.Sprintf("The plain DataLoader loop a user would write (prefetch %s, the same model, data and CPU budget) is the reference: %s.",
			txt(peers[0]["queue_depth"]), strings.Join(peerParts, "; ")))
	}
	if h := withValue(rs, "bound_fraction"); len(h) > 0 {
		// How much of the ceiling (the slower of the forward-only and the
		// preprocessing-only rate, measured in each run) the fastest
		// pipeline reached: the host's share of the answer.
		hb := byNum(h, "clean_throughput")
		top := hb[len(hb)-1]
		out = append(out, fmt.Sprintf("The fastest, %s, reached %s of its ceiling, the slower of its model alone (%s img/s) and its preprocessing alone (%s img/s); limiting: %s.",
			txt(top["label"]), a.num(q, top, "bound_fraction", k...), a.num(q, top, "forward_bound_img_s", k...),
			a.num(q, top, "prep_bound_img_s", k...), txt(top["limiting_stage"])))
	}
	if l := byNum(withValue(rs, "latency_p99_ms"), "latency_p99_ms"); len(l) > 1 {
		lo, hi := l[0], l[len(l)-1]
		why := ""
		if num(hi["queue_depth"]) > num(lo["queue_depth"]) {
			why = ": the deeper queue holds batches longer"
		}
		out = append(out, fmt.Sprintf("Per-batch p99 latency goes from %s ms (%s) to %s ms (%s)%s.",
			a.num(q, lo, "latency_p99_ms", k...), txt(lo["label"]), a.num(q, hi, "latency_p99_ms", k...), txt(hi["label"]), why))
	}
	out = append(out, a.limits(m, "rq5"))
	return out
}
