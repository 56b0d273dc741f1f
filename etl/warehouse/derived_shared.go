package warehouse

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// CommitDerivedShared commits one derivation of several batches at once.
// files[name] is a finished Parquet file holding the derived rows of table
// name for every batch in batches (batch id → the Generation the caller
// derived from); rows[id][name] is that batch's row count in it (every
// batch needs an entry for every table; StagedFile.Rows is not used). Each
// file moves (rename, fsync) to
// wh/_derived/<name>/shared/part-<key12>-<n>.parquet (n: the first free
// number from 1), and every batch in batches gets Derived{Key: key,
// Tables: {name: TableFiles{Files: [that relative path], Rows:
// rows[id][name]}}}, the same file listed by each of them, replacing its
// earlier derivation, in ONE manifest replacement under the warehouse
// lock (the commit point).
//
// Names, key and staged paths follow CommitDerived's rules. It refuses
// with ErrBatchGone (wrapped), changing nothing, when any batch is not
// committed or has another Generation; on any error before the commit
// point the moved files go back to their staged paths, and after a crash
// they are unlisted and the next recovery removes them. After the commit
// point it removes every file under wh/_derived/<name>/ (in the
// batch_id=<id>/ directories of these batches and in shared/) that no
// batch of the manifest lists any more, and directories left empty; an
// error there does not undo the commit and is not returned.
//
// A shared file keeps the rows of every batch it was derived for, also
// after some of them are replaced or derived again: readers read only the
// rows of the batches that list it (Manifest.DerivedSources).
func CommitDerivedShared(ctx context.Context, wh string, batches map[string]int, key string, files map[string]StagedFile, rows map[string]map[string]int64) error {
	return commitDerived(ctx, wh, batches, key, files, rows, derivedLayout{
		what:  "derived shared",
		label: "shared derived",
		dir:   func(name string) string { return DerivedDir + "/" + name + "/" + SharedDir },
		name:  freeNumberedName,
	})
}

// ErrDerivedChanged is returned (wrapped) by CompactDerivedShared when a
// batch's derivation is no longer the one its files were compacted from.
var ErrDerivedChanged = errors.New("derivation changed since it was read")

// CompactDerivedShared commits files that hold, for every derived table of
// batches, the rows their current derivation lists in other files
// (compacted: fewer, bigger files), as CommitDerivedShared does: the new
// files are moved in and listed in ONE manifest replacement under the
// lock; files no batch lists any more are removed after that. Nothing
// committed is rewritten: a compaction cut short leaves the earlier files
// listed (and its moved files unlisted, for recovery to remove). Under
// the lock each batch must still have Derived.Key == key and list exactly
// the files of expect[id] (table name → files) for exactly those tables;
// else it refuses with ErrDerivedChanged (wrapped), changing nothing (a
// derive or compaction of the same batches committed meanwhile).
func CompactDerivedShared(ctx context.Context, wh string, batches map[string]int, key string, files map[string]StagedFile, rows map[string]map[string]int64, expect map[string]map[string][]string) error {
	return commitDerived(ctx, wh, batches, key, files, rows, derivedLayout{
		what:  "derived compact",
		label: "compacted derived",
		dir:   func(name string) string { return DerivedDir + "/" + name + "/" + SharedDir },
		name:  freeNumberedName,
		check: func(id string, b *Batch) error {
			want := expect[id]
			if b.Derived == nil || b.Derived.Key != key || len(b.Derived.Tables) != len(want) || len(files) != len(want) {
				return fmt.Errorf("warehouse: compacting the derived tables of batch %s: %w", id, ErrDerivedChanged)
			}
			for name, tf := range b.Derived.Tables {
				w, ok := want[name]
				if !ok || !slices.Equal(w, tf.Files) {
					return fmt.Errorf("warehouse: compacting derived table %s of batch %s: %w", name, id, ErrDerivedChanged)
				}
				if _, ok := files[name]; !ok {
					return fmt.Errorf("warehouse: compacting the derived tables of batch %s: no file for table %s", id, name)
				}
			}
			return nil
		},
	})
}

// freeNumberedName returns dir/part-<key12>-<n>.parquet with the smallest
// n from 1 that no entry of dir has.
func freeNumberedName(dir, key12 string) (string, error) {
	for n := 1; ; n++ {
		p := filepath.Join(dir, fmt.Sprintf("part-%s-%d.parquet", key12, n))
		switch _, err := os.Lstat(p); {
		case errors.Is(err, fs.ErrNotExist):
			return p, nil
		case err != nil:
			return "", fmt.Errorf("warehouse: %w", err)
		}
	}
}

// DerivedSource is one derived file and the batches whose current
// derivation lists it (BatchIDs() order).
type DerivedSource struct {
	File    string // relative to the warehouse root, slash-separated
	Batches []string
}

// DerivedSources returns the distinct files of derived table name listed
// by batches whose Derived.Key == key (in order of first listing, batches
// in BatchIDs() order), each with those batches, and the ids of the
// batches without a current derivation of name (as DerivedFiles' missing).
// A shared file may also hold rows of batches that no longer list it (a
// batch replaced and derived again since): readers must read only the
// listed batches' rows from each file.
func (m *Manifest) DerivedSources(name, key string) (sources []DerivedSource, missing []string) {
	at := map[string]int{} // file → index in sources
	for _, id := range m.BatchIDs() {
		b := m.Batches[id]
		if b.Derived == nil || b.Derived.Key != key {
			missing = append(missing, id)
			continue
		}
		tf, ok := b.Derived.Tables[name]
		if !ok {
			missing = append(missing, id)
			continue
		}
		for _, f := range tf.Files {
			i, ok := at[f]
			if !ok {
				i = len(sources)
				at[f] = i
				sources = append(sources, DerivedSource{File: f})
			}
			if s := &sources[i]; len(s.Batches) == 0 || s.Batches[len(s.Batches)-1] != id {
				s.Batches = append(s.Batches, id)
			}
		}
	}
	return sources, missing
}
