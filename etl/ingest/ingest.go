package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/klauspost/compress/zstd"

	"vitlab/collectors/batchdir"
	"vitlab/etl/normalize"
	"vitlab/etl/parquetout"
	"vitlab/etl/warehouse"
	"vitlab/schemas"
)

// Loader loads one export into a sink; normalize.Export is the real one.
type Loader func(ctx context.Context, path string, key normalize.RunKey, opts normalize.Options, sink normalize.Sink) (normalize.Result, error)

// Request is one ingest.
type Request struct {
	// Warehouse is the warehouse root (created when missing).
	Warehouse string
	// Paths are one batch directory, or exports and directories of exports.
	Paths []string
	// BatchID names the batch. For a batch directory it must be empty or
	// equal batch.json's id; for bare exports empty means
	// "exports-<first 12 hex of the content hash>".
	BatchID string
	Labels  Labels
	// Replace allows replacing a committed batch of the same id whose
	// content differs.
	Replace bool
	// Jobs is how many exports load at once (default DefaultJobs()); up
	// to 4 of them also write part files at once while compacting (at
	// least 2 where there are 2 CPUs: compactJobs).
	Jobs int
	// AllowIncomplete ingests a batch directory without a finished time.
	AllowIncomplete bool
	// AllowDuplicateRuns lands a run whose content another batch already
	// holds, instead of setting it aside with ErrDuplicateRun.
	AllowDuplicateRuns bool
	// RunsOnly ingests a batch directory's runs from their run.json alone
	// (vitlab ingest --runs-only): for run records shipped without their
	// exports. Each ok run lands as a runs row with its clean windows and
	// settings, a warning saying so, and no events or GPU samples, so
	// every traced metric of it is null.
	RunsOnly bool

	// IngestVersion is stored with the batch (default "dev").
	IngestVersion string
	// Loader defaults to normalize.Export.
	Loader Loader
	// Allocator for Arrow buffers (default memory.DefaultAllocator).
	Allocator memory.Allocator
	// LoadBudget bounds the SQLite bytes loading at once (default
	// DefaultLoadBudget): big exports load fewer than Jobs at a time, so
	// that memory stays bounded whatever the exports.
	LoadBudget int64
	// BatchRows is the loader's rows per record (default DefaultBatchRows).
	BatchRows int
	// LoadGC, when above 100, is the Go garbage collector's GOGC while
	// the exports load and compact (a process-wide setting, restored when
	// Run returns: for a command, not a library caller running several
	// ingests at once), with a soft memory limit of twice the heap the
	// loads in flight may hold (loadGCLimit), so that a heap near the
	// budget collects no later than at GOGC 100. 0 leaves the GC alone.
	LoadGC int

	// OnFailure, if set, is called as soon as an input is set aside.
	OnFailure func(Failure)
	// OnProgress, if set, is called when the phase changes and after each
	// run loads. Calls never overlap.
	OnProgress func(Progress)
	// OnWait, if set, is called when the commit waits for another ingest's
	// commit to finish.
	OnWait func()
}

// Progress is a snapshot of an ingest.
type Progress struct {
	Phase string // hashing, loading, compacting, committing
	// Runs to load, loaded, set aside (only while loading and after).
	Total, Done, Failed int
	Events              int64
	// Bytes of the exports to load and of those done (for an ETA).
	BytesTotal, BytesDone int64
	Started               time.Time
}

// Summary is the outcome of an ingest.
type Summary struct {
	BatchID string
	// DerivedID says BatchID was made from the content hash.
	DerivedID     bool
	ContentSHA256 string
	// Unchanged: the warehouse already had this batch with the same
	// content; nothing was loaded or written.
	Unchanged bool
	// Committed: the batch landed; Generation and Replaced say which.
	Committed  bool
	Generation int
	Replaced   bool
	// Runs are the exports that landed; CollectorFailed the runs whose
	// run.json status is not ok (failed, timeout, unavailable): a runs row
	// each, no events.
	Runs, CollectorFailed int
	// RecordOnly counts the runs of Runs that landed without their export
	// (Request.RunsOnly).
	RecordOnly int
	// Failed are the inputs set aside, in path order.
	Failed []Failure
	// Warnings are what the loader said about runs that landed (e.g. no
	// events recorded), in run order; the runs rows keep them too.
	Warnings []Warning
	Events   int64
	Elapsed  time.Duration
	// CleanupErr is a failure to remove a replaced generation's files after
	// the commit; the next ingest's recovery removes them.
	CleanupErr error
	// Recovered is what recovery removed of earlier ingests that died.
	Recovered warehouse.Recovery
}

// Warning is one thing to know about a run that landed.
type Warning struct {
	Path  string // the input as the user named it
	RunID string
	Text  string
}

// DefaultBatchRows is the default of Request.BatchRows: rows per record
// between the loader and the spools. Each load in flight holds about one
// record of builders per table, so this sets the memory per job (a 16Ki
// row record of cuda_api is about 2 MiB); bigger records save nothing
// measurable.
const DefaultBatchRows = 8 << 10

// DefaultJobs is the default of Request.Jobs: one job per CPU, at most 16
// (past that, the commit and compaction, not the loads, bound an ingest).
// Memory is bounded by the load budget, not by the jobs.
func DefaultJobs() int { return max(1, min(runtime.NumCPU(), 16)) }

// ErrNothingLanded: every input failed, so no batch was committed.
var ErrNothingLanded = errors.New("no run could be loaded; nothing committed")

// Run performs one ingest: discover and hash the inputs, stop early when
// the warehouse already holds the same content (or refuse a changed one
// without Replace), load the exports in parallel into the spools of a
// private staging directory (one Arrow IPC file per job and table), build
// the runs, batches and gpu_samples rows, compact each table into few
// Parquet part files (the only Parquet encoding of the rows), and commit.
// Inputs that are bad (wrapping normalize.ErrMalformedExport, or a broken
// run directory) are set aside and reported; any other error stops the
// ingest with the warehouse unchanged.
// Errors: *UsageError for a command line that cannot work,
// warehouse.ErrBatchChanged, batchdir.ErrIncomplete, ErrNothingLanded.
func Run(ctx context.Context, req Request) (_ *Summary, err error) {
	start := time.Now()
	req = req.withDefaults()
	in, err := DiscoverWith(req.Paths, DiscoverOptions{RunsOnly: req.RunsOnly})
	if err != nil {
		return nil, err
	}
	if in.Source == SourceCollector {
		id := in.Batch.ID
		switch {
		case id == "" && req.BatchID == "":
			return nil, usagef("%s: batch.json has no id; name the batch with --batch", in.Dir)
		case id == "":
			id = req.BatchID
		case req.BatchID != "" && req.BatchID != id:
			return nil, usagef("--batch %s: the batch directory %s is batch %s (from batch.json); a batch directory keeps its id", req.BatchID, in.Dir, id)
		}
		if cols := req.Labels.Columns(); len(cols) > 0 {
			return nil, usagef("--label %s: the runs of a batch directory take their settings from run.json; use a key that is not a runs column", cols[0])
		}
		req.BatchID = id
	}
	if req.BatchID != "" {
		if err := warehouse.CheckBatchID(req.BatchID); err != nil {
			return nil, &UsageError{Msg: err.Error()}
		}
	}
	if in.Incomplete() && !req.AllowIncomplete {
		return nil, fmt.Errorf("%s: %w; ingest it anyway with --allow-incomplete", in.Dir, batchdir.ErrIncomplete)
	}

	p := &progress{fn: req.OnProgress, p: Progress{Phase: "hashing", Started: start}}
	p.report()
	hashes, err := hashFiles(ctx, in.Files, req.Jobs)
	if err != nil {
		return nil, err
	}
	sum := &Summary{BatchID: req.BatchID, ContentSHA256: contentHash(in.Files, hashes, req.Labels)}
	if sum.BatchID == "" {
		sum.BatchID, sum.DerivedID = "exports-"+sum.ContentSHA256[:12], true
	}

	// Fast path, without lock or staging: the commit re-checks under the lock.
	m, err := warehouse.ReadManifest(req.Warehouse)
	if err != nil {
		return nil, err
	}
	if old := m.Batches[sum.BatchID]; old != nil {
		if old.ContentSHA256 == sum.ContentSHA256 {
			sum.Unchanged, sum.Generation = true, old.Generation
			// An ingest killed after its commit point left no work but
			// perhaps garbage (a replaced generation, its staging): clear it,
			// as a commit would. Committed files are not touched.
			if sum.Recovered, err = warehouse.Recover(ctx, req.Warehouse); err != nil {
				return sum, err
			}
			sum.Elapsed = time.Since(start)
			return sum, nil
		}
		if !req.Replace {
			return sum, fmt.Errorf("batch %s was committed %s with other content (%.12s, now %.12s): %w",
				sum.BatchID, old.CommittedAt.Format(time.RFC3339), old.ContentSHA256, sum.ContentSHA256, warehouse.ErrBatchChanged)
		}
	}

	setAsideDuplicates(in, m, sum.BatchID, hashes, req.Labels, req.AllowDuplicateRuns)

	st, err := warehouse.NewStaging(ctx, req.Warehouse)
	if err != nil {
		return nil, err
	}
	defer func() {
		// What is left of a staging directory the next recovery removes;
		// say so, but it does not undo a commit.
		if cerr := st.Close(); cerr != nil {
			if err == nil {
				sum.CleanupErr = errors.Join(sum.CleanupErr, cerr)
			} else {
				err = errors.Join(err, cerr)
			}
		}
	}()

	failures := &failureList{fn: req.OnFailure}
	for _, f := range in.Failed {
		failures.add(f)
	}
	if req.LoadGC > 100 {
		defer loadGC(req, in, hashes)()
	}
	spoolOpts := spoolOptions(req, st, in, hashes)
	loads, err := loadAll(ctx, req, in, st, spoolOpts, hashes, sum.BatchID, p, failures)
	if err != nil {
		return nil, err
	}

	// Tables of the batch: the runs' segments in run order, then the runs
	// and batches rows.
	var runRows, windows []row
	var hosts []string
	for _, ld := range loads {
		if ld == nil {
			continue
		}
		runRows = append(runRows, runRow(sum.BatchID, in.Batch, ld.loaded, req.Labels))
		windows = append(windows, windowRows(sum.BatchID, ld.in.RunID, ld.in.Run)...)
		if ld.in.Load() {
			sum.Runs++
			sum.Events += ld.result.Events()
			hosts = append(hosts, ld.result.Info.Host)
			for _, w := range ld.result.Warnings {
				sum.Warnings = append(sum.Warnings, Warning{Path: ld.in.Display, RunID: ld.in.RunID, Text: w})
			}
		} else if ld.in.RecordOnly {
			sum.Runs++
			sum.RecordOnly++
		} else {
			sum.CollectorFailed++
		}
	}
	sum.Failed = failures.sorted()
	if len(runRows) == 0 {
		sum.Elapsed = time.Since(start)
		return sum, ErrNothingLanded
	}
	segs := map[*schemas.Table][]warehouse.Segment{}
	for _, ld := range loads {
		if ld == nil {
			continue
		}
		for _, t := range schemas.All() {
			if sg, ok := ld.segs[t]; ok {
				segs[t] = append(segs[t], sg)
			}
		}
	}
	if segs[schemas.Runs], err = spoolRows(st, spoolOpts, schemas.Runs, runRows); err != nil {
		return nil, err
	}
	if len(windows) > 0 { // batches before schema version 3 have none
		if segs[schemas.CleanWindows], err = spoolRows(st, spoolOpts, schemas.CleanWindows, windows); err != nil {
			return nil, err
		}
	}
	br := batchRow(sum.BatchID, in.Source, sum.ContentSHA256, req.IngestVersion, in.Batch, hosts,
		req.Labels, len(runRows), len(sum.Failed), time.Now().UTC())
	if segs[schemas.Batches], err = spoolRows(st, spoolOpts, schemas.Batches, []row{br}); err != nil {
		return nil, err
	}

	p.phase("compacting")
	// Parts are scratch until the commit, which fsyncs every part it moves
	// into the warehouse before writing the manifest.
	pqOpts := parquetout.Options{Allocator: req.Allocator, CreatedBy: "vitlab " + req.IngestVersion, NoSync: true}
	parts, err := st.Compact(ctx, segs, warehouse.CompactOptions{Parquet: pqOpts, Jobs: compactJobs(req.Jobs)})
	if err != nil {
		return nil, err
	}
	warehouse.CrashPoint("ingest: compacted, before commit")

	p.phase("committing")
	failed := make([]warehouse.FailedInput, len(sum.Failed))
	for i, f := range sum.Failed {
		failed[i] = warehouse.FailedInput{Path: failurePath(in, f.Path), Error: reason(f)}
	}
	res, err := warehouse.CommitBatch(ctx, req.Warehouse, warehouse.Commit{
		BatchID:       sum.BatchID,
		ContentSHA256: sum.ContentSHA256,
		Source:        in.Source,
		IngestVersion: req.IngestVersion,
		Runs:          len(runRows),
		RunContent:    runContent(loads),
		Failed:        failed,
		Parts:         parts,
		Replace:       req.Replace,
		OnWait:        req.OnWait,
	})
	sum.Elapsed = time.Since(start)
	if err != nil {
		return sum, err
	}
	sum.Generation = res.Batch.Generation
	sum.CleanupErr = res.CleanupErr
	sum.Recovered = res.Recovery
	switch res.Outcome {
	case warehouse.Unchanged:
		// Another ingest committed the same content while we loaded.
		sum.Unchanged = true
		sum.Runs, sum.CollectorFailed, sum.RecordOnly, sum.Events, sum.Failed = 0, 0, 0, 0, nil
	case warehouse.Committed:
		sum.Committed, sum.Replaced = true, res.Replaced != nil
	}
	return sum, nil
}

func (req Request) withDefaults() Request {
	if req.Jobs <= 0 {
		req.Jobs = DefaultJobs()
	}
	if req.Loader == nil {
		req.Loader = normalize.Export
	}
	if req.LoadBudget <= 0 {
		req.LoadBudget = DefaultLoadBudget
	}
	if req.BatchRows <= 0 {
		req.BatchRows = DefaultBatchRows
	}
	if req.Allocator == nil {
		req.Allocator = memory.DefaultAllocator
	}
	if req.IngestVersion == "" {
		req.IngestVersion = "dev"
	}
	if req.Labels.pairs == nil {
		req.Labels = Labels{pairs: map[string]string{}, columns: map[string]any{}}
	}
	return req
}

// load is one run's outcome: what loaded and the segments it staged.
type load struct {
	*loaded
	segs map[*schemas.Table]warehouse.Segment
}

// loadAll loads every run with req.Jobs workers, each appending to its own
// spools. The result has one entry per run of in.Runs, nil for a run set
// aside; every spool is closed when it returns.
func loadAll(ctx context.Context, req Request, in *Inputs, st *warehouse.Staging, spoolOpts warehouse.SpoolOptions,
	hashes map[string]fileHash, batchID string, p *progress, failures *failureList) ([]*load, error) {
	tmp := filepath.Join(st.Dir(), "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	var total, bytes int64
	for _, r := range in.Runs {
		if r.Load() {
			total++
			bytes += hashes[r.Export].Size
		}
	}
	p.update(func(pr *Progress) {
		pr.Phase, pr.Total, pr.BytesTotal, pr.Failed = "loading", int(total), bytes, len(in.Failed)
	})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]*load, len(in.Runs))
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		fatal  error
		work   = make(chan int)
		mem    = newBudget(req.LoadBudget)
		weight = func(i int) int64 {
			if ri := in.Runs[i]; ri.Load() {
				return max(1, sqliteBytes(ri.Export, hashes[ri.Export].Size))
			}
			return 0
		}
		loadOpts = normalize.Options{TempDir: tmp, BatchRows: req.BatchRows, Allocator: req.Allocator}
	)
	stop := func(err error) {
		mu.Lock()
		if fatal == nil {
			fatal = err
			cancel()
		}
		mu.Unlock()
	}
	for k := range max(1, min(req.Jobs, len(in.Runs))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			spools := newWorkerSpools(st, k, spoolOpts)
			defer func() {
				if err := spools.close(); err != nil {
					stop(err)
				}
			}()
			for i := range work {
				ri := in.Runs[i]
				ld, err := loadRun(ctx, req.Loader, ri, batchID, spools, hashes, loadOpts)
				mem.release(weight(i))
				var bad *badInput
				switch {
				case err == nil:
					out[i] = ld
					if ri.Load() {
						p.update(func(pr *Progress) {
							pr.Done++
							pr.Events += ld.result.Events()
							pr.BytesDone += hashes[ri.Export].Size
						})
					}
				case errors.As(err, &bad):
					failures.add(Failure{Path: ri.Display, Err: bad.err})
					p.update(func(pr *Progress) {
						pr.Done++
						pr.Failed++
						pr.BytesDone += hashes[ri.Export].Size
					})
				default:
					stop(err)
				}
			}
		}()
	}
feed:
	for i := range in.Runs {
		if mem.acquire(ctx, weight(i)) != nil {
			break
		}
		select {
		case work <- i:
		case <-ctx.Done():
			mem.release(weight(i))
			break feed
		}
	}
	close(work)
	wg.Wait()
	if fatal != nil {
		return nil, fatal
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// badInput wraps an error that sets an input aside (rather than stopping
// the ingest).
type badInput struct{ err error }

func (b *badInput) Error() string { return b.err.Error() }

// loadRun loads one run into its worker's spools: the export through the
// loader, then nvml.jsonl. A run the collector recorded as failed has no
// export: it yields an empty load (its runs row only); an ok run without
// an export (RecordOnly) loads its samples alone. A run that fails
// leaves what it appended in the spools, where no segment names it.
func loadRun(ctx context.Context, loader Loader, ri *RunInput, batchID string, spools *workerSpools,
	hashes map[string]fileHash, loadOpts normalize.Options) (*load, error) {
	ld := &load{loaded: &loaded{in: ri, rows: map[string]int64{}}}
	samples := ri.NVML != "" && (ri.Load() || ri.RecordOnly)
	if !ri.Load() && !samples {
		return ld, nil
	}
	sink := newRunSink(spools)
	// A run without an export (RecordOnly) has no session start: its
	// samples keep unix_ns, and t is null.
	var sessionStart int64
	if ri.Load() {
		ld.exportHash = hashes[ri.Export]
		if ld.exportHash.Err != nil {
			return nil, &badInput{fmt.Errorf("cannot read: %w", unwrapPath(ld.exportHash.Err))}
		}
		res, err := loader(ctx, ri.Export, normalize.RunKey{BatchID: batchID, RunID: ri.RunID}, loadOpts, sink)
		if err != nil {
			if errors.Is(err, normalize.ErrMalformedExport) && ctx.Err() == nil {
				return nil, &badInput{err}
			}
			return nil, fmt.Errorf("%s: %w", ri.Display, err)
		}
		ld.result = res
		// The sink's counts are what the spools hold; a loader that says
		// otherwise has a bug.
		for _, t := range schemas.EventTables {
			if got, said := sink.rows(t), res.Rows[t.Name]; got != said {
				return nil, fmt.Errorf("%s: the loader reported %d %s rows but wrote %d", ri.Display, said, t.Name, got)
			}
		}
		sessionStart = res.Info.SessionStartUTCNs
	}
	if samples {
		n, err := stageSamples(ri, batchID, sessionStart, sink, loadOpts.Allocator)
		if err != nil {
			return nil, &badInput{err}
		}
		ld.samples = n
	}
	ld.segs = sink.segments()
	for t, sg := range ld.segs {
		ld.rows[t.Name] = sg.Rows
	}
	return ld, nil
}

// stageSamples appends a run's nvml.jsonl to its gpu_samples spool.
func stageSamples(ri *RunInput, batchID string, sessionStart int64, sink *runSink, mem memory.Allocator) (int64, error) {
	f, err := os.Open(ri.NVML)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Base(ri.NVML), unwrapPath(err))
	}
	defer f.Close()
	var in io.Reader = f
	if strings.HasSuffix(ri.NVML, ".zst") {
		dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", ri.NVML, err)
		}
		defer dec.Close()
		in = dec
	}
	samples, err := batchdir.ReadSamples(in, ri.NVML)
	if err != nil {
		return 0, err
	}
	if len(samples) == 0 {
		return 0, nil
	}
	rec := samplesRecord(mem, batchID, ri.RunID, samples, sessionStart)
	defer rec.Release()
	if err := sink.write(schemas.GPUSamples, rec); err != nil {
		return 0, err
	}
	return int64(len(samples)), nil
}

// spoolRows stages the rows of one small table (runs, batches) in a spool
// of their own and returns its one segment.
func spoolRows(st *warehouse.Staging, opts warehouse.SpoolOptions, t *schemas.Table, rows []row) ([]warehouse.Segment, error) {
	rec, err := buildRecord(opts.Allocator, t, rows)
	if err != nil {
		return nil, err
	}
	defer rec.Release()
	sp, err := st.CreateSpool(t, "ingest", opts)
	if err != nil {
		return nil, err
	}
	if _, err := sp.Append(rec); err != nil {
		return nil, errors.Join(err, sp.Close())
	}
	if err := sp.Close(); err != nil {
		return nil, err
	}
	return []warehouse.Segment{{Spool: sp, First: 0, Count: 1, Rows: rec.NumRows()}}, nil
}

// Spool sizing: uncompressed, the spools take about 3 bytes per byte of
// SQLite read (2.7-2.9 measured on the fixtures, the sample batch and
// replicated big exports), and a .sqlite.zst export is about 4 bytes of
// SQLite per byte (3.4 on the sample batch). LZ4 shrinks the spools 4-5
// times for about 10% more ingest time (0.15 GB instead of 0.8 GB for
// 224 exports of 4.3M events; 1.15 s of 11.5 s).
const (
	spoolPerSQLiteByte = 3
	sqlitePerZstByte   = 4
)

// freeSpace returns the bytes free for the staging directory (a variable
// for tests).
var freeSpace = (*warehouse.Staging).Free

// spoolOptions are the options of every spool of an ingest: uncompressed
// when the spools' projected size fits in half the free space of the
// staging directory's file system, LZ4 otherwise (or when the free space
// cannot be known), so that a big batch does not fill the disk.
func spoolOptions(req Request, st *warehouse.Staging, in *Inputs, hashes map[string]fileHash) warehouse.SpoolOptions {
	var projected int64
	for _, r := range in.Runs {
		if !r.Load() {
			continue
		}
		projected += sqliteBytes(r.Export, hashes[r.Export].Size) * spoolPerSQLiteByte
	}
	free, err := freeSpace(st)
	return warehouse.SpoolOptions{Allocator: req.Allocator, LZ4: err != nil || projected > free/2}
}

// loadGC sets the garbage collector for the load and compaction phases
// (Request.LoadGC) and returns what restores it. Loading allocates most
// of its bytes as short-lived rows and Arrow buffers: at GOGC 200 an
// ingest of the bench's 224 exports (--jobs 1, --no-derive) spent ~0.6 s
// less CPU in user time and ~0.4 s less in the system of ~8.5 s. The
// memory limit keeps a heap near the budget no bigger than at GOGC 100
// (loadGCLimit); the settings are the process's, so a GOGC or GOMEMLIMIT
// set in the environment wins.
func loadGC(req Request, in *Inputs, hashes map[string]fileHash) func() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	var biggest int64
	for _, r := range in.Runs {
		if r.Load() {
			biggest = max(biggest, sqliteBytes(r.Export, hashes[r.Export].Size))
		}
	}
	limit := debug.SetMemoryLimit(-1)
	debug.SetMemoryLimit(min(limit, loadGCLimit(req.LoadBudget, biggest)))
	gc := debug.SetGCPercent(req.LoadGC)
	return func() {
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
	}
}

// loadGCLimit is the soft memory limit while loading with a raised GOGC:
// twice the heap the loads in flight may hold (the budget, or the biggest
// export, which loads alone, at ~1.2 bytes of heap per byte of SQLite),
// which is where GOGC 100 would have collected at a full budget, so the
// raised GOGC only collects less often while the heap is small (the
// compaction writers come after the loads, in the loads' room); at least
// 256 MiB, so that a small --load-budget does not collect without end.
func loadGCLimit(budget, biggest int64) int64 {
	return max(2*max(budget, biggest)*6/5, 256<<20)
}

// compactJobs is how many part files compaction writes at once: each holds
// one Parquet writer and its buffered row group, so memory, not the CPUs,
// sets the cap. At least two where the machine has two CPUs, whatever the
// jobs: compaction starts once every export has loaded, so with --jobs 1
// the second CPU was idle while one writer encoded ~3 s of Parquet (the
// bench batch); a second writer costs one row group's buffers (the
// ingest's peak is its derivation's, after).
func compactJobs(jobs int) int {
	return max(1, min(2, runtime.NumCPU()), min(jobs, maxCompactJobs))
}

// maxCompactJobs caps compactJobs.
const maxCompactJobs = 4

// failureList collects failures from the workers.
type failureList struct {
	mu   sync.Mutex
	fn   func(Failure)
	list []Failure
}

func (l *failureList) add(f Failure) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, f)
	if l.fn != nil {
		l.fn(f)
	}
}

func (l *failureList) sorted() []Failure {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.list)
	slices.SortFunc(out, func(a, b Failure) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Reason returns why f was set aside on one line, without the file name
// that the error may start with (messages name the file once, in front).
func Reason(f Failure) string { return reason(f) }

func reason(f Failure) string {
	msg := strings.ReplaceAll(strings.TrimSpace(f.Err.Error()), "\n", "; ")
	if i := strings.Index(msg, f.Path+": "); i >= 0 && pkgPrefixes.MatchString(msg[:i]) {
		return msg[i+len(f.Path)+2:]
	}
	return msg
}

// pkgPrefixes matches the "pkg: " prefixes errors may carry before the
// file name.
var pkgPrefixes = regexp.MustCompile(`^([a-z0-9_]+: )*$`)

// failurePath is how the manifest names a failed input: relative to the
// batch directory for collector batches, as given otherwise.
func failurePath(in *Inputs, p string) string {
	if in.Dir != "" {
		if r, err := filepath.Rel(in.Dir, p); err == nil && !strings.HasPrefix(r, "..") {
			return filepath.ToSlash(r)
		}
	}
	return p
}

// progress serialises progress reports.
type progress struct {
	mu sync.Mutex
	fn func(Progress)
	p  Progress
}

func (p *progress) update(f func(*Progress)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&p.p)
	if p.fn != nil {
		p.fn(p.p)
	}
}

func (p *progress) phase(name string) { p.update(func(pr *Progress) { pr.Phase = name }) }

func (p *progress) report() { p.update(func(*Progress) {}) }
