package queries

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"vitlab/queries/duck"
)

// runBusyBoth returns run_busy over w's events as its SQL gives it and as
// derive's Go path gives it (Go's sums, then the file's last steps), rows
// in the same order, with the column names and types of each.
func runBusyBoth(t *testing.T, w *Warehouse) (sql, gosum []string, sqlCols, goCols string) {
	t.Helper()
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "sums.parquet")
	if err := w.runBusySums(ctx, file); err != nil {
		t.Fatal(err)
	}
	fin := runBusyFinal(w.Catalog(), file)
	if fin == "" {
		t.Fatal("runBusyFinal: run_busy.sql has not the shape it cuts")
	}
	const order = "\norder by all"
	sql = rows(t, w, "select * from run_busy"+order)
	gosum = rows(t, w, "select * from ("+fin+")"+order)
	describe := func(s string) string {
		cols, err := w.describe(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		return columnsString(cols)
	}
	return sql, gosum, describe("select * from run_busy"), describe(fin)
}

func columnsString(cols []column) string {
	var b strings.Builder
	for _, c := range cols {
		b.WriteString(c.name + " " + c.typ + "; ")
	}
	return b.String()
}

// TestRunBusyGo: derive's Go computation of run_busy's interval unions
// gives the view's rows, with its column names and types, on sample
// batches with timed windows (the pipeline batch, CUDA graphs, Triton
// kernels, CPU preprocessing, an H100 batch).
func TestRunBusyGo(t *testing.T) {
	if !duck.ArrowAvailable {
		t.Skip("needs the duckdb_arrow build tag")
	}
	for _, b := range []string{"rq5-pipeline-r3-b32-h100", "rq3r-quick-h200", "rq3c-quick-h200", "rq4-quick-h200", "rq1-quick-h100", "rq2-quick-h100"} {
		w := openBatchDir(t, sampleBatchDir(b))
		sql, gosum, sqlCols, goCols := runBusyBoth(t, w)
		t.Logf("%s: %d rows", b, len(sql))
		if len(sql) == 0 {
			t.Errorf("%s: no rows", b)
		}
		if sqlCols != goCols {
			t.Errorf("%s: columns %s, SQL %s", b, goCols, sqlCols)
		}
		sameRows(t, b, gosum, sql)
	}
}

// TestRunBusyGoEdges: the same on made-up operations and windows (temporary
// tables shadow the views): operations nested, touching, tied on (start,
// end), overlapping the window's edges, outside it, of zero length; copies
// of each kind (a null kind too) and memsets; a run without a window, a
// window without operations, a window with a null end.
func TestRunBusyGoEdges(t *testing.T) {
	if !duck.ArrowAvailable {
		t.Skip("needs the duckdb_arrow build tag")
	}
	w := openBatchDir(t, sampleBatchDir("rq3c-quick-h200"))
	script := `
create temp table run_window as select * from run_window limit 0;
insert into run_window values ('b', 'r1', 100, 1000, 900), ('b', 'r2', 0, 50, 50), ('b', 'r4', 0, null, null);
create temp table kernels as select * from kernels limit 0;
create temp table memcpys as select * from memcpys limit 0;
create temp table memsets as select * from memsets limit 0;
insert into kernels (batch_id, run_id, start, "end", device_id, stream_id, short_name, demangled_name,
        grid_x, grid_y, grid_z, block_x, block_y, block_z, registers_per_thread, static_shared_bytes, dynamic_shared_bytes)
    select 'b', r, s, e, 0, 7, 'k', 'k', 1, 1, 1, 1, 1, 1, 1, 0, 0
    from (values ('r1', 50, 150), ('r1', 120, 130), ('r1', 140, 200), ('r1', 140, 200), ('r1', 200, 210),
                 ('r1', 300, 300), ('r1', 900, 1200), ('r1', 1000, 1100), ('r1', 10, 20),
                 ('r3', 0, 100), ('r4', 0, 10)) as t(r, s, e);
insert into memcpys (batch_id, run_id, start, "end", device_id, stream_id, bytes, copy_kind_id, kind)
    select 'b', r, s, e, 0, 7, 8, 1, k
    from (values ('r1', 150, 250, 'HtoD'), ('r1', 240, 260, 'HtoD'), ('r1', 400, 500, 'DtoH'),
                 ('r1', 450, 460, 'DtoD'), ('r1', 470, 480, null), ('r1', 990, 1010, 'DtoH')) as t(r, s, e, k);
insert into memsets (batch_id, run_id, start, "end", device_id, stream_id, bytes)
    select 'b', r, s, e, 0, 7, 8
    from (values ('r1', 600, 700), ('r1', 650, 800), ('r3', 1, 2)) as t(r, s, e);
`
	if _, err := w.SQL(context.Background(), script); err != nil {
		t.Fatal(err)
	}
	sql, gosum, sqlCols, goCols := runBusyBoth(t, w)
	if sqlCols != goCols {
		t.Errorf("columns %s, SQL %s", goCols, sqlCols)
	}
	t.Logf("%d rows:\n%s", len(sql), strings.Join(sql, "\n"))
	if len(sql) != 3 {
		t.Errorf("%d rows, want 3 (the windows)", len(sql))
	}
	sameRows(t, "made-up operations", gosum, sql)
}

// TestRunBusyGoPinned: the Go path is pinned to the SQL it was checked
// against. When this fails, run_busy.sql, gpu_interval_union.sql or
// gpu_intervals.sql changed: derive now runs the SQL (correct, slower);
// check run_busy_go.go against the new SQL (TestRunBusyGo*), then set
// runBusyPin to the hash printed here.
func TestRunBusyGoPinned(t *testing.T) {
	cat, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if h := runBusyHash(cat); h != runBusyPin {
		t.Errorf("runBusyHash = %s, pinned %s: the SQL run_busy's Go path reproduces changed (see the test's comment)", h, runBusyPin)
	}
	if runBusyFinal(cat, "x.parquet") == "" {
		t.Error("runBusyFinal cannot cut run_busy.sql")
	}
	for _, v := range cat.DerivedViews() {
		if v.Name == "run_busy" && duck.ArrowAvailable && runBusyHash(cat) == runBusyPin {
			t.Setenv("VITLAB_DERIVE_SQL", "")
			if !runBusyGo(cat, v) {
				t.Error("derive would not use the Go path")
			}
			t.Setenv("VITLAB_DERIVE_SQL", "1")
			if runBusyGo(cat, v) {
				t.Error("VITLAB_DERIVE_SQL=1: derive would still use the Go path")
			}
		}
	}
}
