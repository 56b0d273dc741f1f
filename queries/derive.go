package queries

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"vitlab/etl/warehouse"
	"vitlab/queries/duck"
	"vitlab/schemas"
)

// Derived tables: incremental materialisation of the per-run SQL.
//
// A metric view or a saved query whose header says "-- derive: per-batch"
// has rows for batch B that depend on B's rows only (its per-run metrics,
// nsys summaries, checks). Batches are immutable once committed, so its
// output for B is computed once, when B lands: Derive opens DuckDB over the
// files of up to 32 new batches, runs the same SQL (default params) once
// and stores each table's result as one Parquet file listed by those
// batches (warehouse.CommitDerivedShared, under _derived/<name>/shared/;
// a reader takes from a file only the rows of the batches that list it).
// Open then reads a derived view from those
// files instead of recomputing it from every kernel of every run, and Run
// answers a derived query (with its default params, any batch/run filter)
// from them. The SQL stays the one definition: a derivation is keyed by
// DeriveKey, a hash of every SQL file and the table schemas, so when either
// changes the stored outputs are stale, the live SQL answers (correct, only
// slower; Warehouse.Stale says which), and the next `vitlab ingest` or
// `vitlab derive` recomputes them. Tests check that every derived view and
// query gives the same rows as the live SQL.

// DeriveKey identifies the SQL and the table schemas a derivation ran: a
// SHA-256 over every view, metric, query and check file and every base
// table's columns.
func (c *Catalog) DeriveKey() string {
	h := sha256.New()
	for _, v := range c.ViewFiles {
		fmt.Fprintf(h, "view %s\n%s\n", v.File, v.SQL)
	}
	for _, qs := range [][]*Query{c.Queries, c.Checks} {
		for _, q := range qs {
			fmt.Fprintf(h, "query %s\n%s\n", q.File, q.SQL)
		}
	}
	for _, t := range Tables() {
		fmt.Fprintf(h, "table %s\n", t.Name)
		for _, col := range t.Columns {
			fmt.Fprintf(h, "  %s %s\n", col.Name, col.Type)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// DerivedViews are the metric views stored per batch, in creation order.
func (c *Catalog) DerivedViews() []*ViewFile {
	var out []*ViewFile
	for _, v := range c.ViewFiles {
		if v.Derive {
			out = append(out, v)
		}
	}
	return out
}

// DerivedQueries are the saved queries and checks stored per batch.
func (c *Catalog) DerivedQueries() []*Query {
	var out []*Query
	for _, qs := range [][]*Query{c.Queries, c.Checks} {
		for _, q := range qs {
			if q.Derive {
				out = append(out, q)
			}
		}
	}
	return out
}

// tableCopy is the derived name of a small table's per-batch copy.
func tableCopy(table string) string { return "table_" + table }

// DeriveStats says what Derive did.
type DeriveStats struct {
	// Batches are the batches whose derived tables were computed.
	Batches []string
	// Took is each one's time, in Batches' order.
	Took []time.Duration
}

// Derive computes the derived tables of every committed batch of the
// warehouse dir whose derivation is missing or stale (another DeriveKey),
// with DefaultDeriveOptions and progress. See DeriveWith.
func Derive(ctx context.Context, dir string, progress func(id string, took time.Duration)) (DeriveStats, error) {
	opts := DefaultDeriveOptions()
	opts.Progress = progress
	return DeriveWith(ctx, dir, opts)
}

// DeriveOptions bound a derivation.
type DeriveOptions struct {
	// Resources bound each pass's DuckDB (its memory_limit: what a pass
	// holds beyond it spills to the temporary directory).
	Resources Resources
	// MaxEvents bounds the event rows of one pass: batches are derived in
	// groups of consecutive batches up to this many events (and at most
	// 32 batches); a batch bigger than that is a pass of its own.
	MaxEvents int64
	// WideEvents bounds the groups of runs of a batch bigger than MaxEvents
	// in which every derived view and query but the heavy ones
	// (heavyDerived: computed in groups of MaxEvents) is computed; 0:
	// DefaultWideFactor × MaxEvents.
	WideEvents int64
	// Progress, if not nil, is called after each batch is committed.
	Progress func(id string, took time.Duration)
}

// DefaultDeriveOptions are DefaultResources with DefaultDeriveMemory, and
// passes of at most DefaultDeriveEvents events.
func DefaultDeriveOptions() DeriveOptions {
	res := DefaultResources()
	res.MemoryLimit = DefaultDeriveMemory
	return DeriveOptions{Resources: res, MaxEvents: DefaultDeriveEvents}
}

// DefaultDeriveEvents is DeriveOptions.MaxEvents by default. A pass's
// DuckDB holds about 300 bytes per event at its peak (the NVTX projection
// of nsys_nvtx_kern_sum): the sample's 728k events in one pass outgrew a
// 200 MiB memory_limit, in passes of at most 300k events the derive peaked
// at 290 MB RSS, one batch a pass (100k) at 250 MB. A pass costs ~50 ms
// more than its rows (the views are created once per derivation).
const DefaultDeriveEvents = 256 << 10

// goChunkFactor × DeriveOptions.MaxEvents bounds the events of the runs
// whose nsys_nvtx_kern_sum Go computes at once (nvtx_kern_sum_go.go): over
// 1M events of the ingest bench's batch it held ~50-100 MB in Go.
const goChunkFactor = 4

// DefaultWideFactor × DeriveOptions.MaxEvents is DeriveOptions.WideEvents
// by default: 2M events. On the ingest bench's batch (5.1M events) in one
// pass, every derived statement but nsys_nvtx_kern_sum stayed under
// 310 MB RSS (run_busy the largest) with a 200 MiB memory_limit. Since
// run_busy's unions and nsys_nvtx_kern_sum are computed in Go (in chunks
// of goChunkFactor × MaxEvents), a derive of that batch, --jobs 1, took
// 10.4-11.1 s / 324-335 MB in groups of 1M (4×), 8.5-8.8 s / 318-356 MB
// in groups of 2M (8×) and 8.4-8.8 s / 334-424 MB in groups of 4M (16×).
const DefaultWideFactor = 8

// DeriveWith computes the derived tables of every committed batch of the
// warehouse dir whose derivation is missing or stale (another DeriveKey),
// in passes over groups of batches bounded by opts, each batch committed
// on its own (an interruption loses at most the pass in progress: the
// warehouse stays queryable, its underived batches computed live, and the
// next derive completes it).
func DeriveWith(ctx context.Context, dir string, opts DeriveOptions) (DeriveStats, error) {
	var st DeriveStats
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = DefaultDeriveEvents
	}
	cat, abs, m, key, err := derivationState(dir, "derive")
	if err != nil {
		return st, err
	}
	stale := staleBatches(cat, m, key)
	if opts.WideEvents <= 0 {
		opts.WideEvents = DefaultWideFactor * opts.MaxEvents
	}
	s := deriveSession{maxEvents: opts.MaxEvents, wideEvents: opts.WideEvents}
	defer s.close()
	for len(stale) > 0 {
		n := passSize(m, stale, opts.MaxEvents)
		t0 := time.Now()
		err := s.pass(ctx, cat, abs, m, stale[:n], key, opts.Resources, func(id string) {
			st.Batches = append(st.Batches, id)
			st.Took = append(st.Took, time.Since(t0))
			if opts.Progress != nil {
				opts.Progress(id, time.Since(t0))
			}
			t0 = time.Now()
		})
		if err != nil {
			return st, err
		}
		stale = stale[n:]
	}
	return st, nil
}

// passSize is how many of the batches ids (at least one) one pass derives:
// at most deriveChunk, and at most maxEvents event rows unless the first
// alone has more.
func passSize(m *warehouse.Manifest, ids []string, maxEvents int64) int {
	var events int64
	for i, id := range ids {
		var n int64
		for name, tf := range m.Batches[id].Tables {
			if eventTable(name) {
				n += tf.Rows
			}
		}
		if i > 0 && (i == deriveChunk || events+n > maxEvents) {
			return i
		}
		events += n
	}
	return min(len(ids), deriveChunk)
}

// derivationState is what a derivation or a compaction of the warehouse
// dir starts from: the embedded catalog, dir's absolute path, its manifest
// and the catalog's DeriveKey; op names the operation in errors.
func derivationState(dir, op string) (*Catalog, string, *warehouse.Manifest, string, error) {
	cat, err := Embedded()
	if err != nil {
		return nil, "", nil, "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, "", nil, "", err
	}
	m, err := warehouse.ReadManifest(abs)
	if err != nil {
		return nil, "", nil, "", fmt.Errorf("queries: %s: %w", op, err)
	}
	return cat, abs, m, cat.DeriveKey(), nil
}

// staleBatches are the batches of m missing a current derivation of any
// derived view or query.
func staleBatches(cat *Catalog, m *warehouse.Manifest, key string) []string {
	stale := map[string]bool{}
	for _, name := range derivedNames(cat) {
		_, missing := m.DerivedFiles(name, key)
		for _, id := range missing {
			stale[id] = true
		}
	}
	var ids []string
	for _, id := range m.BatchIDs() {
		if stale[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

func derivedNames(cat *Catalog) []string {
	var names []string
	for _, t := range smallTables {
		names = append(names, tableCopy(t))
	}
	for _, v := range cat.DerivedViews() {
		names = append(names, v.Name)
	}
	for _, q := range cat.DerivedQueries() {
		names = append(names, q.Name)
	}
	return names
}

// deriveViewFiles are the view files a derivation needs: every views/
// file, and the metric files defining what a derived view or query reads,
// directly or through other metric files (their headers' inputs).
func deriveViewFiles(cat *Catalog) map[*ViewFile]bool {
	definer := map[string]*ViewFile{}
	for _, v := range cat.ViewFiles {
		for _, d := range v.Defines {
			definer[d] = v
		}
	}
	files := map[*ViewFile]bool{}
	var need func(name string)
	need = func(name string) {
		v := definer[name]
		if v == nil || files[v] {
			return
		}
		files[v] = true
		for _, in := range v.Inputs {
			need(in)
		}
	}
	for _, v := range cat.ViewFiles {
		if v.Layer == LayerView {
			files[v] = true
			for _, in := range v.Inputs {
				need(in)
			}
		}
	}
	for _, v := range cat.DerivedViews() {
		need(v.Name)
	}
	for _, q := range cat.DerivedQueries() {
		for _, in := range q.Inputs {
			need(in)
		}
	}
	return files
}

// deriveChunk is the most batches one DuckDB pass derives: each derived
// view and query runs once over the chunk (per-query overheads paid once,
// not per batch), then each batch's rows are written and committed on
// their own.
const deriveChunk = 32

// deriveBatches computes the derived tables of batches ids in one pass over
// their files and commits each batch's as soon as its files are written;
// done is called after each commit.
func deriveBatches(ctx context.Context, cat *Catalog, abs string, m *warehouse.Manifest, ids []string, key string, res Resources, done func(id string)) error {
	var s deriveSession
	defer s.close()
	return s.pass(ctx, cat, abs, m, ids, key, res, done)
}

// deriveSession is one DuckDB for every pass of a derivation: the views
// of views/ and metrics/ are created once (~0.5 s on 2 CPUs), each pass
// only points the base views at its batches.
type deriveSession struct {
	w *Warehouse
	// wideEvents bounds the groups of runs in which every derived view and
	// query but the heavy ones (heavyDerived, in groups of maxEvents) is
	// computed (at least maxEvents).
	wideEvents int64
	// maxEvents splits a batch of more events into groups of its runs
	// (0: never).
	maxEvents int64
}

func (s *deriveSession) close() {
	if s.w != nil {
		s.w.Close()
	}
}

// pass derives batches ids (deriveBatches).
func (s *deriveSession) pass(ctx context.Context, cat *Catalog, abs string, m *warehouse.Manifest, ids []string, key string, res Resources, done func(id string)) error {
	for _, id := range ids {
		if _, ok := m.Batches[id]; !ok {
			return fmt.Errorf("queries: derive: batch %s is not committed", id)
		}
	}
	label := ids[0]
	if len(ids) > 1 {
		label = fmt.Sprintf("%s … %s (%d batches)", ids[0], ids[len(ids)-1], len(ids))
	}
	trace := tracer()
	base, err := baseViews(abs, m, ids, false)
	if err != nil {
		return err
	}
	t0 := time.Now()
	w := s.w
	if w == nil {
		// Only the views a derivation reads (deriveViewFiles): the
		// metrics over derived ones (config_compare, config_summary, …)
		// were ~0.65 s of the ~0.8 s creating them all took. Should a
		// file read a view its header does not list, its creation fails
		// and every file is created instead.
		if w, err = openSQLFiles(ctx, base, res.config(), deriveViewFiles(cat)); err != nil {
			if w, err = openSQL(ctx, base, res.config()); err != nil {
				return fmt.Errorf("queries: derive %s: %w", label, err)
			}
		}
		s.w = w
	} else {
		// The views of views/ and metrics/ stay (DuckDB binds a view each
		// time a query reads it): only the base views move to this pass's
		// batches, and the previous pass's derived views are dropped.
		var drop strings.Builder
		for _, v := range cat.DerivedViews() {
			fmt.Fprintf(&drop, "drop table if exists temp.main.%s;\n", duck.Ident(v.Name))
		}
		if err := w.db.Exec(ctx, drop.String()+base); err != nil {
			return fmt.Errorf("queries: derive %s: %w", label, err)
		}
	}
	trace("open", t0)
	dir, err := os.MkdirTemp(abs, ".derive-")
	if err != nil {
		return fmt.Errorf("queries: derive %s: %w", label, err)
	}
	defer os.RemoveAll(dir)
	// A batch bigger than a pass is derived in groups of its runs (runGroups;
	// every derived view and query is per run, and orders by batch_id then
	// run_id, or is computed over the whole batch at the end).
	groups := []runGroup{{parts: [][]string{nil}}}
	if len(ids) == 1 && s.maxEvents > 0 {
		if groups, err = s.runGroups(ctx, base, s.maxEvents, max(s.wideEvents, s.maxEvents)); err != nil {
			return fmt.Errorf("queries: derive %s: %w", label, err)
		}
	}
	split := len(groups) > 1
	// Each derived view is computed once into a temporary table of the same
	// name, which shadows the view for the rest of the connection (later
	// derived views and queries read it). The small tables are copied too:
	// one file per batch made reading the runs of 500 batches cost 2-5 s,
	// their chunk copies a few files. Each goes to one file per group; the
	// derived queries (leaves: nothing reads them) stream from their SQL
	// into their file, so no pass holds their answers in memory (the nsys
	// summaries of a pass are the biggest).
	parts := map[string][]string{}
	var names []string
	part := func(name, sql string) error {
		t0 := time.Now()
		path := filepath.Join(dir, fmt.Sprintf("%s.g%d.parquet", name, len(parts[name])))
		if err := w.roomy(ctx, func() error { return w.db.CopyParquet(ctx, sql, path) }); err != nil {
			return fmt.Errorf("queries: derive %s of %s: %w", name, label, err)
		}
		if len(parts[name]) == 0 {
			names = append(names, name)
		}
		parts[name] = append(parts[name], path)
		// What the statement's readers and operators freed: the C heap
		// grew by ~10-70 MB a statement over groups of millions of events.
		w.db.ReleaseMemory()
		trace(name, t0)
		return nil
	}
	derivedViews := cat.DerivedViews()
	for gi, g := range groups {
		if split {
			var b strings.Builder
			for _, v := range derivedViews {
				fmt.Fprintf(&b, "drop table if exists temp.main.%s;\n", duck.Ident(v.Name))
			}
			b.WriteString(groupViews(g.runs))
			if err := w.db.Exec(ctx, b.String()); err != nil {
				return fmt.Errorf("queries: derive %s: %w", label, err)
			}
		}
		for _, t := range smallTables {
			if t == "batches" && gi > 0 {
				continue // one row per batch, not per run: the first group's
			}
			if err := part(tableCopy(t), "select * from "+duck.Ident(t)); err != nil {
				return err
			}
		}
		for _, v := range derivedViews {
			t0 := time.Now()
			src := "select * from main." + duck.Ident(v.Name)
			if runBusyGo(cat, v) {
				// Its unions in Go (run_busy_go.go), the rest in SQL.
				file := filepath.Join(dir, fmt.Sprintf("%s.go%d.parquet", v.Name, gi))
				err := w.runBusySums(ctx, file)
				debug.FreeOSMemory() // (as for nsys_nvtx_kern_sum below)
				if err == nil {
					if fin := runBusyFinal(cat, file); fin != "" {
						src = fin
					}
				} else if !errors.Is(err, errDeriveSQL) {
					return fmt.Errorf("queries: derive %s of %s: %w", v.Name, label, err)
				}
				trace(v.Name+" (go)", t0)
			}
			if err := w.roomy(ctx, func() error {
				return w.db.Exec(ctx, "create or replace temp table "+duck.Ident(v.Name)+" as "+src)
			}); err != nil {
				return fmt.Errorf("queries: derive %s of %s: %w", v.Name, label, err)
			}
			trace(v.Name, t0)
			if err := part(v.Name, "select * from "+duck.Ident(v.Name)); err != nil {
				return err
			}
		}
		for _, q := range cat.DerivedQueries() {
			if split && !ordersByRun(q) {
				continue
			}
			if nvtxKernSumGo(cat, q) {
				// In Go (nvtx_kern_sum_go.go), its last step in SQL, in
				// chunks of the group's runs of at most goChunkFactor ×
				// maxEvents events (what Go holds follows the chunk).
				chunks := g.chunks(goChunkFactor * max(s.maxEvents, 1))
				for ci, runs := range chunks {
					if runs != nil {
						if err := w.db.Exec(ctx, groupViews(runs)); err != nil {
							return fmt.Errorf("queries: derive %s: %w", label, err)
						}
					}
					t0 := time.Now()
					file := filepath.Join(dir, fmt.Sprintf("%s.go%d.%d.parquet", q.Name, gi, ci))
					err := w.nvtxKernSum(ctx, file)
					// What it held in Go (~50-100 MB over 1M events) back
					// to the system: the Go heap grows to its peak and
					// keeps it, and the concatenation of the parts at the
					// end of the pass is the derivation's peak.
					debug.FreeOSMemory()
					sql := nvtxKernSumFinal(file)
					switch {
					case errors.Is(err, errDeriveSQL):
						// (two runs or kernel names share a hash: the SQL
						// over the chunk, per run as the heavy parts)
						if err := w.bind(ctx, q, nil); err != nil {
							return err
						}
						sql = q.SQL
					case err != nil:
						return fmt.Errorf("queries: derive %s of %s: %w", q.Name, label, err)
					default:
						trace(q.Name+" (go)", t0)
					}
					if err := part(q.Name, sql); err != nil {
						return err
					}
					os.Remove(file)
				}
				if len(chunks) > 1 {
					if err := w.db.Exec(ctx, groupViews(g.runs)); err != nil {
						return fmt.Errorf("queries: derive %s: %w", label, err)
					}
				}
				continue
			}
			if heavyDerived[q.Name] && len(g.parts) > 1 && ordersByRun(q) && !readsDerived(cat, q) {
				// In the group's parts, in run order (heavyDerived).
				for _, p := range g.parts {
					if err := w.db.Exec(ctx, groupViews(p)); err != nil {
						return fmt.Errorf("queries: derive %s: %w", label, err)
					}
					if err := w.bind(ctx, q, nil); err != nil {
						return err
					}
					if err := part(q.Name, q.SQL); err != nil {
						return err
					}
				}
				if err := w.db.Exec(ctx, groupViews(g.runs)); err != nil {
					return fmt.Errorf("queries: derive %s: %w", label, err)
				}
				continue
			}
			if err := w.bind(ctx, q, nil); err != nil {
				return err
			}
			if err := part(q.Name, q.SQL); err != nil {
				return err
			}
		}
	}
	if split {
		// The whole batch again, its derived views from their groups'
		// files, for the queries that do not order by run.
		var b strings.Builder
		b.WriteString(groupViews(nil))
		for _, v := range derivedViews {
			fmt.Fprintf(&b, "create or replace temp table %s as select * from read_parquet([%s]);\n", duck.Ident(v.Name), quoteAll(parts[v.Name]))
		}
		if err := w.db.Exec(ctx, b.String()); err != nil {
			return fmt.Errorf("queries: derive %s: %w", label, err)
		}
		for _, q := range cat.DerivedQueries() {
			if ordersByRun(q) {
				continue
			}
			if err := w.bind(ctx, q, nil); err != nil {
				return err
			}
			if err := part(q.Name, q.SQL); err != nil {
				return err
			}
		}
	}
	// One file per derived table for the whole chunk, shared by its batches
	// (a reader opens a few files, not one per batch). Its rows keep the
	// table's insertion order: the query's own, batch_id first, so each
	// batch's rows are contiguous and in order (file_row_number); a split
	// batch's groups are consecutive runs, so their files in group order
	// are that order too.
	files := map[string]warehouse.StagedFile{}
	rows := map[string]map[string]int64{}
	gens := map[string]int{}
	for _, id := range ids {
		rows[id] = map[string]int64{}
		gens[id] = m.Batches[id].Generation
	}
	tc := time.Now()
	for _, name := range names {
		path := filepath.Join(dir, name+".parquet")
		if len(parts[name]) == 1 {
			if err := os.Rename(parts[name][0], path); err != nil {
				return fmt.Errorf("queries: derive %s of %s: %w", name, label, err)
			}
		} else if err := w.roomy(ctx, func() error {
			// In the parts' order, asked for (concatOrdered): a list
			// scan's order is not kept with two threads.
			return w.db.CopyParquet(ctx, concatOrdered(parts[name]), path)
		}); err != nil {
			return fmt.Errorf("queries: derive %s of %s: %w", name, label, err)
		}
		res, err := w.db.Query(ctx, "select batch_id, count(*) from read_parquet("+duck.Quote(path)+") group by batch_id")
		if err != nil {
			return fmt.Errorf("queries: derive %s of %s: %w", name, label, err)
		}
		var total int64
		for _, id := range ids {
			rows[id][name] = 0 // a batch may have no rows in a table: still derived
		}
		for _, r := range res.Rows {
			id := fmt.Sprint(r[0])
			if _, ok := rows[id]; !ok {
				return fmt.Errorf("queries: derive %s of %s: rows of batch %s, which is not in the chunk", name, label, id)
			}
			rows[id][name] = asInt64(r[1])
			total += asInt64(r[1])
		}
		files[name] = warehouse.StagedFile{Path: path, Rows: total}
	}
	trace("concatenate and count", tc)
	t0 = time.Now()
	if err := warehouse.CommitDerivedShared(ctx, abs, gens, key, files, rows); err != nil {
		return fmt.Errorf("queries: derive %s: %w", label, err)
	}
	trace("write+commit", t0)
	w.db.ReleaseMemory() // what the pass's statements freed (duck.DB.ReleaseMemory)
	for _, id := range ids {
		done(id)
	}
	return nil
}

func asInt64(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case uint64:
		return int64(x)
	case float64:
		return int64(x)
	}
	return 0
}

// useDerived replaces each derived metric view whose derivation is current
// for every committed batch by a view over its derived files, and creates,
// for each derived query whose derivation is current, a view of the query's
// name over its files (its default-param answer, in the live order), which
// Run answers from. Names with a missing or stale derivation stay live and
// are listed in w.Stale. With rel the files are named relative to abs (a
// DuckDB whose file_search_path is the warehouse: the view database).
func (w *Warehouse) useDerived(ctx context.Context, abs string, m *warehouse.Manifest, rel bool) error {
	w.derived = map[string]bool{}
	w.reads = map[string]*derivedRead{}
	if len(m.Batches) == 0 {
		return nil
	}
	key := w.cat.DeriveKey()
	current := func(name string) ([]warehouse.DerivedSource, bool) {
		srcs, missing := m.DerivedSources(name, key)
		if len(missing) > 0 {
			w.Stale = append(w.Stale, name)
			return nil, false
		}
		for i := range srcs {
			if !rel {
				srcs[i].File = filepath.Join(abs, filepath.FromSlash(srcs[i].File))
			}
		}
		return srcs, true
	}
	// In the view database (rel) the small tables and the derived views
	// (a few rows per run) become tables of the database, read once when
	// it is written: a query then reads no Parquet file for them (at 10x
	// the sample a derived view is ~45 files, and the configuration views
	// read some of them many times over).
	trace := tracer()
	replace := func(name, live, from, what string) (string, error) {
		cols, err := w.describe(ctx, live)
		if err != nil {
			return "", fmt.Errorf("queries: %s %s: %w", what, name, err)
		}
		stored, err := w.describe(ctx, "select * from "+from)
		if err != nil {
			return "", fmt.Errorf("queries: derived %s %s: %w", what, name, err)
		}
		list := castList(cols, stored)
		sql := "create or replace view " + duck.Ident(name) + " as\nselect " + list + "\nfrom " + from
		if what == "query" {
			sql += orderKeys
		}
		t0 := time.Now()
		if err := w.roomy(ctx, func() error { return w.db.Exec(ctx, sql) }); err != nil {
			return "", fmt.Errorf("queries: derived %s %s: %w", what, name, err)
		}
		trace("view "+name, t0)
		return list, nil
	}
	// copy fills table name (the view database's copy of a small table or
	// derived view) from srcs tableCopyFiles files at a time: one
	// statement over every file (459 at 100x the sample) held ~200 MB
	// outside the memory limit while it ran (a reader per file).
	copy := func(name string, srcs []warehouse.DerivedSource, what string) error {
		cols, err := w.describe(ctx, "select * from "+duck.Ident(name))
		if err != nil {
			return fmt.Errorf("queries: %s %s: %w", what, name, err)
		}
		t0 := time.Now()
		for i := 0; i < len(srcs); i += tableCopyFiles {
			from := derivedScan(srcs[i:min(i+tableCopyFiles, len(srcs))])
			stored, err := w.describe(ctx, "select * from "+from)
			if err != nil {
				return fmt.Errorf("queries: derived %s %s: %w", what, name, err)
			}
			sql := "insert into " + duck.Ident(name) + "\nselect " + castList(cols, stored) + "\nfrom " + from
			if i == 0 {
				// (if exists: a retry after running out of memory finds it gone)
				sql = "drop view if exists " + duck.Ident(name) + ";\ncreate or replace table " + duck.Ident(name) + " as\nselect " + castList(cols, stored) + "\nfrom " + from
			}
			if err := w.roomy(ctx, func() error { return w.db.Exec(ctx, sql) }); err != nil {
				return fmt.Errorf("queries: derived %s %s: %w", what, name, err)
			}
			w.db.ReleaseMemory() // what its readers freed (duck.DB.ReleaseMemory)
			if w.roomyOnce {
				w.db.PurgeAllocator() // (the view database: materializeRunViews)
			}
		}
		trace("table "+name, t0)
		return nil
	}
	for _, t := range smallTables {
		if files, ok := current(tableCopy(t)); ok {
			var err error
			if rel {
				err = copy(t, files, "table")
			} else {
				_, err = replace(t, "select * from "+duck.Ident(t), derivedScan(files), "table")
			}
			if err != nil {
				return err
			}
		}
	}
	for _, v := range w.cat.DerivedViews() {
		if files, ok := current(v.Name); ok {
			var err error
			if rel {
				err = copy(v.Name, files, "view")
			} else {
				_, err = replace(v.Name, "select * from "+duck.Ident(v.Name), derivedScan(files), "view")
			}
			if err != nil {
				return err
			}
		}
	}
	for _, q := range w.cat.DerivedQueries() {
		files, ok := current(q.Name)
		if !ok {
			continue
		}
		if err := w.bind(ctx, q, nil); err != nil {
			return err
		}
		segs := scanSegments(files, func(id string) int64 {
			return m.Batches[id].Derived.Tables[q.Name].Rows
		})
		list, err := replace(q.Name, q.SQL, orderedScan(segs), "query")
		if err != nil {
			return err
		}
		w.derived[q.Name] = true
		w.reads[q.Name] = &derivedRead{selectList: list, segs: segs}
	}
	return nil
}

// tableCopyFiles is how many derived files one statement copies into a
// table of the view database. At 64, at 100x the sample (after
// compaction), 22 of its copies outgrew the 160 MiB memory_limit ("failed
// to pin block of size 256 KiB", one thread) and were run again at 4 GiB;
// at 16 none did, and the derive was ~4 s faster.
const tableCopyFiles = 16

// derivedRead is how a derived query's answer is read from its files a
// part at a time (derivedParts): the select list of its view and its
// segments, in order, with their row counts.
type derivedRead struct {
	selectList string
	segs       []scanSegment
}

// derivedParts returns the SQL of q's answer from its derived files in
// consecutive parts of about w's part size in rows, with the params
// already bound (as derivedSQL), or nil when q runs live or its answer is
// one part. Read one after the other, the parts give derivedSQL's rows in
// its order: DuckDB hands an answer to Go only once it holds all of it,
// so a part bounds what a query holds, not the answer (1.8M rows of
// nsys_nvtx_kern_sum at 100x the sample).
func (w *Warehouse) derivedParts(ctx context.Context, q *Query, args map[string]string) ([]string, error) {
	sorted, _, err := w.keyedParts(ctx, q, args)
	return sorted, err
}

// keyedParts is derivedParts with each part also as keyedSelect: the same
// rows without the ORDER BY, each with its order keys as two more columns
// (RunArrow checks them; readKeyed).
func (w *Warehouse) keyedParts(ctx context.Context, q *Query, args map[string]string) (sorted, keyed []string, err error) {
	where, ok, err := w.derivedFilter(q, args)
	if err != nil || !ok {
		return nil, nil, err
	}
	r, err := w.derivedReadOf(ctx, q.Name)
	if err != nil || r == nil {
		return nil, nil, err
	}
	parts := splitSegments(r.segs, w.partRows)
	if len(parts) < 2 {
		return nil, nil, nil
	}
	sorted = make([]string, len(parts))
	keyed = make([]string, len(parts))
	for i, p := range parts {
		sorted[i] = orderedSelect(r.selectList, p, where)
		keyed[i] = keyedSelect(r.selectList, p, where)
	}
	return sorted, keyed, nil
}

// describe returns the output columns of a SELECT without running it.
func (w *Warehouse) describe(ctx context.Context, sql string) ([]column, error) {
	res, err := w.db.Query(ctx, "describe "+sql)
	if err != nil {
		return nil, err
	}
	cols := make([]column, len(res.Rows))
	for i, r := range res.Rows {
		cols[i] = column{fmt.Sprint(r[0]), fmt.Sprint(r[1])}
	}
	return cols, nil
}

// castList selects each live column from the stored ones, cast back to
// the live type where Parquet stored it as another (e.g. HUGEINT); a cast
// to the same type is left out (casting every column cost 1.5 s over 3,200
// rows of run_config).
func castList(cols, stored []column) string {
	have := map[string]string{}
	for _, c := range stored {
		have[c.name] = c.typ
	}
	parts := make([]string, len(cols))
	for i, c := range cols {
		if have[c.name] == c.typ {
			parts[i] = duck.Ident(c.name)
		} else {
			parts[i] = fmt.Sprintf("cast(%s as %s) as %s", duck.Ident(c.name), c.typ, duck.Ident(c.name))
		}
	}
	return strings.Join(parts, ", ")
}

// derivedScan reads the rows of srcs' batches (the derived views: a view
// has no order, so one read_parquet over the file list where it can be,
// as segmentScan; a UNION ALL of one scan per file pinned a buffer per
// file at once and outgrew 256 MiB over 160 files).
func derivedScan(srcs []warehouse.DerivedSource) string {
	// A file shared by a chunk of batches may also hold rows of a batch
	// derived again since (replaced, or re-derived alone): each file gives
	// only the rows of the batches that list it.
	return segmentScan(scanSegments(srcs, nil))
}

// concatOrdered is a SELECT of the rows of files, file after file, each
// in its stored order.
func concatOrdered(files []string) string {
	return "select * exclude (file_row_number) from read_parquet([" + quoteAll(files) +
		"], hive_partitioning = false, file_row_number = true)\norder by file_index, file_row_number"
}

// orderedScan reads the rows of segs (scanSegments: their batches in
// batch_id order) with two more columns, the segment's position and the
// row's position in its file (segCol, file_row_number): ordered by them
// (orderKeys) they are the live query's order, since every derived query
// orders by batch_id first and its files keep each batch's rows in that
// order. The order is asked for explicitly, at the top of the statement
// that hands the rows on (orderedSelect, the query's view, compaction's
// COPY): the UNION ALL of single-file scans this was before relied on
// DuckDB keeping the rows' order through it with two threads, and one of
// six reads of nsys_nvtx_kern_sum at 100x the sample (1.82M rows) gave a
// block of ~1,700 rows of one run in another place. Sorting a part
// (DefaultPartRows rows) by two integers costs little; one read_parquet
// over the list of files (the derived views' derivedScan) did not keep
// the files' order either, and TestDerivedOrderExplicit checks that the
// answer does not depend on the order in which the scans are listed.
func orderedScan(segs []scanSegment) string {
	parts := make([]string, len(segs))
	for i, s := range segs {
		parts[i] = fmt.Sprintf("select *, %d as %s from read_parquet(%s, hive_partitioning = false, file_row_number = true) where batch_id in (%s)",
			i, segCol, duck.Quote(s.file), quoteAll(s.ids))
	}
	if scanOrderHook != nil {
		scanOrderHook(parts)
	}
	return "(\n" + strings.Join(parts, "\nunion all\n") + "\n)"
}

// segCol is orderedScan's column of each row's segment.
const segCol = "vitlab_segment__"

// orderKeys orders orderedScan's rows as the live query.
const orderKeys = "\norder by " + segCol + ", file_row_number"

// scanOrderHook, when a test sets it, permutes orderedScan's scans before
// they are joined (the answer must not depend on their order).
var scanOrderHook func(scans []string)

// orderedSelect reads the answer of segs (select list list, already
// filtered by where: "" or "\nwhere …" over the stored columns) in the
// live order.
func orderedSelect(list string, segs []scanSegment, where string) string {
	return "select " + list + "\nfrom " + orderedScan(segs) + where + orderKeys
}

// keyedSelect is orderedSelect without its ORDER BY: the rows with their
// order keys (segCol, then file_row_number as rowCol) as the last two
// columns, in whatever order DuckDB hands them on. DuckDB documents that a
// SELECT … WHERE over UNION ALL of single-file scans keeps the files'
// order; RunArrow takes that order only where every key it gets is
// greater than the one before (a checked order, not an assumed one), and
// reads the part again with the ORDER BY where one is not.
func keyedSelect(list string, segs []scanSegment, where string) string {
	return "select " + list + ", " + segCol + ", file_row_number as " + rowCol + "\nfrom " + orderedScan(segs) + where
}

// rowCol is keyedSelect's column of each row's position in its file.
const rowCol = "vitlab_row__"

// scanSegment is a run of consecutive batches (in batch_id order) read
// from one derived file, with their row count where known.
type scanSegment struct {
	file string
	ids  []string
	rows int64
}

// scanSegments are srcs' batches in batch_id order, consecutive batches
// of one file as one segment; rows (nil: unknown, 0) gives each batch's
// row count.
func scanSegments(srcs []warehouse.DerivedSource, rows func(id string) int64) []scanSegment {
	fileOf := map[string]string{}
	var ids []string
	for _, src := range srcs {
		for _, id := range src.Batches {
			fileOf[id] = src.File
			ids = append(ids, id)
		}
	}
	slices.Sort(ids) // bytewise, as DuckDB orders VARCHAR (no collation)
	var segs []scanSegment
	for i := 0; i < len(ids); {
		j := i + 1
		for j < len(ids) && fileOf[ids[j]] == fileOf[ids[i]] {
			j++
		}
		s := scanSegment{file: fileOf[ids[i]], ids: ids[i:j]}
		if rows != nil {
			for _, id := range s.ids {
				s.rows += rows(id)
			}
		}
		segs = append(segs, s)
		i = j
	}
	return segs
}

// segmentScan reads segs in no particular order: one list scan where no
// file holds two segments, else a UNION ALL of one scan per segment.
func segmentScan(segs []scanSegment) string {
	split := false
	seen := map[string]bool{}
	for _, s := range segs {
		split = split || seen[s.file]
		seen[s.file] = true
	}
	if split {
		parts := make([]string, len(segs))
		for i, s := range segs {
			parts[i] = fileScan(s.file, s.ids)
		}
		return "(\n" + strings.Join(parts, "\nunion all\n") + "\n)"
	}
	// Each file's rows are told by DuckDB's file_index virtual column (the
	// file's position in the list): no path comparison, so relative paths
	// (the view database's) and absolute ones read alike.
	files := make([]string, len(segs))
	cases := make([]string, len(segs))
	for i, s := range segs {
		files[i] = duck.Quote(s.file)
		cases[i] = fmt.Sprintf("when %d then batch_id in (%s)", i, quoteAll(s.ids))
	}
	return fmt.Sprintf("(\nselect * from read_parquet([%s], hive_partitioning = false)\nwhere case file_index\n%s\nend\n)",
		strings.Join(files, ", "), strings.Join(cases, "\n"))
}

// splitSegments cuts segs into consecutive parts of at most maxRows rows
// and partSegments segments each (a segment of more rows is a part of its
// own); maxRows <= 0 is one part.
func splitSegments(segs []scanSegment, maxRows int64) [][]scanSegment {
	if maxRows <= 0 || len(segs) == 0 {
		return [][]scanSegment{segs}
	}
	var parts [][]scanSegment
	var cur []scanSegment
	var n int64
	for _, s := range segs {
		if len(cur) > 0 && (n+s.rows > maxRows || len(cur) == partSegments) {
			parts = append(parts, cur)
			cur, n = nil, 0
		}
		cur = append(cur, s)
		n += s.rows
	}
	return append(parts, cur)
}

// partSegments bounds the segments (single-file scans) of one part. Under
// the part's ORDER BY each scan holds DuckDB memory until the sort ends,
// whatever its rows: at 100x the sample (40 segments per derived query)
// every derived query's ordered read of 19-29 segments ran out of a
// 160 MiB memory_limit, those of no rows included, and vitlab query
// nsys_api_sum failed on its second part (26 segments, 56k rows).
const partSegments = 8

func quoteAll(ids []string) string {
	q := make([]string, len(ids))
	for j, id := range ids {
		q[j] = duck.Quote(id)
	}
	return strings.Join(q, ", ")
}

// fileScan reads the rows of batches ids from one derived file.
func fileScan(file string, ids []string) string {
	return fmt.Sprintf("select * from read_parquet(%s, hive_partitioning = false) where batch_id in (%s)",
		duck.Quote(file), quoteAll(ids))
}

// derivedSQL is the SQL that answers q from its derived files with the
// params already bound, or "" when q must run live: it is not derived, its
// derivation is not current, or a param other than batch and run differs
// from its default (the files hold the default output). The rows come in
// the live order (orderedSelect).
func (w *Warehouse) derivedSQL(ctx context.Context, q *Query, args map[string]string) (string, error) {
	where, ok, err := w.derivedFilter(q, args)
	if err != nil || !ok {
		return "", err
	}
	r, err := w.derivedReadOf(ctx, q.Name)
	if err != nil {
		return "", err
	}
	if r == nil || len(r.segs) == 0 {
		// (no segments: the view of q's name, over no file)
		return "select * from " + duck.Ident(q.Name) + where, nil
	}
	return orderedSelect(r.selectList, r.segs, where), nil
}

// derivedFilter says whether q's answer comes from its derived files with
// args (derivedSQL), and with what WHERE clause ("" or "\nwhere …") over
// its stored rows.
func (w *Warehouse) derivedFilter(q *Query, args map[string]string) (string, bool, error) {
	if !w.derived[q.Name] || !w.own(q) {
		return "", false, nil
	}
	vals, err := q.Bind(args)
	if err != nil {
		return "", false, err
	}
	defs, err := q.Bind(nil)
	if err != nil {
		return "", false, err
	}
	var where []string
	for _, p := range q.Params {
		switch p.Key {
		case "batch":
			where = append(where, "(getvariable('batch') is null or batch_id = getvariable('batch'))")
		case "run":
			where = append(where, "(getvariable('run') is null or run_id = getvariable('run'))")
		default:
			if fmt.Sprint(vals[p.Key]) != fmt.Sprint(defs[p.Key]) {
				return "", false, nil
			}
		}
	}
	if len(where) == 0 {
		return "", true, nil
	}
	return "\nwhere " + strings.Join(where, " and "), true, nil
}

// own reports whether q is the catalog's own query (not a copy with other
// SQL, such as the report's create-table wrapper).
func (w *Warehouse) own(q *Query) bool {
	c, ok := w.cat.Query(q.Name)
	if !ok {
		c, ok = w.cat.Check(q.Name)
	}
	return ok && c == q
}

// IsDerived reports whether Run answers q (with its default params) from
// derived files in this warehouse.
func (w *Warehouse) IsDerived(name string) bool {
	return w.derived[name]
}

type column struct{ name, typ string }

// eventTable says whether a warehouse table holds an export's events.
func eventTable(name string) bool {
	for _, t := range schemas.EventTables {
		if t.Name == name {
			return true
		}
	}
	return false
}

// tracer returns a function that prints a step's name, time since t0 and
// the process's memory (residentMB) to stderr when VITLAB_DERIVE_TRACE is
// set (derive's passes and the view database's statements), else one that
// does nothing.
func tracer() func(what string, t0 time.Time) {
	if os.Getenv("VITLAB_DERIVE_TRACE") == "" {
		return func(string, time.Time) {}
	}
	return func(what string, t0 time.Time) {
		fmt.Fprintf(os.Stderr, "  %-28s %8s %s\n", what, time.Since(t0).Round(time.Millisecond), residentMB())
	}
}

// residentMB is the process's resident set size and its peak so far
// ("rss 231 MB, peak 310 MB"), for VITLAB_DERIVE_TRACE; "" where
// /proc/self/status is not there.
func residentMB() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	var rss, hwm string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "VmRSS:" {
			rss = f[1]
		} else if len(f) >= 2 && f[0] == "VmHWM:" {
			hwm = f[1]
		}
	}
	kb := func(s string) string {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return "?"
		}
		return strconv.FormatInt(n>>10, 10)
	}
	return "rss " + kb(rss) + " MB, peak " + kb(hwm) + " MB"
}
