// Package ingest runs one ingest: it turns a batch directory written by the
// collector, or a set of bare nsys exports, into one committed batch of the
// warehouse.
//
// In go paths (one batch directory, or export files and directories of
// *.sqlite / *.sqlite.zst) and a Request (warehouse, batch id, labels,
// replace, jobs). Run discovers the runs (run.json, never file names, gives
// a collector run its settings), hashes every input file into the batch's
// content hash, stops at once when the warehouse already holds that content
// (or refuses a changed batch without Replace), loads the exports in
// parallel through normalize.Export, builds the runs (one column per
// setting of schemas.Settings(), from run.json's effective settings: null
// when absent, a zero kept), batches, clean_windows (run.json windows,
// energy in J; none for batches before schema version 3) and gpu_samples
// (nvml.jsonl, or nvml.jsonl.zst) rows itself, compacts each table to few part
// files and commits through package warehouse. Out comes a Summary, and
// failures and progress through callbacks as they happen.
//
// Staging: each of the Jobs load workers appends the records of every run
// it loads to one spool per table (warehouse.Spool, an Arrow IPC file,
// LZ4-compressed only when the disk would otherwise be tight): no file is
// created per export and almost nothing is encoded while loading. A worker loads one run at a time, so a run's records of a table
// are consecutive in its spool: a warehouse.Segment. Compaction then
// streams the segments of the runs that landed, in run id order, into the
// Parquet parts, a few at a time; every row is encoded to Parquet once,
// and the parts are the same whatever the number of jobs.
//
// A bad input (an export the loader rejects with
// normalize.ErrMalformedExport, a run directory without a readable run.json
// or export, a malformed nvml.jsonl) is set aside: what it already
// appended stays in the spools, but no segment names it, so none of its
// rows reach the warehouse; it is reported and listed in the manifest, and
// the rest of the batch still lands. Any other error stops the ingest and
// leaves the warehouse as it was.
//
// Memory: a load in flight holds the record being read (DefaultBatchRows
// rows), its SQLite connection, its spools' buffers and what the NVTX
// projection keeps of its export (which grows with the export: about 1.2
// bytes per byte of SQLite); a part being written holds one Parquet row
// group (parquetout). So besides the Jobs, a load budget
// (Request.LoadBudget, DefaultLoadBudget) bounds the SQLite bytes loading
// at once: small exports load Jobs at a time, big ones fewer, one that is
// bigger than the budget alone. Nothing grows with the batch.
//
// It wraps nothing itself: SQLite is read by normalize (nsysdb), Parquet
// is written by parquetout, and the warehouse protocol lives in warehouse.
package ingest
