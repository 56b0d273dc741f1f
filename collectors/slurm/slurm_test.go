package slurm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScripts(t *testing.T) {
	o := Options{BatchDir: "/shared/b 1", BatchID: "b1", Tasks: 5, MaxParallel: 2, Partition: "gpu", Account: "proj",
		Time: "1:00:00", GPUsPerTask: 1, Vitlab: "/shared/bin/vitlab", ShardArgs: []string{"--env", "A=it's"}, Env: []string{"X=1"}}
	if err := o.Check(); err != nil {
		t.Fatal(err)
	}
	a := o.Array()
	for _, want := range []string{
		"#SBATCH --array=0-4%2\n", "#SBATCH --partition=gpu\n", "#SBATCH --account=proj\n", "#SBATCH --time=1:00:00\n",
		"#SBATCH --gpus-per-task=1\n", "#SBATCH --output='/shared/b 1/slurm/task-%A_%a.out'\n", "export X=1\n",
		`exec /shared/bin/vitlab collect --batch-dir '/shared/b 1' --shard "${SLURM_ARRAY_TASK_ID}" --of 5 --env 'A=it'\''s'` + "\n",
	} {
		if !strings.Contains(a, want) {
			t.Errorf("array script lacks %q:\n%s", want, a)
		}
	}
	f := o.Finalize()
	if !strings.Contains(f, "exec /shared/bin/vitlab collect --finalize '/shared/b 1'\n") || strings.Contains(f, "--array") || strings.Contains(f, "gpus") {
		t.Errorf("finalize script:\n%s", f)
	}
	for _, bad := range []Options{{Tasks: 0, BatchDir: "/b", Vitlab: "/v"}, {Tasks: 1, BatchDir: "b", Vitlab: "/v"}, {Tasks: 1, BatchDir: "/b", Vitlab: "/v", Env: []string{"1X=2"}}} {
		if bad.Check() == nil {
			t.Errorf("%+v passes Check", bad)
		}
	}
}

// TestSubmitAndStatus against stand-ins for sbatch, squeue and sacct.
func TestSubmitAndStatus(t *testing.T) {
	bin, _ := filepath.Abs("testdata/fakebin")
	dir := t.TempDir()
	log := filepath.Join(dir, "slurm.log")
	t.Setenv("FAKE_SLURM_LOG", log)
	c := Client{Bin: bin}
	o := Options{BatchDir: dir, BatchID: "b1", Tasks: 3, Vitlab: "/v/vitlab"}
	s, err := c.Submit(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if s.ArrayJob != "101" || s.FinalizeJob != "102" || s.Tasks != 3 {
		t.Errorf("submission %+v", s)
	}
	got, _ := os.ReadFile(log)
	want := "sbatch --parsable " + filepath.Join(dir, Dir, ArrayScript) + "\n" +
		"sbatch --parsable --dependency=afterany:101 --kill-on-invalid-dep=no " + filepath.Join(dir, Dir, FinalizeScript) + "\n"
	if string(got) != want {
		t.Errorf("sbatch calls:\n%s\nwant\n%s", got, want)
	}
	j, err := ReadJobs(dir)
	if err != nil || len(j.Submissions) != 1 || j.Submissions[0].ArrayJob != "101" {
		t.Fatalf("jobs.json %+v %v", j, err)
	}
	js, err := c.Status(context.Background(), "101", "102")
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 3 || js[0] != (Job{ID: "101_0", State: "RUNNING", Nodes: "node7"}) || js[2].ID != "102" {
		t.Errorf("status %+v", js)
	}
}
