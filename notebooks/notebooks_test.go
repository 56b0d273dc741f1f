package notebooks

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"vitlab/queries"
	"vitlab/schemas"
)

// uses is what check_notebooks.py reports for one notebook.
type uses struct {
	Findings map[string][]string `json:"findings"`
	Tables   map[string][]string `json:"tables"`
	Queries  []string            `json:"queries"`
}

// checked runs check_notebooks.py over every notebook and returns its
// report, failing the test on any problem it found.
func checked(t *testing.T) map[string]uses {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed to check the notebooks (make deps installs it)")
	}
	// Debian's python3-nbformat lands in the system interpreter, which may
	// not be the first python3 on the PATH (pyenv, venvs).
	for _, p := range []string{py, "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import nbformat").Run() == nil {
			py = p
			break
		}
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(py, "check_notebooks.py")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var out struct {
		NBFormat  *string         `json:"nbformat"`
		Problems  []string        `json:"problems"`
		Notebooks map[string]uses `json:"notebooks"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("check_notebooks.py: %v (%v)\n%s", err, runErr, stderr.String())
	}
	for _, p := range out.Problems {
		t.Error(p)
	}
	if out.NBFormat == nil {
		t.Log("nbformat is not installed (apt-get install python3-nbformat, or make deps): structure checked against the format-4 shape only")
	} else {
		t.Logf("structure validated with nbformat %s", *out.NBFormat)
	}
	want := []string{"explore_run.ipynb", "rq1_architecture.ipynb", "rq2_resolution.ipynb", "rq3_compile.ipynb", "rq4_numa.ipynb", "rq5_pipeline.ipynb"}
	for _, name := range want {
		if _, ok := out.Notebooks[name]; !ok {
			t.Errorf("notebook %s is missing", name)
		}
	}
	return out.Notebooks
}

// TestNotebooksReadTheCurrentSchema checks that every warehouse table and
// column a notebook reads exists in schemas.All().
func TestNotebooksReadTheCurrentSchema(t *testing.T) {
	for nb, u := range checked(t) {
		for table, cols := range u.Tables {
			tbl, ok := schemas.ByName(table)
			if !ok {
				t.Errorf("%s reads table %s, which the schema does not have", nb, table)
				continue
			}
			for _, c := range cols {
				if tbl.Index(c) < 0 {
					t.Errorf("%s reads %s.%s, which the schema (version %d) does not have", nb, table, c, schemas.Version)
				}
			}
		}
	}
}

// TestNotebooksReadTheReport checks that every finding a notebook reads is
// one that `vitlab report` writes to findings/<name>.parquet (a query of
// queries/findings/ or claims) and has every column the notebook reads, and
// that every saved query a notebook runs exists. Each query's columns come
// from running it on an empty warehouse (a query's columns do not depend on
// the data).
func TestNotebooksReadTheReport(t *testing.T) {
	used := checked(t)
	files, err := filepath.Glob("../queries/findings/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	findings := []string{"claims"}
	for _, f := range files {
		findings = append(findings, strings.TrimSuffix(filepath.Base(f), ".sql"))
	}

	ctx := context.Background()
	w, err := queries.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	columns := map[string][]string{}
	columnsOf := func(name string) ([]string, bool) {
		if cols, ok := columns[name]; ok {
			return cols, true
		}
		q, ok := w.Catalog().Query(name)
		if !ok {
			return nil, false
		}
		res, err := w.Run(ctx, q, nil)
		if err != nil {
			t.Fatalf("saved query %s on an empty warehouse: %v", name, err)
		}
		var cols []string
		for _, c := range res.Columns {
			cols = append(cols, c.Name)
		}
		columns[name] = cols
		return cols, true
	}

	for nb, u := range used {
		for name, cols := range u.Findings {
			if !slices.Contains(findings, name) {
				t.Errorf("%s reads finding %s: no queries/findings/%s.sql (findings: %v)", nb, name, name, findings)
				continue
			}
			have, ok := columnsOf(name)
			if !ok {
				t.Errorf("%s reads finding %s, which the query catalog does not have", nb, name)
				continue
			}
			for _, c := range cols {
				if !slices.Contains(have, c) {
					t.Errorf("%s reads column %s of finding %s, which has %v", nb, c, name, have)
				}
			}
		}
		for _, name := range u.Queries {
			if _, ok := columnsOf(name); !ok {
				t.Errorf("%s runs saved query %s, which the query catalog does not have", nb, name)
			}
		}
	}
}
