//go:build !noduckdb

package main

import (
	"context"
	"fmt"
	"io"

	"vitlab/queries"
	"vitlab/queries/duck"
)

func init() {
	register(command{
		name:    "verify",
		summary: "run every check (queries/checks/*.sql); exit 1 when one returns rows",
		run:     runVerify,
	})
}

const verifyUsage = `[--warehouse DIR] [--rows N]

Runs every check (queries/checks/*.sql) over the committed batches of the
warehouse. A check returns no rows on a healthy warehouse; each one that
returns rows is printed with its first N rows. Exits 0 when every check is
empty, 1 when one returns rows or cannot run.`

func runVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "verify", verifyUsage)
	whf := newWarehouseFlag(fs, e, "warehouse `DIR`ectory")
	rows := fs.Int("rows", 5, "rows of each failing check to print")
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
	checks := w.Catalog().Checks
	failed := 0
	for _, q := range checks {
		res, err := w.Run(ctx, q, nil)
		if err != nil {
			failed++
			fmt.Fprintf(e.stdout, "ERROR %s: %v\n", q.Name, err)
			continue
		}
		if len(res.Rows) == 0 {
			fmt.Fprintf(e.stdout, "ok    %s\n", q.Name)
			continue
		}
		failed++
		fmt.Fprintf(e.stdout, "FAIL  %s: %s — %s\n", q.Name, plural(len(res.Rows), "row"), q.Description)
		shown := &duck.Result{Columns: res.Columns, Rows: res.Rows[:min(*rows, len(res.Rows))]}
		if err := queries.WriteTable(indent{e.stdout}, shown, queries.TableOptions{MaxWidth: 60}); err != nil {
			return err
		}
		if more := len(res.Rows) - len(shown.Rows); more > 0 {
			fmt.Fprintf(e.stdout, "      … %d more\n", more)
		}
	}
	if failed > 0 {
		fmt.Fprintf(e.stderr, "vitlab verify: %d of %d checks failed\n", failed, len(checks))
		return errPartial
	}
	fmt.Fprintf(e.stdout, "every check passed (%d checks returned no rows)\n", len(checks))
	return nil
}

// indent prefixes every line written through it with six spaces.
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	var out []byte
	start := true
	for _, c := range p {
		if start {
			out = append(out, "      "...)
		}
		out = append(out, c)
		start = c == '\n'
	}
	if _, err := i.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
