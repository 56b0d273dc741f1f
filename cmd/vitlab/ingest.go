package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"vitlab/collectors/batchdir"
	"vitlab/etl/ingest"
	"vitlab/etl/warehouse"
)

func init() {
	register(command{
		name:    "ingest",
		summary: "load a batch directory or nsys exports into the warehouse",
		run:     runIngest,
	})
}

const ingestUsage = `[--warehouse DIR] [--batch ID] [--label k=v]... [--replace] [--jobs N] [--load-budget MB] [--allow-incomplete] [--allow-duplicate-runs] [--runs-only] PATH...

Loads batches into the warehouse. PATH is either batch directories (each
has batch.json; the batch id is batch.json's, and each run's settings come
from its run.json; several are loaded one after the other, each its own
batch, e.g. batches collected on several hosts) or nsys exports (.sqlite, .sqlite.zst) and directories
of them. The run id of a bare export is its file name without .sqlite or
.sqlite.zst; its batch id is --batch, or else exports-<12 hex digits of the
content hash>. --label k=v sets runs column k (patch, depth, hidden,
batch_size, compile_mode, ...) of bare exports with that column's type;
every label also goes into runs.labels and batches.labels.

Exports that cannot be read are reported one per line and set aside; the
rest of the batch lands (exit 1). Ingesting the same content again does
nothing; a batch id already holding other content is refused unless
--replace. A run whose content (its export and its run.json, less the
command lines) the warehouse already holds under another batch is set
aside as a duplicate, naming the batch and run that hold it, so that one
measurement is never counted twice; --allow-duplicate-runs lands it anyway
(vitlab verify then fails on the check duplicate_runs, and the statistics
use the earliest-committed copy only).

--runs-only takes a batch directory's runs from their run.json alone, for
run records shipped without their exports: each ok run lands with its
settings, clean windows, headroom, timings and GPU samples (if its folder
has them) and a warning saying so, but no events, so its traced metrics
(GPU busy, kernels, traced latency) are null and profiler_overhead is not
checked; the window checks and clock_drop (from the samples) still run.
Runs that a batch did not trace by design (trace_repeats; run.json says
untraced) land the same way without the flag.
Exit status: 0 all landed or nothing to do, 1 some inputs failed
or the batch was refused, 2 usage error.`

// labelFlags collects repeated --label k=v in order.
type labelFlags []string

func (l *labelFlags) String() string { return strings.Join(*l, ",") }

func (l *labelFlags) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func runIngest(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "ingest", ingestUsage)
	whf := newWarehouseFlag(fs, e, "warehouse `DIR`ectory, created when missing")
	batchID := fs.String("batch", "", "batch `ID` of bare exports (default: exports-<content hash>); for a batch directory, must match batch.json")
	var labels labelFlags
	fs.Var(&labels, "label", "label `k=v` (repeatable); a runs column name sets that column")
	replace := fs.Bool("replace", false, "replace a committed batch of the same id whose content differs")
	jobs := fs.Int("jobs", ingest.DefaultJobs(), "exports loaded at once (default: the CPUs, at most 16)")
	budgetMB := fs.Int64("load-budget", ingest.DefaultLoadBudget>>20, "`MB` of SQLite loading at once: big exports load fewer than --jobs at a time, which bounds memory (about 1.2 MB of memory per MB)")
	allowIncomplete := fs.Bool("allow-incomplete", false, "ingest a batch directory whose batch.json has no finished time")
	allowDuplicates := fs.Bool("allow-duplicate-runs", false, "land runs whose content another batch already holds (verify then fails; statistics keep the earliest copy)")
	runsOnly := fs.Bool("runs-only", false, "a batch directory's runs from their run.json alone (run records shipped without exports): runs rows, clean windows and samples, no events")
	noDerive := fs.Bool("no-derive", false, "skip computing the derived tables of the new batches (vitlab derive does it later; queries compute them live meanwhile)")
	paths, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	whDir, _ := whf.Dir()
	wh := &whDir
	if len(paths) == 0 {
		return usagef("no input: give a batch directory or nsys exports (.sqlite, .sqlite.zst)")
	}
	if *jobs < 1 {
		return usagef("--jobs %d: want at least 1", *jobs)
	}
	if *budgetMB < 1 {
		return usagef("--load-budget %d: want at least 1 (MB)", *budgetMB)
	}
	if *wh == "" {
		return usagef("--warehouse: empty directory name")
	}
	if _, err := os.Stat(filepath.Join(*wh, batchdir.BatchFile)); err == nil {
		return usagef("--warehouse %s is a batch directory (it has %s), not a warehouse", *wh, batchdir.BatchFile)
	}
	lbl, err := ingest.ParseLabels(labels)
	if err != nil {
		return asUsage(err)
	}

	req := ingest.Request{
		Warehouse:       *wh,
		Paths:           paths,
		BatchID:         *batchID,
		Labels:          lbl,
		Replace:         *replace,
		Jobs:            *jobs,
		LoadBudget:      *budgetMB << 20,
		AllowIncomplete: *allowIncomplete,
		IngestVersion:   version(),
	}
	req.AllowDuplicateRuns = *allowDuplicates
	req.RunsOnly = *runsOnly
	// The GC at GOGC 200 while loading, its limit bounded by the load
	// budget (ingest.Request.LoadGC).
	req.LoadGC = 200
	if len(paths) > 1 && allBatchDirs(paths) && *batchID != "" {
		return usagef("--batch with several batch directories: each keeps the id in its batch.json")
	}
	start := time.Now()
	landed, err := ingestPaths(ctx, e, req, paths)
	var ue usageError
	if errors.As(err, &ue) || deriveAfterIngest == nil {
		return err
	}
	if _, statErr := os.Stat(filepath.Join(*wh, warehouse.ManifestName)); statErr != nil {
		return err // nothing committed
	}
	loaded := time.Since(start)
	// What the loading's heap grew to, back to the system before the
	// derivation (whose DuckDB memory is the ingest's peak).
	debug.FreeOSMemory()
	derr := deriveAfterIngest(ctx, e, *wh, !*noDerive, *jobs, *budgetMB<<20)
	if landed > 0 && err == nil && derr == nil && !*noDerive {
		// The whole command's time: loading and committing, then the
		// derived tables (the summary lines above count the loading only).
		fmt.Fprintf(e.stdout, "ingest took %.1f s in all: %.1f s loading and committing, %.1f s computing derived tables\n",
			time.Since(start).Seconds(), loaded.Seconds(), (time.Since(start) - loaded).Seconds())
	}
	if derr != nil {
		fmt.Fprintf(e.stderr, "vitlab ingest: %v\n", derr)
		if err == nil {
			err = errPartial
		}
	}
	return err
}

// deriveAfterIngest computes the derived tables of batches that lack them
// (DuckDB bounded by jobs threads and budget bytes) and writes the
// warehouse's view database; with derive false it does nothing (derive.go;
// nil in a build without DuckDB, such as the collector's).
var deriveAfterIngest func(ctx context.Context, e *env, wh string, derive bool, jobs int, budget int64) error

// ingestPaths ingests paths: several batch directories one after the other,
// else one batch. It returns how many batches landed new content.
func ingestPaths(ctx context.Context, e *env, req ingest.Request, paths []string) (int, error) {
	landed := 0
	if len(paths) > 1 && allBatchDirs(paths) {
		failed := 0
		for _, p := range paths {
			r := req
			r.Paths = []string{p}
			if err := ingestOne(ctx, e, r, &landed); err != nil {
				failed++
				if !errors.Is(err, errPartial) {
					fmt.Fprintf(e.stderr, "vitlab ingest: %s: %v\n", p, err)
				}
			}
		}
		if failed > 0 {
			fmt.Fprintf(e.stderr, "vitlab ingest: %d of %d batch directories did not land whole (see above); the others did\n", failed, len(paths))
			return landed, errPartial
		}
		return landed, nil
	}
	err := ingestOne(ctx, e, req, &landed)
	return landed, err
}

// allBatchDirs says every path is a batch directory (has batch.json).
func allBatchDirs(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join(p, batchdir.BatchFile)); err != nil {
			return false
		}
	}
	return true
}

// ingestOne runs one ingest (one batch) and reports it; it counts a batch
// that landed new content in *landed.
func ingestOne(ctx context.Context, e *env, req ingest.Request, landed *int) error {
	wh := &req.Warehouse
	out := newIngestOutput(e)
	defer out.stop()
	req.OnFailure, req.OnProgress, req.OnWait = out.failure, out.progress, out.wait(*wh)
	sum, err := ingest.Run(ctx, req)
	out.stop()
	switch {
	case err == nil:
	case errors.Is(err, ingest.ErrNothingLanded):
		fmt.Fprintf(e.stdout, "batch %s: 0 runs landed, %d failed; nothing committed\n", sum.BatchID, len(sum.Failed))
		return errPartial
	case errors.Is(err, warehouse.ErrBatchChanged):
		fmt.Fprintf(e.stderr, "vitlab ingest: %v\n", err)
		fmt.Fprintf(e.stderr, "vitlab ingest: to replace batch %s with this content, run again with --replace\n", sum.BatchID)
		return errPartial
	default:
		return asUsage(err)
	}

	if r := sum.Recovered; len(r.RemovedFiles)+len(r.RemovedStaging) > 0 {
		fmt.Fprintf(e.stderr, "vitlab ingest: recovered %s: removed %d unlisted files and %d staging directories left by interrupted ingests\n",
			*wh, len(r.RemovedFiles), len(r.RemovedStaging))
	}
	if r := sum.Recovered; len(r.Migrated) > 0 {
		fmt.Fprintf(e.stderr, "vitlab ingest: migrated %s to batch_id=<id> partition directories (%d batches: %s)\n",
			*wh, len(r.Migrated), strings.Join(r.Migrated, ", "))
	}
	if sum.Unchanged {
		fmt.Fprintf(e.stdout, "batch %s: already ingested with identical content; nothing to do\n", sum.BatchID)
		return nil
	}
	for _, w := range sum.Warnings {
		fmt.Fprintf(e.stderr, "vitlab ingest: warning: %s: %s\n", w.Path, w.Text)
	}
	fmt.Fprintln(e.stdout, summaryLine(sum))
	*landed++
	if sum.CleanupErr != nil {
		fmt.Fprintf(e.stderr, "vitlab ingest: warning: %v (the next ingest removes them)\n", sum.CleanupErr)
	}
	if len(sum.Failed) > 0 {
		return errPartial
	}
	return nil
}

// asUsage turns an ingest.UsageError into the command's usage error.
func asUsage(err error) error {
	var ue *ingest.UsageError
	if errors.As(err, &ue) {
		return usagef("%s", ue.Msg)
	}
	return err
}

// summaryLine is the final line, e.g.
// "batch b1: 7 runs landed, 1 failed, 1,234,567 events in 3.2 s (385,000 events/s)".
func summaryLine(s *ingest.Summary) string {
	secs := s.Elapsed.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(s.Events) / secs
	}
	var b strings.Builder
	fmt.Fprintf(&b, "batch %s: %s landed, %d failed, %s events in %.1f s (%s events/s)",
		s.BatchID, plural(s.Runs, "run"), len(s.Failed), commas(s.Events), secs, commas(int64(rate+0.5)))
	if s.RecordOnly > 0 {
		fmt.Fprintf(&b, "; %s from run.json alone (--runs-only: no events)", plural(s.RecordOnly, "run"))
	}
	if s.CollectorFailed > 0 {
		fmt.Fprintf(&b, "; %s without events (failed, timed out or unavailable per run.json)", plural(s.CollectorFailed, "run"))
	}
	if s.Replaced {
		fmt.Fprintf(&b, "; replaced generation %d", s.Generation-1)
	}
	if s.DerivedID {
		b.WriteString(" (batch id from the content hash; name it with --batch)")
	}
	return b.String()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// commas formats n with thousands separators.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// ingestOutput prints failures as they come and, on a terminal, one
// progress line that updates in place.
type ingestOutput struct {
	stderr   io.Writer
	terminal bool

	mu      sync.Mutex
	last    ingest.Progress
	drawn   bool // a progress line is on screen
	stopped bool
	done    chan struct{}
}

func newIngestOutput(e *env) *ingestOutput {
	o := &ingestOutput{stderr: e.stderr, terminal: e.stderrIsTerminal, done: make(chan struct{})}
	if o.terminal {
		go o.tick()
	}
	return o
}

func (o *ingestOutput) tick() {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-o.done:
			return
		case <-t.C:
			o.mu.Lock()
			o.draw()
			o.mu.Unlock()
		}
	}
}

func (o *ingestOutput) failure(f ingest.Failure) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.clear()
	fmt.Fprintf(o.stderr, "vitlab ingest: %s: %s\n", f.Path, ingest.Reason(f))
	o.draw()
}

func (o *ingestOutput) progress(p ingest.Progress) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last = p
}

func (o *ingestOutput) wait(wh string) func() {
	return func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.clear()
		fmt.Fprintf(o.stderr, "vitlab ingest: waiting for another ingest to finish its commit to %s\n", wh)
		o.draw()
	}
}

// draw prints the progress line (terminal only, lock held).
func (o *ingestOutput) draw() {
	if !o.terminal || o.stopped || o.last.Started.IsZero() {
		return
	}
	p := o.last
	el := time.Since(p.Started)
	line := fmt.Sprintf("ingest: %s", p.Phase)
	if p.Total > 0 {
		line += fmt.Sprintf(" %d/%d runs", p.Done, p.Total)
		if p.Failed > 0 {
			line += fmt.Sprintf(", %d failed", p.Failed)
		}
		line += fmt.Sprintf(", %s events", commas(p.Events))
	}
	line += fmt.Sprintf(", %s elapsed", el.Round(100*time.Millisecond))
	if p.Phase == "loading" && p.BytesDone > 0 && p.BytesDone < p.BytesTotal {
		eta := time.Duration(float64(el) * float64(p.BytesTotal-p.BytesDone) / float64(p.BytesDone))
		line += fmt.Sprintf(", ETA %s", eta.Round(time.Second))
	}
	fmt.Fprintf(o.stderr, "\r\033[K%s", line)
	o.drawn = true
}

// clear erases the progress line (lock held).
func (o *ingestOutput) clear() {
	if o.drawn {
		fmt.Fprint(o.stderr, "\r\033[K")
		o.drawn = false
	}
}

// stop erases the progress line for good.
func (o *ingestOutput) stop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped {
		return
	}
	o.stopped = true
	close(o.done)
	o.clear()
}
