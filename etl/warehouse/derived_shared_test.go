package warehouse

import (
	"bytes"
	"context"
	"errors"
	"maps"
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

// sharedContent is what the dummy "Parquet" file of a shared derived table holds.
func sharedContent(ids []string, key, name string) string {
	return "shared " + key + " " + name + " " + strings.Join(ids, ",") + "\n"
}

// stageShared writes one dummy shared file per name into dir (created) and
// returns CommitDerivedShared's batches (all of generation gen), files and
// rows (batch i, table j: 10*i+j rows).
func stageShared(t testing.TB, dir string, ids []string, gen int, key string, names ...string) (map[string]int, map[string]StagedFile, map[string]map[string]int64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	batches := map[string]int{}
	rows := map[string]map[string]int64{}
	for i, id := range ids {
		batches[id] = gen
		rows[id] = map[string]int64{}
		for j, n := range names {
			rows[id][n] = int64(10*i + j)
		}
	}
	files := map[string]StagedFile{}
	for _, n := range names {
		p := filepath.Join(dir, n+"-shared-"+short(key)+".parquet")
		if err := os.WriteFile(p, []byte(sharedContent(ids, key, n)), 0o644); err != nil {
			t.Fatal(err)
		}
		files[n] = StagedFile{Path: p}
	}
	return batches, files, rows
}

// checkAllDerived checks that every derived file the manifest lists
// exists and holds what stageDerived (per batch, in its partition) or
// stageShared (in shared/, naming the batch) wrote for its key and table;
// unless allowUnlisted, that no file of a partition or shared directory
// is unlisted. It returns the manifest and the unlisted files.
func checkAllDerived(t testing.TB, wh string, allowUnlisted bool) (*Manifest, []string) {
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
			listed[f] = true
			b, err := os.ReadFile(filepath.Join(wh, filepath.FromSlash(f)))
			if err != nil {
				t.Fatalf("batch %s derived %s: %v", id, name, err)
			}
			switch dir := filepath.ToSlash(filepath.Dir(f)); dir {
			case derivedPartition(name, id):
				if want := derivedContent(id, d.Key, name); string(b) != want {
					t.Fatalf("%s holds %q, want %q", f, b, want)
				}
			case DerivedDir + "/" + name + "/" + SharedDir:
				fields := strings.Fields(string(b))
				if len(fields) != 4 || fields[0] != "shared" || fields[1] != d.Key || fields[2] != name ||
					!slices.Contains(strings.Split(fields[3], ","), id) {
					t.Fatalf("%s (listed by %s, key %s) holds %q", f, id, short(d.Key), b)
				}
			default:
				t.Fatalf("batch %s derived %s: file %s in %s", id, name, f, dir)
			}
		}
	}
	var extra []string
	for _, pat := range []string{"batch_id=*", SharedDir} {
		found, err := filepath.Glob(filepath.Join(wh, DerivedDir, "*", pat, "*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range found {
			if r := rel(wh, p); !listed[r] && validDerivedName.MatchString(strings.Split(r, "/")[1]) {
				extra = append(extra, r)
			}
		}
	}
	sort.Strings(extra)
	if !allowUnlisted && len(extra) > 0 {
		t.Fatalf("derived files not in the manifest: %v", extra)
	}
	return m, extra
}

func TestCommitDerivedShared(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	for i, id := range []string{"b1", "b2", "b3", "b4"} {
		commitBare(t, wh, id, uint64(i+1), false)
	}
	three := []string{"b1", "b2", "b3"}
	// b1 had a derivation of its own: the shared one replaces it.
	if err := CommitDerived(ctx, wh, "b1", 1, keyA, stageDerived(t, filepath.Join(wh, "tmp"), "b1", keyA, "x", "old")); err != nil {
		t.Fatal(err)
	}
	batches, files, rows := stageShared(t, filepath.Join(wh, "tmp"), three, 1, keyA, "x", "y")
	if err := CommitDerivedShared(ctx, wh, batches, keyA, files, rows); err != nil {
		t.Fatal(err)
	}
	for _, sf := range files {
		if exists(sf.Path) {
			t.Fatalf("staged %s still there", sf.Path)
		}
	}
	m, _ := checkAllDerived(t, wh, false)
	sx, sy := "_derived/x/shared/part-aaaaaaaaaaaa-1.parquet", "_derived/y/shared/part-aaaaaaaaaaaa-1.parquet"
	for i, id := range three {
		want := &Derived{Key: keyA, Tables: map[string]TableFiles{
			"x": {Files: []string{sx}, Rows: int64(10 * i)},
			"y": {Files: []string{sy}, Rows: int64(10*i + 1)},
		}}
		if d := m.Batches[id].Derived; !reflect.DeepEqual(d, want) {
			t.Fatalf("%s: derived %+v, want %+v", id, d, want)
		}
	}
	if m.Batches["b4"].Derived != nil {
		t.Fatal("b4 got a derivation")
	}
	for _, r := range []string{"_derived/x/batch_id=b1", "_derived/old"} {
		if exists(filepath.Join(wh, r)) {
			t.Fatalf("b1's earlier derivation %s is left", r)
		}
	}
	if got, missing := m.DerivedFiles("x", keyA); !slices.Equal(got, []string{sx}) || !slices.Equal(missing, []string{"b4"}) {
		t.Fatalf("DerivedFiles: %v, missing %v", got, missing)
	}
	srcs, missing := m.DerivedSources("x", keyA)
	if want := []DerivedSource{{sx, three}}; !reflect.DeepEqual(srcs, want) || !slices.Equal(missing, []string{"b4"}) {
		t.Fatalf("DerivedSources: %+v, missing %v", srcs, missing)
	}

	// b2 derived again alone: the shared file stays (b1 and b3 list it).
	if err := CommitDerived(ctx, wh, "b2", 1, keyA, stageDerived(t, filepath.Join(wh, "tmp"), "b2", keyA, "x", "y")); err != nil {
		t.Fatal(err)
	}
	m, _ = checkAllDerived(t, wh, false)
	srcs, _ = m.DerivedSources("x", keyA)
	if want := []DerivedSource{{sx, []string{"b1", "b3"}}, {"_derived/x/batch_id=b2/part-aaaaaaaaaaaa.parquet", []string{"b2"}}}; !reflect.DeepEqual(srcs, want) {
		t.Fatalf("DerivedSources after b2 alone: %+v", srcs)
	}
	if got, _ := m.DerivedFiles("x", keyA); len(got) != 2 {
		t.Fatalf("DerivedFiles after b2 alone: %v", got)
	}
	// Recovery keeps every listed file, shared or not.
	if rec, err := Recover(ctx, wh); err != nil || len(rec.RemovedFiles) != 0 {
		t.Fatalf("recovery: %v, %v", rec.RemovedFiles, err)
	}

	// All three derived again with another key: the old shared files and
	// b2's own go.
	batches, files, rows = stageShared(t, filepath.Join(wh, "tmp"), three, 1, keyB, "x", "y")
	if err := CommitDerivedShared(ctx, wh, batches, keyB, files, rows); err != nil {
		t.Fatal(err)
	}
	m, _ = checkAllDerived(t, wh, false)
	for _, r := range []string{sx, sy, "_derived/x/batch_id=b2", "_derived/y/batch_id=b2"} {
		if exists(filepath.Join(wh, r)) {
			t.Fatalf("%s is left", r)
		}
	}
	nx := "_derived/x/shared/part-bbbbbbbbbbbb-1.parquet"
	if srcs, missing := m.DerivedSources("x", keyB); !reflect.DeepEqual(srcs, []DerivedSource{{nx, three}}) || !slices.Equal(missing, []string{"b4"}) {
		t.Fatalf("DerivedSources with key B: %+v, missing %v", srcs, missing)
	}
	if _, missing := m.DerivedSources("x", keyA); !slices.Equal(missing, m.BatchIDs()) {
		t.Fatalf("key A: missing %v", missing)
	}

	// Same key again: a new number, the old file goes.
	batches, files, rows = stageShared(t, filepath.Join(wh, "tmp"), three, 1, keyB, "x")
	if err := CommitDerivedShared(ctx, wh, batches, keyB, files, rows); err != nil {
		t.Fatal(err)
	}
	m, _ = checkAllDerived(t, wh, false)
	if got, _ := m.DerivedFiles("x", keyB); !slices.Equal(got, []string{"_derived/x/shared/part-bbbbbbbbbbbb-2.parquet"}) || exists(filepath.Join(wh, nx)) {
		t.Fatalf("same key again: %v", got)
	}
	if exists(filepath.Join(wh, "_derived/y")) {
		t.Fatal("the dropped table y is left")
	}
	nx = "_derived/x/shared/part-bbbbbbbbbbbb-2.parquet"

	// Replaces drop the derivation; the shared file stays while a batch lists it.
	commitBare(t, wh, "b1", 11, true)
	commitBare(t, wh, "b2", 12, true)
	m, _ = checkAllDerived(t, wh, false)
	if srcs, _ := m.DerivedSources("x", keyB); !reflect.DeepEqual(srcs, []DerivedSource{{nx, []string{"b3"}}}) {
		t.Fatalf("after replacing b1 and b2: %+v", srcs)
	}
	commitBare(t, wh, "b3", 13, true)
	checkAllDerived(t, wh, false)
	if exists(filepath.Join(wh, "_derived/x")) {
		t.Fatal("the shared file outlived every batch listing it")
	}
}

// TestCommitDerivedSharedRefused: a batch not committed or of another
// generation refuses the whole commit, changing nothing.
func TestCommitDerivedSharedRefused(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	commitBare(t, wh, "b1", 1, false)
	commitBare(t, wh, "b2", 2, false)
	commitBare(t, wh, "b2", 3, true) // generation 2
	batches, files, rows := stageShared(t, filepath.Join(wh, "tmp"), []string{"b1", "b2"}, 1, keyA, "x")
	batches["b2"] = 2
	if err := CommitDerivedShared(ctx, wh, batches, keyA, files, rows); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(wh, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range []struct {
		name string
		gens map[string]int
	}{
		{"another generation", map[string]int{"b1": 1, "b2": 1}},
		{"not committed", map[string]int{"b1": 1, "b2": 2, "b9": 1}},
	} {
		_, files, rows := stageShared(t, filepath.Join(wh, "tmp2"), slices.Sorted(maps.Keys(sc.gens)), 1, keyB, "x", "z")
		err := CommitDerivedShared(ctx, wh, sc.gens, keyB, files, rows)
		if !errors.Is(err, ErrBatchGone) {
			t.Fatalf("%s: %v", sc.name, err)
		}
		after, _ := os.ReadFile(filepath.Join(wh, ManifestName))
		if !bytes.Equal(before, after) {
			t.Fatalf("%s: the manifest changed", sc.name)
		}
		for _, sf := range files {
			if !exists(sf.Path) {
				t.Fatalf("%s: staged %s is gone", sc.name, sf.Path)
			}
		}
		if _, extra := checkAllDerived(t, wh, false); len(extra) != 0 || exists(filepath.Join(wh, "_derived/z")) {
			t.Fatalf("%s: left %v", sc.name, extra)
		}
	}
	// A missing row count is refused before anything.
	batches, files, rows = stageShared(t, filepath.Join(wh, "tmp3"), []string{"b1", "b2"}, 1, keyB, "x")
	batches["b2"] = 2
	delete(rows["b2"], "x")
	if err := CommitDerivedShared(ctx, wh, batches, keyB, files, rows); err == nil || errors.Is(err, ErrBatchGone) {
		t.Fatalf("missing rows: %v", err)
	}
}

// Environment of TestDerivedSharedCrashHelper.
const helperSharedKey = "VITLAB_TEST_HELPER_SHARED_KEY"

// TestDerivedSharedCrashHelper is not a test: run by
// TestCommitDerivedSharedKilledAtEveryStep in a subprocess, it stages
// shared derived tables x and z of b1, b2, b3 in a Staging directory and
// commits them (and may be killed by CrashPoint on the way).
func TestDerivedSharedCrashHelper(t *testing.T) {
	wh := os.Getenv(helperWH)
	if wh == "" || os.Getenv(helperSharedKey) == "" {
		t.Skip("subprocess helper")
	}
	ctx := context.Background()
	s, err := NewStaging(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key := os.Getenv(helperSharedKey)
	batches, files, rows := stageShared(t, filepath.Join(s.Dir(), "derived"), []string{"b1", "b2", "b3"}, 1, key, "x", "z")
	if err := CommitDerivedShared(ctx, wh, batches, key, files, rows); err != nil {
		t.Fatal(err)
	}
}

func runSharedHelper(t *testing.T, wh, key string, killAt int) (killed bool, out string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDerivedSharedCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperWH+"="+wh, helperSharedKey+"="+key, CrashEnv+"="+strconv.Itoa(killAt))
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

// TestCommitDerivedSharedKilledAtEveryStep kills a CommitDerivedShared of
// b1, b2, b3 at every step. Before: b1 and b2 share a derivation of key A
// (x, y), b3 and b4 have their own. After each kill the manifest parses,
// every listed file holds its content, b4 is untouched and b1-b3 are all
// old or all new; Recover removes every unlisted file and keeps every
// listed one, and a rerun lands and leaves nothing unlisted.
func TestCommitDerivedSharedKilledAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	ctx := context.Background()
	base := filepath.Join(t.TempDir(), "base")
	for i, id := range []string{"b1", "b2", "b3", "b4"} {
		commitBare(t, base, id, uint64(i+1), false)
	}
	batches, files, rows := stageShared(t, filepath.Join(base, "tmp"), []string{"b1", "b2"}, 1, keyA, "x", "y")
	if err := CommitDerivedShared(ctx, base, batches, keyA, files, rows); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"b3", "b4"} {
		if err := CommitDerived(ctx, base, id, 1, keyA, stageDerived(t, filepath.Join(base, "tmp"), id, keyA, "x", "y")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(base, "tmp")); err != nil {
		t.Fatal(err)
	}
	baseline, _ := checkAllDerived(t, base, false)
	three := []string{"b1", "b2", "b3"}

	for _, sc := range []struct{ name, key string }{{"another key", keyB}, {"same key", keyA}} {
		t.Run(sc.name, func(t *testing.T) {
			sawOld, sawNew := false, false
			isNew := func(m *Manifest) bool {
				var x string
				for i, id := range three {
					d := m.Batches[id].Derived
					if d == nil || d.Key != sc.key || len(d.Tables) != 2 || d.Tables["z"].Files == nil ||
						d.Tables["x"].Rows != int64(10*i) || !strings.Contains(d.Tables["x"].Files[0], "/shared/") {
						return false
					}
					if i == 0 {
						x = d.Tables["x"].Files[0]
					} else if d.Tables["x"].Files[0] != x {
						return false
					}
				}
				return true
			}
			for n := 1; ; n++ {
				wh := filepath.Join(t.TempDir(), "wh")
				copyDir(t, base, wh)
				killed, step := runSharedHelper(t, wh, sc.key, n)
				if !killed {
					if n < 10 {
						t.Fatalf("only %d steps before the commit finished:\n%s", n-1, step)
					}
					t.Logf("%d steps, killed at each", n-1)
					break
				}
				m, extra := checkAllDerived(t, wh, true)
				if !reflect.DeepEqual(m.Batches["b4"], baseline.Batches["b4"]) {
					t.Fatalf("%s: b4 changed", step)
				}
				old := true
				for _, id := range three {
					old = old && reflect.DeepEqual(m.Batches[id], baseline.Batches[id])
				}
				switch {
				case old:
					sawOld = true
					if strings.Contains(step, "derived shared: write manifest") && len(extra) == 0 {
						t.Fatalf("%s: no orphan before the commit point", step)
					}
					if strings.Contains(step, "derived shared: committed") {
						t.Fatalf("%s: the new derivation is not there", step)
					}
				case isNew(m):
					sawNew = true
				default:
					t.Fatalf("%s: the derivations are neither all old nor all new", step)
				}

				rec, err := Recover(ctx, wh)
				if err != nil {
					t.Fatalf("%s: recovery: %v", step, err)
				}
				if m2, _ := checkAllDerived(t, wh, false); !reflect.DeepEqual(m2, m) {
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

				// A rerun lands and leaves only b4's and the new files.
				if killed, out := runSharedHelper(t, wh, sc.key, 0); killed {
					t.Fatalf("rerun killed: %s", out)
				}
				m, _ = checkAllDerived(t, wh, false)
				if !isNew(m) {
					t.Fatalf("after %s and a rerun: not the new derivation", step)
				}
				for _, r := range []string{"_derived/x/batch_id=b3", "_derived/y/shared", "_derived/y/batch_id=b3"} {
					if exists(filepath.Join(wh, r)) {
						t.Fatalf("after %s and a rerun: %s is left", step, r)
					}
				}
				if got, _ := os.ReadDir(filepath.Join(wh, "_derived/x/shared")); len(got) != 1 {
					t.Fatalf("after %s and a rerun: x/shared holds %d files", step, len(got))
				}
			}
			if !sawOld || !sawNew {
				t.Fatalf("old derivations seen %v, new ones %v", sawOld, sawNew)
			}
		})
	}
}
