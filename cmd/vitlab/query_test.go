package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

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
// testfixtures).
func TestQueryScripts(t *testing.T) {
	runScripts(t, scripts{
		Prefix: "query",
		Env:    map[string]string{"FIXTURES": testfixtures.Root()},
		Run:    inProcess,
		Cmds:   map[string]scriptCmd{"mkwarehouse": mkwarehouseCmd},
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
