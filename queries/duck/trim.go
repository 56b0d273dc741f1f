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
	if (duckdb_je_mallctl) {
		// MALLCTL_ARENAS_ALL (4096): every arena's unused dirty pages.
		duckdb_je_mallctl("arena.4096.purge", NULL, NULL, NULL, 0);
	}
}
*/
import "C"

// ReleaseMemory hands the C heap's free memory back to the operating
// system: glibc's malloc_trim, and a purge of every arena of DuckDB's
// jemalloc (where DuckDB links it: 64-bit Linux; nothing elsewhere).
//
// DuckDB's operators allocate outside its buffer manager through malloc
// (a Parquet reader per file, its metadata and column readers), and glibc
// keeps what they free in its per-thread arenas: writing the view database
// of a 100x warehouse (16,000 small derived files read in ~60 statements)
// held ~600 MB RSS with a 160 MiB memory_limit, ~400 MB trimmed after each
// statement. DuckDB's own blocks come from jemalloc, which keeps the pages
// they free resident for its decay time (about a second): vitlab report
// writing nsys_nvtx_kern_sum of a 10x warehouse part by part (each part
// sorted) rose ~140 MB over the query before it, ~40 MB with jemalloc's
// decay set to 0. It takes a few milliseconds; call it between big
// statements, not per row.
func (d *DB) ReleaseMemory() { C.vitlab_malloc_trim() }
