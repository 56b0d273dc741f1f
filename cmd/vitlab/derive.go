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
	deriveAfterIngest = func(ctx context.Context, e *env, dir string) error {
		// ingest's output stays its own summary lines; progress only on a terminal
		quiet := &env{stdout: io.Discard, stderr: io.Discard, getenv: e.getenv}
		if e.stderrIsTerminal {
			quiet.stdout, quiet.stderr = e.stderr, e.stderr
		}
		return deriveWarehouse(ctx, quiet, dir)
	}
}

const deriveUsage = `[--warehouse DIR]

Computes, for every committed batch whose derived tables are missing or were
computed by other SQL (queries/ changed since), the output of each metric
view and saved query marked "-- derive: per-batch" over that batch's rows, and
commits it with the batch (_derived/<name>/shared/, one file per table for
the batches derived in one pass, up to 32). Queries then
read those files instead of recomputing per-run metrics and nsys summaries
from every event of every run; what is not derived (yet) is computed live,
with the same result. vitlab ingest runs this after each ingest (unless
--no-derive).`

func runDerive(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "derive", deriveUsage)
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
	return deriveWarehouse(ctx, e, dir)
}

// deriveWarehouse derives every batch of dir that lacks current derived
// tables and prints one line per batch and a total.
func deriveWarehouse(ctx context.Context, e *env, dir string) error {
	t0 := time.Now()
	st, err := queries.Derive(ctx, dir, func(id string, took time.Duration) {
		fmt.Fprintf(e.stderr, "derived %s in %s\n", id, took.Round(time.Millisecond))
	})
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
	return nil
}
