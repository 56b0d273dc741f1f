package warehouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// StagingDir is the directory of the warehouse root that holds one
// subdirectory per running ingest. Nothing in it is visible to readers.
const StagingDir = "_staging"

// stagingLockName is the lock file inside each staging directory; its owner
// holds an exclusive flock on it for as long as it lives, which is how
// recovery tells a live ingest's staging from a dead one's.
const stagingLockName = "owner.lock"

// Staging is one ingest's private directory under <warehouse>/_staging/.
// Files written there become part of the warehouse only through Commit.
type Staging struct {
	wh   string
	dir  string
	lock *Lock
}

// NewStaging creates a fresh staging directory in warehouse wh (created when
// missing) and locks it for this process. It takes the warehouse lock for
// the moment of creation, so that recovery never sees a staging directory
// whose owner has not locked it yet.
func NewStaging(ctx context.Context, wh string) (*Staging, error) {
	wl, err := LockWarehouse(ctx, wh, nil)
	if err != nil {
		return nil, err
	}
	defer wl.Unlock()
	root := filepath.Join(wh, StagingDir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	name := time.Now().UTC().Format("20060102T150405") + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(rnd[:])
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	l, err := lockFile(ctx, filepath.Join(dir, stagingLockName), nil)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Staging{wh: wh, dir: dir, lock: l}, nil
}

// Dir returns the staging directory.
func (s *Staging) Dir() string { return s.dir }

// Warehouse returns the warehouse root the staging belongs to.
func (s *Staging) Warehouse() string { return s.wh }

// Close removes the staging directory and everything left in it, then
// releases its lock.
func (s *Staging) Close() error {
	if s.lock == nil {
		return nil
	}
	err := os.RemoveAll(s.dir)
	err = errors.Join(err, s.lock.Unlock())
	s.lock = nil
	if err != nil {
		return fmt.Errorf("warehouse: remove staging: %w", err)
	}
	return nil
}
