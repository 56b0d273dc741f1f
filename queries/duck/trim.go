package duck

/*
#include <stdlib.h>
#include <stddef.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

// DuckDB's own allocator: on 64-bit Linux DuckDB links jemalloc under the
// prefix duckdb_je_ (its buffer manager's blocks, sorts, hash tables);
// elsewhere the symbol is absent (weak: NULL).
extern int duckdb_je_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) __attribute__((weak));

static void vitlab_malloc_trim(void) {
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static void vitlab_je_purge(void) {
	if (duckdb_je_mallctl) {
		// MALLCTL_ARENAS_ALL (4096): every arena's unused dirty pages.
		duckdb_je_mallctl("arena.4096.purge", NULL, NULL, NULL, 0);
	}
}
*/
import "C"

// ReleaseMemory hands the C heap's free memory back to the operating
// system (glibc's malloc_trim; nothing elsewhere). DuckDB's operators
// allocate outside its buffer manager through malloc (a Parquet reader per
// file, its metadata and column readers), and glibc keeps what they free in
// its per-thread arenas: writing the view database of a 100x warehouse
// (16,000 small derived files read in ~60 statements) held ~600 MB RSS
// with a 160 MiB memory_limit, ~400 MB trimmed after each statement. It
// takes a few milliseconds; call it between big statements, not per row.
func (d *DB) ReleaseMemory() { C.vitlab_malloc_trim() }

// PurgeAllocator hands back the pages DuckDB's own allocator keeps: on
// 64-bit Linux DuckDB links jemalloc (its buffer manager's blocks, sorts,
// hash tables), which keeps the pages they free resident for its decay
// time (about a second); elsewhere it does nothing. vitlab report writing
// nsys_nvtx_kern_sum of a 10x warehouse part by part (each part sorted)
// rose ~140 MiB over the query before it, ~40 MiB with jemalloc's decay
// set to 0. It costs more than ReleaseMemory: the next statement faults
// the pages in again (~35 ms a part of nsys_nvtx_kern_sum at 100x).
func (d *DB) PurgeAllocator() { C.vitlab_je_purge() }
