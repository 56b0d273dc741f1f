package runner

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"vitlab/collectors/batchdir"
)

// TestWarmStart runs the behaviour plan with the warm start, through the
// real vit_zygote.py and vit_launch.py (the stand-in workload is forked by
// a real warm interpreter): the same outcomes as executed runs, eager
// runs' clean phases launched warm, the compiled run executed.
func TestWarmStart(t *testing.T) {
	h := newHarness(t, behaviourPlan, 1)
	h.cfg.WarmStart = true
	sum, err := h.run(t)
	if err != nil {
		t.Fatalf("%v\n%s", err, h.progress)
	}
	if sum.OK != 2 || sum.Failed != 4 || sum.Timeout != 1 {
		t.Fatalf("summary %+v (want the executed runs' 2 ok, 4 failed, 1 timeout)\n%s", sum, h.progress)
	}
	if !strings.Contains(h.progress.String(), "warm interpreter ready in") {
		t.Errorf("progress does not say the warm interpreter started:\n%s", h.progress)
	}
	bdir := sum.Dir
	for _, tc := range []struct {
		b       int
		compile string
		warm    bool
	}{{1, "eager", true}, {2, "eager", true}, {3, "eager", true}, {6, "eager", true}, {5, "default", false}} {
		rec := readRun(t, filepath.Join(bdir, "runs", runID(tc.b, tc.compile)))
		gotWarm := rec.Launch == batchdir.LaunchWarm
		launched := slices.ContainsFunc(rec.CleanCommand, func(a string) bool { return strings.HasSuffix(a, LaunchScript) })
		if gotWarm != tc.warm || launched != tc.warm {
			t.Errorf("b%d %s: launch %q, clean command %q; want warm %v", tc.b, tc.compile, rec.Launch, rec.CleanCommand, tc.warm)
		}
		if slices.ContainsFunc(rec.Command, func(a string) bool { return strings.HasSuffix(a, LaunchScript) }) {
			t.Errorf("b%d: the traced phase went through the launcher: %q", tc.b, rec.Command)
		}
	}
	// The forked run saw the clean phase's environment, and its window
	// markers reached the collector (energy read at each edge).
	ok := readRun(t, filepath.Join(bdir, "runs", runID(1, "eager")))
	if len(ok.Windows) != 3 || ok.Windows[0].EnergyMJ == nil {
		t.Errorf("warm run's windows %+v", ok.Windows)
	}
	var env map[string]any
	data, err := os.ReadFile(filepath.Join(bdir, "runs", runID(1, "eager"), "env.clean"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(data, &env)
	if env["CUDA_VISIBLE_DEVICES"] != "GPU-fake-0" || env["PYTHONUNBUFFERED"] != "1" {
		t.Errorf("warm run's environment %v", env)
	}
	// A failing clean phase still reports its own error and stderr.
	bad := readRun(t, filepath.Join(bdir, "runs", runID(2, "eager")))
	if bad.Status != batchdir.StatusFailed || !strings.Contains(bad.Error, "clean phase") {
		t.Errorf("b2: %s %q", bad.Status, bad.Error)
	}
	// The interpreter logged each fork and is gone after the batch.
	logs, _ := filepath.Glob(filepath.Join(bdir, "warm-*.log"))
	if len(logs) != 1 {
		t.Fatalf("warm interpreter logs %v, want one", logs)
	}
	logData, err := os.ReadFile(logs[0])
	if err != nil || !strings.Contains(string(logData), "ended: {'exit': 0}") {
		t.Errorf("%s: %v\n%s", logs[0], err, logData)
	}
	// --resume through the warm start: the failed run now succeeds, warm.
	h.cfg.Resume = true
	h.cfg.BatchID = filepath.Base(bdir)
	h.cfg.Env = append(h.cfg.Env, "FAKE_FIXED=1")
	h.progress.Reset()
	sum, err = h.run(t)
	if err != nil || sum.Kept != 2 || sum.OK != 1 {
		t.Fatalf("resume: %+v %v\n%s", sum, err, h.progress)
	}
	if r2 := readRun(t, filepath.Join(bdir, "runs", runID(2, "eager"))); r2.Status != batchdir.StatusOK || r2.Launch != batchdir.LaunchWarm {
		t.Errorf("resumed b2: %s launch %q %s", r2.Status, r2.Launch, r2.Error)
	}
	if m, _ := filepath.Glob(filepath.Join(os.TempDir(), fmt.Sprintf("vitlab-warm-%d-*.sock", os.Getpid()))); len(m) > 0 {
		t.Errorf("sockets left behind: %v", m)
	}
}

// TestWarmStartTimeout: a warm clean phase that overruns the timeout is
// killed (launcher, then its forked run) and recorded as a timeout; the
// next run is launched warm again.
func TestWarmStartTimeout(t *testing.T) {
	h := newHarness(t, `name: slow
rq: rq0
repeats: 1
allow_few_repeats: true
defaults: {patch: 16, depth: 2, hidden: 64, resolution: 32, warmup_batches: 1, timed_batches: 2}
matrix:
  batch_size: [1, 6]
`, 1)
	h.cfg.WarmStart = true
	h.cfg.Timeout = 2 * time.Second
	h.cfg.Env = append(h.cfg.Env, "FAKE_SLEEP=6:30")
	start := time.Now()
	sum, err := h.run(t)
	if err != nil {
		t.Fatalf("%v\n%s", err, h.progress)
	}
	if sum.Timeout != 1 || sum.OK != 1 {
		t.Fatalf("summary %+v\n%s", sum, h.progress)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the batch took %s: the timed-out run was not stopped", d)
	}
	for _, b := range []int{1, 6} {
		id := strings.Replace(runID(b, "eager"), "beh-", "slow-", 1)
		rec := readRun(t, filepath.Join(sum.Dir, "runs", id))
		if rec.Launch != batchdir.LaunchWarm {
			t.Errorf("b%d: launch %q", b, rec.Launch)
		}
		if b == 6 && (rec.Status != batchdir.StatusTimeout || !strings.Contains(rec.Error, "clean phase")) {
			t.Errorf("b6: %s %q", rec.Status, rec.Error)
		}
	}
}

// TestWarmStartUnavailable: without vit_zygote.py beside the workload the
// runs are executed as before, each saying why.
func TestWarmStartUnavailable(t *testing.T) {
	h := newHarness(t, behaviourPlan, 1)
	wl := t.TempDir()
	src, _ := os.ReadFile(filepath.Join(h.cfg.WorkloadDir, WorkloadScript))
	os.WriteFile(filepath.Join(wl, WorkloadScript), src, 0o755)
	h.cfg.WorkloadDir = wl
	h.cfg.WarmStart = true
	h.cfg.Only = "*-b1-*"
	sum, err := h.run(t)
	if err != nil || sum.OK != 1 {
		t.Fatalf("%+v %v\n%s", sum, err, h.progress)
	}
	rec := readRun(t, filepath.Join(sum.Dir, "runs", runID(1, "eager")))
	if rec.Launch != "" || slices.ContainsFunc(rec.CleanCommand, func(a string) bool { return strings.HasSuffix(a, LaunchScript) }) {
		t.Errorf("launch %q, clean %q: want executed", rec.Launch, rec.CleanCommand)
	}
	if !slices.ContainsFunc(rec.Warnings, func(w string) bool { return strings.Contains(w, "warm start unavailable") }) {
		t.Errorf("warnings %q", rec.Warnings)
	}
}
