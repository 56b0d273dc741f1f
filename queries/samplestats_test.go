package queries

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vitlab/etl/ingest"
)

// sampleStatsDir holds NVIDIA's `nsys stats --format csv` output for three
// exports of the shipped sample batches (made on the GPU host with nsys
// 2025.3.1; data/sample/nsys_stats/README.md says how): a CUDA-graph run
// (torch.compile reduce-overhead, traced with --cuda-graph-trace=node), an
// async pipeline with CPU preprocessing on worker threads, and ViT-B/16 sync.
const sampleStatsDir = "../data/sample/nsys_stats"

// TestNsysStatsOnSample is TestNsysStats over vitlab's own H100 exports,
// which the fixtures do not cover: CUDA graphs, several NVTX threads,
// thousands of ranges.
func TestNsysStatsOnSample(t *testing.T) {
	csvs, _ := filepath.Glob(filepath.Join(sampleStatsDir, "*_cuda_gpu_kern_sum.csv"))
	if len(csvs) == 0 {
		t.Skip("no nsys stats output in " + sampleStatsDir)
	}
	dir := t.TempDir()
	var exports []string
	for _, c := range csvs {
		run := strings.TrimSuffix(filepath.Base(c), "_cuda_gpu_kern_sum.csv")
		// The exports nsys stats read lie beside its output (the batches
		// they came from were replaced in the sample by re-collected ones
		// with the same run ids).
		matches := []string{filepath.Join(sampleStatsDir, run+".sqlite.zst")}
		if _, err := os.Stat(matches[0]); err != nil {
			t.Fatalf("run %s: the export nsys stats read: %v", run, err)
		}
		// Bare exports take their run id from the file name.
		b, err := os.ReadFile(matches[0])
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, run+".sqlite.zst")
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		exports = append(exports, dst)
	}
	statsOn(t, sampleStatsDir, exports)
}

// edgeStatsDir holds exports made on purpose to be unlike the fixtures and
// the sample (an NVTX-only trace, a capture with no events, whole-graph
// CUDA graph rows, every copy kind on two streams and threads), with
// NVIDIA's nsys stats of each; README.md there says how they were made.
const edgeStatsDir = "testdata/nsys_edge"

// TestNsysStatsOnEdgeCases is TestNsysStats over those exports.
func TestNsysStatsOnEdgeCases(t *testing.T) {
	exports, _ := filepath.Glob(filepath.Join(edgeStatsDir, "*.sqlite.zst"))
	if len(exports) < 5 {
		t.Fatalf("%d exports in %s, want 5", len(exports), edgeStatsDir)
	}
	statsOn(t, edgeStatsDir, exports)
}

// statsOn ingests exports (bare, run id = file name) into a fresh
// warehouse and compares every nsys-equivalent saved query with the
// nsys stats CSVs of statsDir, run by run.
func statsOn(t *testing.T, statsDir string, exports []string) {
	ctx := context.Background()
	wh := t.TempDir()
	sum, err := ingest.Run(ctx, ingest.Request{Warehouse: wh, Paths: exports, BatchID: "sample", Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Runs != len(exports) || len(sum.Failed) > 0 {
		t.Fatalf("ingest: %d of %d runs, failed %v", sum.Runs, len(exports), sum.Failed)
	}
	w, err := Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, rep := range reports {
		q, _ := w.Catalog().Query(rep.query)
		res, err := w.Run(ctx, q, nil)
		if err != nil {
			t.Fatalf("%s: %v", rep.query, err)
		}
		byRun := map[string][][]string{}
		for _, row := range res.Rows {
			cells := make([]string, len(row)-2)
			for i, v := range row[2:] {
				cells[i] = FormatValue(v)
			}
			byRun[row[1].(string)] = append(byRun[row[1].(string)], cells)
		}
		header := make([]string, len(res.Columns)-2)
		for i, c := range res.Columns[2:] {
			header[i] = c.Name
		}
		for _, export := range exports {
			run := strings.TrimSuffix(filepath.Base(export), ".sqlite.zst")
			t.Run(run+"/"+rep.report, func(t *testing.T) {
				compareReport(t, statsDir, export, run, rep.report, header, byRun[run])
			})
		}
	}
}
