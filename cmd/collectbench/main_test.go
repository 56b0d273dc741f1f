package main

import (
	"math"
	"testing"
)

// The shipped rq1 sample batch (H100, warm start): 8 ok runs in 196 s of
// batch wall time (batch.json), i.e. about 147 runs per GPU-hour; median
// run 23.6 s, of which the clean phase 12.3 s and the export 0.1 s
// (phase_seconds).
func TestMeasureSample(t *testing.T) {
	r, err := measure("../../data/sample/rq1-quick-h100")
	if err != nil {
		t.Fatal(err)
	}
	if r.ok != 8 || r.runs != 8 || r.plan != "rq1" || r.profile != "quick" {
		t.Fatalf("%+v", r)
	}
	if want := 8 / r.wall.Hours(); math.Abs(r.perHour-want) > 1e-9 || r.perHour < 140 || r.perHour > 155 {
		t.Errorf("runs per GPU-hour %.1f (wall %v)", r.perHour, r.wall)
	}
	if r.run < 20 || r.run > 27 || r.clean < 11 || r.clean > 14 || r.export < 0 || r.export > 0.5 {
		t.Errorf("medians: run %.1f clean %.1f export %.1f", r.run, r.clean, r.export)
	}
	if _, err := measure("../../data/sample"); err == nil {
		t.Error("a folder that is not a batch: no error")
	}
}
