package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/rogpeppe/go-internal/testscript"

	"vitlab/etl/warehouse"
	"vitlab/queries/duck"
	"vitlab/schemas"

	"vitlab/internal/testfixtures"
)

// TestQueryScripts runs the transcripts testdata/query_*.txtar of
// 'vitlab query' and 'vitlab views'. The vitlab command runs in-process;
// 'status N' asserts the exit code of the last vitlab; 'mkwarehouse DIR'
// builds a small warehouse of one batch. Use $WORK for paths; $FIXTURES is
// the fixtures folder (nsys exports and nsys's own stats CSVs; package
// testfixtures), $SAMPLE the shipped sample (data/sample).
func TestQueryScripts(t *testing.T) {
	sample, err := filepath.Abs("../../data/sample")
	if err != nil {
		t.Fatal(err)
	}
	runScripts(t, scripts{
		Prefix: "query",
		Env:    map[string]string{"FIXTURES": testfixtures.Root(), "SAMPLE": sample},
		Run:    inProcess,
		Cmds:   map[string]scriptCmd{"mkwarehouse": mkwarehouseCmd},
		Update: os.Getenv("VITLAB_UPDATE_SCRIPTS") != "",
	})
}

// mkwarehouseCmd is 'mkwarehouse DIR': the warehouse of makeWarehouse.
func mkwarehouseCmd(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: mkwarehouse DIR")
	}
	if err := makeWarehouse(ts.MkAbs(args[0])); err != nil {
		ts.Fatalf("mkwarehouse: %v", err)
	}
}

// makeWarehouse writes a warehouse of batch b1, run r1 with three kernels
// (one with a long name) and two copies, Parquet files written by DuckDB.
func makeWarehouse(dir string) error {
	ctx := context.Background()
	db, err := duck.Open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	long := "void at::native::vectorized_elementwise_kernel<(int)4, at::native::FillFunctor<float>, std::array<char *, (unsigned long)1>>(int, T2, T3)"
	parts := map[string]string{
		"kernels": `select 'b1' as batch_id, 'r1' as run_id, s::bigint as start, e::bigint as "end", n as demangled_name, n as short_name
			from (values (0, 100, 'gemm'), (200, 260, 'gemm'), (300, 310, ` + duck.Quote(long) + `)) t(s, e, n)`,
		"memcpys": `select 'b1' as batch_id, 'r1' as run_id, s::bigint as start, e::bigint as "end", b::bigint as bytes, k::int as copy_kind_id
			from (values (0, 50, 2000000, 1), (60, 70, 500000, 2)) t(s, e, b, k)`,
	}
	m := warehouse.Manifest{Format: warehouse.ManifestFormat, SchemaVersion: schemas.Version, Batches: map[string]*warehouse.Batch{
		"b1": {ID: "b1", Source: "exports", Generation: 1, SchemaVersion: schemas.Version, Runs: 1, Tables: map[string]warehouse.TableFiles{}},
	}}
	for table, sql := range parts {
		rel := table + "/batch=b1/part-0000.parquet"
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := db.CopyParquet(ctx, sql, p); err != nil {
			return err
		}
		m.Batches["b1"].Tables[table] = warehouse.TableFiles{Files: []string{rel}}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, warehouse.ManifestName), b, 0o644)
}

// TestQueryFormatArrow writes a saved query as an Arrow IPC stream (to a
// file and to stdout), reads it back with arrow's IPC reader and checks it
// holds the CSV answer: the same header and, row by row, the same text of
// every cell of a number or text column. runs_overview and nsys_api_sum
// have no rows in this warehouse: their streams hold the schema alone.
func TestQueryFormatArrow(t *testing.T) {
	if !duck.ArrowAvailable {
		t.Skip("built without the duckdb_arrow tag (make test sets it)")
	}
	dir := t.TempDir()
	wh := filepath.Join(dir, "wh")
	if err := makeWarehouse(wh); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		e := &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
		if code := runMain(context.Background(), e, append([]string{"query", "--warehouse", wh}, args...)); code != 0 {
			t.Fatalf("vitlab query %v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}
	for _, name := range []string{"nsys_kern_sum", "nsys_api_sum", "runs_overview"} {
		csvText := run("--format", "csv", name)
		want, err := csv.NewReader(strings.NewReader(csvText)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, name+".arrows")
		run("--format", "arrow", "--out", file, name)
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if stdout := run("--format", "arrow", name); stdout != string(raw) {
			t.Errorf("%s: the stream on stdout differs from --out's (%d vs %d bytes)", name, len(stdout), len(raw))
		}
		r, err := ipc.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var header []string
		for _, f := range r.Schema().Fields() {
			header = append(header, f.Name)
		}
		if !slices.Equal(header, want[0]) {
			t.Fatalf("%s: Arrow columns %v, CSV %v", name, header, want[0])
		}
		row := 1
		for r.Next() {
			rec := r.RecordBatch()
			for i := 0; i < int(rec.NumRows()); i++ {
				for j, col := range rec.Columns() {
					if col.IsNull(i) {
						if want[row][j] != "" {
							t.Fatalf("%s: row %d column %s: null in Arrow, %q in CSV", name, row, header[j], want[row][j])
						}
						continue
					}
					switch col.DataType().ID() {
					case arrow.INT32, arrow.INT64, arrow.STRING:
						if got := col.ValueStr(i); got != want[row][j] {
							t.Fatalf("%s: row %d column %s: %q in Arrow, %q in CSV", name, row, header[j], got, want[row][j])
						}
					}
				}
				row++
			}
		}
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
		r.Release()
		if row != len(want) {
			t.Errorf("%s: %d rows in Arrow, %d in CSV", name, row-1, len(want)-1)
		}
		if name == "nsys_kern_sum" && row < 3 {
			t.Errorf("%s: only %d rows: the test warehouse should give several", name, row-1)
		}
	}
}
