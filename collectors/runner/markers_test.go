package runner

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vitlab/collectors/batchdir"
)

func TestParseMarker(t *testing.T) {
	cases := []struct {
		line   string
		want   Marker
		ok     bool
		errSub string
	}{
		{"VITLAB_WINDOW begin 0 1764640000123456789", Marker{Edge: "begin", Index: 0, UnixNs: 1764640000123456789}, true, ""},
		{"VITLAB_WINDOW end 12 1764640002000000000\r", Marker{Edge: "end", Index: 12, UnixNs: 1764640002000000000}, true, ""},
		{"fake workload r1 phase clean", Marker{}, false, ""},
		{"VITLAB_WINDOWS begin 0 1", Marker{}, false, ""},
		{"VITLAB_WINDOW middle 0 1", Marker{}, true, "malformed"},
		{"VITLAB_WINDOW begin x 1", Marker{}, true, "malformed"},
		{"VITLAB_WINDOW begin 0", Marker{}, true, "malformed"},
		{"VITLAB_WINDOW end -1 5", Marker{}, true, "malformed"},
	}
	for _, c := range cases {
		m, ok, err := ParseMarker(c.line)
		if ok != c.ok || m != c.want || (c.errSub == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.errSub)) {
			t.Errorf("%q: got %+v %v %v", c.line, m, ok, err)
		}
	}
}

// TestMarkerTee feeds the tee in awkward pieces: a marker split across
// writes, two lines in one write, a very long line, and checks that the
// file gets every byte and the counter is read once per marker.
func TestMarkerTee(t *testing.T) {
	var out bytes.Buffer
	reads := int64(0)
	tee := &markerTee{out: &out, energy: func() (int64, error) { reads += 500; return reads, nil }}
	long := strings.Repeat("x", maxLine+10)
	pieces := []string{
		"hello\nVITLAB_WIN", "DOW begin 0 100\n",
		"noise\nVITLAB_WINDOW end 0 200\nVITLAB_WINDOW begin 1 300\n",
		long + " VITLAB_WINDOW end 1 1\n",
		"VITLAB_WINDOW bogus\n",
		"VITLAB_WINDOW end 1 400", // no newline yet: not parsed
	}
	var all string
	for _, p := range pieces {
		if n, err := tee.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("write: %d %v", n, err)
		}
		all += p
	}
	if out.String() != all {
		t.Error("the file did not get every byte")
	}
	marks, bad := tee.result()
	if len(marks) != 3 || marks[0].Edge != "begin" || marks[1].UnixNs != 200 || marks[2].Index != 1 ||
		*marks[0].EnergyMJ != 500 || *marks[2].EnergyMJ != 1500 {
		t.Errorf("marks %+v", marks)
	}
	if len(bad) != 1 || !strings.Contains(bad[0], "bogus") {
		t.Errorf("bad %q", bad)
	}
	tee.Write([]byte("\n"))
	if marks, _ := tee.result(); len(marks) != 4 || marks[3].UnixNs != 400 {
		t.Errorf("the ended line: %+v", marks)
	}
}

func i64(v int64) *int64 { return &v }

func TestMergeWindows(t *testing.T) {
	thr := 100.0
	reported := []batchdir.Window{
		{Index: 1, StartUnixNs: 30, EndUnixNs: 40, Throughput: &thr},
		{Index: 0, StartUnixNs: 10, EndUnixNs: 20, Throughput: &thr},
		{Index: 2, StartUnixNs: 50, EndUnixNs: 60},
		{Index: 3, StartUnixNs: 70, EndUnixNs: 80},
	}
	noCounter := errors.New("nvml: total energy: the GPU has no total-energy counter")
	marks := []Marker{
		{Edge: "begin", Index: 0, UnixNs: 10, EnergyMJ: i64(1000)},
		{Edge: "end", Index: 0, UnixNs: 20, EnergyMJ: i64(3500)},
		{Edge: "begin", Index: 1, UnixNs: 30, EnergyMJ: i64(4000)},
		{Edge: "end", Index: 1, UnixNs: 40, EnergyMJ: i64(3000)}, // backwards
		{Edge: "begin", Index: 2, UnixNs: 50, EnergyMJ: i64(5000)},
		// window 2 has no end marker
		{Edge: "begin", Index: 3, UnixNs: 70, Err: noCounter},
		{Edge: "end", Index: 3, UnixNs: 80, Err: noCounter},
		{Edge: "begin", Index: 4, UnixNs: 90, EnergyMJ: i64(6000)}, // not reported by the workload
		{Edge: "end", Index: 4, UnixNs: 95, EnergyMJ: i64(6100)},
		{Edge: "end", Index: 4, UnixNs: 99, EnergyMJ: i64(6200)}, // duplicate
	}
	ws, warn := mergeWindows(reported, marks)
	if len(ws) != 5 {
		t.Fatalf("windows %+v", ws)
	}
	for i, w := range ws {
		if w.Index != i {
			t.Fatalf("windows out of order: %+v", ws)
		}
	}
	if ws[0].EnergyMJ == nil || *ws[0].EnergyMJ != 2500 || ws[0].EnergySource != batchdir.EnergyNVML || *ws[0].EnergyBeginMJ != 1000 {
		t.Errorf("window 0: %+v", ws[0])
	}
	if ws[1].EnergyMJ != nil || ws[2].EnergyMJ != nil || ws[3].EnergyMJ != nil || ws[3].EnergySource != "" {
		t.Errorf("windows 1-3 must have no energy: %+v", ws[1:4])
	}
	if ws[4].StartUnixNs != 90 || ws[4].EndUnixNs != 95 || *ws[4].EnergyMJ != 100 || ws[4].Throughput != nil {
		t.Errorf("window 4 (markers only): %+v", ws[4])
	}
	want := []string{"window 4: two end markers", "window 1: the energy counter went backwards", "window 2: no end marker"}
	if len(warn) != len(want) {
		t.Fatalf("warnings %q", warn)
	}
	for i, w := range want {
		if !strings.HasPrefix(warn[i], w) {
			t.Errorf("warning %d = %q, want %q…", i, warn[i], w)
		}
	}
	if p := energyProblem(marks[5:7]); !strings.Contains(p, "no total-energy counter") {
		t.Errorf("energy problem %q", p)
	}
	if p := energyProblem(marks); p != "" {
		t.Errorf("some readings worked, yet %q", p)
	}
	if ws, warn := mergeWindows(nil, nil); len(ws) != 0 || len(warn) != 0 {
		t.Errorf("nothing: %v %v", ws, warn)
	}
}

// TestRunGroupMarkers runs a real child (a shell script) that prints
// markers among other lines: runGroup tees its stdout to the file and the
// counter is read as each marker arrives, between the child's sleeps.
func TestRunGroupMarkers(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "child.sh")
	body := "#!/bin/sh\necho start\nsleep 0.2\necho \"VITLAB_WINDOW begin 0 $(date +%s%N)\"\nsleep 0.3\n" +
		"echo \"VITLAB_WINDOW end 0 $(date +%s%N)\"\necho done\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var readAt []time.Time
	tee := &markerTee{out: f, energy: func() (int64, error) {
		readAt = append(readAt, time.Now())
		return int64(len(readAt)) * 7000, nil
	}}
	start := time.Now()
	o := runGroup(context.Background(), []string{script}, os.Environ(), dir, tee, os.Stderr, time.Second)
	if o.exitCode != 0 || o.err != nil {
		t.Fatalf("outcome %+v", o)
	}
	marks, bad := tee.result()
	if len(marks) != 2 || len(bad) != 0 || len(readAt) != 2 {
		t.Fatalf("marks %+v bad %v", marks, bad)
	}
	// The end reading came about 0.3 s after the begin one: read as the
	// lines arrived, not after the child exited.
	if gap := readAt[1].Sub(readAt[0]); gap < 200*time.Millisecond {
		t.Errorf("readings %v apart: not read when the markers arrived", gap)
	}
	if readAt[0].Sub(start) > 5*time.Second {
		t.Error("first reading too late")
	}
	ws, _ := mergeWindows(nil, marks)
	if len(ws) != 1 || *ws[0].EnergyMJ != 7000 || ws[0].EndUnixNs <= ws[0].StartUnixNs {
		t.Errorf("windows %+v", ws)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "stdout.log"))
	if !strings.HasPrefix(string(log), "start\nVITLAB_WINDOW begin 0 ") || !strings.HasSuffix(string(log), "done\n") {
		t.Errorf("stdout.log %q", log)
	}
}
