package queries

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestEmbeddedCatalog(t *testing.T) {
	cat, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nsys_kern_sum", "nsys_mem_time_sum", "nsys_mem_size_sum", "nsys_nvtx_sum",
		"nsys_nvtx_gpu_proj_sum", "nsys_api_sum", "nsys_nvtx_kern_sum"} {
		if _, ok := cat.Query(name); !ok {
			t.Errorf("no saved query %s", name)
		}
	}
	if len(cat.Checks) == 0 {
		t.Error("no checks")
	}
	// Every input a header names is a view (or base view) once the
	// warehouse is open, and the body reads it.
	w, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	res, err := w.SQL(context.Background(), "select view_name from duckdb_views() where not internal")
	if err != nil {
		t.Fatal(err)
	}
	views := map[string]bool{}
	for _, r := range res.Rows {
		views[r[0].(string)] = true
	}
	for _, q := range append(slices.Clone(cat.Queries), cat.Checks...) {
		for _, in := range q.Inputs {
			if !views[in] {
				t.Errorf("%s: input %s is not a view", q.File, in)
			}
			if !strings.Contains(stripComments(q.SQL), in) {
				t.Errorf("%s: input %s is never read", q.File, in)
			}
		}
		if !strings.Contains(q.SQL, "select * from final") && strings.HasPrefix(q.File, "nsys_") {
			t.Errorf("%s: does not end in select * from final", q.File)
		}
	}
}

func TestParseQuery(t *testing.T) {
	q, err := ParseQuery("x/top_kernels.sql", `-- name: top_kernels
-- description: The longest kernels.
-- inputs: kernel_ops, runs
-- param: top = 10  -- rows to keep
-- param: share double = 0.5  -- least share
-- param: who = 'it''s' | 'b'  -- a choice
-- param: run = null  -- only this run
-- param: fast = true  -- a flag
select * from kernel_ops, runs
where getvariable('top') > 0 and getvariable('share') > 0 and getvariable( 'who' ) = ''
  and getvariable('run') is null and getvariable('fast');
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Param{
		{Key: "top", Type: "BIGINT", Default: int64(10), DefaultText: "10", Doc: "rows to keep"},
		{Key: "share", Type: "DOUBLE", Default: 0.5, DefaultText: "0.5", Doc: "least share"},
		{Key: "who", Type: "VARCHAR", Default: "it's", DefaultText: "'it''s' | 'b'", Choices: []string{"it's", "b"}, Doc: "a choice"},
		{Key: "run", Type: "VARCHAR", Default: nil, DefaultText: "null", Doc: "only this run"},
		{Key: "fast", Type: "BOOLEAN", Default: true, DefaultText: "true", Doc: "a flag"},
	}
	if !reflect.DeepEqual(q.Params, want) {
		t.Errorf("params:\n%#v\nwant\n%#v", q.Params, want)
	}
	if q.Name != "top_kernels" || q.Description != "The longest kernels." || !reflect.DeepEqual(q.Inputs, []string{"kernel_ops", "runs"}) {
		t.Errorf("header: %+v", q)
	}
	if strings.HasSuffix(q.SQL, ";") {
		t.Error("trailing semicolon kept")
	}
}

func TestParseQueryErrors(t *testing.T) {
	head := "-- name: q\n-- description: d\n-- inputs: kernels\n"
	for _, tc := range []struct{ text, want string }{
		{"-- description: d\n-- inputs: kernels\nselect 1", "no -- name: line"},
		{"-- name: other\n-- description: d\n-- inputs: kernels\nselect 1", `name "other" differs from the file name "q"`},
		{"-- name: q\n-- inputs: kernels\nselect 1", "no -- description: line"},
		{"-- name: q\n-- description: d\nselect 1", "no -- inputs: line"},
		{head + "-- param: n = 1  -- n\nselect 1", "param n is never read"},
		{head + "select getvariable('m')", "getvariable('m') reads a param the header does not declare"},
		{head + "-- param: n = 1\nselect getvariable('n')", "no -- meaning"},
		{head + "-- param: n = abc  -- n\nselect getvariable('n')", "is not null, true, false, a number"},
		{head + "-- param: n = 'abc  -- n\nselect getvariable('n')", "unterminated string"},
		{head + "-- param: n bigint = 'x'  -- n\nselect getvariable('n')", "is not a bigint"},
		{head + "-- param: n blob = 1  -- n\nselect getvariable('n')", "unknown type"},
		{head + "-- param: N = 1  -- n\nselect getvariable('N')", "lower-case key"},
		{head + "-- param: n = 1 | 2  -- n\nselect getvariable('n')", "'strings' only"},
		{head + "-- param: n = 1  -- n\n-- param: n = 2  -- n\nselect getvariable('n')", "declared twice"},
		{head + "select * from read_parquet('x.parquet')", "must not read files"},
		{head + "select * from {{ ref('kernels') }}", "must not read files or hold templating"},
	} {
		_, err := ParseQuery("q.sql", tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.text, err, tc.want)
		}
	}
	// A path in a comment is fine.
	if _, err := ParseQuery("q.sql", head+"-- read_parquet is done by the base views\nselect 1"); err != nil {
		t.Error(err)
	}
}

func TestBind(t *testing.T) {
	q, err := ParseQuery("q.sql", `-- name: q
-- description: d
-- inputs: kernels
-- param: top = 10  -- rows
-- param: kind = 'a' | 'b'  -- kind
-- param: on = false  -- flag
select getvariable('top'), getvariable('kind'), getvariable('on') from kernels`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := q.Bind(map[string]string{"top": "3", "on": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"top": int64(3), "kind": "a", "on": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("bind: %v, want %v", got, want)
	}
	for args, want := range map[[2]string]string{
		{"top", "x"}:   `param top: "x" is not an integer`,
		{"kind", "c"}:  `param kind: "c" is not one of a, b`,
		{"on", "yes!"}: `param on: "yes!" is not true or false`,
		{"nope", "1"}:  `query q has no param "nope" (it has: top, kind, on)`,
	} {
		_, err := q.Bind(map[string]string{args[0]: args[1]})
		var pe *ParamError
		if err == nil || err.Error() != want {
			t.Errorf("%v: got %v, want %s", args, err, want)
		} else if !asParamError(err, &pe) {
			t.Errorf("%v: %T is not a *ParamError", args, err)
		}
	}
}

func asParamError(err error, pe **ParamError) bool {
	p, ok := err.(*ParamError)
	*pe = p
	return ok
}
