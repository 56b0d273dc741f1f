package warehouse

import (
	"fmt"
	"os"
)

// syncPath fsyncs a file or directory, so that its data (for a file) or its
// entries (for a directory: renames, creations, removals) are durable.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("warehouse: fsync: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("warehouse: fsync %s: %w", path, err)
	}
	return nil
}
