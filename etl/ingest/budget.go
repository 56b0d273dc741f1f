package ingest

import (
	"context"
	"strings"
	"sync"
)

// DefaultLoadBudget is the default of Request.LoadBudget: the SQLite bytes
// that may be loading at once. A load's memory grows with its export (the
// NVTX projection keeps every range and GPU operation of the export: about
// 1.2 bytes of heap per byte of SQLite, measured on exports of 1M events),
// so the jobs alone do not bound an ingest's memory: 16 jobs on 55 MB
// exports peaked at 1.1 GB. With this budget the loads in flight hold about
// 250 MB whatever the jobs; small exports still run Jobs at a time.
const DefaultLoadBudget = 200 << 20

// sqliteBytes estimates the SQLite bytes of an export of size bytes: its
// size, or sqlitePerZstByte times it for a .zst export. It weighs a load
// against the load budget and projects the size of the spools.
func sqliteBytes(path string, size int64) int64 {
	if strings.HasSuffix(path, ".zst") {
		return size * sqlitePerZstByte
	}
	return size
}

// budget is a weighted semaphore: acquire blocks until w fits in what is
// left. A weight above the total counts as the total, so a load bigger
// than the budget still runs, alone. The feeder is the only caller, so
// loads start in run order.
type budget struct {
	mu    sync.Mutex
	cond  *sync.Cond
	left  int64
	total int64
}

func newBudget(total int64) *budget {
	b := &budget{left: total, total: total}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire takes w (at most the total) or returns ctx's error.
func (b *budget) acquire(ctx context.Context, w int64) error {
	w = min(w, b.total)
	stop := context.AfterFunc(ctx, func() {
		b.mu.Lock()
		b.cond.Broadcast()
		b.mu.Unlock()
	})
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.left < w {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.cond.Wait()
	}
	b.left -= w
	return nil
}

// release gives w back.
func (b *budget) release(w int64) {
	w = min(w, b.total)
	b.mu.Lock()
	b.left += w
	b.mu.Unlock()
	b.cond.Broadcast()
}
