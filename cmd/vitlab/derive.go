//go:build !noduckdb

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"vitlab/queries"
)

func init() {
	register(command{
		name:    "derive",
		summary: "compute the per-batch derived tables (metrics, nsys summaries, checks) of batches that lack current ones",
		run:     runDerive,
	})
	deriveAfterIngest = func(ctx context.Context, e *env, dir string, derive bool, jobs int, budget int64) error {
		// ingest's output stays its own summary lines; progress only on a terminal
		quiet := &env{stdout: io.Discard, stderr: io.Discard, getenv: e.getenv}
		if e.stderrIsTerminal {
			quiet.stdout, quiet.stderr = e.stderr, e.stderr
		}
		if !derive {
			return nil // the next derive, or the first query, writes the view database
		}
		return deriveWarehouse(ctx, quiet, dir, deriveOptions(jobs, budget))
	}
}

const deriveUsage = `[--warehouse DIR] [--jobs N] [--load-budget MB]

Computes, for every committed batch whose derived tables are missing or were
computed by other SQL (queries/ changed since), the output of each metric
view and saved query marked "-- derive: per-batch" over that batch's rows, and
commits it with the batch (_derived/<name>/shared/, one file per table for
the batches derived in one pass, up to 32). Queries then
read those files instead of recomputing per-run metrics and nsys summaries
from every event of every run; what is not derived (yet) is computed live,
with the same result. vitlab ingest runs this after each ingest (unless
--no-derive). Batches are derived in passes of at most about 1M events;
DuckDB's memory_limit is --load-budget (beyond it a pass spills to the
temporary directory) and its threads --jobs. Afterwards the warehouse's
view database (_views.duckdb) is written anew.`

func runDerive(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "derive", deriveUsage)
	whf := newWarehouseFlag(fs, e, "warehouse `DIR`ectory")
	jobs := fs.Int("jobs", queries.DefaultResources().Threads, "DuckDB threads")
	budgetMB := fs.Int64("load-budget", queries.DefaultDeriveMemory>>20, "`MB` of DuckDB memory (memory_limit); beyond it a pass spills to disk")
	passEvents := fs.Int64("pass-events", queries.DefaultDeriveEvents, "most event rows derived in one pass (a bigger batch is a pass of its own)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %v", fs.Args())
	}
	if *jobs < 1 || *budgetMB < 16 {
		return usagef("--jobs at least 1, --load-budget at least 16 (MB)")
	}
	dir, err := whf.Existing()
	if err != nil {
		return err
	}
	opts := deriveOptions(*jobs, *budgetMB<<20)
	opts.MaxEvents = max(1, *passEvents)
	return deriveWarehouse(ctx, e, dir, opts)
}

// deriveOptions are a derivation's options for --jobs and --load-budget
// (bytes).
func deriveOptions(jobs int, budget int64) queries.DeriveOptions {
	opts := queries.DefaultDeriveOptions()
	opts.Resources = queries.Resources{Threads: jobs, MemoryLimit: max(16<<20, budget)}
	return opts
}

// deriveWarehouse derives every batch of dir that lacks current derived
// tables and prints one line per batch and a total.
func deriveWarehouse(ctx context.Context, e *env, dir string, opts queries.DeriveOptions) error {
	t0 := time.Now()
	opts.Progress = func(id string, took time.Duration) {
		fmt.Fprintf(e.stderr, "derived %s in %s\n", id, took.Round(time.Millisecond))
	}
	st, err := queries.DeriveWith(ctx, dir, opts)
	if err != nil {
		return fmt.Errorf("derived tables: %w (queries compute what is missing live; run vitlab derive again)", err)
	}
	if len(st.Batches) > 0 {
		n := fmt.Sprintf("%d batches", len(st.Batches))
		if len(st.Batches) == 1 {
			n = "1 batch"
		}
		fmt.Fprintf(e.stdout, "derived tables of %s in %s\n", n, time.Since(t0).Round(time.Millisecond))
	}
	// Fewer, bigger derived files (queries.CompactDerived): those of the
	// small passes of several ingests merged, crash-safely.
	if cs, err := queries.CompactDerived(ctx, dir, opts.Resources, 0); err != nil {
		return fmt.Errorf("compacting derived tables: %w (the warehouse keeps its earlier files; run vitlab derive again)", err)
	} else if cs.Groups > 0 {
		fmt.Fprintf(e.stdout, "compacted the derived tables of %d batches: %d files instead of %d\n", cs.Batches, cs.FilesAfter, cs.FilesBefore)
	}
	// The view database for the warehouse as it now is (a query would
	// write it otherwise, once).
	if _, err := queries.WriteViews(ctx, dir); err != nil {
		return fmt.Errorf("view database: %w (queries set the views up in memory meanwhile)", err)
	}
	return nil
}
