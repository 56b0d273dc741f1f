//go:build !noduckdb

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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
json (an array of objects), parquet (needs --out), arrow (an Arrow IPC
stream). Every format streams: the table's columns are sized on its first
10000 rows, and the rows after them are printed as they come with those
widths (longer cells cut; the last line counts every row). --param sets one
of the query's params (see --list); the others keep their defaults.`

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
	whf := newWarehouseFlag(fs, e, "warehouse `DIR`ectory")
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

	w, err := whf.Open(ctx)
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
	// A filter param (null default) that names nothing is an error listing
	// the values it could name (checkParamValues). The answer streams in
	// every format; an empty one has printed nothing yet when its writer
	// is about to end (the CSV header, the JSON brackets and the table are
	// written at the first row or at the end), and the check runs then.
	filtered := false
	for _, p := range q.Params {
		if _, ok := params[p.Key]; ok && p.Default == nil {
			filtered = true
		}
	}
	check := func(cols []string, rows int64) error {
		if !filtered || rows > 0 || *format == "arrow" {
			return nil
		}
		return checkParamValues(ctx, w, q, params, cols)
	}
	write := func(dst io.Writer) error {
		if *format == "arrow" {
			return writeArrow(ctx, dst, w, q, params)
		}
		// The table is sized on its first rows (queries.TableSizeRows),
		// printed, then streamed with those widths.
		width := 0 // a file gets every line whole
		if *out == "" {
			width = tableWidth(e)
		}
		topt := queries.TableOptions{MaxWidth: 80, Width: width,
			Whole: "--format csv or --format json prints every cell whole"}
		// csv and table through Arrow record batches where every column
		// has a type queries.ArrowCSV and ArrowTable render (the same
		// bytes, 1.8M rows of nsys_nvtx_kern_sum at 100x the sample ~4x
		// faster as CSV), else, and json, row by row: an answer of
		// millions of rows is never held whole in memory.
		if duck.ArrowAvailable && (*format == "csv" || *format == "table") {
			open := func(s *arrow.Schema) (queries.RecordWriter, bool) {
				if *format == "table" {
					return queries.NewArrowTable(dst, s, topt)
				}
				return queries.NewArrowCSV(dst, s)
			}
			if done, err := writeArrowRecords(ctx, w, q, params, open, check); done || err != nil {
				return err
			}
		}
		var rw queries.RowWriter
		var cols []string
		var rows int64
		err := w.RunEach(ctx, q, params, func(c []duck.Column) error {
			cols = columnNames(c)
			switch *format {
			case "json":
				rw = queries.NewJSONWriter(dst, c)
			case "table":
				rw = queries.NewTableWriter(dst, c, topt)
			default:
				rw = queries.NewCSVWriter(dst, c)
			}
			return nil
		}, func(row []any) error {
			rows++
			return rw.Row(row)
		})
		if err != nil {
			var pe *queries.ParamError
			if errors.As(err, &pe) {
				return usagef("%v", err)
			}
			return err
		}
		if err := check(cols, rows); err != nil {
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

// checkParamValues makes a filter param whose value names nothing an error
// that lists the values it could name, rather than an empty answer (the
// caller calls it when the answer, of columns cols, was empty). A param
// whose default is null and that is given a value is a filter ("only this
// claim", "only this batch"); when the query has a column named after the
// param (claim_id, batch_id, run_id, or the key itself), the distinct
// values of that column without that param are looked up
// (Warehouse.Values: one GROUP BY, the answer is not held) and the value
// is looked for among them.
func checkParamValues(ctx context.Context, w *queries.Warehouse, q *queries.Query, given map[string]string, cols []string) error {
	for _, p := range q.Params {
		v, ok := given[p.Key]
		if !ok || p.Default != nil || strings.TrimSpace(v) == "" {
			continue
		}
		ci := -1
		for i, c := range cols {
			if c == p.Key || c == p.Key+"_id" {
				ci = i
				break
			}
		}
		if ci < 0 {
			continue
		}
		rest := map[string]string{}
		for k, x := range given {
			if k != p.Key {
				rest[k] = x
			}
		}
		// in the answer's order where it is by batch, then the column
		// (the derived answers: batch_id, run_id)
		var by []string
		if cols[ci] != "batch_id" && slices.Contains(cols, "batch_id") {
			by = []string{"batch_id"}
		}
		all, err := w.Values(ctx, q, rest, cols[ci], by...)
		if err != nil {
			return err
		}
		var values []string
		seen := map[string]bool{}
		for _, x := range all {
			s := queries.FormatValue(x)
			if seen[s] {
				continue
			}
			if s == v {
				return nil // a real value whose rows the other params leave out
			}
			seen[s] = true
			values = append(values, s)
		}
		list := "none: the answer is empty without it too"
		if len(values) > 0 {
			shown := values
			if len(shown) > 30 {
				shown = append(shown[:30:30], fmt.Sprintf("… (%d in all)", len(values)))
			}
			list = strings.Join(shown, ", ")
		}
		return usagef("--param %s=%s names no %s of query %s; valid values: %s", p.Key, v, cols[ci], q.Name, list)
	}
	return nil
}

// columnNames are the names of cols.
func columnNames(cols []duck.Column) []string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return names
}

// writeArrowRecords writes q's answer to dst through the record writer
// open makes for its schema (queries.Warehouse.WriteRecords: a second
// goroutine writes while DuckDB reads on); done is false, with nothing
// written, when open says a column has a type the writer leaves to rows.
// A param error is a usage error.
func writeArrowRecords(ctx context.Context, w *queries.Warehouse, q *queries.Query, params map[string]string,
	open func(*arrow.Schema) (queries.RecordWriter, bool), check func(cols []string, rows int64) error) (done bool, err error) {
	done, err = w.WriteRecords(ctx, q, params, open, check)
	var pe *queries.ParamError
	if errors.As(err, &pe) {
		return true, usagef("%v", err)
	}
	return done, err
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

// Open opens the warehouse the flag names (Existing: it must exist) for
// queries; the caller closes it.
func (w *warehouseFlag) Open(ctx context.Context) (*queries.Warehouse, error) {
	dir, err := w.Existing()
	if err != nil {
		return nil, err
	}
	return queries.Open(ctx, dir)
}
