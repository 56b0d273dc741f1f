//go:build unix

package runner

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// outcome is how a process ended.
type outcome struct {
	// exitCode is the exit status; -1 when killed or never started.
	exitCode int
	// state describes the end ("exit status 1", "signal: segmentation
	// fault"); "" for a clean exit.
	state string
	// err is set when the process could not start, or was stopped because
	// ctx ended (then it is ctx.Err()).
	err error
}

// drainWait bounds how long runGroup waits, once the process group is
// gone, for the rest of the child's stdout (a process that left the group
// may still hold the pipe).
const drainWait = 5 * time.Second

// runGroup runs argv in its own process group with env and dir, sending
// its output to stdout and stderr. When ctx ends, the whole group gets
// SIGTERM and, after grace, SIGKILL. When the leader exits on its own, any
// process it left in the group is killed, so no stray process holds the
// GPU during the next run.
//
// A stdout that is not a file (a *markerTee, which reads the energy
// counter on window markers) is fed through a pipe as the child writes;
// runGroup returns once it has had everything.
func runGroup(ctx context.Context, argv, env []string, dir string, stdout, stderr io.Writer, grace time.Duration) (o outcome) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var pr, pw *os.File
	if _, isFile := stdout.(*os.File); !isFile && stdout != nil {
		var err error
		if pr, pw, err = os.Pipe(); err != nil {
			return outcome{exitCode: -1, err: err}
		}
		cmd.Stdout = pw
	}
	if err := cmd.Start(); err != nil {
		if pr != nil {
			pr.Close()
			pw.Close()
		}
		return outcome{exitCode: -1, err: err}
	}
	if pr != nil {
		pw.Close() // the child has its copy
		copied := make(chan struct{})
		go func() {
			defer close(copied)
			_, _ = io.Copy(stdout, pr)
		}()
		defer func() {
			select {
			case <-copied:
			case <-time.After(drainWait):
				pr.Close() // unblocks the copy
				<-copied
			}
			pr.Close()
		}()
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		_ = syscall.Kill(-pgid, syscall.SIGKILL) // stragglers; ESRCH when none
		o := outcome{exitCode: exitCode(err)}
		if err != nil {
			o.state = err.Error()
		}
		return o
	case <-ctx.Done():
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return outcome{exitCode: -1, err: ctx.Err()}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
