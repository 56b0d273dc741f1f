package slurm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"vitlab/collectors/batchdir"
	"vitlab/internal/testfixtures"
)

// clusterPlan has three runs that succeed; batch_size 5 is the slow one (FAKE_SLEEP) the
// test cancels mid-run.
const clusterPlan = `name: slurmt
repeats: 1
allow_few_repeats: true
defaults: {patch: 16, depth: 2, hidden: 64, resolution: 32, warmup_batches: 1, timed_batches: 2, batch_size: 1}
matrix:
  depth: [2, 4]
include:
  - {batch_size: 5}
`

// TestRealSlurm runs a plan through a real one-node Slurm cluster
// (testdata/cluster.sh: slurmctld, slurmd and munged on loopback) with the
// stand-in nsys and workload: vitlab collect --slurm submits the job array
// and the finalising job; one array task is cancelled (scancel) in the
// middle of its run, so the finaliser leaves the batch unfinished; a
// resubmit (--slurm --batch-dir --resume) redoes only that run and finishes
// the batch, which then ingests with every run once.
//
// It runs under make test-slurm (VITLAB_SLURM=1), as root with Debian's
// slurm-wlm and munge installed (make deps installs them, best effort).
func TestRealSlurm(t *testing.T) {
	if os.Getenv("VITLAB_SLURM") == "" {
		t.Skip("real-Slurm test: run it with make test-slurm (sets VITLAB_SLURM=1; needs root and slurm-wlm + munge)")
	}
	if os.Geteuid() != 0 {
		t.Skip("real-Slurm test skipped: needs root to start slurmd and munged")
	}
	for _, p := range []string{"/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("real-Slurm test skipped: %s missing (apt-get install slurm-wlm munge; make deps tries)", p)
		}
	}
	for _, p := range []string{"sbatch", "squeue", "scancel", "python3", "go"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("real-Slurm test skipped: %s not on PATH", p)
		}
	}
	start := time.Now()
	logf := func(format string, args ...any) {
		t.Logf("%5.1fs "+format, append([]any{time.Since(start).Seconds()}, args...)...)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	cluster := filepath.Join(work, "cluster")
	script := filepath.Join(root, "collectors/slurm/testdata/cluster.sh")
	if out, err := exec.Command(script, "start", cluster).CombinedOutput(); err != nil {
		t.Skipf("real-Slurm test skipped: the cluster did not start: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(script, "stop", cluster).Run() })
	t.Setenv("SLURM_CONF", filepath.Join(cluster, "slurm.conf"))
	logf("cluster up")

	vitlab := filepath.Join(work, "bin", "vitlab")
	build := exec.Command("go", "build", "-tags", "noduckdb", "-o", vitlab, "./cmd/vitlab")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	logf("vitlab built")

	planFile := filepath.Join(work, "plan.yaml")
	if err := os.WriteFile(planFile, []byte(clusterPlan), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "shared")
	fixture, err := filepath.Abs(testfixtures.Export("h100_tiny_conv_nvtx.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	common := []string{"--nvml=false", "--gpus-per-task", "0",
		"--nsys", filepath.Join(root, "collectors/nsys/testdata/fake-nsys"),
		"--nsys-env", "FAKE_NSYS_FIXTURE=" + fixture,
		"--workload", filepath.Join(root, "collectors/runner/testdata/workload")}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(vitlab, args...)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err := cmd.Run()
		logf("vitlab %s\n%s", strings.Join(args, " "), buf.String())
		if err != nil {
			t.Fatalf("vitlab %s: %v", args[0], err)
		}
		return buf.String()
	}
	sub := run(append([]string{"collect", "--slurm", "--plan", planFile, "--profile", "full", "--out", out,
		"--batch", "sl1", "--env", "FAKE_SLEEP=5:120"}, common...)...)
	m := regexp.MustCompile(`submitted array job (\d+) \(3 tasks\) and finalising job (\d+)`).FindStringSubmatch(sub)
	if m == nil {
		t.Fatalf("no job ids in %q", sub)
	}
	arrayJob, finalJob := m[1], m[2]
	batch := filepath.Join(out, "sl1")
	slowRun := "slurmt-p16-d2-h64-r32-b5-eager-sync-q1-cpu-nnone-r1"
	client := Client{}
	ctx := context.Background()

	// Wait until the slow run is under way (its clean phase has started),
	// then cancel the array task that runs it.
	slowTask := ""
	waitFor(t, 90*time.Second, "the slow run to start", func() bool {
		logs, _ := filepath.Glob(filepath.Join(batch, Dir, "task-"+arrayJob+"_*.out"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			if bytes.Contains(b, []byte(slowRun+" …")) {
				slowTask = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(l), "task-"), ".out")
			}
		}
		b, _ := os.ReadFile(filepath.Join(batch, batchdir.RunsDir, slowRun, batchdir.StdoutFile))
		return slowTask != "" && bytes.Contains(b, []byte("clean phase"))
	})
	logf("slow run under way in task %s; scancel %s", slowTask, slowTask)
	if err := client.Cancel(ctx, slowTask); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, "the array and the finalising job to end", func() bool {
		js, err := client.Status(ctx, arrayJob, finalJob)
		return err == nil && len(js) == 0
	})
	logf("array and finaliser ended")
	fin, _ := os.ReadFile(filepath.Join(batch, Dir, "finalize-"+finalJob+".out"))
	logf("finaliser log:\n%s", fin)
	if !strings.Contains(string(fin), "unfinished 1") || !strings.Contains(string(fin), slowRun) {
		t.Errorf("the finaliser does not report the cancelled run unfinished:\n%s", fin)
	}
	b, st, err := batchdir.Scan(batch)
	if err != nil {
		t.Fatal(err)
	}
	if b.Finished != nil || len(st.Unfinished) != 1 || st.Unfinished[0] != slowRun || st.Recorded != 2 {
		t.Fatalf("after the cancel: finished %v, state %+v", b.Finished, st)
	}
	run("collect", "--status", batch)

	// Resubmit: only the cancelled run runs again (the others are kept).
	resub := run(append([]string{"collect", "--slurm", "--batch-dir", batch, "--resume", "--env", "FAKE_SLEEP=5:1"}, common...)...)
	m = regexp.MustCompile(`submitted array job (\d+) \(3 tasks\) and finalising job (\d+)`).FindStringSubmatch(resub)
	if m == nil {
		t.Fatalf("no job ids in %q", resub)
	}
	arrayJob, finalJob = m[1], m[2]
	waitFor(t, 90*time.Second, "the resubmitted jobs to end", func() bool {
		js, err := client.Status(ctx, arrayJob, finalJob)
		return err == nil && len(js) == 0
	})
	fin, _ = os.ReadFile(filepath.Join(batch, Dir, "finalize-"+finalJob+".out"))
	logf("resubmitted; finaliser log:\n%s", fin)
	b, st, err = batchdir.Scan(batch)
	if err != nil {
		t.Fatal(err)
	}
	if b.Finished == nil || !st.Complete() || st.Recorded != 3 || st.ByStatus[batchdir.StatusOK] != 3 {
		t.Fatalf("after the resubmit: finished %v, state %+v", b.Finished, st)
	}
	kept := 0
	logs, _ := filepath.Glob(filepath.Join(batch, Dir, "task-"+arrayJob+"_*.out"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		kept += strings.Count(string(data), "kept 1")
	}
	if kept != 2 {
		t.Errorf("the resubmit kept %d runs, want 2 (only the cancelled one runs again)", kept)
	}
	// The cancelled attempt left nothing behind: one clean and one traced
	// phase in the redone run's log.
	slowLog, _ := os.ReadFile(filepath.Join(batch, batchdir.RunsDir, slowRun, batchdir.StdoutFile))
	if n := strings.Count(string(slowLog), "==> vitlab clean phase"); n != 1 {
		t.Errorf("the redone run's stdout.log has %d clean phases, want 1", n)
	}
	run("collect", "--status", batch)

	wh := filepath.Join(work, "warehouse")
	ing := exec.Command(vitlab, "ingest", "--warehouse", wh, batch)
	ingOut, err := ing.CombinedOutput()
	logf("vitlab ingest (exit %v)\n%s", err, ingOut)
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	var man struct {
		Batches map[string]struct {
			Runs   int `json:"runs"`
			Tables map[string]struct {
				Rows int64 `json:"rows"`
			} `json:"tables"`
		} `json:"batches"`
	}
	mb, err := os.ReadFile(filepath.Join(wh, "_manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mb, &man); err != nil {
		t.Fatal(err)
	}
	got := man.Batches["sl1"]
	logf("warehouse: batch sl1: %d runs loaded; rows: runs %d, kernels %d", got.Runs, got.Tables["runs"].Rows, got.Tables["kernels"].Rows)
	// Every run once: three runs rows, and three copies of the stand-in's
	// export.
	if got.Tables["runs"].Rows != 3 || got.Runs != 3 || got.Tables["kernels"].Rows == 0 || got.Tables["kernels"].Rows%3 != 0 {
		t.Errorf("warehouse batch sl1: %+v", got)
	}
	fmt.Fprintf(os.Stderr, "real-Slurm test: %.1fs\n", time.Since(start).Seconds())
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
