package queries

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"vitlab/etl/warehouse"
	"vitlab/queries/duck"
)

// Compaction of _derived/: each derivation pass writes one file per
// derived table for its batches (up to 32 small batches, or one batch),
// so a warehouse ingested a few batches at a time holds a file per table
// per pass: ~16,000 small files at 100x the sample, ~459 per table, which
// every query, the view database and the report open one by one.
// CompactDerived merges the files of consecutive small passes into one
// file per table for up to DefaultCompactRows rows, and commits them as a
// derivation does (warehouse.CompactDerivedShared: new files moved in, ONE
// manifest replacement under the lock, the files no batch lists any more
// removed after it). Nothing committed is rewritten in place: a
// compaction killed at any point leaves the earlier files listed, the
// warehouse queryable with the same answers.

// DefaultCompactRows bounds the rows of the largest derived table (e.g.
// nsys_nvtx_kern_sum) in one compacted file: 64k, a query's part
// (DefaultPartRows), so that reading an answer a part at a time reads one
// or two files a part.
const DefaultCompactRows = 64 << 10

// CompactStats says what CompactDerived did.
type CompactStats struct {
	// Groups is how many groups of batches got one file per table;
	// Batches how many batches they hold.
	Groups, Batches int
	// FilesBefore and FilesAfter count the distinct derived files the
	// manifest lists before and after.
	FilesBefore, FilesAfter int
}

// CompactDerived merges the derived files of the warehouse dir's batches
// whose derivation is current (this catalog's DeriveKey) in groups of
// consecutive batches (BatchIDs order) of at most maxRows rows in any
// derived table (<= 0: DefaultCompactRows). A pass's files that already
// hold maxRows/2 rows or more are left as they are; a batch whose
// derivation is missing or stale ends a group. Each group is written and
// committed on its own; a group whose derivation changed meanwhile (a
// derive or compaction in another process) is skipped.
func CompactDerived(ctx context.Context, dir string, res Resources, maxRows int64) (CompactStats, error) {
	var st CompactStats
	if maxRows <= 0 {
		maxRows = DefaultCompactRows
	}
	cat, abs, m, key, err := derivationState(dir, "compact")
	if err != nil {
		return st, err
	}
	names := derivedNames(cat)
	st.FilesBefore = countDerivedFiles(m)
	groups := compactGroups(m, key, names, maxRows)
	if len(groups) == 0 {
		st.FilesAfter = st.FilesBefore
		return st, nil
	}
	db, err := duck.OpenConfig(ctx, res.config())
	if err != nil {
		return st, fmt.Errorf("queries: compact: %w", err)
	}
	defer db.Close()
	trace := tracer()
	for _, ids := range groups {
		t0 := time.Now()
		done, err := compactOne(ctx, db, abs, m, ids, key, names)
		if err != nil {
			return st, err
		}
		if !done {
			continue
		}
		st.Groups++
		st.Batches += len(ids)
		trace(fmt.Sprintf("compact %d batches", len(ids)), t0)
	}
	if m, err = warehouse.ReadManifest(abs); err != nil {
		return st, fmt.Errorf("queries: compact: %w", err)
	}
	st.FilesAfter = countDerivedFiles(m)
	return st, nil
}

// compactOne compacts the group ids (compactGroup) and says whether it
// did: not when another process derived or compacted those batches since
// m was read (an ingest running beside this one), which may also have
// removed the files m lists while they were read.
func compactOne(ctx context.Context, db *duck.DB, abs string, m *warehouse.Manifest, ids []string, key string, names []string) (bool, error) {
	err := compactGroup(ctx, db, abs, m, ids, key, names)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, warehouse.ErrDerivedChanged), errors.Is(err, warehouse.ErrBatchGone), changedSince(abs, m, ids):
		return false, nil
	}
	return false, err
}

// changedSince says whether a batch of ids is gone from the warehouse's
// current manifest or lists other derived files than in m.
func changedSince(abs string, m *warehouse.Manifest, ids []string) bool {
	now, err := warehouse.ReadManifest(abs)
	if err != nil {
		return false
	}
	for _, id := range ids {
		a, b := m.Batches[id], now.Batches[id]
		if b == nil || b.Generation != a.Generation || b.Derived == nil || b.Derived.Key != a.Derived.Key ||
			len(b.Derived.Tables) != len(a.Derived.Tables) {
			return true
		}
		for name, tf := range a.Derived.Tables {
			if !slices.Equal(tf.Files, b.Derived.Tables[name].Files) {
				return true
			}
		}
	}
	return false
}

// countDerivedFiles counts the distinct derived files m lists.
func countDerivedFiles(m *warehouse.Manifest) int {
	files := map[string]bool{}
	for _, b := range m.Batches {
		if b.Derived == nil {
			continue
		}
		for _, tf := range b.Derived.Tables {
			for _, f := range tf.Files {
				files[f] = true
			}
		}
	}
	return len(files)
}

// compactGroups returns the groups of batches CompactDerived merges: runs
// of consecutive batches (BatchIDs order) whose derivation is current for
// every name, cut where the largest table would pass maxRows; a pass's
// batches listing the same files (a unit) stay together, and a unit of
// maxRows/2 rows or more is left alone. Only groups of two units or more
// are returned (one unit is one file per table already).
func compactGroups(m *warehouse.Manifest, key string, names []string, maxRows int64) [][]string {
	var groups [][]string
	var cur []string // the group being built
	units, curRows := 0, int64(0)
	flush := func() {
		if units >= 2 {
			groups = append(groups, cur)
		}
		cur, units, curRows = nil, 0, 0
	}
	ids := m.BatchIDs()
	for i := 0; i < len(ids); {
		sig, ok := unitOf(m.Batches[ids[i]], key, names)
		if !ok {
			flush()
			i++
			continue
		}
		// the unit: the following batches listing the same files
		j := i + 1
		for ; j < len(ids); j++ {
			if s, ok := unitOf(m.Batches[ids[j]], key, names); !ok || s != sig {
				break
			}
		}
		unitRows := unitMaxRows(m, ids[i:j], names)
		switch {
		case unitRows >= maxRows/2:
			flush()
		default:
			if units > 0 && curRows+unitRows > maxRows {
				flush()
			}
			cur = append(cur, ids[i:j]...)
			units++
			curRows += unitRows
		}
		i = j
	}
	flush()
	return groups
}

// unitOf returns the files batch b's derivation lists for names (joined,
// to compare) and whether it is current for each of them and no other.
func unitOf(b *warehouse.Batch, key string, names []string) (string, bool) {
	if b.Derived == nil || b.Derived.Key != key || len(b.Derived.Tables) != len(names) {
		return "", false
	}
	var sig strings.Builder
	for _, name := range names {
		tf, ok := b.Derived.Tables[name]
		if !ok || len(tf.Files) != 1 {
			return "", false
		}
		sig.WriteString(tf.Files[0])
		sig.WriteByte(0)
	}
	return sig.String(), true
}

// unitMaxRows is the most rows any of names has over batches ids.
func unitMaxRows(m *warehouse.Manifest, ids []string, names []string) int64 {
	var most int64
	for _, name := range names {
		var n int64
		for _, id := range ids {
			n += m.Batches[id].Derived.Tables[name].Rows
		}
		most = max(most, n)
	}
	return most
}

// compactGroup writes, for each derived table, the rows of batches ids
// from their current files into one new file (in batch_id order, each
// batch's rows in their stored order: what orderedScan reads) and commits
// them.
func compactGroup(ctx context.Context, db *duck.DB, abs string, m *warehouse.Manifest, ids []string, key string, names []string) error {
	dir, err := os.MkdirTemp(abs, ".derive-")
	if err != nil {
		return fmt.Errorf("queries: compact: %w", err)
	}
	defer os.RemoveAll(dir)
	gens := map[string]int{}
	rows := map[string]map[string]int64{}
	expect := map[string]map[string][]string{}
	for _, id := range ids {
		b := m.Batches[id]
		gens[id] = b.Generation
		rows[id] = map[string]int64{}
		expect[id] = map[string][]string{}
		for _, name := range names {
			tf := b.Derived.Tables[name]
			rows[id][name] = tf.Rows
			expect[id][name] = tf.Files
		}
	}
	files := map[string]warehouse.StagedFile{}
	for _, name := range names {
		var srcs []warehouse.DerivedSource
		at := map[string]int{}
		var total int64
		for _, id := range ids {
			f := m.Batches[id].Derived.Tables[name].Files[0]
			i, ok := at[f]
			if !ok {
				i = len(srcs)
				at[f] = i
				srcs = append(srcs, warehouse.DerivedSource{File: filepath.Join(abs, filepath.FromSlash(f))})
			}
			srcs[i].Batches = append(srcs[i].Batches, id)
			total += rows[id][name]
		}
		path := filepath.Join(dir, name+".parquet")
		if err := db.CopyParquet(ctx, "select * exclude ("+segCol+", file_row_number) from "+orderedScan(scanSegments(srcs, nil))+orderKeys, path); err != nil {
			return fmt.Errorf("queries: compact %s: %w", name, err)
		}
		// The rows written are the rows listed: a check that no file gave
		// more or fewer (its metadata; cheap).
		res, err := db.Query(ctx, "select count(*) from read_parquet("+duck.Quote(path)+")")
		if err != nil {
			return fmt.Errorf("queries: compact %s: %w", name, err)
		}
		if n := asInt64(res.Rows[0][0]); n != total {
			return fmt.Errorf("queries: compact %s: wrote %d rows, the manifest lists %d", name, n, total)
		}
		files[name] = warehouse.StagedFile{Path: path, Rows: total}
		db.ReleaseMemory()
	}
	if err := warehouse.CompactDerivedShared(ctx, abs, gens, key, files, rows, expect); err != nil {
		return fmt.Errorf("queries: compact: %w", err)
	}
	return nil
}
