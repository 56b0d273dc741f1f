package queries

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"vitlab/schemas"
)

// sqlFiles holds every SQL layer of the queries folder. Folders are
// embedded whole (a README.md keeps an empty one embeddable); only .sql
// files are read.
//
//go:embed *.sql views metrics claims nsys findings checks
var sqlFiles embed.FS

// Layer is the layer of the queries folder a SQL file belongs to, as the
// staging → marts layers of a dbt project: views → metrics → nsys,
// findings, claims; checks beside them.
type Layer string

// The layers, one folder each (claims and the plain saved queries live at
// the top of the queries folder).
const (
	// LayerView is views/*.sql: macros and derived views over the base
	// views, run in file-name order (00_…, 10_…).
	LayerView Layer = "view"
	// LayerMetric is metrics/*.sql: one view per metric, named as the
	// file, created after every views/ file in the order of their
	// -- inputs: (a topological sort; ties by name).
	LayerMetric Layer = "metric"
	// LayerNsys is nsys/*.sql: saved queries equal to nsys stats reports.
	LayerNsys Layer = "nsys"
	// LayerFinding is findings/*.sql: one answer to a research question.
	LayerFinding Layer = "finding"
	// LayerClaims is claims.sql: the verdict of every published claim.
	LayerClaims Layer = "claims"
	// LayerClaimUnit is claims/*.sql: one table macro per claim yielding
	// its units, and the macros that test units and turn them into
	// verdicts; created after every metric view, in the order of their
	// -- inputs: (DuckDB binds a macro's calls when it is created).
	LayerClaimUnit Layer = "claim"
	// LayerQuery is any other saved query at the top of the folder
	// (run_metrics, runs_overview).
	LayerQuery Layer = "query"
	// LayerCheck is checks/*.sql: zero rows on a healthy warehouse.
	LayerCheck Layer = "check"
)

// layerOf returns the layer of a file by its folder.
func layerOf(file string) (Layer, bool) {
	dir, base := path.Split(file)
	switch dir {
	case "views/":
		return LayerView, true
	case "metrics/":
		return LayerMetric, true
	case "nsys/":
		return LayerNsys, true
	case "findings/":
		return LayerFinding, true
	case "checks/":
		return LayerCheck, true
	case "claims/":
		return LayerClaimUnit, true
	case "":
		if base == "claims.sql" {
			return LayerClaims, true
		}
		return LayerQuery, true
	}
	return "", false
}

// Query is one saved query or check: a .sql file whose leading comment
// block is its header.
//
//	-- name: nsys_kern_sum
//	-- description: one line saying what a row is
//	-- inputs: kernel_ops, runs
//	-- param: batch = null  -- only this batch (every batch when null)
//	-- rq: rq1                       (findings: the research question, or -)
//	-- chart: line x=hidden y=gpu_busy series=patch logx title=GPU busy
//
// The body is one SELECT statement (import CTEs, named steps, select * from
// final) that reads views only: no file paths, no templating. A param is read
// in the body as getvariable('key'), or through a macro of views/ that reads
// it (run_selected reads batch and run).
type Query struct {
	Name        string
	Description string
	// Layer is the folder the file sits in (nsys, finding, claims, query,
	// check).
	Layer Layer
	// Inputs are the views (or base tables) the query reads.
	Inputs []string
	Params []Param
	// RQ is the research question of the header's -- rq: line (rq1 … rq5,
	// or "-" for a cross-cutting one); empty when the header has none.
	RQ string
	// Charts are the header's -- chart: lines, in order.
	Charts []Chart
	// File is the path of the .sql file inside the queries folder.
	File string
	// SQL is the whole file, header included, without a trailing semicolon.
	SQL string
	// Derive is the header's "-- derive: per-batch": the query's rows of a
	// batch depend on that batch's rows only, it orders by batch_id first,
	// and ingest stores its default-param output per batch (derive.go).
	Derive bool
}

// Chart is one "-- chart:" header line:
//
//	-- chart: <line|scatter|bar> x=<column> y=<column> [series=<column>] [logx] [logy] [title=<text to end of line>]
type Chart struct {
	Kind   string // line, scatter or bar
	X, Y   string // output columns
	Series string // output column; empty for one series
	LogX   bool
	LogY   bool
	Title  string
}

// Columns returns the output columns the chart reads.
func (c Chart) Columns() []string {
	cols := []string{c.X, c.Y}
	if c.Series != "" {
		cols = append(cols, c.Series)
	}
	return cols
}

// CheckCharts reports a chart of q that names a column not in cols (the
// query's output columns, e.g. from running it on an empty warehouse).
func (q *Query) CheckCharts(cols []string) error {
	for i, c := range q.Charts {
		for _, col := range c.Columns() {
			if !slices.Contains(cols, col) {
				return fmt.Errorf("queries: %s: chart %d: column %q is not an output column (%s)", q.File, i+1, col, strings.Join(cols, ", "))
			}
		}
	}
	return nil
}

// ViewFile is one file of views/ or metrics/: SQL statements that create
// macros and views. A metric file creates exactly one view, named as the
// file, and has a header like a query's (name, description, inputs).
type ViewFile struct {
	File  string
	Layer Layer
	// Name, Description and Inputs come from the header (metric files; a
	// views/ file may have none).
	Name        string
	Description string
	Inputs      []string
	// Defines lists the views, macros and tables the file creates.
	Defines []string
	// SQL is the whole file.
	SQL string
	// Derive is the header's "-- derive: per-batch" (metric files): the
	// view's rows of a batch depend on that batch's rows only, and ingest
	// stores them per batch (derive.go).
	Derive bool
}

// Catalog is every SQL file of the queries folder, parsed.
type Catalog struct {
	// Views is the SQL of every views/ and metrics/ file in creation order
	// (ViewFiles), run after the base views.
	Views string
	// ViewFiles are the files of views/, metrics/ then claims/, in
	// creation order.
	ViewFiles []*ViewFile
	// Queries are the saved queries (top-level, nsys/, findings/,
	// claims.sql), by name.
	Queries []*Query
	// Checks are the queries of checks/, which return no rows on a healthy
	// warehouse.
	Checks []*Query
}

// Query returns the saved query of that name.
func (c *Catalog) Query(name string) (*Query, bool) {
	for _, q := range c.Queries {
		if q.Name == name {
			return q, true
		}
	}
	return nil, false
}

// Check returns the check of that name.
func (c *Catalog) Check(name string) (*Query, bool) {
	for _, q := range c.Checks {
		if q.Name == name {
			return q, true
		}
	}
	return nil, false
}

// Layer returns the saved queries of one layer, by name.
func (c *Catalog) Layer(l Layer) []*Query {
	var out []*Query
	for _, q := range append(slices.Clone(c.Queries), c.Checks...) {
		if q.Layer == l {
			out = append(out, q)
		}
	}
	return out
}

// Names returns the names of the saved queries.
func (c *Catalog) Names() []string {
	names := make([]string, len(c.Queries))
	for i, q := range c.Queries {
		names[i] = q.Name
	}
	return names
}

// Defaults returns every parameter of the saved queries and checks with its
// default, each key once. LoadCatalog refuses a catalog where two queries
// give the same key different types or defaults, so one SET VARIABLE per key
// serves them all (as `vitlab views` prints them).
func (c *Catalog) Defaults() []Param {
	seen := map[string]bool{}
	var out []Param
	for _, q := range append(append([]*Query(nil), c.Queries...), c.Checks...) {
		for _, p := range q.Params {
			if !seen[p.Key] {
				seen[p.Key] = true
				out = append(out, p)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

var embedded = sync.OnceValues(func() (*Catalog, error) { return LoadCatalog(sqlFiles) })

// Embedded returns the catalog built into the binary.
func Embedded() (*Catalog, error) { return embedded() }

var (
	defineRE = regexp.MustCompile(`(?im)^\s*create\s+(?:or\s+replace\s+)?(?:temp\s+|temporary\s+)?(view|macro|table)\s+([a-z_][a-z0-9_]*)`)
)

// LoadCatalog reads every layer from fsys (views/*.sql, metrics/*.sql,
// *.sql, nsys/*.sql, findings/*.sql, checks/*.sql) and parses every header.
// Names are unique across layers: a view, macro, saved query or check name
// is used once.
func LoadCatalog(fsys fs.FS) (*Catalog, error) {
	c := &Catalog{}
	var files []string
	for _, pat := range []string{"views/*.sql", "metrics/*.sql", "claims/*.sql", "*.sql", "nsys/*.sql", "findings/*.sql", "checks/*.sql"} {
		m, err := fs.Glob(fsys, pat)
		if err != nil {
			return nil, fmt.Errorf("queries: %w", err)
		}
		files = append(files, m...)
	}
	owner := map[string]string{} // name → file defining it
	claim := func(name, file string) error {
		if prev, ok := owner[name]; ok && prev != file {
			return fmt.Errorf("queries: %s: name %s is already used by %s (names are unique across layers)", file, name, prev)
		}
		owner[name] = file
		return nil
	}
	for _, t := range schemas.All() {
		owner[t.Name] = "schemas (base table)"
	}
	for _, t := range pendingTables() {
		if _, ok := owner[t.Name]; !ok {
			owner[t.Name] = "schemas (base table, pending)"
		}
	}
	// Views and metrics first: the macros they define tell which params a
	// query reads through them.
	var views, metrics, claimUnits []*ViewFile
	var queryFiles []string
	for _, file := range files {
		layer, _ := layerOf(file)
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, fmt.Errorf("queries: %w", err)
		}
		switch layer {
		case LayerView, LayerMetric, LayerClaimUnit:
			v, err := parseViewFile(file, layer, string(b))
			if err != nil {
				return nil, err
			}
			for _, d := range v.Defines {
				if err := claim(d, file); err != nil {
					return nil, err
				}
			}
			switch layer {
			case LayerView:
				views = append(views, v)
			case LayerMetric:
				metrics = append(metrics, v)
			default:
				claimUnits = append(claimUnits, v)
			}
		default:
			queryFiles = append(queryFiles, file)
		}
	}
	sorted, err := sortMetrics(metrics)
	if err != nil {
		return nil, err
	}
	sortedClaims, err := sortMetrics(claimUnits)
	if err != nil {
		return nil, err
	}
	c.ViewFiles = append(append(views, sorted...), sortedClaims...)
	var script strings.Builder
	macroVars := map[string][]string{}
	for _, v := range c.ViewFiles {
		fmt.Fprintf(&script, "-- %s\n%s\n", v.File, strings.TrimRight(v.SQL, "\n"))
		if !strings.HasSuffix(strings.TrimSpace(stripComments(v.SQL)), ";") {
			script.WriteString(";\n")
		}
		script.WriteString("\n")
		for k, vs := range macrosReading(v.SQL) {
			macroVars[k] = vs
		}
	}
	closeMacroVars(macroVars, c.ViewFiles)
	c.Views = script.String()
	for _, v := range c.ViewFiles {
		for _, in := range v.Inputs {
			if _, ok := owner[in]; !ok {
				return nil, fmt.Errorf("queries: %s: input %s is neither a base table nor defined by a views/ or metrics/ file", v.File, in)
			}
		}
	}

	keys := map[string]Param{}
	keyFrom := map[string]string{}
	for _, file := range queryFiles {
		layer, _ := layerOf(file)
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, fmt.Errorf("queries: %w", err)
		}
		q, err := parseQuery(file, string(b), macroVars)
		if err != nil {
			return nil, err
		}
		q.Layer = layer
		if err := claim(q.Name, file); err != nil {
			return nil, err
		}
		for _, p := range q.Params {
			if prev, ok := keys[p.Key]; ok && (prev.Type != p.Type || prev.DefaultText != p.DefaultText) {
				return nil, fmt.Errorf("queries: %s: param %s = %s (%s) differs from %s = %s (%s) in %s",
					file, p.Key, p.DefaultText, p.Type, prev.Key, prev.DefaultText, prev.Type, keyFrom[p.Key])
			}
			keys[p.Key], keyFrom[p.Key] = p, file
		}
		if layer == LayerCheck {
			c.Checks = append(c.Checks, q)
		} else {
			c.Queries = append(c.Queries, q)
		}
	}
	sort.SliceStable(c.Queries, func(i, j int) bool { return c.Queries[i].Name < c.Queries[j].Name })
	sort.SliceStable(c.Checks, func(i, j int) bool { return c.Checks[i].Name < c.Checks[j].Name })
	return c, nil
}

// parseViewFile parses a views/ or metrics/ file. A metric file needs the
// name, description and inputs header and must create the view of its
// name; a views/ file may have a free comment instead.
func parseViewFile(file string, layer Layer, text string) (*ViewFile, error) {
	v := &ViewFile{File: file, Layer: layer, SQL: text}
	h, err := parseHeader(file, text)
	if err != nil {
		return nil, err
	}
	if len(h.params) > 0 || h.rq != "" || len(h.charts) > 0 {
		return nil, fmt.Errorf("queries: %s: views take no -- param:, -- rq: or -- chart: lines (a saved query does)", file)
	}
	if m := getvarRE.FindStringSubmatch(stripMacros(stripComments(text))); m != nil {
		return nil, fmt.Errorf("queries: %s: a view must not read getvariable('%s') (views are created once; a macro may)", file, m[1])
	}
	v.Name, v.Description, v.Inputs, v.Derive = h.name, h.description, h.inputs, h.derive
	if v.Derive && layer != LayerMetric {
		return nil, fmt.Errorf("queries: %s: only metric views may be derived per batch", file)
	}
	for _, m := range defineRE.FindAllStringSubmatch(stripComments(text), -1) {
		v.Defines = append(v.Defines, strings.ToLower(m[2]))
	}
	if err := checkNoPaths(file, text); err != nil {
		return nil, err
	}
	if layer == LayerMetric || layer == LayerClaimUnit {
		want := strings.TrimSuffix(path.Base(file), ".sql")
		switch {
		case v.Name != want:
			return nil, fmt.Errorf("queries: %s:1: name %q differs from the file name %q", file, v.Name, want)
		case v.Description == "":
			return nil, fmt.Errorf("queries: %s:1: header has no -- description: line", file)
		case len(v.Inputs) == 0:
			return nil, fmt.Errorf("queries: %s:1: header has no -- inputs: line", file)
		case !slices.Contains(v.Defines, v.Name) && layer == LayerMetric:
			return nil, fmt.Errorf("queries: %s: does not create view %s", file, v.Name)
		case !slices.Contains(v.Defines, v.Name):
			return nil, fmt.Errorf("queries: %s: does not create macro %s", file, v.Name)
		}
	}
	if len(v.Defines) == 0 {
		return nil, fmt.Errorf("queries: %s: creates no view or macro", file)
	}
	return v, nil
}

// sortMetrics orders metric files so that each comes after the metric
// files it names in -- inputs: (ties by name); a cycle is an error.
func sortMetrics(ms []*ViewFile) ([]*ViewFile, error) {
	byName := map[string]*ViewFile{}
	for _, m := range ms {
		for _, d := range m.Defines {
			byName[d] = m
		}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].File < ms[j].File })
	state := map[*ViewFile]int{} // 1 visiting, 2 done
	var out []*ViewFile
	var visit func(m *ViewFile, chain []string) error
	visit = func(m *ViewFile, chain []string) error {
		switch state[m] {
		case 1:
			return fmt.Errorf("queries: metrics depend on each other in a cycle: %s", strings.Join(append(chain, m.Name), " → "))
		case 2:
			return nil
		}
		state[m] = 1
		for _, in := range m.Inputs {
			if dep, ok := byName[in]; ok && dep != m {
				if err := visit(dep, append(chain, m.Name)); err != nil {
					return err
				}
			}
		}
		state[m] = 2
		out = append(out, m)
		return nil
	}
	for _, m := range ms {
		if err := visit(m, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// A macro ends at the first semicolon that ends a line (one inside a
// string literal, as in '; ', does not end it).
var macroRE = regexp.MustCompile(`(?ism)create\s+(?:or\s+replace\s+)?macro\s+([a-z_][a-z0-9_]*)(.*?);[ \t]*$`)

// macrosReading returns, for each macro the SQL defines, the params it
// reads with getvariable.
func macrosReading(sql string) map[string][]string {
	out := map[string][]string{}
	for _, m := range macroRE.FindAllStringSubmatch(stripComments(sql), -1) {
		for _, g := range getvarRE.FindAllStringSubmatch(m[2], -1) {
			if !slices.Contains(out[strings.ToLower(m[1])], g[1]) {
				out[strings.ToLower(m[1])] = append(out[strings.ToLower(m[1])], g[1])
			}
		}
	}
	return out
}

// closeMacroVars adds to each macro the params read by the macros it
// calls, transitively (claims.sql calls claim_verdicts, which calls each
// claim's macro, which reads that claim's params).
func closeMacroVars(macroVars map[string][]string, files []*ViewFile) {
	calls := map[string][]string{}
	for _, v := range files {
		for _, m := range macroRE.FindAllStringSubmatch(stripComments(v.SQL), -1) {
			for _, c := range callRE.FindAllStringSubmatch(m[2], -1) {
				calls[strings.ToLower(m[1])] = append(calls[strings.ToLower(m[1])], strings.ToLower(c[1]))
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for m, callees := range calls {
			for _, c := range callees {
				for _, k := range macroVars[c] {
					if !slices.Contains(macroVars[m], k) {
						macroVars[m] = append(macroVars[m], k)
						changed = true
					}
				}
			}
		}
	}
}

// stripMacros removes macro definitions (which may read variables: they
// are expanded where a query calls them).
func stripMacros(sql string) string { return macroRE.ReplaceAllString(sql, "") }

var (
	keyRE    = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	getvarRE = regexp.MustCompile(`getvariable\(\s*'([^']*)'\s*\)`)
	rqRE     = regexp.MustCompile(`^(rq[1-9]|-)$`)
	callRE   = regexp.MustCompile(`(?i)\b([a-z_][a-z0-9_]*)\s*\(`)
)

// header is the leading comment block of a SQL file.
type header struct {
	name, description, rq string
	inputs                []string
	params                []Param
	charts                []Chart
	derive                bool
}

func parseHeader(file, text string) (*header, error) {
	h := &header{}
	fail := func(line int, format string, args ...any) error {
		return fmt.Errorf("queries: %s:%d: %s", file, line, fmt.Sprintf(format, args...))
	}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "--") {
			break
		}
		body := strings.TrimSpace(strings.TrimPrefix(line, "--"))
		key, val, ok := strings.Cut(body, ":")
		if !ok {
			continue // free text in the header
		}
		val = strings.TrimSpace(val)
		switch strings.TrimSpace(key) {
		case "name":
			h.name = val
		case "description":
			h.description = val
		case "inputs":
			for _, in := range strings.Split(val, ",") {
				if in = strings.TrimSpace(in); in != "" {
					h.inputs = append(h.inputs, in)
				}
			}
		case "rq":
			if !rqRE.MatchString(val) {
				return nil, fail(i+1, "rq %q: want rq1 … rq5 or -", val)
			}
			h.rq = val
		case "derive":
			if val != "per-batch" {
				return nil, fail(i+1, "derive %q: want per-batch", val)
			}
			h.derive = true
		case "chart":
			c, err := parseChart(val)
			if err != nil {
				return nil, fail(i+1, "%v", err)
			}
			h.charts = append(h.charts, c)
		case "param":
			p, err := parseParam(val)
			if err != nil {
				return nil, fail(i+1, "%v", err)
			}
			for _, o := range h.params {
				if o.Key == p.Key {
					return nil, fail(i+1, "param %s declared twice", p.Key)
				}
			}
			h.params = append(h.params, p)
		}
	}
	return h, nil
}

// parseChart parses "<kind> x=<col> y=<col> [series=<col>] [logx] [logy]
// [title=<text to end of line>]".
func parseChart(s string) (Chart, error) {
	var c Chart
	if before, title, ok := strings.Cut(s, "title="); ok {
		s, c.Title = before, strings.TrimSpace(title)
	}
	f := strings.Fields(s)
	if len(f) == 0 {
		return c, fmt.Errorf("chart: want <line|scatter|bar> x=<column> y=<column> …")
	}
	switch c.Kind = f[0]; c.Kind {
	case "line", "scatter", "bar":
	default:
		return c, fmt.Errorf("chart: kind %q: want line, scatter or bar", c.Kind)
	}
	for _, w := range f[1:] {
		k, v, _ := strings.Cut(w, "=")
		switch {
		case k == "x" && keyRE.MatchString(v):
			c.X = v
		case k == "y" && keyRE.MatchString(v):
			c.Y = v
		case k == "series" && keyRE.MatchString(v):
			c.Series = v
		case w == "logx":
			c.LogX = true
		case w == "logy":
			c.LogY = true
		default:
			return c, fmt.Errorf("chart: unknown word %q (x=, y=, series=, logx, logy, title=)", w)
		}
	}
	if c.X == "" || c.Y == "" {
		return c, fmt.Errorf("chart: needs x=<column> and y=<column>")
	}
	return c, nil
}

// ParseQuery parses one saved query or check. file is its path inside the
// queries folder; the name in the header must be the file's base name.
func ParseQuery(file, text string) (*Query, error) { return parseQuery(file, text, nil) }

// parseQuery is ParseQuery where a call of a macro in macroVars counts as
// reading the params that macro reads.
func parseQuery(file, text string, macroVars map[string][]string) (*Query, error) {
	q := &Query{File: file, SQL: strings.TrimRight(strings.TrimSpace(text), ";")}
	if l, ok := layerOf(file); ok {
		q.Layer = l
	}
	fail := func(line int, format string, args ...any) error {
		return fmt.Errorf("queries: %s:%d: %s", file, line, fmt.Sprintf(format, args...))
	}
	h, err := parseHeader(file, text)
	if err != nil {
		return nil, err
	}
	q.Name, q.Description, q.Inputs, q.Params, q.RQ, q.Charts, q.Derive = h.name, h.description, h.inputs, h.params, h.rq, h.charts, h.derive
	want := strings.TrimSuffix(path.Base(file), ".sql")
	switch {
	case q.Name == "":
		return nil, fail(1, "header has no -- name: line")
	case q.Name != want:
		return nil, fail(1, "name %q differs from the file name %q", q.Name, want)
	case q.Description == "":
		return nil, fail(1, "header has no -- description: line")
	case len(q.Inputs) == 0:
		return nil, fail(1, "header has no -- inputs: line")
	}
	body := stripComments(q.SQL)
	used := map[string]bool{}
	for _, m := range getvarRE.FindAllStringSubmatch(body, -1) {
		used[m[1]] = true
	}
	for _, m := range callRE.FindAllStringSubmatch(body, -1) {
		for _, k := range macroVars[strings.ToLower(m[1])] {
			used[k] = true
		}
	}
	for _, p := range q.Params {
		if !used[p.Key] {
			return nil, fail(1, "param %s is never read with getvariable('%s')", p.Key, p.Key)
		}
		delete(used, p.Key)
	}
	for k := range used {
		if macroUses(body, macroVars, k) && !strings.Contains(body, "getvariable('"+k+"')") {
			continue // read through a macro the query calls without the param: it keeps its default (every row)
		}
		return nil, fail(1, "getvariable('%s') reads a param the header does not declare", k)
	}
	if err := checkNoPaths(file, q.SQL); err != nil {
		return nil, err
	}
	return q, nil
}

// macroUses reports whether body calls a macro that reads param k.
func macroUses(body string, macroVars map[string][]string, k string) bool {
	for _, m := range callRE.FindAllStringSubmatch(body, -1) {
		if slices.Contains(macroVars[strings.ToLower(m[1])], k) {
			return true
		}
	}
	return false
}

// checkNoPaths refuses SQL that reads files or holds templating: saved SQL
// reads views only, so it runs unchanged wherever the base views exist.
func checkNoPaths(file, sql string) error {
	low := strings.ToLower(stripComments(sql))
	for _, bad := range []string{"read_parquet", "read_csv", "parquet_scan", "read_json", "{{", "{%", ".parquet'"} {
		if strings.Contains(low, bad) {
			return fmt.Errorf("queries: %s: saved SQL must not read files or hold templating (found %q)", file, bad)
		}
	}
	return nil
}

// stripComments removes -- comments (outside string literals).
func stripComments(sql string) string {
	var b strings.Builder
	inStr := false
	for i := 0; i < len(sql); i++ {
		ch := sql[i]
		switch {
		case ch == '\'':
			inStr = !inStr
		case !inStr && ch == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
			b.WriteByte('\n')
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}

var paramTypes = map[string]string{
	"varchar": "VARCHAR", "text": "VARCHAR", "bigint": "BIGINT", "integer": "BIGINT",
	"double": "DOUBLE", "boolean": "BOOLEAN",
}

// parseParam parses "key [type] = default  -- meaning".
func parseParam(s string) (Param, error) {
	lhs, rhs, ok := strings.Cut(s, "=")
	if !ok {
		return Param{}, fmt.Errorf("param %q: want key = default  -- meaning", s)
	}
	f := strings.Fields(lhs)
	if len(f) == 0 || len(f) > 2 || !keyRE.MatchString(f[0]) {
		return Param{}, fmt.Errorf("param %q: want a lower-case key, an optional type, then = default", s)
	}
	p := Param{Key: f[0]}
	// The default, then optionally more allowed values: 'a' | 'b' | 'c'.
	var lits []string
	rest := strings.TrimSpace(rhs)
	for {
		lit, after, err := cutLiteral(rest)
		if err != nil {
			return Param{}, fmt.Errorf("param %s: %v", p.Key, err)
		}
		lits = append(lits, lit)
		rest = strings.TrimSpace(after)
		if !strings.HasPrefix(rest, "|") {
			break
		}
		rest = strings.TrimSpace(rest[1:])
	}
	if rest != "" {
		if !strings.HasPrefix(rest, "--") {
			return Param{}, fmt.Errorf("param %s: want -- meaning after the default, got %q", p.Key, rest)
		}
		p.Doc = strings.TrimSpace(strings.TrimPrefix(rest, "--"))
	}
	if p.Doc == "" {
		return Param{}, fmt.Errorf("param %s: no -- meaning after the default", p.Key)
	}
	lit := lits[0]
	p.DefaultText = strings.Join(lits, " | ")
	switch {
	case strings.EqualFold(lit, "null"):
		p.Type, p.Default = "VARCHAR", nil
	case lit == "true" || lit == "false":
		p.Type, p.Default = "BOOLEAN", lit == "true"
	case strings.HasPrefix(lit, "'"):
		p.Type, p.Default = "VARCHAR", unquote(lit)
	default:
		if v, err := strconv.ParseInt(lit, 10, 64); err == nil {
			p.Type, p.Default = "BIGINT", v
		} else if v, err := strconv.ParseFloat(lit, 64); err == nil {
			p.Type, p.Default = "DOUBLE", v
		} else {
			return Param{}, fmt.Errorf("param %s: default %q is not null, true, false, a number or a 'string'", p.Key, lit)
		}
	}
	if len(lits) > 1 {
		for _, l := range lits {
			if !strings.HasPrefix(l, "'") {
				return Param{}, fmt.Errorf("param %s: a list of allowed values holds 'strings' only, not %s", p.Key, l)
			}
			p.Choices = append(p.Choices, unquote(l))
		}
	}
	if len(f) == 2 {
		t, ok := paramTypes[strings.ToLower(f[1])]
		if !ok {
			return Param{}, fmt.Errorf("param %s: unknown type %q (varchar, bigint, double or boolean)", p.Key, f[1])
		}
		if p.Default != nil {
			if _, err := (Param{Key: p.Key, Type: t}).Parse(fmt.Sprint(p.Default)); err != nil {
				return Param{}, fmt.Errorf("param %s: default %s is not a %s", p.Key, lit, strings.ToLower(t))
			}
			p.Default, _ = (Param{Key: p.Key, Type: t}).Parse(fmt.Sprint(p.Default))
		}
		p.Type = t
	}
	return p, nil
}

// Parse converts a value given on the command line to the param's type.
func (p Param) Parse(s string) (any, error) {
	if len(p.Choices) > 0 && !slices.Contains(p.Choices, s) {
		return nil, fmt.Errorf("param %s: %q is not one of %s", p.Key, s, strings.Join(p.Choices, ", "))
	}
	switch p.Type {
	case "BIGINT":
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("param %s: %q is not an integer", p.Key, s)
		}
		return v, nil
	case "DOUBLE":
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, fmt.Errorf("param %s: %q is not a number", p.Key, s)
		}
		return v, nil
	case "BOOLEAN":
		v, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("param %s: %q is not true or false", p.Key, s)
		}
		return v, nil
	}
	return s, nil
}

// ParamError is a bad --param: a key the query does not have or a value of
// the wrong type. It is the caller's mistake, not the warehouse's.
type ParamError struct{ Msg string }

func (e *ParamError) Error() string { return e.Msg }

// Bind checks args (key → value as typed by the user) against the query's
// params and returns every param's value, defaults filled in.
func (q *Query) Bind(args map[string]string) (map[string]any, error) {
	out := make(map[string]any, len(q.Params))
	for _, p := range q.Params {
		out[p.Key] = p.Default
	}
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var p *Param
		for i := range q.Params {
			if q.Params[i].Key == k {
				p = &q.Params[i]
			}
		}
		if p == nil {
			return nil, &ParamError{fmt.Sprintf("query %s has no param %q (it has: %s)", q.Name, k, q.paramList())}
		}
		v, err := p.Parse(args[k])
		if err != nil {
			return nil, &ParamError{err.Error()}
		}
		out[k] = v
	}
	return out, nil
}

func (q *Query) paramList() string {
	if len(q.Params) == 0 {
		return "none"
	}
	keys := make([]string, len(q.Params))
	for i, p := range q.Params {
		keys[i] = p.Key
	}
	return strings.Join(keys, ", ")
}

// cutLiteral cuts the SQL literal at the start of s: a quoted string (with
// doubled quotes inside) or one bare word.
func cutLiteral(s string) (lit, rest string, err error) {
	if !strings.HasPrefix(s, "'") {
		end := strings.IndexAny(s, " \t|")
		if end < 0 {
			end = len(s)
		}
		if end == 0 {
			return "", "", fmt.Errorf("no default value")
		}
		return s[:end], s[end:], nil
	}
	for i := 1; i < len(s); i++ {
		if s[i] == '\'' {
			if i+1 < len(s) && s[i+1] == '\'' {
				i++
				continue
			}
			return s[:i+1], s[i+1:], nil
		}
	}
	return "", "", fmt.Errorf("unterminated string %s", s)
}

func unquote(lit string) string { return strings.ReplaceAll(lit[1:len(lit)-1], "''", "'") }

// Param is a query parameter, set as a DuckDB variable before the query
// runs.
type Param struct {
	Key string
	// Type is the DuckDB type of the variable: VARCHAR, BIGINT, DOUBLE or
	// BOOLEAN. It follows the default's literal (null and 'text' are
	// VARCHAR) unless the header names it: "-- param: top bigint = null".
	Type string
	// Default is the value used when the caller gives none: nil, string,
	// int64, float64 or bool.
	Default any
	// DefaultText is the default as written in the header (with the
	// allowed values, if any).
	DefaultText string
	// Choices, when not empty, are the only values allowed ('a' | 'b' in
	// the header, the first being the default).
	Choices []string
	// Doc says what the parameter means.
	Doc string
}
