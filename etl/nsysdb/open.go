package nsysdb

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/klauspost/compress/zstd"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrMalformed marks an input that is not a readable nsys export: empty,
// truncated, not SQLite, not written by nsys, damaged, or of a layout vitlab
// cannot read. Errors wrapping it name the file and what is wrong.
var ErrMalformed = errors.New("malformed nsys export")

// DefaultBatchRows is the number of rows per Arrow record when
// Options.BatchRows is not set.
const DefaultBatchRows = 65536

// Options tune how an export is opened and read.
type Options struct {
	// TempDir receives the decompressed copy of a zstd-compressed export;
	// Close removes it. Empty means os.TempDir().
	TempDir string
	// BatchRows is the most rows per Arrow record (default DefaultBatchRows).
	BatchRows int
	// Allocator for Arrow buffers (default memory.DefaultAllocator).
	Allocator memory.Allocator
}

// Info is what an export says about itself.
type Info struct {
	// NsysVersion is EXPORT_PRODUCT_VERSION of META_DATA_EXPORT (or of
	// EXPORT_META_DATA in exports of 2021–2023); "" when the export has
	// no metadata table (nsys 2020).
	NsysVersion string
	// ExportSchema is EXPORT_SCHEMA_VERSION, "" when not recorded.
	ExportSchema string
	// SessionStartUTCNs is TARGET_INFO_SESSION_START_TIME.utcEpochNs, or 0.
	SessionStartUTCNs int64
	// Host is the profiled host's name (TARGET_INFO_SYSTEM_ENV Hostname),
	// else the host that ran the export (EXPORT_HOST), else "".
	Host string
	// SQLiteBytes is the size of the SQLite file (after decompression).
	SQLiteBytes int64
	// Compressed reports whether the input was zstd-compressed.
	Compressed bool
}

// DB is one nsys export opened for reading. It is not safe for concurrent
// use; open one DB per goroutine.
type DB struct {
	path string // as given, for messages
	file string // the SQLite file read: path, or the decompressed copy
	tmp  string // decompressed copy to remove on Close, or ""
	opts Options
	conn driver.Conn
	q    driver.QueryerContext
	raw  *rawConn // the bulk reads' connection (raw.go), opened by the first scan
	info Info

	tables  map[string]string // lower-case name → name as created
	columns map[string]*layout

	strs    *stringIDs
	domains map[domainKey]domainName
}

var (
	zstdMagic   = []byte{0x28, 0xb5, 0x2f, 0xfd}
	sqliteMagic = []byte("SQLite format 3\x00")
)

// Open opens the export at path for reading. A zstd-compressed export is
// decompressed into opts.TempDir first. The file is opened read-only and
// immutable; nothing is ever written to it. Errors about the file's content
// wrap ErrMalformed; a file that cannot be opened at all returns the
// operating system's error.
func Open(ctx context.Context, path string, opts Options) (_ *DB, err error) {
	if opts.BatchRows <= 0 {
		opts.BatchRows = DefaultBatchRows
	}
	if opts.Allocator == nil {
		opts.Allocator = memory.DefaultAllocator
	}
	d := &DB{path: path, opts: opts, columns: map[string]*layout{}}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if err := d.prepareFile(); err != nil {
		return nil, err
	}
	if err := d.checkHeader(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	connector, err := sqlite.NewConnector(sqliteURI(d.file))
	if err != nil {
		return nil, fmt.Errorf("%s: open: %w", path, err)
	}
	conn, err := connector.Connect(ctx)
	if err != nil {
		return nil, d.sqlErr(ctx, "open", err)
	}
	d.conn = conn
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return nil, fmt.Errorf("%s: the SQLite driver does not implement QueryerContext", path)
	}
	d.q = q
	// cell_size_check makes SQLite notice more kinds of damaged b-tree pages
	// before reading them; trusted_schema=OFF keeps functions named in a
	// hostile schema from running.
	for _, p := range []string{"PRAGMA cell_size_check = ON", "PRAGMA trusted_schema = OFF"} {
		if err := d.exec(ctx, p); err != nil {
			return nil, d.sqlErr(ctx, p, err)
		}
	}
	if err := d.loadTables(ctx); err != nil {
		return nil, err
	}
	if err := d.loadInfo(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// Close releases the database and removes the decompressed copy, if any.
func (d *DB) Close() error {
	var errs []error
	if d.raw != nil {
		d.raw.Close()
		d.raw = nil
	}
	if d.conn != nil {
		errs = append(errs, d.conn.Close())
		d.conn = nil
	}
	if d.tmp != "" {
		if err := os.Remove(d.tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		d.tmp = ""
	}
	return errors.Join(errs...)
}

// Path returns the path the export was opened from.
func (d *DB) Path() string { return d.path }

// Info returns what the export says about itself.
func (d *DB) Info() Info { return d.info }

// malformed returns an error wrapping ErrMalformed that names the file.
func (d *DB) malformed(format string, args ...any) error {
	return fmt.Errorf("%s: %w: "+format, append([]any{d.path, ErrMalformed}, args...)...)
}

// sqlErr classifies an error of the SQLite library: a cancelled context and
// resource exhaustion are returned as they are, everything else (corrupt or
// truncated pages, a schema SQLite cannot parse, …) is bad input.
func (d *DB) sqlErr(ctx context.Context, where string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: %s: %w", d.path, where, cerr)
	}
	var se interface{ Code() int }
	var de *sqlite.Error
	var re *rawError
	switch {
	case errors.As(err, &de):
		se = de
	case errors.As(err, &re):
		se = re
	}
	if se != nil {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_INTERRUPT:
			return fmt.Errorf("%s: %s: %w", d.path, where, err)
		}
	}
	return d.malformed("%s: %w", where, err)
}

// prepareFile checks the input file and decompresses it when it is a zstd
// frame, so that d.file names a plain SQLite file.
func (d *DB) prepareFile() error {
	f, err := os.Open(d.path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return d.malformed("not a regular file")
	}
	if st.Size() == 0 {
		return d.malformed("empty file")
	}
	var head [4]byte
	if _, err := io.ReadFull(f, head[:]); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	if !bytes.Equal(head[:], zstdMagic) {
		if strings.HasSuffix(d.path, ".zst") {
			return d.malformed("named .zst but not zstd-compressed")
		}
		d.file = d.path
		return nil
	}
	d.info.Compressed = true
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return d.decompress(f)
}

// decompress streams the zstd frame in f into a temporary file.
func (d *DB) decompress(f *os.File) error {
	dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return d.malformed("zstd: %w", err)
	}
	defer dec.Close()
	tmp, err := os.CreateTemp(d.opts.TempDir, "vitlab-"+sanitize(filepath.Base(d.path))+"-*.sqlite")
	if err != nil {
		return fmt.Errorf("%s: decompress: %w", d.path, err)
	}
	d.tmp = tmp.Name()
	w := &errWriter{w: tmp}
	_, cerr := io.Copy(w, dec)
	if err := tmp.Close(); err != nil && w.err == nil {
		w.err = err
	}
	if w.err != nil {
		return fmt.Errorf("%s: decompress into %s: %w", d.path, d.tmp, w.err)
	}
	if cerr != nil {
		return d.malformed("corrupt zstd stream: %w", cerr)
	}
	d.file = d.tmp
	return nil
}

// errWriter remembers the first write error so that a failing disk is not
// mistaken for a corrupt input.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

func sanitize(name string) string {
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".zst"), ".sqlite")
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}

// checkHeader validates the SQLite header of d.file: the magic string, the
// page size, and, where the header records it, that the file is as long as
// the database it declares (a truncated copy is the most common damage).
func (d *DB) checkHeader() error {
	f, err := os.Open(d.file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	d.info.SQLiteBytes = size
	what := "file"
	if d.info.Compressed {
		what = "decompressed file"
	}
	if size == 0 {
		return d.malformed("empty %s", what)
	}
	var hdr [100]byte
	n, err := io.ReadFull(f, hdr[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	if n < len(hdr) {
		if bytes.HasPrefix(sqliteMagic, hdr[:min(n, len(sqliteMagic))]) || bytes.HasPrefix(hdr[:n], sqliteMagic) {
			return d.malformed("truncated SQLite header (%s of %d bytes)", what, size)
		}
		return d.malformed("not a SQLite database")
	}
	if !bytes.HasPrefix(hdr[:], sqliteMagic) {
		return d.malformed("not a SQLite database")
	}
	pageSize := int64(binary.BigEndian.Uint16(hdr[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return d.malformed("SQLite header has an invalid page size %d", pageSize)
	}
	changes := binary.BigEndian.Uint32(hdr[24:28])
	pages := int64(binary.BigEndian.Uint32(hdr[28:32]))
	validFor := binary.BigEndian.Uint32(hdr[92:96])
	if pages > 0 && validFor == changes && size < pages*pageSize {
		return d.malformed("truncated: the SQLite header declares %d pages of %d bytes (%d bytes), the %s has %d bytes",
			pages, pageSize, pages*pageSize, what, size)
	}
	return nil
}

// sqliteURI returns a read-only, immutable SQLite URI for a file path.
func sqliteURI(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	path = filepath.ToSlash(path)
	var b strings.Builder
	b.WriteString("file:")
	if !strings.HasPrefix(path, "/") {
		b.WriteString("/") // Windows drive letters: file:/C:/…
	}
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '%', '?', '#':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteString("?mode=ro&immutable=1")
	return b.String()
}

func (d *DB) exec(ctx context.Context, query string) error {
	if e, ok := d.conn.(driver.ExecerContext); ok {
		_, err := e.ExecContext(ctx, query, nil)
		return err
	}
	rows, err := d.q.QueryContext(ctx, query, nil)
	if err != nil {
		return err
	}
	return rows.Close()
}
