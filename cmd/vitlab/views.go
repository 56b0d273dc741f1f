//go:build !noduckdb

package main

import (
	"context"
	"fmt"

	"vitlab/queries"
)

func init() {
	register(command{
		name:    "views",
		summary: "print the SQL that defines the warehouse's views (for the DuckDB CLI or Python)",
		run:     runViews,
	})
}

const viewsUsage = `[--warehouse DIR]

Prints SQL that sets up, in any DuckDB client, what 'vitlab query' runs
over: one base view per table over the committed Parquet files (absolute
paths), the macros and views of queries/views/*.sql, the metric views of
queries/metrics/*.sql (in dependency order), and the default of every
saved query's params (SET VARIABLE). After it, each saved query file runs
unchanged, e.g.
  vitlab views > views.sql
  duckdb -c ".read views.sql" -c ".read queries/nsys/nsys_kern_sum.sql"
This script computes every metric from the events. The warehouse's view
database (written by ingest, derive and the first query after a change)
holds the same views with the derived tables, relative to the warehouse,
ready to open:
  duckdb -readonly -cmd "set file_search_path='W'" W/_views.duckdb`

func runViews(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "views", viewsUsage)
	whf := newWarehouseFlag(fs, e, "warehouse `DIR`ectory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	dir, err := whf.Existing()
	if err != nil {
		return err
	}
	sql, err := queries.Script(dir)
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(e.stdout, sql)
	return err
}
