package nsysdbtest

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Exec opens (creating if needed) the SQLite file at path read-write and
// runs each statement in order, in one transaction.
func Exec(path string, stmts ...string) error {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			tx.Rollback()
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return tx.Commit()
}

// Int64s runs a query on the SQLite file at path (read-only) and returns
// the first column of every row; NULL reads as 0.
func Int64s(path, query string, args ...any) ([]int64, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v sql.NullInt64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v.Int64)
	}
	return out, rows.Err()
}

// Strings is Int64s for text results; NULL reads as "".
func Strings(path, query string, args ...any) ([]string, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v sql.NullString
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v.String)
	}
	return out, rows.Err()
}

// Pages returns the page size of the SQLite file at path and the numbers
// (from 1) of the b-tree pages of a table, root first. It uses the dbstat
// virtual table when the library has it, else the root page alone.
func Pages(path, table string) (pageSize int64, pages []int64, err error) {
	ps, err := Int64s(path, "PRAGMA page_size")
	if err != nil || len(ps) != 1 {
		return 0, nil, fmt.Errorf("page size of %s: %v", path, err)
	}
	root, err := Int64s(path, "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = ?", table)
	if err != nil || len(root) != 1 {
		return 0, nil, fmt.Errorf("root page of %s in %s: %v", table, path, err)
	}
	pages = []int64{root[0]}
	if more, err := Int64s(path, "SELECT pageno FROM dbstat WHERE name = ? AND pageno != ? ORDER BY pageno", table, root[0]); err == nil {
		pages = append(pages, more...)
	}
	return ps[0], pages, nil
}

// OverwritePage fills page number page (from 1) of the file at path with
// a repeating garbage pattern.
func OverwritePage(path string, pageSize, page int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	buf := make([]byte, pageSize)
	for i := range buf {
		buf[i] = byte(0xA5 ^ i*7)
	}
	if _, err := f.WriteAt(buf, (page-1)*pageSize); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Decompress writes the zstd file src (a .sqlite.zst export) decompressed
// to dst.
func Decompress(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	dec, err := zstd.NewReader(in)
	if err != nil {
		return err
	}
	defer dec.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, dec); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", src, err)
	}
	return out.Close()
}

// Copy copies the file src to dst, which it creates writable.
func Copy(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
