package batchdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// LockFile is the file in a batch directory that processes updating
// batch.json lock (flock), so that several shards on several hosts can
// merge into one batch.json without losing each other's changes.
const LockFile = ".batch.lock"

// Update reads dir/batch.json under the batch's lock, lets fn change it and
// writes it back atomically (temp file, fsync, rename). fn's error leaves
// batch.json as it was. Readers need no lock: they always see a whole file.
func Update(dir string, fn func(*Batch) error) error {
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	b, err := ReadBatch(dir)
	if err != nil {
		return err
	}
	if err := fn(b); err != nil {
		return err
	}
	return WriteJSON(filepath.Join(dir, BatchFile), b)
}

// AddHost adds host to b.Hosts, kept sorted and without duplicates.
func (b *Batch) AddHost(host string) {
	if host == "" || slices.Contains(b.Hosts, host) {
		return
	}
	b.Hosts = append(b.Hosts, host)
	sort.Strings(b.Hosts)
}

// State is what a batch directory says about its runs.
type State struct {
	// Expected is batch.json's runs.
	Expected int
	// ByStatus counts the runs whose run.json exists, by status.
	ByStatus map[string]int
	// Unfinished are run directories without run.json: running now, or
	// left by a process that was killed (resume redoes them).
	Unfinished []string
	// Recorded is the number of runs with a run.json.
	Recorded int
	// Hosts counts runs per host (run.json host).
	Hosts map[string]int
}

// Complete says every run of the batch has a run.json and none is
// unfinished.
func (s *State) Complete() bool {
	return len(s.Unfinished) == 0 && s.Recorded >= s.Expected
}

// Missing is the number of runs with nothing on disk yet (never started).
func (s *State) Missing() int {
	return max(s.Expected-s.Recorded-len(s.Unfinished), 0)
}

// Scan reads batch.json and every runs/<id>/run.json of dir.
func Scan(dir string) (*Batch, *State, error) {
	b, err := ReadBatch(dir)
	if err != nil {
		return nil, nil, err
	}
	st := &State{Expected: b.Runs, ByStatus: map[string]int{}, Hosts: map[string]int{}}
	ents, err := os.ReadDir(filepath.Join(dir, RunsDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("batchdir: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		r, err := ReadRun(filepath.Join(dir, RunsDir, e.Name()))
		switch {
		case errors.Is(err, os.ErrNotExist):
			st.Unfinished = append(st.Unfinished, e.Name())
		case err != nil:
			return nil, nil, err
		default:
			st.Recorded++
			st.ByStatus[r.Status]++
			st.Hosts[r.Host]++
		}
	}
	return b, st, nil
}

// ErrRunsLeft says a batch cannot be finished: runs are unfinished or were
// never started.
var ErrRunsLeft = errors.New("runs left to do")

// Finalize marks the batch finished (batch.json finished = now) when every
// run has its run.json, under the batch's lock, and sets hosts to those
// the runs' run.json name. Otherwise batch.json stays without finished and the error wraps
// ErrRunsLeft. Finishing a finished batch keeps its time.
func Finalize(dir string, now time.Time) (*State, error) {
	var st *State
	err := Update(dir, func(b *Batch) error {
		_, s, err := Scan(dir)
		if err != nil {
			return err
		}
		st = s
		// hosts: those that ran the runs on record (a task that only kept
		// runs, or whose run was redone elsewhere, is not one).
		b.Hosts = nil
		for h := range s.Hosts {
			b.AddHost(h)
		}
		if !s.Complete() {
			return fmt.Errorf("batchdir: %s: %w: %d unfinished (%v), %d never started", dir, ErrRunsLeft, len(s.Unfinished), s.Unfinished, s.Missing())
		}
		if b.Finished == nil {
			t := now.UTC()
			b.Finished = &t
		}
		return nil
	})
	return st, err
}
