package queries

import (
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vitlab/queries/duck"
	"vitlab/schemas"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata files")

// The testdata/*.txt files are data-driven tests of the saved queries,
// views and checks. Directives:
//
//	# comment
//	given <table>        CSV header of schema columns, then rows, until a blank
//	                     line; an empty cell is NULL. Rows accumulate until reset.
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
	table *schemas.Table
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
			tbl, ok := schemas.ByName(fields[1])
			if !ok {
				t.Fatalf("%s: no table %s", pos, fields[1])
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
				t.Fatalf("%s: given %s: bad CSV: %v", pos, tbl.Name, err)
			}
			for _, c := range recs[0] {
				if tbl.Index(c) < 0 {
					t.Fatalf("%s: table %s has no column %q", pos, tbl.Name, c)
				}
			}
			given = append(given, &ddGiven{table: tbl, cols: recs[0], rows: recs[1:]})
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
	for _, tbl := range schemas.All() {
		var selects []string
		for _, g := range given {
			if g.table != tbl || len(g.rows) == 0 {
				continue
			}
			var tuples []string
			for _, row := range g.rows {
				if len(row) != len(g.cols) {
					return "", fmt.Errorf("given %s: row %v has %d cells, header %d", tbl.Name, row, len(row), len(g.cols))
				}
				vals := make([]string, len(row))
				for i, cell := range row {
					typ, err := DuckType(tbl.Columns[tbl.Index(g.cols[i])].Type)
					if err != nil {
						return "", err
					}
					lit := "null"
					if cell != "" {
						lit = duck.Quote(cell)
					}
					vals[i] = "cast(" + lit + " as " + typ + ")"
				}
				tuples = append(tuples, "("+strings.Join(vals, ", ")+")")
			}
			idents := make([]string, len(g.cols))
			for i, c := range g.cols {
				idents[i] = duck.Ident(c)
			}
			selects = append(selects, "select * from (values\n    "+strings.Join(tuples, ",\n    ")+"\n) as given("+strings.Join(idents, ", ")+")")
		}
		sql, err := ViewOver(tbl, strings.Join(selects, "\nunion all by name\n"))
		if err != nil {
			return "", err
		}
		b.WriteString(sql)
	}
	return b.String(), nil
}
