package nsysdb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// layout is the set of columns of one table, from PRAGMA table_info.
type layout struct {
	table string
	names []string          // in table order
	lower map[string]string // lower-case name → name as created
}

// has returns the column's name as created and whether the table has it
// (SQLite column names are case-insensitive).
func (l *layout) has(name string) (string, bool) {
	n, ok := l.lower[strings.ToLower(name)]
	return n, ok
}

// nsysTables are tables only nsys writes; an export holds at least one of
// them (whatever was captured, the exporter writes its string table, target
// information or metadata). Prefixes end with '_'.
var nsysTables = []string{
	"StringIds", "ThreadNames", "PROCESSES", "PROFILER_OVERHEAD", "ANALYSIS_DETAILS",
	"ANALYSIS_FILE", "NVTX_EVENTS", "EXPORT_META_DATA", "ProcessStreams",
	"UnwindMethodType", "COMPOSITE_EVENTS", "SCHED_EVENTS", "SAMPLING_CALLCHAINS",
	"DIAGNOSTIC_EVENT", "TARGET_INFO_", "META_DATA_", "CUPTI_ACTIVITY_KIND_",
	"ENUM_NSYS_", "OSRT_",
}

func isNsysTable(name string) bool {
	for _, t := range nsysTables {
		if strings.HasSuffix(t, "_") && strings.HasPrefix(name, t) || name == t {
			return true
		}
	}
	return false
}

// loadTables lists the tables of the export and checks that nsys wrote it.
func (d *DB) loadTables(ctx context.Context) error {
	d.tables = map[string]string{}
	var names []string
	err := d.query(ctx, "SELECT name FROM sqlite_master WHERE type = 'table'", func(v []driver.Value) error {
		name, ok := v[0].(string)
		if !ok {
			return fmt.Errorf("sqlite_master has a table name of type %T", v[0])
		}
		d.tables[strings.ToLower(name)] = name
		names = append(names, name)
		return nil
	})
	if err != nil {
		return d.sqlErr(ctx, "list tables", err)
	}
	for _, n := range names {
		if isNsysTable(n) {
			return nil
		}
	}
	sort.Strings(names)
	if len(names) > 8 {
		names = append(names[:8], "…")
	}
	if len(names) == 0 {
		return d.malformed("not an nsys export: the database has no tables")
	}
	return d.malformed("not an nsys export: none of nsys's tables (StringIds, TARGET_INFO_*, CUPTI_ACTIVITY_KIND_*, …); tables: %s",
		strings.Join(names, ", "))
}

// HasTable reports whether the export has a table of that name (tables are
// created only when there is something to put in them).
func (d *DB) HasTable(name string) bool {
	_, ok := d.tables[strings.ToLower(name)]
	return ok
}

// layout returns the columns of a table, or nil when the export has no such
// table.
func (d *DB) layout(ctx context.Context, table string) (*layout, error) {
	name, ok := d.tables[strings.ToLower(table)]
	if !ok {
		return nil, nil
	}
	if l, ok := d.columns[name]; ok {
		return l, nil
	}
	l := &layout{table: name, lower: map[string]string{}}
	err := d.query(ctx, "SELECT name FROM pragma_table_info("+quoteString(name)+")", func(v []driver.Value) error {
		col, ok := v[0].(string)
		if !ok {
			return fmt.Errorf("column name of type %T", v[0])
		}
		l.names = append(l.names, col)
		l.lower[strings.ToLower(col)] = col
		return nil
	})
	if err != nil {
		return nil, d.sqlErr(ctx, "table "+name+": read its columns", err)
	}
	if len(l.names) == 0 {
		return nil, d.malformed("table %s: no columns", name)
	}
	d.columns[name] = l
	return l, nil
}

// Columns returns the columns of a table in table order, or nil when the
// export has no such table.
func (d *DB) Columns(ctx context.Context, table string) ([]string, error) {
	l, err := d.layout(ctx, table)
	if err != nil || l == nil {
		return nil, err
	}
	return append([]string(nil), l.names...), nil
}

// query runs a statement and calls fn for each row; fn must not keep v.
// (The driver's rows must be closed exactly once: a second Close finalizes
// a freed statement.)
func (d *DB) query(ctx context.Context, q string, fn func(v []driver.Value) error) (err error) {
	rows, err := d.q.QueryContext(ctx, q, nil)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := rows.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	v := make([]driver.Value, len(rows.Columns()))
	for {
		if err := rows.Next(v); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
	}
}

// dataError marks an error found in the values a query returned (as
// opposed to one SQLite reported).
type dataError struct{ err error }

func (e dataError) Error() string { return e.err.Error() }
func (e dataError) Unwrap() error { return e.err }

// loadInfo reads the export's metadata, session start and host.
func (d *DB) loadInfo(ctx context.Context) error {
	for _, t := range []string{"META_DATA_EXPORT", "EXPORT_META_DATA"} {
		meta, err := d.keyValues(ctx, t, "name", "value")
		if err != nil {
			return err
		}
		if meta == nil {
			continue
		}
		d.info.NsysVersion = meta["EXPORT_PRODUCT_VERSION"]
		d.info.ExportSchema = meta["EXPORT_SCHEMA_VERSION"]
		d.info.Host = meta["EXPORT_HOST"]
		break
	}
	env, err := d.keyValues(ctx, "TARGET_INFO_SYSTEM_ENV", "name", "value")
	if err != nil {
		return err
	}
	if h := env["Hostname"]; h != "" {
		d.info.Host = h
	}
	l, err := d.layout(ctx, "TARGET_INFO_SESSION_START_TIME")
	if err != nil {
		return err
	}
	if l != nil {
		if col, ok := l.has("utcEpochNs"); ok {
			q := "SELECT " + quoteIdent(col) + " FROM " + quoteIdent(l.table) + " LIMIT 1"
			err := d.query(ctx, q, func(v []driver.Value) error {
				n, ok, err := toInt(v[0])
				if err != nil {
					return dataError{fmt.Errorf("column %s: %w", col, err)}
				}
				if ok {
					d.info.SessionStartUTCNs = n
				}
				return nil
			})
			if err != nil {
				return d.wrapReadErr(ctx, l.table, err)
			}
		}
	}
	return nil
}

// keyValues reads a two-column key/value table; nil when the export lacks
// the table or one of the columns. For repeated keys the first wins.
func (d *DB) keyValues(ctx context.Context, table, key, value string) (map[string]string, error) {
	l, err := d.layout(ctx, table)
	if err != nil || l == nil {
		return nil, err
	}
	k, ok1 := l.has(key)
	v, ok2 := l.has(value)
	if !ok1 || !ok2 {
		return nil, nil
	}
	m := map[string]string{}
	q := "SELECT " + quoteIdent(k) + ", " + quoteIdent(v) + " FROM " + quoteIdent(l.table)
	err = d.query(ctx, q, func(row []driver.Value) error {
		name, _, err := toText(row[0])
		if err != nil {
			return dataError{fmt.Errorf("column %s: %w", k, err)}
		}
		val, _, err := toText(row[1])
		if err != nil {
			return dataError{fmt.Errorf("column %s: %w", v, err)}
		}
		if _, dup := m[name]; !dup {
			m[name] = val
		}
		return nil
	})
	if err != nil {
		return nil, d.wrapReadErr(ctx, l.table, err)
	}
	return m, nil
}

// wrapReadErr turns an error of a read of table into the error Read returns:
// data errors and SQLite errors are bad input, the rest passes through.
func (d *DB) wrapReadErr(ctx context.Context, table string, err error) error {
	var de dataError
	if errors.As(err, &de) {
		return d.malformed("table %s: %w", table, de.err)
	}
	return d.sqlErr(ctx, "table "+table, err)
}

// SourceStats are counts over a source table of the export, for checks.
type SourceStats struct {
	Rows int64
	// Duration is Σ(end − start) over rows with both set, when the table
	// has start and end columns.
	Duration int64
}

// Stats counts the rows of a source table (0 when the export lacks it) and
// sums end − start when it has those columns. Tests and `vitlab verify`
// compare the warehouse with it.
func (d *DB) Stats(ctx context.Context, table string) (SourceStats, error) {
	var s SourceStats
	l, err := d.layout(ctx, table)
	if err != nil || l == nil {
		return s, err
	}
	q := "SELECT count(*), 0 FROM " + quoteIdent(l.table)
	st, ok1 := l.has("start")
	en, ok2 := l.has("end")
	if ok1 && ok2 {
		q = "SELECT count(*), coalesce(sum(" + quoteIdent(en) + " - " + quoteIdent(st) + "), 0) FROM " + quoteIdent(l.table)
	}
	err = d.query(ctx, q, func(v []driver.Value) error {
		var err1, err2 error
		s.Rows, _, err1 = toInt(v[0])
		s.Duration, _, err2 = toInt(v[1])
		return errors.Join(err1, err2)
	})
	if err != nil {
		return s, d.sqlErr(ctx, "table "+l.table, err)
	}
	return s, nil
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteString quotes an SQL string literal.
func quoteString(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// toInt converts a SQLite value to an integer; ok is false for NULL.
// Floating-point values are accepted when integral, text and blobs are not.
func toInt(v driver.Value) (n int64, ok bool, err error) {
	switch x := v.(type) {
	case int64:
		return x, true, nil
	case nil:
		return 0, false, nil
	case float64:
		if x >= -9.223372036854775e18 && x <= 9.223372036854775e18 && x == float64(int64(x)) {
			return int64(x), true, nil
		}
		return 0, false, fmt.Errorf("value %v is not an integer", x)
	case bool:
		if x {
			return 1, true, nil
		}
		return 0, true, nil
	case string:
		return 0, false, fmt.Errorf("text %s where an integer is expected", clip(x))
	case []byte:
		return 0, false, fmt.Errorf("blob of %d bytes where an integer is expected", len(x))
	}
	return 0, false, fmt.Errorf("value of type %T where an integer is expected", v)
}

// toFloat converts a SQLite value to a float; ok is false for NULL.
func toFloat(v driver.Value) (f float64, ok bool, err error) {
	switch x := v.(type) {
	case float64:
		return x, true, nil
	case int64:
		return float64(x), true, nil
	case nil:
		return 0, false, nil
	case string:
		return 0, false, fmt.Errorf("text %s where a number is expected", clip(x))
	case []byte:
		return 0, false, fmt.Errorf("blob of %d bytes where a number is expected", len(x))
	}
	return 0, false, fmt.Errorf("value of type %T where a number is expected", v)
}

// toText converts a SQLite value to text; ok is false for NULL. Numbers are
// formatted as SQLite would.
func toText(v driver.Value) (s string, ok bool, err error) {
	switch x := v.(type) {
	case string:
		return x, true, nil
	case []byte:
		return string(x), true, nil
	case nil:
		return "", false, nil
	case int64:
		return strconv.FormatInt(x, 10), true, nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true, nil
	}
	return "", false, fmt.Errorf("value of type %T where text is expected", v)
}

func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strconv.Quote(s)
}
