package warehouse

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"vitlab/schemas"
)

// ErrBatchChanged marks a commit refused because the warehouse already holds
// the batch id with a different content hash and Replace was not asked for.
var ErrBatchChanged = errors.New("batch already committed with different content")

// Commit is a batch whose part files are complete in a staging directory of
// the warehouse, ready to become visible.
type Commit struct {
	BatchID       string
	ContentSHA256 string
	Source        string // collector or exports
	IngestVersion string
	Runs          int
	Failed        []FailedInput
	// Parts maps table names to their part files, in row order. The files
	// must lie in the warehouse (its staging directory), so that moving
	// them is a rename; they need not be fsynced, CommitBatch does it.
	Parts map[string][]StagedFile
	// Replace allows replacing a committed batch of the same id whose
	// content hash differs.
	Replace bool
	// RunContent maps each run id to its content identity (stored in the
	// manifest as Batch.RunContent).
	RunContent map[string]string
	// OnWait, if not nil, is called once when another process holds the
	// warehouse lock.
	OnWait func()
}

// Outcome is what CommitBatch did.
type Outcome int

// Outcomes of CommitBatch.
const (
	// Committed: the batch is in the manifest now.
	Committed Outcome = iota + 1
	// Unchanged: the manifest already had the batch with the same content
	// hash; nothing was written.
	Unchanged
)

// CommitResult reports a commit.
type CommitResult struct {
	Outcome Outcome
	// Batch is the committed batch, or for Unchanged the one already there.
	Batch *Batch
	// Replaced is the previous generation a replace superseded.
	Replaced *Batch
	// Recovery is what recovery removed before the commit.
	Recovery Recovery
	// CleanupErr is an error removing the replaced generation's files after
	// the commit point; the commit stands and the next recovery removes
	// what is left.
	CleanupErr error
}

// CommitBatch makes c visible in warehouse wh. Under the warehouse lock it
// runs recovery, re-reads the manifest and then:
//
//   - same id, same content hash: does nothing (Unchanged);
//   - same id, other hash, no Replace: fails with ErrBatchChanged;
//   - otherwise moves each table's parts to <table>/batch_id=<id>/part-NNNN.parquet
//     with part numbers above every number in that directory (a replace
//     writes new files beside the old ones), fsyncs the files and the
//     directories, writes the manifest (temporary file, fsync, rename,
//     fsync of the root: the commit point) and only then removes the
//     replaced generation's files and derived tables (the new generation
//     has none until CommitDerived).
//
// A crash at any step leaves the old manifest with all its files, or the new
// one with all its files; files the manifest does not list are removed by
// the next recovery.
func CommitBatch(ctx context.Context, wh string, c Commit) (res CommitResult, err error) {
	if err := CheckBatchID(c.BatchID); err != nil {
		return res, fmt.Errorf("warehouse: %w", err)
	}
	if c.ContentSHA256 == "" {
		return res, fmt.Errorf("warehouse: batch %s: no content hash", c.BatchID)
	}
	for name, parts := range c.Parts {
		if _, ok := schemas.ByName(name); !ok {
			return res, fmt.Errorf("warehouse: batch %s: unknown table %q", c.BatchID, name)
		}
		for _, p := range parts {
			if !inside(wh, p.Path) {
				return res, fmt.Errorf("warehouse: batch %s: part %s is not inside the warehouse %s", c.BatchID, p.Path, wh)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}

	l, err := LockWarehouse(ctx, wh, c.OnWait)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, l.Unlock()) }()
	CrashPoint("commit: locked")

	if res.Recovery, err = recoverLocked(wh); err != nil {
		return res, err
	}
	m, err := ReadManifest(wh)
	if err != nil {
		return res, err
	}
	old := m.Batches[c.BatchID]
	if old != nil && old.ContentSHA256 == c.ContentSHA256 {
		res.Outcome, res.Batch = Unchanged, old
		return res, nil
	}
	if old != nil && !c.Replace {
		return res, fmt.Errorf("warehouse: batch %s (content %s) differs from the one committed %s (content %s): %w",
			c.BatchID, short(c.ContentSHA256), old.CommittedAt.Format(time.RFC3339), short(old.ContentSHA256), ErrBatchChanged)
	}

	nb := &Batch{
		ID:            c.BatchID,
		ContentSHA256: c.ContentSHA256,
		Source:        c.Source,
		CommittedAt:   time.Now().UTC().Truncate(time.Millisecond),
		Generation:    1,
		IngestVersion: c.IngestVersion,
		SchemaVersion: schemas.Version,
		Runs:          c.Runs,
		Failed:        c.Failed,
		Tables:        map[string]TableFiles{},
		RunContent:    c.RunContent,
		// No Derived: a derivation belongs to the generation it was
		// computed from (CommitDerived checks it), never to a new one.
	}
	if old != nil {
		nb.Generation = old.Generation + 1
	}

	// Until the manifest names them, moved files are not part of the
	// warehouse; on failure they go (recovery would remove them anyway).
	var moved []string
	committed := false
	defer func() {
		if !committed {
			for _, p := range moved {
				os.Remove(p)
			}
		}
	}()

	var newDirs []string // created directories, whose parents need an fsync
	for _, t := range schemas.All() {
		parts := c.Parts[t.Name]
		if len(parts) == 0 {
			continue
		}
		tdir := filepath.Join(wh, t.Name)
		pdir := filepath.Join(tdir, schemas.PartitionDir+c.BatchID)
		for _, d := range []string{tdir, pdir} {
			switch err := os.Mkdir(d, 0o755); {
			case err == nil:
				newDirs = append(newDirs, d)
				CrashPoint("commit: mkdir " + rel(wh, d))
			case !errors.Is(err, fs.ErrExist):
				return res, fmt.Errorf("warehouse: %w", err)
			}
		}
		n, err := nextPart(pdir)
		if err != nil {
			return res, err
		}
		tf := TableFiles{}
		for _, p := range parts {
			dst := filepath.Join(pdir, fmt.Sprintf("part-%04d.parquet", n))
			n++
			if _, err := os.Lstat(dst); err == nil {
				return res, fmt.Errorf("warehouse: %s exists already", dst)
			}
			if err := os.Rename(p.Path, dst); err != nil {
				return res, fmt.Errorf("warehouse: %w", err)
			}
			moved = append(moved, dst)
			CrashPoint("commit: move " + rel(wh, dst))
			if err := syncPath(dst); err != nil {
				return res, err
			}
			CrashPoint("commit: fsync " + rel(wh, dst))
			tf.Files = append(tf.Files, rel(wh, dst))
			tf.Rows += p.Rows
		}
		if err := syncPath(pdir); err != nil {
			return res, err
		}
		CrashPoint("commit: fsync " + rel(wh, pdir))
		nb.Tables[t.Name] = tf
	}
	// Make the creations of new directories durable, deepest first.
	for i := len(newDirs) - 1; i >= 0; i-- {
		if err := syncPath(filepath.Dir(newDirs[i])); err != nil {
			return res, err
		}
		CrashPoint("commit: fsync " + rel(wh, filepath.Dir(newDirs[i])))
	}

	nm := &Manifest{Format: ManifestFormat, SchemaVersion: max(m.SchemaVersion, schemas.Version), Batches: map[string]*Batch{}}
	for id, b := range m.Batches {
		nm.Batches[id] = b
	}
	nm.Batches[c.BatchID] = nb
	if err := writeManifest(wh, nm); err != nil {
		return res, err
	}
	committed = true
	res.Outcome, res.Batch, res.Replaced = Committed, nb, old

	if old != nil {
		res.CleanupErr = removeGeneration(wh, old, nb)
		// The new generation has no derived tables: the old ones were
		// computed from the replaced content.
		if _, err := removeDerivedUnlisted(wh, nm, c.BatchID); err != nil {
			res.CleanupErr = errors.Join(res.CleanupErr,
				fmt.Errorf("warehouse: removing the derived tables of the replaced generation of batch %s: %w", c.BatchID, err))
		}
	}
	return res, nil
}

// removeGeneration removes the files of a replaced generation old that the
// new one nb does not list, then fsyncs their directories.
func removeGeneration(wh string, old, nb *Batch) error {
	keep := map[string]bool{}
	for _, f := range nb.AllFiles() {
		keep[f] = true
	}
	var errs []error
	dirs := map[string]bool{}
	for _, f := range old.AllFiles() {
		if keep[f] {
			continue
		}
		p := filepath.Join(wh, filepath.FromSlash(f))
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		CrashPoint("commit: remove replaced " + f)
		dirs[filepath.Dir(p)] = true
	}
	for d := range dirs {
		// A table the new generation lacks leaves an empty partition.
		if err := os.Remove(d); err == nil {
			CrashPoint("commit: remove empty " + rel(wh, d))
			d = filepath.Dir(d)
		}
		if err := syncPath(d); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("warehouse: removing the replaced generation of batch %s: %w", old.ID, err)
	}
	return nil
}

var partName = regexp.MustCompile(`^part-([0-9]+)\.parquet$`)

// nextPart returns the part number after every part-NNNN.parquet in dir.
func nextPart(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("warehouse: %w", err)
	}
	n := 1
	for _, e := range entries {
		if m := partName.FindStringSubmatch(e.Name()); m != nil {
			if k, err := strconv.Atoi(m[1]); err == nil && k >= n {
				n = k + 1
			}
		}
	}
	return n, nil
}

// rel returns path relative to wh with forward slashes.
func rel(wh, path string) string {
	r, err := filepath.Rel(wh, path)
	if err != nil {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(r)
}

// inside reports whether path lies under dir.
func inside(dir, path string) bool {
	ad, err1 := filepath.Abs(dir)
	ap, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return false
	}
	r, err := filepath.Rel(ad, ap)
	return err == nil && r != "." && !strings.HasPrefix(r, "..") && !filepath.IsAbs(r)
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
