package queries

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"vitlab/etl/ingest"
)

// TestSampleAsyncRunsAhead checks the shipped rq5 traces (H100,
// 2026-12-07, CPU preprocessing in worker processes): in every traced async
// run with a queue of 2 or more and GPU preprocessing, the preprocessing of
// some batch k+1 overlaps the GPU forward of batch k (run_prefetch) and
// copies overlap kernels (copy_compute_overlap > 0); sync runs never
// prepare ahead. With CPU preprocessing the decode and resize run in worker
// processes, which the trace does not hold, so the trace cannot show them
// running ahead; there the clean throughput shows it: async q2 and q8 run
// more than 1.3x as fast as sync with the same preprocessing (the run values
// of data/sample/README.md: 8,384-9,653 against 4,986-5,142 img/s).
func TestSampleAsyncRunsAhead(t *testing.T) {
	ctx := context.Background()
	w := openBatchDir(t, filepath.Join("..", "data", "sample", "rq5-pipeline-r3-b32-h100"))
	res, err := w.SQL(ctx, `select c.run_id, c.pipeline, c.queue_depth, c.preprocess,
		p.prefetch_pairs, p.prefetch_overlaps, m.copy_compute_overlap
		from run_config as c
		join run_prefetch as p using (batch_id, run_id)
		join run_metrics_v as m using (batch_id, run_id)
		where c.status = 'ok' order by c.run_id`)
	if err != nil {
		t.Fatal(err)
	}
	asyncGPU := 0
	for _, r := range res.Rows {
		run, pipeline, q, pre := r[0].(string), r[1].(string), r[2].(int64), r[3].(string)
		pairs, overlaps := r[4].(int64), r[5].(int64)
		ovl, _ := r[6].(float64)
		if pairs < 10 {
			t.Errorf("%s: %d batch pairs in the traced window", run, pairs)
		}
		switch {
		case pipeline == "sync" && overlaps != 0:
			t.Errorf("%s: a sync run prepares ahead in %d of %d pairs", run, overlaps, pairs)
		case pipeline == "async" && q >= 2 && pre == "gpu":
			asyncGPU++
			if overlaps == 0 {
				t.Errorf("%s: async q%d never preprocesses batch k+1 during the forward of k (%d pairs)", run, q, pairs)
			}
			if !(ovl > 0) {
				t.Errorf("%s: async q%d with GPU preprocessing: copy/compute overlap %v", run, q, r[6])
			}
		}
	}
	if asyncGPU != 2 {
		t.Errorf("%d traced async GPU-preprocessing runs with q >= 2 in the sample's rq5 batch, want 2", asyncGPU)
	}
	// CPU preprocessing: every clean run of async q2/q8 against the fastest sync run.
	res, err = w.SQL(ctx, `select c.run_id, t.clean_throughput / max(t.clean_throughput) filter (where c.pipeline = 'sync') over ()
		from run_config as c join run_throughput as t using (batch_id, run_id)
		where c.status = 'ok' and c.preprocess = 'cpu' and c.pipeline in ('sync', 'async')
		qualify c.pipeline = 'async' and c.queue_depth >= 2 order by c.run_id`)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 6 {
		t.Errorf("%d async q>=2 CPU-preprocessing runs, want 6", len(res.Rows))
	}
	for _, r := range res.Rows {
		if x, _ := r[1].(float64); !(x > 1.3) {
			t.Errorf("%s: %.3f x the fastest sync CPU run, want > 1.3 (the workers run ahead)", r[0], x)
		}
	}
}

// openBatchDir ingests one batch directory into a fresh warehouse and
// opens it (closed when the test ends).
func openBatchDir(t *testing.T, dir string) *Warehouse {
	t.Helper()
	ctx := context.Background()
	wh := t.TempDir()
	if _, err := ingest.Run(ctx, ingest.Request{Warehouse: wh, Paths: []string{dir}, Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	w, err := Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// TestSampleLatencyUntraced checks that a run's batch latency is its
// untraced one: for every usable rq5 run of the sample (traced or not), the
// run_values latency percentiles equal the median over the run's clean
// windows of each window's percentile, read here from run.json, not from
// the warehouse.
func TestSampleLatencyUntraced(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join("..", "data", "sample", "rq5-pipeline-r3-b32-h100")
	w := openBatchDir(t, dir)
	res, err := w.SQL(ctx, `select run_id, metric, v from run_values
		where metric in ('latency_p50_ms', 'latency_p90_ms', 'latency_p99_ms') order by all`)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) < 3*20 {
		t.Fatalf("%d latency values, want 3 for each of the 20+ usable runs", len(res.Rows))
	}
	for _, r := range res.Rows {
		run, metric, got := r[0].(string), r[1].(string), r[2].(float64)
		b, err := os.ReadFile(filepath.Join(dir, "runs", run, "run.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			Windows []map[string]any `json:"windows"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatal(err)
		}
		var xs []float64
		for _, win := range rec.Windows {
			if x, ok := win[metric].(float64); ok {
				xs = append(xs, x)
			}
		}
		slices.Sort(xs)
		var want float64
		switch n := len(xs); {
		case n == 0:
			t.Fatalf("%s: no %s in its clean windows", run, metric)
		case n%2 == 1:
			want = xs[n/2]
		default:
			want = (xs[n/2-1] + xs[n/2]) / 2
		}
		if math.Abs(got-want) > 1e-9*want {
			t.Errorf("%s %s: %v, want the median of its windows' %v = %v", run, metric, got, xs, want)
		}
	}
}
