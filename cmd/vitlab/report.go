//go:build !noduckdb

package main

import (
	"context"
	"fmt"

	"vitlab/queries"
	"vitlab/queries/report"
)

func init() {
	register(command{
		name:    "report",
		summary: "run every saved query and check, write report.md, report.html and CSVs",
		run:     runReport,
	})
}

const reportUsage = `[--warehouse DIR] [--out DIR] [--rows N]

Runs every saved query (queries/*.sql) and every check (queries/checks/*.sql)
over the committed batches of the warehouse and writes DIR/report.md,
DIR/report.html (self-contained) and DIR/queries/<name>.csv with every row.
Exits 1 when a check finds rows (the report is still written).`

func runReport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "report", reportUsage)
	dir := fs.String("warehouse", "warehouse", "warehouse `DIR`ectory")
	out := fs.String("out", "report", "output `DIR`ectory")
	rows := fs.Int("rows", 40, "rows of each query shown in the report (the CSVs hold all)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	if *rows < 1 {
		return usagef("--rows must be at least 1")
	}
	w, err := queries.Open(ctx, *dir)
	if err != nil {
		return err
	}
	defer w.Close()
	sum, err := report.Write(ctx, w, *out, report.Options{MaxRows: *rows, Version: version()})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "report: %d saved queries (%d rows), %d files in %s\n", sum.Queries, sum.Rows, len(sum.Files), *out)
	if len(sum.ChecksFailed) > 0 {
		fmt.Fprintf(e.stderr, "vitlab report: checks found problems: %v (see the report's Checks section)\n", sum.ChecksFailed)
		return errPartial
	}
	return nil
}
