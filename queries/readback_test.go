package queries

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"vitlab/etl/ingest"
	"vitlab/etl/nsysdb/nsysdbtest"
	"vitlab/etl/warehouse"
	"vitlab/schemas"
)

// sources maps each event table to the nsys table it is loaded from.
var sources = map[string]string{
	"kernels":  "CUPTI_ACTIVITY_KIND_KERNEL",
	"memcpys":  "CUPTI_ACTIVITY_KIND_MEMCPY",
	"memsets":  "CUPTI_ACTIVITY_KIND_MEMSET",
	"cuda_api": "CUPTI_ACTIVITY_KIND_RUNTIME",
	"nvtx":     "NVTX_EVENTS",
}

// TestReadBackWithDuckDB reads every committed Parquet file of the fixture
// warehouse back through DuckDB and checks, per run and table, the exact row
// count and the sums of start, end and end-start against the source export
// (read with SQLite), and that each file's Parquet schema lists the schema's
// columns in order.
func TestReadBackWithDuckDB(t *testing.T) {
	w := openFixtures(t)
	ctx := context.Background()
	exports, _ := filepath.Glob(filepath.Join(fixtureDir, "*.sqlite"))
	for _, export := range exports {
		checkSums(t, w, "fixtures", strings.TrimSuffix(filepath.Base(export), ".sqlite"), export)
	}

	wh, err := fixtureWarehouse()
	if err != nil {
		t.Fatal(err)
	}
	m, err := warehouse.ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, tb := range schemas.All() {
		var want []string
		for _, c := range tb.Columns {
			want = append(want, c.Name)
		}
		for _, f := range m.Files(tb.Name) {
			files++
			res, err := w.SQL(ctx, fmt.Sprintf("select name from parquet_schema('%s') where num_children is null",
				filepath.Join(wh, f)))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range res.Rows {
				got = append(got, r[0].(string))
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: Parquet columns %v, schema %v", f, got, want)
			}
		}
	}
	if files < len(schemas.All()) {
		t.Errorf("only %d committed files", files)
	}
}

// TestReadBackEdgeCases is the count and sum check of TestReadBackWithDuckDB
// on vitlab's edge-case exports (zstd-compressed, read by SQLite after
// decompression): unified-memory copies without API rows, whole-graph
// traces, NVTX only, no event tables.
func TestReadBackEdgeCases(t *testing.T) {
	ctx := context.Background()
	exports, _ := filepath.Glob(filepath.Join(edgeStatsDir, "*.sqlite.zst"))
	if len(exports) == 0 {
		t.Fatalf("no exports in %s", edgeStatsDir)
	}
	wh := t.TempDir()
	if _, err := ingest.Run(ctx, ingest.Request{Warehouse: wh, Paths: exports, BatchID: "edge", Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	w, err := Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tmp := t.TempDir()
	for _, export := range exports {
		run := strings.TrimSuffix(filepath.Base(export), ".sqlite.zst")
		plain := filepath.Join(tmp, run+".sqlite")
		if err := nsysdbtest.Decompress(plain, export); err != nil {
			t.Fatal(err)
		}
		checkSums(t, w, "edge", run, plain)
	}
}

// checkSums compares, for every event table, the warehouse's row count and
// sums of start, end and end-start of one run with its source export.
func checkSums(t *testing.T, w *Warehouse, batch, run, export string) {
	t.Helper()
	for table, src := range sources {
		want, err := sourceSums(export, src)
		if err != nil {
			t.Fatalf("%s %s: %v", run, src, err)
		}
		res, err := w.SQL(context.Background(), fmt.Sprintf(`select count(*), coalesce(sum(start), 0), coalesce(sum("end"), 0),
			coalesce(sum("end" - start), 0) from %s where batch_id = '%s' and run_id = '%s'`, table, batch, run))
		if err != nil {
			t.Fatal(err)
		}
		got := make([]int64, 4)
		for i, v := range res.Rows[0] {
			got[i] = toInt64(t, v)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s %s: DuckDB count, Σstart, Σend, Σ(end-start) = %v, export %v", run, table, got, want)
		} else if got[0] > 0 {
			t.Logf("%s %s: %d rows, sums equal", run, table, got[0])
		}
	}
}

// sourceSums returns count, Σstart, Σend and Σ(end-start) of an nsys table
// (0s when the export lacks it: no events). NULL ends (NVTX marks, domain
// events, open ranges) count as NULL in the sums, as in the warehouse.
func sourceSums(export, table string) ([]int64, error) {
	names, err := nsysdbtest.Strings(export, "select name from sqlite_master where type = 'table' and name = ?", table)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return []int64{0, 0, 0, 0}, nil
	}
	var out []int64
	for _, expr := range []string{`count(*)`, `coalesce(sum(start), 0)`, `coalesce(sum("end"), 0)`, `coalesce(sum("end" - start), 0)`} {
		v, err := nsysdbtest.Int64s(export, fmt.Sprintf("select %s from %s", expr, table))
		if err != nil {
			return nil, err
		}
		out = append(out, v[0])
	}
	return out, nil
}

func toInt64(t *testing.T, v any) int64 {
	t.Helper()
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case float64:
		return int64(x)
	default:
		// DuckDB returns HUGEINT sums as *big.Int.
		if s, ok := v.(fmt.Stringer); ok {
			var n int64
			if _, err := fmt.Sscan(s.String(), &n); err == nil {
				return n
			}
		}
		t.Fatalf("unexpected %T %v", v, v)
	}
	return 0
}
