package nsysdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"vitlab/etl/nsysdb/nsysdbtest"
	"vitlab/schemas"

	"vitlab/internal/testfixtures"
)

var fixtureDir = testfixtures.Nsys()

// TestSourcesCoverSchemas: every column of every event table has a
// derivation, so a column added to schemas/ without one fails here.
func TestSourcesCoverSchemas(t *testing.T) {
	for _, tbl := range schemas.EventTables {
		src, ok := sources[tbl.Name]
		if !ok {
			t.Errorf("%s: no source", tbl.Name)
			continue
		}
		have := map[string]bool{}
		for _, sp := range src.specs {
			if tbl.Index(sp.col) < 0 {
				t.Errorf("%s: spec for unknown column %s", tbl.Name, sp.col)
			}
			have[sp.col] = true
		}
		for _, c := range tbl.Columns {
			if !have[c.Name] {
				t.Errorf("%s.%s: no derivation", tbl.Name, c.Name)
			}
		}
	}
}

func openT(t *testing.T, path string, mem memory.Allocator) *DB {
	t.Helper()
	db, err := Open(context.Background(), path, Options{Allocator: mem, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// readAll reads a table into strings "col=value" per row.
func readAll(t *testing.T, db *DB, tbl *schemas.Table, ro ReadOptions) ([]map[string]string, *arrow.Schema) {
	t.Helper()
	var rows []map[string]string
	var schema *arrow.Schema
	_, err := db.Read(context.Background(), tbl, ro, func(rec arrow.RecordBatch) error {
		schema = rec.Schema()
		for i := 0; i < int(rec.NumRows()); i++ {
			m := map[string]string{}
			for j, f := range rec.Schema().Fields() {
				m[f.Name] = rec.Column(j).ValueStr(i)
			}
			rows = append(rows, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows, schema
}

// TestColumnsByName builds kernels and API tables whose columns are in an
// order no nsys ever wrote, with foreign columns between them, and checks
// every value lands in its warehouse column.
func TestColumnsByName(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	path := filepath.Join(t.TempDir(), "shuffled.sqlite")
	gtid := int64(1<<48 | 4242<<24 | 17)
	err := nsysdbtest.Exec(path,
		"CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT)",
		"INSERT INTO StringIds VALUES (10, 'void k<int>(int)'), (11, 'k'), (12, '_Z1kIiEvi'), (13, 'cudaLaunchKernel_v7000')",
		`CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (foreign1 TEXT, graphId INTEGER, blockZ INTEGER, blockY INTEGER,
			blockX INTEGER, gridZ INTEGER, gridY INTEGER, gridX INTEGER, mangledName INTEGER, shortName INTEGER,
			demangledName INTEGER, globalPid INTEGER, correlationId INTEGER, streamId INTEGER, greenContextId INTEGER,
			contextId INTEGER, deviceId INTEGER, "end" INTEGER, start INTEGER, registersPerThread INTEGER,
			staticSharedMemory INTEGER, dynamicSharedMemory INTEGER, launchType INTEGER, extra REAL)`,
		fmt.Sprintf(`INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES ('x', 99, 3, 2, 256, 6, 5, 4, 12, 11, 10, %d, 77,
			13, 1, 2, 0, 2000, 1000, 64, 48, 1024, 0, 1.5)`, gtid&^0xFFFFFF),
		`CREATE TABLE CUPTI_ACTIVITY_KIND_RUNTIME (nameId INTEGER, foreign2 BLOB, correlationId INTEGER, globalTid INTEGER,
			eventClass INTEGER, returnValue INTEGER, "end" INTEGER, start INTEGER)`,
		fmt.Sprintf("INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (13, x'00', 77, %d, 1, 0, 950, 900)", gtid),
	)
	if err != nil {
		t.Fatal(err)
	}
	db := openT(t, path, mem)
	ro := ReadOptions{BatchID: "B", RunID: "R"}
	k, schema := readAll(t, db, schemas.Kernels, ro)
	if !schema.Equal(schemas.Kernels.Schema()) {
		t.Errorf("schema %v", schema)
	}
	want := map[string]string{
		"batch_id": "B", "run_id": "R", "start": "1000", "end": "2000", "device_id": "0", "context_id": "2",
		"stream_id": "13", "correlation_id": "77", "global_pid": fmt.Sprint(gtid &^ 0xFFFFFF), "pid": "4242",
		"graph_node_id": "(null)", "short_name": "k", "demangled_name": "void k<int>(int)", "mangled_name": "_Z1kIiEvi",
		"grid_x": "4", "grid_y": "5", "grid_z": "6", "block_x": "256", "block_y": "2", "block_z": "3",
		"registers_per_thread": "64", "static_shared_bytes": "48", "dynamic_shared_bytes": "1024",
		"local_bytes_per_thread": "(null)", "launch_type": "0", "graph_id": "99",
	}
	if len(k) != 1 || len(k[0]) != len(want) {
		t.Fatalf("kernels = %v", k)
	}
	for c, w := range want {
		if k[0][c] != w {
			t.Errorf("kernels.%s = %q, want %q", c, k[0][c], w)
		}
	}
	api, _ := readAll(t, db, schemas.CudaAPI, ro)
	wantAPI := map[string]string{
		"start": "900", "end": "950", "global_tid": fmt.Sprint(gtid), "global_pid": fmt.Sprint(gtid &^ 0xFFFFFF),
		"pid": "4242", "tid": "17", "name": "cudaLaunchKernel_v7000", "correlation_id": "77", "return_value": "0",
		"event_class": "1", "api": "driver",
	}
	for c, w := range wantAPI {
		if api[0][c] != w {
			t.Errorf("cuda_api.%s = %q, want %q", c, api[0][c], w)
		}
	}
	// Tables the export lacks read as no rows.
	n, err := db.Read(context.Background(), schemas.Memcpys, ro, func(arrow.RecordBatch) error {
		t.Error("a record for a missing table")
		return nil
	})
	if n != 0 || err != nil {
		t.Errorf("memcpys: %d rows, %v", n, err)
	}
}

// TestColumnSubset: ReadOptions.Columns gives records of just those columns.
func TestColumnSubset(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	db := openT(t, fixtureDir+"/quasiben_nvtx-examples_cudf.sqlite", mem)
	ro := ReadOptions{Columns: []string{"end", "range_id", "event_type"}}
	rows, schema := readAll(t, db, schemas.NVTX, ro)
	if got := schema.String(); !strings.Contains(got, "range_id") || schema.NumFields() != 3 || schema.Field(0).Name != "range_id" {
		t.Errorf("schema %s", got)
	}
	if len(rows) != 896 || rows[0]["range_id"] != "1" || rows[0]["event_type"] != "75" || rows[0]["end"] != "(null)" {
		t.Errorf("%d rows, first %v", len(rows), rows[0])
	}
	if _, err := db.Read(context.Background(), schemas.NVTX, ReadOptions{Columns: []string{"nope"}}, nil); err == nil || errors.Is(err, ErrMalformed) {
		t.Errorf("unknown column: %v", err)
	}
}

// TestDevices covers the three layouts of GPU information: 2020
// (TARGET_INFO_GPU by deviceId, details in TARGET_INFO_CUDA_GPU), 2022 and
// 2025 (CUDA ordinals in TARGET_INFO_CUDA_DEVICE).
func TestDevices(t *testing.T) {
	cases := map[string][]map[string]string{
		"quasiben_nvtx-examples_cudf.sqlite": {
			{"device_id": "1", "name": "Quadro RTX 8000", "bus_location": "0000:2D:00.0", "sm_count": "72",
				"total_memory_bytes": fmt.Sprint(48567 << 20), "clock_rate_hz": "1770000000", "compute_major": "7",
				"compute_minor": "5", "l2_cache_bytes": "6291456", "uuid": "(null)", "cuda_device": "(null)"},
			{"device_id": "0", "sm_count": "72", "total_memory_bytes": fmt.Sprint(48601 << 20)},
		},
		"cestwc_balinski-and-gomory-cuda_report1.sqlite": {
			{"device_id": "1", "name": "NVIDIA GeForce RTX 3090", "cuda_device": "0", "sm_count": "82", "chip_name": "GA102",
				"uuid": "49f21dcc-c8fa-396b-fea7-232a69c4de31", "memory_bandwidth_bytes_s": "936096000000"},
			{"device_id": "0", "cuda_device": "1", "bus_location": "0000:41:00.0"},
		},
		"h100_tiny_conv_nvtx.sqlite": {
			{"device_id": "0", "name": "NVIDIA H100 80GB HBM3", "sm_count": "132", "total_memory_bytes": "85017493504",
				"clock_rate_hz": "1980000000", "compute_major": "9", "compute_minor": "0", "cuda_device": "0"},
		},
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			db := openT(t, filepath.Join(fixtureDir, file), mem)
			got, schema := readAll(t, db, schemas.Devices, ReadOptions{BatchID: "b", RunID: "r"})
			if !schema.Equal(schemas.Devices.Schema()) {
				t.Errorf("schema %v", schema)
			}
			if len(got) != len(want) {
				t.Fatalf("%d devices, want %d: %v", len(got), len(want), got)
			}
			for i, w := range want {
				for c, v := range w {
					if got[i][c] != v {
						t.Errorf("device %d %s = %q, want %q", i, c, got[i][c], v)
					}
				}
			}
		})
	}
}

// TestPathNeedingEscapes: characters that mean something in a SQLite URI.
func TestPathNeedingEscapes(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "plain.sqlite")
	if err := nsysdbtest.Exec(plain, "CREATE TABLE StringIds (id INTEGER, value TEXT)"); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "a?b#c%20d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "x y.sqlite")
	if err := nsysdbtest.Copy(path, plain); err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !db.HasTable("StringIds") || !db.HasTable("stringids") {
		t.Error("StringIds not found")
	}
}

func TestSparseStringIDs(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	path := filepath.Join(t.TempDir(), "sparse.sqlite")
	err := nsysdbtest.Exec(path,
		"CREATE TABLE StringIds (id INTEGER, value TEXT)",
		"INSERT INTO StringIds VALUES (4000000000000, 'far'), (-5, 'negative'), (7, NULL)",
		"CREATE TABLE NVTX_EVENTS (start INTEGER, \"end\" INTEGER, eventType INTEGER, text TEXT, textId INTEGER, globalTid INTEGER)",
		"INSERT INTO NVTX_EVENTS VALUES (1, 2, 59, NULL, 4000000000000, 1), (3, 4, 59, 'inline', -5, 1), (5, 6, 59, 'fallback', 7, 1)",
	)
	if err != nil {
		t.Fatal(err)
	}
	db := openT(t, path, mem)
	rows, _ := readAll(t, db, schemas.NVTX, ReadOptions{})
	var names []string
	for _, r := range rows {
		names = append(names, r["name"])
	}
	if got := strings.Join(names, ","); got != "far,negative,fallback" {
		t.Errorf("names = %s", got)
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Open(ctx, fixtureDir+"/h100_tiny_conv_nvtx.sqlite", Options{})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrMalformed) {
		t.Errorf("err = %v", err)
	}
	db := openT(t, fixtureDir+"/h100_tiny_conv_nvtx.sqlite", nil)
	_, err = db.Read(ctx, schemas.CudaAPI, ReadOptions{}, func(arrow.RecordBatch) error { return nil })
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrMalformed) {
		t.Errorf("read err = %v", err)
	}
}

// TestBatching: records hold at most BatchRows rows and together all rows.
func TestBatching(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	db, err := Open(context.Background(), fixtureDir+"/h100_tiny_conv_nvtx.sqlite", Options{BatchRows: 100, Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sizes []int64
	n, err := db.Read(context.Background(), schemas.CudaAPI, ReadOptions{}, func(rec arrow.RecordBatch) error {
		sizes = append(sizes, rec.NumRows())
		if c := rec.Column(schemas.CudaAPI.MustIndex("name")).(*array.String); c.Value(0) == "" {
			return errors.New("empty name")
		}
		return nil
	})
	if err != nil || n != 1121 || len(sizes) != 12 || sizes[0] != 100 || sizes[11] != 21 {
		t.Errorf("n %d sizes %v err %v", n, sizes, err)
	}
	stop := errors.New("stop")
	if _, err := db.Read(context.Background(), schemas.CudaAPI, ReadOptions{}, func(arrow.RecordBatch) error { return stop }); err != stop {
		t.Errorf("callback error came back as %v", err)
	}
}

// TestUnsigned32 covers nsys's unsigned 32-bit values in 32-bit warehouse
// columns (kept as their bit pattern) and NVTX names without StringIds.
func TestUnsigned32(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	path := filepath.Join(t.TempDir(), "u32.sqlite")
	err := nsysdbtest.Exec(path,
		`CREATE TABLE CUPTI_ACTIVITY_KIND_MEMSET (start INTEGER, "end" INTEGER, deviceId INTEGER, contextId INTEGER,
			streamId INTEGER, correlationId INTEGER, globalPid INTEGER, value INTEGER, bytes INTEGER, memKind INTEGER)`,
		"INSERT INTO CUPTI_ACTIVITY_KIND_MEMSET VALUES (1, 2, 0, 1, 7, 3, 16777216, 4294967295, 64, 4)",
		"CREATE TABLE NVTX_EVENTS (start INTEGER, \"end\" INTEGER, eventType INTEGER, text TEXT, textId INTEGER, category INTEGER, globalTid INTEGER)",
		"INSERT INTO NVTX_EVENTS VALUES (1, 2, 59, 'named', 12, 3000000000, 16777217)",
	)
	if err != nil {
		t.Fatal(err)
	}
	db := openT(t, path, mem)
	ms, _ := readAll(t, db, schemas.Memsets, ReadOptions{})
	if ms[0]["value"] != "-1" || ms[0]["mem_kind"] != "managed" || ms[0]["pid"] != "1" {
		t.Errorf("memset = %v", ms[0])
	}
	nv, _ := readAll(t, db, schemas.NVTX, ReadOptions{})
	if nv[0]["category"] != fmt.Sprint(int32(-1294967296)) || nv[0]["name"] != "named" || nv[0]["style"] != "PushPop" {
		t.Errorf("nvtx = %v", nv[0])
	}
}
