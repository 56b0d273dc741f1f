package queries

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"vitlab/queries/duck"
)

// Stored answers: the view database (viewdb.go) also holds the answer of
// every saved query and check that is not derived (the findings, claims,
// run_metrics, throughput_variance, the checks over metric views) as
// computed with its default params, one table each in the schema
// answerSchema. Such a query reads a few stored metric tables and runs in
// milliseconds, but DuckDB plans it every time: claims' graph of macros
// took ~110 ms to bind and plan on the sample for ~60 ms of execution.
//
// A query reads its stored answer (sqlFor) only when all of these hold:
//   - the view database is current (openViewDB's fingerprint: the same
//     manifest, SQL files and format), and the answer was stored (one
//     that failed to compute when the file was written is not: the query
//     runs live and its error shows as before);
//   - every param of the query has its default value (no --param, or one
//     giving the default);
//   - no DuckDB variable of the session differs from what the writer had:
//     every variable set, but the query's own params (which the stored
//     answer does not read), is a param of some saved query holding its
//     default, of its type (a variable the views read through a macro,
//     such as validity_max_overhead, set by hand in a session, or another
//     query's filter param left set: live).
//
// Otherwise the query runs live, as before. The table is created by
// CREATE TABLE AS from the query's own SQL, so its columns (names and
// DuckDB types) are the query's, and its rows are in the query's order
// (DuckDB keeps a table's insertion order, which preserve_insertion_order,
// on by default, keeps for CREATE TABLE AS). It is computed with the
// threads of a query process; a double summed in parallel may still
// differ in its last bits from a live run's, as two live runs may.
// Set VITLAB_NO_STORED_ANSWERS to any value to run every query live (to
// compare, or time, the two).

// answerSchema is the view database's schema of stored answers.
const answerSchema = "vitlab_answer"

// noAnswersEnv turns the stored answers off for a process.
const noAnswersEnv = "VITLAB_NO_STORED_ANSWERS"

// answerTable is the stored answer of q: its file without .sql, so that a
// check and a query of the same name do not meet.
func answerTable(q *Query) string {
	return answerSchema + "." + duck.Ident(strings.TrimSuffix(q.File, ".sql"))
}

// storeAnswers stores, in the view database being written, the answer of
// each saved query and check that is not derived, with its default
// params; it returns the files of those stored. A query that fails is
// left out (it runs live, failing as it would without the view database).
// So is one that reads, by its header's inputs and theirs, anything but
// the tables stored (the names true in stored, materializeRunViews): with
// a derivation not current, a finding computed from the events took 2-40
// s on the sample (TestViewDBStale's warehouse: 2.5 min for them all),
// which every write of the view database would pay until vitlab derive.
func (w *Warehouse) storeAnswers(ctx context.Context, stored map[string]bool) ([]string, error) {
	if err := w.db.Exec(ctx, "create schema "+answerSchema); err != nil {
		return nil, fmt.Errorf("queries: view database: %w", err)
	}
	// With the threads a query runs with (DefaultResources), not the one
	// of the copies before: DuckDB's parallel sums may differ from a
	// one-thread sum in a double's last bits.
	if err := w.db.Exec(ctx, fmt.Sprintf("set threads = %d", DefaultResources().Threads)); err != nil {
		return nil, fmt.Errorf("queries: view database: %w", err)
	}
	defer w.db.Exec(ctx, "set threads = 1")
	trace := tracer()
	t0all := time.Now()
	files := map[string]*ViewFile{}
	for _, v := range w.cat.ViewFiles {
		if v.Name != "" {
			files[v.Name] = v
		}
	}
	memo := map[string]bool{}
	var overTables func(name string) bool
	overTables = func(name string) bool {
		if ok, seen := memo[name]; seen {
			return ok
		}
		memo[name] = false // a cycle reads no table
		v := files[name]
		ok := stored[name] || (v != nil && len(v.Inputs) > 0)
		if !stored[name] && v != nil {
			for _, in := range v.Inputs {
				ok = ok && overTables(in)
			}
		}
		memo[name] = ok
		return ok
	}
	var done []string
	for _, q := range append(append([]*Query(nil), w.cat.Queries...), w.cat.Checks...) {
		if q.Derive || w.derived[q.Name] {
			continue
		}
		ok := len(q.Inputs) > 0
		for _, in := range q.Inputs {
			ok = ok && overTables(in)
		}
		if !ok {
			trace("answer "+q.Name+" not stored: reads more than the tables", time.Now())
			continue
		}
		t0 := time.Now()
		err := w.bind(ctx, q, nil)
		if err == nil {
			sql := "create table " + answerTable(q) + " as\n" + q.SQL
			err = w.roomy(ctx, func() error { return w.db.Exec(ctx, sql) })
		}
		w.db.ReleaseMemory()
		w.db.PurgeAllocator()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			trace(fmt.Sprintf("answer %s not stored: %.200s", q.Name, err), t0)
			continue
		}
		trace("answer "+q.Name, t0)
		done = append(done, q.File)
	}
	trace("answers", t0all)
	return done, nil
}

// storedAnswer returns the SQL reading q's stored answer when it holds
// q's answer with args (see the top of this file); ok false when q must
// run live. It is asked before q's params are bound (sqlFor): the stored
// answer reads no variable, so a stored answer costs no SET VARIABLE (6
// ms for claims' 33), and a variable of q's own params left by an earlier
// run with another value does not matter to it.
func (w *Warehouse) storedAnswer(ctx context.Context, q *Query, args map[string]string) (sql string, ok bool, err error) {
	if !w.answers[q.File] {
		return "", false, nil
	}
	vals, err := q.Bind(args)
	if err != nil {
		return "", false, err
	}
	own := map[string]bool{}
	for _, p := range q.Params {
		if !reflect.DeepEqual(vals[p.Key], p.Default) {
			return "", false, nil
		}
		own[p.Key] = true
	}
	if w.varsCheck == "" {
		s, err := variablesNotDefault(w.cat)
		if err != nil {
			return "", false, err
		}
		w.varsCheck = s
	}
	res, err := w.db.Query(ctx, w.varsCheck)
	if err != nil {
		return "", false, fmt.Errorf("queries: %s: %w", q.File, err)
	}
	for _, r := range res.Rows {
		if !own[fmt.Sprint(r[0])] {
			return "", false, nil
		}
	}
	return "select * from " + answerTable(q), true, nil
}

// variablesNotDefault returns a SELECT of the names of the session's
// DuckDB variables that are not a param of the catalog's saved queries
// holding its default, of its type. duckdb_variables() shows a value as
// text, and null as 'NULL': a param whose default is null is checked with
// getvariable besides (a text 'NULL' is not its default).
func variablesNotDefault(cat *Catalog) (string, error) {
	var vals []string
	sel := []string{""}
	for _, p := range cat.Defaults() {
		lit, err := duck.Literal(p.Default)
		if err != nil {
			return "", fmt.Errorf("queries: param %s: %w", p.Key, err)
		}
		v := "cast(" + lit + " as " + p.Type + ")"
		vals = append(vals, fmt.Sprintf("(%s, typeof(%s), coalesce(cast(%s as varchar), 'NULL'))", duck.Quote(p.Key), v, v))
		if p.Default == nil {
			sel = append(sel, fmt.Sprintf("select %s where getvariable(%s) is not null", duck.Quote(p.Key), duck.Quote(p.Key)))
		}
	}
	if len(vals) == 0 {
		return "select name from duckdb_variables()", nil
	}
	return "select v.name from duckdb_variables() as v\nleft join (values " + strings.Join(vals, ", ") +
		") as d(name, type, value) on v.name = d.name\n" +
		"where d.name is null or v.type is distinct from d.type or v.value is distinct from d.value" +
		strings.Join(sel, "\nunion all "), nil
}
