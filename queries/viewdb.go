package queries

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"vitlab/etl/warehouse"
	"vitlab/queries/duck"
)

// The view database: the views written once per warehouse change.
//
// Setting the views up costs every process ~0.7 s on the sample (DuckDB
// binds each of ~2,300 lines of views as it creates them, then each derived
// view and query is described): more than a saved query takes to run. So
// after each change (vitlab ingest, vitlab derive, or the first query
// that finds it missing or stale) the warehouse gets a DuckDB database
// file, ViewsFile, holding exactly what Open would set up: the base views
// over the committed files, the macros and views of views/ and metrics/,
// the derived views over their files and one view per derived query named
// as the query. A process opens it read-only (any number at once) and
// binds only what its query reads.
//
// The files are named relative to the warehouse root, so the folder can be
// moved or copied; DuckDB resolves a relative path against its
// file_search_path (else the current directory), which Open sets to the
// warehouse. By hand:
//
//	duckdb -readonly -cmd "set file_search_path='W'" W/_views.duckdb
//	cd W && duckdb -readonly _views.duckdb
//	duckdb.connect("W/_views.duckdb", read_only=True, config={"file_search_path": "W"})
//
// The file records the SHA-256 of the manifest it was built from and the
// catalog's DeriveKey (every SQL file and table schema): Open uses it only
// when both equal the current ones, so a batch landed since (or another
// vitlab's SQL) never answers from stale views; it then writes the file
// anew, or, where it cannot, sets the views up in memory as before.

// ViewsFile is the view database's file name in the warehouse root.
const ViewsFile = "_views.duckdb"

// viewsFormat is the version of what the view database holds and how
// (bump it with any change of writeViewDB, useDerived or the scans they
// write); another one is stale.
const viewsFormat = "5"

// metaTable holds the view database's key/value facts: format,
// fingerprint, built_at, stale (names computed live, comma-separated),
// answers (the files of the saved queries whose answer is stored, answers.go).
// derivedTable lists the derived queries answered from their files, each
// with the select list of its view; segmentsTable their segments, in
// order (scanSegments), to read an answer a part at a time.
const (
	metaTable     = "vitlab_views_meta"
	derivedTable  = "vitlab_views_derived"
	segmentsTable = "vitlab_views_segments"
)

// Resources bound one process's DuckDB: Threads is DuckDB's threads (0:
// every CPU), MemoryLimit its memory_limit in bytes (0: DuckDB's default,
// 80 % of RAM). Operators that outgrow the limit spill to the temporary
// directory; the answer handed to Go is not counted.
type Resources struct {
	Threads     int
	MemoryLimit int64
	// PartRows is about how many rows of a derived query's answer are read
	// at once when its rows go to Go (Warehouse.RunEach, Run, RunArrow):
	// DuckDB hands an answer over only once it holds all of it (0: the
	// whole answer at once).
	PartRows int64
}

// DefaultResources are the resources of vitlab query, report and verify
// and of writing the view database: every CPU (at most 4) and
// DefaultMemoryLimit.
func DefaultResources() Resources {
	return Resources{Threads: min(runtime.NumCPU(), 4), MemoryLimit: DefaultMemoryLimit, PartRows: DefaultPartRows}
}

// DefaultPartRows is DefaultResources' PartRows: ~30 MB of
// nsys_nvtx_kern_sum's rows held by the driver at a time.
const DefaultPartRows = 64 << 10

// DefaultMemoryLimit is DefaultResources' memory limit. With derived
// tables current no saved query needs more at 100x the sample (they read
// per-run tables and stream the nsys summaries); the report's temporary
// tables fill it before they spill, so its peak RSS is about this plus
// ~170 MB of Go (256 MiB gave 425 MB at 10x).
const DefaultMemoryLimit = 160 << 20

// DefaultDeriveMemory is the memory limit of vitlab derive (ingest's is
// its --load-budget, 200 MB by default): a pass's NVTX projection is the
// biggest statement.
const DefaultDeriveMemory = 200 << 20

func (r Resources) config() duck.Config {
	return duck.Config{Threads: r.Threads, MemoryLimit: r.MemoryLimit}
}

// viewsFingerprint identifies what a view database must have been built
// from: the manifest's bytes, the catalog and the format.
func viewsFingerprint(manifest []byte, cat *Catalog) string {
	h := sha256.New()
	fmt.Fprintf(h, "format %s\nkey %s\n", viewsFormat, cat.DeriveKey())
	h.Write(manifest)
	return hex.EncodeToString(h.Sum(nil))
}

// openViewDB opens abs's view database read-only when it was built from
// fingerprint fp; nil without error when it is missing or stale.
func openViewDB(ctx context.Context, abs, fp string, cat *Catalog, res Resources) (*Warehouse, error) {
	path := filepath.Join(abs, ViewsFile)
	if _, err := os.Stat(path); err != nil {
		return nil, nil
	}
	cfg := res.config()
	cfg.Path, cfg.ReadOnly, cfg.FileSearchPath = path, true, abs
	db, err := duck.OpenConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	meta, err := db.Query(ctx, "select key, value from "+metaTable)
	if err != nil {
		db.Close()
		return nil, nil // not a view database of this format
	}
	kv := map[string]string{}
	for _, r := range meta.Rows {
		kv[fmt.Sprint(r[0])] = fmt.Sprint(r[1])
	}
	if kv["format"] != viewsFormat || kv["fingerprint"] != fp {
		db.Close()
		return nil, nil
	}
	w := &Warehouse{db: db, cat: cat, derived: map[string]bool{}, lists: map[string]string{}, reads: map[string]*derivedRead{}, Views: path, partRows: res.PartRows}
	if kv["stale"] != "" {
		w.Stale = strings.Split(kv["stale"], ",")
	}
	if kv["answers"] != "" && os.Getenv(noAnswersEnv) == "" {
		w.answers = map[string]bool{}
		for _, f := range strings.Split(kv["answers"], ",") {
			w.answers[f] = true
		}
	}
	names, err := db.Query(ctx, "select name, select_list from "+derivedTable)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("queries: %s: %w", path, err)
	}
	for _, r := range names.Rows {
		w.derived[fmt.Sprint(r[0])] = true
		w.lists[fmt.Sprint(r[0])] = fmt.Sprint(r[1])
	}
	return w, nil
}

// derivedReadOf returns how derived query name's answer is read a part
// at a time: set up by useDerived, or read from the view database's
// segments table the first time; nil when name is not derived.
func (w *Warehouse) derivedReadOf(ctx context.Context, name string) (*derivedRead, error) {
	if r, ok := w.reads[name]; ok || w.Views == "" {
		return r, nil
	}
	list, ok := w.lists[name]
	if !ok {
		return nil, nil
	}
	res, err := w.db.Query(ctx, "select file, batch_ids, rows from "+segmentsTable+" where name = $1 order by seq", name)
	if err != nil {
		return nil, fmt.Errorf("queries: %s: %w", w.Views, err)
	}
	r := &derivedRead{selectList: list}
	for _, row := range res.Rows {
		ids, ok := row[1].([]any)
		if !ok {
			return nil, fmt.Errorf("queries: %s: %s: batch_ids of type %T", w.Views, segmentsTable, row[1])
		}
		seg := scanSegment{file: fmt.Sprint(row[0]), rows: asInt64(row[2])}
		for _, id := range ids {
			seg.ids = append(seg.ids, fmt.Sprint(id))
		}
		r.segs = append(r.segs, seg)
	}
	w.reads[name] = r
	return r, nil
}

// WriteViews writes the view database of the warehouse dir for its
// current manifest (vitlab ingest and derive call it after each change; a
// query writes it when missing or stale). It returns how long it took.
func WriteViews(ctx context.Context, dir string) (time.Duration, error) {
	abs, raw, m, err := readWarehouseRaw(dir)
	if err != nil {
		return 0, err
	}
	if raw == nil {
		return 0, nil // nothing committed yet
	}
	cat, err := Embedded()
	if err != nil {
		return 0, err
	}
	took, err := writeViewDB(ctx, abs, raw, m, cat)
	if err != nil && !errors.Is(err, errManifestMoved) {
		// A commit meanwhile may have removed files of the manifest read.
		if now, rerr := os.ReadFile(filepath.Join(abs, warehouse.ManifestName)); rerr == nil && string(now) != string(raw) {
			err = errManifestMoved
		}
	}
	if errors.Is(err, errManifestMoved) {
		// Another commit landed meanwhile: the view database is for it to
		// write (or the next query), not for this older manifest.
		return took, nil
	}
	return took, err
}

// writeViewDB builds the view database of manifest m (whose file holds
// raw) in a temporary file of the warehouse abs and renames it over
// ViewsFile, unless the manifest changed meanwhile (a later build's file
// must not be replaced by an older one).
func writeViewDB(ctx context.Context, abs string, raw []byte, m *warehouse.Manifest, cat *Catalog) (time.Duration, error) {
	t0 := time.Now()
	removeOldViewTemps(abs)
	f, err := os.CreateTemp(abs, ".views-*.duckdb")
	if err != nil {
		return 0, fmt.Errorf("queries: view database: %w", err)
	}
	tmp := f.Name()
	f.Close()
	os.Remove(tmp) // DuckDB creates the file itself
	defer func() {
		os.Remove(tmp)
		os.Remove(tmp + ".wal")
	}()
	base, err := baseViews(abs, m, m.BatchIDs(), true)
	if err != nil {
		return 0, err
	}
	// One thread: the view database copies the derived tables, a few rows
	// per run in hundreds of small files (at 100x the sample, 459 per
	// table), into its tables; with two threads DuckDB's order-keeping
	// insert buffers every file's rows apart and outgrew 160 MiB on the
	// first (batches: 700 rows), and the write was retried at 4 GiB
	// (23 s, 893 MB peak RSS). One thread read them as fast.
	res := DefaultResources()
	res.Threads = 1
	cfg := res.config()
	cfg.Path, cfg.FileSearchPath = tmp, abs
	db, err := duck.OpenConfig(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("queries: view database: %w", err)
	}
	w := &Warehouse{db: db, cat: cat, roomyOnce: true, limit: res.MemoryLimit}
	trace := tracer()
	err = func() error {
		t0 := time.Now()
		if err := db.Exec(ctx, base); err != nil {
			return fmt.Errorf("queries: base views: %w", err)
		}
		trace("base views", t0)
		// The views a derivation reads first (deriveViewFiles), then the
		// derived ones become tables over their files (useDerived), then
		// the rest (the metrics over derived views: config_compare,
		// config_summary, …), which DuckDB binds against those tables
		// instead of through every view down to the events: on the
		// ingest bench's batch, creating every file took ~0.9 s, of which
		// ~0.65 s these. The views are the same SQL either way.
		t0 = time.Now()
		first := deriveViewFiles(cat)
		for _, v := range cat.ViewFiles {
			if !first[v] {
				continue
			}
			if err := db.Exec(ctx, v.SQL); err != nil {
				return fmt.Errorf("queries: %s: %w", v.File, err)
			}
		}
		trace("views and metrics derived", t0)
		if err := w.useDerived(ctx, abs, m, true); err != nil {
			return err
		}
		t0 = time.Now()
		for _, v := range cat.ViewFiles {
			if first[v] {
				continue
			}
			if err := db.Exec(ctx, v.SQL); err != nil {
				return fmt.Errorf("queries: %s: %w", v.File, err)
			}
		}
		db.ReleaseMemory() // what binding ~2,300 lines of views freed
		trace("views and metrics over them", t0)
		stored, err := w.materializeRunViews(ctx)
		if err != nil {
			return err
		}
		answers, err := w.storeAnswers(ctx, stored)
		if err != nil {
			return err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "create table %s (key varchar, value varchar);\n", metaTable)
		fmt.Fprintf(&b, "insert into %s values ('format', %s), ('fingerprint', %s), ('built_at', %s), ('stale', %s), ('answers', %s);\n",
			metaTable, duck.Quote(viewsFormat), duck.Quote(viewsFingerprint(raw, cat)),
			duck.Quote(time.Now().UTC().Format(time.RFC3339)), duck.Quote(strings.Join(w.Stale, ",")),
			duck.Quote(strings.Join(answers, ",")))
		fmt.Fprintf(&b, "create table %s (name varchar, select_list varchar);\n", derivedTable)
		fmt.Fprintf(&b, "create table %s (name varchar, seq integer, file varchar, batch_ids varchar[], rows bigint);\n", segmentsTable)
		for name := range w.derived {
			r := w.reads[name]
			fmt.Fprintf(&b, "insert into %s values (%s, %s);\n", derivedTable, duck.Quote(name), duck.Quote(r.selectList))
			if len(r.segs) == 0 {
				continue
			}
			vals := make([]string, len(r.segs))
			for i, seg := range r.segs {
				vals[i] = fmt.Sprintf("(%s, %d, %s, [%s], %d)", duck.Quote(name), i, duck.Quote(seg.file), quoteAll(seg.ids), seg.rows)
			}
			fmt.Fprintf(&b, "insert into %s values\n%s;\n", segmentsTable, strings.Join(vals, ",\n"))
		}
		b.WriteString("checkpoint;\n")
		t0 = time.Now()
		err = db.Exec(ctx, b.String())
		trace("meta and checkpoint", t0)
		return err
	}()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("queries: view database: %w", err)
	}
	if _, err := os.Stat(tmp + ".wal"); err == nil {
		return 0, fmt.Errorf("queries: view database: %s.wal left after the checkpoint", tmp)
	}
	if err := syncFile(tmp); err != nil {
		return 0, fmt.Errorf("queries: view database: %w", err)
	}
	now, err := os.ReadFile(filepath.Join(abs, warehouse.ManifestName))
	if err != nil || string(now) != string(raw) {
		return 0, errManifestMoved
	}
	if err := os.Rename(tmp, filepath.Join(abs, ViewsFile)); err != nil {
		return 0, fmt.Errorf("queries: view database: %w", err)
	}
	return time.Since(t0), nil
}

// errManifestMoved: a commit landed while the view database was built
// from the manifest before it.
var errManifestMoved = errors.New("queries: view database: the manifest changed while it was built")

// removeOldViewTemps removes temporary view databases (.views-*) of builds
// that died more than an hour ago.
func removeOldViewTemps(abs string) {
	old, _ := filepath.Glob(filepath.Join(abs, ".views-*"))
	for _, p := range old {
		if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > time.Hour {
			os.Remove(p)
		}
	}
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// materializeRunViews stores, in the view database, each metric view
// whose inputs are all tables there already (the small tables and the
// derived views, when current, and views stored before it) as a table of
// the same name: computed once per warehouse change instead of by every
// query that reads it (claims, the findings). A view that reads the
// events, or a derivation that is not current, stays a view. It returns
// the names that are tables in the view database (storeAnswers).
func (w *Warehouse) materializeRunViews(ctx context.Context) (map[string]bool, error) {
	stale := map[string]bool{}
	for _, n := range w.Stale {
		stale[n] = true
	}
	trace := tracer()
	stored := map[string]bool{}
	for _, t := range smallTables {
		stored[t] = !stale[tableCopy(t)]
	}
	for _, v := range w.cat.DerivedViews() {
		stored[v.Name] = !stale[v.Name]
	}
	for _, v := range w.cat.ViewFiles {
		if v.Layer != LayerMetric || v.Derive {
			continue
		}
		ok := len(v.Inputs) > 0
		for _, in := range v.Inputs {
			ok = ok && stored[in]
		}
		if !ok {
			continue
		}
		name := duck.Ident(v.Name)
		sql := "create or replace table vitlab_stored as select * from " + name + ";\ndrop view " + name +
			";\nalter table vitlab_stored rename to " + name + ";"
		t0 := time.Now()
		if err := w.roomy(ctx, func() error { return w.db.Exec(ctx, sql) }); err != nil {
			return nil, fmt.Errorf("queries: view database: metric view %s: %w", v.Name, err)
		}
		w.db.ReleaseMemory()
		// And what DuckDB's jemalloc keeps of it: at 100x the sample the
		// RSS rose ~165 MB over these tables and the copies before them
		// without (to 356 MB, the derive's peak); with it (and after
		// each copy) it ended at 228 MB, under a derive pass's 261 MB.
		w.db.PurgeAllocator()
		trace("table "+v.Name, t0)
		stored[v.Name] = true
	}
	return stored, nil
}
