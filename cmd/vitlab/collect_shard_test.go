package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"vitlab/etl/parquetout"
	"vitlab/etl/warehouse"
	"vitlab/internal/testfixtures"
)

// shardPlan has three runs that all succeed with the stand-in workload.
const shardPlan = `name: eq
repeats: 1
allow_few_repeats: true
defaults: {patch: 16, depth: 2, hidden: 64, resolution: 32, warmup_batches: 1, timed_batches: 2, batch_size: 1}
matrix:
  depth: [2, 4, 6]
`

// TestShardedSameWarehouse collects one plan twice with the stand-ins, on
// one host in one process and as three shards side by side (--gpus 0,1,2,
// with --warm-start),
// ingests both batch directories in one command, and finds the same runs
// rows, except for what differs by nature between two collections: the
// batch id, times, measured timings, and the GPU (each shard had its own:
// the stand-in workload reports CUDA_VISIBLE_DEVICES as the GPU's uuid).
func TestShardedSameWarehouse(t *testing.T) {
	dir, common, run := standInCollect(t, shardPlan)
	vitlab := func(args ...string) string {
		t.Helper()
		out, _ := run(0, args...)
		return out
	}
	vitlab(append(common, "--batch", "single")...)
	// the shards start warm (each its own warm interpreter, side by side in
	// one process): the rows must not tell
	vitlab(append(common, "--batch", "sharded", "--gpus", "0,1,2", "--warm-start")...)
	if logs, _ := filepath.Glob(filepath.Join(dir, "out", "sharded", "warm-*.log")); len(logs) != 3 {
		t.Errorf("warm interpreter logs %v: want one per shard", logs)
	}
	wh := filepath.Join(dir, "wh")
	out := vitlab("ingest", "--warehouse", wh, filepath.Join(dir, "out", "single"), filepath.Join(dir, "out", "sharded"))
	if !strings.Contains(out, "batch single: 3 runs landed") || !strings.Contains(out, "batch sharded: 3 runs landed") {
		t.Fatalf("ingest of two batch directories in one command:\n%s", out)
	}
	m, err := warehouse.ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	// What legitimately differs between two collections of one plan.
	differs := map[string]bool{"batch_id": true, "started_at": true, "finished_at": true}
	// run_content_sha256 hashes run.json, whose timings and GPU differ too.
	for _, c := range []string{"clean_throughput", "traced_throughput", "compile_s", "timed_images", "gpu_index", "gpu_uuid", "run_content_sha256"} {
		differs[c] = true
	}
	rows := func(table, batch string) map[string]map[string]string {
		out := map[string]map[string]string{}
		for _, f := range m.Batches[batch].Tables[table].Files {
			r, err := parquetout.Open(filepath.Join(wh, f), parquetout.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for rec, err := range r.Records(context.Background()) {
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < int(rec.NumRows()); i++ {
					row := map[string]string{}
					for c, col := range rec.Columns() {
						name := rec.Schema().Field(c).Name
						if differs[name] || strings.HasPrefix(name, "clean_") || strings.HasSuffix(name, "_at") {
							continue
						}
						row[name] = col.(interface{ ValueStr(int) string }).ValueStr(i)
					}
					out[row["run_id"]] = row
				}
			}
			r.Close()
		}
		return out
	}
	single, sharded := rows("runs", "single"), rows("runs", "sharded")
	if len(single) != 3 || len(sharded) != 3 {
		t.Fatalf("runs rows: %d single, %d sharded", len(single), len(sharded))
	}
	for id, a := range single {
		b, ok := sharded[id]
		if !ok {
			t.Errorf("run %s: not in the sharded batch", id)
			continue
		}
		for k, v := range a {
			if b[k] != v {
				t.Errorf("run %s column %s: single %q, sharded %q", id, k, v, b[k])
			}
		}
	}
	for _, tbl := range []string{"kernels", "nvtx", "memcpys", "cuda_api", "clean_windows"} {
		if a, b := m.Batches["single"].Tables[tbl].Rows, m.Batches["sharded"].Tables[tbl].Rows; a != b || a == 0 {
			t.Errorf("table %s: %d rows single, %d sharded", tbl, a, b)
		}
	}
	// batches.hosts: this host, in both.
	host := func(batch string) []string {
		f := m.Batches[batch].Tables["batches"].Files[0]
		r, err := parquetout.Open(filepath.Join(wh, f), parquetout.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var hosts []string
		for rec, err := range r.Records(context.Background()) {
			if err != nil {
				t.Fatal(err)
			}
			i := rec.Schema().FieldIndices("hosts")[0]
			if err := json.Unmarshal([]byte(rec.Column(i).(*array.String).Value(0)), &hosts); err != nil {
				t.Fatal(err)
			}
		}
		return hosts
	}
	if a, b := host("single"), host("sharded"); len(a) != 1 || !slices.Equal(a, b) {
		t.Errorf("batches.hosts: single %v, sharded %v", a, b)
	}
}

// standInCollect writes planYAML into a new directory with a one-node
// sysfs tree and returns that directory, the `vitlab collect` arguments
// that run the plan's full profile there with the stand-in workload and
// nsys (NVML off, batches under dir/out), and a runner of vitlab commands
// that fails the test unless the exit status is want and returns stdout
// and stderr.
func standInCollect(t *testing.T, planYAML string) (string, []string, func(want int, args ...string) (string, string)) {
	t.Helper()
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(planFile, []byte(planYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	sys := filepath.Join(dir, "one", "sys", "devices", "system", "node", "node0")
	os.MkdirAll(sys, 0o755)
	os.WriteFile(filepath.Join(sys, "cpulist"), []byte("0-3\n"), 0o644)
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	fixture := abs(testfixtures.Export("h100_tiny_conv_nvtx.sqlite"))
	run := func(want int, args ...string) (string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		e := &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
		if code := runMain(context.Background(), e, args); code != want {
			t.Fatalf("vitlab %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}
	common := []string{"collect", "--plan", planFile, "--profile", "full", "--nvml=false",
		"--nsys", abs("../../collectors/nsys/testdata/fake-nsys"), "--nsys-env", "FAKE_NSYS_FIXTURE=" + fixture,
		"--workload", abs("../../collectors/runner/testdata/workload"), "--sysfs-root", filepath.Join(dir, "one"),
		"--out", filepath.Join(dir, "out")}
	return dir, common, run
}
