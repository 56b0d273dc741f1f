package queries

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
)

// Tests that a statement rewritten to run faster gives what its earlier
// formulation gave: the same rows, in the same order where it has one, on
// the nsys fixtures (every nsys version) and a sample batch (many runs).

// rewriteWarehouses are the fixture warehouse and the rq5 sample batch,
// underived (their views compute from the events).
func rewriteWarehouses(t *testing.T) map[string]*Warehouse {
	return map[string]*Warehouse{
		"fixtures": openFixtures(t),
		"rq5":      openBatchDir(t, sampleBatchDir("rq5-pipeline-r3-b32-h100")),
	}
}

// TestIntervalUnionOneWindow: gpu_interval_union takes prev_end from one
// window (the max end of the rows before) where it took a running max and
// a lag over it; every row the same (the view has no order).
func TestIntervalUnionOneWindow(t *testing.T) {
	const twoWindows = `
with
    ordered as (
        select *, max("end") over (
                partition by run_key, set_id order by start, "end"
                rows between unbounded preceding and current row) as max_end
        from gpu_intervals
    ),
    flagged as (
        select *, lag(max_end) over (partition by run_key, set_id order by start, "end") as prev_end
        from ordered
    )
select batch_id, run_id, set_name, start, "end", prev_end,
    greatest(0, "end" - greatest(start, coalesce(prev_end, start))) as new_ns,
    prev_end is null or start > prev_end as island_start
from flagged
order by all`
	for name, w := range rewriteWarehouses(t) {
		got := rows(t, w, "select * from gpu_interval_union order by all")
		if len(got) == 0 {
			continue
		}
		want := rows(t, w, twoWindows)
		if name == "rq5" && len(got) < 100 { // (the fixtures have no timed windows: no rows)
			t.Fatalf("%s: only %d rows", name, len(got))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: gpu_interval_union differs from the two-window formulation (%d and %d rows)", name, len(got), len(want))
		}
		// Intervals tied on (start, end) within a set are where the two
		// formulations could order rows apart: the data has them.
		ties := rows(t, w, `select count(*) from (select run_key, set_id, start, "end" from gpu_intervals group by all having count(*) > 1)`)
		t.Logf("%s: %d rows, %s tied (start, end) pairs", name, len(got), ties[0])
	}
	// The samples have no intervals tied on (start, end) in a set: a set
	// of intervals with ties, nested, touching and disjoint ones, in place
	// of gpu_intervals (a temporary table shadows the view).
	w := openBatchDir(t, sampleBatchDir("rq3c-quick-h200"))
	if _, err := w.SQL(context.Background(), `create temp table gpu_intervals as
select 'b' as batch_id, 'r' || k as run_id, k as run_key, s as set_id, 'set' || s as set_name, start, "end"
from (values (1, 1, 10, 20), (1, 1, 10, 20), (1, 1, 10, 20), (1, 1, 12, 15), (1, 1, 20, 30), (1, 1, 30, 30),
             (1, 1, 40, 50), (1, 1, 40, 50), (1, 1, 45, 60), (1, 1, 45, 60), (1, 1, 70, 71),
             (1, 2, 5, 6), (1, 2, 5, 6), (2, 1, 0, 100), (2, 1, 0, 100), (2, 1, 1, 2), (2, 1, 100, 101))
    as t(k, s, start, "end")`); err != nil {
		t.Fatal(err)
	}
	got := rows(t, w, "select * from gpu_interval_union order by all")
	want := rows(t, w, twoWindows)
	if len(got) != 17 || !slices.Equal(got, want) {
		t.Errorf("tied intervals: got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	sums := rows(t, w, "select run_id, set_name, sum(new_ns), count(*) filter (where island_start) from gpu_interval_union group by all order by all")
	wantSums := []string{"r1 | set1 | 41 | 3", "r1 | set2 | 1 | 1", "r2 | set1 | 101 | 1"}
	if !slices.Equal(sums, wantSums) {
		t.Errorf("tied intervals: union lengths and islands %q, want %q", sums, wantSums)
	}
}

// TestNvtxKernSumHashedGroups: nsys_nvtx_kern_sum groups its rows by a hash
// of the group's columns where it grouped by the columns themselves
// (testdata/nsys_nvtx_kern_sum_by_text.sql); the same rows in the same
// order.
func TestNvtxKernSumHashedGroups(t *testing.T) {
	byText, err := os.ReadFile("testdata/nsys_nvtx_kern_sum_by_text.sql")
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range rewriteWarehouses(t) {
		q, ok := w.Catalog().Query("nsys_nvtx_kern_sum")
		if !ok {
			t.Fatal("no query nsys_nvtx_kern_sum")
		}
		res, err := w.Run(context.Background(), q, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range res.Rows {
			got = append(got, joinCells(r))
		}
		want := rows(t, w, string(byText))
		t.Logf("%s: %d rows", name, len(got))
		if len(got) < 50 {
			t.Fatalf("%s: only %d rows", name, len(got))
		}
		if !slices.Equal(got, want) {
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Errorf("%s: row %d:\n got %s\nwant %s", name, i, got[i], want[i])
					break
				}
			}
			t.Errorf("%s: %d rows, want %d", name, len(got), len(want))
		}
	}
}

func joinCells(r []any) string {
	s := ""
	for i, v := range r {
		if i > 0 {
			s += " | "
		}
		s += FormatValue(v)
	}
	return s
}

// TestRunsFlaggedWithoutRegexp: runs_flagged tests kernel and API names
// with contains and starts_with where it used regexp_matches of literal
// alternatives (testdata/runs_flagged_regexp.sql); every name tests the
// same, and the view gives the same rows.
func TestRunsFlaggedWithoutRegexp(t *testing.T) {
	old, err := os.ReadFile("testdata/runs_flagged_regexp.sql")
	if err != nil {
		t.Fatal(err)
	}
	oldView := strings.Replace(string(old), "create or replace view runs_flagged as", "create or replace temp view runs_flagged_regexp as", 1)
	whs := rewriteWarehouses(t)
	whs["rq3c"] = openBatchDir(t, sampleBatchDir("rq3c-quick-h200"))
	whs["rq4"] = openBatchDir(t, sampleBatchDir("rq4-quick-h200"))
	whs["rq3r"] = openBatchDir(t, sampleBatchDir("rq3r-quick-h200")) // CUDA graphs
	for name, w := range whs {
		if _, err := w.SQL(context.Background(), oldView); err != nil {
			t.Fatal(err)
		}
		got := rows(t, w, "select * from runs_flagged order by all")
		want := rows(t, w, "select * from runs_flagged_regexp order by all")
		if !slices.Equal(got, want) {
			t.Errorf("%s: runs_flagged %q, with regexp_matches %q", name, got, want)
		}
		differ := rows(t, w, `select
    (select count(*) from kernels where
        regexp_matches(lower(short_name), 'sdpa|flash|fmha|attention') is distinct from
        (contains(lower(short_name), 'sdpa') or contains(lower(short_name), 'flash')
         or contains(lower(short_name), 'fmha') or contains(lower(short_name), 'attention'))
     or regexp_matches(lower(short_name), 'rgba2rgb|nvjpeg|jpeg|idct|huffman') is distinct from
        (contains(lower(short_name), 'rgba2rgb') or contains(lower(short_name), 'nvjpeg')
         or contains(lower(short_name), 'jpeg') or contains(lower(short_name), 'idct')
         or contains(lower(short_name), 'huffman'))),
    (select count(*) from cuda_api where regexp_matches(name, '^cu(da)?GraphLaunch') is distinct from
        (starts_with(name, 'cudaGraphLaunch') or starts_with(name, 'cuGraphLaunch'))),
    (select count(*) from cuda_api where regexp_matches(name, '^cu(da)?GraphLaunch')),
    (select count(*) from kernels where regexp_matches(lower(short_name), 'sdpa|flash|fmha|attention|rgba2rgb|nvjpeg|jpeg|idct|huffman'))`)
		t.Logf("%s: %d flags; names testing apart (kernels, calls), graph launches, attention/decoder kernels: %s", name, len(got), differ[0])
		if !strings.HasPrefix(differ[0], "0 | 0 |") {
			t.Errorf("%s: names that test apart: %s", name, differ[0])
		}
	}
	// names made up around the patterns
	w := whs["fixtures"]
	apart := rows(t, w, `select s from (values ('cudaGraphLaunch_v10000'), ('cuGraphLaunch'), ('cuGraphLaunch_ptsz'),
        ('xcudaGraphLaunch'), ('CUDAGRAPHLAUNCH'), ('cudaGraphLaunc'), ('cudaGraph'), ('cuda'), (''), (null),
        ('ampere_fmha_fwd'), ('FlashAttnKernel'), ('ATTENTION'), ('sdp'), ('SDPA_x'), ('nvJPEG_decode'), ('jpe'),
        ('IDCT8x8'), ('Huffman'), ('rgba2rgb_kernel'), ('RGBA2RGB'), ('Ǆflash'), ('gemm')) as t(s)
where regexp_matches(s, '^cu(da)?GraphLaunch') is distinct from (starts_with(s, 'cudaGraphLaunch') or starts_with(s, 'cuGraphLaunch'))
   or regexp_matches(lower(s), 'sdpa|flash|fmha|attention') is distinct from
        (contains(lower(s), 'sdpa') or contains(lower(s), 'flash') or contains(lower(s), 'fmha') or contains(lower(s), 'attention'))
   or regexp_matches(lower(s), 'rgba2rgb|nvjpeg|jpeg|idct|huffman') is distinct from
        (contains(lower(s), 'rgba2rgb') or contains(lower(s), 'nvjpeg') or contains(lower(s), 'jpeg')
         or contains(lower(s), 'idct') or contains(lower(s), 'huffman'))`)
	if len(apart) > 0 {
		t.Errorf("made-up names that test apart: %q", apart)
	}
}
