package queries

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
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
	// claims.sql reads the claims/ layer's table macros
	res, err = w.SQL(context.Background(), "select distinct function_name from duckdb_functions() where function_type in ('macro', 'table_macro') and not internal")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rows {
		views[r[0].(string)] = true
	}
	for _, q := range append(slices.Clone(cat.Queries), cat.Checks...) {
		for _, in := range q.Inputs {
			if !views[in] {
				t.Errorf("%s: input %s is not a view or macro", q.File, in)
			}
			if !strings.Contains(stripComments(q.SQL), in) {
				t.Errorf("%s: input %s is never read", q.File, in)
			}
		}
		if !strings.Contains(q.SQL, "select * from final") && q.Layer == LayerNsys {
			t.Errorf("%s: does not end in select * from final", q.File)
		}
		// A chart names output columns (run on the empty warehouse).
		if len(q.Charts) > 0 {
			res, err := w.Run(context.Background(), q, nil)
			if err != nil {
				t.Errorf("%s: %v", q.File, err)
				continue
			}
			var cols []string
			for _, c := range res.Columns {
				cols = append(cols, c.Name)
			}
			if err := q.CheckCharts(cols); err != nil {
				t.Error(err)
			}
		}
	}
	for _, q := range cat.Queries {
		if q.Layer == LayerFinding && q.RQ == "" {
			t.Errorf("%s: a finding needs -- rq:", q.File)
		}
	}
	// Every metric file's view exists, and comes after the metrics it reads.
	pos := map[string]int{}
	for i, v := range cat.ViewFiles {
		for _, d := range v.Defines {
			pos[d] = i
		}
		if v.Layer == LayerMetric && !views[v.Name] {
			t.Errorf("%s: view %s not created", v.File, v.Name)
		}
	}
	for i, v := range cat.ViewFiles {
		for _, in := range v.Inputs {
			if p, ok := pos[in]; ok && p > i {
				t.Errorf("%s reads %s, created later by %s", v.File, in, cat.ViewFiles[p].File)
			}
		}
	}
}

func TestCatalogLayers(t *testing.T) {
	head := func(name, inputs string) string {
		return "-- name: " + name + "\n-- description: d\n-- inputs: " + inputs + "\n"
	}
	fsys := fstest.MapFS{
		"views/00_m.sql":     {Data: []byte("create or replace macro sel(b) as getvariable('batch') is null or b = getvariable('batch');\ncreate or replace view k2 as select * from kernels;\n")},
		"metrics/b.sql":      {Data: []byte(head("b", "a") + "create or replace view b as select * from a;\n")},
		"metrics/a.sql":      {Data: []byte(head("a", "k2") + "create or replace view a as select * from k2;\n")},
		"top.sql":            {Data: []byte(head("top", "b") + "-- param: batch = null  -- batch\nselect * from b where sel(batch_id)\n")},
		"claims.sql":         {Data: []byte(head("claims", "b") + "select * from b\n")},
		"nsys/n.sql":         {Data: []byte(head("n", "b") + "select * from b\n")},
		"findings/f.sql":     {Data: []byte(head("f", "b") + "-- rq: rq2\n-- chart: line x=start y=end series=run_id logx title=Ends: by start\nselect * from b\n")},
		"checks/c.sql":       {Data: []byte(head("c", "b") + "select * from b\n")},
		"findings/README.md": {Data: []byte("x")},
	}
	cat, err := LoadCatalog(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, v := range cat.ViewFiles {
		order = append(order, v.File)
	}
	if want := []string{"views/00_m.sql", "metrics/a.sql", "metrics/b.sql"}; !reflect.DeepEqual(order, want) {
		t.Errorf("view order %v, want %v", order, want)
	}
	layers := map[string]Layer{}
	for _, q := range append(slices.Clone(cat.Queries), cat.Checks...) {
		layers[q.Name] = q.Layer
	}
	if want := map[string]Layer{"top": LayerQuery, "claims": LayerClaims, "n": LayerNsys, "f": LayerFinding, "c": LayerCheck}; !reflect.DeepEqual(layers, want) {
		t.Errorf("layers %v, want %v", layers, want)
	}
	f, _ := cat.Query("f")
	if want := []Chart{{Kind: "line", X: "start", Y: "end", Series: "run_id", LogX: true, Title: "Ends: by start"}}; f.RQ != "rq2" || !reflect.DeepEqual(f.Charts, want) {
		t.Errorf("rq %q charts %+v", f.RQ, f.Charts)
	}
	if err := f.CheckCharts([]string{"start", "end"}); err == nil || !strings.Contains(err.Error(), `"run_id"`) {
		t.Errorf("CheckCharts: %v", err)
	}
	// Errors: a duplicate name across layers, a cycle, an unknown input.
	for name, tc := range map[string]struct {
		files fstest.MapFS
		want  string
	}{
		"dup": {fstest.MapFS{"views/0.sql": {Data: []byte("create view q as select 1;")}, "q.sql": {Data: []byte(head("q", "kernels") + "select 1")}}, "name q is already used by views/0.sql"},
		"cycle": {fstest.MapFS{
			"metrics/a.sql": {Data: []byte(head("a", "b") + "create or replace view a as select * from b;")},
			"metrics/b.sql": {Data: []byte(head("b", "a") + "create or replace view b as select * from a;")}}, "cycle"},
		"input":  {fstest.MapFS{"metrics/a.sql": {Data: []byte(head("a", "nope") + "create or replace view a as select 1;")}}, "input nope is neither"},
		"noview": {fstest.MapFS{"metrics/a.sql": {Data: []byte(head("a", "kernels") + "create or replace view b as select 1;")}}, "does not create view a"},
		"getvar": {fstest.MapFS{"views/a.sql": {Data: []byte("create view a as select getvariable('x');")}}, "must not read getvariable('x')"},
		"chart":  {fstest.MapFS{"findings/f.sql": {Data: []byte(head("f", "kernels") + "-- chart: pie x=a y=b\nselect 1")}}, "kind \"pie\""},
		"rq":     {fstest.MapFS{"findings/f.sql": {Data: []byte(head("f", "kernels") + "-- rq: rq9x\nselect 1")}}, "want rq1"},
		"undecl": {fstest.MapFS{"views/m.sql": {Data: []byte("create macro s(b) as getvariable('batch') = b;")}, "q.sql": {Data: []byte(head("q", "kernels") + "-- param: run = null  -- r\nselect s(1), getvariable('run')")}}, ""},
	} {
		_, err := LoadCatalog(tc.files)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
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
