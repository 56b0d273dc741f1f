package normalize

import (
	"context"
	"errors"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

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
func Export(ctx context.Context, path string, key RunKey, opts Options, sink Sink) (Result, error) {
	return Result{}, errors.New("normalize.Export: not implemented yet")
}
