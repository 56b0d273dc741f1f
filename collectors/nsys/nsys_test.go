package nsys

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"vitlab/internal/testfixtures"
)

// fixture is a real nsys SQLite export (see SOURCES.md beside it).
var fixture = testfixtures.Export("h100_tiny_conv_nvtx.sqlite")

func fakeNsys(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh for the nsys stand-in")
	}
	p, err := filepath.Abs("testdata/fake-nsys")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func writeExe(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	noPath := func(string) (string, error) { return "", exec.ErrNotFound }

	if _, err := find("", noPath, root); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty root: got %v, want ErrNotFound", err)
	}
	// nsight-compute's copy is the last resort.
	nc := filepath.Join(root, "opt/nvidia/nsight-compute/2025.3.1/host/target-linux-x64/nsys")
	writeExe(t, nc)
	if got, err := find("", noPath, root); err != nil || got != nc {
		t.Fatalf("got %q %v, want %q", got, err, nc)
	}
	// /usr/local/cuda/bin comes before it.
	cuda := filepath.Join(root, "usr/local/cuda/bin/nsys")
	writeExe(t, cuda)
	if got, _ := find("", noPath, root); got != cuda {
		t.Fatalf("got %q, want %q", got, cuda)
	}
	// nsight-systems comes first, newest version first (numerically).
	for _, v := range []string{"2024.6.2", "2025.10.1", "2025.3.1"} {
		writeExe(t, filepath.Join(root, "opt/nvidia/nsight-systems", v, "bin/nsys"))
	}
	want := filepath.Join(root, "opt/nvidia/nsight-systems/2025.10.1/bin/nsys")
	if got, _ := find("", noPath, root); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// PATH wins over the install folders.
	onPath := func(string) (string, error) { return "/usr/bin/nsys", nil }
	if got, _ := find("", onPath, root); got != "/usr/bin/nsys" {
		t.Fatalf("PATH: got %q", got)
	}
	// An explicit path wins over everything, and must exist.
	if got, _ := find(cuda, noPath, root); got != cuda {
		t.Fatalf("explicit: got %q", got)
	}
	if _, err := find(filepath.Join(root, "nope"), noPath, root); err == nil {
		t.Fatal("explicit missing path: want an error")
	}
	notExe := filepath.Join(root, "plain")
	os.WriteFile(notExe, nil, 0o644)
	if _, err := find(notExe, noPath, root); err == nil {
		t.Fatal("explicit non-executable: want an error")
	}
}

func TestParseVersion(t *testing.T) {
	v, err := ParseVersion("NVIDIA Nsight Systems version 2025.3.1.90-253135822542v0\n")
	if err != nil || v != "2025.3.1.90-253135822542v0" {
		t.Fatalf("got %q %v", v, err)
	}
	if _, err := ParseVersion("bash: nsys: command not found"); err == nil {
		t.Fatal("want an error")
	}
}

func TestProfileCommand(t *testing.T) {
	tool := &Tool{Path: "/opt/nsys"}
	got := tool.ProfileCommand(ProfileOptions{OutBase: "/b/runs/x/trace"}, []string{"python3", "w.py", "--phase", "traced"})
	want := []string{"/opt/nsys", "profile", "-t", "cuda,nvtx", "--sample=none", "--cpuctxsw=none",
		"--force-overwrite=true", "-o", "/b/runs/x/trace", "--", "python3", "w.py", "--phase", "traced"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	got = tool.ProfileCommand(ProfileOptions{OutBase: "t", CUDAGraphNodes: true}, []string{"cmd"})
	if !slices.Contains(got, "--cuda-graph-trace=node") || slices.Index(got, "--cuda-graph-trace=node") > slices.Index(got, "--") {
		t.Errorf("graph option missing or after --: %q", got)
	}
}

func TestEnviron(t *testing.T) {
	base := []string{"PATH=/bin", "LD_LIBRARY_PATH=/usr/lib/x", "HOME=/root"}
	got := Environ(base, []string{"LD_LIBRARY_PATH=/tmp/dw/usr/lib/x86_64-linux-gnu", "FOO=1", "HOME=/h", "junk"})
	want := []string{"PATH=/bin", "LD_LIBRARY_PATH=/tmp/dw/usr/lib/x86_64-linux-gnu:/usr/lib/x", "HOME=/h", "FOO=1"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	got = Environ([]string{"PATH=/bin"}, []string{"LD_LIBRARY_PATH=/a"})
	if !slices.Equal(got, []string{"PATH=/bin", "LD_LIBRARY_PATH=/a"}) {
		t.Errorf("got %q", got)
	}
	if base[1] != "LD_LIBRARY_PATH=/usr/lib/x" {
		t.Error("Environ changed its input")
	}
}

func TestReportImporterFailed(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "trace")
	if _, err := Report(base); !errors.Is(err, ErrNoReport) {
		t.Fatalf("nothing there: got %v", err)
	}
	os.WriteFile(base+StreamSuffix, []byte("raw"), 0o644)
	_, err := Report(base)
	if !errors.Is(err, ErrNoReport) || !errors.Is(err, ErrImporter) || !strings.Contains(err.Error(), "libdw.so.1") {
		t.Fatalf("qdstrm only: got %v", err)
	}
	os.WriteFile(base+OldRepSuffix, []byte("old"), 0o644)
	if got, err := Report(base); err != nil || got != base+OldRepSuffix {
		t.Fatalf("qdrep: got %q %v", got, err)
	}
}

// TestProfileAndFinish drives the stand-in nsys through a capture, the
// export of a real fixture, compression and cleanup.
func TestProfileAndFinish(t *testing.T) {
	fake := fakeNsys(t)
	fix, err := filepath.Abs(fixture)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(fix)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	ctx := context.Background()
	for _, keep := range []bool{false, true} {
		dir := t.TempDir()
		tool := &Tool{Path: fake, Env: []string{"FAKE_NSYS_FIXTURE=" + fix}}
		v, err := tool.Version(ctx)
		if err != nil || v != "2099.1.1.1-fake" {
			t.Fatalf("version: %q %v", v, err)
		}
		base := filepath.Join(dir, "trace")
		argv := tool.ProfileCommand(ProfileOptions{OutBase: base}, []string{"sh", "-c", "echo traced > " + filepath.Join(dir, "ran")})
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = tool.Environ(os.Environ())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("profile: %v: %s", err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "ran")); err != nil {
			t.Fatal("the profiled command did not run")
		}
		res, err := tool.Finish(ctx, base, keep)
		if err != nil {
			t.Fatal(err)
		}
		if res.Export != "trace.sqlite.zst" || res.SQLiteBytes != int64(len(want)) || res.StoredBytes <= 0 || res.StoredBytes >= res.SQLiteBytes {
			t.Errorf("result %+v", res)
		}
		f, err := os.Open(filepath.Join(dir, res.Export))
		if err != nil {
			t.Fatal(err)
		}
		dec, _ := zstd.NewReader(f)
		var got bytes.Buffer
		if _, err := got.ReadFrom(dec); err != nil {
			t.Fatal(err)
		}
		dec.Close()
		f.Close()
		if !bytes.Equal(got.Bytes(), want) {
			t.Error("decompressed export differs from the fixture")
		}
		for _, p := range []string{base + RepSuffix, base + SQLiteSuffix} {
			_, err := os.Stat(p)
			if keep && err != nil {
				t.Errorf("keep: %s removed", p)
			}
			if !keep && err == nil {
				t.Errorf("%s left behind", p)
			}
		}
	}
}

func TestExportNotSQLite(t *testing.T) {
	fake := fakeNsys(t)
	dir := t.TempDir()
	notDB := filepath.Join(dir, "junk")
	os.WriteFile(notDB, []byte("this is not a database"), 0o644)
	os.WriteFile(filepath.Join(dir, "trace.nsys-rep"), []byte("rep"), 0o644)
	tool := &Tool{Path: fake, Env: []string{"FAKE_NSYS_FIXTURE=" + notDB}}
	_, err := tool.Finish(context.Background(), filepath.Join(dir, "trace"), false)
	if err == nil || !strings.Contains(err.Error(), "not an SQLite file") {
		t.Fatalf("got %v", err)
	}
	tool.Env = nil
	_, err = tool.Finish(context.Background(), filepath.Join(dir, "trace"), false)
	if err == nil || !strings.Contains(err.Error(), "FAKE_NSYS_FIXTURE not set") {
		t.Fatalf("failing export: got %v", err)
	}
}
