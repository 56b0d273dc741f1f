package runner

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func writeProc(t *testing.T, root, name, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "proc", name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Two /proc/stat readings 1,000 ticks apart: 600 busy (user, nice,
// system, irq, softirq), 50 steal, 20 iowait, the rest idle.
func TestHostCPUFractions(t *testing.T) {
	root := t.TempDir()
	writeProc(t, root, "cpuinfo", "processor\t: 0\nmodel name\t: AMD EPYC  9654 96-Core Processor\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 9654 96-Core Processor\n")
	writeProc(t, root, "loadavg", "3.25 2.00 1.50 4/900 12345\n")
	writeProc(t, root, "stat", "cpu  1000 0 500 8000 10 0 0 100 0 0\ncpu0 500 0 250 4000 5 0 0 50 0 0\ncpu1 500 0 250 4000 5 0 0 50 0 0\nintr 1 2 3\n")
	p := startHostCPU(root)
	writeProc(t, root, "stat", "cpu  1400 50 600 8330 30 25 25 150 0 0\ncpu0 700 25 300 4165 15 12 12 75 0 0\ncpu1 700 25 300 4165 15 13 13 75 0 0\n")
	rec, warn := p.finish()
	if rec == nil {
		t.Fatal("no record")
	}
	if rec.Model != "AMD EPYC 9654 96-Core Processor" || rec.CPUs != 2 {
		t.Errorf("model %q cpus %d", rec.Model, rec.CPUs)
	}
	if rec.Load1 == nil || *rec.Load1 != 3.25 {
		t.Errorf("load1 %v", rec.Load1)
	}
	near := func(name string, got *float64, want float64) {
		if got == nil || *got < want-1e-9 || *got > want+1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// total 1000 ticks: busy 400+50+100+25+25 = 600, steal 50, iowait 20, idle 330
	near("busy", rec.Busy, 0.6)
	near("steal", rec.Steal, 0.05)
	near("iowait", rec.IOWait, 0.02)
	if !strings.Contains(warn, "steal 5.0 %") {
		t.Errorf("warning %q, want one naming 5.0 %% steal", warn)
	}
}

// Below the warning level no warning; counters that went backwards leave
// the fractions unset; a stat file without the cpu line is an error that
// names the file; no /proc at all gives no record.
func TestHostCPUEdges(t *testing.T) {
	root := t.TempDir()
	writeProc(t, root, "stat", "cpu  1000 0 0 9000 0 0 0 0\n")
	p := startHostCPU(root)
	writeProc(t, root, "stat", "cpu  1500 0 0 9495 0 0 0 5\n")
	rec, warn := p.finish()
	if rec == nil || rec.Steal == nil || warn != "" {
		t.Fatalf("rec %+v warn %q: want 0.5 %% steal and no warning", rec, warn)
	}
	p = startHostCPU(root)
	writeProc(t, root, "stat", "cpu  10 0 0 90 0 0 0 0\n")
	if rec, _ := p.finish(); rec == nil || rec.Busy != nil || rec.Steal != nil {
		t.Errorf("counters went backwards: %+v, want no fractions", rec)
	}
	writeProc(t, root, "stat", "intr 1 2\n")
	if _, err := readCPUTimes(root); err == nil || !strings.Contains(err.Error(), filepath.Join(root, "proc", "stat")) {
		t.Errorf("err %v, want one naming the file", err)
	}
	writeProc(t, root, "stat", "cpu  1 2 3\n")
	if _, err := readCPUTimes(root); err == nil || !strings.Contains(err.Error(), "at least 9") {
		t.Errorf("short line: err %v", err)
	}
	if rec, _ := startHostCPU(t.TempDir()).finish(); rec != nil {
		t.Errorf("no /proc: %+v, want nil", rec)
	}
}

// The real /proc of this machine: a busy loop on one CPU for a moment
// shows as busy time.
func TestHostCPUReal(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/stat is Linux's")
	}
	p := startHostCPU("/")
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
	}
	rec, _ := p.finish()
	if rec == nil || rec.Busy == nil || rec.Steal == nil || rec.CPUs < 1 {
		t.Fatalf("rec %+v", rec)
	}
	if *rec.Busy <= 0 || *rec.Busy > 1 || *rec.Steal < 0 || *rec.Steal > 1 {
		t.Errorf("busy %v steal %v out of [0, 1]", *rec.Busy, *rec.Steal)
	}
}
