package queries

import (
	"context"
	"path/filepath"
	"testing"

	"vitlab/etl/ingest"
)

// TestSampleAsyncRunsAhead checks the shipped rq5 traces (H200, 2026-12-02)
// the way issue 7 asked: in every async run with a queue of 2 or more, the
// preprocessing of some batch k+1 overlaps the GPU forward of batch k
// (run_prefetch), and with GPU preprocessing copies overlap kernels
// (copy_compute_overlap > 0). With CPU preprocessing the GPU idles most of
// the time and uploads start only once a batch is preprocessed, so copies
// have nothing to overlap there (data/sample/README.md); and sync runs never
// prepare ahead.
func TestSampleAsyncRunsAhead(t *testing.T) {
	ctx := context.Background()
	w := openBatchDir(t, filepath.Join("..", "data", "sample", "rq5-quick-h200"))
	res, err := w.SQL(ctx, `select c.run_id, c.pipeline, c.queue_depth, c.preprocess,
		p.prefetch_pairs, p.prefetch_overlaps, m.copy_compute_overlap
		from run_config as c
		join run_prefetch as p using (batch_id, run_id)
		join run_metrics_v as m using (batch_id, run_id)
		where c.status = 'ok' order by c.run_id`)
	if err != nil {
		t.Fatal(err)
	}
	asyncQ2 := 0
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
		case pipeline == "async" && q >= 2:
			asyncQ2++
			if overlaps == 0 {
				t.Errorf("%s: async q%d never preprocesses batch k+1 during the forward of k (%d pairs)", run, q, pairs)
			}
			if pre == "gpu" && !(ovl > 0) {
				t.Errorf("%s: async q%d with GPU preprocessing: copy/compute overlap %v", run, q, r[6])
			}
		}
	}
	if asyncQ2 != 4 {
		t.Errorf("%d async runs with q >= 2 in the sample's rq5 batch, want 4", asyncQ2)
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
