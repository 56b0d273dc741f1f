package queries

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"vitlab/etl/warehouse"
	"vitlab/queries/duck"
	"vitlab/schemas"
)

// Warehouse is an open, read-only view of a warehouse in an in-memory
// DuckDB: one base view per table over exactly the committed files, then
// the macros and views of views/ and metrics/. It is not safe for concurrent use.
type Warehouse struct {
	db  *duck.DB
	cat *Catalog
	// Base is the SQL that created the base views (empty when the
	// warehouse's view database holds them).
	Base string
	// Views is the view database this warehouse was opened from (viewdb.go),
	// empty when the views were set up in memory.
	Views string
	// Stale names the derived views and queries (derive.go) computed live
	// because some batch has no current derivation of them (run `vitlab
	// derive`, or the next ingest does).
	Stale []string
	// derived are the saved queries answered from their derived files:
	// each has a view of its name over them (useDerived).
	derived map[string]bool
	// reads say how each of them is read a part at a time (derivedParts);
	// lists are their views' select lists in a view database, whose
	// segments are read when first needed (derivedReadOf).
	reads map[string]*derivedRead
	lists map[string]string
	// partRows is Resources.PartRows.
	partRows int64
	// answers are the files of the saved queries whose default answer the
	// view database stores (answers.go); varsCheck the SELECT that says
	// whether the session's variables are as the writer had them.
	answers   map[string]bool
	varsCheck string
	// Raised says a query outgrew the memory limit the warehouse was
	// opened with and DuckDB's default limit replaced it (roomy).
	Raised bool
	// Reordered counts the parts of derived answers that RunArrow found
	// out of order without an ORDER BY and read again sorted (readKeyed).
	Reordered int
	// roomyOnce makes roomy's raise last one statement: the memory limit
	// is set back after it (writeViewDB: at 100x the sample its first copy
	// outgrew 160 MiB, and at 4 GiB for the rest of the view database the
	// derive peaked at 322-352 MB; back after each, 291 MB). The view
	// database's writer also purges DuckDB's allocator after a statement.
	roomyOnce bool
	// limit is the memory limit roomyOnce sets back (bytes).
	limit int64
}

// Open opens the warehouse dir for queries with DefaultResources. See
// OpenWith.
func Open(ctx context.Context, dir string) (*Warehouse, error) {
	return OpenWith(ctx, dir, DefaultResources())
}

// OpenWith opens the warehouse dir for queries within res. It opens the
// warehouse's view database (viewdb.go: the views written once per
// warehouse change) read-only when it is current, else writes it anew
// first; where it cannot be written (a read-only warehouse) or a commit
// lands meanwhile, it sets the views up in an in-memory DuckDB instead, as
// every process did before (same rows, ~0.7 s more per process). A
// warehouse that has no manifest yet opens with every table empty.
func OpenWith(ctx context.Context, dir string, res Resources) (*Warehouse, error) {
	abs, raw, m, err := readWarehouseRaw(dir)
	if err != nil {
		return nil, err
	}
	if raw != nil { // a committed warehouse: its view database
		cat, err := Embedded()
		if err != nil {
			return nil, err
		}
		fp := viewsFingerprint(raw, cat)
		if w, err := openViewDB(ctx, abs, fp, cat, res); err == nil && w != nil {
			return w, nil
		}
		if _, err := writeViewDB(ctx, abs, raw, m, cat); err == nil {
			if w, err := openViewDB(ctx, abs, fp, cat, res); err == nil && w != nil {
				return w, nil
			}
		}
	}
	base, err := baseViews(abs, m, m.BatchIDs(), false)
	if err != nil {
		return nil, err
	}
	w, err := openSQL(ctx, base, res.config())
	if err != nil {
		return nil, err
	}
	w.partRows = res.PartRows
	if err := w.useDerived(ctx, abs, m, false); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// OpenSQL opens an in-memory DuckDB, runs base (SQL that must create one
// relation per warehouse table, as BaseViews does, or from VALUES in tests)
// and then every views/ and metrics/ file in creation order.
func OpenSQL(ctx context.Context, base string) (*Warehouse, error) {
	return openSQL(ctx, base, DefaultResources().config())
}

func openSQL(ctx context.Context, base string, cfg duck.Config) (*Warehouse, error) {
	return openSQLFiles(ctx, base, cfg, nil)
}

// openSQLFiles is openSQL creating only the view files files (nil: every
// one), in the catalog's order.
func openSQLFiles(ctx context.Context, base string, cfg duck.Config, files map[*ViewFile]bool) (*Warehouse, error) {
	cat, err := Embedded()
	if err != nil {
		return nil, err
	}
	db, err := duck.OpenConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	w := &Warehouse{db: db, cat: cat, Base: base}
	if err := db.Exec(ctx, base); err != nil {
		db.Close()
		return nil, fmt.Errorf("queries: base views: %w", err)
	}
	for _, v := range cat.ViewFiles {
		if files != nil && !files[v] {
			continue
		}
		if err := db.Exec(ctx, v.SQL); err != nil {
			db.Close()
			return nil, fmt.Errorf("queries: %s: %w", v.File, err)
		}
	}
	db.ReleaseMemory() // what binding the views freed (duck.DB.ReleaseMemory)
	return w, nil
}

// Close releases the DuckDB database.
func (w *Warehouse) Close() error { return w.db.Close() }

// Catalog returns the saved queries the warehouse runs.
func (w *Warehouse) Catalog() *Catalog { return w.cat }

// Run runs a saved query or check with args (key → value as the user typed
// it; missing keys take their defaults). A bad key or value is a
// *ParamError.
func (w *Warehouse) Run(ctx context.Context, q *Query, args map[string]string) (*duck.Result, error) {
	var res *duck.Result
	err := w.each(ctx, q, args, true, func(cols []duck.Column) error {
		res = &duck.Result{Columns: cols}
		return nil
	}, func(row []any) error {
		res.Rows = append(res.Rows, row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// RunEach runs a saved query like Run and hands its columns to head, then
// its rows one at a time to row (duck.DB.Each): the answer is never held
// whole in Go, nor, when it comes from derived files, in DuckDB (it is
// read in parts of Resources.PartRows rows). An out-of-memory error after
// rows were handed on is returned as is (they cannot be taken back).
func (w *Warehouse) RunEach(ctx context.Context, q *Query, args map[string]string, head func([]duck.Column) error, row func([]any) error) error {
	return w.each(ctx, q, args, false, head, row)
}

// each runs q for Run and RunEach: part after part where derivedParts
// splits its answer, else its SQL at once. With restart, a retry after
// DuckDB ran out of memory starts again from head (the caller drops what
// it had); without, it fails once rows were handed on.
func (w *Warehouse) each(ctx context.Context, q *Query, args map[string]string, restart bool, head func([]duck.Column) error, row func([]any) error) error {
	sql, err := w.sqlFor(ctx, q, args)
	if err != nil {
		return err
	}
	parts, err := w.derivedParts(ctx, q, args)
	if err != nil {
		return fmt.Errorf("queries: %s: %w", q.File, err)
	}
	if parts == nil {
		parts = []string{sql}
	} else { // a part at a time: one thread (oneThread)
		restore, err := w.oneThread(ctx)
		if err != nil {
			return err
		}
		defer restore()
	}
	started := false
	err = w.roomy(ctx, func() error {
		if started && !restart {
			return errRowsGone
		}
		var first []duck.Column
		for i, part := range parts {
			err := w.db.Each(ctx, part, func(cols []duck.Column) error {
				if i > 0 {
					return sameColumns(first, cols)
				}
				first = cols
				return head(cols)
			}, func(r []any) error {
				started = true
				return row(r)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queries: %s: %w", q.File, err)
	}
	return nil
}

// sameColumns checks that a later part of a derived answer has the
// columns of its first (names and types): else its rows are not the
// answer's.
func sameColumns(first, cols []duck.Column) error {
	if !slices.Equal(first, cols) {
		return fmt.Errorf("derived parts disagree: columns %v, then %v", first, cols)
	}
	return nil
}

var errRowsGone = errors.New("ran out of DuckDB memory after its first rows were written")

// roomy runs fn and, if DuckDB ran out of its memory_limit (a query
// computed live from the events, where derived tables are missing, can
// need more than DefaultMemoryLimit), runs it again with roomyLimit for
// the rest of this Warehouse, and says so in w.Raised.
func (w *Warehouse) roomy(ctx context.Context, fn func() error) error {
	err := fn()
	if err == nil || w.Raised || !duck.IsOutOfMemory(err) {
		return err
	}
	// RESET would not do: it resets the setting, not the buffer manager's
	// limit already in force.
	if rerr := w.db.Exec(ctx, fmt.Sprintf("set memory_limit = '%dMiB'", roomyLimit>>20)); rerr != nil {
		return errors.Join(err, rerr)
	}
	tracer()(fmt.Sprintf("memory_limit raised to %d MiB after: %.300s", roomyLimit>>20, err), time.Now())
	if !w.roomyOnce {
		w.Raised = true
		return fn()
	}
	err = fn()
	// Back to the limit it was opened with (what the statement held is
	// freed by now; should DuckDB not evict enough, the limit stays raised).
	if rerr := w.db.Exec(ctx, fmt.Sprintf("set memory_limit = '%dMiB'", w.limit>>20)); rerr != nil {
		w.Raised = true
	}
	w.db.ReleaseMemory()
	return err
}

// roomyLimit is the memory limit after a query outgrew its own.
const roomyLimit = 4 << 30

// RunArrow runs a saved query like Run and hands its answer to fn as Arrow
// record batches, in order (duck.QueryArrow; needs the duckdb_arrow build
// tag, else duck.ErrNoArrow), a part at a time as RunEach. A derived
// answer's part is read without its ORDER BY and its order checked
// (readKeyed). It returns the answer's schema.
func (w *Warehouse) RunArrow(ctx context.Context, q *Query, args map[string]string, fn func(arrow.RecordBatch) error) (*arrow.Schema, error) {
	sql, err := w.sqlFor(ctx, q, args)
	if err != nil {
		return nil, err
	}
	parts, keyed, err := w.keyedParts(ctx, q, args)
	if err != nil {
		return nil, fmt.Errorf("queries: %s: %w", q.File, err)
	}
	if parts == nil {
		parts = []string{sql}
	}
	var schema *arrow.Schema
	if len(parts) > 1 { // a part at a time: one thread (oneThread)
		restore, err := w.oneThread(ctx)
		if err != nil {
			return nil, err
		}
		defer restore()
	}
	started := false
	emit := func(rec arrow.RecordBatch) error {
		started = true
		return fn(rec)
	}
	err = w.roomy(ctx, func() error {
		if started {
			return errRowsGone
		}
		for i, part := range parts {
			var s *arrow.Schema
			var err error
			if keyed != nil {
				s, err = w.readKeyed(ctx, keyed[i], part, emit)
			} else {
				s, err = w.db.QueryArrow(ctx, part, emit)
			}
			if err != nil {
				return err
			}
			if i == 0 {
				schema = s
			} else if !s.Equal(schema) {
				return fmt.Errorf("derived parts disagree: schema %s, then %s", schema, s)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queries: %s: %w", q.File, err)
	}
	return schema, nil
}

// WriteParquet runs a saved query like Run and writes its result to path as
// a Parquet file (DuckDB's COPY). A derived answer of several parts
// (derivedParts) is copied a part at a time, in order, into a temporary
// table, which DuckDB spills to its temporary directory beyond its
// memory_limit, and the file is written from that table (a table's rows
// are read in the order they were inserted): one ORDER BY over every
// segment of the answer held a reader per segment until the sort ended,
// and ran out of the 160 MiB memory_limit at 100x the sample.
func (w *Warehouse) WriteParquet(ctx context.Context, q *Query, args map[string]string, path string) error {
	sql, err := w.sqlFor(ctx, q, args)
	if err != nil {
		return err
	}
	parts, err := w.derivedParts(ctx, q, args)
	if err != nil {
		return fmt.Errorf("queries: %s: %w", q.File, err)
	}
	if parts != nil {
		if err := w.parquetParts(ctx, parts, path); err != nil {
			return fmt.Errorf("queries: %s: %w", q.File, err)
		}
		return nil
	}
	if err := w.roomy(ctx, func() error { return w.db.CopyParquet(ctx, sql, path) }); err != nil {
		return fmt.Errorf("queries: %s: %w", q.File, err)
	}
	return nil
}

// parquetParts is WriteParquet for a derived answer read in parts. It
// runs with one thread and a memory_limit of at most parquetMemory: the
// staged table fills whatever limit there is before it spills, and the
// COPY that reads it back holds the Parquet writer's row group and
// dictionaries besides (at 100x the sample, nsys_nvtx_kern_sum's 1.88M
// rows: 348-380 MB peak RSS with 160 MiB, 271-311 MB with 100 MiB, the
// COPY 1.0 s slower).
func (w *Warehouse) parquetParts(ctx context.Context, parts []string, path string) error {
	restore, err := w.oneThread(ctx)
	if err != nil {
		return err
	}
	defer restore()
	restoreMem, err := w.lowerMemory(ctx, parquetMemory)
	if err != nil {
		return err
	}
	defer restoreMem()
	const staged = "vitlab_parquet_parts__"
	defer w.db.Exec(ctx, "drop table if exists temp."+staged)
	trace := tracer()
	for i, part := range parts {
		t0 := time.Now()
		stmt := "insert into temp." + staged + "\n" + part
		if i == 0 {
			stmt = "create or replace temp table " + staged + " as\n" + part
		}
		if err := w.roomy(ctx, func() error { return w.db.Exec(ctx, stmt) }); err != nil {
			return err
		}
		// what the part's sort freed (duck.DB.ReleaseMemory, PurgeAllocator)
		w.db.ReleaseMemory()
		w.db.PurgeAllocator()
		trace(fmt.Sprintf("parquet part %d", i+1), t0)
	}
	t0 := time.Now()
	err = w.roomy(ctx, func() error { return w.db.CopyParquet(ctx, "select * from temp."+staged, path) })
	trace("parquet written", t0)
	return err
}

// parquetMemory is parquetParts' memory_limit.
const parquetMemory = 100 << 20

// lowerMemory sets DuckDB's memory_limit to limit bytes, where it is
// higher, until restore is called, which sets the limit before it back
// (unless roomy raised it meanwhile).
func (w *Warehouse) lowerMemory(ctx context.Context, limit int64) (restore func(), err error) {
	res, err := w.db.Query(ctx, "select current_setting('memory_limit')")
	if err != nil {
		return nil, err
	}
	prev := fmt.Sprint(res.Rows[0][0])
	if n, ok := parseSize(prev); w.Raised || !ok || n <= limit {
		return func() {}, nil
	}
	if err := w.db.Exec(ctx, fmt.Sprintf("set memory_limit = '%dMiB'", limit>>20)); err != nil {
		return nil, err
	}
	return func() {
		if !w.Raised {
			w.db.Exec(ctx, "set memory_limit = "+duck.Quote(prev))
		}
	}, nil
}

// parseSize reads a size as DuckDB prints a setting ("160.0 MiB", "4.0
// GiB", "512 bytes") in bytes.
func parseSize(s string) (int64, bool) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return 0, false
	}
	x, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, false
	}
	mul := map[string]float64{"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[unit]
	if mul == 0 {
		return 0, false
	}
	return int64(x * mul), true
}

// Values returns the distinct values of column col of q's answer with
// args, nulls left out, ordered by the least value of each column of by
// among their rows (e.g. batch_id: in the order of the batches a run id
// first appears in), then by themselves: one GROUP BY over the answer,
// which is never held (a derived answer is read from its files unordered,
// unorderedSQL). What it holds grows with the distinct values (the runs
// or batches a filter param names), not with the answer's rows.
func (w *Warehouse) Values(ctx context.Context, q *Query, args map[string]string, col string, by ...string) ([]any, error) {
	sql, err := w.unorderedSQL(ctx, q, args)
	if err != nil {
		return nil, err
	}
	c := duck.Ident(col)
	var order []string
	for _, b := range by {
		order = append(order, "min("+duck.Ident(b)+")")
	}
	order = append(order, c)
	res, err := w.SQL(ctx, "select "+c+" from (\n"+strings.TrimRight(strings.TrimSpace(sql), ";")+"\n) where "+c+" is not null group by "+c+
		" order by "+strings.Join(order, ", "))
	if err != nil {
		return nil, fmt.Errorf("queries: %s: %w", q.File, err)
	}
	vals := make([]any, len(res.Rows))
	for i, r := range res.Rows {
		vals[i] = r[0]
	}
	return vals, nil
}

// unorderedSQL is sqlFor's SQL without the order of a derived answer:
// its rows from its files in no particular order (segmentScan), for a
// statement that does not need them in order (one ORDER BY over every
// segment of a big answer ran out of DuckDB's memory_limit).
func (w *Warehouse) unorderedSQL(ctx context.Context, q *Query, args map[string]string) (string, error) {
	if sql, ok, err := w.storedAnswer(ctx, q, args); err != nil || ok {
		return sql, err
	}
	if err := w.bind(ctx, q, args); err != nil {
		return "", err
	}
	where, ok, err := w.derivedFilter(q, args)
	if err != nil {
		return "", err
	}
	if !ok {
		return q.SQL, nil
	}
	r, err := w.derivedReadOf(ctx, q.Name)
	if err != nil {
		return "", err
	}
	if r == nil || len(r.segs) == 0 {
		return "select * from " + duck.Ident(q.Name) + where, nil
	}
	return "select " + r.selectList + "\nfrom " + segmentScan(r.segs) + where, nil
}

// RunInto runs a saved query like Run into a new temporary table of this
// connection (replacing one of that name), so that a big result can be
// counted, sampled and written by DuckDB without passing through Go.
func (w *Warehouse) RunInto(ctx context.Context, q *Query, args map[string]string, table string) error {
	sql, err := w.sqlFor(ctx, q, args)
	if err != nil {
		return err
	}
	if err := w.roomy(ctx, func() error { return w.db.Exec(ctx, "create or replace temp table "+duck.Ident(table)+" as\n"+sql) }); err != nil {
		return fmt.Errorf("queries: %s: %w", q.File, err)
	}
	return nil
}

// firstRows returns the first limit rows of q's answer: for a derived
// answer read in parts, from its first parts (each with its ORDER BY and
// a LIMIT), else from q's SQL with a LIMIT.
func (w *Warehouse) firstRows(ctx context.Context, q *Query, args map[string]string, limit int) (*duck.Result, error) {
	sql, err := w.sqlFor(ctx, q, args)
	if err != nil {
		return nil, err
	}
	parts, err := w.derivedParts(ctx, q, args)
	if err != nil {
		return nil, fmt.Errorf("queries: %s: %w", q.File, err)
	}
	if parts == nil {
		parts = []string{fmt.Sprintf("select * from (\n%s\n)", sql)}
	} else {
		restore, err := w.oneThread(ctx)
		if err != nil {
			return nil, err
		}
		defer restore()
	}
	var res *duck.Result
	for _, part := range parts {
		var r *duck.Result
		n := limit
		if res != nil {
			n -= len(res.Rows)
		}
		err := w.roomy(ctx, func() (err error) {
			r, err = w.db.Query(ctx, fmt.Sprintf("%s\nlimit %d", part, n)) // (a part ends with its ORDER BY)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("queries: %s: %w", q.File, err)
		}
		if res == nil {
			res = r
		} else {
			res.Rows = append(res.Rows, r.Rows...)
		}
		if len(res.Rows) >= limit {
			break
		}
	}
	return res, nil
}

// oneThread sets DuckDB's threads to 1 until restore is called (which
// sets them back). A derived answer read a part at a time (RunEach,
// RunArrow, firstRows, parquetParts) is read with one thread: on a 100x
// warehouse one thread was faster and smaller than two (nsys_nvtx_kern_sum,
// 1.82M rows in 28 parts, each then sorted: vitlab query --format csv
// 2.1-2.3 s -> 1.8-1.9 s, the Go side writing CSV on the other CPU;
// vitlab report 12.1 s / 390 MiB -> 8.1-8.3 s / 321 MiB; without the sort,
// readKeyed, two threads were no faster; see docs/performance.md).
func (w *Warehouse) oneThread(ctx context.Context) (restore func(), err error) {
	res, err := w.db.Query(ctx, "select current_setting('threads')")
	if err != nil {
		return nil, err
	}
	prev := fmt.Sprint(res.Rows[0][0])
	if prev == "1" {
		return func() {}, nil
	}
	if err := w.db.Exec(ctx, "set threads = 1"); err != nil {
		return nil, err
	}
	return func() { w.db.Exec(ctx, "set threads = "+prev) }, nil
}

// sqlFor binds q's params and returns the SQL that answers it: from its
// derived files where they hold the answer (derive.go), else from its
// answer stored in the view database where that holds it (answers.go),
// else q's own.
func (w *Warehouse) sqlFor(ctx context.Context, q *Query, args map[string]string) (string, error) {
	if sql, ok, err := w.storedAnswer(ctx, q, args); err != nil || ok {
		return sql, err
	}
	if err := w.bind(ctx, q, args); err != nil {
		return "", err
	}
	sql, err := w.derivedSQL(ctx, q, args)
	if err != nil || sql != "" {
		return sql, err
	}
	return q.SQL, nil
}

func (w *Warehouse) bind(ctx context.Context, q *Query, args map[string]string) error {
	vals, err := q.Bind(args)
	if err != nil {
		return err
	}
	for _, p := range q.Params {
		if err := w.db.SetVariable(ctx, p.Key, vals[p.Key], p.Type); err != nil {
			return fmt.Errorf("queries: %s: %w", q.File, err)
		}
	}
	return nil
}

// SQL runs ad-hoc SQL over the views (tests, checks by hand).
func (w *Warehouse) SQL(ctx context.Context, query string) (*duck.Result, error) {
	var res *duck.Result
	err := w.roomy(ctx, func() (err error) {
		res, err = w.db.Query(ctx, query)
		return err
	})
	return res, err
}

// BaseViews reads dir's manifest and returns the SQL that creates one view
// per table of schemas.All(): the table's committed files (absolute paths)
// read with union_by_name, unioned by name with an empty relation typed from
// the schema, so that a table without files still has all its columns and
// columns added by later schema versions read as null over older files.
func BaseViews(dir string) (string, error) {
	abs, m, err := readWarehouse(dir)
	if err != nil {
		return "", err
	}
	return baseViews(abs, m, m.BatchIDs(), false)
}

// readWarehouse returns dir's absolute path and manifest.
func readWarehouse(dir string) (string, *warehouse.Manifest, error) {
	abs, _, m, err := readWarehouseRaw(dir)
	return abs, m, err
}

// readWarehouseRaw returns dir's absolute path, its manifest file's bytes
// (nil when it has none yet) and the manifest they hold.
func readWarehouseRaw(dir string) (string, []byte, *warehouse.Manifest, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil, nil, fmt.Errorf("queries: no warehouse at %s (no such directory)", dir)
		}
		return "", nil, nil, fmt.Errorf("queries: warehouse: %w", err)
	}
	if !st.IsDir() {
		return "", nil, nil, fmt.Errorf("queries: warehouse %s is not a directory", dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, nil, fmt.Errorf("queries: warehouse %s: %w", dir, err)
	}
	raw, err := os.ReadFile(filepath.Join(abs, warehouse.ManifestName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", nil, nil, fmt.Errorf("queries: warehouse: %w", err)
	}
	m, err := warehouse.ParseManifest(abs, raw)
	if err != nil {
		return "", nil, nil, fmt.Errorf("queries: %w", err)
	}
	return abs, raw, m, nil
}

// baseViews is BaseViews over the batches ids of manifest m of warehouse
// abs. With rel, the files are named relative to abs (as the manifest
// lists them), for a DuckDB whose file_search_path is the warehouse.
func baseViews(abs string, m *warehouse.Manifest, ids []string, rel bool) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "-- Base views of warehouse %s: one per table, over the files its manifest commits\n", abs)
	fmt.Fprintf(&b, "-- (%d batches). Generated by vitlab; saved queries read these and views.sql.\n\n", len(ids))
	for _, t := range Tables() {
		// Files of one schema version have the same columns: DuckDB reads
		// them as one list without union_by_name, which would open every
		// file's footer each time a query binds the view (23 s to create
		// the views over 500 batches, against 1.1 s). Versions are unioned
		// by name; batches of an unrecorded version (0) keep union_by_name.
		groups := map[int][]string{}
		var versions []int
		for _, id := range ids {
			bt := m.Batches[id]
			for _, file := range bt.Tables[t.Name].Files {
				p := file
				if !filepath.IsAbs(p) {
					p = filepath.Join(abs, filepath.FromSlash(file))
				}
				if strings.ContainsAny(p, "*?[{") {
					return "", fmt.Errorf("queries: warehouse %s: table %s: file %s has a glob character (* ? [ {) DuckDB would expand", abs, t.Name, file)
				}
				if _, err := os.Stat(p); err != nil {
					return "", fmt.Errorf("queries: warehouse %s: table %s: committed file %s: %w", abs, t.Name, file, err)
				}
				if _, ok := groups[bt.SchemaVersion]; !ok {
					versions = append(versions, bt.SchemaVersion)
				}
				if rel && !filepath.IsAbs(file) {
					p = file
				}
				groups[bt.SchemaVersion] = append(groups[bt.SchemaVersion], p)
			}
		}
		slices.Sort(versions)
		var froms []string
		for _, v := range versions {
			froms = append(froms, readParquet(groups[v], v == 0))
		}
		b.WriteString(t.ViewOver(strings.Join(froms, "\nunion all by name\n")))
		b.WriteString("\n")
	}
	return b.String(), nil
}

// readParquet is a SELECT over Parquet files, with union_by_name when
// their columns may differ.
func readParquet(files []string, byName bool) string {
	quoted := make([]string, len(files))
	for i, f := range files {
		quoted[i] = "    " + duck.Quote(f)
	}
	return fmt.Sprintf("select * from read_parquet([\n%s\n], union_by_name = %t, hive_partitioning = false)",
		strings.Join(quoted, ",\n"), byName)
}

// TableDef is a warehouse table as the base views see it: its columns
// with their DuckDB types, in schema order.
type TableDef struct {
	Name    string
	Columns []ColumnDef
}

// ColumnDef is one column of a TableDef.
type ColumnDef struct{ Name, Type string }

// Index returns the position of a column, or -1.
func (t TableDef) Index(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// pendingTables are tables and columns the queries read that a warehouse
// schema version may not have yet (schema version 3: clean_windows,
// gpu_samples.phase and energy_mj, the new runs settings): Tables adds
// them as typed null columns, or as an empty table, wherever schemas/
// lacks them, so the views run over any warehouse. Once schemas/ declares
// them, its declaration wins.
func pendingTables() []TableDef {
	return []TableDef{
		{Name: "clean_windows", Columns: []ColumnDef{
			{"batch_id", "VARCHAR"}, {"run_id", "VARCHAR"}, {"window", "INTEGER"},
			{"start_unix_ns", "BIGINT"}, {"end_unix_ns", "BIGINT"}, {"duration_ns", "BIGINT"},
			{"batches", "INTEGER"}, {"images", "BIGINT"}, {"throughput", "DOUBLE"}, {"energy_j", "DOUBLE"},
			{"latency_p50_ms", "DOUBLE"}, {"latency_p90_ms", "DOUBLE"}, {"latency_p99_ms", "DOUBLE"},
		}},
		{Name: "gpu_samples", Columns: []ColumnDef{{"phase", "VARCHAR"}, {"energy_mj", "BIGINT"}}},
		{Name: "runs", Columns: []ColumnDef{
			{"clean_repeats", "INTEGER"}, {"cpu_threads_per_worker", "INTEGER"}, {"min_window_s", "DOUBLE"},
			{"jpeg_quality", "INTEGER"}, {"decoder", "VARCHAR"}, {"resize", "VARCHAR"},
			{"patch_embed", "VARCHAR"}, {"cudnn_benchmark", "BOOLEAN"}, {"cpus_allowed", "INTEGER"},
		}},
	}
}

// Tables returns every table of schemas.All() as the base views declare
// it, with the pending tables and columns the schema lacks added.
func Tables() []TableDef {
	var out []TableDef
	for _, t := range schemas.All() {
		d := TableDef{Name: t.Name}
		for _, c := range t.Columns {
			typ, err := DuckType(c.Type)
			if err != nil {
				panic(fmt.Sprintf("queries: table %s column %s: %v", t.Name, c.Name, err)) // a schema bug, caught by every test
			}
			d.Columns = append(d.Columns, ColumnDef{c.Name, typ})
		}
		out = append(out, d)
	}
	for _, p := range pendingTables() {
		i := slices.IndexFunc(out, func(d TableDef) bool { return d.Name == p.Name })
		if i < 0 {
			out = append(out, p)
			continue
		}
		for _, c := range p.Columns {
			if out[i].Index(c.Name) < 0 {
				out[i].Columns = append(out[i].Columns, c)
			}
		}
	}
	return out
}

// TableByName returns the TableDef of that name.
func TableByName(name string) (TableDef, bool) {
	for _, t := range Tables() {
		if t.Name == name {
			return t, true
		}
	}
	return TableDef{}, false
}

// ViewOver returns the CREATE VIEW statement of the table as its typed
// empty relation unioned by name with from (a SELECT; empty for none).
// Columns come in schema order, then any column from has that the schema
// lacks.
func (t TableDef) ViewOver(from string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "create or replace view %s as\nselect\n", t.Name)
	for i, c := range t.Columns {
		sep := ","
		if i == len(t.Columns)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    cast(null as %s) as %s%s\n", c.Type, duck.Ident(c.Name), sep)
	}
	b.WriteString("where false\n")
	if from != "" {
		b.WriteString("union all by name\n")
		b.WriteString(from)
		b.WriteString("\n")
	}
	b.WriteString(";\n")
	return b.String()
}

// DuckType returns the DuckDB type that DuckDB gives a Parquet column
// written from an Arrow column of type t.
func DuckType(t arrow.DataType) (string, error) {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return "VARCHAR", nil
	case arrow.BINARY, arrow.LARGE_BINARY:
		return "BLOB", nil
	case arrow.BOOL:
		return "BOOLEAN", nil
	case arrow.INT8:
		return "TINYINT", nil
	case arrow.INT16:
		return "SMALLINT", nil
	case arrow.INT32:
		return "INTEGER", nil
	case arrow.INT64:
		return "BIGINT", nil
	case arrow.UINT8:
		return "UTINYINT", nil
	case arrow.UINT16:
		return "USMALLINT", nil
	case arrow.UINT32:
		return "UINTEGER", nil
	case arrow.UINT64:
		return "UBIGINT", nil
	case arrow.FLOAT32:
		return "FLOAT", nil
	case arrow.FLOAT64:
		return "DOUBLE", nil
	case arrow.DATE32:
		return "DATE", nil
	case arrow.TIMESTAMP:
		ts := t.(*arrow.TimestampType)
		if ts.TimeZone != "" {
			return "TIMESTAMP WITH TIME ZONE", nil
		}
		switch ts.Unit {
		case arrow.Second:
			return "TIMESTAMP_S", nil
		case arrow.Millisecond:
			return "TIMESTAMP_MS", nil
		case arrow.Nanosecond:
			return "TIMESTAMP_NS", nil
		}
		return "TIMESTAMP", nil
	}
	return "", fmt.Errorf("no DuckDB type for Arrow %s", t)
}

// Script returns SQL that a DuckDB client (CLI, Python) runs once to get
// what Open sets up: the base views of dir, the views/ and metrics/ files, and a SET VARIABLE
// with the default of every param of the saved queries. After it, each
// saved query file runs unchanged.
func Script(dir string) (string, error) {
	cat, err := Embedded()
	if err != nil {
		return "", err
	}
	base, err := BaseViews(dir)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(base)
	b.WriteString("\n-- queries/views/*.sql, then queries/metrics/*.sql in dependency order\n\n")
	b.WriteString(cat.Views)
	b.WriteString("\n-- Defaults of the saved queries' params; SET VARIABLE another value to change one.\n")
	for _, p := range cat.Defaults() {
		lit, err := duck.Literal(p.Default)
		if err != nil {
			return "", fmt.Errorf("queries: param %s: %w", p.Key, err)
		}
		fmt.Fprintf(&b, "set variable %s = cast(%s as %s); -- %s\n", p.Key, lit, p.Type, p.Doc)
	}
	return b.String(), nil
}

// MaterializeMetrics computes each run- and configuration-level metric view
// (metrics/ files named run_*, config_*, runs_flagged, gpu_cards) once into
// a temporary table of the same name, which shadows the view for the rest
// of this connection: the findings, the claims and the checks then read the
// table instead of re-evaluating the view from the event tables (DuckDB
// re-evaluates a view in every query that reads it). Views of one row per
// GPU operation or batch stay views: they are big, and read through the
// per-run ones. It returns how long it took. Results are the same as
// without it; call it before running several queries in one process.
func (w *Warehouse) MaterializeMetrics(ctx context.Context) (time.Duration, error) {
	t0 := time.Now()
	// The small tables first (a few rows per run, but one file per batch:
	// reading 500 files costs more than their rows), then the metric views.
	for _, name := range smallTables {
		if err := w.roomy(ctx, func() error {
			return w.db.Exec(ctx, "create or replace temp table "+duck.Ident(name)+" as select * from main."+duck.Ident(name))
		}); err != nil {
			return time.Since(t0), fmt.Errorf("queries: table %s: %w", name, err)
		}
	}
	for _, vf := range w.cat.ViewFiles {
		if vf.Layer != LayerMetric || !perRunView(vf.Name) {
			continue
		}
		if err := w.roomy(ctx, func() error {
			return w.db.Exec(ctx, "create or replace temp table "+duck.Ident(vf.Name)+" as select * from main."+duck.Ident(vf.Name))
		}); err != nil {
			return time.Since(t0), fmt.Errorf("queries: metric view %s: %w", vf.Name, err)
		}
	}
	return time.Since(t0), nil
}

// smallTables are the warehouse tables of a few rows per run or batch
// that MaterializeMetrics reads into memory once.
var smallTables = []string{"batches", "runs", "clean_windows", "devices"}

// perRunView says whether a metric view has one row per run or
// configuration (few rows, costly to compute): those MaterializeMetrics
// stores.
func perRunView(name string) bool {
	return strings.HasPrefix(name, "run_") || strings.HasPrefix(name, "config_") || name == "runs_flagged" || name == "gpu_cards"
}
