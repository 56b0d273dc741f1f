package warehouse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const (
	keyA = "aaaaaaaaaaaa0123456789abcdef0123456789abcdef0123456789abcdef0000"
	keyB = "bbbbbbbbbbbb0123456789abcdef0123456789abcdef0123456789abcdef0000"
)

// commitBare commits batch id with no tables (content hash from seed).
func commitBare(t *testing.T, wh, id string, seed uint64, replace bool) *Batch {
	t.Helper()
	res, err := CommitBatch(context.Background(), wh, Commit{
		BatchID: id, ContentSHA256: fmt.Sprintf("%064x", seed), Source: "exports", Replace: replace,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Batch
}

// derivedContent is what the dummy "Parquet" file of a derived table holds.
func derivedContent(batch, key, name string) string {
	return "derived " + batch + " " + key + " " + name + "\n"
}

// stageDerived writes one dummy file per name into dir (created) and
// returns them as CommitDerived's files; name i gets i rows.
func stageDerived(t testing.TB, dir, batch, key string, names ...string) map[string]StagedFile {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]StagedFile{}
	for i, n := range names {
		p := filepath.Join(dir, n+"-"+short(key)+".parquet")
		if err := os.WriteFile(p, []byte(derivedContent(batch, key, n)), 0o644); err != nil {
			t.Fatal(err)
		}
		files[n] = StagedFile{Path: p, Rows: int64(i)}
	}
	return files
}

// checkDerived checks that every derived file the manifest lists lies in
// its partition, exists and holds what stageDerived wrote for its batch,
// key and table; unless allowUnlisted, that no file of a derived partition
// directory (of a valid derived table name) is unlisted. It returns the manifest and the unlisted files.
func checkDerived(t testing.TB, wh string, allowUnlisted bool) (*Manifest, []string) {
	t.Helper()
	m, err := ReadManifest(wh)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	listed := map[string]bool{}
	for _, id := range m.BatchIDs() {
		d := m.Batches[id].Derived
		if d == nil {
			continue
		}
		for name, tf := range d.Tables {
			if len(tf.Files) != 1 {
				t.Fatalf("batch %s derived %s: files %v", id, name, tf.Files)
			}
			f := tf.Files[0]
			if listed[f] {
				t.Fatalf("%s listed twice", f)
			}
			listed[f] = true
			base := strings.TrimPrefix(f, derivedPartition(name, id)+"/part-"+short(d.Key))
			if base == f || !strings.HasSuffix(base, ".parquet") {
				t.Fatalf("batch %s derived %s: file %s is not %s/part-<key12>….parquet", id, name, f, derivedPartition(name, id))
			}
			b, err := os.ReadFile(filepath.Join(wh, filepath.FromSlash(f)))
			if err != nil {
				t.Fatalf("batch %s derived %s: %v", id, name, err)
			}
			if want := derivedContent(id, d.Key, name); string(b) != want {
				t.Fatalf("%s holds %q, want %q", f, b, want)
			}
		}
	}
	found, err := filepath.Glob(filepath.Join(wh, DerivedDir, "*", "batch_id=*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	for _, p := range found {
		if r := rel(wh, p); !listed[r] && validDerivedName.MatchString(strings.Split(r, "/")[1]) {
			extra = append(extra, r)
		}
	}
	sort.Strings(extra)
	if !allowUnlisted && len(extra) > 0 {
		t.Fatalf("derived files not in the manifest: %v", extra)
	}
	return m, extra
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func TestCommitDerived(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	commitBare(t, wh, "b1", 1, false)
	commitBare(t, wh, "b2", 2, false)

	files := stageDerived(t, filepath.Join(wh, "tmp"), "b1", keyA, "empty", "x", "y")
	if err := CommitDerived(ctx, wh, "b1", 1, keyA, files); err != nil {
		t.Fatal(err)
	}
	m, _ := checkDerived(t, wh, false)
	d := m.Batches["b1"].Derived
	want := &Derived{Key: keyA, Tables: map[string]TableFiles{
		"empty": {Files: []string{"_derived/empty/batch_id=b1/part-aaaaaaaaaaaa.parquet"}, Rows: 0},
		"x":     {Files: []string{"_derived/x/batch_id=b1/part-aaaaaaaaaaaa.parquet"}, Rows: 1},
		"y":     {Files: []string{"_derived/y/batch_id=b1/part-aaaaaaaaaaaa.parquet"}, Rows: 2},
	}}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("derived %+v, want %+v", d, want)
	}
	for _, sf := range files {
		if exists(sf.Path) {
			t.Fatalf("staged %s still there", sf.Path)
		}
	}
	if m.Batches["b2"].Derived != nil {
		t.Fatal("b2 got a derivation")
	}
	got, missing := m.DerivedFiles("x", keyA)
	if !slices.Equal(got, want.Tables["x"].Files) || !slices.Equal(missing, []string{"b2"}) {
		t.Fatalf("DerivedFiles: %v, missing %v", got, missing)
	}
	// The schema tables are untouched, and recovery keeps every listed file.
	checkWarehouse(t, wh, false)
	rec, err := Recover(ctx, wh)
	if err != nil || len(rec.RemovedFiles) != 0 {
		t.Fatalf("recovery removed %v: %v", rec.RemovedFiles, err)
	}
	checkDerived(t, wh, false)

	// b2 too, then b1 again with another key and without y: b1's old
	// files and y's directories go, b2's stay.
	if err := CommitDerived(ctx, wh, "b2", 1, keyA, stageDerived(t, filepath.Join(wh, "tmp"), "b2", keyA, "x")); err != nil {
		t.Fatal(err)
	}
	if err := CommitDerived(ctx, wh, "b1", 1, keyB, stageDerived(t, filepath.Join(wh, "tmp"), "b1", keyB, "x", "z")); err != nil {
		t.Fatal(err)
	}
	m, _ = checkDerived(t, wh, false)
	if d := m.Batches["b1"].Derived; d.Key != keyB || len(d.Tables) != 2 ||
		d.Tables["x"].Files[0] != "_derived/x/batch_id=b1/part-bbbbbbbbbbbb.parquet" {
		t.Fatalf("b1 derived %+v", d)
	}
	for _, gone := range []string{"_derived/x/batch_id=b1/part-aaaaaaaaaaaa.parquet", "_derived/y", "_derived/empty"} {
		if exists(filepath.Join(wh, gone)) {
			t.Fatalf("%s left after the re-derivation", gone)
		}
	}
	if got, missing := m.DerivedFiles("x", keyA); !slices.Equal(got, []string{"_derived/x/batch_id=b2/part-aaaaaaaaaaaa.parquet"}) || !slices.Equal(missing, []string{"b1"}) {
		t.Fatalf("DerivedFiles(x, A): %v, missing %v", got, missing)
	}
	if got, missing := m.DerivedFiles("z", keyB); !slices.Equal(got, []string{"_derived/z/batch_id=b1/part-bbbbbbbbbbbb.parquet"}) || !slices.Equal(missing, []string{"b2"}) {
		t.Fatalf("DerivedFiles(z, B): %v, missing %v", got, missing)
	}
}

// TestCommitDerivedSameKey derives a batch again with the same key: the
// listed file is never overwritten before the commit point, the new one
// takes another name, and the names alternate instead of growing.
func TestCommitDerivedSameKey(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	commitBare(t, wh, "b1", 1, false)
	var names []string
	for i := range 3 {
		files := stageDerived(t, filepath.Join(wh, "tmp"), "b1", keyA, "x")
		if err := CommitDerived(ctx, wh, "b1", 1, keyA, files); err != nil {
			t.Fatalf("derivation %d: %v", i, err)
		}
		m, _ := checkDerived(t, wh, false)
		names = append(names, m.Batches["b1"].Derived.Tables["x"].Files...)
	}
	want := []string{
		"_derived/x/batch_id=b1/part-aaaaaaaaaaaa.parquet",
		"_derived/x/batch_id=b1/part-aaaaaaaaaaaa-2.parquet",
		"_derived/x/batch_id=b1/part-aaaaaaaaaaaa.parquet",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
}

func TestCommitDerivedRefused(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	commitBare(t, wh, "b1", 1, false)
	if err := CommitDerived(ctx, wh, "b1", 1, keyA, stageDerived(t, filepath.Join(wh, "tmp"), "b1", keyA, "x")); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(wh, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	tree := modTimes(t, filepath.Join(wh, DerivedDir))

	tmp := filepath.Join(wh, "tmp")
	good := stageDerived(t, tmp, "b1", keyB, "x")
	for _, c := range []struct {
		name  string
		batch string
		gen   int
		key   string
		files map[string]StagedFile
		gone  bool // ErrBatchGone
	}{
		{"unknown batch", "nope", 1, keyB, good, true},
		{"older generation", "b1", 0, keyB, good, true},
		{"newer generation", "b1", 2, keyB, good, true},
		{"bad batch id", "../b1", 1, keyB, good, false},
		{"empty key", "b1", 1, "", good, false},
		{"key with a slash", "b1", 1, "ab/cd", good, false},
		{"upper-case name", "b1", 1, keyB, map[string]StagedFile{"X": good["x"]}, false},
		{"name with a slash", "b1", 1, keyB, map[string]StagedFile{"x/y": good["x"]}, false},
		{"empty name", "b1", 1, keyB, map[string]StagedFile{"": good["x"]}, false},
		{"missing file", "b1", 1, keyB, map[string]StagedFile{"x": {Path: filepath.Join(tmp, "none.parquet")}}, false},
		{"one file twice", "b1", 1, keyB, map[string]StagedFile{"x": good["x"], "y": good["x"]}, false},
		{"staged in a derived partition", "b1", 1, keyB,
			map[string]StagedFile{"y": {Path: filepath.Join(wh, "_derived/x/batch_id=b1/part-aaaaaaaaaaaa.parquet")}}, false},
		{"a directory", "b1", 1, keyB, map[string]StagedFile{"x": {Path: tmp}}, false},
	} {
		err := CommitDerived(ctx, wh, c.batch, c.gen, c.key, c.files)
		if err == nil {
			t.Fatalf("%s: committed", c.name)
		}
		if errors.Is(err, ErrBatchGone) != c.gone {
			t.Fatalf("%s: %v (ErrBatchGone %v)", c.name, err, c.gone)
		}
		t.Logf("%s: %v", c.name, err)
		after, err := os.ReadFile(filepath.Join(wh, ManifestName))
		if err != nil || !bytes.Equal(before, after) {
			t.Fatalf("%s: the manifest changed (%v)", c.name, err)
		}
		if got := modTimes(t, filepath.Join(wh, DerivedDir)); !reflect.DeepEqual(got, tree) {
			t.Fatalf("%s: %s changed: %v, was %v", c.name, DerivedDir, got, tree)
		}
		if !exists(good["x"].Path) {
			t.Fatalf("%s: the staged file is gone", c.name)
		}
	}
	checkDerived(t, wh, false)
}

// TestCommitDerivedMoveFails makes the second rename fail: the first moved
// file goes back to its staged path and nothing changes.
func TestCommitDerivedMoveFails(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	commitBare(t, wh, "b1", 1, false)
	files := stageDerived(t, filepath.Join(wh, "tmp"), "b1", keyA, "a", "b")
	// b's partition directory is taken by a file: its mkdir fails.
	if err := os.MkdirAll(filepath.Join(wh, "_derived/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wh, "_derived/b/batch_id=b1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CommitDerived(ctx, wh, "b1", 1, keyA, files); err == nil {
		t.Fatal("committed")
	}
	if m, _ := ReadManifest(wh); m.Batches["b1"].Derived != nil {
		t.Fatal("derivation recorded")
	}
	for _, sf := range files {
		if !exists(sf.Path) {
			t.Fatalf("staged %s is gone", sf.Path)
		}
	}
	if exists(filepath.Join(wh, "_derived/a/batch_id=b1/part-aaaaaaaaaaaa.parquet")) {
		t.Fatal("moved file left")
	}
}

func TestDerivedFilesMissing(t *testing.T) {
	m := &Manifest{Batches: map[string]*Batch{
		"b1": {ID: "b1", Derived: &Derived{Key: keyA, Tables: map[string]TableFiles{
			"x": {Files: []string{"_derived/x/batch_id=b1/part-aaaaaaaaaaaa.parquet"}},
		}}},
		"b2": {ID: "b2", Derived: &Derived{Key: keyB, Tables: map[string]TableFiles{
			"x": {Files: []string{"_derived/x/batch_id=b2/part-bbbbbbbbbbbb.parquet"}},
		}}},
		"b3": {ID: "b3"},
		"b4": {ID: "b4", Derived: &Derived{Key: keyA, Tables: map[string]TableFiles{
			"y": {Files: []string{"_derived/y/batch_id=b4/part-aaaaaaaaaaaa.parquet"}},
		}}},
		"b5": {ID: "b5", Derived: &Derived{Key: keyA, Tables: map[string]TableFiles{
			"x": {Files: []string{"_derived/x/batch_id=b5/part-aaaaaaaaaaaa.parquet"}, Rows: 0},
		}}},
	}}
	files, missing := m.DerivedFiles("x", keyA)
	if want := []string{"_derived/x/batch_id=b1/part-aaaaaaaaaaaa.parquet", "_derived/x/batch_id=b5/part-aaaaaaaaaaaa.parquet"}; !slices.Equal(files, want) {
		t.Fatalf("files %v, want %v", files, want)
	}
	if want := []string{"b2", "b3", "b4"}; !slices.Equal(missing, want) {
		t.Fatalf("missing %v, want %v", missing, want)
	}
	files, missing = (&Manifest{Batches: map[string]*Batch{}}).DerivedFiles("x", keyA)
	if files != nil || missing != nil {
		t.Fatalf("empty manifest: %v, %v", files, missing)
	}
}

// TestReplaceDropsDerived: a new generation of a batch has no derivation,
// the old one's files go, and a derivation of the old generation is
// refused.
func TestReplaceDropsDerived(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	commitBare(t, wh, "b1", 1, false)
	commitBare(t, wh, "b2", 2, false)
	for _, id := range []string{"b1", "b2"} {
		if err := CommitDerived(ctx, wh, id, 1, keyA, stageDerived(t, filepath.Join(wh, "tmp"), id, keyA, "x")); err != nil {
			t.Fatal(err)
		}
	}
	// Same content: Unchanged keeps the derivation.
	if b := commitBare(t, wh, "b1", 1, false); b.Derived == nil || b.Derived.Key != keyA {
		t.Fatalf("unchanged batch lost its derivation: %+v", b.Derived)
	}
	staged := stageDerived(t, filepath.Join(wh, "tmp"), "b1", keyB, "x")
	nb := commitBare(t, wh, "b1", 3, true)
	if nb.Generation != 2 || nb.Derived != nil {
		t.Fatalf("replacement: generation %d, derived %+v", nb.Generation, nb.Derived)
	}
	m, _ := checkDerived(t, wh, false)
	if m.Batches["b1"].Derived != nil || m.Batches["b2"].Derived == nil {
		t.Fatalf("after the replace: b1 %+v, b2 %+v", m.Batches["b1"].Derived, m.Batches["b2"].Derived)
	}
	if exists(filepath.Join(wh, "_derived/x/batch_id=b1")) {
		t.Fatal("the replaced generation's derived files are left")
	}
	// A derivation computed from generation 1 finishes late: refused.
	if err := CommitDerived(ctx, wh, "b1", 1, keyB, staged); !errors.Is(err, ErrBatchGone) {
		t.Fatalf("stale derivation: %v", err)
	}
	if err := CommitDerived(ctx, wh, "b1", 2, keyB, staged); err != nil {
		t.Fatal(err)
	}
	m, _ = checkDerived(t, wh, false)
	if files, missing := m.DerivedFiles("x", keyB); len(files) != 1 || !slices.Equal(missing, []string{"b2"}) {
		t.Fatalf("DerivedFiles: %v, missing %v", files, missing)
	}
}

// TestRecoverDerived: recovery removes unlisted files of derived partition
// directories (of committed batches and of ids no longer committed) and
// the directories left empty, keeps the listed ones, and leaves alone what
// is not in a derived partition directory.
func TestRecoverDerived(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	commitBare(t, wh, "b1", 1, false)
	if err := CommitDerived(ctx, wh, "b1", 1, keyA, stageDerived(t, filepath.Join(wh, "tmp"), "b1", keyA, "x")); err != nil {
		t.Fatal(err)
	}
	write := func(r string) {
		p := filepath.Join(wh, filepath.FromSlash(r))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	orphans := []string{
		"_derived/x/batch_id=b1/part-bbbbbbbbbbbb.parquet",
		"_derived/x/batch_id=b1/sub",
		"_derived/x/batch_id=gone/part-aaaaaaaaaaaa.parquet",
		"_derived/y/batch_id=b1/part-aaaaaaaaaaaa.parquet",
	}
	for _, r := range orphans {
		write(r)
	}
	// A directory in a partition directory is removed whole.
	if err := os.MkdirAll(filepath.Join(wh, "_derived/x/batch_id=b1/dir/deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	orphans = append(orphans, "_derived/x/batch_id=b1/dir")
	kept := []string{"_derived/README", "_derived/x/notes.txt", "_derived/Odd/batch_id=b1/f", "_derived/x/other/f", "tmp/f"}
	for _, r := range kept {
		write(r)
	}

	rec, err := Recover(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(orphans)
	if !slices.Equal(rec.RemovedFiles, orphans) {
		t.Fatalf("removed %v, want %v", rec.RemovedFiles, orphans)
	}
	checkDerived(t, wh, false)
	for _, r := range kept {
		if !exists(filepath.Join(wh, r)) {
			t.Fatalf("%s removed", r)
		}
	}
	for _, r := range []string{"_derived/x/batch_id=gone", "_derived/y"} {
		if exists(filepath.Join(wh, r)) {
			t.Fatalf("empty %s left", r)
		}
	}
	// Nothing left to do.
	if rec, err := Recover(ctx, wh); err != nil || len(rec.RemovedFiles) != 0 {
		t.Fatalf("second recovery: %v, %v", rec.RemovedFiles, err)
	}
}

// Environment of TestDerivedCrashHelper.
const (
	helperDerivedKey   = "VITLAB_TEST_HELPER_DERIVED_KEY"
	helperDerivedNames = "VITLAB_TEST_HELPER_DERIVED_NAMES"
)

// TestDerivedCrashHelper is not a test: run by TestCommitDerivedKilledAtEveryStep
// in a subprocess, it stages derived tables of batch b1 in a Staging
// directory and commits them (and may be killed by CrashPoint on the way).
func TestDerivedCrashHelper(t *testing.T) {
	wh := os.Getenv(helperWH)
	if wh == "" || os.Getenv(helperDerivedKey) == "" {
		t.Skip("subprocess helper")
	}
	ctx := context.Background()
	s, err := NewStaging(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key := os.Getenv(helperDerivedKey)
	files := stageDerived(t, filepath.Join(s.Dir(), "derived"), "b1", key, strings.Split(os.Getenv(helperDerivedNames), ",")...)
	if err := CommitDerived(ctx, wh, "b1", 1, key, files); err != nil {
		t.Fatal(err)
	}
}

// runDerivedHelper runs TestDerivedCrashHelper killed at step killAt (0:
// never) and reports whether it was killed, and the last step it printed.
func runDerivedHelper(t *testing.T, wh, key, names string, killAt int) (killed bool, out string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDerivedCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperWH+"="+wh, helperDerivedKey+"="+key,
		helperDerivedNames+"="+names, CrashEnv+"="+strconv.Itoa(killAt))
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			out := strings.TrimSpace(string(b))
			return true, out[strings.LastIndex(out, "\n")+1:]
		}
	}
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, b)
	}
	return false, string(b)
}

// TestCommitDerivedKilledAtEveryStep kills a CommitDerived of batch b1,
// which has a derivation of key A, at every step, for a derivation of key
// B and one of key A again, and checks after each kill: the manifest
// parses, every listed derived file holds its content, b1's derivation is
// all old (before the commit point) or all new (after it); Recover then
// removes every unlisted file and keeps the listed ones, and a rerun lands.
func TestCommitDerivedKilledAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	ctx := context.Background()
	base := filepath.Join(t.TempDir(), "base")
	commitBare(t, base, "b1", 1, false)
	commitBare(t, base, "b2", 2, false)
	for _, id := range []string{"b1", "b2"} {
		if err := CommitDerived(ctx, base, id, 1, keyA, stageDerived(t, filepath.Join(base, "tmp"), id, keyA, "x", "y")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(base, "tmp")); err != nil {
		t.Fatal(err)
	}
	baseline, _ := checkDerived(t, base, false)

	for _, sc := range []struct {
		name string
		key  string
	}{
		{"another key", keyB},
		{"same key", keyA},
	} {
		t.Run(sc.name, func(t *testing.T) {
			sawOld, sawNew := false, false
			for n := 1; ; n++ {
				wh := filepath.Join(t.TempDir(), "wh")
				copyDir(t, base, wh)
				// x replaces a table, z is new, y is dropped.
				killed, step := runDerivedHelper(t, wh, sc.key, "x,z", n)
				if !killed {
					if n < 10 {
						t.Fatalf("only %d steps before the commit finished:\n%s", n-1, step)
					}
					t.Logf("%d steps, killed at each", n-1)
					break
				}
				m, extra := checkDerived(t, wh, true)
				if !reflect.DeepEqual(m.Batches["b2"], baseline.Batches["b2"]) {
					t.Fatalf("%s: b2 changed", step)
				}
				d := m.Batches["b1"].Derived
				switch {
				case reflect.DeepEqual(d, baseline.Batches["b1"].Derived):
					sawOld = true
					if strings.Contains(step, "derived: write manifest") && len(extra) == 0 {
						t.Fatalf("%s: no orphan before the commit point", step)
					}
				case d != nil && d.Key == sc.key && len(d.Tables) == 2 && d.Tables["z"].Files != nil && d.Tables["x"].Rows == 0:
					sawNew = true
				default:
					t.Fatalf("%s: b1's derivation is neither the old nor the new one: %+v", step, d)
				}
				if strings.Contains(step, "derived: committed") && d.Tables["z"].Files == nil {
					t.Fatalf("%s: the new derivation is not there", step)
				}

				rec, err := Recover(ctx, wh)
				if err != nil {
					t.Fatalf("%s: recovery: %v", step, err)
				}
				if m2, _ := checkDerived(t, wh, false); !reflect.DeepEqual(m2, m) {
					t.Fatalf("%s: recovery changed the manifest", step)
				}
				for _, e := range extra {
					if !slices.Contains(rec.RemovedFiles, e) {
						t.Fatalf("%s: recovery did not report %s: %v", step, e, rec.RemovedFiles)
					}
				}
				if left, _ := os.ReadDir(filepath.Join(wh, StagingDir)); len(left) != 0 {
					t.Fatalf("%s: staging holds %v after recovery", step, left)
				}

				// A rerun lands.
				if killed, out := runDerivedHelper(t, wh, sc.key, "x,z", 0); killed {
					t.Fatalf("rerun killed: %s", out)
				}
				m, _ = checkDerived(t, wh, false)
				if d := m.Batches["b1"].Derived; d.Key != sc.key || len(d.Tables) != 2 {
					t.Fatalf("after %s and a rerun: %+v", step, d)
				}
				if exists(filepath.Join(wh, "_derived/y/batch_id=b1")) {
					t.Fatalf("after %s and a rerun: the dropped table's directory is left", step)
				}
			}
			if !sawOld || !sawNew {
				t.Fatalf("old derivation seen %v, new one %v", sawOld, sawNew)
			}
		})
	}
}
