//go:build !noduckdb

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"vitlab/queries"
	"vitlab/queries/duck"
)

func init() {
	register(command{
		name:    "query",
		summary: "run a saved query over the warehouse (--list shows them)",
		run:     runQuery,
	})
}

const queryUsage = `[--warehouse DIR] [--format table|csv|json|parquet|arrow] [--out FILE] [--param k=v]... NAME
       vitlab query --list

Runs the saved query NAME (queries/NAME.sql, queries/nsys/NAME.sql,
queries/findings/NAME.sql or queries/claims.sql) over the committed batches of
the warehouse and prints its rows. Formats: table (aligned text, long
values cut; the default), csv (header = the query's columns, e.g. nsys's),
json (an array of objects), parquet (needs --out). --param sets one of the
query's params (see --list); the others keep their defaults.`

// paramFlags collects repeated --param k=v.
type paramFlags map[string]string

func (p paramFlags) String() string { return "" }

func (p paramFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want k=v, got %q", s)
	}
	k = strings.TrimSpace(k)
	if _, dup := p[k]; dup {
		return fmt.Errorf("param %s given twice", k)
	}
	p[k] = v
	return nil
}

func runQuery(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "query", queryUsage)
	dir := fs.String("warehouse", "warehouse", "warehouse `DIR`ectory")
	format := fs.String("format", "table", "output `format`: table, csv, json, parquet (needs --out) or arrow (an Arrow IPC stream, e.g. for pyarrow.ipc.open_stream)")
	out := fs.String("out", "", "write to `FILE` instead of stdout (required for parquet)")
	list := fs.Bool("list", false, "list the saved queries with their descriptions and params")
	params := paramFlags{}
	fs.Var(params, "param", "query parameter `k=v` (repeatable)")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	cat, err := queries.Embedded()
	if err != nil {
		return err
	}
	if *list {
		if len(names) > 0 {
			return usagef("--list takes no query name")
		}
		return listQueries(e.stdout, cat)
	}
	switch {
	case len(names) == 0:
		return usagef("no query name; saved queries: %s", strings.Join(cat.Names(), ", "))
	case len(names) > 1:
		return usagef("one query name, got %d: %s", len(names), strings.Join(names, " "))
	}
	q, ok := cat.Query(names[0])
	if !ok {
		return usagef("no saved query %q; saved queries: %s", names[0], strings.Join(cat.Names(), ", "))
	}
	switch *format {
	case "table", "csv", "json", "arrow":
	case "parquet":
		if *out == "" {
			return usagef("--format parquet needs --out FILE")
		}
	default:
		return usagef("unknown --format %q: use table, csv, json, parquet or arrow", *format)
	}
	if _, err := q.Bind(params); err != nil {
		return usagef("%v", err)
	}

	w, err := queries.Open(ctx, *dir)
	if err != nil {
		return err
	}
	defer w.Close()
	if *format == "parquet" {
		abs, err := filepath.Abs(*out)
		if err != nil {
			return err
		}
		return w.WriteParquet(ctx, q, params, abs)
	}
	write := func(dst io.Writer) error {
		switch *format {
		case "arrow":
			return writeArrow(ctx, dst, w, q, params)
		}
		// Row by row: an answer of millions of rows (nsys_nvtx_kern_sum at
		// 100x the sample) is never held whole in memory.
		var rw queries.RowWriter
		err := w.RunEach(ctx, q, params, func(cols []duck.Column) error {
			switch *format {
			case "csv":
				rw = queries.NewCSVWriter(dst, cols)
			case "json":
				rw = queries.NewJSONWriter(dst, cols)
			default:
				rw = queries.NewTableWriter(dst, cols, queries.TableOptions{MaxWidth: 80})
			}
			return nil
		}, func(row []any) error { return rw.Row(row) })
		if err != nil {
			return err
		}
		return rw.Close()
	}
	if *out == "" {
		return write(e.stdout)
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		os.Remove(*out)
		return fmt.Errorf("%s: %w", *out, err)
	}
	return f.Close()
}

func listQueries(w io.Writer, cat *queries.Catalog) error {
	var b strings.Builder
	for i, q := range cat.Queries {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s\n    %s (%s layer: queries/%s)\n", q.Name, q.Description, q.Layer, q.File)
		for _, p := range q.Params {
			def := "null"
			if p.Default != nil {
				def = fmt.Sprint(p.Default)
			}
			fmt.Fprintf(&b, "    --param %s=…  %s (default %s", p.Key, p.Doc, def)
			if len(p.Choices) > 0 {
				fmt.Fprintf(&b, "; one of %s", strings.Join(p.Choices, ", "))
			}
			b.WriteString(")\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeArrow writes q's answer to dst as an Arrow IPC stream (schema, then
// one record batch per DuckDB chunk): the answer goes from DuckDB to the
// stream as Arrow, never as Go values. An answer without rows is the
// schema alone.
func writeArrow(ctx context.Context, dst io.Writer, w *queries.Warehouse, q *queries.Query, params map[string]string) error {
	var iw *ipc.Writer
	schema, err := w.RunArrow(ctx, q, params, func(rec arrow.RecordBatch) error {
		if iw == nil {
			iw = ipc.NewWriter(dst, ipc.WithSchema(rec.Schema()))
		}
		return iw.Write(rec)
	})
	if err != nil {
		return err
	}
	if iw == nil {
		iw = ipc.NewWriter(dst, ipc.WithSchema(schema))
	}
	return iw.Close()
}
