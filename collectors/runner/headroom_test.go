package runner

import (
	"testing"

	"vitlab/collectors/batchdir"
)

// The workload's headroom rates (clean phase) reach run.json's timings and,
// mirrored, its labels — the path by which the warehouse gets them.
func TestHeadroomTimingsAndLabels(t *testing.T) {
	fwd, prep := 10470.25, 7132.5
	clean := &Result{Timings: batchdir.Timings{ForwardBoundImgS: &fwd, PrepBoundImgS: &prep}}
	rec := &batchdir.Run{Labels: map[string]string{"study": "vitlab"}}
	rec.Timings = mergeTimings(clean, nil)
	if rec.Timings.ForwardBoundImgS == nil || *rec.Timings.ForwardBoundImgS != fwd ||
		rec.Timings.PrepBoundImgS == nil || *rec.Timings.PrepBoundImgS != prep {
		t.Fatalf("timings %+v", rec.Timings)
	}
	headroomLabels(rec)
	want := map[string]string{"study": "vitlab", "headroom.forward_bound_img_s": "10470.25",
		"headroom.prep_bound_img_s": "7132.5"}
	if len(rec.Labels) != len(want) {
		t.Fatalf("labels %v, want %v", rec.Labels, want)
	}
	for k, v := range want {
		if rec.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, rec.Labels[k], v)
		}
	}
	// a result without them (older workload, traced only) adds no label
	bare := &batchdir.Run{}
	bare.Timings = mergeTimings(&Result{}, nil)
	headroomLabels(bare)
	if bare.Labels != nil {
		t.Errorf("labels %v, want none", bare.Labels)
	}
}
