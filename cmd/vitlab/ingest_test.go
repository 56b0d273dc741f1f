package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"vitlab/etl/ingest"
	"vitlab/etl/parquetout"
	"vitlab/etl/warehouse"
	"vitlab/schemas"

	"vitlab/internal/testfixtures"
)

// asVitlab makes the test binary run as the vitlab command: the ingest
// tests start real vitlab processes (to run two at once, to kill one) from
// the test binary itself, without building anything.
const asVitlab = "VITLAB_TEST_RUN_AS_VITLAB"

// testBinary is the test binary's absolute path.
var testBinary string

func TestMain(m *testing.M) {
	if os.Getenv(asVitlab) == "1" {
		os.Exit(vitlabMain())
	}
	testBinary, _ = filepath.Abs(os.Args[0])
	os.Exit(m.Run())
}

// vitlabMain is main without os.Exit.
func vitlabMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdout: os.Stdout, stderr: os.Stderr, stderrIsTerminal: isTerminal(os.Stderr), getenv: os.Getenv}
	return runMain(ctx, e, os.Args[1:])
}

// fixtureDir holds the real nsys exports (read-only).
var fixtureDir = testfixtures.Nsys()

// edgeDir holds vitlab's own edge-case exports (queries/testdata/nsys_edge).
var edgeDir, _ = filepath.Abs("../../queries/testdata/nsys_edge")

// TestIngestScripts runs the transcripts testdata/ingest_*.txtar. In them,
// 'vitlab' runs a real vitlab process (the test binary) in $WORK; 'status N'
// checks its exit status; $FIXTURES is the fixture exports' directory,
// $EDGE that of the edge-case exports.
func TestIngestScripts(t *testing.T) {
	runScripts(t, scripts{
		Prefix: "ingest",
		Env:    map[string]string{"FIXTURES": fixtureDir, "EDGE": edgeDir, asVitlab: "1"},
		Run:    asProcess,
	})
}

// vitlabProc runs the vitlab command as a process with extra environment.
func vitlabProc(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(testBinary, args...)
	cmd.Env = append(append(os.Environ(), asVitlab+"=1"), env...)
	return cmd
}

func copyFixture(t *testing.T, dst, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// checkWarehouse checks what a reader relies on: the manifest parses and
// every file it lists exists and reads completely with its table's schema
// and listed rows. With strict, no file of a partition directory is
// unlisted, and no staging or temporary manifest is left.
func checkWarehouse(t *testing.T, wh string, strict bool) *warehouse.Manifest {
	t.Helper()
	m, err := warehouse.ReadManifest(wh)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	listed := map[string]bool{}
	for _, id := range m.BatchIDs() {
		for name, tf := range m.Batches[id].Tables {
			tbl, _ := schemas.ByName(name)
			var rows int64
			for _, f := range tf.Files {
				listed[f] = true
				r, err := parquetout.Open(filepath.Join(wh, f), parquetout.ReadOptions{})
				if err != nil {
					t.Fatalf("batch %s: %v", id, err)
				}
				if !r.Schema().Equal(tbl.Schema()) {
					t.Fatalf("%s: schema %s", f, r.Schema())
				}
				for rec, err := range r.Records(context.Background()) {
					if err != nil {
						t.Fatal(err)
					}
					rows += rec.NumRows()
				}
				r.Close()
			}
			if rows != tf.Rows {
				t.Fatalf("batch %s table %s: %d rows in the files, %d listed", id, name, rows, tf.Rows)
			}
		}
	}
	if strict {
		for _, tbl := range schemas.All() {
			all, _ := filepath.Glob(filepath.Join(wh, tbl.Name, "batch=*", "*"))
			for _, p := range all {
				r, _ := filepath.Rel(wh, p)
				if !listed[filepath.ToSlash(r)] {
					t.Fatalf("unlisted file %s", r)
				}
			}
		}
		if left, _ := os.ReadDir(filepath.Join(wh, warehouse.StagingDir)); len(left) != 0 {
			t.Fatalf("staging left: %v", left)
		}
		if _, err := os.Stat(filepath.Join(wh, warehouse.ManifestName+".tmp")); !os.IsNotExist(err) {
			t.Fatal("temporary manifest left")
		}
	}
	return m
}

// TestIngestConcurrent runs two vitlab ingest processes on one warehouse at
// once: different batches both land; the same batch twice lands once, and
// the other process reports that there is nothing to do.
func TestIngestConcurrent(t *testing.T) {
	dir := t.TempDir()
	wh := filepath.Join(dir, "wh")
	a := []string{"h100_tiny_conv_nvtx.sqlite", "Lianhang666_gpu4_report2.sqlite", "MohanadOdema_DLProf_nsys_profile.sqlite"}
	b := []string{"quasiben_nvtx-examples_cudf.sqlite", "mariamiiiiii_my_clue_report3.sqlite", "danae-pan_hpc_assignment3_report2.sqlite"}
	for _, f := range a {
		copyFixture(t, filepath.Join(dir, "a", f), f)
	}
	for _, f := range b {
		copyFixture(t, filepath.Join(dir, "b", f), f)
	}
	both := func(args1, args2 []string) (out [2]string) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, args := range [][]string{args1, args2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var stdout, stderr bytes.Buffer
				cmd := vitlabProc(nil, args...)
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				errs[i] = cmd.Run()
				out[i] = stdout.String()
				if errs[i] != nil {
					errs[i] = errors.New(errs[i].Error() + ": " + stderr.String())
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	out := both([]string{"ingest", "--warehouse", wh, "--batch", "A", "--jobs", "2", filepath.Join(dir, "a")},
		[]string{"ingest", "--warehouse", wh, "--batch", "B", "--jobs", "2", filepath.Join(dir, "b")})
	for i, id := range []string{"A", "B"} {
		if !strings.HasPrefix(out[i], "batch "+id+": 3 runs landed, 0 failed,") {
			t.Fatalf("process %d: %q", i, out[i])
		}
	}
	m := checkWarehouse(t, wh, true)
	if ids := m.BatchIDs(); !reflect.DeepEqual(ids, []string{"A", "B"}) {
		t.Fatalf("batches %v", ids)
	}

	// The same batch twice at once (its runs are batch A's: allowed again).
	args := []string{"ingest", "--warehouse", wh, "--batch", "S", "--allow-duplicate-runs", filepath.Join(dir, "a")}
	out = both(args, args)
	landed, noop := 0, 0
	for _, o := range out {
		switch {
		case strings.HasPrefix(o, "batch S: 3 runs landed"):
			landed++
		case o == "batch S: already ingested with identical content; nothing to do\n":
			noop++
		default:
			t.Fatalf("unexpected output %q", o)
		}
	}
	if landed != 1 || noop != 1 {
		t.Fatalf("same batch twice: %d landed, %d no-op", landed, noop)
	}
	m = checkWarehouse(t, wh, true)
	if g := m.Batches["S"].Generation; g != 1 {
		t.Fatalf("batch S generation %d", g)
	}
}

// TestIngestKilledAtEveryStep kills 'vitlab ingest' with SIGKILL at every
// step of its commit (and of the recovery before it), for a new batch and a
// replace of an existing one. After each kill the warehouse must read (the
// manifest parses, every listed file reads with its rows), the earlier
// batch must be intact, and the killed batch all old or all new; the next
// ingest must recover and land, leaving nothing unlisted.
func TestIngestKilledAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a hundred vitlab processes")
	}
	dir := t.TempDir()
	x := copyFixture(t, filepath.Join(dir, "x.sqlite"), "h100_tiny_conv_nvtx.sqlite")
	y := copyFixture(t, filepath.Join(dir, "y.sqlite"), "Lianhang666_gpu4_report2.sqlite")
	base := filepath.Join(dir, "base")
	if out, err := vitlabProc(nil, "ingest", "--no-derive", "--warehouse", base, "--batch", "old", x).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	baseline := checkWarehouse(t, base, true)

	for _, sc := range []struct {
		name string
		args []string
	}{
		// x is batch old's run too: allowed to land again under new
		{"new batch", []string{"--batch", "new", "--allow-duplicate-runs", x, y}},
		{"replace", []string{"--batch", "old", "--replace", x, y}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			batch := sc.args[1]
			for n := 1; ; n++ {
				wh := filepath.Join(t.TempDir(), "wh")
				if out, err := exec.Command("cp", "-a", base, wh).CombinedOutput(); err != nil {
					t.Fatalf("cp: %v %s", err, out)
				}
				// --no-derive: this is the batch commit; CommitDerived has its
				// own kill-at-every-step test (etl/warehouse)
				args := append([]string{"ingest", "--no-derive", "--warehouse", wh}, sc.args...)
				out, err := vitlabProc([]string{warehouse.CrashEnv + "=" + strconv.Itoa(n)}, args...).CombinedOutput()
				var ee *exec.ExitError
				if err == nil {
					if n < 20 {
						t.Fatalf("finished after %d steps: %s", n-1, out)
					}
					t.Logf("killed at each of %d steps", n-1)
					checkWarehouse(t, wh, true)
					return
				}
				if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Fatalf("step %d: %v: %s", n, err, out)
				}
				step := strings.TrimSpace(string(out))
				m := checkWarehouse(t, wh, false)
				if batch == "new" && !reflect.DeepEqual(m.Batches["old"], baseline.Batches["old"]) {
					t.Fatalf("%s: batch old changed", step)
				}
				got := m.Batches[batch]
				switch {
				case got == nil && batch == "old":
					t.Fatalf("%s: batch old vanished during its replace", step)
				case got == nil, got.Generation == 2, batch == "new" && got.Generation == 1:
				case reflect.DeepEqual(got, baseline.Batches["old"]):
				default:
					t.Fatalf("%s: batch %s is neither old nor new: %+v", step, batch, got)
				}

				// The next ingest recovers and lands.
				out, err = vitlabProc(nil, args...).CombinedOutput()
				if err != nil {
					t.Fatalf("after %s, the next ingest: %v: %s", step, err, out)
				}
				m = checkWarehouse(t, wh, true)
				if got := m.Batches[batch]; got == nil || got.Runs != 2 {
					t.Fatalf("after %s and a rerun: batch %s = %+v (%s)", step, batch, got, out)
				}
			}
		})
	}
}

func TestSummaryLine(t *testing.T) {
	s := &ingest.Summary{BatchID: "b1", Runs: 7, Failed: make([]ingest.Failure, 1), Events: 1234567, Elapsed: 3200 * time.Millisecond}
	if got, want := summaryLine(s), "batch b1: 7 runs landed, 1 failed, 1,234,567 events in 3.2 s (385,802 events/s)"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	s = &ingest.Summary{BatchID: "exports-0123456789ab", DerivedID: true, Runs: 1, Events: 999, Elapsed: time.Second,
		CollectorFailed: 2, Replaced: true, Generation: 3}
	if got, want := summaryLine(s), "batch exports-0123456789ab: 1 run landed, 0 failed, 999 events in 1.0 s (999 events/s); "+
		"2 runs without events (failed, timed out or unavailable per run.json); replaced generation 2 (batch id from the content hash; name it with --batch)"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	for n, want := range map[int64]string{0: "0", 12: "12", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %s, want %s", n, got, want)
		}
	}
}

// TestIngestProgressLine checks the terminal output: one line redrawn in
// place, erased before a failure line and at the end.
func TestIngestProgressLine(t *testing.T) {
	var buf bytes.Buffer
	o := newIngestOutput(&env{stderr: &buf, stderrIsTerminal: true})
	start := time.Now().Add(-10 * time.Second)
	o.progress(ingest.Progress{Phase: "loading", Total: 8, Done: 2, Failed: 1, Events: 1234567, BytesTotal: 400, BytesDone: 100, Started: start})
	o.mu.Lock()
	o.draw()
	o.mu.Unlock()
	o.failure(ingest.Failure{Path: "x.sqlite", Err: errors.New("x.sqlite: malformed nsys export: empty file")})
	o.stop()
	got := buf.String()
	line := "\r\x1b[Kingest: loading 2/8 runs, 1 failed, 1,234,567 events, 10"
	if !strings.HasPrefix(got, line) || !strings.Contains(got, ", ETA 30s") {
		t.Fatalf("progress line: %q", got)
	}
	if !strings.Contains(got, "\r\x1b[Kvitlab ingest: x.sqlite: malformed nsys export: empty file\n\r\x1b[Kingest: loading 2/8") {
		t.Fatalf("failure line not printed on a cleared line, then the progress redrawn: %q", got)
	}
	if !strings.HasSuffix(got, "\r\x1b[K") {
		t.Fatalf("progress line not erased at the end: %q", got)
	}

	// Not a terminal: failures only.
	buf.Reset()
	o = newIngestOutput(&env{stderr: &buf})
	o.progress(ingest.Progress{Phase: "loading", Total: 8, Started: start})
	o.failure(ingest.Failure{Path: "y.sqlite", Err: errors.New("bad")})
	o.stop()
	if got := buf.String(); got != "vitlab ingest: y.sqlite: bad\n" {
		t.Fatalf("non-terminal output %q", got)
	}
}
