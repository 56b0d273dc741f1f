// Command ingestbench measures `vitlab ingest` against the SQLite C library
// scanning the same tables of the same files, in the same run (make bench).
//
// It builds a batch of bare exports by replicating the given exports (the
// nsys fixtures, and the exports of the shipped sample batch, decompressed)
// to --exports files, then times, --repeats times each:
//
//   - the reference: the sqlite3 CLI reading every row of every table vitlab
//     reads (SELECT * … > /dev/null), one process per export, one at a time
//     (one core);
//   - a pandas reader (pandas.read_sql_query of the same tables, one Python
//     process for the whole batch), when a Python with pandas is found;
//   - vitlab ingest --jobs J into a fresh warehouse, for each J of --jobs;
//   - with --large K, the same on K large exports (the seed with the most
//     events grown to about --large-events rows by the sqlite3 CLI): the
//     ratio and the peak memory when every job holds a big export.
//
// It prints medians, events/s, the ratio to the reference, the speed-up over
// --jobs 1, and the peak resident memory of each ingest (getrusage maxrss).
// With --scale it also ingests a batch twice as large to show that peak
// memory does not grow with the batch.
package main
