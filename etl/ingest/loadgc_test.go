package ingest

import (
	"runtime/debug"
	"testing"
)

// TestLoadGC: the raised GOGC and its memory limit hold while loading and
// are restored after; the limit is twice the budget's heap (or the biggest
// export's), at least 256 MiB.
func TestLoadGC(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	gc0 := debug.SetGCPercent(100)
	defer debug.SetGCPercent(gc0)
	lim0 := debug.SetMemoryLimit(-1)

	in := &Inputs{Runs: []*RunInput{{Export: "a.sqlite"}, {Export: "b.sqlite"}}}
	hashes := map[string]fileHash{"a.sqlite": {Size: 10 << 20}, "b.sqlite": {Size: 300 << 20}}
	restore := loadGC(Request{LoadGC: 200, LoadBudget: 200 << 20, Jobs: 1}, in, hashes)
	gotGC := debug.SetGCPercent(200)
	gotLim := debug.SetMemoryLimit(-1)
	restore()
	if gotGC != 200 {
		t.Errorf("GOGC while loading: %d, want 200", gotGC)
	}
	// The biggest export (300 MB) loads alone and is over the budget.
	if want := int64(2 * (300 << 20) * 6 / 5); gotLim != min(lim0, want) {
		t.Errorf("memory limit while loading: %d, want %d", gotLim, want)
	}
	if gc := debug.SetGCPercent(100); gc != 100 {
		t.Errorf("GOGC after: %d, want 100", gc)
	}
	if lim := debug.SetMemoryLimit(-1); lim != lim0 {
		t.Errorf("memory limit after: %d, want %d", lim, lim0)
	}
	if got, want := loadGCLimit(200<<20, 1<<20), int64(2*240<<20); got != want {
		t.Errorf("loadGCLimit(200 MB budget): %d, want %d", got, want)
	}
	if got, want := loadGCLimit(1<<20, 2<<20), int64(256<<20); got != want {
		t.Errorf("loadGCLimit(1 MB budget): %d, want %d (the floor)", got, want)
	}
}
