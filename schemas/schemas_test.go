package schemas

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite golden files and SCHEMA.md")

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *rewrite {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v (run go test ./schemas -rewrite)", path, err)
	}
	if string(want) != got {
		t.Errorf("%s is out of date: run `make schemas` and review the diff", path)
	}
}

func TestGolden(t *testing.T) {
	for _, tb := range All() {
		checkGolden(t, filepath.Join("testdata", tb.Name+".schema"), tb.Golden())
	}
	checkGolden(t, "SCHEMA.md", Markdown())
}

func TestTables(t *testing.T) {
	for _, tb := range All() {
		if tb.Schema().NumFields() != len(tb.Columns) {
			t.Errorf("%s: schema has %d fields, %d columns", tb.Name, tb.Schema().NumFields(), len(tb.Columns))
		}
		if v, ok := tb.Schema().Metadata().GetValue(MetaTable); !ok || v != tb.Name {
			t.Errorf("%s: metadata table = %q", tb.Name, v)
		}
		if tb.Index("batch_id") != 0 {
			t.Errorf("%s: batch_id must be the first column", tb.Name)
		}
		if tb.Name != "batches" && tb.Index("run_id") != 1 {
			t.Errorf("%s: run_id must be the second column", tb.Name)
		}
		for _, c := range tb.Columns {
			if c.Doc == "" || c.Since < 1 || c.Since > Version {
				t.Errorf("%s.%s: missing doc or bad since %d", tb.Name, c.Name, c.Since)
			}
		}
		if got, ok := ByName(tb.Name); !ok || got != tb {
			t.Errorf("ByName(%s) failed", tb.Name)
		}
	}
	if _, ok := ByName("nope"); ok {
		t.Error("ByName(nope) found a table")
	}
}

func TestEnums(t *testing.T) {
	cases := map[int64]string{1: "HtoD", 2: "DtoH", 8: "DtoD", 11: "UVM_HtoD", 99: "Kind99"}
	for id, want := range cases {
		if got := CopyKind(id); got != want {
			t.Errorf("CopyKind(%d) = %q, want %q", id, got, want)
		}
	}
	if MemKind(0) != "pageable" || MemKind(1) != "pinned" || MemKind(7) != "unknown" || MemKind(-3) != "kind-3" {
		t.Error("MemKind mapping wrong")
	}
	if NVTXStyle(59) != "PushPop" || NVTXStyle(60) != "StartEnd" || NVTXStyle(75) != "DomainCreate" || NVTXStyle(12) != "Other" {
		t.Error("NVTXStyle mapping wrong")
	}
}
