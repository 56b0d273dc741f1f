package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"vitlab/collectors/batchdir"
	"vitlab/etl/normalize"
	"vitlab/etl/nsysdb/nsysdbtest"
	"vitlab/etl/warehouse"
	"vitlab/schemas"
)

func run(t *testing.T, req Request) (*Summary, error) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	req.Allocator = mem
	if req.Jobs == 0 {
		req.Jobs = 3
	}
	return Run(context.Background(), req)
}

// TestFixturesLand ingests every fixture export (one of them compressed)
// with the real loader and checks the warehouse against the SQLite files:
// rows and Σ(end-start) per table and run, schemas stored in the files,
// runs rows.
func TestFixturesLand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	var exports []string
	for i, f := range fixtures(t) {
		dst := filepath.Join(in, filepath.Base(f))
		if i == 0 {
			dst = compressFile(t, dst+".zst", f)
		} else {
			copyFile(t, dst, f)
		}
		exports = append(exports, dst)
	}
	wh := filepath.Join(dir, "wh")
	var failures []Failure
	var phases []string
	sum, err := run(t, Request{Warehouse: wh, Paths: []string{in}, BatchID: "fx",
		OnFailure: func(f Failure) { failures = append(failures, f) },
		OnProgress: func(p Progress) {
			if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
				phases = append(phases, p.Phase)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(failures) > 0 || len(sum.Failed) > 0 {
		t.Fatalf("failures: %v", failures)
	}
	if !sum.Committed || sum.Runs != len(exports) || sum.Generation != 1 {
		t.Fatalf("summary %+v", sum)
	}
	if want := []string{"hashing", "loading", "compacting", "committing"}; !slices.Equal(phases, want) {
		t.Fatalf("phases %v, want %v", phases, want)
	}

	var events int64
	for _, table := range []string{"kernels", "memcpys", "memsets", "cuda_api", "nvtx"} {
		got := whStats(t, wh, "fx", table)
		for _, e := range exports {
			src := e
			if strings.HasSuffix(e, ".zst") {
				src = filepath.Join(fixtureDir, strings.TrimSuffix(filepath.Base(e), ".zst"))
			}
			want := sourceStats(t, src, table)
			if g := got[runIDOf(e)]; g != want {
				t.Errorf("%s %s: warehouse %+v, export %+v", filepath.Base(e), table, g, want)
			}
			events += want.Rows
		}
	}
	if sum.Events != events {
		t.Errorf("summary says %d events, the exports hold %d", sum.Events, events)
	}

	// One file per table, every table, and the runs rows.
	m, err := warehouse.ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	for _, tbl := range schemas.All() {
		if n := len(m.Batches["fx"].Tables[tbl.Name].Files); n != 1 {
			t.Errorf("table %s: %d files, want 1", tbl.Name, n)
		}
		whStats(t, wh, "fx", tbl.Name) // checks the stored schema
	}
	runs := readRows(t, wh, "fx", "runs")
	if len(runs) != len(exports) {
		t.Fatalf("%d runs rows, want %d", len(runs), len(exports))
	}
	slices.Sort(exports)
	kernels := whStats(t, wh, "fx", "kernels")
	for _, r := range runs {
		id := r["run_id"].(string)
		i := slices.IndexFunc(exports, func(e string) bool { return runIDOf(e) == id })
		if i < 0 {
			t.Fatalf("runs row of unknown run %s", id)
		}
		if r["status"] != "ok" || r["export_sha256"] != sha256File(t, exports[i]) || r["source_file"] != filepath.Base(exports[i]) {
			t.Errorf("run %s: status %v sha %v source %v", id, r["status"], r["export_sha256"], r["source_file"])
		}
		if r["kernels"] != kernels[id].Rows || r["gpu_samples"] != int64(0) {
			t.Errorf("run %s: kernels %v (warehouse %d), gpu_samples %v", id, r["kernels"], kernels[id].Rows, r["gpu_samples"])
		}
		// The 2020.3 export has no metadata table, so no version.
		if (r["nsys_version"] == nil) != strings.HasPrefix(id, "quasiben") || r["export_bytes"] == nil {
			t.Errorf("run %s: nsys_version %v export_bytes %v", id, r["nsys_version"], r["export_bytes"])
		}
	}
	b := readRows(t, wh, "fx", "batches")
	if len(b) != 1 || b[0]["source"] != SourceExports || b[0]["runs"] != int64(len(exports)) ||
		b[0]["failed_inputs"] != int64(0) || b[0]["content_sha256"] != sum.ContentSHA256 {
		t.Fatalf("batches row %v", b)
	}
	if left, _ := os.ReadDir(filepath.Join(wh, warehouse.StagingDir)); len(left) != 0 {
		t.Fatalf("staging left: %v", left)
	}
}

// badInputs writes one of each kind of bad export into dir.
func badInputs(t *testing.T, dir string) []string {
	t.Helper()
	good := filepath.Join(fixtureDir, "h100_tiny_conv_nvtx.sqlite")
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := write("empty.sqlite", nil)
	truncated := write("truncated.sqlite", data[:len(data)/2])
	text := write("text.sqlite", []byte(strings.Repeat("this is not a database\n", 100)))
	notNsys := filepath.Join(dir, "notnsys.sqlite")
	if err := nsysdbtest.Exec(notNsys, "CREATE TABLE t(x INTEGER)", "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	zst := compressFile(t, filepath.Join(dir, "corrupt.sqlite.zst"), good)
	zb, err := os.ReadFile(zst)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(zb) / 3; i < len(zb)/3+64; i++ {
		zb[i] ^= 0xFF
	}
	write("corrupt.sqlite.zst", zb)
	damaged := copyFile(t, filepath.Join(dir, "damaged.sqlite"), good)
	ps, pages, err := nsysdbtest.Pages(damaged, "CUPTI_ACTIVITY_KIND_RUNTIME")
	if err != nil {
		t.Fatal(err)
	}
	if err := nsysdbtest.OverwritePage(damaged, ps, pages[len(pages)/2]); err != nil {
		t.Fatal(err)
	}
	return []string{empty, truncated, text, notNsys, zst, damaged}
}

// TestBadInputsSetAside mixes every kind of bad export with good ones: each
// bad one is reported once, naming its file; the good ones land; the
// manifest lists the failures; no row of a bad one is in the warehouse.
func TestBadInputsSetAside(t *testing.T) {
	dir := t.TempDir()
	bad := badInputs(t, filepath.Join(dir))
	good := []string{
		copyFile(t, filepath.Join(dir, "good1.sqlite"), filepath.Join(fixtureDir, "Lianhang666_gpu4_report2.sqlite")),
		copyFile(t, filepath.Join(dir, "good2.sqlite"), filepath.Join(fixtureDir, "h100_tiny_conv_nvtx.sqlite")),
	}
	wh := filepath.Join(dir, "wh")
	var reported []Failure
	var staged map[string]int64
	sum, err := run(t, Request{Warehouse: wh, Paths: append(slices.Clone(bad), good...), BatchID: "mixed",
		OnFailure: func(f Failure) { reported = append(reported, f) },
		OnProgress: func(p Progress) {
			if p.Phase == "compacting" && staged == nil {
				staged = spooledRuns(t, wh)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	// The damaged export fails at cuda_api, after its devices and kernels
	// were appended to the spools: setting it aside must not need them gone.
	if staged["damaged"] == 0 || staged["good2"] == 0 {
		t.Fatalf("rows in the spools by run: %v; the damaged export should have staged rows before failing", staged)
	}
	if sum.Runs != 2 || len(sum.Failed) != len(bad) || len(reported) != len(bad) {
		t.Fatalf("runs %d, failed %v, reported %v", sum.Runs, sum.Failed, reported)
	}
	sortedBad := slices.Sorted(slices.Values(bad))
	m, err := warehouse.ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	failed := m.Batches["mixed"].Failed
	for i, f := range sum.Failed {
		if f.Path != sortedBad[i] || failed[i].Path != sortedBad[i] {
			t.Errorf("failure %d: %s (manifest %s), want %s", i, f.Path, failed[i].Path, sortedBad[i])
		}
		if !errors.Is(f.Err, normalize.ErrMalformedExport) {
			t.Errorf("%s: %v does not wrap ErrMalformedExport", f.Path, f.Err)
		}
		r := Reason(f)
		if r == "" || strings.Contains(r, "\n") || failed[i].Error != r {
			t.Errorf("%s: reason %q, manifest %q", f.Path, r, failed[i].Error)
		}
		t.Logf("%s: %s", filepath.Base(f.Path), r)
	}
	for _, table := range []string{"devices", "kernels", "cuda_api", "nvtx", "runs"} {
		for id := range whStats(t, wh, "mixed", table) {
			if id != "good1" && id != "good2" {
				t.Errorf("table %s has rows of run %s", table, id)
			}
		}
	}
	for _, g := range good {
		want := sourceStats(t, g, "cuda_api")
		if got := whStats(t, wh, "mixed", "cuda_api")[runIDOf(g)]; got != want {
			t.Errorf("%s: cuda_api %+v, want %+v", g, got, want)
		}
	}
	if b := readRows(t, wh, "mixed", "batches"); b[0]["failed_inputs"] != int64(len(bad)) {
		t.Errorf("batches.failed_inputs = %v", b[0]["failed_inputs"])
	}

	// Only bad inputs: nothing is committed.
	wh2 := filepath.Join(dir, "wh2")
	sum, err = run(t, Request{Warehouse: wh2, Paths: bad, BatchID: "allbad"})
	if !errors.Is(err, ErrNothingLanded) || len(sum.Failed) != len(bad) {
		t.Fatalf("all bad: %v, %+v", err, sum)
	}
	if m, err := warehouse.ReadManifest(wh2); err != nil || len(m.Batches) != 0 {
		t.Fatalf("all bad: manifest %v, %v", m, err)
	}
}

// TestReingest: identical content is a no-op that touches no file; other
// content under the same id is refused, and lands with Replace, its old
// files gone.
func TestReingest(t *testing.T) {
	dir := t.TempDir()
	a := copyFile(t, filepath.Join(dir, "in", "a.sqlite"), filepath.Join(fixtureDir, "Lianhang666_gpu4_report2.sqlite"))
	wh := filepath.Join(dir, "wh")
	first, err := run(t, Request{Warehouse: wh, Paths: []string{a}})
	if err != nil {
		t.Fatal(err)
	}
	if !first.DerivedID || !strings.HasPrefix(first.BatchID, "exports-") || first.BatchID != "exports-"+first.ContentSHA256[:12] {
		t.Fatalf("derived id %q (content %s)", first.BatchID, first.ContentSHA256)
	}
	before := listFiles(t, wh)
	time.Sleep(20 * time.Millisecond)
	again, err := run(t, Request{Warehouse: wh, Paths: []string{a}})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Unchanged || again.Committed || again.BatchID != first.BatchID {
		t.Fatalf("re-ingest: %+v", again)
	}
	if after := listFiles(t, wh); !mapsEqual(before, after) {
		t.Fatalf("a no-op re-ingest touched files:\nbefore %v\nafter  %v", before, after)
	}

	// Labels change the content: under a given id, refused, then replaced.
	l1, _ := ParseLabels([]string{"patch=16"})
	if _, err := run(t, Request{Warehouse: wh, Paths: []string{a}, BatchID: "b", Labels: l1}); err != nil {
		t.Fatal(err)
	}
	oldFiles := tableFiles(listFiles(t, wh))
	b := copyFile(t, filepath.Join(dir, "in", "b.sqlite"), filepath.Join(fixtureDir, "h100_tiny_conv_nvtx.sqlite"))
	sum, err := run(t, Request{Warehouse: wh, Paths: []string{a, b}, BatchID: "b", Labels: l1})
	if !errors.Is(err, warehouse.ErrBatchChanged) || sum == nil || sum.BatchID != "b" {
		t.Fatalf("changed batch: %v", err)
	}
	if got := tableFiles(listFiles(t, wh)); !slices.Equal(got, oldFiles) {
		t.Fatalf("refused ingest changed files: %v", got)
	}
	sum, err = run(t, Request{Warehouse: wh, Paths: []string{a, b}, BatchID: "b", Labels: l1, Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Committed || !sum.Replaced || sum.Generation != 2 || sum.Runs != 2 {
		t.Fatalf("replace: %+v", sum)
	}
	m, _ := warehouse.ReadManifest(wh)
	if got := m.Batches["b"].Tables["kernels"].Files; !slices.Equal(got, []string{"kernels/" + schemas.PartitionDir + "b/part-0002.parquet"}) {
		t.Fatalf("replaced kernels files %v", got)
	}
	for _, f := range oldFiles {
		if strings.Contains(f, schemas.PartitionDir+"b/") {
			if _, err := os.Stat(filepath.Join(wh, f)); !os.IsNotExist(err) {
				t.Errorf("old generation file %s still there", f)
			}
		}
	}
	runs := readRows(t, wh, "b", "runs")
	if len(runs) != 2 || runs[0]["patch"] != int64(16) || runs[1]["labels"] != `{"patch":"16"}` {
		t.Fatalf("runs after replace: %v", runs)
	}
	// The batch of the first ingest is untouched.
	if whStats(t, wh, first.BatchID, "kernels")["a"].Rows == 0 {
		t.Fatal("first batch lost its kernels")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestBatchDirectory ingests a collector batch: settings from run.json's
// effective settings, a run the collector recorded as failed, a run
// directory without run.json, NVML samples aligned to the session start.
func TestBatchDirectory(t *testing.T) {
	dir := t.TempDir()
	bd := filepath.Join(dir, "b7")
	started := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	finished := started.Add(time.Hour)
	node := 1
	batch := &batchdir.Batch{ID: "b7", Plan: "rq1", Host: "gpu-host", StartedAt: started, Finished: &finished,
		GPUs:     []batchdir.GPU{{Index: 0, Name: "NVIDIA H100", NUMANode: &node}},
		NUMA:     batchdir.NUMA{Nodes: []batchdir.NUMANode{{ID: 0, CPUs: "0-7"}, {ID: 1, CPUs: "8-15"}}},
		Software: batchdir.Software{Torch: "2.5.0", CUDA: "12.4"}, Runs: 4, Labels: map[string]string{"site": "lab"},
		Filter: "rq1-*", Warnings: []string{"NVML not used", "nsys version unknown"}}
	mkdirs := func(ps ...string) {
		for _, p := range ps {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	r1, r2, r3, r4, r5 := filepath.Join(bd, "runs", "r1"), filepath.Join(bd, "runs", "r2"), filepath.Join(bd, "runs", "r3"),
		filepath.Join(bd, "runs", "r4"), filepath.Join(bd, "runs", "r5")
	mkdirs(r1, r2, r3, r4, r5)
	copyFile(t, filepath.Join(r1, "trace.sqlite"), filepath.Join(fixtureDir, "h100_tiny_conv_nvtx.sqlite"))
	compressFile(t, filepath.Join(r2, "trace.sqlite.zst"), filepath.Join(fixtureDir, "Lianhang666_gpu4_report2.sqlite"))
	thr := 1234.5
	write := func(p string, v any) {
		if err := batchdir.WriteJSON(p, v); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(bd, batchdir.BatchFile), batch)
	write(filepath.Join(r1, batchdir.RunFile), &batchdir.Run{ID: "cfg-a-1", RQ: "rq1", Name: "cfg-a", Repeat: 1, Status: "ok",
		Requested: batchdir.Settings{Patch: pi(16), Depth: pi(12), CompileMode: ps("max-autotune"), WarmupBatches: pi(0)},
		Effective: &batchdir.Settings{Patch: pi(16), Depth: pi(12), Hidden: pi(768), Heads: pi(12), BatchSize: pi(32), CompileMode: ps("default"),
			Pipeline: ps("sync"), CPUWorkers: pi(0), WarmupBatches: pi(0), MinWindowS: batchdir.Ptr(2.0), CUDNNBenchmark: batchdir.Ptr(false)},
		CPUs: &batchdir.CPUBudget{Allowed: "0-15", Count: 16, Source: "affinity", WorkloadAllowed: pi(12)},
		Windows: []batchdir.Window{
			{Index: 0, StartUnixNs: 1e18, EndUnixNs: 1e18 + 2e9, Batches: pi(40), Images: batchdir.Ptr[int64](1280), Throughput: batchdir.Ptr(640.0),
				LatencyP50Ms: batchdir.Ptr(3.5), EnergyMJ: batchdir.Ptr[int64](700500), EnergySource: batchdir.EnergyNVML},
			{Index: 1, StartUnixNs: 1e18 + 3e9, EndUnixNs: 1e18 + 5e9, Batches: pi(41)},
		},
		NUMA: batchdir.Placement{CPUNodes: "1", MemNodes: "1", GPUNode: &node, Placement: "local"},
		GPU:  batchdir.GPU{Index: 0, Name: "NVIDIA H100", UUID: "GPU-1", PowerLimitMW: batchdir.Ptr[int64](700_000)},
		Timings: batchdir.Timings{CleanThroughput: &thr, TimedImages: 3200,
			ForwardBoundImgS: batchdir.Ptr(10470.25), PrepBoundImgS: batchdir.Ptr(7132.5)},
		StartedAt: started.Add(time.Minute)})
	write(filepath.Join(r2, batchdir.RunFile), &batchdir.Run{ID: "cfg-b-1", Name: "cfg-b", Status: "ok", StartedAt: started,
		Requested: batchdir.Settings{Resolution: pi(512)}, Effective: &batchdir.Settings{Resolution: pi(512), BatchSize: pi(8)},
		Mismatch: []string{"batch_size"}, Warnings: []string{"batch_size 16 → 8: out of memory"}})
	write(filepath.Join(r5, batchdir.RunFile), &batchdir.Run{ID: "cfg-e-1", Status: batchdir.StatusUnavailable,
		Error: "remote NUMA placement on a one-node host"})
	write(filepath.Join(r3, batchdir.RunFile), &batchdir.Run{ID: "cfg-c-1", Name: "cfg-c", Status: "failed", Error: "CUDA out of memory",
		Effective: &batchdir.Settings{Patch: pi(8), Hidden: pi(1280)}})
	// r4 has no run.json.

	// The session start of r1's export, to write NVML samples around it.
	wh := filepath.Join(dir, "wh")
	incomplete := *batch
	incomplete.Finished = nil
	write(filepath.Join(bd, batchdir.BatchFile), &incomplete)
	if _, err := run(t, Request{Warehouse: wh, Paths: []string{bd}}); !errors.Is(err, batchdir.ErrIncomplete) {
		t.Fatalf("incomplete batch: err = %v", err)
	}
	if _, err := os.Stat(wh); !os.IsNotExist(err) {
		t.Fatal("a refused incomplete batch created the warehouse")
	}
	sum, err := run(t, Request{Warehouse: wh, Paths: []string{bd}, AllowIncomplete: true})
	if err != nil {
		t.Fatal(err)
	}
	runs := readRows(t, wh, "b7", "runs")
	start, ok := runs[0]["session_start_utc_ns"].(int64)
	if !ok {
		t.Fatalf("the export of r1 has no session start: %v", runs[0])
	}

	// Now the complete batch with samples: it is other content, so replace.
	write(filepath.Join(bd, batchdir.BatchFile), batch)
	nvml := `{"unix_ns":` + itoa(start+1000) + `,"gpu":0,"sm_clock_mhz":1980,"power_w":312.5,"mem_used_bytes":1024,"energy_mj":5000,"phase":"clean","clocks_event_reasons":4,"cpu_canary_ns":28412}
{"unix_ns":` + itoa(start+2000) + `,"gpu":0,"temp_c":55}

{"unix_ns":` + itoa(start-500) + `,"gpu":1}
`
	if err := os.WriteFile(filepath.Join(r1, batchdir.NVMLFile), []byte(nvml), 0o644); err != nil {
		t.Fatal(err)
	}
	var reported []Failure
	sum, err = run(t, Request{Warehouse: wh, Paths: []string{bd}, Replace: true,
		OnFailure: func(f Failure) { reported = append(reported, f) }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.BatchID != "b7" || sum.Runs != 2 || sum.CollectorFailed != 2 || len(sum.Failed) != 1 ||
		sum.Failed[0].Path != r4 || len(reported) != 1 {
		t.Fatalf("summary %+v", sum)
	}
	m, _ := warehouse.ReadManifest(wh)
	if f := m.Batches["b7"].Failed; len(f) != 1 || f[0].Path != "runs/r4" || !strings.Contains(f[0].Error, "no run.json") {
		t.Fatalf("manifest failures %+v", f)
	}
	if m.Batches["b7"].Source != SourceCollector || m.Batches["b7"].Runs != 4 {
		t.Fatalf("manifest batch %+v", m.Batches["b7"])
	}

	runs = readRows(t, wh, "b7", "runs")
	if len(runs) != 4 {
		t.Fatalf("%d runs rows, want 4", len(runs))
	}
	a, b, c, e := runs[0], runs[1], runs[2], runs[3]
	wantA := map[string]any{"run_id": "cfg-a-1", "rq": "rq1", "name": "cfg-a", "repeat": int64(1), "status": "ok",
		"patch": int64(16), "depth": int64(12), "hidden": int64(768), "heads": int64(12), "batch_size": int64(32),
		"compile_mode": "default", "pipeline": "sync", "mismatch": "compile_mode", "numa_cpu": "1", "numa_mem": "1",
		"gpu_numa": int64(1), "numa_placement": "local", "gpu_name": "NVIDIA H100", "gpu_uuid": "GPU-1", "gpu_index": int64(0),
		"torch": "2.5.0", "cuda": "12.4", "clean_throughput": 1234.5, "timed_images": int64(3200), "gpu_samples": int64(3),
		"source_file": "runs/r1/trace.sqlite", "labels": `{"site":"lab"}`, "mlp": nil, "error": nil,
		"cpu_workers": int64(0), "warmup_batches": int64(0), "min_window_s": 2.0, "cudnn_benchmark": false, "cpus_allowed": int64(12),
		"timed_batches": nil, "decoder": nil, "forward_bound_img_s": 10470.25, "prep_bound_img_s": 7132.5,
		"gpu_power_limit_w": 700.0,
		"kernels":       sourceStats(t, filepath.Join(r1, "trace.sqlite"), "kernels").Rows,
		"export_sha256": sha256File(t, filepath.Join(r1, "trace.sqlite"))}
	for k, v := range wantA {
		if a[k] != v {
			t.Errorf("runs[cfg-a-1].%s = %#v, want %#v", k, a[k], v)
		}
	}
	if b["run_id"] != "cfg-b-1" || b["source_file"] != "runs/r2/trace.sqlite.zst" || b["patch"] != nil || b["gpu_samples"] != int64(0) ||
		b["forward_bound_img_s"] != nil || b["prep_bound_img_s"] != nil || b["gpu_power_limit_w"] != nil ||
		b["mismatch"] != "batch_size" || !strings.HasPrefix(fmt.Sprint(b["warnings"]), "batch_size 16 → 8: out of memory") ||
		b["kernels"] != sourceStats(t, filepath.Join(fixtureDir, "Lianhang666_gpu4_report2.sqlite"), "kernels").Rows {
		t.Errorf("runs[cfg-b-1] = %v", b)
	}
	if c["run_id"] != "cfg-c-1" || c["status"] != "failed" || c["error"] != "CUDA out of memory" || c["patch"] != int64(8) ||
		c["kernels"] != int64(0) || c["nvtx"] != int64(0) || c["export_sha256"] != nil {
		t.Errorf("runs[cfg-c-1] = %v", c)
	}
	if e["run_id"] != "cfg-e-1" || e["status"] != "unavailable" || e["error"] != "remote NUMA placement on a one-node host" || e["cuda_api"] != int64(0) {
		t.Errorf("runs[cfg-e-1] = %v", e)
	}

	// clean_windows: r1's two windows; energy in J where the counter was read.
	wins := readRows(t, wh, "b7", "clean_windows")
	if len(wins) != 2 || wins[0]["run_id"] != "cfg-a-1" || wins[0]["window"] != int64(0) || wins[0]["duration_ns"] != int64(2e9) ||
		wins[0]["energy_j"] != 700.5 || wins[0]["images"] != int64(1280) || wins[0]["throughput"] != 640.0 ||
		wins[1]["energy_j"] != nil || wins[1]["batches"] != int64(41) || wins[1]["throughput"] != nil {
		t.Errorf("clean_windows = %v", wins)
	}

	samples := readRows(t, wh, "b7", "gpu_samples")
	if len(samples) != 3 {
		t.Fatalf("%d gpu_samples, want 3", len(samples))
	}
	slices.SortFunc(samples, func(x, y map[string]any) int { return int(x["unix_ns"].(int64) - y["unix_ns"].(int64)) })
	if samples[0]["t"] != int64(-500) || samples[1]["t"] != int64(1000) || samples[2]["t"] != int64(2000) ||
		samples[1]["sm_clock_mhz"] != int64(1980) || samples[1]["power_w"] != 312.5 || samples[1]["temp_c"] != nil ||
		samples[2]["temp_c"] != int64(55) || samples[0]["gpu_index"] != int64(1) || samples[0]["run_id"] != "cfg-a-1" ||
		samples[1]["energy_mj"] != int64(5000) || samples[1]["phase"] != "clean" || samples[2]["energy_mj"] != nil || samples[2]["phase"] != nil ||
		samples[1]["clocks_event_reasons"] != int64(4) || samples[2]["clocks_event_reasons"] != nil || samples[0]["clocks_event_reasons"] != nil ||
		samples[1]["cpu_canary_ns"] != int64(28412) || samples[2]["cpu_canary_ns"] != nil || samples[0]["cpu_canary_ns"] != nil {
		t.Errorf("gpu_samples %v", samples)
	}
	br := readRows(t, wh, "b7", "batches")[0]
	if br["source"] != SourceCollector || br["plan"] != "rq1" || br["host"] != "gpu-host" || br["numa_nodes"] != int64(2) ||
		br["finished_at"] != finished || br["runs"] != int64(4) || br["failed_inputs"] != int64(1) || br["labels"] != `{"site":"lab"}` ||
		br["filter"] != "rq1-*" || br["warnings"] != "NVML not used\nnsys version unknown" {
		t.Errorf("batches row %v", br)
	}

	// A malformed nvml.jsonl sets its run aside, naming the line.
	if err := os.WriteFile(filepath.Join(r1, batchdir.NVMLFile), []byte("{\"unix_ns\": 1}\n{broken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err = run(t, Request{Warehouse: wh, Paths: []string{bd}, Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Failed) != 2 || sum.Failed[0].Path != filepath.Join(r1, "trace.sqlite") || !strings.Contains(sum.Failed[0].Err.Error(), "nvml.jsonl:2") {
		t.Fatalf("bad nvml: %+v", sum.Failed)
	}
	// Its export's rows were staged before nvml.jsonl failed; none landed.
	for _, table := range []string{"devices", "kernels", "cuda_api", "nvtx", "gpu_samples", "runs"} {
		got := whStats(t, wh, "b7", table)
		if got["cfg-a-1"].Rows != 0 {
			t.Errorf("table %s has %d rows of the run set aside", table, got["cfg-a-1"].Rows)
		}
		if table == "kernels" && got["cfg-b-1"].Rows == 0 {
			t.Errorf("table kernels lost the rows of cfg-b-1")
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestSameRowsWhateverJobs ingests the same exports with 1 job (plenty of
// disk: plain spools) and 5 jobs (a full disk: LZ4 spools): every table
// holds the same rows in the same order (runs in run id order, each run's
// rows as the loader wrote them), although the loads finish in another
// order; and each job appends to one spool per table, whatever the number
// of exports.
func TestSameRowsWhateverJobs(t *testing.T) {
	defer func(f func(*warehouse.Staging) (int64, error)) { freeSpace = f }(freeSpace)
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	for i, f := range fixtures(t) {
		for k := range 2 {
			copyFile(t, filepath.Join(in, fmt.Sprintf("x%d-%d-%s", k, i, filepath.Base(f))), f)
		}
	}
	whs := map[int]string{}
	spoolBytes := map[int]int64{}
	for _, jobs := range []int{1, 5} {
		free := int64(1 << 40)
		if jobs == 5 {
			free = 0
		}
		freeSpace = func(*warehouse.Staging) (int64, error) { return free, nil }
		wh := filepath.Join(dir, fmt.Sprintf("wh%d", jobs))
		whs[jobs] = wh
		var spools []string
		if _, err := run(t, Request{Warehouse: wh, Paths: []string{in}, BatchID: "d", Jobs: jobs,
			OnProgress: func(p Progress) {
				if p.Phase == "compacting" && spools == nil {
					spools, _ = filepath.Glob(filepath.Join(wh, warehouse.StagingDir, "*", "spool", "*.arrow"))
					for _, p := range spools {
						if fi, err := os.Stat(p); err == nil {
							spoolBytes[jobs] += fi.Size()
						}
					}
				}
			}}); err != nil {
			t.Fatal(err)
		}
		perTable := map[string]int{}
		for _, p := range spools {
			name := strings.TrimSuffix(filepath.Base(p), ".arrow")
			perTable[name[strings.LastIndex(name, ".")+1:]]++
		}
		for table, n := range perTable {
			if n > jobs {
				t.Errorf("jobs %d: %d spools of table %s", jobs, n, table)
			}
		}
		if perTable["kernels"] == 0 {
			t.Errorf("jobs %d: no kernels spool among %v", jobs, spools)
		}
	}
	if spoolBytes[5]*2 > spoolBytes[1] {
		t.Errorf("LZ4 spools take %d bytes, plain ones %d", spoolBytes[5], spoolBytes[1])
	}
	for _, tbl := range schemas.All() {
		a, b := orderedRows(t, whs[1], "d", tbl.Name), orderedRows(t, whs[5], "d", tbl.Name)
		if tbl == schemas.Batches {
			for _, r := range append(a, b...) {
				delete(r, "ingested_at")
			}
		}
		if len(a) == 0 && tbl != schemas.GPUSamples && tbl != schemas.CleanWindows { // bare exports have neither
			t.Errorf("table %s: no rows", tbl.Name)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("table %s: the rows differ between 1 and 5 jobs (%d and %d rows)", tbl.Name, len(a), len(b))
		}
	}
	// Runs come in run id order.
	var ids []string
	for _, r := range orderedRows(t, whs[5], "d", "kernels") {
		if id := r["run_id"].(string); len(ids) == 0 || ids[len(ids)-1] != id {
			ids = append(ids, id)
		}
	}
	if !slices.IsSorted(ids) || len(ids) < 10 {
		t.Errorf("kernels runs in file order: %v", ids)
	}
}

// TestSpoolOptions: spools are plain while their projected size (3 bytes
// per SQLite byte, a .sqlite.zst byte counting 4) fits in half the free
// space, LZ4 beyond or when the free space is unknown; runs the collector
// recorded as failed count nothing.
func TestSpoolOptions(t *testing.T) {
	defer func(f func(*warehouse.Staging) (int64, error)) { freeSpace = f }(freeSpace)
	st, err := warehouse.NewStaging(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if free, err := st.Free(); err != nil || free <= 0 {
		t.Fatalf("Free() = %d, %v", free, err)
	}
	in := &Inputs{Runs: []*RunInput{{Export: "a.sqlite"}, {Export: "b.sqlite.zst"}, {RunID: "failed"}}}
	hashes := map[string]fileHash{"a.sqlite": {Size: 100}, "b.sqlite.zst": {Size: 10}} // 3×100 + 3×4×10 = 420
	for _, tc := range []struct {
		free int64
		lz4  bool
	}{{840, false}, {839, true}, {1 << 40, false}, {0, true}} {
		freeSpace = func(*warehouse.Staging) (int64, error) { return tc.free, nil }
		if opts := spoolOptions(Request{}, st, in, hashes); opts.LZ4 != tc.lz4 {
			t.Errorf("free %d: LZ4 %v, want %v", tc.free, opts.LZ4, tc.lz4)
		}
	}
	freeSpace = func(*warehouse.Staging) (int64, error) { return 1 << 40, errors.New("statfs: broken") }
	if opts := spoolOptions(Request{}, st, in, hashes); !opts.LZ4 {
		t.Error("unknown free space: plain spools")
	}
}

// pi and ps fill batchdir.Settings.
var (
	pi = batchdir.Ptr[int]
	ps = batchdir.Ptr[string]
)
