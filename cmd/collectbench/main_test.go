package main

import (
	"math"
	"testing"
)

// The shipped rq1 sample batch: 8 ok runs in 305 s of batch wall time
// (batch.json), i.e. about 94 runs per GPU-hour, and no phase_seconds
// (collected before they were recorded).
func TestMeasureSample(t *testing.T) {
	r, err := measure("../../data/sample/rq1-quick-h200")
	if err != nil {
		t.Fatal(err)
	}
	if r.ok != 8 || r.runs != 8 || r.plan != "rq1" || r.profile != "quick" {
		t.Fatalf("%+v", r)
	}
	if want := 8 / r.wall.Hours(); math.Abs(r.perHour-want) > 1e-9 || r.perHour < 90 || r.perHour > 100 {
		t.Errorf("runs per GPU-hour %.1f (wall %v)", r.perHour, r.wall)
	}
	if r.run < 30 || r.run > 45 || r.clean != -1 || r.export != -1 {
		t.Errorf("medians: run %.1f clean %.1f export %.1f", r.run, r.clean, r.export)
	}
	if _, err := measure("../../data/sample"); err == nil {
		t.Error("a folder that is not a batch: no error")
	}
}
