package warehouse

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"vitlab/schemas"
)

func newStaging(t *testing.T, wh string) *Staging {
	t.Helper()
	s, err := NewStaging(context.Background(), wh)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestCommitNoopReplace(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	wh := filepath.Join(t.TempDir(), "wh")

	// Two batches land.
	s := newStaging(t, wh)
	c1 := stageBatch(t, mem, s, "b1", 1, 3)
	res, err := CommitBatch(ctx, wh, c1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Committed || res.Batch.Generation != 1 || res.Replaced != nil {
		t.Fatalf("first commit: %+v", res)
	}
	c2 := stageBatch(t, mem, s, "b2", 2, 2)
	if _, err := CommitBatch(ctx, wh, c2); err != nil {
		t.Fatal(err)
	}
	s.Close()
	m := checkWarehouse(t, wh, false)
	if got := m.BatchIDs(); !slices.Equal(got, []string{"b1", "b2"}) {
		t.Fatalf("batches %v", got)
	}
	b1 := m.Batches["b1"]
	if len(b1.Tables) != len(schemas.All()) {
		t.Fatalf("b1 has %d tables, want every table", len(b1.Tables))
	}
	// Three small staged files per table became one part.
	if tf := b1.Tables["kernels"]; !slices.Equal(tf.Files, []string{partitionOf("kernels", "b1") + "/part-0001.parquet"}) || tf.Rows != 40+41+42+3 {
		t.Fatalf("b1 kernels: %+v", tf)
	}
	if tf := b1.Tables["memsets"]; len(tf.Files) != 1 || tf.Rows != 0 {
		t.Fatalf("b1 memsets: %+v", tf)
	}
	if got := m.Files("kernels"); !slices.Equal(got, []string{partitionOf("kernels", "b1") + "/part-0001.parquet", partitionOf("kernels", "b2") + "/part-0001.parquet"}) {
		t.Fatalf("Files(kernels) = %v", got)
	}
	if _, err := os.Stat(filepath.Join(wh, StagingDir)); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Join(wh, StagingDir)); len(left) != 0 {
		t.Fatalf("staging left behind: %v", left)
	}

	// The same content again: nothing is touched.
	before := modTimes(t, wh)
	manifestBefore, _ := os.ReadFile(filepath.Join(wh, ManifestName))
	time.Sleep(10 * time.Millisecond)
	s = newStaging(t, wh)
	again := stageBatch(t, mem, s, "b1", 1, 3)
	res, err = CommitBatch(ctx, wh, again)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Unchanged || res.Batch.Generation != 1 {
		t.Fatalf("identical commit: %+v", res)
	}
	s.Close()
	after := modTimes(t, wh)
	for p, mt := range before {
		if filepath.Dir(p) == StagingDir || p == StagingDir || p == "." {
			continue
		}
		if after[p] != mt {
			t.Errorf("%s changed by a no-op commit", p)
		}
	}
	manifestAfter, _ := os.ReadFile(filepath.Join(wh, ManifestName))
	if string(manifestBefore) != string(manifestAfter) {
		t.Error("manifest rewritten by a no-op commit")
	}

	// Different content under the same id: refused, warehouse unchanged.
	s = newStaging(t, wh)
	changed := stageBatch(t, mem, s, "b1", 9, 4)
	_, err = CommitBatch(ctx, wh, changed)
	if !errors.Is(err, ErrBatchChanged) {
		t.Fatalf("changed batch: err = %v, want ErrBatchChanged", err)
	}
	if got, _ := os.ReadFile(filepath.Join(wh, ManifestName)); string(got) != string(manifestBefore) {
		t.Fatal("refused commit changed the manifest")
	}
	checkWarehouse(t, wh, false)

	// With Replace it lands as generation 2 with new part numbers, and the
	// old generation's files are gone.
	changed.Replace = true
	res, err = CommitBatch(ctx, wh, changed)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Committed || res.Batch.Generation != 2 || res.Replaced == nil || res.CleanupErr != nil {
		t.Fatalf("replace: %+v", res)
	}
	s.Close()
	m = checkWarehouse(t, wh, false)
	if tf := m.Batches["b1"].Tables["kernels"]; !slices.Equal(tf.Files, []string{partitionOf("kernels", "b1") + "/part-0002.parquet"}) || tf.Rows != 40+41+42+43+4*(9%7) {
		t.Fatalf("replaced b1 kernels: %+v", tf)
	}
	for _, f := range b1.AllFiles() {
		if _, err := os.Stat(filepath.Join(wh, f)); !os.IsNotExist(err) {
			t.Errorf("replaced file %s still there (%v)", f, err)
		}
	}
	if !reflect.DeepEqual(m.Batches["b2"], mustManifest(t, wh).Batches["b2"]) {
		t.Fatal("b2 changed")
	}
}

func mustManifest(t *testing.T, wh string) *Manifest {
	t.Helper()
	m, err := ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCommitRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	outside := filepath.Join(t.TempDir(), "x.parquet")
	for name, c := range map[string]Commit{
		"bad id":        {BatchID: "../x", ContentSHA256: "ab"},
		"no hash":       {BatchID: "b"},
		"unknown table": {BatchID: "b", ContentSHA256: "ab", Parts: map[string][]StagedFile{"nope": {{Path: filepath.Join(wh, "x")}}}},
		"outside":       {BatchID: "b", ContentSHA256: "ab", Parts: map[string][]StagedFile{"kernels": {{Path: outside}}}},
	} {
		if _, err := CommitBatch(ctx, wh, c); err == nil {
			t.Errorf("%s: commit succeeded", name)
		}
	}
	if _, err := os.Stat(filepath.Join(wh, ManifestName)); !os.IsNotExist(err) {
		t.Fatal("a refused commit wrote a manifest")
	}
}

func TestRecovery(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	wh := t.TempDir()
	s := newStaging(t, wh)
	if _, err := CommitBatch(ctx, wh, stageBatch(t, mem, s, "b1", 1, 2)); err != nil {
		t.Fatal(err)
	}
	// Leftovers of a commit that died: an unlisted part beside listed
	// ones, a partition of a batch never committed, a temporary manifest.
	write := func(rel string) {
		p := filepath.Join(wh, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(partitionOf("kernels", "b1") + "/part-0002.parquet")
	// (a partition of the legacy layout: recovery cleans both)
	write("nvtx/" + LegacyPartitionDir + "b9/part-0001.parquet")
	write(manifestTemp)
	// Not vitlab's: a file directly in a table directory, a directory that
	// is not a table.
	write("kernels/README")
	write("notes/batch=x/keep.txt")
	// A dead ingest's staging (its lock file not held) and one never
	// locked; the live staging s must stay.
	write(StagingDir + "/dead/" + stagingLockName)
	write(StagingDir + "/dead/kernels.parquet")
	write(StagingDir + "/nolock/kernels.parquet")

	rec, err := Recover(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{partitionOf("kernels", "b1") + "/part-0002.parquet", "nvtx/" + LegacyPartitionDir + "b9/part-0001.parquet"}; !slices.Equal(rec.RemovedFiles, want) {
		t.Fatalf("removed %v, want %v", rec.RemovedFiles, want)
	}
	slices.Sort(rec.RemovedStaging)
	if want := []string{StagingDir + "/dead", StagingDir + "/nolock"}; !slices.Equal(rec.RemovedStaging, want) {
		t.Fatalf("removed staging %v, want %v", rec.RemovedStaging, want)
	}
	for _, gone := range []string{"nvtx/" + LegacyPartitionDir + "b9", manifestTemp} {
		if _, err := os.Stat(filepath.Join(wh, gone)); !os.IsNotExist(err) {
			t.Errorf("%s survived recovery", gone)
		}
	}
	for _, kept := range []string{"kernels/README", "notes/batch=x/keep.txt", s.Dir()} {
		if !filepath.IsAbs(kept) {
			kept = filepath.Join(wh, kept)
		}
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("recovery removed %s", kept)
		}
	}
	checkWarehouse(t, wh, false)

	// A manifest that does not parse stops recovery before it deletes.
	write("kernels/batch=b1/part-0007.parquet")
	if err := os.WriteFile(filepath.Join(wh, ManifestName), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Recover(ctx, wh); err == nil {
		t.Fatal("recovery with a broken manifest succeeded")
	}
	if _, err := os.Stat(filepath.Join(wh, "kernels/batch=b1/part-0007.parquet")); err != nil {
		t.Fatal("recovery deleted files despite an unreadable manifest")
	}
}

func TestLockExcludes(t *testing.T) {
	wh := t.TempDir()
	l, err := LockWarehouse(context.Background(), wh, nil)
	if err != nil {
		t.Fatal(err)
	}
	waited := false
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := LockWarehouse(ctx, wh, func() { waited = true }); !errors.Is(err, context.DeadlineExceeded) || !waited {
		t.Fatalf("second lock while held: err %v, waited %v", err, waited)
	}
	done := make(chan error)
	go func() {
		l2, err := LockWarehouse(context.Background(), wh, nil)
		if err == nil {
			err = l2.Unlock()
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("lock not taken after release")
	}
}
