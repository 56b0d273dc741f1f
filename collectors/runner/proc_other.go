//go:build !unix

package runner

import (
	"context"
	"errors"
	"io"
	"time"
)

type outcome struct {
	exitCode int
	state    string
	err      error
}

// runGroup needs process groups; the collector runs on Linux GPU hosts.
func runGroup(ctx context.Context, argv, env []string, dir string, stdout, stderr io.Writer, grace time.Duration) outcome {
	return outcome{exitCode: -1, err: errors.New("runner: running workloads needs a Unix host")}
}
