package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"vitlab/etl/normalize"
	"vitlab/etl/warehouse"
	"vitlab/schemas"
)

// fakeLoader writes n kernels rows per export, where the export file holds
// the text "n"; "bad" is a malformed export, "fire" an I/O failure, and
// "slow" waits for its context.
func fakeLoader(inFlight, peak *atomic.Int32) Loader {
	return func(ctx context.Context, path string, key normalize.RunKey, opts normalize.Options, sink normalize.Sink) (normalize.Result, error) {
		if inFlight != nil {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(30 * time.Millisecond)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return normalize.Result{}, err
		}
		switch s := strings.TrimSpace(string(b)); s {
		case "bad":
			return normalize.Result{}, fmt.Errorf("%s: %w: not good", path, normalize.ErrMalformedExport)
		case "fire":
			return normalize.Result{}, fmt.Errorf("%s: disk on fire", path)
		case "slow":
			<-ctx.Done()
			return normalize.Result{}, ctx.Err()
		case "wrongtable":
			rb := array.NewRecordBuilder(opts.Allocator, schemas.Runs.Schema())
			defer rb.Release()
			rec := rb.NewRecordBatch()
			defer rec.Release()
			return normalize.Result{}, sink.Write(schemas.Runs, rec)
		default:
			var n int
			fmt.Sscan(s, &n)
			rb := array.NewRecordBuilder(opts.Allocator, schemas.Kernels.Schema())
			defer rb.Release()
			for i, f := range schemas.Kernels.Schema().Fields() {
				for j := range n {
					switch fb := rb.Field(i).(type) {
					case *array.StringBuilder:
						switch f.Name {
						case "batch_id":
							fb.Append(key.BatchID)
						case "run_id":
							fb.Append(key.RunID)
						default:
							fb.Append("k")
						}
					case *array.Int32Builder:
						fb.Append(int32(j))
					case *array.Int64Builder:
						fb.Append(int64(j))
					}
				}
			}
			rec := rb.NewRecordBatch()
			defer rec.Release()
			if err := sink.Write(schemas.Kernels, rec); err != nil {
				return normalize.Result{}, err
			}
			return normalize.Result{Rows: map[string]int64{"kernels": int64(n)}}, nil
		}
	}
}

func writeInputs(t *testing.T, dir string, contents map[string]string) []string {
	t.Helper()
	var paths []string
	for name, c := range contents {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestParallelLoadsAndFailures(t *testing.T) {
	dir := t.TempDir()
	in := map[string]string{"e1.sqlite": "5", "e2.sqlite": "bad", "e3.sqlite.zst": "7", "e4.sqlite": "0"}
	for i := range 8 {
		in[fmt.Sprintf("more%d.sqlite", i)] = "1"
	}
	paths := writeInputs(t, dir, in)
	var inFlight, peak atomic.Int32
	wh := filepath.Join(dir, "wh")
	sum, err := run(t, Request{Warehouse: wh, Paths: paths, BatchID: "p", Jobs: 4, Loader: fakeLoader(&inFlight, &peak)})
	if err != nil {
		t.Fatal(err)
	}
	if got := peak.Load(); got < 2 || got > 4 {
		t.Errorf("%d loads at once with Jobs 4", got)
	}
	if sum.Runs != 11 || len(sum.Failed) != 1 || !strings.HasSuffix(sum.Failed[0].Path, "e2.sqlite") || sum.Events != 20 {
		t.Fatalf("summary %+v", sum)
	}
	k := whStats(t, wh, "p", "kernels")
	if k["e1"].Rows != 5 || k["e3"].Rows != 7 || k["e4"].Rows != 0 || k["e2"].Rows != 0 || k["more3"].Rows != 1 {
		t.Fatalf("kernels per run %v", k)
	}
	m, _ := warehouse.ReadManifest(wh)
	if tf := m.Batches["p"].Tables["kernels"]; len(tf.Files) != 1 || tf.Rows != 20 {
		t.Fatalf("kernels: %+v (staged files of 10 runs must compact to one part)", tf)
	}
}

// TestFatalErrorStopsIngest: an error that is not about the input (an I/O
// failure, a loader writing a table it does not own) stops the ingest with
// the warehouse unchanged and no staging left.
func TestFatalErrorStopsIngest(t *testing.T) {
	for _, bad := range []string{"fire", "wrongtable"} {
		t.Run(bad, func(t *testing.T) {
			dir := t.TempDir()
			paths := writeInputs(t, dir, map[string]string{"a.sqlite": "3", "b.sqlite": bad, "c.sqlite": "4"})
			wh := filepath.Join(dir, "wh")
			_, err := run(t, Request{Warehouse: wh, Paths: paths, BatchID: "f", Loader: fakeLoader(nil, nil)})
			if err == nil || errors.Is(err, normalize.ErrMalformedExport) || !strings.Contains(err.Error(), "b.sqlite") {
				t.Fatalf("err = %v", err)
			}
			if _, err := os.Stat(filepath.Join(wh, warehouse.ManifestName)); !os.IsNotExist(err) {
				t.Fatal("a manifest was written")
			}
			if left, _ := os.ReadDir(filepath.Join(wh, warehouse.StagingDir)); len(left) != 0 {
				t.Fatalf("staging left: %v", left)
			}
			for _, tbl := range schemas.All() {
				if _, err := os.Stat(filepath.Join(wh, tbl.Name)); !os.IsNotExist(err) {
					t.Fatalf("table directory %s created", tbl.Name)
				}
			}
		})
	}
}

func TestCancelLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	paths := writeInputs(t, dir, map[string]string{"a.sqlite": "3", "b.sqlite": "slow"})
	wh := filepath.Join(dir, "wh")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	_, err := Run(ctx, Request{Warehouse: wh, Paths: paths, BatchID: "c", Loader: fakeLoader(nil, nil), Allocator: mem})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(wh, warehouse.ManifestName)); !os.IsNotExist(err) {
		t.Fatal("a manifest was written")
	}
	if left, _ := os.ReadDir(filepath.Join(wh, warehouse.StagingDir)); len(left) != 0 {
		t.Fatalf("staging left: %v", left)
	}
}

func TestDiscoverUsage(t *testing.T) {
	dir := t.TempDir()
	mk := func(rel, content string) string {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := mk("x/run1.sqlite", "1")
	b := mk("y/run1.sqlite.zst", "1")
	mk("bd/batch.json", `{"id":"b1"}`)
	mk("empty/readme.txt", "")
	for _, tc := range []struct {
		paths []string
		want  string
	}{
		{nil, "no input"},
		{[]string{filepath.Join(dir, "nope.sqlite")}, "nope.sqlite: no such file or directory"},
		{[]string{a, b}, `have the same run id "run1"`},
		{[]string{a, a}, `have the same run id "run1"`},
		{[]string{filepath.Join(dir, "bd"), a}, "is not a batch directory (no batch.json), but"},
		{[]string{filepath.Join(dir, "empty")}, "no batch.json and no *.sqlite or *.sqlite.zst"},
	} {
		_, err := Discover(tc.paths)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Discover(%v) = %v, want a usage error with %q", tc.paths, err, tc.want)
		}
	}
	in, err := Discover([]string{filepath.Join(dir, "x"), b})
	if err == nil {
		t.Fatalf("duplicate run id across a directory and a file: %+v", in)
	}
	mk("x/run2.sqlite", "2")
	mk("x/notes.txt", "")
	in, err = Discover([]string{filepath.Join(dir, "x")})
	if err != nil || len(in.Runs) != 2 || in.Runs[0].RunID != "run1" || in.Runs[1].RunID != "run2" {
		t.Fatalf("directory of exports: %+v, %v", in, err)
	}
	if in, err := Discover([]string{filepath.Join(dir, "bd")}); err != nil || !in.Incomplete() || in.Source != SourceCollector {
		t.Fatalf("incomplete batch: %+v, %v", in, err)
	}
}

func TestParseLabels(t *testing.T) {
	l, err := ParseLabels([]string{"patch=16", "compile_mode=max-autotune", "clean_throughput=12.5", "started_at=2025-01-02T03:04:05Z", "team=perf", "note=a=b"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 6 || l.columns["patch"] != int32(16) || l.columns["clean_throughput"] != 12.5 || l.columns["compile_mode"] != "max-autotune" {
		t.Fatalf("labels %+v", l)
	}
	if got := l.JSON(); got != `{"clean_throughput":"12.5","compile_mode":"max-autotune","note":"a=b","patch":"16","started_at":"2025-01-02T03:04:05Z","team":"perf"}` {
		t.Fatalf("JSON %s", got)
	}
	for _, tc := range []struct{ in, want string }{
		{"patch=sixteen", "--label patch=sixteen: runs.patch is an integer: invalid syntax"},
		{"patch=99999999999", "value out of range"},
		{"clean_throughput=fast", "runs.clean_throughput is a number"},
		{"started_at=yesterday", "RFC 3339"},
		{"kernels=5", "runs.kernels is filled by ingest"},
		{"run_id=x", "filled by ingest"},
		{"=x", "want key=value"},
		{"novalue", "want key=value"},
	} {
		_, err := ParseLabels([]string{tc.in})
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseLabels(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
	if _, err := ParseLabels([]string{"a=1", "a=2"}); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("duplicate label: %v", err)
	}
}

// barrierLoader wraps a loader so that each load waits until n loads are
// in flight at once (or fails after 5 s): two ingests that hold a lock
// while loading would never meet there.
func barrierLoader(n int32, next Loader) Loader {
	var in atomic.Int32
	all := make(chan struct{})
	return func(ctx context.Context, path string, key normalize.RunKey, opts normalize.Options, sink normalize.Sink) (normalize.Result, error) {
		if in.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(5 * time.Second):
			return normalize.Result{}, fmt.Errorf("%s: only %d of %d loads met", path, in.Load(), n)
		}
		return next(ctx, path, key, opts, sink)
	}
}

// TestTwoIngestsAtOnce runs two ingests on one warehouse whose loads must
// overlap: different batches both land; the same batch twice lands once and
// the other finds it committed when it comes to commit.
func TestTwoIngestsAtOnce(t *testing.T) {
	dir := t.TempDir()
	wh := filepath.Join(dir, "wh")
	a := writeInputs(t, filepath.Join(mkdir(t, dir, "a")), map[string]string{"x.sqlite": "3"})
	b := writeInputs(t, filepath.Join(mkdir(t, dir, "b")), map[string]string{"y.sqlite": "4"})
	both := func(reqs ...Request) []*Summary {
		sums := make([]*Summary, len(reqs))
		errs := make([]error, len(reqs))
		done := make(chan int)
		for i, r := range reqs {
			go func() {
				sums[i], errs[i] = Run(context.Background(), r)
				done <- i
			}()
		}
		for range reqs {
			<-done
		}
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		return sums
	}
	l := barrierLoader(2, fakeLoader(nil, nil))
	sums := both(Request{Warehouse: wh, Paths: a, BatchID: "A", Loader: l}, Request{Warehouse: wh, Paths: b, BatchID: "B", Loader: l})
	if !sums[0].Committed || !sums[1].Committed {
		t.Fatalf("different batches: %+v %+v", sums[0], sums[1])
	}
	l = barrierLoader(2, fakeLoader(nil, nil))
	// a's run is batch A's too: allowed to land again, as the point here is
	// one batch id ingested twice at once.
	sums = both(Request{Warehouse: wh, Paths: a, BatchID: "S", Loader: l, AllowDuplicateRuns: true},
		Request{Warehouse: wh, Paths: a, BatchID: "S", Loader: l, AllowDuplicateRuns: true})
	if sums[0].Committed == sums[1].Committed || sums[0].Unchanged == sums[1].Unchanged {
		t.Fatalf("same batch twice: %+v %+v", sums[0], sums[1])
	}
	m, err := warehouse.ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	if ids := m.BatchIDs(); len(ids) != 3 || m.Batches["S"].Generation != 1 {
		t.Fatalf("batches %v", ids)
	}
	if k := whStats(t, wh, "S", "kernels"); k["x"].Rows != 3 {
		t.Fatalf("S kernels %v", k)
	}
	if left, _ := os.ReadDir(filepath.Join(wh, warehouse.StagingDir)); len(left) != 0 {
		t.Fatalf("staging left: %v", left)
	}
}

func mkdir(t *testing.T, parts ...string) string {
	t.Helper()
	p := filepath.Join(parts...)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
