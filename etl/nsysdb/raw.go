package nsysdb

import (
	"context"
	"database/sql/driver"
	"fmt"
	"io"
	"runtime"
	"strings"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// rawConn is a second, read-only connection to the export used for the
// bulk reads (scan): it calls the SQLite library directly, opened with
// SQLITE_OPEN_NOMUTEX. The database/sql driver opens every connection with
// SQLITE_OPEN_FULLMUTEX, so each sqlite3_column_* call of each value locks
// and unlocks the connection's recursive mutex (Go code in modernc's
// libc): on the ingest bench's batch (224 exports, 5.1M events) that was
// 3.6 s of CPU of ~10 s of loading. A DB is used by one goroutine at a
// time, so the connection needs no mutex. Values come as the driver gives
// them (int64, float64, string, []byte, nil).
type rawConn struct {
	tls *libc.TLS
	db  uintptr
}

// rawError is an error SQLite returned on the raw connection.
type rawError struct {
	code int
	msg  string
}

func (e *rawError) Error() string { return e.msg }

// Code is the SQLite result code (extended).
func (e *rawError) Code() int { return e.code }

func openRaw(file string) (*rawConn, error) {
	c := &rawConn{tls: libc.NewTLS()}
	name, err := libc.CString(sqliteURI(file))
	if err != nil {
		c.tls.Close()
		return nil, err
	}
	defer libc.Xfree(c.tls, name)
	// The out parameter is Go memory (heap: it escapes), which the
	// transpiled library writes like any other.
	pdb := new(uintptr)
	rc := sqlite3.Xsqlite3_open_v2(c.tls, name, uintptr(unsafe.Pointer(pdb)),
		sqlite3.SQLITE_OPEN_READONLY|sqlite3.SQLITE_OPEN_NOMUTEX|sqlite3.SQLITE_OPEN_URI, 0)
	runtime.KeepAlive(pdb)
	c.db = *pdb
	if rc != sqlite3.SQLITE_OK {
		err := c.errstr(rc)
		c.Close()
		return nil, err
	}
	sqlite3.Xsqlite3_extended_result_codes(c.tls, c.db, 1)
	// As the driver's connection (Open).
	for _, p := range []string{"PRAGMA cell_size_check = ON", "PRAGMA trusted_schema = OFF"} {
		r, err := c.query(context.Background(), p)
		if err != nil {
			c.Close()
			return nil, err
		}
		for {
			if err := r.Next(nil); err != nil {
				r.Close()
				if err == io.EOF {
					break
				}
				c.Close()
				return nil, err
			}
		}
	}
	return c, nil
}

// Close closes the connection.
func (c *rawConn) Close() {
	if c.db != 0 {
		sqlite3.Xsqlite3_close_v2(c.tls, c.db)
		c.db = 0
	}
	if c.tls != nil {
		c.tls.Close()
		c.tls = nil
	}
}

func (c *rawConn) errstr(rc int32) error {
	str := libc.GoString(sqlite3.Xsqlite3_errstr(c.tls, rc))
	if c.db != 0 {
		if msg := libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db)); msg != str {
			return &rawError{code: int(rc), msg: fmt.Sprintf("%s: %s (%v)", str, msg, rc)}
		}
	}
	return &rawError{code: int(rc), msg: fmt.Sprintf("%s (%v)", str, rc)}
}

// rawRows is a statement being stepped through.
type rawRows struct {
	c     *rawConn
	stmt  uintptr
	n     int
	stop  chan struct{} // closed by Close: the interrupting goroutine ends
	ended chan struct{} // closed when it has ended
	names []string
}

// query prepares q (one statement). A cancelled ctx interrupts it (as the
// driver does: sqlite3_interrupt from another goroutine, on its own TLS).
func (c *rawConn) query(ctx context.Context, q string) (*rawRows, error) {
	z, err := libc.CString(q)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, z)
	pp := new(uintptr)
	rc := sqlite3.Xsqlite3_prepare_v2(c.tls, c.db, z, -1, uintptr(unsafe.Pointer(pp)), 0)
	runtime.KeepAlive(pp)
	if rc != sqlite3.SQLITE_OK {
		return nil, c.errstr(rc)
	}
	r := &rawRows{c: c, stmt: *pp}
	if r.stmt == 0 { // empty statement
		return r, nil
	}
	r.n = int(sqlite3.Xsqlite3_column_count(c.tls, r.stmt))
	for i := range r.n {
		r.names = append(r.names, libc.GoString(sqlite3.Xsqlite3_column_name(c.tls, r.stmt, int32(i))))
	}
	if done := ctx.Done(); done != nil {
		r.stop, r.ended = make(chan struct{}), make(chan struct{})
		db, stop, ended := c.db, r.stop, r.ended
		go func() {
			defer close(ended)
			select {
			case <-done:
				tls := libc.NewTLS()
				sqlite3.Xsqlite3_interrupt(tls, db)
				tls.Close()
			case <-stop:
			}
		}()
	}
	return r, nil
}

// Columns are the names of the result columns.
func (r *rawRows) Columns() []string { return r.names }

// dateDecl reports whether a result column is declared DATE, DATETIME or
// TIMESTAMP: the driver gives such text as time.Time, which the raw rows
// do not (scan then reads through the driver).
func (r *rawRows) dateDecl() bool {
	for i := range r.n {
		switch strings.ToUpper(libc.GoString(sqlite3.Xsqlite3_column_decltype(r.c.tls, r.stmt, int32(i)))) {
		case "DATE", "DATETIME", "TIMESTAMP":
			return true
		}
	}
	return false
}

// Next steps to the next row and fills dest with its values as the driver
// would (io.EOF after the last).
func (r *rawRows) Next(dest []driver.Value) error {
	if r.stmt == 0 {
		return io.EOF
	}
	tls, st := r.c.tls, r.stmt
	switch rc := sqlite3.Xsqlite3_step(tls, st); rc {
	case sqlite3.SQLITE_ROW:
	case sqlite3.SQLITE_DONE:
		return io.EOF
	default:
		return r.c.errstr(rc)
	}
	if len(dest) != r.n && dest != nil {
		return fmt.Errorf("sqlite: Next: have %v destination values, expected %v", len(dest), r.n)
	}
	for i := range dest {
		col := int32(i)
		switch ct := sqlite3.Xsqlite3_column_type(tls, st, col); ct {
		case sqlite3.SQLITE_INTEGER:
			dest[i] = sqlite3.Xsqlite3_column_int64(tls, st, col)
		case sqlite3.SQLITE_FLOAT:
			dest[i] = sqlite3.Xsqlite3_column_double(tls, st, col)
		case sqlite3.SQLITE_TEXT:
			p := sqlite3.Xsqlite3_column_text(tls, st, col)
			n := int(sqlite3.Xsqlite3_column_bytes(tls, st, col))
			if p == 0 || n == 0 {
				dest[i] = ""
			} else {
				dest[i] = string(libc.GoBytes(p, n))
			}
		case sqlite3.SQLITE_BLOB:
			p := sqlite3.Xsqlite3_column_blob(tls, st, col)
			n := int(sqlite3.Xsqlite3_column_bytes(tls, st, col))
			if p == 0 || n == 0 {
				dest[i] = []byte(nil)
			} else {
				dest[i] = append([]byte(nil), libc.GoBytes(p, n)...)
			}
		case sqlite3.SQLITE_NULL:
			dest[i] = nil
		default:
			return fmt.Errorf("internal error: column type %d", ct)
		}
	}
	return nil
}

// Close finalizes the statement.
func (r *rawRows) Close() error {
	if r.stop != nil {
		// Wait for the goroutine, so that no interrupt reaches a later
		// statement or a closed connection.
		close(r.stop)
		<-r.ended
		r.stop = nil
	}
	if r.stmt != 0 {
		sqlite3.Xsqlite3_finalize(r.c.tls, r.stmt)
		r.stmt = 0
	}
	return nil
}
