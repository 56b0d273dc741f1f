// Package normalize loads one nsys export into the warehouse tables of a
// run. Export wires the export reader (package nsysdb, the only user of
// SQLite) to the NVTX tree and GPU projection (package nvtxproj) and hands
// Arrow records in the warehouse schemas of package schemas to a Sink —
// in vitlab the Parquet writer. It wraps no outside library itself.
//
// What goes in: the path of an nsys SQLite export (.sqlite, or a
// zstd-compressed .sqlite.zst) from any nsys version since 2020.3, the run
// it belongs to (RunKey) and Options (temporary directory, rows per record,
// Arrow allocator).
//
// What comes out: devices, kernels, memcpys, memsets, cuda_api and nvtx
// records written to the Sink, table by table, streamed in records of
// Options.BatchRows rows, with memory bounded by what the NVTX projection
// needs; and a Result with what the export says about itself, the rows
// written per table and warnings (for example an export whose CUDA
// injection failed and that holds no events: zero rows and a warning, not
// an error). Runs rows are the caller's.
//
// Errors: an input vitlab cannot read — empty, truncated, not SQLite, not an
// nsys export, damaged, of an unreadable layout — gives an error that wraps
// ErrMalformedExport and names the file (and table and row where it
// applies); the caller sets that input aside and goes on. Any other error
// (the sink's, the machine's, a cancelled context) is returned as it is,
// wrapped with the file.
package normalize
