package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	files, err := filepath.Glob("testdata/query_*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/query_*.txtar: %v", err)
	}
	fixtures := testfixtures.Root()
	testscript.Run(t, testscript.Params{
		Files: files,
		Setup: func(e *testscript.Env) error {
			e.Setenv("FIXTURES", fixtures)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"vitlab": func(ts *testscript.TestScript, neg bool, args []string) {
				e := &env{stdout: ts.Stdout(), stderr: ts.Stderr(), getenv: ts.Getenv}
				code := runMain(context.Background(), e, args)
				ts.Setenv("VITLAB_EXIT", strconv.Itoa(code))
				if neg != (code != 0) {
					ts.Fatalf("vitlab %s: exit status %d", strings.Join(args, " "), code)
				}
			},
			"status": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: status N")
				}
				if got := ts.Getenv("VITLAB_EXIT"); (got == args[0]) == neg {
					ts.Fatalf("last vitlab exited %s, want %s", got, args[0])
				}
			},
			"mkwarehouse": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: mkwarehouse DIR")
				}
				if err := makeWarehouse(ts.MkAbs(args[0])); err != nil {
					ts.Fatalf("mkwarehouse: %v", err)
				}
			},
		},
	})
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
