package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"vitlab/collectors/batchdir"
	"vitlab/collectors/nsys"
	"vitlab/collectors/plan"

	"vitlab/internal/testfixtures"
)

// fixture is a real nsys export the stand-in nsys "exports".
var fixture = testfixtures.Export("h100_tiny_conv_nvtx.sqlite")

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// sysfs writes a sysfs-shaped tree: one node (GPU node unknown) or two
// nodes with the GPU on node 1.
func sysfs(t *testing.T, nodes int) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{}
	if nodes == 1 {
		files["sys/devices/system/node/node0/cpulist"] = "0-15"
		files["sys/devices/system/node/node0/distance"] = "10"
		files["sys/bus/pci/devices/0000:17:00.0/numa_node"] = "-1"
	} else {
		files["sys/devices/system/node/node0/cpulist"] = "0-7"
		files["sys/devices/system/node/node0/distance"] = "10 21"
		files["sys/devices/system/node/node1/cpulist"] = "8-15"
		files["sys/devices/system/node/node1/distance"] = "21 10"
		files["sys/bus/pci/devices/0000:17:00.0/numa_node"] = "1"
		files["sys/bus/pci/devices/0000:17:00.0/local_cpulist"] = "8-15"
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// fakeSampler writes one sample when started and one when stopped.
type fakeSampler struct {
	w     io.Writer
	n     int
	phase string
}

func (s *fakeSampler) line() {
	w := 300.0
	b, _ := json.Marshal(batchdir.Sample{UnixNs: time.Now().UnixNano(), PowerW: &w, Phase: s.phase})
	s.w.Write(append(b, '\n'))
	s.n++
}

func (s *fakeSampler) Stop() (int, error) { s.line(); return s.n, nil }

type harness struct {
	energy   atomic.Int64
	cfg      Config
	out      string
	progress *bytes.Buffer
	numaLog  string
}

func newHarness(t *testing.T, planYAML string, nodes int) *harness {
	t.Helper()
	for _, tool := range []string{"python3", "sh", "sleep"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found", tool)
		}
	}
	if _, err := os.Stat(fixture); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(planFile, []byte(planYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	pl, err := plan.Load(planFile)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{out: filepath.Join(dir, "out"), progress: &bytes.Buffer{}, numaLog: filepath.Join(dir, "numactl.log")}
	h.cfg = Config{
		Plan: pl, PlanFile: planFile, Profile: "full", OutDir: h.out,
		Python:      "python3",
		WorkloadDir: abs(t, "testdata/workload"),
		Nsys: &nsys.Tool{Path: abs(t, "../nsys/testdata/fake-nsys"),
			Env: []string{"FAKE_NSYS_FIXTURE=" + abs(t, fixture), "LD_LIBRARY_PATH=/tmp/dw"}},
		Numactl: abs(t, "testdata/fake-numactl"),
		SysRoot: sysfs(t, nodes),
		Host:    "testhost",
		Version: "test",
		Env:     []string{"FAKE_NUMACTL_LOG=" + h.numaLog},
		GPUs: func() ([]batchdir.GPU, error) {
			return []batchdir.GPU{{Index: 0, Name: "Fake GPU", UUID: "GPU-fake-0", BusID: "0000:17:00.0", Driver: "999.1"}}, nil
		},
		StartSampler: func(index int, every time.Duration, phase string, w io.Writer) (Stopper, error) {
			s := &fakeSampler{w: w, phase: phase}
			s.line()
			return s, nil
		},
		// The energy counter grows by 1 J at each reading.
		ReadEnergy: func() (int64, error) { return h.energy.Add(1000), nil },
		Progress:   h.progress,
		Stdout:     io.Discard,
		KillGrace:  300 * time.Millisecond,
		Timeout:    harnessTimeout,
		Now:        func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) },
	}
	return h
}

func (h *harness) run(t *testing.T) (*Summary, error) {
	t.Helper()
	return Run(context.Background(), h.cfg)
}

func readRun(t *testing.T, dir string) *batchdir.Run {
	t.Helper()
	r, err := batchdir.ReadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// behaviourPlan asks the stand-in workload for each behaviour, one run each.
const behaviourPlan = `name: beh
rq: rq0
labels: {purpose: test}
repeats: 1
allow_few_repeats: true
defaults: {patch: 16, depth: 2, hidden: 64, resolution: 32, warmup_batches: 1, timed_batches: 2}
matrix:
  batch_size: [1, 2, 3, 4, 6, 7]
include:
  - {batch_size: 5, compile_mode: default}
`

func runID(b int, compile string) string {
	return fmt.Sprintf("beh-p16-d2-h64-r32-b%d-%s-sync-q1-cpu-nnone-r1", b, compile)
}

func TestFailuresTimeoutAndResume(t *testing.T) {
	h := newHarness(t, behaviourPlan, 1)
	sum, err := h.run(t)
	if err != nil {
		t.Fatalf("%v\n%s", err, h.progress)
	}
	bdir := filepath.Join(h.out, "beh-full-testhost-20261126T120000")
	if sum.Dir != bdir || sum.Total != 7 || sum.OK != 2 || sum.Failed != 4 || sum.Timeout != 1 || sum.Failures() != 5 {
		t.Fatalf("summary %+v\n%s", sum, h.progress)
	}
	b, err := batchdir.ReadBatch(bdir)
	if err != nil {
		t.Fatal(err)
	}
	if b.Finished == nil || b.Runs != 7 || b.Plan != "beh" || b.Profile != "full" || b.Host != "testhost" ||
		b.Software.Nsys != "2099.1.1.1-fake" || b.Software.Torch != "2.99.0+fake" || len(b.GPUs) != 1 || b.NUMA.Source != "sysfs" {
		t.Errorf("batch.json %+v", b)
	}
	if copied, _ := os.ReadFile(filepath.Join(bdir, PlanCopy)); string(copied) != behaviourPlan {
		t.Error("plan.yaml is not a copy of the plan")
	}
	rd := func(b int, compile string) string { return filepath.Join(bdir, "runs", runID(b, compile)) }

	// 1: ok, with everything in place.
	ok := readRun(t, rd(1, "eager"))
	if ok.Status != batchdir.StatusOK || ok.Error != "" || ok.Export != "trace.sqlite.zst" || ok.ExportBytes <= 0 {
		t.Errorf("run 1: %+v", ok)
	}
	// Where its wall time went: both phases ran a process (the fake
	// workload's interpreter takes well over a millisecond).
	if ps := ok.PhaseSeconds; ps == nil || ps.Clean <= 0 || ps.Traced <= 0 || ps.Export < 0 {
		t.Errorf("run 1 phase seconds %+v", ps)
	}
	if ok.Effective == nil || deref(ok.Effective.Model) != "fake_vit" || deref(ok.Effective.CleanRepeats) != 3 || ok.Requested.Model != nil {
		t.Errorf("run 1 effective %+v requested %+v", ok.Effective, ok.Requested)
	}
	if ok.Timings.CleanThroughput == nil || *ok.Timings.CleanThroughput != 101 || *ok.Timings.TracedThroughput != 91 ||
		ok.Timings.TimedImages != 2 || len(ok.Timings.CleanThroughputRuns) != 3 || ok.Timings.PeakMemBytes != 1<<30 {
		t.Errorf("run 1 timings %+v", ok.Timings)
	}
	if ok.NUMA.Placement != "unknown" || ok.NUMA.GPUNode != nil || ok.GPU.UUID != "GPU-fake-0" || len(ok.Warnings) != 0 || len(ok.Mismatch) != 0 {
		t.Errorf("run 1 placement/gpu/warnings: %+v %+v %q", ok.NUMA, ok.GPU, ok.Warnings)
	}
	if st, err := os.Stat(filepath.Join(rd(1, "eager"), "run.json")); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("run.json mode: %v %v", st.Mode(), err)
	}
	if ok.Labels["purpose"] != "test" || ok.RQ != "rq0" || ok.Name != strings.TrimSuffix(ok.ID, "-r1") || ok.FinishedAt == nil {
		t.Errorf("run 1 labels/ids: %+v", ok)
	}
	if ok.Command[0] != h.cfg.Nsys.Path || !slices.Contains(ok.Command, "--") || ok.CleanCommand[0] != "python3" {
		t.Errorf("run 1 commands %q / %q", ok.Command, ok.CleanCommand)
	}
	for _, f := range []string{"request.json", "result.clean.json", "result.traced.json", "stdout.log", "stderr.log", "nvml.jsonl.zst", "trace.sqlite.zst"} {
		if _, err := os.Stat(filepath.Join(rd(1, "eager"), f)); err != nil {
			t.Errorf("run 1: %v", err)
		}
	}
	for _, f := range []string{"trace.nsys-rep", "trace.sqlite", "nvml.jsonl"} {
		if _, err := os.Stat(filepath.Join(rd(1, "eager"), f)); err == nil {
			t.Errorf("run 1: %s left behind", f)
		}
	}
	var req Request
	if data, err := os.ReadFile(filepath.Join(rd(1, "eager"), "request.json")); err != nil || json.Unmarshal(data, &req) != nil ||
		req.RunID != ok.ID || !reflect.DeepEqual(req.Settings, ok.Requested) || deref(req.Settings.Heads) != 1 || deref(req.Settings.MLP) != 256 {
		t.Errorf("request.json %+v", req)
	}
	var env map[string]string
	data, _ := os.ReadFile(filepath.Join(rd(1, "eager"), "env.traced"))
	json.Unmarshal(data, &env)
	if env["CUDA_VISIBLE_DEVICES"] != "GPU-fake-0" || env["CUDA_DEVICE_ORDER"] != "PCI_BUS_ID" || !strings.HasPrefix(env["LD_LIBRARY_PATH"], "/tmp/dw") {
		t.Errorf("traced env %v", env)
	}
	data, _ = os.ReadFile(filepath.Join(rd(1, "eager"), "env.clean"))
	json.Unmarshal(data, &env)
	if strings.Contains(env["LD_LIBRARY_PATH"], "/tmp/dw") {
		t.Errorf("clean phase got nsys's environment: %v", env)
	}
	// An ok run keeps its samples compressed (nvml.jsonl.zst).
	samples, err := readZst(filepath.Join(rd(1, "eager"), "nvml.jsonl.zst"))
	if err != nil || strings.Count(string(samples), "\n") != 4 || strings.Count(string(samples), `"phase":"clean"`) != 2 ||
		strings.Count(string(samples), `"phase":"traced"`) != 2 {
		t.Errorf("nvml.jsonl.zst: both phases sampled, each sample with its phase: %q %v", samples, err)
	}
	// Windows: the workload's three clean windows with the energy read at
	// their markers (1 J between two readings), the traced window too;
	// stdout.log still has every line, markers included.
	if len(ok.Windows) != 3 || ok.TracedWindow == nil {
		t.Fatalf("run 1 windows %+v traced %+v", ok.Windows, ok.TracedWindow)
	}
	for i, w := range ok.Windows {
		if w.Index != i || w.EnergyMJ == nil || *w.EnergyMJ != 1000 || w.EnergySource != batchdir.EnergyNVML ||
			w.Throughput == nil || w.Batches == nil || *w.Batches != 2 || w.EndUnixNs <= w.StartUnixNs || *w.LatencyP99Ms != 3 {
			t.Errorf("run 1 window %d: %+v", i, w)
		}
	}
	if tw := ok.TracedWindow; tw.EnergyMJ == nil || *tw.EnergyMJ != 1000 {
		t.Errorf("traced window %+v", tw)
	}
	if log, _ := os.ReadFile(filepath.Join(rd(1, "eager"), "stdout.log")); strings.Count(string(log), "VITLAB_WINDOW ") != 8 ||
		!strings.Contains(string(log), "fake workload") {
		t.Errorf("stdout.log: %s", log)
	}
	if c := ok.CPUs; c == nil || c.Count < 1 || c.Source != "affinity" || c.WorkloadAllowed == nil || *c.WorkloadAllowed != c.Count {
		t.Errorf("run 1 cpus %+v", c)
	}

	// 2: the clean phase fails; the error quotes the workload and stderr,
	// and the traced phase never runs.
	r2 := readRun(t, rd(2, "eager"))
	if r2.Status != batchdir.StatusFailed || !strings.Contains(r2.Error, "clean phase: exit status 1: RuntimeError: fake failure") ||
		!strings.Contains(r2.Error, "stderr (end):") || !strings.Contains(r2.Error, "fake failure in the clean phase") || r2.Effective != nil {
		t.Errorf("run 2: %+v", r2)
	}
	if _, err := os.Stat(filepath.Join(rd(2, "eager"), "result.traced.json")); err == nil {
		t.Error("run 2: the traced phase ran after a failed clean phase")
	}

	// 3: the traced phase hangs: timeout, and the whole process group is gone.
	r3 := readRun(t, rd(3, "eager"))
	if r3.Status != batchdir.StatusTimeout || !strings.Contains(r3.Error, fmt.Sprintf("timeout: the run exceeded %s in the traced phase", harnessTimeout)) {
		t.Errorf("run 3: %+v", r3)
	}
	pids, err := os.ReadFile(filepath.Join(rd(3, "eager"), "hang.pids"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(pids)) {
		pid, _ := strconv.Atoi(f)
		if pid > 0 && syscall.Kill(pid, 0) == nil {
			// A zombie (exited, not yet reaped by init) is dead enough.
			if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(st), ") Z ") {
				t.Errorf("run 3: process %d survived the timeout", pid)
			}
		}
	}

	// 4: the phases disagree: failed, not labelled with either.
	r4 := readRun(t, rd(4, "eager"))
	if r4.Status != batchdir.StatusFailed || !strings.Contains(r4.Error, "clean and traced phases ran different settings") ||
		!strings.Contains(r4.Error, "resolution 32→64") || r4.Effective != nil || r4.Export != "" {
		t.Errorf("run 4: %+v", r4)
	}

	// 5: ok, but compile_mode was not what the plan asked.
	r5 := readRun(t, rd(5, "default"))
	if r5.Status != batchdir.StatusOK || !slices.Equal(r5.Mismatch, []string{"compile_mode"}) ||
		deref(r5.Effective.CompileMode) != "eager" || deref(r5.Requested.CompileMode) != "default" ||
		len(r5.Warnings) != 1 || !strings.Contains(r5.Warnings[0], "compile_mode default→eager") {
		t.Errorf("run 5: %+v", r5)
	}

	// A compiled run's phases share one compile cache, removed after the
	// run; an eager run gets none.
	if env["compile_cache"] != "" {
		t.Errorf("eager run got a compile cache: %v", env)
	}
	var env5c, env5t map[string]string
	data, _ = os.ReadFile(filepath.Join(rd(5, "default"), "env.clean"))
	json.Unmarshal(data, &env5c)
	data, _ = os.ReadFile(filepath.Join(rd(5, "default"), "env.traced"))
	json.Unmarshal(data, &env5t)
	if c := env5c["compile_cache"]; c == "" || c != env5t["compile_cache"] || strings.HasPrefix(c, sum.Dir) {
		t.Errorf("run 5: compile caches clean %q traced %q, want one shared path outside the batch", c, env5t["compile_cache"])
	} else if _, err := os.Stat(c); err == nil {
		t.Errorf("run 5: compile cache %s left behind", c)
	}

	// 6: ok false with exit status 0.
	r6 := readRun(t, rd(6, "eager"))
	if r6.Status != batchdir.StatusFailed || !strings.Contains(r6.Error, "traced phase: exit status 0 but the workload reports failure: fake: gave up") {
		t.Errorf("run 6: %+v", r6)
	}
	// 7: no result at all.
	r7 := readRun(t, rd(7, "eager"))
	if r7.Status != batchdir.StatusFailed || !strings.Contains(r7.Error, "wrote no result.clean.json") {
		t.Errorf("run 7: %+v", r7)
	}
	if !strings.Contains(h.progress.String(), "[7/7]") || !strings.Contains(h.progress.String(), "ETA") {
		t.Errorf("progress:\n%s", h.progress)
	}

	// Without --resume the same batch is refused.
	if _, err := h.run(t); !errors.Is(err, ErrBatchExists) {
		t.Fatalf("rerun without resume: %v", err)
	}

	// Resume: run 1 is kept untouched, run 2 now succeeds, the rest run again.
	h.cfg.Resume = true
	h.cfg.Env = append(h.cfg.Env, "FAKE_FIXED=1")
	h.cfg.Only = ""
	h.progress.Reset()
	sum, err = h.run(t)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Kept != 2 || sum.OK != 1 || sum.Failed != 3 || sum.Timeout != 1 {
		t.Errorf("resume summary %+v\n%s", sum, h.progress)
	}
	if again := readRun(t, rd(1, "eager")); !again.StartedAt.Equal(ok.StartedAt) {
		t.Error("resume re-ran a run that was ok")
	}
	if log, _ := os.ReadFile(filepath.Join(rd(1, "eager"), "stdout.log")); strings.Count(string(log), "==> vitlab clean phase") != 1 {
		t.Error("resume appended to an ok run's log")
	}
	if r2 := readRun(t, rd(2, "eager")); r2.Status != batchdir.StatusOK {
		t.Errorf("resumed run 2: %+v", r2)
	}
	if log, _ := os.ReadFile(filepath.Join(rd(2, "eager"), "stderr.log")); strings.Contains(string(log), "fake failure in the clean phase") {
		t.Error("the retried run kept the failed attempt's log")
	}
	b2, _ := batchdir.ReadBatch(bdir)
	if !b2.StartedAt.Equal(b.StartedAt) || b2.Finished == nil {
		t.Errorf("resumed batch.json %+v", b2)
	}

	// Resume refuses a changed plan.
	os.WriteFile(h.cfg.PlanFile, []byte(behaviourPlan+"# edited\n"), 0o644)
	if _, err := h.run(t); err == nil || !strings.Contains(err.Error(), "the plan file differs") {
		t.Errorf("changed plan: %v", err)
	}
}

const numaPlan = `name: rq4
repeats: 1
allow_few_repeats: true
defaults: {patch: 16, depth: 2, hidden: 64, resolution: 32, batch_size: 1, warmup_batches: 1, timed_batches: 1}
matrix:
  numa: [none, local, remote]
`

func TestNUMATwoNodes(t *testing.T) {
	h := newHarness(t, numaPlan, 2)
	sum, err := h.run(t)
	if err != nil || sum.OK != 3 {
		t.Fatalf("%+v %v\n%s", sum, err, h.progress)
	}
	dir := filepath.Join(sum.Dir, "runs")
	want := map[string]struct{ placement, node string }{
		"nnone": {"unknown", ""}, "nlocal": {"local", "1"}, "nremote": {"remote", "0"},
	}
	for tok, w := range want {
		r := readRun(t, filepath.Join(dir, "rq4-p16-d2-h64-r32-b1-eager-sync-q1-cpu-"+tok+"-r1"))
		if r.NUMA.Placement != w.placement || r.NUMA.CPUNodes != w.node || r.NUMA.MemNodes != w.node || r.NUMA.GPUNode == nil || *r.NUMA.GPUNode != 1 {
			t.Errorf("%s: %+v", tok, r.NUMA)
		}
		if w.node != "" && (r.Command[0] != h.cfg.Numactl || r.CleanCommand[1] != "--cpunodebind="+w.node || r.Command[3] != h.cfg.Nsys.Path) {
			t.Errorf("%s: commands %q %q", tok, r.CleanCommand, r.Command)
		}
	}
	log, _ := os.ReadFile(h.numaLog)
	// clean and traced phase of local (node 1) and remote (node 0).
	if got := strings.Fields(string(log)); len(got) != 8 || strings.Count(string(log), "--cpunodebind=1 --membind=1") != 2 ||
		strings.Count(string(log), "--cpunodebind=0 --membind=0") != 2 {
		t.Errorf("numactl calls:\n%s", log)
	}
	b, _ := batchdir.ReadBatch(sum.Dir)
	if len(b.NUMA.Nodes) != 2 || b.GPUs[0].NUMANode == nil || *b.GPUs[0].NUMANode != 1 || b.GPUs[0].CPUAffinity != "8-15" {
		t.Errorf("batch NUMA %+v GPUs %+v", b.NUMA, b.GPUs)
	}
}

// TestNUMAOneNodeRemoteUnavailable: on a one-node host where nothing is
// known about the GPU's node, local cannot be bound: the run says nnone
// (what happened) and merges with the numa-none run; remote is recorded
// as nunavailable, not run.
func TestNUMAOneNodeRemoteUnavailable(t *testing.T) {
	h := newHarness(t, numaPlan, 1)
	h.cfg.GPUs = nil // no NVML: nothing known about the GPU
	h.cfg.StartSampler = nil
	h.cfg.ReadEnergy = nil
	h.cfg.Warnings = []string{"NVML unavailable: libnvidia-ml.so.1 not found"}
	sum, err := h.run(t)
	if err != nil || sum.Total != 2 || sum.OK != 1 || sum.Unavailable != 1 || sum.Failures() != 0 {
		t.Fatalf("%+v %v\n%s", sum, err, h.progress)
	}
	dir := filepath.Join(sum.Dir, "runs")
	r := readRun(t, filepath.Join(dir, "rq4-p16-d2-h64-r32-b1-eager-sync-q1-cpu-nunavailable-r1"))
	if r.Status != batchdir.StatusUnavailable || !strings.Contains(r.Error, "the host has one NUMA node") ||
		r.Effective != nil || r.Export != "" || len(r.Command) != 0 || r.NUMA.Requested != "remote" {
		t.Errorf("remote: %+v", r)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, r.ID)); len(ents) != 1 {
		t.Errorf("an unavailable run left %d files; want only run.json", len(ents))
	}
	l := readRun(t, filepath.Join(dir, "rq4-p16-d2-h64-r32-b1-eager-sync-q1-cpu-nnone-r1"))
	if l.Status != batchdir.StatusOK || l.NUMA.Placement != "unknown" || l.NUMA.CPUNodes != "" || l.CleanCommand[0] != "python3" ||
		l.NUMA.Requested != "none" {
		t.Errorf("none: %+v", l)
	}
	if l.GPU.UUID != "0" || l.GPU.Name != "Fake GPU" {
		t.Errorf("GPU from the workload when NVML is missing: %+v", l.GPU)
	}
	for _, f := range []string{"nvml.jsonl", "nvml.jsonl.zst"} {
		if _, err := os.Stat(filepath.Join(dir, l.ID, f)); err == nil {
			t.Errorf("%s written without NVML", f)
		}
	}
	if !slices.ContainsFunc(l.Warnings, func(w string) bool { return strings.Contains(w, "energy counter unavailable") }) ||
		len(l.Windows) != 3 || l.Windows[0].EnergyMJ != nil {
		t.Errorf("without NVML: windows without energy and a warning: %q %+v", l.Warnings, l.Windows)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("%d run directories, want 2", len(ents))
	}
	b, _ := batchdir.ReadBatch(sum.Dir)
	if len(b.Warnings) != 2 || !strings.Contains(b.Warnings[0], "NVML unavailable") || b.GPUs == nil ||
		!strings.Contains(b.Warnings[1], "-nlocal-r1 (numa local) is the same as rq4-p16-d2-h64-r32-b1-eager-sync-q1-cpu-nnone-r1 on this host") {
		t.Errorf("batch warnings %q gpus %v", b.Warnings, b.GPUs)
	}

	// The RQ4 plan's own shape (local and remote only): the IDs say nnone
	// and nunavailable, never nlocal, and the request is recorded.
	h = newHarness(t, strings.Replace(numaPlan, "[none, local, remote]", "[local, remote]", 1), 1)
	h.cfg.GPUs = nil
	var out bytes.Buffer
	h.cfg.DryRun, h.cfg.Stdout = true, &out
	if _, err := h.run(t); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); strings.Contains(got, "nlocal") || !strings.Contains(got, "-nnone-r1  model=- numa=local ") ||
		!strings.Contains(got, "-nunavailable-r1  model=- numa=remote ") || !strings.Contains(got, "placement: unknown, unbound") {
		t.Errorf("dry run:\n%s", got)
	}
}

func TestDryRun(t *testing.T) {
	h := newHarness(t, numaPlan, 2)
	var out bytes.Buffer
	h.cfg.DryRun = true
	h.cfg.Stdout = &out
	h.cfg.Only = "*-nlocal-*"
	sum, err := h.run(t)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total != 1 {
		t.Errorf("summary %+v", sum)
	}
	if _, err := os.Stat(h.out); err == nil {
		t.Error("dry run created the output directory")
	}
	got := out.String()
	for _, want := range []string{
		"batch rq4-full-testhost-20261126T120000: plan rq4, profile full, 1 of 3 runs (3 configurations × 1 repeats)",
		"rq4-p16-d2-h64-r32-b1-eager-sync-q1-cpu-nlocal-r1  model=- numa=local patch=16",
		"  placement: local, cpus and memory on node 1",
		"  clean:  " + h.cfg.Numactl + " --cpunodebind=1 --membind=1 python3 " + h.cfg.WorkloadDir + "/vit_workload.py --request " + sum.Dir + "/runs/rq4-p16-d2-h64-r32-b1-eager-sync-q1-cpu-nlocal-r1/request.json",
		"  traced: " + h.cfg.Numactl + " --cpunodebind=1 --membind=1 " + h.cfg.Nsys.Path + " profile -t cuda,nvtx --sample=none --cpuctxsw=none --force-overwrite=true -o " + sum.Dir + "/runs/rq4-p16-d2-h64-r32-b1-eager-sync-q1-cpu-nlocal-r1/trace -- python3",
		"env: FAKE_NUMACTL_LOG=",
		"CUDA_VISIBLE_DEVICES=GPU-fake-0 CUDA_DEVICE_ORDER=PCI_BUS_ID PYTHONUNBUFFERED=1",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("dry run lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "nremote") {
		t.Error("--only did not filter")
	}
	h.cfg.Only = "[bad"
	if _, err := h.run(t); err == nil {
		t.Error("bad glob: want an error")
	}
	h.cfg.Only = "nothing*"
	if _, err := h.run(t); err == nil || !strings.Contains(err.Error(), "matches none") {
		t.Errorf("empty selection: %v", err)
	}
}

func TestInterrupt(t *testing.T) {
	h := newHarness(t, behaviourPlan, 1)
	h.cfg.Only = "*-b3-*"
	h.cfg.Timeout = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Interrupt once the traced phase is under way (the clean phase
		// has written its result), however slow the machine.
		for i := 0; i < 600; i++ {
			if m, _ := filepath.Glob(filepath.Join(h.out, "*", "runs", "*", "result.clean.json")); len(m) > 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	sum, err := Run(ctx, h.cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Error("the interrupt did not stop the hanging run promptly")
	}
	// The interrupted run is left unfinished (its folder, no run.json), so
	// --resume redoes it.
	rdir := filepath.Join(sum.Dir, "runs", runID(3, "eager"))
	if _, err := os.Stat(rdir); err != nil {
		t.Errorf("interrupted run's folder: %v", err)
	}
	if _, err := batchdir.ReadRun(rdir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("interrupted run has a run.json: %v", err)
	}
	if !strings.Contains(h.progress.String(), "left unfinished") {
		t.Errorf("progress does not say the run is left unfinished:\n%s", h.progress)
	}
	b, _ := batchdir.ReadBatch(sum.Dir)
	if b.Finished != nil {
		t.Error("an interrupted batch is marked finished")
	}
}

func TestPreflight(t *testing.T) {
	h := newHarness(t, numaPlan, 2)
	h.cfg.Numactl = ""
	t.Setenv("PATH", "/nonexistent")
	h.cfg.Python = "/usr/bin/env" // exists; the check under test is numactl's
	if _, err := h.run(t); err == nil || !strings.Contains(err.Error(), "needs numactl") {
		t.Errorf("no numactl: %v", err)
	}
	h.cfg.Numactl = abs(t, "testdata/fake-numactl")
	h.cfg.WorkloadDir = t.TempDir()
	if _, err := h.run(t); err == nil || !strings.Contains(err.Error(), "vit_workload.py not found") {
		t.Errorf("no workload: %v", err)
	}
	h.cfg.WorkloadDir = abs(t, "testdata/workload")
	h.cfg.Nsys = nil
	if _, err := h.run(t); !errors.Is(err, nsys.ErrNotFound) {
		t.Errorf("no nsys: %v", err)
	}
	if _, err := os.Stat(h.out); err == nil {
		t.Error("a failed preflight created the batch directory")
	}
	h.cfg.GPU = 3
	if _, err := h.run(t); err == nil || !strings.Contains(err.Error(), "the host has 1 GPU") {
		t.Errorf("bad --gpu: %v", err)
	}
}

func TestFindWorkload(t *testing.T) {
	root := t.TempDir()
	wl := filepath.Join(root, "collectors", "workload")
	os.MkdirAll(wl, 0o755)
	os.WriteFile(filepath.Join(wl, WorkloadScript), []byte("#"), 0o644)
	deep := filepath.Join(root, "a", "b")
	os.MkdirAll(deep, 0o755)
	if got, err := FindWorkload("", deep); err != nil || got != wl {
		t.Errorf("got %q %v", got, err)
	}
	if _, err := FindWorkload(t.TempDir()); !errors.Is(err, errNoWorkload) {
		t.Errorf("got %v", err)
	}
}

func TestSettingsDiff(t *testing.T) {
	p := batchdir.Ptr[int]
	q := batchdir.Ptr[string]
	req := batchdir.Settings{Patch: p(16), CompileMode: q("default"), Pipeline: q("async"), QueueDepth: p(4), WarmupBatches: p(0)}
	eff := batchdir.Settings{Patch: p(16), CompileMode: q("eager"), Pipeline: q("async"), QueueDepth: p(2), Model: q("timm_vit"), CPUWorkers: p(8), WarmupBatches: p(10)}
	if d := settingsDiff(req, eff, true); !slices.Equal(d, []string{"compile_mode default→eager", "queue_depth 4→2", "warmup_batches 0→10"}) {
		t.Errorf("requested vs effective: %q", d)
	}
	if d := settingsDiff(req, eff, false); len(d) != 5 || d[0] != "model null→timm_vit" {
		t.Errorf("full diff: %q", d)
	}
}

// TestImporterFailureStopsBatch checks that when nsys cannot import
// captures (libdw missing), which every run would meet alike, the batch
// stops after the first run with the cause, unfinished, ready for --resume.
func TestImporterFailureStopsBatch(t *testing.T) {
	h := newHarness(t, behaviourPlan, 1)
	h.cfg.Only = "*-b1-*"
	h.cfg.Nsys.Env = append(h.cfg.Nsys.Env, "FAKE_NSYS_IMPORTER_FAIL=1")
	sum, err := h.run(t)
	if err == nil || !errors.Is(err, nsys.ErrImporter) || !strings.Contains(err.Error(), "libdw.so.1") || !strings.Contains(err.Error(), "--resume --batch") {
		t.Fatalf("got %v", err)
	}
	r := readRun(t, filepath.Join(sum.Dir, "runs", runID(1, "eager")))
	if r.Status != batchdir.StatusFailed || !strings.Contains(r.Error, "export: ") {
		t.Errorf("run: %+v", r)
	}
	if b, _ := batchdir.ReadBatch(sum.Dir); b.Finished != nil {
		t.Error("a stopped batch is marked finished")
	}
}

// harnessTimeout bounds each run of the test harness: long enough for a
// Python start on a loaded 2-core machine (≈2.5 s), short enough for the
// hanging run.
const harnessTimeout = 10 * time.Second

// okPlan has six runs that all succeed with the stand-in workload.
const okPlan = `name: okp
rq: rq0
repeats: 2
allow_few_repeats: true
defaults: {patch: 16, depth: 2, hidden: 64, resolution: 32, warmup_batches: 1, timed_batches: 2, batch_size: 1}
matrix:
  depth: [2, 4, 6]
`

// TestShards prepares a batch, runs it as three shards (two at once, the
// third after), and finishes it: every run once, hosts merged, and the
// batch finished only when every shard is done.
func TestShards(t *testing.T) {
	h := newHarness(t, okPlan, 1)
	h.cfg.BatchID = "sharded"
	h.cfg.Shards = 3
	prep, err := Prepare(context.Background(), h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if prep.Total != 6 {
		t.Fatalf("prepared %+v", prep)
	}
	shard := func(i int, host string) error {
		c := h.cfg
		c.Shard, c.Join, c.Host = i, true, host
		s, err := Run(context.Background(), c)
		if err == nil && (s.Total != 2 || s.OK != 2) {
			err = fmt.Errorf("shard %d: %+v", i, s)
		}
		return err
	}
	errs := make(chan error, 2)
	go func() { errs <- shard(0, "node-a") }()
	go func() { errs <- shard(1, "node-b") }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("%v\n%s", err, h.progress)
		}
	}
	if _, err := batchdir.Finalize(prep.Dir, time.Now()); !errors.Is(err, batchdir.ErrRunsLeft) {
		t.Fatalf("finalize with a shard left: %v", err)
	}
	if err := shard(2, "node-a"); err != nil {
		t.Fatal(err)
	}
	st, err := batchdir.Finalize(prep.Dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.ByStatus[batchdir.StatusOK] != 6 || st.Recorded != 6 || st.Hosts["node-a"] != 4 || st.Hosts["node-b"] != 2 {
		t.Errorf("state %+v", st)
	}
	b, err := batchdir.ReadBatch(prep.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.Finished == nil || !slices.Equal(b.Hosts, []string{"node-a", "node-b"}) || b.Shards != 3 || b.Runs != 6 || b.Software.Torch == "" {
		t.Errorf("batch.json %+v", b)
	}
	// A shard run again keeps its ok runs.
	c := h.cfg
	c.Shard, c.Join, c.Host = 1, true, "node-c"
	s, err := Run(context.Background(), c)
	if err != nil || s.Kept != 2 || s.OK != 0 {
		t.Errorf("rerun of a done shard: %+v %v", s, err)
	}
}

// readZst reads a zstd-compressed file whole.
func readZst(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec, err := zstd.NewReader(f)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	return io.ReadAll(dec)
}
