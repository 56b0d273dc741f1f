package queries

import (
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"vitlab/queries/duck"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata files")

// The testdata/*.txt files are data-driven tests of the saved queries,
// views and checks. Directives:
//
//	# comment
//	given <table>        CSV header of schema columns, then rows, until a blank
//	                     line; an empty cell is NULL. Rows accumulate until reset.
//	given <view>         the same for a view of views/ or metrics/ (dbt-style
//	                     unit test): the view is replaced by a relation of the
//	                     given rows, typed as the view's columns (columns left
//	                     out are NULL; a header alone makes it empty). Views
//	                     that read it see the given rows, so a finding or
//	                     claims test can start from metric-level rows.
//	reset                forget every given row
//	run <query> [k=v …]  run a saved query with params, then ----, then the
//	                     expected CSV (or "error: …") until a blank line
//	check <name>         run a check, expected output as for run
//	sql                  SQL lines up to ----, then the expected output
//
// go test ./queries -run TestDataDriven -rewrite regenerates the expected
// output; review the diff.
func TestDataDriven(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.txt")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) { runDataDriven(t, file) })
	}
}

type ddGiven struct {
	table TableDef // a base table, or
	view  string   // a view of the catalog
	cols  []string
	rows  [][]string
}

func runDataDriven(t *testing.T, file string) {
	ctx := context.Background()
	cat, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	var out []string // the file as rewritten
	var given []*ddGiven
	for i := 0; i < len(lines); {
		line := lines[i]
		pos := fmt.Sprintf("%s:%d", file, i+1)
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(line, "#") {
			out = append(out, line)
			i++
			continue
		}
		switch fields[0] {
		case "reset":
			given = nil
			out = append(out, line)
			i++
		case "given":
			if len(fields) != 2 {
				t.Fatalf("%s: want: given <table>", pos)
			}
			tbl, isTable := TableByName(fields[1])
			isView := false
			for _, v := range cat.ViewFiles {
				isView = isView || slices.Contains(v.Defines, fields[1])
			}
			if !isTable && !isView {
				t.Fatalf("%s: no table or view %s", pos, fields[1])
			}
			out = append(out, line)
			i++
			var block []string
			for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
				block = append(block, lines[i])
				out = append(out, lines[i])
			}
			recs, err := csv.NewReader(strings.NewReader(strings.Join(block, "\n"))).ReadAll()
			if err != nil || len(recs) == 0 {
				t.Fatalf("%s: given %s: bad CSV: %v", pos, fields[1], err)
			}
			g := &ddGiven{table: tbl, cols: recs[0], rows: recs[1:]}
			if !isTable {
				g.view = fields[1]
			} else {
				for _, c := range recs[0] {
					if tbl.Index(c) < 0 {
						t.Fatalf("%s: table %s has no column %q", pos, tbl.Name, c)
					}
				}
			}
			given = append(given, g)
		case "run", "check", "sql":
			out = append(out, line)
			i++
			var sqlText []string
			if fields[0] == "sql" {
				for ; i < len(lines) && lines[i] != "----"; i++ {
					sqlText = append(sqlText, lines[i])
					out = append(out, lines[i])
				}
			}
			if i >= len(lines) || lines[i] != "----" {
				t.Fatalf("%s: %s needs ---- then the expected output", pos, fields[0])
			}
			out = append(out, "----")
			i++
			var want []string
			for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
				want = append(want, lines[i])
			}
			got := ddRun(ctx, t, cat, pos, fields, strings.Join(sqlText, "\n"), given)
			if *rewrite {
				out = append(out, got...)
				continue
			}
			out = append(out, want...)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s: %s\n got:\n%s\nwant:\n%s", pos, line, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		default:
			t.Fatalf("%s: unknown directive %q", pos, fields[0])
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ddRun runs one run/check/sql directive over the given rows and returns its
// output lines.
func ddRun(ctx context.Context, t *testing.T, cat *Catalog, pos string, fields []string, sqlText string, given []*ddGiven) []string {
	t.Helper()
	base, err := givenBase(given)
	if err != nil {
		t.Fatalf("%s: %v", pos, err)
	}
	w, err := OpenSQL(ctx, base)
	if err != nil {
		t.Fatalf("%s: %v", pos, err)
	}
	defer w.Close()
	if err := replaceViews(ctx, w, given); err != nil {
		t.Fatalf("%s: %v", pos, err)
	}
	var res *duck.Result
	switch fields[0] {
	case "sql":
		res, err = w.SQL(ctx, sqlText)
	default:
		if len(fields) < 2 {
			t.Fatalf("%s: want: %s <name> [k=v …]", pos, fields[0])
		}
		var q *Query
		if fields[0] == "run" {
			q, _ = cat.Query(fields[1])
		} else {
			for _, c := range cat.Checks {
				if c.Name == fields[1] {
					q = c
				}
			}
		}
		if q == nil {
			t.Fatalf("%s: no %s named %s", pos, fields[0], fields[1])
		}
		args := map[string]string{}
		for _, kv := range fields[2:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("%s: param %q: want k=v", pos, kv)
			}
			args[k] = v
		}
		res, err = w.Run(ctx, q, args)
	}
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, res); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
}

// givenBase builds base views from the given rows: each table's typed empty
// relation unioned with its rows, every value cast to the column's type.
func givenBase(given []*ddGiven) (string, error) {
	var b strings.Builder
	for _, tbl := range Tables() {
		var selects []string
		for _, g := range given {
			if g.view != "" || g.table.Name != tbl.Name || len(g.rows) == 0 {
				continue
			}
			types := make([]string, len(g.cols))
			for i, c := range g.cols {
				types[i] = tbl.Columns[tbl.Index(c)].Type
			}
			sel, err := valuesSelect(g, types)
			if err != nil {
				return "", err
			}
			selects = append(selects, sel)
		}
		b.WriteString(tbl.ViewOver(strings.Join(selects, "\nunion all by name\n")))
	}
	return b.String(), nil
}

// replaceViews replaces each given view by its given rows, typed as the
// view's own columns (the columns left out are NULL).
func replaceViews(ctx context.Context, w *Warehouse, given []*ddGiven) error {
	var order []string
	byView := map[string][]*ddGiven{}
	for _, g := range given {
		if g.view == "" {
			continue
		}
		if _, ok := byView[g.view]; !ok {
			order = append(order, g.view)
		}
		byView[g.view] = append(byView[g.view], g)
	}
	for _, name := range order {
		res, err := w.SQL(ctx, "select column_name, column_type from (describe select * from "+duck.Ident(name)+")")
		if err != nil {
			return fmt.Errorf("given %s: %w", name, err)
		}
		def := TableDef{Name: name}
		for _, r := range res.Rows {
			def.Columns = append(def.Columns, ColumnDef{Name: r[0].(string), Type: r[1].(string)})
		}
		var selects []string
		for _, g := range byView[name] {
			types := make([]string, len(g.cols))
			for i, c := range g.cols {
				j := def.Index(c)
				if j < 0 {
					return fmt.Errorf("given %s: the view has no column %q", name, c)
				}
				types[i] = def.Columns[j].Type
			}
			if len(g.rows) == 0 {
				continue
			}
			sel, err := valuesSelect(g, types)
			if err != nil {
				return err
			}
			selects = append(selects, sel)
		}
		// The typed empty relation keeps the view's column order; DuckDB
		// binds views by name when they are queried, so every view that
		// reads this one now reads the given rows.
		sql := strings.Replace(def.ViewOver(strings.Join(selects, "\nunion all by name\n")),
			"create or replace view "+name+" as\n", "create or replace view "+name+" as\nselect * from (\n", 1)
		sql = strings.TrimSuffix(sql, ";\n") + ")\n;\n"
		if _, err := w.SQL(ctx, sql); err != nil {
			return fmt.Errorf("given %s: %w", name, err)
		}
	}
	return nil
}

// valuesSelect returns a SELECT of the given rows, each cell cast to its
// column's type.
func valuesSelect(g *ddGiven, types []string) (string, error) {
	var tuples []string
	for _, row := range g.rows {
		if len(row) != len(g.cols) {
			return "", fmt.Errorf("given: row %v has %d cells, header %d", row, len(row), len(g.cols))
		}
		vals := make([]string, len(row))
		for i, cell := range row {
			lit := "null"
			if cell != "" {
				lit = duck.Quote(cell)
			}
			vals[i] = "cast(" + lit + " as " + types[i] + ")"
		}
		tuples = append(tuples, "("+strings.Join(vals, ", ")+")")
	}
	idents := make([]string, len(g.cols))
	for i, c := range g.cols {
		idents[i] = duck.Ident(c)
	}
	return "select * from (values\n    " + strings.Join(tuples, ",\n    ") + "\n) as given(" + strings.Join(idents, ", ") + ")", nil
}
