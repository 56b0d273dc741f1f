// Command querybench times every saved query and check of the catalog
// inside one process over a warehouse (the median of --runs runs after one
// warm-up run), and prints a table with each query's ratio to a target.
// With --replicate K it first builds a warehouse of the sample batches
// ingested K times under distinct batch ids (batch.json's id gets a
// "-xNNN" suffix; the run folders are shared through symlinks), by calling
// the vitlab binary, so the same queries are timed on K times the data.
// `make bench-queries` runs both; it wraps package queries (DuckDB).
package main
