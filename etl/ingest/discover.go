package ingest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"vitlab/collectors/batchdir"
)

// Sources of a batch (warehouse.Batch.Source and batches.source).
const (
	SourceCollector = "collector"
	SourceExports   = "exports"
)

// UsageError is a bad command line: paths that do not exist, a batch
// directory mixed with other paths, two exports with the same run id, a
// bad label. The command prints it with its usage hint.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// Inputs is what one ingest reads, found by Discover.
type Inputs struct {
	Source string // SourceCollector or SourceExports
	// Dir is the batch directory (collector batches).
	Dir string
	// Batch is batch.json (collector batches).
	Batch *batchdir.Batch
	// Runs in run id order.
	Runs []*RunInput
	// Files are every file the content hash covers, by relative path.
	Files []InputFile
	// Failed are inputs set aside before loading (a run directory without
	// a readable run.json, a run without its export, a duplicate run id).
	Failed []Failure
}

// RunInput is one run: an export to load and what the collector said of it.
type RunInput struct {
	RunID string
	// Export is the export's path ("" for a run the collector recorded as
	// failed, which is not loaded); ExportRel its path relative to the
	// batch directory, or its file name for bare exports.
	Export, ExportRel string
	// Display is how messages name the export: the path as given on the
	// command line, or inside the batch directory.
	Display string
	// Run is run.json (collector batches), NVML its nvml.jsonl or
	// nvml.jsonl.zst ("" if none).
	Run  *batchdir.Run
	NVML string
	// RunJSON is run.json's path ("" for a bare export).
	RunJSON string
	// RecordOnly: an ok run taken without an export (DiscoverOptions.
	// RunsOnly, or run.json untraced): a runs row, clean windows and GPU
	// samples, no events.
	RecordOnly bool
	// ContentSHA256 is the run's content identity (duplicates.go), set
	// before loading.
	ContentSHA256 string
}

// Incomplete reports whether the inputs are a batch directory whose
// batch.json has no finished time.
func (in *Inputs) Incomplete() bool { return in.Batch != nil && in.Batch.Finished == nil }

// Load reports whether the run has an export to load.
func (r *RunInput) Load() bool { return r.Export != "" }

// InputFile is one file of the content hash.
type InputFile struct {
	Rel, Path string
}

// Failure is an input set aside: Path names it as the user knows it, Err
// says why.
type Failure struct {
	Path string
	Err  error
}

// Discover finds the inputs of paths: either one batch directory (it has
// batch.json), or export files and directories of exports (*.sqlite,
// *.sqlite.zst). It returns a *UsageError for a command line that cannot
// work. Whether a batch is complete is the caller's to check (Incomplete).
func Discover(paths []string) (*Inputs, error) { return DiscoverWith(paths, DiscoverOptions{}) }

// DiscoverOptions changes what Discover asks of its inputs.
type DiscoverOptions struct {
	// RunsOnly takes a batch directory's ok runs without their exports
	// (Request.RunsOnly): run.json (with its clean windows) is the run's
	// whole input, and a missing export is no error.
	RunsOnly bool
}

// DiscoverWith is Discover with options.
func DiscoverWith(paths []string, opts DiscoverOptions) (*Inputs, error) {
	if len(paths) == 0 {
		return nil, usagef("no input: give a batch directory or nsys exports (.sqlite, .sqlite.zst)")
	}
	var batchDirs []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, usagef("%s: %v", p, unwrapPath(err))
		}
		if fi.IsDir() {
			if _, err := os.Stat(filepath.Join(p, batchdir.BatchFile)); err == nil {
				batchDirs = append(batchDirs, p)
			}
		}
	}
	if len(batchDirs) > 0 {
		if len(paths) > 1 {
			// several batch directories are ingested one by one by the
			// caller (vitlab ingest); a mix with other paths is refused,
			// naming a path that is not a batch directory
			for _, p := range paths {
				if !slices.Contains(batchDirs, p) {
					return nil, usagef("%s is not a batch directory (no %s), but %s is: give batch directories only, or exports only",
						p, batchdir.BatchFile, batchDirs[0])
				}
			}
			return nil, usagef("%s is a batch directory: ingest it alone, not with other paths", batchDirs[0])
		}
		return discoverBatch(paths[0], opts)
	}
	if opts.RunsOnly {
		return nil, usagef("--runs-only takes a batch directory (with %s), not exports", batchdir.BatchFile)
	}
	return discoverExports(paths)
}

// unwrapPath drops the operation and path of an *fs.PathError, which the
// caller names itself.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// exportSuffixes are the file name endings of exports, longest first.
var exportSuffixes = []string{".sqlite.zst", ".sqlite"}

// runIDOf returns a bare export's run id: its file name without .sqlite or
// .sqlite.zst.
func runIDOf(path string) string {
	base := filepath.Base(path)
	for _, s := range exportSuffixes {
		if strings.HasSuffix(base, s) && len(base) > len(s) {
			return strings.TrimSuffix(base, s)
		}
	}
	return base
}

func isExportName(name string) bool {
	for _, s := range exportSuffixes {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return true
		}
	}
	return false
}

func discoverExports(paths []string) (*Inputs, error) {
	in := &Inputs{Source: SourceExports}
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, usagef("%s: %v", p, unwrapPath(err))
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, usagef("%s: %v", p, unwrapPath(err))
		}
		n := 0
		for _, e := range entries {
			if !e.IsDir() && isExportName(e.Name()) {
				files = append(files, filepath.Join(p, e.Name()))
				n++
			}
		}
		if n == 0 {
			return nil, usagef("%s: no %s and no *.sqlite or *.sqlite.zst in it", p, batchdir.BatchFile)
		}
	}
	byID := map[string]string{}
	for _, f := range files {
		id := runIDOf(f)
		if other, dup := byID[id]; dup {
			return nil, usagef("%s and %s have the same run id %q: rename one, or ingest them as separate batches", other, f, id)
		}
		byID[id] = f
		in.Runs = append(in.Runs, &RunInput{RunID: id, Export: f, ExportRel: filepath.Base(f), Display: f})
		in.Files = append(in.Files, InputFile{Rel: filepath.Base(f), Path: f})
	}
	sort.Slice(in.Runs, func(i, j int) bool { return in.Runs[i].RunID < in.Runs[j].RunID })
	return in, nil
}

func discoverBatch(dir string, opts DiscoverOptions) (*Inputs, error) {
	b, err := batchdir.ReadBatch(dir)
	if err != nil {
		return nil, err
	}
	in := &Inputs{Source: SourceCollector, Dir: dir, Batch: b}
	in.Files = append(in.Files, InputFile{Rel: batchdir.BatchFile, Path: filepath.Join(dir, batchdir.BatchFile)})
	runsDir := filepath.Join(dir, batchdir.RunsDir)
	entries, err := os.ReadDir(runsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", runsDir, unwrapPath(err))
	}
	byID := map[string]string{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		relDir := batchdir.RunsDir + "/" + e.Name()
		runDir := filepath.Join(runsDir, e.Name())
		fail := func(err error) {
			in.Failed = append(in.Failed, Failure{Path: filepath.Join(dir, relDir), Err: err})
		}
		runJSON := filepath.Join(runDir, batchdir.RunFile)
		if _, err := os.Stat(runJSON); err != nil {
			fail(fmt.Errorf("no %s: %w", batchdir.RunFile, unwrapPath(err)))
			continue
		}
		in.Files = append(in.Files, InputFile{Rel: relDir + "/" + batchdir.RunFile, Path: runJSON})
		r, err := batchdir.ReadRun(runDir)
		if err != nil {
			fail(err)
			continue
		}
		id := r.ID
		if id == "" {
			id = e.Name() // identity only; settings never come from names
		}
		if other, dup := byID[id]; dup {
			fail(fmt.Errorf("run id %q is also the id of %s", id, other))
			continue
		}
		byID[id] = relDir
		ri := &RunInput{RunID: id, Run: r, RunJSON: runJSON}
		for _, name := range []string{batchdir.NVMLFile, batchdir.NVMLZstFile} {
			if nvml := filepath.Join(runDir, name); fileExists(nvml) {
				if ri.NVML != "" {
					fail(fmt.Errorf("%s: both %s and %s: keep one", relDir, batchdir.NVMLFile, batchdir.NVMLZstFile))
					break
				}
				ri.NVML = nvml
				in.Files = append(in.Files, InputFile{Rel: relDir + "/" + name, Path: nvml})
			}
		}
		if r.Status != batchdir.StatusOK {
			// Recorded as failed (or timed out) by the collector: a runs row
			// with its status and error, no events.
			in.Runs = append(in.Runs, ri)
			continue
		}
		if opts.RunsOnly || r.Untraced {
			// The run's record alone (--runs-only), or a run the collector
			// did not trace by design (trace_repeats): its runs row, clean
			// windows and NVML samples (times in unix_ns only: there is no
			// export timeline); no events.
			ri.RecordOnly = true
			ri.Display = runDir
			in.Runs = append(in.Runs, ri)
			continue
		}
		name, err := exportName(runDir, r)
		if err != nil {
			fail(err)
			continue
		}
		ri.Export = filepath.Join(runDir, name)
		ri.ExportRel = relDir + "/" + name
		ri.Display = ri.Export
		in.Files = append(in.Files, InputFile{Rel: ri.ExportRel, Path: ri.Export})
		in.Runs = append(in.Runs, ri)
	}
	sort.Slice(in.Runs, func(i, j int) bool { return in.Runs[i].RunID < in.Runs[j].RunID })
	return in, nil
}

// exportName finds a run directory's export: run.json's export field, else
// trace.sqlite or trace.sqlite.zst.
func exportName(runDir string, r *batchdir.Run) (string, error) {
	if r.Export != "" {
		if filepath.Base(r.Export) != r.Export {
			return "", fmt.Errorf("%s: export %q is not a file name inside the run directory", batchdir.RunFile, r.Export)
		}
		if !fileExists(filepath.Join(runDir, r.Export)) {
			return "", fmt.Errorf("%s names export %s, which is missing", batchdir.RunFile, r.Export)
		}
		return r.Export, nil
	}
	var found []string
	for _, s := range []string{".sqlite", ".sqlite.zst"} {
		if fileExists(filepath.Join(runDir, batchdir.TraceBase+s)) {
			found = append(found, batchdir.TraceBase+s)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("status ok but no %s.sqlite or %s.sqlite.zst", batchdir.TraceBase, batchdir.TraceBase)
	case 1:
		return found[0], nil
	default:
		return "", fmt.Errorf("both %s and %s: keep one", found[0], found[1])
	}
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
