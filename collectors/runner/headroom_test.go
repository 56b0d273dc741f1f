package runner

import (
	"testing"

	"vitlab/collectors/batchdir"
)

// The workload's headroom rates (clean phase) reach run.json's timings,
// from which ingest fills runs.forward_bound_img_s and prep_bound_img_s.
func TestHeadroomTimings(t *testing.T) {
	fwd, prep := 10470.25, 7132.5
	clean := &Result{Timings: batchdir.Timings{ForwardBoundImgS: &fwd, PrepBoundImgS: &prep}}
	rec := &batchdir.Run{}
	rec.Timings = mergeTimings(clean, nil)
	if rec.Timings.ForwardBoundImgS == nil || *rec.Timings.ForwardBoundImgS != fwd ||
		rec.Timings.PrepBoundImgS == nil || *rec.Timings.PrepBoundImgS != prep {
		t.Fatalf("timings %+v", rec.Timings)
	}
	// a result without them (older workload, traced only) adds no label
	bare := &batchdir.Run{}
	bare.Timings = mergeTimings(&Result{}, nil)
	if bare.Timings.ForwardBoundImgS != nil || bare.Timings.PrepBoundImgS != nil {
		t.Errorf("timings %+v, want no headroom", bare.Timings)
	}
}
