package queries

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"vitlab/etl/warehouse"
	"vitlab/queries/duck"
)

// derivedApart ingests three sample batches into a new warehouse and
// derives them a pass each (three files per derived table), returning it
// and its answers (every derived view and query, as TestDerivedEqualsLive
// compares them).
func derivedApart(t *testing.T) string {
	t.Helper()
	wh := t.TempDir()
	ingestSample(t, wh, "rq3r-quick-h200", "rq3c-quick-h200", "rq5-pipeline-r3-b32-h100")
	opts := DefaultDeriveOptions()
	opts.MaxEvents = 1 // a pass per batch
	if st, err := DeriveWith(context.Background(), wh, opts); err != nil || len(st.Batches) != 3 {
		t.Fatalf("derive: %v, %v", st.Batches, err)
	}
	return wh
}

func derivedFileCount(t *testing.T, wh string) int {
	t.Helper()
	m, err := warehouse.ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	return countDerivedFiles(m)
}

// TestCompactDerived: the files of three passes become one per derived
// table; every derived view and query gives the same rows in the same
// order as before (and as the live SQL); a second compaction finds
// nothing to do.
func TestCompactDerived(t *testing.T) {
	ctx := context.Background()
	wh := derivedApart(t)
	before := answers(t, wh)
	names := len(derivedNames(mustCatalog(t)))
	if n := derivedFileCount(t, wh); n != 3*names {
		t.Fatalf("%d derived files before, want %d", n, 3*names)
	}
	st, err := CompactDerived(ctx, wh, DefaultResources(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Groups != 1 || st.Batches != 3 || st.FilesBefore != 3*names || st.FilesAfter != names {
		t.Errorf("compaction: %+v, want 1 group of 3 batches, %d files -> %d", st, 3*names, names)
	}
	var onDisk int
	filepath.Walk(filepath.Join(wh, warehouse.DerivedDir), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			onDisk++
		}
		return nil
	})
	if onDisk != names {
		t.Errorf("%d files under _derived, want %d (the earlier ones removed)", onDisk, names)
	}
	w, err := Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	stale := w.Stale
	w.Close()
	if len(stale) != 0 {
		t.Fatalf("stale after compaction: %v", stale)
	}
	compareAnswers(t, "compacted", before, answers(t, wh))
	if st, err := CompactDerived(ctx, wh, DefaultResources(), 0); err != nil || st.Groups != 0 {
		t.Errorf("second compaction: %+v, %v; want nothing to do", st, err)
	}
	// A bound below a pass's rows leaves the files as they are.
	wh2 := derivedApart(t)
	if st, err := CompactDerived(ctx, wh2, DefaultResources(), 2); err != nil || st.Groups != 0 || st.FilesAfter != 3*names {
		t.Errorf("compaction at 2 rows: %+v, %v; want nothing to do", st, err)
	}
}

// TestCompactOvertaken: a compaction whose group another process
// compacted after it read the manifest (and removed the files it was
// about to read) does nothing and says so, without an error; the
// warehouse answers as before.
func TestCompactOvertaken(t *testing.T) {
	ctx := context.Background()
	wh := derivedApart(t)
	want := answers(t, wh)
	m, err := warehouse.ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	cat := mustCatalog(t)
	key, names := cat.DeriveKey(), derivedNames(cat)
	groups := compactGroups(m, key, names, DefaultCompactRows)
	if len(groups) != 1 {
		t.Fatalf("groups %v", groups)
	}
	if st, err := CompactDerived(ctx, wh, DefaultResources(), 0); err != nil || st.Groups != 1 {
		t.Fatalf("the other compaction: %+v, %v", st, err)
	}
	db, err := duck.OpenConfig(ctx, DefaultResources().config())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := compactGroup(ctx, db, wh, m, groups[0], key, names); err == nil {
		t.Fatal("compacting from removed files: no error")
	}
	done, err := compactOne(ctx, db, wh, m, groups[0], key, names)
	if err != nil || done {
		t.Fatalf("overtaken compaction: done %v, %v; want skipped", done, err)
	}
	if n := derivedFileCount(t, wh); n != len(names) {
		t.Errorf("%d derived files, want %d", n, len(names))
	}
	compareAnswers(t, "after the overtaken compaction", want, answers(t, wh))
}

func mustCatalog(t *testing.T) *Catalog {
	t.Helper()
	cat, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// helperCompactKill makes TestCompactKilledHelper compact the warehouse it
// names (in a process TestCompactKilled kills at a crash point).
const helperCompactKill = "VITLAB_TEST_HELPER_COMPACT_KILL"

func TestCompactKilledHelper(t *testing.T) {
	wh := os.Getenv(helperCompactKill)
	if wh == "" {
		t.Skip("helper process of TestCompactKilled")
	}
	if _, err := CompactDerived(context.Background(), wh, DefaultResources(), 0); err != nil {
		t.Fatal(err)
	}
}

// TestCompactKilled kills a compaction at steps of its commit (the lock,
// moving the first and last new file in, the manifest's replacement and
// after it) and checks that the warehouse stays queryable with the same
// answers, nothing stale, and that the next compaction completes it.
func TestCompactKilled(t *testing.T) {
	ctx := context.Background()
	seed := derivedApart(t)
	want := answers(t, seed)
	names := len(derivedNames(mustCatalog(t)))
	// 1: locked; then per table a move and two fsyncs; then the manifest
	// (its own steps) and "committed".
	steps := []int{1, 2, 3*names - 1, 3*names + 1, 3*names + 2, 3*names + 3, 3*names + 4, 3*names + 5, 3*names + 6}
	killed := 0
	for _, step := range steps {
		t.Run(fmt.Sprint("step ", step), func(t *testing.T) {
			wh := filepath.Join(t.TempDir(), "w")
			if err := copyDir(seed, wh); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestCompactKilledHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperCompactKill+"="+wh, fmt.Sprintf("%s=%d", warehouse.CrashEnv, step))
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); ok && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL {
				killed++
				t.Logf("%s", strings.TrimSpace(string(out)))
			} else if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			w, err := Open(ctx, wh)
			if err != nil {
				t.Fatalf("after the kill: %v", err)
			}
			stale := w.Stale
			w.Close()
			if len(stale) != 0 {
				t.Errorf("after the kill: stale %v", stale)
			}
			compareAnswers(t, "after the kill", want, answers(t, wh))
			if _, err := CompactDerived(ctx, wh, DefaultResources(), 0); err != nil {
				t.Fatalf("next compaction: %v", err)
			}
			if n := derivedFileCount(t, wh); n != names {
				t.Errorf("after the next compaction: %d derived files, want %d", n, names)
			}
			compareAnswers(t, "after the next compaction", want, answers(t, wh))
		})
	}
	if killed < len(steps)-2 {
		t.Errorf("only %d of %d helpers were killed", killed, len(steps))
	}
}
