package queries

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"vitlab/etl/ingest"
)

// TestPipelineH100 reads the first collection of the process-based workload
// (data/h100-2026-12-07/rq5-quick-h100: ViT-B/16, batch 32, bf16, H100) the
// way the pipeline work asked to be judged: every run records its
// forward-only and preprocessing-only rates; no run is flagged by a
// settings-vs-trace check (the uint8 upload of CPU preprocessing is what
// the design does); the deep async pipelines, CPU and GPU preprocessing
// alike, reach at least 90 % of their ceiling (the slower stage alone) and
// beat the best CPU-preprocessing run of the thread-based workload
// (2,471 img/s on the H200) by more than 3x; and every async run with a
// queue of 2 or more overlaps its stages: with GPU preprocessing the trace
// shows batch k+1 preprocessed during the forward of batch k
// (run_prefetch); with CPU preprocessing the work happens in worker
// processes that open no NVTX range (the launching thread's "preprocess"
// range only waits for the workers' buffer), so the evidence is the
// throughput above serial_img_s, the rate if the stages' times added.
func TestPipelineH100(t *testing.T) {
	ctx := context.Background()
	w := openBatchDir(t, filepath.Join("..", "data", "h100-2026-12-07", "rq5-quick-h100"))
	if res, err := w.SQL(ctx, `select run_id, "check", detail from runs_flagged`); err != nil {
		t.Fatal(err)
	} else {
		for _, r := range res.Rows {
			t.Errorf("%s flagged: %s: %s", r[0], r[1], r[2])
		}
	}
	res, err := w.SQL(ctx, `select c.run_id, c.pipeline, c.queue_depth, c.preprocess,
		h.clean_throughput, h.forward_bound_img_s, h.prep_bound_img_s, h.bound_fraction, p.prefetch_overlaps, h.serial_img_s
		from run_config as c
		join run_headroom as h using (batch_id, run_id)
		join run_prefetch as p using (batch_id, run_id)
		where c.status = 'ok' order by c.run_id`)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 8 {
		t.Fatalf("%d ok runs, want 8", len(res.Rows))
	}
	for _, r := range res.Rows {
		run, pipeline, q, pre := r[0].(string), r[1].(string), r[2].(int64), r[3].(string)
		thr, fwd, prep, frac := r[4].(float64), r[5], r[6], r[7].(float64)
		if fwd == nil || prep == nil {
			t.Errorf("%s: no headroom rates (forward %v, prep %v)", run, fwd, prep)
		}
		if pipeline != "async" || q < 2 {
			continue
		}
		if overlaps, _ := r[8].(int64); pre == "gpu" && overlaps == 0 {
			t.Errorf("%s: async q%d never preprocesses batch k+1 during the forward of k", run, q)
		}
		if serial := r[9].(float64); pre == "cpu" && thr < 1.2*serial {
			t.Errorf("%s: async q%d cpu at %.0f img/s, not clearly above the no-overlap %.0f", run, q, thr, serial)
		}
		if q >= 8 && frac < 0.9 {
			t.Errorf("%s: async q%d %s reached %.3f of its ceiling, want >= 0.9", run, q, pre, frac)
		}
		if pre == "cpu" && q >= 8 && thr < 3*2471 {
			t.Errorf("%s: %.0f img/s with CPU preprocessing, want > 3 x 2,471", run, thr)
		}
	}
}

// TestPipelineH100Peer reads the second collection
// (data/h100-pipeline-2026-12-07/rq5-pipeline-h100: batch 32 and 64, the
// DataLoader peer as a run of its own) and checks what its README says
// from the data: 18 ok runs, each with its headroom; the peer counted as
// an overlapped design; every usable async run with a queue of 2 or more
// above its serial rate (the stages overlap) and faster than the peer at
// its batch, every usable sync / q1 run slower than the peer; and the
// host's noise caught by the validity checks (the runs left out, with the
// flags the README names), not averaged into the findings, and the power
// cap told apart from it (power_capped runs kept).
func TestPipelineH100Peer(t *testing.T) {
	ctx := context.Background()
	w := openBatchDir(t, filepath.Join("..", "data", "h100-pipeline-2026-12-07", "rq5-pipeline-h100"))
	res, err := w.SQL(ctx, `select c.run_id, c.pipeline, c.queue_depth, c.batch_size,
		h.clean_throughput, h.serial_img_s, h.bound_kind, u.run_id is not null as usable
		from run_config as c
		join run_headroom as h using (batch_id, run_id)
		left join usable_runs as u using (batch_id, run_id)
		where c.status = 'ok' order by c.run_id`)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 18 {
		t.Fatalf("%d ok runs with headroom, want 18", len(res.Rows))
	}
	// The b32 peer ran its model alone at 0.85 of the batch's best rate for
	// that model (8,575 of 10,140 img/s): forward_slow leaves it out, so
	// the comparisons with the peer are made at batch 64 only.
	peer := map[int64]float64{}
	peers := 0
	for _, r := range res.Rows {
		if r[1].(string) == "peer" {
			peers++
			if r[6] != "overlapped" {
				t.Errorf("%s: bound_kind %v, want overlapped", r[0], r[6])
			}
			if r[7].(bool) {
				peer[r[3].(int64)] = r[4].(float64)
			}
		}
	}
	if _, ok := peer[64]; peers != 2 || len(peer) != 1 || !ok {
		t.Fatalf("%d peer runs, usable at batches %v: want 2, usable at 64 only", peers, peer)
	}
	usable := 0
	for _, r := range res.Rows {
		run, pipeline, q, b, thr, serial := r[0].(string), r[1].(string), r[2].(int64), r[3].(int64), r[4].(float64), r[5].(float64)
		if !r[7].(bool) || pipeline == "peer" {
			continue
		}
		usable++
		if _, ok := peer[b]; !ok {
			continue
		}
		if pipeline == "async" && q >= 2 {
			if thr < 1.1*serial {
				t.Errorf("%s: %.0f img/s, not above its serial rate %.0f: the stages do not overlap", run, thr, serial)
			}
			if thr <= peer[b] {
				t.Errorf("%s: %.0f img/s, not faster than the peer's %.0f at batch %d", run, thr, peer[b], b)
			}
		} else if thr >= peer[b] {
			t.Errorf("%s: one batch in flight at %.0f img/s, yet not slower than the peer's %.0f", run, thr, peer[b])
		}
	}
	left, err := w.SQL(ctx, `select count(distinct run_id), string_agg(distinct reason, ',' order by reason) from runs_left_out`)
	if err != nil {
		t.Fatal(err)
	}
	// b64 async q8 cpu and gpu ran at the H100's power cap (SM clock down to
	// 1,695-1,770 MHz at 693-699 W): power_capped, not clock_drop, since the
	// power-cap rule; q8 gpu counts (7 left out before, 6 then), q8 cpu stays
	// out for its windows. forward_slow then left out b32 sync cpu (0.62),
	// async q1 cpu (0.70) and the peer (0.85): 9, and 8 usable vitlab runs.
	if n := left.Rows[0][0].(int64); n != 9 || usable+1+int(n) != 18 {
		t.Errorf("%d runs left out, %d usable vitlab runs: want 9 left out and 8 usable besides the b64 peer", n, usable)
	}
	if got := left.Rows[0][1]; got != "forward_slow,window_cov,window_trend" {
		t.Errorf("left-out flags %v", got)
	}
	capped, err := w.SQL(ctx, `select string_agg(run_id, ',' order by run_id) from run_validity where flag = 'power_capped'`)
	if err != nil {
		t.Fatal(err)
	}
	if got := capped.Rows[0][0]; got != "rq5-p16-d12-h768-r224-b64-eager-async-q8-cpu-nnone-r1,rq5-p16-d12-h768-r224-b64-eager-async-q8-gpu-nnone-r1" {
		t.Errorf("power_capped runs %v, want b64 async q8 cpu and gpu", got)
	}
}

// TestDisturbedHostForwardSlow reads the two orders collected on a
// disturbed H100 VM (data/h100-disturbed-2026-12-07, run records only) and
// checks what its README says: the model alone ran at 4.7k-10.2k img/s
// across the 54 runs, and forward_slow leaves out every run below 0.90 of
// its batch's best, 42 of them, computed here from run.json, not from the
// warehouse; 5 runs stay usable.
func TestDisturbedHostForwardSlow(t *testing.T) {
	ctx := context.Background()
	base := filepath.Join("..", "data", "h100-disturbed-2026-12-07")
	dirs := []string{filepath.Join(base, "rq5-r3-b32-seed2-h100"), filepath.Join(base, "rq5-r3-b32-seed3-h100")}
	wh := t.TempDir()
	for _, dir := range dirs {
		if _, err := ingest.Run(ctx, ingest.Request{Warehouse: wh, Paths: []string{dir}, Jobs: 2, RunsOnly: true}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// the expected flags from run.json: every run has one model (ViT-B/16
	// b32, eager, one GPU), so the reference is the batch's best rate
	want := map[string]bool{}
	lo, hi := math.Inf(1), 0.0
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "runs", "*", "run.json"))
		if err != nil || len(files) != 27 {
			t.Fatalf("%s: %d run.json files (%v), want 27", dir, len(files), err)
		}
		rates := map[string]float64{}
		best := 0.0
		for _, f := range files {
			var rec struct {
				RunID   string `json:"id"`
				Timings struct {
					Forward float64 `json:"forward_bound_img_s"`
				} `json:"timings"`
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Timings.Forward <= 0 {
				t.Fatalf("%s: no forward_bound_img_s in its timings", f)
			}
			rates[rec.RunID] = rec.Timings.Forward
			best = math.Max(best, rec.Timings.Forward)
			lo, hi = math.Min(lo, rec.Timings.Forward), math.Max(hi, rec.Timings.Forward)
		}
		for id, r := range rates {
			if r < 0.9*best {
				want[filepath.Base(dir)+"/"+id] = true
			}
		}
	}
	if lo > 4800 || hi < 10100 {
		t.Errorf("forward-only rates %.0f-%.0f img/s, the README says 4,698-10,195", lo, hi)
	}
	if len(want) != 42 {
		t.Errorf("%d runs below 0.90 of their batch's best forward-only rate, the README says 42", len(want))
	}
	res, err := w.SQL(ctx, `select batch_id || '/' || run_id from run_validity where flag = 'forward_slow' and severity = 'invalid'`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range res.Rows {
		got[r[0].(string)] = true
	}
	for k := range want {
		if !got[k] {
			t.Errorf("%s: below 0.90 of its batch's best, not flagged forward_slow", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("%s: flagged forward_slow, not below 0.90 of its batch's best", k)
		}
	}
	usable, err := w.SQL(ctx, `select count(*) from usable_runs`)
	if err != nil {
		t.Fatal(err)
	}
	if n := usable.Rows[0][0].(int64); n != 5 {
		t.Errorf("%d usable runs, the README says 5", n)
	}
}
