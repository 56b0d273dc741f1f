package duck

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// DB is one DuckDB database (in memory, or a database file) with a single
// connection. It is not safe for concurrent use.
type DB struct {
	db   *sql.DB
	conn *sql.Conn
	// tmp is the temporary folder made for this database alone (Config's
	// TempDir unset), removed by Close.
	tmp string
}

// tempSeq tells apart the temporary folders of one process's databases.
var tempSeq atomic.Int64

// Config bounds a database and says where it looks for files. The zero
// value is DuckDB's defaults (every CPU, 80 % of the memory, an in-memory
// database).
type Config struct {
	// Path is a database file; empty is an in-memory database.
	Path string
	// ReadOnly opens Path read-only: any number of processes may read it
	// at once (temporary tables and SET VARIABLE still work).
	ReadOnly bool
	// Threads is DuckDB's threads setting (0: every CPU).
	Threads int
	// MemoryLimit is DuckDB's memory_limit in bytes (0: DuckDB's default,
	// 80 % of RAM). Operators that outgrow it spill to TempDir; it does
	// not count what a result hands to Go.
	MemoryLimit int64
	// TempDir is where DuckDB spills (default: a folder of this database
	// alone, vitlab-duckdb/<pid>-<n> in the system's temporary directory,
	// removed by Close; never the current directory).
	TempDir string
	// FileSearchPath is a directory against which relative file paths in
	// SQL (and in stored views) resolve (DuckDB's file_search_path).
	FileSearchPath string
}

// Open starts an empty in-memory DuckDB database with DuckDB's defaults.
func Open(ctx context.Context) (*DB, error) { return OpenConfig(ctx, Config{}) }

// OpenConfig opens the database cfg names (in memory when cfg.Path is
// empty) with cfg's settings.
func OpenConfig(ctx context.Context, cfg Config) (*DB, error) {
	own := ""
	if cfg.TempDir == "" {
		// One folder per database: DuckDB names its temporary files
		// without telling databases apart (duckdb_temp_storage_<size>-<n>
		// .tmp), so two processes spilling into one folder read each
		// other's blocks ("Corrupt temporary file: decompressed block is
		// 0 bytes", seen with the queries and report tests at once).
		// DuckDB makes it when it first spills and removes its files on
		// close; Close removes the folder.
		own = filepath.Join(os.TempDir(), "vitlab-duckdb", fmt.Sprintf("%d-%d", os.Getpid(), tempSeq.Add(1)))
		cfg.TempDir = own
		// DuckDB makes only the last folder of temp_directory: on a host
		// whose temporary directory is fresh (after a reboot) the first
		// spill failed with "Failed to create directory
		// …/vitlab-duckdb/<pid>-<n>: No such file or directory" (seen in
		// make bench-scale's derive, 2026-12-07).
		if err := os.MkdirAll(filepath.Dir(own), 0o755); err != nil {
			return nil, fmt.Errorf("duck: temporary directory: %w", err)
		}
	}
	dsn := cfg.Path
	if cfg.ReadOnly {
		dsn += "?access_mode=read_only"
	}
	connector, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, fmt.Errorf("duck: open %s: %w", cfg.Path, err)
	}
	db := sql.OpenDB(connector)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("duck: connect: %w", err)
	}
	d := &DB{db: db, conn: conn, tmp: own}
	if err := d.Exec(ctx, cfg.settings()); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// settings are the SET statements of cfg.
func (cfg Config) settings() string {
	var b strings.Builder
	if cfg.Threads > 0 {
		fmt.Fprintf(&b, "set threads = %d;\n", cfg.Threads)
	}
	if cfg.MemoryLimit > 0 {
		fmt.Fprintf(&b, "set memory_limit = '%dMiB';\n", max(1, cfg.MemoryLimit>>20))
	}
	if cfg.TempDir != "" { // OpenConfig sets one
		fmt.Fprintf(&b, "set temp_directory = %s;\n", Quote(cfg.TempDir))
	}
	// DuckDB's external file cache keeps whole Parquet files in memory
	// outside memory_limit; vitlab reads each file once or twice per
	// process, so it only added to the peak: writing the view database of
	// a 30x sample warehouse peaked at 424 MB with it and 354 MB without,
	// vitlab report at 487 and 434 MB (and ran 4.1 → 3.7 s), vitlab
	// derive of all its 210 batches at 533 and 408 MB (the cache grew
	// pass after pass: 270 → 510 MB), every saved query alike in time.
	b.WriteString("set enable_external_file_cache = false;\n")
	if cfg.FileSearchPath != "" {
		fmt.Fprintf(&b, "set file_search_path = %s;\n", Quote(cfg.FileSearchPath))
	}
	return b.String()
}

// Close releases the database.
func (d *DB) Close() error {
	err := errors.Join(d.conn.Close(), d.db.Close())
	if d.tmp != "" {
		os.RemoveAll(d.tmp)
	}
	return err
}

// Exec runs a script of one or more statements that return no rows.
func (d *DB) Exec(ctx context.Context, script string) error {
	if _, err := d.conn.ExecContext(ctx, script); err != nil {
		return fmt.Errorf("duck: %w", err)
	}
	return nil
}

// Column is one column of a result.
type Column struct {
	Name string
	// Type is DuckDB's name of the column type (BIGINT, DOUBLE, VARCHAR,
	// DECIMAL(20,1), TIMESTAMP WITH TIME ZONE …).
	Type string
}

// Decimal is a DuckDB DECIMAL value: Value / 10^Scale.
type Decimal struct {
	Value *big.Int
	Scale int
}

// Float64 returns the decimal as the nearest float64.
func (d Decimal) Float64() float64 {
	f, _ := new(big.Rat).SetFrac(d.Value, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale)), nil)).Float64()
	return f
}

// String formats the decimal with exactly Scale digits after the point
// (e.g. "0.0", "12.300").
func (d Decimal) String() string {
	if d.Value.IsInt64() { // most values: no big.Int arithmetic (a quarter of a 1.8M-row CSV's time)
		return FormatDecimal(d.Value.Int64(), d.Scale)
	}
	return withScale(new(big.Int).Abs(d.Value).String(), d.Scale, d.Value.Sign() < 0)
}

// FormatDecimal is Decimal{Value: v, Scale: scale}.String() for a value
// that fits int64.
func FormatDecimal(v int64, scale int) string {
	s := strconv.FormatInt(v, 10)
	if v < 0 {
		s = s[1:]
	}
	return withScale(s, scale, v < 0)
}

// withScale puts the decimal point scale digits from the right of the
// digits s (padding with zeros) and the sign.
func withScale(s string, scale int, negative bool) string {
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if negative {
		s = "-" + s
	}
	return s
}

// Result is the whole result of a query. Values are nil (SQL NULL), int64
// (every integer type that fits), *big.Int (HUGEINT/UHUGEINT values that do
// not fit int64, UBIGINT above MaxInt64), float64, string, bool, []byte,
// time.Time, Decimal, or for nested and rare types what the driver gives
// ([]any, map[string]any …).
type Result struct {
	Columns []Column
	Rows    [][]any
}

// Query runs one statement and reads its whole result. A script of several
// statements runs them all and returns the last one's result.
func (d *DB) Query(ctx context.Context, query string, args ...any) (*Result, error) {
	res := &Result{}
	err := d.Each(ctx, query, func(cols []Column) error {
		res.Columns = cols
		return nil
	}, func(row []any) error {
		res.Rows = append(res.Rows, row)
		return nil
	}, args...)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Each runs one statement (or a script: its last one answers) and hands
// its columns to head, then each row, converted as on Result, to row, one
// at a time: an answer of millions of rows is never held whole. A row is
// a new slice each call.
func (d *DB) Each(ctx context.Context, query string, head func([]Column) error, row func([]any) error, args ...any) error {
	rows, err := d.conn.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("duck: %w", err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return fmt.Errorf("duck: %w", err)
	}
	cols := make([]Column, len(types))
	for i, t := range types {
		cols[i] = Column{Name: t.Name(), Type: t.DatabaseTypeName()}
	}
	if err := head(cols); err != nil {
		return err
	}
	for rows.Next() {
		vals := make([]any, len(types))
		ptrs := make([]any, len(types))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("duck: %w", err)
		}
		for i, v := range vals {
			vals[i] = plain(v)
		}
		if err := row(vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("duck: %w", err)
	}
	return nil
}

// plain converts a driver value to the types listed on Result.
func plain(v any) any {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x <= 1<<63-1 {
			return int64(x)
		}
		return new(big.Int).SetUint64(x)
	case float32:
		return float64(x)
	case *big.Int:
		if x.IsInt64() {
			return x.Int64()
		}
		return x
	case duckdb.Decimal:
		return Decimal{Value: x.Value, Scale: int(x.Scale)}
	case duckdb.UUID:
		return x.String()
	case *duckdb.UUID:
		return x.String()
	case driver.Valuer:
		if dv, err := x.Value(); err == nil {
			return dv
		}
	}
	return v
}

// SetVariable sets a DuckDB session variable (SET VARIABLE name = value),
// read in SQL with getvariable('name'). value is nil (a NULL of type typ),
// or a bool, int64, float64 or string, cast to typ (a DuckDB type name such
// as BIGINT or VARCHAR; empty keeps the value's own type).
func (d *DB) SetVariable(ctx context.Context, name string, value any, typ string) error {
	lit, err := Literal(value)
	if err != nil {
		return fmt.Errorf("duck: variable %s: %w", name, err)
	}
	if typ != "" {
		lit = "cast(" + lit + " as " + typ + ")"
	}
	if err := d.Exec(ctx, "set variable "+Ident(name)+" = "+lit); err != nil {
		return fmt.Errorf("duck: variable %s: %w", name, err)
	}
	return nil
}

// Literal renders a Go value as a DuckDB SQL literal: NULL, true/false, a
// number, or a single-quoted string.
func Literal(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "null", nil
	case bool:
		if x {
			return "true", nil
		}
		return "false", nil
	case int64:
		return fmt.Sprint(x), nil
	case int:
		return fmt.Sprint(x), nil
	case float64:
		return fmt.Sprintf("%v", x), nil
	case string:
		return Quote(x), nil
	}
	return "", fmt.Errorf("no SQL literal for %T", v)
}

// Quote returns s as a single-quoted SQL string literal.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Ident returns name as a double-quoted SQL identifier.
func Ident(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// CopyParquet runs query and writes its result to path as one
// zstd-compressed Parquet file (DuckDB's COPY … TO … (format parquet)).
func (d *DB) CopyParquet(ctx context.Context, query, path string) error {
	q := strings.TrimRight(strings.TrimSpace(query), ";")
	stmt := "copy (" + q + "\n) to " + Quote(path) + " (format parquet, compression zstd)"
	if err := d.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("duck: write %s: %w", path, err)
	}
	return nil
}

// IsOutOfMemory reports whether err is DuckDB running out of its
// memory_limit.
func IsOutOfMemory(err error) bool {
	var de *duckdb.Error
	if errors.As(err, &de) && de.Type == duckdb.ErrorTypeOutOfMemory {
		return true
	}
	// Some paths (a COPY's writer) report it as another error type.
	return err != nil && strings.Contains(err.Error(), "Out of Memory Error")
}
