package queries

import (
	"fmt"
	"testing"
)

// TestSplitSegmentsBounds checks that a part of a derived answer holds at
// most partSegments segments as well as about maxRows rows: at 100x the
// sample an ordered read of ~25 single-file scans ran out of a 160 MiB
// memory_limit whatever their rows.
func TestSplitSegmentsBounds(t *testing.T) {
	var segs []scanSegment
	for i := range 40 {
		segs = append(segs, scanSegment{file: fmt.Sprintf("f%d", i), ids: []string{fmt.Sprint(i)}, rows: 10})
	}
	check := func(name string, parts [][]scanSegment, wantParts int) {
		t.Helper()
		if len(parts) != wantParts {
			t.Fatalf("%s: %d parts, want %d", name, len(parts), wantParts)
		}
		n := 0
		for _, p := range parts {
			if len(p) == 0 || len(p) > partSegments {
				t.Fatalf("%s: a part of %d segments", name, len(p))
			}
			for _, s := range p {
				if s.file != segs[n].file {
					t.Fatalf("%s: segment %d is %s, want %s (in order, each once)", name, n, s.file, segs[n].file)
				}
				n++
			}
		}
		if n != len(segs) {
			t.Fatalf("%s: %d segments, want %d", name, n, len(segs))
		}
	}
	check("few rows", splitSegments(segs, 1<<20), 5) // 40 segments / 8
	check("rows bound", splitSegments(segs, 25), 20) // 2 segments of 10 rows a part
	if p := splitSegments(segs, 0); len(p[0]) != len(segs) {
		t.Fatalf("whole: %d segments", len(p[0]))
	}
}
