// Package duck is vitlab's adapter to DuckDB: the only package that imports
// github.com/duckdb/duckdb-go/v2.
//
// In goes SQL text (one statement or a script of several), SQL variables and
// an output path for Parquet; out come query results as column names, DuckDB
// type names and plain Go values (int64, float64, string, bool, time.Time,
// Decimal, nil …) or a Parquet file written by DuckDB's COPY. Each DB is one
// in-memory DuckDB database used through a single connection, so session
// state (views, SET VARIABLE) is seen by every later statement.
//
// Callers never see DuckDB driver types: values are converted to the types
// listed on Result. A big answer can instead be handed over as Arrow record
// batches (QueryArrow, DuckDB's Arrow interface): columns in Arrow buffers
// rather than a boxed Go value per cell (1.8M rows x 15 columns: seconds
// less). That path needs duckdb-go's duckdb_arrow build tag, which the
// Makefile sets; without it ArrowAvailable is false and QueryArrow returns
// ErrNoArrow.
package duck
