package plan

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"vitlab/collectors/batchdir"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output in testdata/*.txtar")

// render prints an expansion the way the golden files hold it.
func render(x *Expansion) string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan %s profile %s rq %q: %d configurations × %d repeats = %d runs, merged %d, timeout %s, order seed %d\n",
		x.Plan, x.Profile, x.RQ, x.Configs, x.Repeats, len(x.Runs), x.Merged, x.Timeout, x.OrderSeed)
	for _, r := range x.Runs {
		fmt.Fprintf(&b, "%s repeat=%d model=%s numa=%s %s\n", r.ID, r.Repeat, r.Model, r.NUMA, Describe(r.Settings))
	}
	return b.String()
}

// TestData runs every testdata/*.txtar: a plan.yaml, then one section per
// profile holding the expected expansion or the expected errors; a section
// named "parse" holds the expected parse errors.
func TestData(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var src []byte
			for _, f := range ar.Files {
				if f.Name == "plan.yaml" {
					src = f.Data
				}
			}
			if src == nil {
				t.Fatal("no plan.yaml section")
			}
			changed := false
			pl, perr := Parse("plan.yaml", src)
			for i := range ar.Files {
				f := &ar.Files[i]
				if f.Name == "plan.yaml" {
					continue
				}
				var got string
				switch {
				case f.Name == "parse":
					if perr == nil {
						got = "ok\n"
					} else {
						got = perr.Error() + "\n"
					}
				case perr != nil:
					t.Fatalf("parse: %v", perr)
				default:
					x, err := pl.Expand(f.Name)
					if err != nil {
						got = "error:\n" + err.Error() + "\n"
					} else {
						got = render(x)
					}
				}
				if got != string(f.Data) {
					if *rewrite {
						f.Data = []byte(got)
						changed = true
						continue
					}
					t.Errorf("section %s:\ngot:\n%s\nwant:\n%s", f.Name, got, f.Data)
				}
			}
			if changed {
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestErrorsArePositioned checks the form "file:line:col: message" of every
// parse error, independent of the golden files.
func TestErrorsArePositioned(t *testing.T) {
	src := "name: x\nmatrix:\n  patch: [16]\n  depht: [12]\n  hidden: [100]\n"
	_, err := Parse("p.yaml", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("want ErrorList, got %v", err)
	}
	want := []string{
		`p.yaml:4:3: unknown key "depht" in the plan matrix (did you mean "depth"?)`,
		`p.yaml:5:12: hidden 100: must be a positive multiple of 64 (heads = hidden/64)`,
	}
	if len(list) != len(want) {
		t.Fatalf("got %d errors:\n%v", len(list), err)
	}
	for i, e := range list {
		if e.Error() != want[i] {
			t.Errorf("error %d:\n got %s\nwant %s", i, e, want[i])
		}
	}
}

// TestShippedPlans expands every plan in collectors/plans for each of its
// profiles and checks the rules the study relies on.
func TestShippedPlans(t *testing.T) {
	files, _ := filepath.Glob("../plans/*.yaml")
	// Runs per profile, as collectors/plans/README.md lists them.
	want := map[string]map[string]int{
		"rq1.yaml": {"standard": 60, "quick": 8, "full": 144},
		"rq2.yaml": {"standard": 40, "quick": 8, "full": 36},
		"rq3.yaml": {"standard": 20, "quick": 4, "full": 72},
		"rq4.yaml": {"standard": 30, "quick": 6, "full": 54},
		"rq5.yaml": {"standard": 60, "quick": 8, "full": 108, "pipeline": 18, "pipeline-r3": 54},
	}
	if len(files) != len(want) {
		t.Fatalf("plans: %v", files)
	}
	for _, file := range files {
		pl, err := Load(file)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, prof := range pl.Profiles() {
			x, err := pl.Expand(prof)
			if err != nil {
				t.Errorf("%s profile %s: %v", file, prof, err)
				continue
			}
			if n, ok := want[filepath.Base(file)][prof]; !ok || n != len(x.Runs) {
				t.Errorf("%s profile %s: %d runs, want %d", file, prof, len(x.Runs), n)
			}
			if prof != "quick" && prof != "pipeline" && x.Repeats < MinRepeats { // the one-repeat smoke profiles
				t.Errorf("%s profile %s: %d repeats", file, prof, x.Repeats)
			}
			if prof == "standard" {
				checkStandard(t, filepath.Base(file), x)
			}
			ids := map[string]bool{}
			for _, r := range x.Runs {
				if ids[r.ID] {
					t.Errorf("%s: duplicate run id %s", file, r.ID)
				}
				ids[r.ID] = true
				if !safeID.MatchString(r.ID) || len(r.ID) > 200 {
					t.Errorf("%s: unsafe run id %q", file, r.ID)
				}
				// Every profile measures ≥ 3 clean windows of ≥ 2 s each.
				s := r.Settings
				if s.CleanRepeats == nil || *s.CleanRepeats < 3 || s.MinWindowS == nil || *s.MinWindowS < 2 {
					t.Errorf("%s %s: clean windows %v of %v s", file, r.ID, s.CleanRepeats, s.MinWindowS)
				}
				// RQ5 is about preprocessing: it must decode and resize.
				if r.RQ == "rq5" && (s.SourceResolution == nil || *s.SourceResolution == *s.Resolution) {
					t.Errorf("%s %s: source_resolution must differ from resolution", file, r.ID)
				}
			}
		}
	}
}

// TestReadmeListsSettings checks that collectors/plans/README.md has a row
// for every setting a plan may set (the registry grows; the README must too).
func TestReadmeListsSettings(t *testing.T) {
	b, err := os.ReadFile("../plans/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range settingKeys {
		if !strings.Contains(string(b), "| `"+k+"` |") {
			t.Errorf("collectors/plans/README.md has no row for setting %s", k)
		}
	}
}

// checkStandard holds the campaign profiles to what the claims need (the
// table in collectors/plans/README.md): five independent runs of every
// configuration, three hidden sizes at one patch and depth (C3), a batch
// that does not fall with resolution (C7) and two patch sizes at each
// resolution (C8), every compile mode (C10), every queue depth (C16).
func checkStandard(t *testing.T, file string, x *Expansion) {
	t.Helper()
	if x.Repeats < 5 {
		t.Errorf("%s standard: %d runs a configuration, want >= 5", file, x.Repeats)
	}
	distinct := func(get func(s batchdir.Settings) string) int {
		seen := map[string]bool{}
		for _, r := range x.Runs {
			seen[get(r.Settings)] = true
		}
		return len(seen)
	}
	num := func(p *int) string { return strconv.Itoa(*p) }
	switch file {
	case "rq1.yaml":
		if n := distinct(func(s batchdir.Settings) string { return num(s.Hidden) }); n < 3 {
			t.Errorf("rq1 standard: %d hidden sizes, C3 needs 3", n)
		}
		if n := distinct(func(s batchdir.Settings) string { return num(s.Patch) }); n < 2 {
			t.Errorf("rq1 standard: %d patch sizes, C4 needs 2", n)
		}
		if n := distinct(func(s batchdir.Settings) string { return num(s.Depth) }); n < 2 {
			t.Errorf("rq1 standard: %d depths, C5 needs 2", n)
		}
	case "rq2.yaml":
		if n := distinct(func(s batchdir.Settings) string { return num(s.BatchSize) }); n != 1 {
			t.Errorf("rq2 standard: %d batch sizes; C7 needs one batch at every resolution", n)
		}
		if n := distinct(func(s batchdir.Settings) string { return num(s.Patch) }); n < 2 {
			t.Errorf("rq2 standard: %d patch sizes, C8 needs 2", n)
		}
		if n := distinct(func(s batchdir.Settings) string { return num(s.Resolution) }); n < 4 {
			t.Errorf("rq2 standard: %d resolutions, want 4", n)
		}
	case "rq3.yaml":
		if n := distinct(func(s batchdir.Settings) string { return *s.CompileMode }); n != 4 {
			t.Errorf("rq3 standard: %d compile modes, C9-C11 need all 4", n)
		}
	case "rq5.yaml":
		if n := distinct(func(s batchdir.Settings) string { return num(s.QueueDepth) }); n != 5 {
			t.Errorf("rq5 standard: %d queue depths, C16 needs 1, 2, 4, 8, 16", n)
		}
	}
}
