package warehouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"vitlab/schemas"
)

// LegacyPartitionDir is the partition directory prefix of warehouses
// written before schema version 3: <table>/batch=<id>/. Hive readers
// (pyarrow, DuckDB, Spark) turned it into a column named batch beside the
// batch_id column every file holds; schemas.PartitionDir names the
// directory after the column instead. Recovery still cleans directories of
// either name, and Migrate moves committed files from the old one to the
// new.
const LegacyPartitionDir = "batch="

// isPartitionDir reports whether name is a partition directory of either
// layout.
func isPartitionDir(name string) bool {
	return strings.HasPrefix(name, schemas.PartitionDir) || strings.HasPrefix(name, LegacyPartitionDir)
}

// partitionOf returns the directory, relative to the warehouse root, that
// holds batch id's files of table in the current layout.
func partitionOf(table, id string) string {
	return table + "/" + schemas.PartitionDir + id
}

// Migrate takes the warehouse lock, runs recovery and moves every committed
// file that does not lie in its batch's current partition directory
// (<table>/batch=<id>/ of older warehouses) to <table>/batch_id=<id>/
// (schemas.PartitionDir). Ingest does the same on its own: Recover and
// CommitBatch migrate before anything else, so a warehouse never mixes the
// two layouts. It returns what recovery did, Migrated naming the batches
// whose files moved; on a warehouse already in the current layout it
// changes nothing.
func Migrate(ctx context.Context, wh string) (Recovery, error) {
	return Recover(ctx, wh)
}

// migrateLocked moves the committed files of wh that are not in their
// batch's current partition directory, with the warehouse lock held and
// after recovery (so no unlisted file is in the way). It is crash-safe in
// the way a commit is: each file is hard-linked (copied where the file
// system has no hard links) under its new name and the new directories
// fsynced, then the manifest naming the new paths replaces the old one
// (the commit point), and only then are the old names removed. A crash
// before the commit point leaves the old manifest with all its files (the
// new names are unlisted, and the next recovery removes them); a crash
// after it leaves the new manifest with all its files (the old names are
// unlisted). Run again, it finishes the job or finds nothing to do.
func migrateLocked(wh string) ([]string, error) {
	m, err := ReadManifest(wh)
	if err != nil {
		return nil, err
	}
	type move struct{ from, to string } // relative to wh, forward slashes
	var moves []move
	var batches []string
	nm := &Manifest{Format: m.Format, SchemaVersion: m.SchemaVersion, Batches: map[string]*Batch{}}
	for _, id := range m.BatchIDs() {
		b := m.Batches[id]
		nb := *b
		nb.Tables = map[string]TableFiles{}
		moved := false
		for _, t := range tableNames(b.Tables) {
			tf := b.Tables[t]
			ntf := TableFiles{Rows: tf.Rows, Files: make([]string, len(tf.Files))}
			want := partitionOf(t, id)
			for i, f := range tf.Files {
				ntf.Files[i] = f
				if path.Dir(f) == want {
					continue
				}
				to := want + "/" + path.Base(f)
				moves = append(moves, move{f, to})
				ntf.Files[i] = to
				moved = true
			}
			nb.Tables[t] = ntf
		}
		nm.Batches[id] = &nb
		if moved {
			batches = append(batches, id)
		}
	}
	if len(moves) == 0 {
		return nil, nil
	}

	// New names, made durable before the manifest names them.
	var newDirs []string
	touched := map[string]bool{}
	for _, mv := range moves {
		dst := filepath.Join(wh, filepath.FromSlash(mv.to))
		pdir := filepath.Dir(dst)
		for _, d := range []string{filepath.Dir(pdir), pdir} {
			switch err := os.Mkdir(d, 0o755); {
			case err == nil:
				newDirs = append(newDirs, d)
				CrashPoint("migrate: mkdir " + rel(wh, d))
			case !errors.Is(err, fs.ErrExist):
				return nil, fmt.Errorf("warehouse: migrate: %w", err)
			}
		}
		if err := linkOrCopy(filepath.Join(wh, filepath.FromSlash(mv.from)), dst); err != nil {
			return nil, fmt.Errorf("warehouse: migrate %s: %w", mv.from, err)
		}
		CrashPoint("migrate: link " + mv.to)
		touched[pdir] = true
	}
	for _, d := range sortedKeys(touched) {
		if err := syncPath(d); err != nil {
			return nil, err
		}
		CrashPoint("migrate: fsync " + rel(wh, d))
	}
	for i := len(newDirs) - 1; i >= 0; i-- {
		if err := syncPath(filepath.Dir(newDirs[i])); err != nil {
			return nil, err
		}
		CrashPoint("migrate: fsync " + rel(wh, filepath.Dir(newDirs[i])))
	}

	if err := writeManifest(wh, nm); err != nil {
		return nil, err
	}

	// The old names are unlisted now: remove them, then their directories.
	old := map[string]bool{}
	for _, mv := range moves {
		p := filepath.Join(wh, filepath.FromSlash(mv.from))
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return batches, fmt.Errorf("warehouse: migrate: %w", err)
		}
		CrashPoint("migrate: remove " + mv.from)
		old[filepath.Dir(p)] = true
	}
	parents := map[string]bool{}
	for _, d := range sortedKeys(old) {
		if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			// Not empty: something that is not vitlab's lives there; leave it.
			if err := syncPath(d); err != nil {
				return batches, err
			}
			continue
		}
		CrashPoint("migrate: remove " + rel(wh, d))
		parents[filepath.Dir(d)] = true
	}
	for _, d := range sortedKeys(parents) {
		if err := syncPath(d); err != nil {
			return batches, err
		}
	}
	return batches, nil
}

// linkOrCopy gives the file src a second name dst: a hard link, or where
// the file system refuses one, a copy fsynced to disk. dst must not exist.
func linkOrCopy(src, dst string) error {
	err := os.Link(src, dst)
	if err == nil || errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrNotExist) {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
