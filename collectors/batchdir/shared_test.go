package batchdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestUpdateConcurrent: many writers adding hosts at once lose none.
func TestUpdateConcurrent(t *testing.T) {
	dir := t.TempDir()
	if err := WriteJSON(filepath.Join(dir, BatchFile), &Batch{ID: "b", Runs: 2}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := Update(dir, func(b *Batch) error { b.AddHost(fmt.Sprintf("h%02d", i)); return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	b, err := ReadBatch(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Hosts) != 40 || b.Hosts[0] != "h00" || b.Hosts[39] != "h39" {
		t.Errorf("hosts %v", b.Hosts)
	}
}

// TestFinalize: unfinished and never-started runs keep the batch open.
func TestFinalize(t *testing.T) {
	dir := t.TempDir()
	if err := WriteJSON(filepath.Join(dir, BatchFile), &Batch{ID: "b", Runs: 3}); err != nil {
		t.Fatal(err)
	}
	run := func(id, status string) {
		d := filepath.Join(dir, RunsDir, id)
		os.MkdirAll(d, 0o755)
		if status != "" {
			if err := WriteJSON(filepath.Join(d, RunFile), &Run{ID: id, Status: status, Host: "n1"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	run("a", StatusOK)
	run("b", "") // killed mid-run
	st, err := Finalize(dir, time.Now())
	if !errors.Is(err, ErrRunsLeft) || len(st.Unfinished) != 1 || st.Missing() != 1 {
		t.Fatalf("%+v %v", st, err)
	}
	run("b", StatusFailed)
	run("c", StatusUnavailable)
	st, err = Finalize(dir, time.Now())
	if err != nil || !st.Complete() || st.ByStatus[StatusFailed] != 1 {
		t.Fatalf("%+v %v", st, err)
	}
	b, _ := ReadBatch(dir)
	if b.Finished == nil || len(b.Hosts) != 1 || b.Hosts[0] != "n1" {
		t.Errorf("%+v", b)
	}
}
