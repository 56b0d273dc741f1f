package warehouse

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
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
func CommitDerivedShared(ctx context.Context, wh string, batches map[string]int, key string, files map[string]StagedFile, rows map[string]map[string]int64) (err error) {
	if len(batches) == 0 {
		return errors.New("warehouse: shared derived tables: no batches")
	}
	ids := make([]string, 0, len(batches))
	for id := range batches {
		if err := CheckBatchID(id); err != nil {
			return fmt.Errorf("warehouse: shared derived tables: %w", err)
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	key12 := short(key)
	if !validKeyPrefix.MatchString(key12) {
		return fmt.Errorf("warehouse: shared derived tables: key %q: its first 12 characters must be letters, digits, '_' or '-'", key)
	}
	names := make([]string, 0, len(files))
	sources := map[string]string{}
	derivedRoot := filepath.Join(wh, DerivedDir)
	for name, sf := range files {
		if !validDerivedName.MatchString(name) {
			return fmt.Errorf("warehouse: derived table name %q: use lower-case letters, digits and '_'", name)
		}
		for _, id := range ids {
			n, ok := rows[id][name]
			if !ok {
				return fmt.Errorf("warehouse: shared derived table %s: no row count of batch %s", name, id)
			}
			if n < 0 {
				return fmt.Errorf("warehouse: shared derived table %s: %d rows of batch %s", name, n, id)
			}
		}
		abs, err := filepath.Abs(sf.Path)
		if err != nil {
			return fmt.Errorf("warehouse: shared derived table %s: %w", name, err)
		}
		if other, ok := sources[abs]; ok {
			return fmt.Errorf("warehouse: shared derived tables %s and %s have the same file %s", other, name, sf.Path)
		}
		sources[abs] = name
		if inside(derivedRoot, sf.Path) {
			return fmt.Errorf("warehouse: shared derived table %s: staged file %s lies under %s, which recovery cleans: stage it elsewhere", name, sf.Path, derivedRoot)
		}
		fi, err := os.Lstat(sf.Path)
		if err != nil {
			return fmt.Errorf("warehouse: shared derived table %s: %w", name, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("warehouse: shared derived table %s: %s is not a regular file", name, sf.Path)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	if err := ctx.Err(); err != nil {
		return err
	}

	l, err := LockWarehouse(ctx, wh, nil)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, l.Unlock()) }()
	CrashPoint("derived shared: locked")

	m, err := ReadManifest(wh)
	if err != nil {
		return err
	}
	for _, id := range ids {
		b := m.Batches[id]
		switch {
		case b == nil:
			return fmt.Errorf("warehouse: shared derived tables of batch %s: the batch is not committed: %w", id, ErrBatchGone)
		case b.Generation != batches[id]:
			return fmt.Errorf("warehouse: shared derived tables of batch %s: derived from generation %d, the warehouse holds generation %d: %w",
				id, batches[id], b.Generation, ErrBatchGone)
		}
	}

	// Until the manifest names them, moved files are not part of the
	// warehouse; on failure they go back where they were staged, or when
	// that fails away (recovery would remove them anyway).
	type move struct{ from, to string }
	var moved []move
	committed := false
	defer func() {
		if !committed {
			for _, mv := range moved {
				if os.Rename(mv.to, mv.from) != nil {
					os.Remove(mv.to)
				}
			}
		}
	}()

	paths := map[string]string{} // table name → committed path, relative
	var newDirs []string         // created directories, whose parents need an fsync
	for _, name := range names {
		sf := files[name]
		ndir := filepath.Join(derivedRoot, name)
		sdir := filepath.Join(ndir, SharedDir)
		for _, dir := range []string{derivedRoot, ndir, sdir} {
			switch err := os.Mkdir(dir, 0o755); {
			case err == nil:
				newDirs = append(newDirs, dir)
				CrashPoint("derived shared: mkdir " + rel(wh, dir))
			case !errors.Is(err, fs.ErrExist):
				return fmt.Errorf("warehouse: %w", err)
			}
		}
		dst, err := freeNumberedName(sdir, key12)
		if err != nil {
			return err
		}
		if err := os.Rename(sf.Path, dst); err != nil {
			return fmt.Errorf("warehouse: shared derived table %s: %w", name, err)
		}
		moved = append(moved, move{sf.Path, dst})
		CrashPoint("derived shared: move " + rel(wh, dst))
		if err := syncPath(dst); err != nil {
			return err
		}
		CrashPoint("derived shared: fsync " + rel(wh, dst))
		if err := syncPath(sdir); err != nil {
			return err
		}
		CrashPoint("derived shared: fsync " + rel(wh, sdir))
		paths[name] = rel(wh, dst)
	}
	// Make the creations of new directories durable, deepest first.
	synced := map[string]bool{}
	for i := len(newDirs) - 1; i >= 0; i-- {
		parent := filepath.Dir(newDirs[i])
		if synced[parent] {
			continue
		}
		if err := syncPath(parent); err != nil {
			return err
		}
		synced[parent] = true
		CrashPoint("derived shared: fsync " + rel(wh, parent))
	}

	nm := &Manifest{Format: ManifestFormat, SchemaVersion: m.SchemaVersion, Batches: map[string]*Batch{}}
	for id, ob := range m.Batches {
		nm.Batches[id] = ob
	}
	for _, id := range ids {
		d := &Derived{Key: key, Tables: map[string]TableFiles{}}
		for _, name := range names {
			d.Tables[name] = TableFiles{Files: []string{paths[name]}, Rows: rows[id][name]}
		}
		nb := *m.Batches[id]
		nb.Derived = d
		nm.Batches[id] = &nb
	}
	CrashPoint("derived shared: write manifest")
	if err := writeManifest(wh, nm); err != nil {
		return err
	}
	committed = true
	CrashPoint("derived shared: committed")

	// The commit stands whatever happens here; what is left, the next
	// derivation of these batches or recovery removes.
	set := map[string]bool{}
	for _, id := range ids {
		set[id] = true
	}
	removeDerivedUnlistedOf(wh, nm, set)
	return nil
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
