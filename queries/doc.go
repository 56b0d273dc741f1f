// Package queries runs vitlab's saved SQL over a warehouse.
//
// In goes a warehouse directory (its _manifest.json, read with
// etl/warehouse.ReadManifest) and the name of a saved query with its
// params; out come the query's rows (duck.Result), written as an aligned
// table, CSV, JSON or Parquet.
//
// The SQL lives beside this file and is embedded in the binary:
//
//   - views/*.sql: macros and views over the base views (durations, nsys
//     operation names, NVTX full names, the unified gpu_ops view, NVTX
//     ranges and their GPU projection; 05_stats.sql: the interval
//     methods); metrics/*.sql: one view per metric; claims/*.sql: one table
//     macro per claim yielding its units, and the macros that test units
//     and turn them into verdicts (read by claims.sql);
//   - <name>.sql, nsys/, findings/, claims.sql: one saved query per file,
//     dbt-style, with a header (-- name, -- description, -- inputs,
//     -- param: key = default -- meaning, and -- derive: per-batch where its
//     rows of a batch depend on that batch only);
//   - checks/<name>.sql: checks that return no rows on a healthy warehouse.
//
// Open builds, in an in-memory DuckDB (through queries/duck, the only
// importer of DuckDB), one base view per table of schemas.All() over
// exactly the files the manifest commits (absolute paths; one read_parquet
// list per schema version, the versions unioned by name), unioned by name
// with an empty relation typed from the schema: a table without files
// still has all its columns, and a column added by a later schema version
// reads as null over older files. Then it runs views/ and metrics/, and
// replaces by their stored outputs the views, queries and small tables
// derived per batch at ingest (derive.go) when every batch has a current
// derivation. Saved SQL never names a file and holds no
// templating; a param is a DuckDB variable (SET VARIABLE) the query reads
// with getvariable('key'). Script returns the same setup as SQL text, so
// the saved files run unchanged in the DuckDB CLI or Python.
//
// That setup is written once per warehouse change into
// <warehouse>/_views.duckdb (viewdb.go: paths relative to the warehouse,
// small tables and per-run metric views stored as tables, a fingerprint
// that makes a stale file unused), which Open reads when it is current and
// which the DuckDB CLI and Python open directly. It also stores the answer
// of each saved query that is not derived, computed with its default
// params (answers.go, schema vitlab_answer); a query reads it only when
// its params and the session's variables are all at their defaults, else
// it runs live (VITLAB_NO_STORED_ANSWERS=1: always live).
package queries
