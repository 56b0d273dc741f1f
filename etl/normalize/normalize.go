package normalize

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"vitlab/etl/nsysdb"
	"vitlab/etl/nvtxproj"
	"vitlab/schemas"
)

// Sink receives the rows of one run, table by table, in the warehouse schema
// of that table (schemas.Table.Schema()). Write must not retain rec after it
// returns unless it calls rec.Retain.
type Sink interface {
	Write(t *schemas.Table, rec arrow.RecordBatch) error
}

// RunKey names the run that rows belong to: it fills batch_id and run_id.
type RunKey struct {
	BatchID string
	RunID   string
}

// Options tune one export's load.
type Options struct {
	// TempDir receives the decompressed copy of a .sqlite.zst export; the
	// copy is removed before Export returns. Empty means os.TempDir().
	TempDir string
	// BatchRows is the number of rows per Arrow record (default 65536).
	BatchRows int
	// Allocator for Arrow buffers (default memory.DefaultAllocator).
	Allocator memory.Allocator
}

// Info is what an export says about itself.
type Info struct {
	NsysVersion  string // e.g. "2025.3.2.0"; "" when the export does not say
	ExportSchema string // e.g. "3.20.3"; "" for exports without metadata
	// SessionStartUTCNs is the capture's start, ns since the Unix epoch, or
	// 0 when the export does not record it.
	SessionStartUTCNs int64
	Host              string // host the export was made on, when recorded
	SQLiteBytes       int64  // size of the (uncompressed) SQLite file
}

// Result reports what one export produced.
type Result struct {
	Info     Info
	Rows     map[string]int64 // rows written per table name
	Warnings []string         // e.g. "no CUDA or NVTX events recorded"
}

// Events is the number of event rows (kernels, memcpys, memsets, cuda_api, nvtx).
func (r Result) Events() int64 {
	var n int64
	for _, t := range schemas.EventTables {
		n += r.Rows[t.Name]
	}
	return n
}

// ErrMalformedExport marks bad input: the file is empty, truncated, not
// SQLite, not an nsys export, damaged, or of a layout vitlab cannot read.
// The error message names the file and what is wrong. Callers set such an
// input aside and go on with the others; any other error is a bug or an
// I/O failure of the machine.
var ErrMalformedExport = errors.New("malformed nsys export")

// Export reads one nsys SQLite export (.sqlite, or zstd-compressed
// .sqlite.zst) and writes its devices, kernels, memcpys, memsets, cuda_api
// and nvtx rows to sink, the NVTX tree and GPU projection computed. It does
// not write runs rows: the caller builds those from Result.
//
// The export is read in one pass per table, in record batches of
// opts.BatchRows rows: devices, then the NVTX ranges (only the columns the
// projection needs), then kernels, memcpys and memsets, then cuda_api —
// each written to sink as it is read, while nvtxproj keeps what the
// projection needs — and last the nvtx rows with their projection. Errors
// about the input wrap ErrMalformedExport and name the file; errors of sink
// are returned wrapped with the file and table.
func Export(ctx context.Context, path string, key RunKey, opts Options, sink Sink) (res Result, err error) {
	res.Rows = map[string]int64{schemas.Devices.Name: 0}
	for _, t := range schemas.EventTables {
		res.Rows[t.Name] = 0
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	mem := opts.Allocator
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	db, err := nsysdb.Open(ctx, path, nsysdb.Options{TempDir: opts.TempDir, BatchRows: opts.BatchRows, Allocator: mem})
	if err != nil {
		return res, classify(err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("%s: close: %w", path, cerr)
		}
	}()
	info := db.Info()
	res.Info = Info{
		NsysVersion:       info.NsysVersion,
		ExportSchema:      info.ExportSchema,
		SessionStartUTCNs: info.SessionStartUTCNs,
		Host:              info.Host,
		SQLiteBytes:       info.SQLiteBytes,
	}
	ro := nsysdb.ReadOptions{BatchID: key.BatchID, RunID: key.RunID}
	read := func(t *schemas.Table, ro nsysdb.ReadOptions, fn func(arrow.RecordBatch) error) error {
		n, err := db.Read(ctx, t, ro, fn)
		if len(ro.Columns) == 0 {
			res.Rows[t.Name] = n
		}
		if err != nil {
			var se *stageError
			if errors.As(err, &se) {
				return fmt.Errorf("%s: %s: %w", path, t.Name, se.err)
			}
			return classify(err)
		}
		return nil
	}
	write := func(t *schemas.Table, rec arrow.RecordBatch) error {
		if err := sink.Write(t, rec); err != nil {
			return &stageError{fmt.Errorf("write: %w", err)}
		}
		return nil
	}

	if err := read(schemas.Devices, ro, func(rec arrow.RecordBatch) error { return write(schemas.Devices, rec) }); err != nil {
		return res, err
	}

	proj := nvtxproj.New()
	rangeCols := ro
	rangeCols.Columns = []string{"range_id", "event_type", "start", "end", "global_tid", "end_global_tid"}
	if err := read(schemas.NVTX, rangeCols, func(rec arrow.RecordBatch) error {
		return stage(proj.AddRanges(rec))
	}); err != nil {
		return res, err
	}
	for _, t := range []*schemas.Table{schemas.Kernels, schemas.Memcpys, schemas.Memsets} {
		if err := read(t, ro, func(rec arrow.RecordBatch) error {
			if err := write(t, rec); err != nil {
				return err
			}
			if proj.HasRanges() {
				return stage(proj.AddOps(rec))
			}
			return nil
		}); err != nil {
			return res, err
		}
	}
	if err := read(schemas.CudaAPI, ro, func(rec arrow.RecordBatch) error {
		if err := write(schemas.CudaAPI, rec); err != nil {
			return err
		}
		if proj.HasRanges() {
			return stage(proj.AddCalls(rec))
		}
		return nil
	}); err != nil {
		return res, err
	}
	hasRanges := proj.HasRanges()
	projection := proj.Project()
	if err := read(schemas.NVTX, ro, func(rec arrow.RecordBatch) error {
		filled, err := projection.Fill(mem, rec)
		if err != nil {
			return &stageError{err}
		}
		defer filled.Release()
		return write(schemas.NVTX, filled)
	}); err != nil {
		return res, err
	}
	res.Warnings = warnings(ctx, db, res, hasRanges, projection)
	return res, nil
}

// graphTraceTable holds whole-graph launches (--cuda-graph-trace=graph).
const graphTraceTable = "CUPTI_ACTIVITY_KIND_GRAPH_TRACE"

// warnings says what a reader of the run's rows should know about the
// export.
func warnings(ctx context.Context, db *nsysdb.DB, res Result, hasRanges bool, p *nvtxproj.Projection) []string {
	var w []string
	present := 0
	for _, t := range nsysdb.EventSources {
		if db.HasTable(t) {
			present++
		}
	}
	switch {
	case present == 0:
		w = append(w, "no CUDA or NVTX events recorded: the export has no event tables ("+
			strings.Join(nsysdb.EventSources, ", ")+"); CUDA injection may have failed or nothing was traced")
	case res.Events() == 0:
		w = append(w, "no CUDA or NVTX events recorded: the event tables are empty")
	}
	if n := p.OpenRanges(); n > 0 {
		w = append(w, fmt.Sprintf("%d NVTX range(s) never closed: their end is null; the GPU projection takes the last NVTX timestamp as their end", n))
	}
	if hasRanges && res.Rows[schemas.CudaAPI.Name] == 0 && res.Rows[schemas.Kernels.Name]+res.Rows[schemas.Memcpys.Name]+res.Rows[schemas.Memsets.Name] > 0 {
		w = append(w, "GPU operations without CUDA API calls: NVTX ranges cannot be projected onto the GPU")
	}
	// Graphs traced whole (nsys --cuda-graph-trace=graph) leave one row per
	// graph launch and none per kernel; the tables hold no such rows, nor
	// do nsys's kernel reports count them.
	if st, err := db.Stats(ctx, graphTraceTable); err == nil && st.Rows > 0 {
		w = append(w, fmt.Sprintf("%d CUDA graph launch(es) traced as whole graphs (%s) are not loaded: "+
			"the kernels inside them are missing from kernels; trace with --cuda-graph-trace=node to get them", st.Rows, graphTraceTable))
	}
	return w
}

// stageError carries an error of the sink or of the projection through
// nsysdb.Read, which returns the errors of its callback as they are.
type stageError struct{ err error }

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

func stage(err error) error {
	if err == nil {
		return nil
	}
	return &stageError{err}
}

// malformedError is an nsysdb error about the input: it is both
// ErrMalformedExport and the nsysdb error it wraps.
type malformedError struct{ err error }

func (e *malformedError) Error() string   { return e.err.Error() }
func (e *malformedError) Unwrap() []error { return []error{ErrMalformedExport, e.err} }

// classify marks nsysdb's errors about the input as ErrMalformedExport.
func classify(err error) error {
	if errors.Is(err, nsysdb.ErrMalformed) {
		return &malformedError{err}
	}
	return err
}
