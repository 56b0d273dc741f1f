//go:build !noduckdb

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"vitlab/queries"
	"vitlab/queries/duck"
)

func init() {
	register(command{
		name:    "compare",
		summary: "what changed between two collections, configuration by configuration, with intervals over runs (a CI gate with --fail-on)",
		run:     runCompare,
	})
}

const compareUsage = `[--warehouse DIR] [--threshold 3%] [--conf 0.95] [--family bonferroni|none] [--fail-on slower|worse|change] [--format table|csv|json] [--out FILE] BASE NEW
       vitlab compare --base card=H100 --new card=H200
       vitlab compare            (every plan's newest batch against the one before)

Compares the runs of BASE with those of NEW, configuration by configuration
(matched on the effective settings, not run names), for the headline metrics
(untraced throughput, latency p50/p99, energy per image, GPU busy, kernels per
image): the ratio NEW/BASE with an interval over runs (Welch's t on log run
values, Bonferroni over the configurations of a metric), and a verdict against
--threshold: faster / slower (better / worse, higher / lower), no change, or
inconclusive with the reason; configurations on one side only are listed. A
side is a batch id (a * matches any text) or key=value with key batch, card
(part of the GPU name), plan, host, torch, driver or cuda. It is the saved
query compare_batches (queries/findings/compare_batches.sql), which the DuckDB
CLI or a notebook can run with the same params.

Exit status: 0, or 1 with --fail-on when some configuration changed that way
beyond the threshold: slower (throughput or latency got worse), worse (slower,
or energy / kernels per image got worse), change (any decisive change).`

func runCompare(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "compare", compareUsage)
	wh := newWarehouseFlag(fs, e, "warehouse `DIR`ectory")
	base := fs.String("base", "", "the BASE side (instead of the first argument)")
	newSide := fs.String("new", "", "the NEW side (instead of the second argument)")
	threshold := fs.String("threshold", "3%", "relative change below which nothing changed: 3% or 0.03")
	conf := fs.Float64("conf", 0.95, "confidence level of the intervals (simultaneous over a metric's configurations with --family bonferroni)")
	family := fs.String("family", "bonferroni", "multiple-comparison correction over configurations: bonferroni or none")
	failOn := fs.String("fail-on", "", "exit 1 when a configuration got `slower`, worse or changed (change) beyond the threshold")
	format := fs.String("format", "table", "output format: table, csv or json")
	out := fs.String("out", "", "write to `FILE` instead of stdout")
	all := fs.Bool("all", false, "table format: every metric row (default: decisive changes, inconclusive rows and one-side configurations; 'no change' rows counted)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch len(pos) {
	case 0:
	case 2:
		if *base != "" || *newSide != "" {
			return usagef("give BASE NEW as arguments or as --base/--new, not both")
		}
		*base, *newSide = pos[0], pos[1]
	default:
		return usagef("want BASE NEW (or --base and --new, or neither), got %d argument(s)", len(pos))
	}
	if (*base == "") != (*newSide == "") {
		return usagef("give both BASE and NEW, or neither (every plan's newest batch against the one before)")
	}
	th, err := parseFraction(*threshold)
	if err != nil {
		return usagef("--threshold %q: %v", *threshold, err)
	}
	if *conf <= 0 || *conf >= 1 {
		return usagef("--conf %v: want a level between 0 and 1, e.g. 0.95", *conf)
	}
	switch *failOn {
	case "", "slower", "worse", "change":
	default:
		return usagef("--fail-on %q: use slower, worse or change", *failOn)
	}
	switch *format {
	case "table", "csv", "json":
	default:
		return usagef("unknown --format %q: use table, csv or json", *format)
	}
	cat, err := queries.Embedded()
	if err != nil {
		return err
	}
	q, ok := cat.Query("compare_batches")
	if !ok {
		return errors.New("the saved query compare_batches is not in this build")
	}
	params := map[string]string{
		"threshold":  strconv.FormatFloat(th, 'g', -1, 64),
		"conf_level": strconv.FormatFloat(*conf, 'g', -1, 64),
		"family":     *family,
	}
	if *base != "" {
		params["base"], params["new"] = *base, *newSide
	}
	if _, err := q.Bind(params); err != nil {
		return usagef("%v", err)
	}
	w, err := wh.Open(ctx)
	if err != nil {
		return err
	}
	defer w.Close()
	res, err := w.Run(ctx, q, params)
	if err != nil {
		return err
	}
	sum := summarize(res)
	shown := res
	if *format == "table" {
		if !*all {
			shown = sum.interesting(res)
		}
		shown = sum.forTerminal(shown)
	}
	write := func(dst io.Writer) error {
		switch *format {
		case "csv":
			return queries.WriteCSV(dst, shown)
		case "json":
			return queries.WriteJSON(dst, shown)
		}
		width := 0 // a file gets every line whole
		if *out == "" {
			width = tableWidth(e)
		}
		return queries.WriteTable(dst, shown, queries.TableOptions{MaxWidth: 60, Width: width,
			Whole: "--format csv or --format json prints every cell whole, with every column (GPUs, method, kernels)"})
	}
	if *out == "" {
		err = write(e.stdout)
	} else {
		var f *os.File
		if f, err = os.Create(*out); err == nil {
			if err = write(f); err != nil {
				f.Close()
				os.Remove(*out)
			} else {
				err = f.Close()
			}
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stderr, sum.line())
	if bad := sum.failing(*failOn); len(bad) > 0 {
		fmt.Fprintf(e.stderr, "vitlab compare: --fail-on %s: %d configuration(s) changed that way beyond %.4g %%:\n", *failOn, len(bad), 100*th)
		for _, b := range bad {
			fmt.Fprintf(e.stderr, "  %s\n", b)
		}
		return errPartial
	}
	return nil
}

// parseFraction reads "3%", "3 %" or "0.03" as 0.03.
func parseFraction(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	t = strings.TrimSpace(strings.TrimSuffix(t, "%"))
	v, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, errors.New("not a number or a percentage")
	}
	if pct {
		v /= 100
	}
	if v < 0 || v >= 1 {
		return 0, errors.New("want a fraction in [0, 1), e.g. 3% or 0.03")
	}
	return v, nil
}

// compareSummary counts the verdicts of a compare_batches answer.
type compareSummary struct {
	col     map[string]int
	counts  map[string]int
	configs map[string]bool
	rows    [][]any
}

func summarize(res *duck.Result) *compareSummary {
	s := &compareSummary{col: map[string]int{}, counts: map[string]int{}, configs: map[string]bool{}, rows: res.Rows}
	for i, c := range res.Columns {
		s.col[c.Name] = i
	}
	for _, r := range res.Rows {
		s.counts[s.text(r, "verdict")]++
		s.configs[s.text(r, "comparison")+"\x00"+s.text(r, "config")] = true
	}
	return s
}

func (s *compareSummary) text(r []any, col string) string {
	i, ok := s.col[col]
	if !ok || r[i] == nil {
		return ""
	}
	return fmt.Sprint(r[i])
}

// line is the one-line summary printed to stderr.
func (s *compareSummary) line() string {
	if len(s.rows) == 0 {
		return "compare: nothing to compare (no runs on a side, or no plan with two batches)"
	}
	order := []string{"faster", "slower", "better", "worse", "higher", "lower", "no change", "inconclusive", "only in base", "only in new", "left out"}
	var parts []string
	for _, v := range order {
		if n := s.counts[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", v, n))
		}
	}
	return fmt.Sprintf("compare: %d configuration(s), %d metric row(s): %s", len(s.configs), len(s.rows), strings.Join(parts, ", "))
}

// interesting keeps the rows a reader acts on: every verdict but 'no change'.
func (s *compareSummary) interesting(res *duck.Result) *duck.Result {
	out := &duck.Result{Columns: res.Columns}
	for _, r := range res.Rows {
		if s.text(r, "verdict") != "no change" {
			out.Rows = append(out.Rows, r)
		}
	}
	return out
}

// tableColumns are the columns the table format shows, in order; csv and
// json carry every column (comparison, unit, GPUs, method, kernels …).
var tableColumns = []string{"config", "metric", "base_n", "new_n", "base_median", "new_median", "ratio", "ci_low", "ci_high", "verdict", "reason"}

// forTerminal keeps tableColumns and rounds numbers to 4 significant
// digits, so that a row fits a terminal.
func (s *compareSummary) forTerminal(res *duck.Result) *duck.Result {
	var idx []int
	out := &duck.Result{}
	for _, name := range tableColumns {
		if i, ok := s.col[name]; ok {
			idx = append(idx, i)
			out.Columns = append(out.Columns, res.Columns[i])
		}
	}
	// Configurations by the settings that set them apart (the full key
	// is in csv and json).
	short := map[string]string{}
	if ci, ok := s.col["config"]; ok {
		var keys []string
		for _, r := range res.Rows {
			if k, ok := r[ci].(string); ok && short[k] == "" {
				short[k] = k
				keys = append(keys, k)
			}
		}
		for i, sk := range queries.ShortKeys(keys) {
			short[keys[i]] = sk
		}
	}
	for _, r := range res.Rows {
		row := make([]any, len(idx))
		for j, i := range idx {
			row[j] = r[i]
			if f, ok := r[i].(float64); ok {
				row[j] = strconv.FormatFloat(f, 'g', 4, 64)
			} else if k, ok := r[i].(string); ok && out.Columns[j].Name == "config" {
				row[j] = short[k]
			}
		}
		out.Rows = append(out.Rows, row)
	}
	return out
}

// failing lists the rows that --fail-on names.
func (s *compareSummary) failing(failOn string) []string {
	var want []string
	switch failOn {
	case "slower":
		want = []string{"slower"}
	case "worse":
		want = []string{"slower", "worse"}
	case "change":
		want = []string{"faster", "slower", "better", "worse", "higher", "lower"}
	default:
		return nil
	}
	var out []string
	for _, r := range s.rows {
		if v := s.text(r, "verdict"); slices.Contains(want, v) {
			out = append(out, fmt.Sprintf("%s %s: %s ×%s [%s, %s]", s.text(r, "config"), s.text(r, "metric"), v,
				s.num(r, "ratio"), s.num(r, "ci_low"), s.num(r, "ci_high")))
		}
	}
	return out
}

func (s *compareSummary) num(r []any, col string) string {
	i, ok := s.col[col]
	if !ok || r[i] == nil {
		return "?"
	}
	if f, ok := r[i].(float64); ok {
		return strconv.FormatFloat(f, 'f', 3, 64)
	}
	return fmt.Sprint(r[i])
}
