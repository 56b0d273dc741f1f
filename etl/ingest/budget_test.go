package ingest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"vitlab/etl/normalize"
)

// TestLoadBudget: the exports loading at once never weigh more than the
// budget (one export larger than the budget loads alone), and a budget
// that holds several lets Jobs loads run together. The loads are the real
// ones (normalize.Export), watched by a wrapping loader.
func TestLoadBudget(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	var largest int64
	fx := fixtures(t)
	for i := range 3 * len(fx) {
		p := copyFile(t, filepath.Join(in, fmt.Sprintf("e%02d-%s", i, filepath.Base(fx[i%len(fx)]))), fx[i%len(fx)])
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		largest = max(largest, st.Size())
	}
	for _, tc := range []struct {
		name   string
		budget int64
		check  func(peakBytes int64, peakLoads int) error
	}{
		{"tight", largest + largest/2, func(peakBytes int64, peakLoads int) error {
			if peakBytes > largest+largest/2 {
				return fmt.Errorf("%d bytes loading at once, budget %d", peakBytes, largest+largest/2)
			}
			return nil
		}},
		{"below one export", largest / 4, func(peakBytes int64, peakLoads int) error {
			if peakLoads != 1 {
				return fmt.Errorf("%d loads at once; an export over the budget must load alone", peakLoads)
			}
			return nil
		}},
		{"roomy", 1 << 40, func(peakBytes int64, peakLoads int) error {
			if peakLoads < 2 {
				return fmt.Errorf("%d loads at once with 4 jobs and room for all", peakLoads)
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu               sync.Mutex
				bytes, peakBytes int64
				loads, peakLoads int
				twoLoading       = make(chan struct{})
				closeTwoLoading  sync.Once
			)
			loader := func(ctx context.Context, path string, key normalize.RunKey, opts normalize.Options, sink normalize.Sink) (normalize.Result, error) {
				st, err := os.Stat(path)
				if err != nil {
					return normalize.Result{}, err
				}
				mu.Lock()
				bytes += st.Size()
				loads++
				peakBytes, peakLoads = max(peakBytes, bytes), max(peakLoads, loads)
				if loads >= 2 {
					closeTwoLoading.Do(func() { close(twoLoading) })
				}
				mu.Unlock()
				// Give a second load the chance to start (without a
				// budget, with 4 jobs, it does at once).
				select {
				case <-twoLoading:
				case <-time.After(50 * time.Millisecond):
				}
				res, err := normalize.Export(ctx, path, key, opts, sink)
				mu.Lock()
				bytes -= st.Size()
				loads--
				mu.Unlock()
				return res, err
			}
			sum, err := run(t, Request{Warehouse: filepath.Join(dir, "wh-"+tc.name), Paths: []string{in}, BatchID: "b",
				Jobs: 4, LoadBudget: tc.budget, Loader: loader})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Runs != 3*len(fx) {
				t.Fatalf("%d runs landed, want %d", sum.Runs, 3*len(fx))
			}
			if err := tc.check(peakBytes, peakLoads); err != nil {
				t.Error(err)
			}
			t.Logf("budget %d: at most %d loads, %d bytes at once", tc.budget, peakLoads, peakBytes)
		})
	}
}

func TestBudgetCancel(t *testing.T) {
	b := newBudget(10)
	if err := b.acquire(context.Background(), 8); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.acquire(ctx, 5) }()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("acquire of more than is left returned without error after cancel")
	}
	b.release(8)
	if err := b.acquire(context.Background(), 50); err != nil { // clamped to the total
		t.Fatal(err)
	}
}
