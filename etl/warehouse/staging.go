package warehouse

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"vitlab/schemas"
)

// StagingDir is the directory of the warehouse root that holds one
// subdirectory per running ingest. Nothing in it is visible to readers.
const StagingDir = "_staging"

// stagingLockName is the lock file inside each staging directory; its owner
// holds an exclusive flock on it for as long as it lives, which is how
// recovery tells a live ingest's staging from a dead one's.
const stagingLockName = "owner.lock"

// Staging is one ingest's private directory under <warehouse>/_staging/.
// Files written there become part of the warehouse only through Commit.
//
// An ingest stages rows in spools (see Spool): append-only Arrow IPC files
// under spool/, which Compact turns into the Parquet parts under
// parts/<table>/ that CommitBatch moves into the warehouse.
type Staging struct {
	wh   string
	dir  string
	lock *Lock
}

// NewStaging creates a fresh staging directory in warehouse wh (created when
// missing) and locks it for this process. It takes the warehouse lock for
// the moment of creation, so that recovery never sees a staging directory
// whose owner has not locked it yet.
func NewStaging(ctx context.Context, wh string) (*Staging, error) {
	wl, err := LockWarehouse(ctx, wh, nil)
	if err != nil {
		return nil, err
	}
	defer wl.Unlock()
	root := filepath.Join(wh, StagingDir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	name := time.Now().UTC().Format("20060102T150405") + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(rnd[:])
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	l, err := lockFile(ctx, filepath.Join(dir, stagingLockName), nil)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Staging{wh: wh, dir: dir, lock: l}, nil
}

// Dir returns the staging directory.
func (s *Staging) Dir() string { return s.dir }

// Free returns the bytes this process may still write to the staging
// directory's file system.
func (s *Staging) Free() (int64, error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &fs); err != nil {
		return 0, fmt.Errorf("warehouse: %s: %w", s.dir, err)
	}
	return int64(fs.Bavail) * int64(fs.Bsize), nil
}

// Warehouse returns the warehouse root the staging belongs to.
func (s *Staging) Warehouse() string { return s.wh }

// Close removes the staging directory and everything left in it, then
// releases its lock.
func (s *Staging) Close() error {
	if s.lock == nil {
		return nil
	}
	err := os.RemoveAll(s.dir)
	err = errors.Join(err, s.lock.Unlock())
	s.lock = nil
	if err != nil {
		return fmt.Errorf("warehouse: remove staging: %w", err)
	}
	return nil
}

// spoolDir is the subdirectory of a staging directory that holds spools.
const spoolDir = "spool"

// SpoolOptions tune a spool. The zero value is the default.
type SpoolOptions struct {
	// Allocator for the IPC writer's buffers (default
	// memory.DefaultAllocator).
	Allocator memory.Allocator
	// LZ4 compresses the record bodies (the IPC format's LZ4 frame body
	// compression): a spool several times smaller, for a little CPU.
	LZ4 bool
}

// Spool is an append-only file of records of one table in a staging
// directory: the Arrow IPC file format, written through a buffer, never
// fsynced (a crash discards the whole staging directory). Records are
// numbered from 0 in the order of Append; Compact reads them back by
// number, so rows appended that no Segment names (a run set aside half
// way) never reach the warehouse. A Spool is not safe for concurrent use.
type Spool struct {
	table   *schemas.Table
	path    string
	f       *os.File
	bw      *bufio.Writer
	w       *ipc.FileWriter
	records int
	rows    int64
	closed  bool
	err     error // first error; the spool is unusable after it
}

// CreateSpool creates the spool spool/<name>.<table>.arrow of table t in
// the staging directory. name tells the spools of one table apart (e.g. one
// per load worker); it must be a plain file name. The caller must Close the
// spool before Compact reads it, and Close it on every path.
func (s *Staging) CreateSpool(t *schemas.Table, name string, opts SpoolOptions) (*Spool, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return nil, fmt.Errorf("warehouse: spool name %q: want a plain file name", name)
	}
	if opts.Allocator == nil {
		opts.Allocator = memory.DefaultAllocator
	}
	dir := filepath.Join(s.dir, spoolDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	path := filepath.Join(dir, name+"."+t.Name+".arrow")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	sp := &Spool{table: t, path: path, f: f, bw: bufio.NewWriterSize(f, 64<<10)}
	ipcOpts := []ipc.Option{ipc.WithSchema(t.Schema()), ipc.WithAllocator(opts.Allocator)}
	if opts.LZ4 {
		ipcOpts = append(ipcOpts, ipc.WithLZ4())
	}
	if sp.w, err = ipc.NewFileWriter(sp.bw, ipcOpts...); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("warehouse: spool %s: %w", path, err)
	}
	return sp, nil
}

// Table returns the table of the spool's records.
func (sp *Spool) Table() *schemas.Table { return sp.table }

// Path returns the spool's file.
func (sp *Spool) Path() string { return sp.path }

// Records returns the records appended so far.
func (sp *Spool) Records() int { return sp.records }

// Rows returns the rows appended so far.
func (sp *Spool) Rows() int64 { return sp.rows }

// Append writes rec, which must have the table's schema, as the next
// record and returns its number. It does not retain rec. After an error
// the spool is unusable: a partly written record cannot be taken back.
func (sp *Spool) Append(rec arrow.RecordBatch) (int, error) {
	switch {
	case sp.closed:
		return 0, fmt.Errorf("warehouse: spool %s: append after close", sp.path)
	case sp.err != nil:
		return 0, sp.err
	case !rec.Schema().Equal(sp.table.Schema()):
		// Refused before anything is written: the spool stays usable.
		return 0, fmt.Errorf("warehouse: spool %s: record does not have the schema of table %s: %s",
			sp.path, sp.table.Name, rec.Schema())
	}
	if err := sp.w.Write(rec); err != nil {
		sp.err = fmt.Errorf("warehouse: spool %s: %w", sp.path, err)
		return 0, sp.err
	}
	sp.records++
	sp.rows += rec.NumRows()
	return sp.records - 1, nil
}

// Close writes the file's footer and closes it; the spool can then be
// read. After an earlier error it closes the file and returns that error.
func (sp *Spool) Close() error {
	if sp.closed {
		return sp.err
	}
	sp.closed = true
	// Segments keep the spool until Compact: drop the writer's buffers now.
	defer func() { sp.f, sp.bw, sp.w = nil, nil, nil }()
	if sp.err != nil {
		sp.w.Close() // releases its buffers; the file is broken anyway
		sp.f.Close()
		return sp.err
	}
	err := sp.w.Close()
	if err == nil {
		err = sp.bw.Flush()
	}
	if cerr := sp.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		sp.err = fmt.Errorf("warehouse: spool %s: %w", sp.path, err)
	}
	return sp.err
}

// readable reports whether Close completed without error.
func (sp *Spool) readable() bool { return sp.closed && sp.err == nil }
