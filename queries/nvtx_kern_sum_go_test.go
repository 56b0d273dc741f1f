package queries

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"math/rand"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"vitlab/queries/duck"
)

// nvtxKernSumBoth returns nsys_nvtx_kern_sum over w's events as the SQL
// gives it (live) and as derive's Go path gives it (Go's groups, then the
// query's final step), each row's cells joined, with the column names and
// types of each.
func nvtxKernSumBoth(t *testing.T, w *Warehouse) (sql, gosum []string, sqlCols, goCols string) {
	t.Helper()
	ctx := context.Background()
	q, ok := w.Catalog().Query(nvtxKernSumQuery)
	if !ok {
		t.Fatal("no query nsys_nvtx_kern_sum")
	}
	if err := w.bind(ctx, q, nil); err != nil {
		t.Fatal(err)
	}
	sql = rows(t, w, q.SQL)
	file := filepath.Join(t.TempDir(), "groups.parquet")
	if err := w.nvtxKernSum(ctx, file); err != nil {
		t.Fatal(err)
	}
	gosum = rows(t, w, nvtxKernSumFinal(file))
	describe := func(s string) string {
		cols, err := w.describe(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(cols)
	}
	return sql, gosum, describe(q.SQL), describe(nvtxKernSumFinal(file))
}

func sameRows(t *testing.T, label string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("%s: row %d:\n got  %s\n want %s", label, i, got[i], want[i])
			break
		}
	}
	t.Errorf("%s: %d rows, SQL %d", label, len(got), len(want))
}

// TestNvtxKernSumGo: derive's Go computation of nsys_nvtx_kern_sum gives
// the SQL's rows, in its order, with its column names and types, on the
// nsys fixtures (every nsys version) and on sample batches (the pipeline
// batch, CUDA-graph runs whose kernels share a correlation id, Triton
// kernels, CPU preprocessing).
func TestNvtxKernSumGo(t *testing.T) {
	if !duck.ArrowAvailable {
		t.Skip("needs the duckdb_arrow build tag")
	}
	whs := map[string]*Warehouse{"fixtures": openFixtures(t)}
	for _, b := range []string{"rq5-pipeline-r3-b32-h100", "rq3r-quick-h200", "rq3c-quick-h200", "rq4-quick-h200", "rq1-quick-h100"} {
		whs[b] = openBatchDir(t, sampleBatchDir(b))
	}
	for name, w := range whs {
		sql, gosum, sqlCols, goCols := nvtxKernSumBoth(t, w)
		t.Logf("%s: %d rows", name, len(sql))
		if len(sql) < 20 {
			t.Errorf("%s: only %d rows", name, len(sql))
		}
		if sqlCols != goCols {
			t.Errorf("%s: columns %s, SQL %s", name, goCols, sqlCols)
		}
		sameRows(t, name, gosum, sql)
	}
}

// TestNvtxKernSumGoEdges: the same on events made up for the cases the
// samples lack or have few of, in place of the base tables (temporary
// tables shadow the views): same-name nested ranges (a kernel counted in
// both), ranges never closed (ending at the run's last range timestamp),
// a range closed on another thread (left out), marks (not ranges, but
// they make a run traced), kernels sharing a correlation id (a CUDA
// graph), two API calls with one correlation id, a call without pid, a
// kernel without a call, a call ending before it starts, two identical
// kernel rows (one execution), a run without NVTX (no rows), ranges
// touching the call at both ends.
func TestNvtxKernSumGoEdges(t *testing.T) {
	if !duck.ArrowAvailable {
		t.Skip("needs the duckdb_arrow build tag")
	}
	w := openBatchDir(t, sampleBatchDir("rq3c-quick-h200"))
	ctx := context.Background()
	const tid1, tid2 = 0x1000001, 0x1000002 // global tids of process 0x1000000
	script := fmt.Sprintf(`
create temp table kernels as select * from kernels limit 0;
create temp table cuda_api as select * from cuda_api limit 0;
create temp table nvtx as select * from nvtx limit 0;
insert into nvtx (batch_id, run_id, range_id, event_type, style, start, "end", global_tid, pid, tid, end_global_tid, domain, name) values
    ('b', 'r1', 1, 59, 'PushPop', 0, 1000, %[1]d, 7, 1, null, null, 'outer'),
    ('b', 'r1', 2, 59, 'PushPop', 10, 900, %[1]d, 7, 1, null, null, 'outer'),
    ('b', 'r1', 3, 60, 'StartEnd', 20, null, %[1]d, 7, 1, null, 'dom', 'open'),
    ('b', 'r1', 4, 60, 'StartEnd', 20, 2000, %[1]d, 7, 1, %[2]d, null, 'moved'),
    ('b', 'r1', 5, 34, 'Mark', 3000, null, %[1]d, 7, 1, null, null, 'mark'),
    ('b', 'r1', 6, 59, 'PushPop', 100, 200, %[2]d, 7, 2, null, null, 'other thread'),
    ('b', 'r1', 7, 59, 'PushPop', 300, 400, %[1]d, 7, 1, null, null, 'exact'),
    ('b', 'r1', 8, 59, 'PushPop', 500, 450, %[1]d, 7, 1, null, null, 'inverted range'),
    ('b', 'r2', 1, 34, 'Mark', 5, null, %[1]d, 7, 1, null, null, 'only a mark');
insert into cuda_api (batch_id, run_id, start, "end", global_tid, global_pid, pid, tid, name, correlation_id, api) values
    ('b', 'r1', 50, 60, %[1]d, %[3]d, 7, 1, 'cudaLaunchKernel_v7000', 1, 'runtime'),
    ('b', 'r1', 300, 400, %[1]d, %[3]d, 7, 1, 'cudaGraphLaunch_v10000', 2, 'runtime'),
    ('b', 'r1', 150, 160, %[2]d, %[3]d, 7, 2, 'cudaLaunchKernel_v7000', 3, 'runtime'),
    ('b', 'r1', 155, 158, %[2]d, %[3]d, 7, 2, 'cudaLaunchKernel_v7000', 3, 'runtime'),
    ('b', 'r1', 800, 700, %[1]d, %[3]d, 7, 1, 'cudaLaunchKernel_v7000', 4, 'runtime'),
    ('b', 'r1', 460, 470, %[1]d, %[3]d, null, null, 'cudaLaunchKernel_v7000', 5, 'runtime'),
    ('b', 'r1', 2500, 2600, %[1]d, %[3]d, 7, 1, 'cudaLaunchKernel_v7000', 6, 'runtime'),
    ('b', 'r2', 10, 20, %[1]d, %[3]d, 7, 1, 'cudaLaunchKernel_v7000', 1, 'runtime'),
    ('b', 'r3', 10, 20, %[1]d, %[3]d, 7, 1, 'cudaLaunchKernel_v7000', 1, 'runtime');
insert into kernels (batch_id, run_id, start, "end", device_id, stream_id, correlation_id, global_pid, pid, short_name, demangled_name,
        grid_x, grid_y, grid_z, block_x, block_y, block_z, registers_per_thread, static_shared_bytes, dynamic_shared_bytes) values
    ('b', 'r1', 1000, 1100, 0, 7, 1, %[3]d, 7, 'k', 'k(int)', 1, 1, 1, 1, 1, 1, 1, 0, 0),
    ('b', 'r1', 1200, 1250, 0, 7, 1, %[3]d, 7, 'k', 'k(int)', 1, 1, 1, 1, 1, 1, 1, 0, 0),
    ('b', 'r1', 1200, 1250, 0, 7, 1, %[3]d, 7, 'k', 'k(int)', 1, 1, 1, 1, 1, 1, 1, 0, 0),
    ('b', 'r1', 1300, 1310, 0, 7, 2, %[3]d, 7, 'g', 'g()', 1, 1, 1, 1, 1, 1, 1, 0, 0),
    ('b', 'r1', 1310, 1330, 0, 8, 2, %[3]d, 7, 'g', 'g()', 1, 1, 1, 1, 1, 1, 1, 0, 0),
    ('b', 'r1', 1330, 1337, 0, 8, 2, %[3]d, 7, 'h', 'h()', 1, 1, 1, 1, 1, 1, 1, 0, 0),
    ('b', 'r1', 1400, 1401, 0, 7, 3, %[3]d, 7, 'k', 'k(int)', 1, 1, 1, 1, 1, 1, 1, 0, 0),
    ('b', 'r1', 1500, 1503, 0, 7, 4, %[3]d, 7, 'k', 'k(int)', 1, 1, 1, 1, 1, 1, 1, 0, 0),
    ('b', 'r1', 1600, 1607, 0, 7, 5, %[3]d, 7, 'k', 'k(int)', 1, 1, 1, 1, 1, 1, 1, 0, 0),
    ('b', 'r1', 1700, 1702, 0, 7, 99, %[3]d, 7, 'k', 'k(int)', 1, 1, 1, 1, 1, 1, 1, 0, 0),
    ('b', 'r1', 1800, 1802, 0, 7, null, null, null, 'k', 'k(int)', 1, 1, 1, 1, 1, 1, 1, 0, 0),
    ('b', 'r1', 2700, 2702, 0, 7, 6, %[3]d, 7, 'k', 'k(int)', 1, 1, 1, 1, 1, 1, 1, 0, 0),
    ('b', 'r2', 30, 40, 0, 7, 1, %[3]d, 7, 'k', 'k(int)', 1, 1, 1, 1, 1, 1, 1, 0, 0),
    ('b', 'r3', 30, 40, 0, 7, 1, %[3]d, 7, 'k', 'k(int)', 1, 1, 1, 1, 1, 1, 1, 0, 0);
`, tid1, tid2, 0x1000000)
	if _, err := w.SQL(ctx, script); err != nil {
		t.Fatal(err)
	}
	sql, gosum, sqlCols, goCols := nvtxKernSumBoth(t, w)
	if sqlCols != goCols {
		t.Errorf("columns %s, SQL %s", goCols, sqlCols)
	}
	t.Logf("%d rows:\n%s", len(sql), strings.Join(sql, "\n"))
	if len(sql) < 10 {
		t.Errorf("only %d rows", len(sql))
	}
	sameRows(t, "made-up events", gosum, sql)
}

// TestNvtxKernSumGoStats: the mean and median Go stores are DuckDB's avg
// and median of a BIGINT column bit for bit (even counts, big values,
// negative ones), and the standard deviation within a few units in the
// last place of DuckDB's stddev_samp.
func TestNvtxKernSumGoStats(t *testing.T) {
	w := openFixtures(t)
	rng := rand.New(rand.NewSource(16))
	var values []string
	groups := map[int][]int64{}
	for g := range 400 {
		n := 1 + rng.Intn(9)
		if g%7 == 0 {
			n = 2 + rng.Intn(40)
		}
		scale := []int64{3, 1000, 1 << 20, 1 << 40, 1 << 52}[g%5]
		for range n {
			v := rng.Int63n(scale)
			if g%11 == 0 {
				v -= scale / 2
			}
			groups[g] = append(groups[g], v)
			values = append(values, fmt.Sprintf("(%d, %d)", g, v))
		}
	}
	res, err := w.SQL(context.Background(), "select g, avg(x), median(x), coalesce(stddev_samp(x), 0) from (values "+
		strings.Join(values, ", ")+") as t(g, x) group by g order by g")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rows {
		g := int(asInt64(r[0]))
		d := slices.Clone(groups[g])
		slices.Sort(d)
		sum := new(big.Int)
		for _, v := range d {
			sum.Add(sum, big.NewInt(v))
		}
		avg, med, sd := r[1].(float64), r[2].(float64), r[3].(float64)
		if got := duckAvg(sum, int64(len(d))); math.Float64bits(got) != math.Float64bits(avg) {
			t.Errorf("group %d %v: avg %v, DuckDB %v", g, d, got, avg)
		}
		if got := duckMedian(d); math.Float64bits(got) != math.Float64bits(med) {
			t.Errorf("group %d %v: median %v, DuckDB %v", g, d, got, med)
		}
		if got := exactStddev(d, sum.Int64()); math.Abs(got-sd) > 1e-12*max(1, math.Abs(sd)) {
			t.Errorf("group %d %v: stddev %v, DuckDB %v", g, d, got, sd)
		}
	}
}

// TestNvtxKernSumGoPinned: the Go path is pinned to the SQL it was checked
// against. When this fails, queries/nsys/nsys_nvtx_kern_sum.sql or a
// views/ file changed: derive now runs the SQL (correct, slower); check
// nvtx_kern_sum_go.go against the new SQL (TestNvtxKernSumGo*), then set
// nvtxKernSumPin to the hash printed here.
func TestNvtxKernSumGoPinned(t *testing.T) {
	cat, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if h := nvtxKernSumHash(cat); h != nvtxKernSumPin {
		t.Errorf("nvtxKernSumHash = %s, pinned %s: the SQL nsys_nvtx_kern_sum's Go path reproduces changed (see the test's comment)", h, nvtxKernSumPin)
	}
	q, _ := cat.Query(nvtxKernSumQuery)
	if duck.ArrowAvailable && nvtxKernSumHash(cat) == nvtxKernSumPin {
		t.Setenv("VITLAB_DERIVE_SQL", "")
		if !nvtxKernSumGo(cat, q) {
			t.Error("derive would not use the Go path")
		}
		t.Setenv("VITLAB_DERIVE_SQL", "1")
		if nvtxKernSumGo(cat, q) {
			t.Error("VITLAB_DERIVE_SQL=1: derive would still use the Go path")
		}
	}
}
