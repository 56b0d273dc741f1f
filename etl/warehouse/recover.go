package warehouse

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"vitlab/schemas"
)

// Recovery says what Recover removed.
type Recovery struct {
	// RemovedFiles are files under <table>/batch_id=<id>/,
	// _derived/<name>/batch_id=<id>/ or _derived/<name>/shared/ that the
	// manifest does not list (left
	// by a commit that died before its commit point, a replaced generation
	// or derivation whose removal was cut short), relative to the
	// warehouse root.
	RemovedFiles []string
	// RemovedStaging are staging directories of ingests that are gone.
	RemovedStaging []string
	// Migrated are the batches whose committed files moved from the
	// legacy <table>/batch=<id>/ directories to <table>/batch_id=<id>/
	// (see Migrate).
	Migrated []string
}

// Recover takes the warehouse lock and brings wh back to exactly what its
// manifest says (see recoverLocked). CommitBatch runs it on its own; this is
// for tools and tests.
func Recover(ctx context.Context, wh string) (Recovery, error) {
	l, err := LockWarehouse(ctx, wh, nil)
	if err != nil {
		return Recovery{}, err
	}
	defer l.Unlock()
	return recoverLocked(wh)
}

// recoverLocked removes, with the warehouse lock held: every file inside a
// partition directory <table>/batch_id=<id>/ of a warehouse table that the
// manifest does not list (and partition directories left empty), a stale
// temporary manifest, and the staging directories whose owner no longer
// holds their lock; partition directories of both layouts count
// (schemas.PartitionDir and LegacyPartitionDir). Likewise every entry of a
// derived partition directory _derived/<name>/batch_id=<id>/ that the
// manifest does not list, whether or not batch id is still committed, and
// of a shared directory _derived/<name>/shared/ that no batch lists (and
// partition, shared and name directories left empty); a file listed by
// any batch stays. Then it moves committed
// files of the legacy layout to the current one (migrateLocked). It
// touches nothing else: files directly in a table directory or in
// directories that are not tables are not vitlab's to delete. An
// unreadable manifest stops it before it removes anything.
func recoverLocked(wh string) (Recovery, error) {
	var rec Recovery
	m, err := ReadManifest(wh)
	if err != nil {
		return rec, fmt.Errorf("warehouse: recovery refused, the manifest cannot be read: %w", err)
	}
	listed := listedFiles(m)

	tmp := filepath.Join(wh, manifestTemp)
	if err := os.Remove(tmp); err == nil {
		CrashPoint("recovery: remove temporary manifest")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return rec, fmt.Errorf("warehouse: recovery: %w", err)
	}

	var dirty []string // directories whose entries changed
	for _, t := range schemas.All() {
		tdir := filepath.Join(wh, t.Name)
		parts, err := os.ReadDir(tdir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return rec, fmt.Errorf("warehouse: recovery: %w", err)
		}
		tdirty := false
		for _, p := range parts {
			if !p.IsDir() || !isPartitionDir(p.Name()) {
				continue
			}
			pdir := filepath.Join(tdir, p.Name())
			files, err := os.ReadDir(pdir)
			if err != nil {
				return rec, fmt.Errorf("warehouse: recovery: %w", err)
			}
			removed := 0
			for _, f := range files {
				rel := t.Name + "/" + p.Name() + "/" + f.Name()
				if listed[rel] {
					continue
				}
				if err := os.RemoveAll(filepath.Join(pdir, f.Name())); err != nil {
					return rec, fmt.Errorf("warehouse: recovery: %w", err)
				}
				CrashPoint("recovery: remove " + rel)
				rec.RemovedFiles = append(rec.RemovedFiles, rel)
				removed++
			}
			if removed == 0 && len(files) > 0 {
				continue
			}
			if removed == len(files) {
				if err := os.Remove(pdir); err != nil {
					return rec, fmt.Errorf("warehouse: recovery: %w", err)
				}
				CrashPoint("recovery: remove " + t.Name + "/" + p.Name())
				tdirty = true
			} else {
				dirty = append(dirty, pdir)
			}
		}
		if tdirty {
			dirty = append(dirty, tdir)
		}
	}
	for _, d := range dirty {
		if err := syncPath(d); err != nil {
			return rec, err
		}
	}
	derived, err := removeDerivedUnlisted(wh, m, "")
	rec.RemovedFiles = append(rec.RemovedFiles, derived...)
	if err != nil {
		return rec, fmt.Errorf("warehouse: recovery: %w", err)
	}

	removed, err := removeDeadStaging(wh)
	rec.RemovedStaging = removed
	if err != nil {
		return rec, err
	}
	sort.Strings(rec.RemovedFiles)
	if rec.Migrated, err = migrateLocked(wh); err != nil {
		return rec, err
	}
	return rec, nil
}

// removeDeadStaging removes the staging directories whose lock file no
// process holds. A live ingest (this process's included: flock conflicts
// between open files, not processes) keeps its own.
func removeDeadStaging(wh string) ([]string, error) {
	root := filepath.Join(wh, StagingDir)
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("warehouse: recovery: %w", err)
	}
	var removed []string
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if e.IsDir() {
			f, err := os.OpenFile(filepath.Join(dir, stagingLockName), os.O_RDWR, 0)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				// Staging directories are created and locked under the
				// warehouse lock, which we hold: its owner died in between.
			case err != nil:
				return removed, fmt.Errorf("warehouse: recovery: %w", err)
			default:
				free, err := tryFlock(f)
				if err != nil {
					f.Close()
					return removed, fmt.Errorf("warehouse: recovery: lock %s: %w", dir, err)
				}
				if !free {
					f.Close()
					continue
				}
				defer f.Close() // hold it while the directory goes
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			return removed, fmt.Errorf("warehouse: recovery: %w", err)
		}
		CrashPoint("recovery: remove staging " + e.Name())
		removed = append(removed, StagingDir+"/"+e.Name())
	}
	return removed, nil
}
