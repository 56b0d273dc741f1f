//go:build !noduckdb

package main

import (
	"context"
	"errors"
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
	// the values it could name (checkParamValues): with one given, the
	// answer is read whole first, so that nothing is printed before that
	// error. Otherwise csv and json stream row by row.
	filtered := false
	for _, p := range q.Params {
		if _, ok := params[p.Key]; ok && p.Default == nil {
			filtered = true
		}
	}
	var res *duck.Result
	if *format == "table" || (filtered && (*format == "csv" || *format == "json")) { // the table is fitted to the terminal: sized on every row
		if res, err = w.Run(ctx, q, params); err != nil {
			var pe *queries.ParamError
			if errors.As(err, &pe) {
				return usagef("%v", err)
			}
			return err
		}
		if err := checkParamValues(ctx, w, q, params, res); err != nil {
			return err
		}
	}
	write := func(dst io.Writer) error {
		switch *format {
		case "arrow":
			return writeArrow(ctx, dst, w, q, params)
		case "table":
			width := 0 // a file gets every line whole
			if *out == "" {
				width = tableWidth(e)
			}
			return queries.WriteTable(dst, res, queries.TableOptions{MaxWidth: 80, Width: width,
				Whole: "--format csv or --format json prints every cell whole"})
		}
		if res != nil {
			if *format == "json" {
				return queries.WriteJSON(dst, res)
			}
			return queries.WriteCSV(dst, res)
		}
		// csv through Arrow record batches where every column has a type
		// queries.ArrowCSV renders (the same bytes, 1.8M rows of
		// nsys_nvtx_kern_sum at 100x the sample ~4x faster), else, and
		// json, row by row: an answer of millions of rows is never held
		// whole in memory.
		if *format == "csv" && duck.ArrowAvailable {
			if done, err := writeArrowCSV(ctx, dst, w, q, params); done || err != nil {
				return err
			}
		}
		var rw queries.RowWriter
		err := w.RunEach(ctx, q, params, func(c []duck.Column) error {
			if *format == "json" {
				rw = queries.NewJSONWriter(dst, c)
			} else {
				rw = queries.NewCSVWriter(dst, c)
			}
			return nil
		}, func(row []any) error { return rw.Row(row) })
		if err != nil {
			var pe *queries.ParamError
			if errors.As(err, &pe) {
				return usagef("%v", err)
			}
			return err
		}
		if err := rw.Close(); err != nil {
			return err
		}
		return nil
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
// that lists the values it could name, rather than an empty answer. A param
// whose default is null and that is given a value is a filter ("only this
// claim", "only this batch"); when the answer is empty and the query has a
// column named after the param (claim_id, batch_id, run_id, or the key
// itself), the query runs again without that param and the value is looked
// for in that column.
func checkParamValues(ctx context.Context, w *queries.Warehouse, q *queries.Query, given map[string]string, res *duck.Result) error {
	if len(res.Rows) > 0 {
		return nil
	}
	for _, p := range q.Params {
		v, ok := given[p.Key]
		if !ok || p.Default != nil || strings.TrimSpace(v) == "" {
			continue
		}
		ci := -1
		for i, c := range res.Columns {
			if c.Name == p.Key || c.Name == p.Key+"_id" {
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
		all, err := w.Run(ctx, q, rest)
		if err != nil {
			return err
		}
		var values []string
		seen := map[string]bool{}
		for _, r := range all.Rows {
			s := queries.FormatValue(r[ci])
			if r[ci] == nil || seen[s] {
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
		return usagef("--param %s=%s names no %s of query %s; valid values: %s", p.Key, v, all.Columns[ci].Name, q.Name, list)
	}
	return nil
}

// writeArrowCSV writes q's answer to dst as CSV from its Arrow record
// batches (queries.ArrowCSV); done is false, with nothing written, when a
// column has a type ArrowCSV leaves to the row writer.
func writeArrowCSV(ctx context.Context, dst io.Writer, w *queries.Warehouse, q *queries.Query, params map[string]string) (done bool, err error) {
	var ac *queries.ArrowCSV
	ok := true
	// The batches are written by a second goroutine while DuckDB computes
	// and converts the next ones (or the next part of a derived answer):
	// at 100x the sample, nsys_nvtx_kern_sum's read and its CSV took about
	// as long as each other. At most csvQueue batches wait (each held
	// batch is memory: 16 raised the peak RSS by ~90 MB).
	recs := make(chan arrow.RecordBatch, csvQueue)
	failed := make(chan struct{}) // closed when a write fails (werr)
	ended := make(chan struct{})  // closed when the writer has ended
	var werr error
	started := false
	start := func() {
		started = true
		go func() {
			defer close(ended)
			for rec := range recs {
				if werr == nil {
					if werr = ac.Write(rec); werr != nil {
						close(failed)
					}
				}
				rec.Release()
			}
		}()
	}
	schema, err := w.RunArrow(ctx, q, params, func(rec arrow.RecordBatch) error {
		if ac == nil {
			if ac, ok = queries.NewArrowCSV(dst, rec.Schema()); !ok {
				return errRowsNeeded
			}
			start()
		}
		rec.Retain()
		select {
		case recs <- rec:
			return nil
		case <-failed:
			rec.Release()
			return errWriteFailed
		}
	})
	close(recs)
	if started {
		<-ended
		if werr != nil && (err == nil || errors.Is(err, errWriteFailed)) {
			err = werr
		}
	}
	if errors.Is(err, errRowsNeeded) {
		return false, nil
	}
	if err != nil {
		var pe *queries.ParamError
		if errors.As(err, &pe) {
			return true, usagef("%v", err)
		}
		return true, err
	}
	if ac == nil {
		if ac, ok = queries.NewArrowCSV(dst, schema); !ok {
			return false, nil
		}
	}
	return true, ac.Close()
}

// errWriteFailed stops a query whose CSV could not be written (the
// writer's error is returned instead).
var errWriteFailed = errors.New("csv write failed")

// csvQueue is how many record batches wait for writeArrowCSV's writer.
const csvQueue = 2

// errRowsNeeded: the answer has a column queries.ArrowCSV does not render.
var errRowsNeeded = errors.New("a column type CSV takes from rows")

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
