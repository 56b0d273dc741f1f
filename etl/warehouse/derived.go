package warehouse

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"vitlab/schemas"
)

// DerivedDir is the warehouse folder of derived tables:
// _derived/<name>/batch_id=<id>/part-<key12>.parquet (CommitDerived) and
// _derived/<name>/shared/part-<key12>-<n>.parquet (CommitDerivedShared)
const DerivedDir = "_derived"

// SharedDir is the directory, in _derived/<name>/, of the derived files
// that several batches share (CommitDerivedShared).
const SharedDir = "shared"

// Derived is a batch's derived tables, computed by one derivation (Key
// identifies the SQL and schema that computed them).
type Derived struct {
	Key    string                `json:"key"`
	Tables map[string]TableFiles `json:"tables"`
}

// ErrBatchGone marks a CommitDerived refused because the batch is not
// committed, or not in the generation the tables were derived from.
var ErrBatchGone = errors.New("batch not committed in that generation")

// validDerivedName matches derived table names: they name a directory.
var validDerivedName = regexp.MustCompile(`^[a-z0-9_]+$`)

// validKeyPrefix matches the part of a derivation key that names files.
var validKeyPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// derivedPartition returns the directory, relative to the warehouse root,
// of batch id's files of derived table name.
func derivedPartition(name, id string) string {
	return DerivedDir + "/" + name + "/" + schemas.PartitionDir + id
}

// CommitDerived moves finished Parquet files (files: derived table name →
// StagedFile{Path, Rows}) into
// wh/_derived/<name>/batch_id=<batchID>/part-<first 12 chars of key>.parquet
// and records them as the batch's Derived{Key: key, Tables}, replacing any
// earlier derivation, with one manifest replacement (the commit point),
// holding the warehouse lock for the whole operation.
//
// The staged paths may be anywhere on wh's file system (a rename moves
// them) except under wh/_derived, whose partition directories recovery
// cleans; a Staging directory (NewStaging) is the safe place inside wh.
// Table names must be simple identifiers ([a-z0-9_]+); the first 12
// characters of key must be letters, digits, '_' or '-'. A table may have
// zero rows: its (empty) Parquet file is still committed. When the file
// name is taken (the same key derived again), the new file gets
// part-<key12>-<n>.parquet, so a listed file is never overwritten.
//
// It refuses with ErrBatchGone, changing nothing, when batchID is not
// committed or its Generation differs from generation (the batch was
// replaced meanwhile). Before the commit point the files are renamed and
// fsynced with their directories; a crash or an error leaves the old
// manifest and its derivation intact (on error the moved files go back to
// their staged paths; after a crash they are unlisted, and the next
// recovery removes them). After the commit point it
// removes every file under wh/_derived/*/batch_id=<batchID>/ and
// wh/_derived/*/shared/ that the manifest does not list (older
// derivations, leftovers of a crashed earlier commit; a shared file that
// another batch still lists stays) and directories left empty; an error there does
// not undo the commit and is not returned: the next CommitDerived of the
// batch or Recover removes what is left.
func CommitDerived(ctx context.Context, wh, batchID string, generation int, key string, files map[string]StagedFile) error {
	rows := map[string]int64{}
	for name, sf := range files {
		rows[name] = sf.Rows
	}
	return commitDerived(ctx, wh, map[string]int{batchID: generation}, key, files,
		map[string]map[string]int64{batchID: rows}, derivedLayout{
			what:  "derived",
			label: "derived",
			dir:   func(name string) string { return derivedPartition(name, batchID) },
			name:  freeName,
		})
}

// derivedLayout is where a commit of derived tables puts its files: what
// names it in crash points ("derived", "derived shared") and in errors, the
// directory of a table's file relative to the warehouse root, and the free
// file name to use in that directory.
type derivedLayout struct {
	what  string // crash points
	label string // errors
	dir   func(name string) string
	name  func(dir, key12 string) (string, error)
	// check, if not nil, vets each batch of the manifest read under the
	// lock before anything moves (CompactDerivedShared).
	check func(id string, b *Batch) error
}

// commitDerived is CommitDerived and CommitDerivedShared: it moves each
// staged file into its layout's directory and lists it, with each batch's
// rows[id][name], in the Derived of every batch of batches (id → the
// generation derived from), in one manifest replacement under the lock.
func commitDerived(ctx context.Context, wh string, batches map[string]int, key string, files map[string]StagedFile, rows map[string]map[string]int64, lay derivedLayout) (err error) {
	if len(batches) == 0 {
		return fmt.Errorf("warehouse: %s tables: no batches", lay.label)
	}
	ids := make([]string, 0, len(batches))
	for id := range batches {
		if err := CheckBatchID(id); err != nil {
			return fmt.Errorf("warehouse: %s tables: %w", lay.label, err)
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	key12 := short(key)
	if !validKeyPrefix.MatchString(key12) {
		return fmt.Errorf("warehouse: %s tables: key %q: its first 12 characters must be letters, digits, '_' or '-'", lay.label, key)
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
				return fmt.Errorf("warehouse: %s table %s: no row count of batch %s", lay.label, name, id)
			}
			if n < 0 {
				return fmt.Errorf("warehouse: %s table %s: %d rows of batch %s", lay.label, name, n, id)
			}
		}
		abs, err := filepath.Abs(sf.Path)
		if err != nil {
			return fmt.Errorf("warehouse: %s table %s: %w", lay.label, name, err)
		}
		if other, ok := sources[abs]; ok {
			return fmt.Errorf("warehouse: %s tables %s and %s have the same file %s", lay.label, other, name, sf.Path)
		}
		sources[abs] = name
		if inside(derivedRoot, sf.Path) {
			return fmt.Errorf("warehouse: %s table %s: staged file %s lies under %s, which recovery cleans: stage it elsewhere", lay.label, name, sf.Path, derivedRoot)
		}
		fi, err := os.Lstat(sf.Path)
		if err != nil {
			return fmt.Errorf("warehouse: %s table %s: %w", lay.label, name, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("warehouse: %s table %s: %s is not a regular file", lay.label, name, sf.Path)
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
	CrashPoint(lay.what + ": locked")

	m, err := ReadManifest(wh)
	if err != nil {
		return err
	}
	for _, id := range ids {
		b := m.Batches[id]
		switch {
		case b == nil:
			return fmt.Errorf("warehouse: %s tables of batch %s: the batch is not committed: %w", lay.label, id, ErrBatchGone)
		case b.Generation != batches[id]:
			return fmt.Errorf("warehouse: %s tables of batch %s: derived from generation %d, the warehouse holds generation %d: %w",
				lay.label, id, batches[id], b.Generation, ErrBatchGone)
		}
		if lay.check != nil {
			if err := lay.check(id, b); err != nil {
				return err
			}
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
		tdir := filepath.Join(wh, filepath.FromSlash(lay.dir(name)))
		for _, dir := range []string{derivedRoot, ndir, tdir} {
			switch err := os.Mkdir(dir, 0o755); {
			case err == nil:
				newDirs = append(newDirs, dir)
				CrashPoint(lay.what + ": mkdir " + rel(wh, dir))
			case !errors.Is(err, fs.ErrExist):
				return fmt.Errorf("warehouse: %w", err)
			}
		}
		dst, err := lay.name(tdir, key12)
		if err != nil {
			return err
		}
		if err := os.Rename(sf.Path, dst); err != nil {
			return fmt.Errorf("warehouse: %s table %s: %w", lay.label, name, err)
		}
		moved = append(moved, move{sf.Path, dst})
		CrashPoint(lay.what + ": move " + rel(wh, dst))
		if err := syncPath(dst); err != nil {
			return err
		}
		CrashPoint(lay.what + ": fsync " + rel(wh, dst))
		if err := syncPath(tdir); err != nil {
			return err
		}
		CrashPoint(lay.what + ": fsync " + rel(wh, tdir))
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
		CrashPoint(lay.what + ": fsync " + rel(wh, parent))
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
	CrashPoint(lay.what + ": write manifest")
	if err := writeManifest(wh, nm); err != nil {
		return err
	}
	committed = true
	CrashPoint(lay.what + ": committed")

	// The commit stands whatever happens here; what is left, the next
	// derivation of these batches or recovery removes.
	set := map[string]bool{}
	for _, id := range ids {
		set[id] = true
	}
	removeDerivedUnlistedOf(wh, nm, set)
	return nil
}

// freeName returns pdir/part-<key12>.parquet, or when that exists
// pdir/part-<key12>-<n>.parquet with the smallest free n from 2.
func freeName(pdir, key12 string) (string, error) {
	for n := 1; ; n++ {
		name := "part-" + key12 + ".parquet"
		if n > 1 {
			name = fmt.Sprintf("part-%s-%d.parquet", key12, n)
		}
		p := filepath.Join(pdir, name)
		switch _, err := os.Lstat(p); {
		case errors.Is(err, fs.ErrNotExist):
			return p, nil
		case err != nil:
			return "", fmt.Errorf("warehouse: %w", err)
		}
	}
}

// DerivedFiles returns the committed derived files of table name (paths
// relative to the warehouse root, slash-separated, in BatchIDs() order of
// their first listing, each once: a file of CommitDerivedShared is listed
// by several batches) of the batches whose Derived.Key == key and that
// list name, and the ids
// (BatchIDs() order) of the batches that do not (no derivation, another
// key, or no such table).
func (m *Manifest) DerivedFiles(name, key string) (files []string, missing []string) {
	sources, missing := m.DerivedSources(name, key)
	for _, s := range sources {
		files = append(files, s.File)
	}
	return files, missing
}

// derivedFiles returns every file of the batch's derivation, if any,
// relative to the warehouse root, table by table in table name order.
func (b *Batch) derivedFiles() []string {
	if b.Derived == nil {
		return nil
	}
	var files []string
	for _, t := range tableNames(b.Derived.Tables) {
		files = append(files, b.Derived.Tables[t].Files...)
	}
	return files
}

// listedFiles returns every file m lists: the batches' tables and their
// derived tables.
func listedFiles(m *Manifest) map[string]bool {
	listed := map[string]bool{}
	for _, b := range m.Batches {
		for _, f := range b.AllFiles() {
			listed[f] = true
		}
		for _, f := range b.derivedFiles() {
			listed[f] = true
		}
	}
	return listed
}

// removeDerivedUnlisted removes, with the warehouse lock held, every entry
// of the partition directories _derived/<name>/batch_id=<id>/ that m does
// not list, for batch id only, or for every batch when id is "", and every
// entry of the shared directories _derived/<name>/shared/ (files of
// CommitDerivedShared) that no batch of m lists. Partition, shared
// and name directories left empty go too; directories whose entries
// changed are fsynced. It returns what it removed (relative to wh) and the
// first error, after which it stops. Entries that are not a derived name
// directory, a partition directory or a shared directory are not
// vitlab's: it leaves them.
func removeDerivedUnlisted(wh string, m *Manifest, id string) ([]string, error) {
	if id == "" {
		return removeDerivedUnlistedOf(wh, m, nil)
	}
	return removeDerivedUnlistedOf(wh, m, map[string]bool{id: true})
}

// removeDerivedUnlistedOf is removeDerivedUnlisted for the partition
// directories of the batches in ids (every batch when ids is nil), and
// always for the shared directories _derived/<name>/shared/.
func removeDerivedUnlistedOf(wh string, m *Manifest, ids map[string]bool) ([]string, error) {
	listed := listedFiles(m)
	root := filepath.Join(wh, DerivedDir)
	names, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	var removed []string
	var dirty []string // directories whose entries changed
	rootDirty := false
	for _, n := range names {
		if !n.IsDir() || !validDerivedName.MatchString(n.Name()) {
			continue
		}
		ndir := filepath.Join(root, n.Name())
		parts, err := os.ReadDir(ndir)
		if err != nil {
			return removed, fmt.Errorf("warehouse: %w", err)
		}
		left := len(parts)
		ndirty := false
		for _, p := range parts {
			if !p.IsDir() {
				continue
			}
			if p.Name() != SharedDir {
				id, ok := strings.CutPrefix(p.Name(), schemas.PartitionDir)
				if !ok || (ids != nil && !ids[id]) {
					continue
				}
			}
			pdir := filepath.Join(ndir, p.Name())
			entries, err := os.ReadDir(pdir)
			if err != nil {
				return removed, fmt.Errorf("warehouse: %w", err)
			}
			gone := 0
			for _, e := range entries {
				r := DerivedDir + "/" + n.Name() + "/" + p.Name() + "/" + e.Name()
				if listed[r] {
					continue
				}
				if err := os.RemoveAll(filepath.Join(pdir, e.Name())); err != nil {
					return removed, fmt.Errorf("warehouse: %w", err)
				}
				CrashPoint("derived: remove " + r)
				removed = append(removed, r)
				gone++
			}
			if gone < len(entries) {
				if gone > 0 {
					dirty = append(dirty, pdir)
				}
				continue
			}
			if err := os.Remove(pdir); err != nil {
				return removed, fmt.Errorf("warehouse: %w", err)
			}
			CrashPoint("derived: remove " + rel(wh, pdir))
			left--
			ndirty = true
		}
		if left == 0 {
			if err := os.Remove(ndir); err != nil {
				return removed, fmt.Errorf("warehouse: %w", err)
			}
			CrashPoint("derived: remove " + rel(wh, ndir))
			rootDirty = true
		} else if ndirty {
			dirty = append(dirty, ndir)
		}
	}
	if rootDirty {
		dirty = append(dirty, root)
	}
	for _, d := range dirty {
		if err := syncPath(d); err != nil {
			return removed, err
		}
	}
	return removed, nil
}
