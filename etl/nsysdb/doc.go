// Package nsysdb reads the SQLite exports of NVIDIA Nsight Systems
// (nsys export --type sqlite, or a zstd-compressed .sqlite.zst of one) and
// turns their event tables into Arrow records in the warehouse schemas of
// package schemas. It is the only package of vitlab that imports the SQLite
// driver (modernc.org/sqlite, pure Go); it also wraps the zstd decoder
// (github.com/klauspost/compress/zstd) for compressed exports.
//
// What goes in: the path of an export written by any nsys from 2020.3 on.
// Open sniffs the file (zstd frame, SQLite header, declared size against the
// file's size), decompresses a .zst into Options.TempDir, opens the database
// read-only and immutable, checks that it holds nsys's tables, and reads the
// layout of each table it needs with PRAGMA table_info.
//
// What comes out: DB.Read streams one warehouse table (devices, kernels,
// memcpys, memsets, cuda_api, nvtx) as Arrow records of at most
// Options.BatchRows rows. Columns are always read by name, never by position,
// so columns that nsys inserted over the years (mangledName in 2022.1,
// greenContextId in 2024.6, graphId and cluster dimensions in 2025.5) or that
// other tools appended do not matter; a warehouse column whose source column
// an export lacks is null. A missing event table means no events: Read then
// produces no records. Names are resolved through StringIds held in memory
// once per export; NVTX names are COALESCE(StringIds[textId], text), the
// order nsys's own reports use, and a domain name comes from the
// domain-create event (type 75) of the same domain id in the same process.
// Derived ids follow nsys's serialized global ids: pid = (gid >> 24) &
// 0xFFFFFF, tid = gid & 0xFFFFFF, and an API call's global pid is its
// globalTid with the thread bits cleared. Copy and memory kinds are labelled
// with schemas.CopyKind and schemas.MemKind, since exports older than 2022.4
// have no ENUM_* tables.
//
// Values keep nsys's meaning: timestamps are ns since the session start, as
// stored; nsys's unsigned 32-bit values (NVTX categories, memset values)
// keep their bit pattern in the warehouse's 32-bit columns. DB.Stats counts
// and sums a source table directly, for checks against the warehouse.
// Package nsysdbtest builds, alters and damages SQLite files for tests.
//
// The NVTX tree and GPU projection columns of nvtx (depth, parent_id,
// gpu_start, gpu_end, gpu_ops) are left null here; package nvtxproj fills
// them.
//
// Errors: every problem with the input itself — empty, truncated, not
// SQLite, not an nsys export, a damaged page, a table lacking a column the
// warehouse requires, a value of the wrong type — wraps ErrMalformed and
// names the file, and where it applies the table and row. Other errors are
// I/O failures of the machine or a cancelled context.
package nsysdb
