package queries

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"vitlab/etl/parquetout"
	"vitlab/etl/warehouse"
	"vitlab/queries/duck"
	"vitlab/schemas"
)

// buildRecord builds one record of table t from rows given as column → value
// (int, int64, float64, string, bool, time.Time); columns a row leaves out
// are null when nullable, else zero.
func buildRecord(t *testing.T, mem memory.Allocator, tbl *schemas.Table, rows []map[string]any) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(mem, tbl.Schema())
	defer b.Release()
	for _, row := range rows {
		for i, c := range tbl.Columns {
			v, ok := row[c.Name]
			switch fb := b.Field(i).(type) {
			case *array.StringBuilder:
				if ok {
					fb.Append(v.(string))
				} else if c.Nullable {
					fb.AppendNull()
				} else {
					fb.Append("")
				}
			case *array.Int32Builder:
				if ok {
					fb.Append(int32(v.(int)))
				} else if c.Nullable {
					fb.AppendNull()
				} else {
					fb.Append(0)
				}
			case *array.Int64Builder:
				if ok {
					fb.Append(int64(v.(int)))
				} else if c.Nullable {
					fb.AppendNull()
				} else {
					fb.Append(0)
				}
			case *array.Float64Builder:
				if ok {
					fb.Append(v.(float64))
				} else if c.Nullable {
					fb.AppendNull()
				} else {
					fb.Append(0)
				}
			case *array.BooleanBuilder:
				if ok {
					fb.Append(v.(bool))
				} else if c.Nullable {
					fb.AppendNull()
				} else {
					fb.Append(false)
				}
			case *array.TimestampBuilder:
				if ok {
					fb.Append(arrow.Timestamp(v.(time.Time).UnixMicro()))
				} else if c.Nullable {
					fb.AppendNull()
				} else {
					fb.Append(0)
				}
			default:
				t.Fatalf("buildRecord: column %s: builder %T", c.Name, fb)
			}
		}
	}
	return b.NewRecordBatch()
}

// writePart writes rows of tbl to <wh>/<table>/batch=<id>/<name> with the
// warehouse's Parquet writer and returns the path relative to wh.
func writePart(t *testing.T, wh string, tbl *schemas.Table, batch, name string, rows []map[string]any) string {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rel := filepath.ToSlash(filepath.Join(tbl.Name, schemas.PartitionDir+batch, name))
	p := filepath.Join(wh, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := parquetout.Create(p, tbl, parquetout.Options{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	rec := buildRecord(t, mem, tbl, rows)
	defer rec.Release()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return rel
}

func writeManifest(t *testing.T, wh string, batches map[string]map[string][]string) {
	t.Helper()
	m := warehouse.Manifest{Format: warehouse.ManifestFormat, SchemaVersion: schemas.Version, Batches: map[string]*warehouse.Batch{}}
	for id, tables := range batches {
		b := &warehouse.Batch{ID: id, Source: "exports", SchemaVersion: schemas.Version, Generation: 1, Tables: map[string]warehouse.TableFiles{}}
		for tbl, files := range tables {
			b.Tables[tbl] = warehouse.TableFiles{Files: files}
		}
		m.Batches[id] = b
	}
	buf, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wh, warehouse.ManifestName), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// testWarehouse builds a warehouse of two committed batches: b1 written by
// the warehouse's Parquet writer with the current schema, b0 an "old" file
// (written by DuckDB) that lacks most kernel columns and has one no schema
// knows. A stray part file in b1's directory is not in the manifest.
func testWarehouse(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	wh := t.TempDir()
	k1 := writePart(t, wh, schemas.Kernels, "b1", "part-0000.parquet", []map[string]any{
		{"batch_id": "b1", "run_id": "r1", "start": 0, "end": 10, "demangled_name": "k_a", "short_name": "a", "graph_id": 5},
		{"batch_id": "b1", "run_id": "r1", "start": 20, "end": 50, "demangled_name": "k_b", "short_name": "b"},
	})
	writePart(t, wh, schemas.Kernels, "b1", "part-0001.parquet", []map[string]any{
		{"batch_id": "b1", "run_id": "r1", "start": 0, "end": 1000, "demangled_name": "uncommitted", "short_name": "u"},
	})
	r1 := writePart(t, wh, schemas.Runs, "b1", "part-0000.parquet", []map[string]any{
		{"batch_id": "b1", "run_id": "r1", "status": "ok", "kernels": 2, "started_at": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	})
	db, err := duck.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old := filepath.Join(wh, "kernels", "batch=b0", "part-0000.parquet")
	if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := db.CopyParquet(ctx, `select 'b0' as batch_id, 'r9' as run_id, 100::bigint as start, 107::bigint as "end",
		'k_a' as demangled_name, 'a' as short_name, 'later' as future_col`, old); err != nil {
		t.Fatal(err)
	}
	writeManifest(t, wh, map[string]map[string][]string{
		"b0": {"kernels": {"kernels/batch=b0/part-0000.parquet"}},
		"b1": {"kernels": {k1}, "runs": {r1}},
	})
	// b0 was written by an older schema version (its columns differ): the
	// base views read each version's files as one list and union the
	// versions by name
	m, err := warehouse.ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	m.Batches["b0"].SchemaVersion = 1
	buf, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wh, warehouse.ManifestName), buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return wh
}

func TestOpenBaseViews(t *testing.T) {
	ctx := context.Background()
	w, err := Open(ctx, testWarehouse(t))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	// Exactly the committed files: the stray part-0001 is not read.
	res, err := w.SQL(ctx, `select batch_id, run_id, demangled_name, graph_id, future_col from kernels order by batch_id, start`)
	if err != nil {
		t.Fatal(err)
	}
	got := csvOf(t, res)
	want := "batch_id,run_id,demangled_name,graph_id,future_col\nb0,r9,k_a,,later\nb1,r1,k_a,5,\nb1,r1,k_b,,\n"
	if got != want {
		t.Errorf("kernels:\n%s\nwant:\n%s", got, want)
	}

	// Schema columns in schema order and types, then the unknown column;
	// no hive "batch" column.
	res, err = w.SQL(ctx, `select column_name, data_type from information_schema.columns where table_name = 'kernels' order by ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, row := range res.Rows {
		names = append(names, row[0].(string))
		if i < len(schemas.Kernels.Columns) {
			c := schemas.Kernels.Columns[i]
			typ, _ := DuckType(c.Type)
			if row[0] != c.Name || row[1] != typ {
				t.Errorf("kernels column %d: %v %v, want %s %s", i, row[0], row[1], c.Name, typ)
			}
		}
	}
	if len(names) != len(schemas.Kernels.Columns)+1 || names[len(names)-1] != "future_col" || slices.Contains(names, "batch") {
		t.Errorf("kernels columns: %v", names)
	}

	// A table without files exists with all its columns and no rows.
	for _, tbl := range schemas.All() {
		res, err := w.SQL(ctx, "select * from "+tbl.Name)
		if err != nil {
			t.Fatalf("%s: %v", tbl.Name, err)
		}
		if len(res.Columns) < len(tbl.Columns) {
			t.Errorf("%s: %d columns, want %d", tbl.Name, len(res.Columns), len(tbl.Columns))
		}
	}
	res, err = w.SQL(ctx, `select count(*), any_value(started_at)::varchar from runs`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows[0][0] != int64(1) || !strings.HasPrefix(res.Rows[0][1].(string), "2026-01-02 03:04:05") {
		t.Errorf("runs: %v", res.Rows)
	}

	// A saved query runs over old and new files together.
	q, _ := w.Catalog().Query("nsys_kern_sum")
	res, err = w.Run(ctx, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	got = csvOf(t, res)
	want = "batch_id,run_id,Time (%),Total Time (ns),Instances,Avg (ns),Med (ns),Min (ns),Max (ns),StdDev (ns),Name\n" +
		"b0,r9,100.0,7,1,7.0,7.0,7,7,0.0,k_a\n" +
		"b1,r1,75.0,30,1,30.0,30.0,30,30,0.0,k_b\n" +
		"b1,r1,25.0,10,1,10.0,10.0,10,10,0.0,k_a\n"
	if got != want {
		t.Errorf("nsys_kern_sum:\n%s\nwant:\n%s", got, want)
	}
}

func TestOpenEmptyWarehouse(t *testing.T) {
	ctx := context.Background()
	w, err := Open(ctx, t.TempDir()) // no manifest yet
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, q := range append(slices.Clone(w.Catalog().Queries), w.Catalog().Checks...) {
		res, err := w.Run(ctx, q, nil)
		if err != nil {
			t.Errorf("%s: %v", q.Name, err)
		} else if q.Name == "claims" {
			// One row per claim, each saying there is nothing to test it on.
			if len(res.Rows) != 17 {
				t.Errorf("claims: %d rows on an empty warehouse, want 17", len(res.Rows))
			}
			col := slices.IndexFunc(res.Columns, func(c duck.Column) bool { return c.Name == "verdict" })
			for _, row := range res.Rows {
				if col < 0 || row[col] != "no data" {
					t.Errorf("claims on an empty warehouse: %v, want verdict no data", row)
				}
			}
		} else if len(res.Rows) != 0 {
			t.Errorf("%s: %d rows on an empty warehouse", q.Name, len(res.Rows))
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := Open(ctx, missing); err == nil || !strings.Contains(err.Error(), "no warehouse at "+missing) {
		t.Errorf("missing warehouse: %v", err)
	}

	wh := t.TempDir()
	writeManifest(t, wh, map[string]map[string][]string{"b": {"kernels": {"kernels/batch=b/part-0000.parquet"}}})
	if _, err := Open(ctx, wh); err == nil || !strings.Contains(err.Error(), "table kernels: committed file kernels/batch=b/part-0000.parquet") {
		t.Errorf("missing committed file: %v", err)
	}

	wh = t.TempDir()
	if err := os.WriteFile(filepath.Join(wh, warehouse.ManifestName), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, wh); err == nil || !strings.Contains(err.Error(), warehouse.ManifestName) {
		t.Errorf("bad manifest: %v", err)
	}

	wh = filepath.Join(t.TempDir(), "odd[1]")
	if err := os.MkdirAll(wh, 0o755); err != nil {
		t.Fatal(err)
	}
	writePart(t, wh, schemas.Kernels, "b", "part-0000.parquet", []map[string]any{{"batch_id": "b", "run_id": "r"}})
	writeManifest(t, wh, map[string]map[string][]string{"b": {"kernels": {"kernels/batch=b/part-0000.parquet"}}})
	if _, err := Open(ctx, wh); err == nil || !strings.Contains(err.Error(), "glob character") {
		t.Errorf("glob in path: %v", err)
	}
}

// TestScriptRunsSavedSQLUnchanged runs what `vitlab views` prints in a fresh
// DuckDB, then every saved query file exactly as it is on disk (as the
// DuckDB CLI's .read would), and expects the same result as Warehouse.Run
// with default params.
func TestScriptRunsSavedSQLUnchanged(t *testing.T) {
	ctx := context.Background()
	wh := testWarehouse(t)
	script, err := Script(wh)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(script, filepath.Join(wh, "kernels", schemas.PartitionDir+"b1", "part-0000.parquet")) {
		t.Errorf("script does not name the committed file by absolute path:\n%s", script)
	}
	db, err := duck.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Exec(ctx, script); err != nil {
		t.Fatal(err)
	}
	w, err := Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, q := range w.Catalog().Queries {
		text, err := os.ReadFile(q.File)
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.Query(ctx, string(text))
		if err != nil {
			t.Errorf("%s as a file: %v", q.File, err)
			continue
		}
		want, err := w.Run(ctx, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		if csvOf(t, got) != csvOf(t, want) {
			t.Errorf("%s: file run gives\n%s\nvitlab gives\n%s", q.Name, csvOf(t, got), csvOf(t, want))
		}
	}
}

func TestWriteParquet(t *testing.T) {
	ctx := context.Background()
	w, err := Open(ctx, testWarehouse(t))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	q, _ := w.Catalog().Query("nsys_kern_sum")
	out := filepath.Join(t.TempDir(), "k.parquet")
	if err := w.WriteParquet(ctx, q, map[string]string{"batch": "b1"}, out); err != nil {
		t.Fatal(err)
	}
	res, err := w.SQL(ctx, "select * from read_parquet("+duck.Quote(out)+")")
	if err != nil {
		t.Fatal(err)
	}
	want, err := w.Run(ctx, q, map[string]string{"batch": "b1"})
	if err != nil {
		t.Fatal(err)
	}
	if csvOf(t, res) != csvOf(t, want) {
		t.Errorf("parquet holds\n%s\nwant\n%s", csvOf(t, res), csvOf(t, want))
	}
	if res.Columns[2].Name != "Time (%)" || res.Columns[2].Type != "DECIMAL(4,1)" {
		t.Errorf("parquet column 2: %+v", res.Columns[2])
	}
}

func csvOf(t *testing.T, res *duck.Result) string {
	t.Helper()
	var b strings.Builder
	if err := WriteCSV(&b, res); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestValues: Values gives the distinct values of a column of the answer,
// nulls left out, without the answer: those of Run's rows, sorted, or in
// the answer's order (batch_id, run_id) when ordered by batch_id first.
func TestValues(t *testing.T) {
	ctx := context.Background()
	w, err := Open(ctx, testWarehouse(t))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	q, _ := w.Catalog().Query("nsys_kern_sum")
	for _, args := range []map[string]string{nil, {"batch": "b1"}, {"batch": "nope"}} {
		res, err := w.Run(ctx, q, args)
		if err != nil {
			t.Fatal(err)
		}
		for _, col := range []string{"batch_id", "run_id", "Name"} {
			ci := slices.IndexFunc(res.Columns, func(c duck.Column) bool { return c.Name == col })
			var want []string
			for _, r := range res.Rows {
				if s := FormatValue(r[ci]); r[ci] != nil && !slices.Contains(want, s) {
					want = append(want, s)
				}
			}
			if col == "Name" {
				slices.Sort(want)
			} // (batch_id and run_id: the answer's order, by batch and run)
			by := []string{"batch_id"}
			if col == "batch_id" {
				by = nil
			}
			vals, err := w.Values(ctx, q, args, col, by...)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range vals {
				got = append(got, FormatValue(v))
			}
			if !slices.Equal(got, want) {
				t.Errorf("%v %s: Values %q, want %q", args, col, got, want)
			}
			if args == nil && col == "batch_id" && len(got) == 0 {
				t.Errorf("no batch in the answer")
			}
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"160.0 MiB": 160 << 20, "4.0 GiB": 4 << 30, "1.5 KiB": 1536, "512 bytes": 512, "2.0 GB": 2e9} {
		if got, ok := parseSize(in); !ok || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "160", "x MiB", "3 parsecs"} {
		if _, ok := parseSize(in); ok {
			t.Errorf("parseSize(%q) ok", in)
		}
	}
}
