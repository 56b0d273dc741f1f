//go:build !noduckdb

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"vitlab/queries/report"
)

func init() {
	register(command{
		name:    "report",
		summary: "run every saved query and check, write report/index.html, report.md, CSVs and Parquet",
		run:     runReport,
	})
}

const reportUsage = `[--warehouse DIR] [--out DIR] [--rows N] [--timeline-run RUN]

Runs every saved query and check over the committed batches of the warehouse
and writes DIR/index.html (self-contained: inline CSS and SVG charts, no
script): the claims and their verdicts, one section per research question
with its findings and charts, the timeline of one run, provenance, checks,
and the runs overview and nsys summaries as an appendix. Beside it:
DIR/report.md, DIR/charts/*.svg, DIR/queries/<name>.csv with every row of
every saved query, and DIR/findings/<name>.parquet for every finding and the
claims. Exits 1 when a check finds rows or a query fails (the report is
still written, the failure shown in its place).`

func runReport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "report", reportUsage)
	whf := newWarehouseFlag(fs, e, "warehouse `DIR`ectory")
	out := fs.String("out", "report", "output `DIR`ectory")
	rows := fs.Int("rows", 40, "rows of each table shown in the report (the CSV and Parquet files hold all)")
	timelineRun := fs.String("timeline-run", "", "draw the timeline of this `RUN` id (default: a representative async run)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	if *rows < 1 {
		return usagef("--rows must be at least 1")
	}
	w, err := whf.Open(ctx)
	if err != nil {
		return err
	}
	defer w.Close()
	sum, err := report.Write(ctx, w, *out, report.Options{MaxRows: *rows, Version: version(), TimelineRun: *timelineRun})
	if err != nil {
		return err
	}
	claims := "no claims query"
	if sum.Claims >= 0 {
		claims = fmt.Sprintf("%d claims", sum.Claims)
	}
	fmt.Fprintf(e.stdout, "report: %d saved queries (%d rows), %d findings, %d charts, %s, %d files in %.1f s\n",
		sum.Queries, sum.Rows, sum.Findings, sum.Charts, claims, len(sum.Files), sum.Elapsed.Seconds())
	if len(sum.Timings) > 0 {
		var slow []string
		for _, t := range sum.Timings[:min(3, len(sum.Timings))] {
			slow = append(slow, fmt.Sprintf("%s %.2f s", t.Name, t.Duration.Seconds()))
		}
		fmt.Fprintf(e.stdout, "report: slowest queries: %s\n", strings.Join(slow, ", "))
	}
	fmt.Fprintf(e.stdout, "report: %s\n", filepath.Join(*out, "index.html"))
	for _, c := range sum.ChartErrors {
		fmt.Fprintf(e.stderr, "vitlab report: chart not drawn: %s\n", c)
	}
	failed := false
	for _, q := range sum.QueriesFailed {
		fmt.Fprintf(e.stderr, "vitlab report: %s\n", q)
		failed = true
	}
	if len(sum.ChecksFailed) > 0 {
		fmt.Fprintf(e.stderr, "vitlab report: checks found problems: %v (see the report's Checks section, or vitlab verify)\n", sum.ChecksFailed)
		failed = true
	}
	if failed {
		return errPartial
	}
	return nil
}
