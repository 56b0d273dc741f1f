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

// TestRunGroupChunks: a group's parts in consecutive chunks of at most the
// events given (a bigger part alone), [nil] when the group is one chunk or
// its parts' events are unknown.
func TestRunGroupChunks(t *testing.T) {
	g := runGroup{runs: []string{"a", "b", "c", "d", "e"}, parts: [][]string{{"a", "b"}, {"c"}, {"d"}, {"e"}}, events: []int64{60, 50, 10, 200}}
	got := fmt.Sprint(g.chunks(100))
	if want := "[[a b] [c d] [e]]"; got != want {
		t.Errorf("chunks(100) = %s, want %s", got, want)
	}
	if got := fmt.Sprint(g.chunks(1000)); got != "[[]]" {
		t.Errorf("chunks(1000) = %s, want [[]] (one chunk: the group's views)", got)
	}
	whole := runGroup{parts: [][]string{nil}}
	if got := whole.chunks(1); len(got) != 1 || got[0] != nil {
		t.Errorf("a group without events: %v", got)
	}
}
