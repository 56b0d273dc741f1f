package plan

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// FuzzParse checks that no input makes Parse or Expand panic, and that
// every refusal is positioned.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txtar")
	for _, file := range files {
		ar, err := txtar.ParseFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, fl := range ar.Files {
			if fl.Name == "plan.yaml" {
				f.Add(fl.Data)
			}
		}
	}
	plans, _ := filepath.Glob("../plans/*.yaml")
	for _, p := range plans {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pl, err := Parse("f.yaml", data)
		if err != nil {
			if _, ok := err.(ErrorList); !ok {
				t.Fatalf("parse error of type %T: %v", err, err)
			}
			return
		}
		for _, prof := range pl.Profiles() {
			x, err := pl.Expand(prof)
			if err == nil && len(x.Runs) == 0 {
				t.Fatal("an expansion without runs and without an error")
			}
		}
	})
}
