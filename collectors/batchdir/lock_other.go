//go:build !unix

package batchdir

// lockDir is a no-op where flock is missing: one process per batch.
func lockDir(dir string) (func(), error) { return func() {}, nil }
