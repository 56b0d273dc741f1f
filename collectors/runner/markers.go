package runner

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"vitlab/collectors/batchdir"
)

// MarkerPrefix starts the line the workload prints at each edge of a
// measurement window, right after a device synchronize:
//
//	VITLAB_WINDOW begin|end <index> <unix_ns>
const MarkerPrefix = "VITLAB_WINDOW"

// Marker is one window edge the workload announced, with the GPU energy
// counter the runner read when it saw the line.
type Marker struct {
	Edge   string // "begin" or "end"
	Index  int
	UnixNs int64
	// EnergyMJ is the counter reading; nil when it could not be read.
	EnergyMJ *int64
	// Err is why the counter could not be read.
	Err error
}

// ParseMarker parses a marker line (without its newline). ok is false for
// a line that is not a marker; a line that starts like one but is malformed
// returns an error.
func ParseMarker(line string) (m Marker, ok bool, err error) {
	line = strings.TrimRight(line, "\r")
	rest, found := strings.CutPrefix(line, MarkerPrefix+" ")
	if !found {
		return Marker{}, false, nil
	}
	f := strings.Fields(rest)
	if len(f) != 3 || (f[0] != "begin" && f[0] != "end") {
		return Marker{}, true, fmt.Errorf("malformed marker %q (want %s begin|end <index> <unix_ns>)", line, MarkerPrefix)
	}
	idx, err1 := strconv.Atoi(f[1])
	ns, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil || idx < 0 || ns <= 0 {
		return Marker{}, true, fmt.Errorf("malformed marker %q (want %s begin|end <index> <unix_ns>)", line, MarkerPrefix)
	}
	return Marker{Edge: f[0], Index: idx, UnixNs: ns}, true, nil
}

// maxLine bounds the line a markerTee parses; longer lines are copied
// through without parsing (a marker is ~50 bytes).
const maxLine = 64 << 10

// markerTee copies a child's stdout to a file as it arrives and, on each
// marker line, reads the energy counter at once and keeps the marker.
type markerTee struct {
	out    io.Writer
	energy func() (int64, error) // nil: no counter
	mu     sync.Mutex
	marks  []Marker
	bad    []string
	// partial is the start of a line not ended yet; long says the line
	// grew past maxLine and is not parsed.
	partial []byte
	long    bool
}

// Write copies p to the file at once and parses the complete lines in it
// (a line split across writes is joined first).
func (t *markerTee) Write(p []byte) (int, error) {
	n, err := t.out.Write(p)
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if len(t.partial)+len(rest) <= maxLine {
				t.partial = append(t.partial, rest...)
			} else {
				t.partial, t.long = t.partial[:0], true
			}
			break
		}
		if !t.long {
			t.partial = append(t.partial, rest[:i]...)
			t.line(string(t.partial))
		}
		t.partial, t.long = t.partial[:0], false
		rest = rest[i+1:]
	}
	return n, err
}

func (t *markerTee) line(s string) {
	if !strings.HasPrefix(s, MarkerPrefix) {
		return
	}
	m, ok, err := ParseMarker(s)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.bad = append(t.bad, err.Error())
		return
	}
	if t.energy != nil {
		if v, err := t.energy(); err != nil {
			m.Err = err
		} else {
			m.EnergyMJ = &v
		}
	}
	t.marks = append(t.marks, m)
}

// result returns the markers seen and the malformed lines.
func (t *markerTee) result() ([]Marker, []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Marker(nil), t.marks...), append([]string(nil), t.bad...)
}

// mergeWindows adds to the workload's windows the energy read at their
// markers: energy_mj = end − begin counter reading. A window the workload
// did not report but whose two markers were seen is kept with its marker
// times only. It returns the windows in index order and the problems met
// (a missing marker, a counter that went backwards), one line each.
func mergeWindows(reported []batchdir.Window, marks []Marker) ([]batchdir.Window, []string) {
	byIndex := map[int]*edges{}
	var warn []string
	for i := range marks {
		m := &marks[i]
		e := byIndex[m.Index]
		if e == nil {
			e = &edges{}
			byIndex[m.Index] = e
		}
		slot := &e.begin
		if m.Edge == "end" {
			slot = &e.end
		}
		if *slot != nil {
			warn = append(warn, fmt.Sprintf("window %d: two %s markers; the first one is used", m.Index, m.Edge))
			continue
		}
		*slot = m
	}
	out := make([]batchdir.Window, 0, len(reported))
	seen := map[int]bool{}
	for _, w := range reported {
		seen[w.Index] = true
		out = append(out, w)
	}
	for idx, e := range byIndex {
		if !seen[idx] && e.begin != nil && e.end != nil {
			out = append(out, batchdir.Window{Index: idx, StartUnixNs: e.begin.UnixNs, EndUnixNs: e.end.UnixNs})
		}
	}
	slices.SortFunc(out, func(a, b batchdir.Window) int { return a.Index - b.Index })
	for i := range out {
		w := &out[i]
		e := byIndex[w.Index]
		if e == nil || e.begin == nil || e.end == nil {
			warn = append(warn, fmt.Sprintf("window %d: no %s marker on the workload's stdout: no energy", w.Index, missingEdge(e)))
			continue
		}
		w.EnergyBeginMJ, w.EnergyEndMJ = e.begin.EnergyMJ, e.end.EnergyMJ
		if e.begin.EnergyMJ == nil || e.end.EnergyMJ == nil {
			continue // the counter's error is reported once per run
		}
		d := *e.end.EnergyMJ - *e.begin.EnergyMJ
		if d < 0 {
			warn = append(warn, fmt.Sprintf("window %d: the energy counter went backwards (%d → %d mJ): no energy", w.Index, *e.begin.EnergyMJ, *e.end.EnergyMJ))
			continue
		}
		w.EnergyMJ = &d
		w.EnergySource = batchdir.EnergyNVML
	}
	return out, warn
}

// edges are the two markers of one window.
type edges struct{ begin, end *Marker }

func missingEdge(e *edges) string {
	switch {
	case e == nil:
		return "begin or end"
	case e.begin == nil:
		return "begin"
	}
	return "end"
}

// energyProblem is the run warning when the markers came but no energy
// could be read (nil when at least one reading worked or no marker came).
func energyProblem(marks []Marker) string {
	var firstErr error
	for _, m := range marks {
		if m.EnergyMJ != nil {
			return ""
		}
		if firstErr == nil {
			firstErr = m.Err
		}
	}
	if firstErr == nil {
		return ""
	}
	return fmt.Sprintf("GPU energy counter unsupported or unreadable: %v; windows have no energy_mj", firstErr)
}
