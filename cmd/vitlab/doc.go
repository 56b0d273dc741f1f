// Command vitlab turns nsys profiles of ViT inference into a Parquet
// warehouse and answers research questions from it with saved DuckDB SQL.
//
// Each subcommand lives in its own file and registers itself in init; main
// wires signals and exit codes: 0 success, 1 some inputs or runs failed (the
// rest landed), 2 usage error.
package main
