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
// parallel through normalize.Export into per-run staged Parquet files,
// builds the runs, batches and gpu_samples (nvml.jsonl) rows itself,
// compacts each table to few part files and commits through package
// warehouse. Out comes a Summary, and failures and progress through
// callbacks as they happen.
//
// A bad input (an export the loader rejects with
// normalize.ErrMalformedExport, a run directory without a readable run.json
// or export, a malformed nvml.jsonl) is set aside: its staged files are
// deleted, it is reported and listed in the manifest, and the rest of the
// batch still lands. Any other error stops the ingest and leaves the
// warehouse as it was.
//
// It wraps nothing itself: SQLite is read by normalize (nsysdb), Parquet
// is written by parquetout, and the warehouse protocol lives in warehouse.
package ingest
