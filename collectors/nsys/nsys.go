package nsys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// File suffixes nsys writes next to the output base.
const (
	RepSuffix    = ".nsys-rep" // nsys 2021.4 and later
	OldRepSuffix = ".qdrep"    // older nsys
	StreamSuffix = ".qdstrm"   // raw capture left when the importer fails
	SQLiteSuffix = ".sqlite"
	ZstdSuffix   = ".zst"
)

// ErrNotFound says nsys was not found anywhere it was looked for.
var ErrNotFound = errors.New("nsys not found")

// ErrNoReport says a capture left no report to export.
var ErrNoReport = errors.New("nsys left no report")

// ErrImporter says nsys captured but could not import the capture into a
// report (only the raw .qdstrm is there): a problem of the host's nsys
// installation, which every later capture will meet too. It wraps
// ErrNoReport.
var ErrImporter = fmt.Errorf("nsys's report importer failed: %w", ErrNoReport)

// installGlobs are the folders searched after PATH, in order, relative to
// the file-system root.
var installGlobs = []string{
	"opt/nvidia/nsight-systems/*/bin/nsys",
	"usr/local/cuda/bin/nsys",
	"opt/nvidia/nsight-compute/*/host/target-linux-x64/nsys",
}

// Find returns the nsys to use: explicit when given (it must exist), else
// the first found on PATH, else in the usual install folders.
func Find(explicit string) (string, error) {
	return find(explicit, exec.LookPath, "/")
}

func find(explicit string, lookPath func(string) (string, error), root string) (string, error) {
	if explicit != "" {
		if p, err := lookPath(explicit); err == nil {
			return p, nil
		}
		if isExecutable(explicit) {
			return explicit, nil
		}
		return "", fmt.Errorf("nsys: %s: not an executable file", explicit)
	}
	if p, err := lookPath("nsys"); err == nil {
		return p, nil
	}
	var looked []string
	for _, g := range installGlobs {
		pat := filepath.Join(root, g)
		looked = append(looked, "/"+g)
		matches, _ := filepath.Glob(pat)
		sortNewestFirst(matches)
		for _, m := range matches {
			if isExecutable(m) {
				return m, nil
			}
		}
	}
	return "", fmt.Errorf("nsys: looked on PATH and in %s: %w (give --nsys PATH)", strings.Join(looked, ", "), ErrNotFound)
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// sortNewestFirst orders install paths by the version folder in them,
// newest first ("2025.3.1" after "2024.6.2" numerically).
func sortNewestFirst(paths []string) {
	slices.SortStableFunc(paths, func(a, b string) int {
		return -compareVersions(versionIn(a), versionIn(b))
	})
}

func versionIn(path string) []int {
	for _, part := range strings.Split(filepath.ToSlash(path), "/") {
		fs := strings.FieldsFunc(part, func(r rune) bool { return r == '.' || r == '-' || r == '_' })
		if len(fs) < 2 {
			continue
		}
		var v []int
		for _, f := range fs {
			n, err := strconv.Atoi(f)
			if err != nil {
				v = nil
				break
			}
			v = append(v, n)
		}
		if v != nil {
			return v
		}
	}
	return nil
}

func compareVersions(a, b []int) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Tool is one nsys installation.
type Tool struct {
	// Path is the nsys executable.
	Path string
	// Env holds extra KEY=VALUE entries for every nsys call. An
	// LD_LIBRARY_PATH entry is put in front of the inherited value.
	Env []string
}

// Environ returns base with extra applied: LD_LIBRARY_PATH values are
// prepended to the existing one, every other key replaces its value.
func Environ(base, extra []string) []string {
	out := slices.Clone(base)
	for _, kv := range extra {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		i := slices.IndexFunc(out, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		switch {
		case i < 0:
			out = append(out, kv)
		case k == "LD_LIBRARY_PATH":
			old := strings.TrimPrefix(out[i], k+"=")
			if old != "" {
				v = v + ":" + old
			}
			out[i] = k + "=" + v
		default:
			out[i] = kv
		}
	}
	return out
}

// Environ returns the environment nsys runs with: base plus t.Env.
func (t *Tool) Environ(base []string) []string { return Environ(base, t.Env) }

// run runs nsys with args and returns its combined output.
func (t *Tool) run(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, t.Path, args...)
	cmd.Dir = dir
	cmd.Env = t.Environ(os.Environ())
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.Bytes(), err
}

// Version runs `nsys --version` and returns the version, e.g.
// "2025.3.1.90-253135822542v0".
func (t *Tool) Version(ctx context.Context) (string, error) {
	out, err := t.run(ctx, "", "--version")
	if err != nil {
		return "", fmt.Errorf("nsys: %s --version: %w: %s", t.Path, err, tail(out, 400))
	}
	return ParseVersion(string(out))
}

// ParseVersion extracts the version from `nsys --version` output
// ("NVIDIA Nsight Systems version 2025.3.1.90-253135822542v0").
func ParseVersion(out string) (string, error) {
	for _, line := range strings.Split(out, "\n") {
		if _, v, ok := strings.Cut(line, "version "); ok {
			if v = strings.TrimSpace(v); v != "" {
				return v, nil
			}
		}
	}
	return "", fmt.Errorf("nsys: no version in %q", tail([]byte(out), 200))
}

// ProfileOptions are the choices of one capture.
type ProfileOptions struct {
	// OutBase is the report path without suffix, e.g. <run dir>/trace.
	OutBase string
	// CUDAGraphNodes traces the kernels inside CUDA graphs one by one
	// (--cuda-graph-trace=node); needed for reduce-overhead and max-autotune.
	CUDAGraphNodes bool
}

// ProfileCommand returns the full argv that runs cmd under nsys.
func (t *Tool) ProfileCommand(o ProfileOptions, cmd []string) []string {
	argv := []string{t.Path, "profile",
		"-t", "cuda,nvtx",
		"--sample=none",
		"--cpuctxsw=none",
		"--force-overwrite=true",
		"-o", o.OutBase,
	}
	if o.CUDAGraphNodes {
		argv = append(argv, "--cuda-graph-trace=node")
	}
	argv = append(argv, "--")
	return append(argv, cmd...)
}

// Report returns the report file a capture with output base outBase left.
// When only the raw .qdstrm is there, the importer failed; the error says
// so and names the usual cause.
func Report(outBase string) (string, error) {
	for _, suf := range []string{RepSuffix, OldRepSuffix} {
		if st, err := os.Stat(outBase + suf); err == nil && st.Mode().IsRegular() {
			return outBase + suf, nil
		}
	}
	if _, err := os.Stat(outBase + StreamSuffix); err == nil {
		return "", fmt.Errorf("nsys: %s: only the raw capture %s is there (\"Importer error status\"; usually libdw.so.1 is missing: "+
			"put libdw1 and libelf1 on LD_LIBRARY_PATH or give --nsys-env LD_LIBRARY_PATH=DIR): %w",
			filepath.Dir(outBase), filepath.Base(outBase+StreamSuffix), ErrImporter)
	}
	return "", fmt.Errorf("nsys: %s%s: %w", outBase, RepSuffix, ErrNoReport)
}

// Export runs `nsys export --type sqlite` on report, writing sqlitePath.
func (t *Tool) Export(ctx context.Context, report, sqlitePath string) error {
	out, err := t.run(ctx, filepath.Dir(report), "export", "--type", "sqlite", "--force-overwrite=true",
		"-o", sqlitePath, report)
	if err != nil {
		return fmt.Errorf("nsys: export %s: %w: %s", report, err, tail(out, 800))
	}
	if err := checkSQLite(sqlitePath); err != nil {
		return fmt.Errorf("nsys: export %s: %w (output: %s)", report, err, tail(out, 400))
	}
	return nil
}

func checkSQLite(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 16)
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("%s: not an SQLite file: %w", path, err)
	}
	if string(head) != "SQLite format 3\x00" {
		return fmt.Errorf("%s: not an SQLite file", path)
	}
	return nil
}

// Compress writes src compressed with zstd to dst (through a temporary file
// renamed into place) and returns the sizes before and after.
func Compress(src, dst string) (in, out int64, err error) {
	f, err := os.Open(src)
	if err != nil {
		return 0, 0, fmt.Errorf("nsys: compress: %w", err)
	}
	defer f.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return 0, 0, fmt.Errorf("nsys: compress: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file private; an export is as readable as the
	// rest of the batch.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return 0, 0, fmt.Errorf("nsys: compress: %w", err)
	}
	enc, err := zstd.NewWriter(tmp, zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
	if err != nil {
		tmp.Close()
		return 0, 0, fmt.Errorf("nsys: compress: %w", err)
	}
	in, err = io.Copy(enc, f)
	if err == nil {
		err = enc.Close()
	} else {
		enc.Close()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, 0, fmt.Errorf("nsys: compress %s: %w", src, err)
	}
	st, err := os.Stat(tmp.Name())
	if err != nil {
		return 0, 0, fmt.Errorf("nsys: compress: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return 0, 0, fmt.Errorf("nsys: compress: %w", err)
	}
	return in, st.Size(), nil
}

// Result is what Finish produced.
type Result struct {
	// Export is the file name of the export inside the run directory
	// (trace.sqlite.zst).
	Export string
	// SQLiteBytes and StoredBytes are the export's size before and after
	// compression.
	SQLiteBytes, StoredBytes int64
}

// Finish exports the capture at outBase to SQLite, compresses it to
// <outBase>.sqlite.zst and, unless keep is set, removes the report and the
// raw SQLite file.
func (t *Tool) Finish(ctx context.Context, outBase string, keep bool) (Result, error) {
	rep, err := Report(outBase)
	if err != nil {
		return Result{}, err
	}
	sqlitePath := outBase + SQLiteSuffix
	if err := t.Export(ctx, rep, sqlitePath); err != nil {
		return Result{}, err
	}
	zst := sqlitePath + ZstdSuffix
	in, out, err := Compress(sqlitePath, zst)
	if err != nil {
		return Result{}, err
	}
	if !keep {
		for _, p := range []string{rep, sqlitePath} {
			if err := os.Remove(p); err != nil {
				return Result{}, fmt.Errorf("nsys: %w", err)
			}
		}
	}
	return Result{Export: filepath.Base(zst), SQLiteBytes: in, StoredBytes: out}, nil
}

func tail(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}
