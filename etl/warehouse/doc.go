// Package warehouse owns the on-disk layout of the vitlab warehouse and the
// protocol that changes it: append-only, crash-safe and safe for several
// ingests at once.
//
// Layout (DESIGN.md, "Warehouse"):
//
//	<wh>/_manifest.json                          committed batches, their files, rows, content hash
//	<wh>/<table>/batch_id=<id>/part-NNNN.parquet hive-partitioned Parquet, one set per batch
//	<wh>/_lock                                   flock(2) held by commit and recovery
//	<wh>/_staging/<unique>/                      one per running ingest, flock'ed owner.lock inside
//	<wh>/_derived/<name>/batch_id=<id>/part-<key12>.parquet  derived tables of a batch
//	<wh>/_derived/<name>/shared/part-<key12>-<n>.parquet    derived tables of several batches
//
// In go rows appended to spools of a Staging directory (Arrow IPC files,
// never visible), which Staging.Compact turns into complete Parquet part
// files (through parquetout), and a Commit naming the parts; out comes a
// new manifest. A batch is visible exactly when the manifest lists
// it: readers use ReadManifest and Manifest.Files, never a directory glob.
//
// CommitBatch, under the warehouse lock: recovery (files in partition
// directories the manifest does not list, a stale temporary manifest and the
// staging directories of dead processes are removed), re-read of the
// manifest, no-op on an identical content hash, refusal (ErrBatchChanged)
// of a different hash unless Replace, rename of the parts into
// <table>/batch_id=<id>/ with part numbers never used before in that directory,
// fsync of files and directories, manifest replaced atomically (the commit
// point), and last the removal of the replaced generation's files. The lock
// is held only for that; ingests load in parallel in their own staging
// directories. CrashPoint and CrashEnv let tests kill the process at every
// step.
//
// The partition directory is named after the batch_id column
// (schemas.PartitionDir), so hive readers (pyarrow, DuckDB, Spark) see one
// batch_id column. Warehouses written before schema version 3 used
// <table>/batch=<id>/ (LegacyPartitionDir): recovery, and so every ingest
// and commit, first moves them to the current layout (Migrate),
// crash-safely: hard links, one manifest replacement, then removal of the
// old names.
//
// Derived tables are per-batch Parquet files the query layer computes
// from a committed batch. CommitDerived moves them into
// _derived/<name>/batch_id=<id>/ and records them in the batch's Derived
// (Key, naming the derivation, and its tables' files), replacing any
// earlier derivation in one manifest replacement, under the warehouse lock;
// it refuses (ErrBatchGone) when the batch is gone or is not in the
// generation they were derived from, and after the commit point removes
// the batch's unlisted derived files. A replace (CommitBatch) drops the
// derivation with the old generation's files; recovery removes unlisted
// files of derived partition directories like those of the tables.
// CommitDerivedShared commits one derivation of several batches (a chunk
// the query layer derived in one pass) as one file per derived table in
// _derived/<name>/shared/, listed by each of those batches with its own
// row count, in one manifest replacement; a shared file stays while any
// batch lists it (a batch derived again or replaced drops only its own
// listing, so the file may hold rows of batches that no longer list it),
// and cleanup and recovery remove it when none does.
// Manifest.DerivedFiles lists the distinct files of one derived table and
// key, and the batches that still need deriving; Manifest.DerivedSources
// lists each file with the batches whose rows a reader must take from it.
//
// It wraps flock(2) (package syscall), arrow's IPC file format (the
// spools) and, through parquetout, the Parquet writer; it runs on Linux and
// other Unix systems with flock.
package warehouse
