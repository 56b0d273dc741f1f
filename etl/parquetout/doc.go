// Package parquetout is the warehouse's Parquet adapter: the only package
// that imports arrow-go's Parquet writer and reader (parquet/pqarrow).
//
// In go Arrow records of one schemas.Table; out comes one Parquet file per
// Writer: zstd-compressed, the Arrow schema stored in the file
// (pqarrow.WithStoreSchema, so readers get back timestamps with their zone
// and the table's metadata), dictionary encoding for string columns only,
// data pages of 256 KiB, row groups of at most Options.MaxRowGroupRows rows
// (256Ki by default) and Options.MaxRowGroupBytes buffered bytes, column
// statistics on. Close flushes the footer and fsyncs the file before it
// returns, so a closed file is durable (Options.NoSync leaves that to the
// caller). A writer holds one row group's encoded pages and one open page
// per column in memory, and borrows a zstd encoder while it compresses a
// page: the package replaces arrow-go's zstd codec with one whose encoders
// have a 1 MiB window (a page is smaller) and are kept in a free list,
// instead of arrow-go's 16 MiB encoders that every garbage collection
// drops and the next page allocates again. Files are standard zstd
// Parquet either way.
//
// Reader streams a Parquet file back as records with bounded memory
// (records of ReadOptions.BatchRows rows; big files through a buffer);
// tests and tools use it to check what landed.
package parquetout
