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
)

// sqlFiles holds views.sql, the saved queries and the checks.
//
//go:embed *.sql checks/*.sql
var sqlFiles embed.FS

// ViewsFile is the file of derived views, run after the base views.
const ViewsFile = "views.sql"

// Query is one saved query or check: a .sql file whose leading comment
// block is its header.
//
//	-- name: nsys_kern_sum
//	-- description: one line saying what a row is
//	-- inputs: kernel_ops, runs
//	-- param: batch = null  -- only this batch (every batch when null)
//
// The body is one SELECT statement (import CTEs, named steps, select * from
// final) that reads views only: no file paths, no templating. A param is read
// in the body as getvariable('key').
type Query struct {
	Name        string
	Description string
	// Inputs are the views (or base tables) the query reads.
	Inputs []string
	Params []Param
	// File is the path of the .sql file inside the queries folder.
	File string
	// SQL is the whole file, header included, without a trailing semicolon.
	SQL string
}

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

// Catalog is every SQL file of the queries folder, parsed.
type Catalog struct {
	// Views is views.sql.
	Views string
	// Queries are the saved queries, by name.
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

// LoadCatalog reads views.sql, *.sql and checks/*.sql from fsys and parses
// every header.
func LoadCatalog(fsys fs.FS) (*Catalog, error) {
	views, err := fs.ReadFile(fsys, ViewsFile)
	if err != nil {
		return nil, fmt.Errorf("queries: %w", err)
	}
	c := &Catalog{Views: string(views)}
	if err := checkNoPaths(ViewsFile, c.Views); err != nil {
		return nil, err
	}
	top, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("queries: %w", err)
	}
	checks, err := fs.Glob(fsys, "checks/*.sql")
	if err != nil {
		return nil, fmt.Errorf("queries: %w", err)
	}
	keys := map[string]Param{}
	keyFrom := map[string]string{}
	for _, file := range append(top, checks...) {
		if file == ViewsFile {
			continue
		}
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, fmt.Errorf("queries: %w", err)
		}
		q, err := ParseQuery(file, string(b))
		if err != nil {
			return nil, err
		}
		for _, p := range q.Params {
			if prev, ok := keys[p.Key]; ok && (prev.Type != p.Type || prev.DefaultText != p.DefaultText) {
				return nil, fmt.Errorf("queries: %s: param %s = %s (%s) differs from %s = %s (%s) in %s",
					file, p.Key, p.DefaultText, p.Type, prev.Key, prev.DefaultText, prev.Type, keyFrom[p.Key])
			}
			keys[p.Key], keyFrom[p.Key] = p, file
		}
		if strings.HasPrefix(file, "checks/") {
			c.Checks = append(c.Checks, q)
		} else {
			c.Queries = append(c.Queries, q)
		}
	}
	return c, nil
}

var (
	keyRE    = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	getvarRE = regexp.MustCompile(`getvariable\(\s*'([^']*)'\s*\)`)
)

// ParseQuery parses one saved query or check. file is its path inside the
// queries folder; the name in the header must be the file's base name.
func ParseQuery(file, text string) (*Query, error) {
	q := &Query{File: file, SQL: strings.TrimRight(strings.TrimSpace(text), ";")}
	fail := func(line int, format string, args ...any) error {
		return fmt.Errorf("queries: %s:%d: %s", file, line, fmt.Sprintf(format, args...))
	}
	lines := strings.Split(text, "\n")
	for i, line := range lines {
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
			q.Name = val
		case "description":
			q.Description = val
		case "inputs":
			for _, in := range strings.Split(val, ",") {
				if in = strings.TrimSpace(in); in != "" {
					q.Inputs = append(q.Inputs, in)
				}
			}
		case "param":
			p, err := parseParam(val)
			if err != nil {
				return nil, fail(i+1, "%v", err)
			}
			for _, o := range q.Params {
				if o.Key == p.Key {
					return nil, fail(i+1, "param %s declared twice", p.Key)
				}
			}
			q.Params = append(q.Params, p)
		}
	}
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
	used := map[string]bool{}
	for _, m := range getvarRE.FindAllStringSubmatch(q.SQL, -1) {
		used[m[1]] = true
	}
	for _, p := range q.Params {
		if !used[p.Key] {
			return nil, fail(1, "param %s is never read with getvariable('%s')", p.Key, p.Key)
		}
		delete(used, p.Key)
	}
	for k := range used {
		return nil, fail(1, "getvariable('%s') reads a param the header does not declare", k)
	}
	if err := checkNoPaths(file, q.SQL); err != nil {
		return nil, err
	}
	return q, nil
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
