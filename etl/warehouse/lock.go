package warehouse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// LockName is the lock file in the warehouse root. Commit and recovery hold
// an exclusive flock(2) on it; loading does not.
const LockName = "_lock"

// lockPoll is how often a waiting Lock retries.
const lockPoll = 20 * time.Millisecond

// Lock is a held exclusive flock(2) on a file. The kernel drops it when the
// process dies, so a crashed holder never blocks the warehouse.
type Lock struct {
	f *os.File
}

// LockWarehouse takes the warehouse lock of dir, creating dir and the lock
// file when missing. It waits until the lock is free or ctx is done; wait,
// if not nil, is called once when the lock is found taken.
func LockWarehouse(ctx context.Context, dir string, wait func()) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	return lockFile(ctx, filepath.Join(dir, LockName), wait)
}

func lockFile(ctx context.Context, path string, wait func()) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	for waited := false; ; {
		ok, err := tryFlock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("warehouse: lock %s: %w", path, err)
		}
		if ok {
			return &Lock{f: f}, nil
		}
		if !waited && wait != nil {
			wait()
		}
		waited = true
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(lockPoll):
		}
	}
}

// tryFlock takes an exclusive flock on f without blocking; it reports false
// when another open file holds it.
func tryFlock(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		default:
			return false, err
		}
	}
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	// Closing the only descriptor of the open file releases the flock.
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("warehouse: unlock: %w", err)
	}
	return nil
}
