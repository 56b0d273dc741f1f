package queries

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"vitlab/etl/ingest"
	"vitlab/etl/nsysdb/nsysdbtest"
)

// TestMetricsAgainstRawExport computes the window, images, gpu_busy,
// h2d_busy, idle, kernels per image, the seed utilisation and the H2D link
// rate of sample runs a second way: straight from the nsys SQLite export
// (SQL over its own tables, intervals merged in Go), and compares them with
// run_metrics over the warehouse that ingest made of the same export.
func TestMetricsAgainstRawExport(t *testing.T) {
	runs := []string{
		"rq1-p16-d12-h768-r224-b64-eager-sync-q1-gpu-nnone-r1",          // sync
		"rq5-p16-d12-h768-r224-b32-eager-async-q2-gpu-nnone-r1",         // async, two streams
		"rq3-p16-d12-h384-r224-b8-reduce-overhead-sync-q1-gpu-nnone-r1", // CUDA graphs
	}
	dir := t.TempDir()
	var exports []string
	for _, run := range runs {
		m, _ := filepath.Glob(filepath.Join("../data/sample/*/runs", run, "trace.sqlite.zst"))
		if len(m) != 1 {
			t.Fatalf("run %s: %d exports in data/sample", run, len(m))
		}
		dst := filepath.Join(dir, run+".sqlite")
		if err := nsysdbtest.Decompress(dst, m[0]); err != nil {
			t.Fatal(err)
		}
		exports = append(exports, dst)
	}
	wh := filepath.Join(dir, "wh")
	if _, err := ingest.Run(context.Background(), ingest.Request{Warehouse: wh, Paths: exports, BatchID: "raw", Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	w, err := Open(context.Background(), wh)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i, run := range runs {
		want := rawMetrics(t, exports[i])
		res, err := w.SQL(context.Background(), fmt.Sprintf(`select m.window_ns, m.gpu_busy, m.h2d_busy, m.idle,
			k.kernels_in_window, m.seed_compute_utilisation, m.h2d_link_gbps
			from run_metrics_v as m join run_kernels as k using (batch_id, run_id) where run_id = '%s'`, run))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rows) != 1 {
			t.Fatalf("%s: %d rows", run, len(res.Rows))
		}
		r := res.Rows[0]
		got := map[string]float64{
			"window_ns": num(r[0]), "gpu_busy": num(r[1]), "h2d_busy": num(r[2]), "idle": num(r[3]),
			"kernels_in_window": num(r[4]), "seed_compute_utilisation": num(r[5]), "h2d_link_gbps": num(r[6]),
		}
		for k, v := range want {
			if math.IsNaN(got[k]) || math.IsNaN(v) || math.Abs(got[k]-v) > 1e-9*math.Max(1, math.Abs(v)) {
				t.Errorf("%s %s: run_metrics %v, raw export %v", run, k, got[k], v)
			} else {
				t.Logf("%s %s = %.6g (both)", run, k, v)
			}
		}
	}
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	}
	return math.NaN()
}

// rawMetrics reads one export with SQLite and computes the metrics in Go.
func rawMetrics(t *testing.T, export string) map[string]float64 {
	t.Helper()
	q := func(sql string) []int64 {
		v, err := nsysdbtest.Int64s(export, sql)
		if err != nil {
			t.Fatalf("%s: %s: %v", export, sql, err)
		}
		return v
	}
	// W: the NVTX range named timed (text or a registered string).
	w := q(`select e.start from NVTX_EVENTS e left join StringIds s on s.id = e.textId
		where coalesce(s.value, e.text) = 'timed'`)
	wEnd := q(`select e."end" from NVTX_EVENTS e left join StringIds s on s.id = e.textId
		where coalesce(s.value, e.text) = 'timed'`)
	if len(w) != 1 {
		t.Fatalf("%s: %d timed ranges", export, len(w))
	}
	w0, w1 := w[0], wEnd[0]
	pairs := func(table, where string) [][2]int64 {
		s := q(fmt.Sprintf(`select start from %s where %s order by start, "end"`, table, where))
		e := q(fmt.Sprintf(`select "end" from %s where %s order by start, "end"`, table, where))
		out := make([][2]int64, len(s))
		for i := range s {
			out[i] = [2]int64{s[i], e[i]}
		}
		return out
	}
	kernels := pairs("CUPTI_ACTIVITY_KIND_KERNEL", "1")
	h2d := pairs("CUPTI_ACTIVITY_KIND_MEMCPY", "copyKind = 1")
	all := append(append(slices.Clone(kernels), pairs("CUPTI_ACTIVITY_KIND_MEMCPY", "1")...), pairs("CUPTI_ACTIVITY_KIND_MEMSET", "1")...)
	union := func(iv [][2]int64) int64 {
		var c [][2]int64
		for _, p := range iv {
			a, b := max(p[0], w0), min(p[1], w1)
			if a < b {
				c = append(c, [2]int64{a, b})
			}
		}
		slices.SortFunc(c, func(x, y [2]int64) int { return int(x[0] - y[0]) })
		var total, curS, curE int64
		open := false
		for _, p := range c {
			if !open || p[0] > curE {
				if open {
					total += curE - curS
				}
				curS, curE, open = p[0], p[1], true
			} else if p[1] > curE {
				curE = p[1]
			}
		}
		if open {
			total += curE - curS
		}
		return total
	}
	wl := float64(w1 - w0)
	var n, sum, first, last int64
	first = math.MaxInt64
	for _, k := range kernels {
		if k[0] >= w0 && k[0] < w1 {
			n++
			sum += k[1] - k[0]
			first, last = min(first, k[0]), max(last, k[1])
		}
	}
	var bytes, dur int64
	hs := q(fmt.Sprintf(`select start from CUPTI_ACTIVITY_KIND_MEMCPY where copyKind = 1 and start >= %d and start < %d order by start`, w0, w1))
	hb := q(fmt.Sprintf(`select bytes from CUPTI_ACTIVITY_KIND_MEMCPY where copyKind = 1 and start >= %d and start < %d order by start`, w0, w1))
	he := q(fmt.Sprintf(`select "end" from CUPTI_ACTIVITY_KIND_MEMCPY where copyKind = 1 and start >= %d and start < %d order by start`, w0, w1))
	for i := range hs {
		bytes += hb[i]
		dur += he[i] - hs[i]
	}
	if _, err := os.Stat(export); err != nil {
		t.Fatal(err)
	}
	return map[string]float64{
		"window_ns":                wl,
		"gpu_busy":                 float64(union(kernels)) / wl,
		"h2d_busy":                 float64(union(h2d)) / wl,
		"idle":                     1 - float64(union(all))/wl,
		"kernels_in_window":        float64(n),
		"seed_compute_utilisation": float64(sum) / float64(last-first),
		"h2d_link_gbps":            float64(bytes) / float64(dur),
	}
}
