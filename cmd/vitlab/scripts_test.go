package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// scriptCmd is a command of a transcript (testscript).
type scriptCmd = func(ts *testscript.TestScript, neg bool, args []string)

// scripts says how to run the transcripts testdata/<Prefix>_*.txtar.
type scripts struct {
	Prefix string
	// Env is set in every script's environment.
	Env map[string]string
	// Run runs vitlab with args for 'vitlab ARGS' and returns its exit
	// status: inProcess or asProcess.
	Run func(ts *testscript.TestScript, args []string) int
	// Cmds are commands beyond 'vitlab' and 'status'.
	Cmds map[string]scriptCmd
	// Update rewrites the expected outputs in place (review the diff).
	Update bool
}

// runScripts runs the transcripts of s. Every transcript has 'vitlab ARGS'
// (a non-zero exit fails unless negated with !) and 'status N' (the exit
// status of the last vitlab).
func runScripts(t *testing.T, s scripts) {
	t.Helper()
	files, err := filepath.Glob("testdata/" + s.Prefix + "_*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/%s_*.txtar: %v", s.Prefix, err)
	}
	cmds := map[string]scriptCmd{
		"vitlab": func(ts *testscript.TestScript, neg bool, args []string) {
			code := s.Run(ts, args)
			ts.Setenv("VITLAB_EXIT", strconv.Itoa(code))
			if neg != (code != 0) {
				ts.Fatalf("vitlab %s: exit status %d", strings.Join(args, " "), code)
			}
		},
		"status": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 1 {
				ts.Fatalf("usage: status N")
			}
			if got := ts.Getenv("VITLAB_EXIT"); (got == args[0]) == neg {
				ts.Fatalf("last vitlab exited %s, want %s", got, args[0])
			}
		},
	}
	for k, c := range s.Cmds {
		cmds[k] = c
	}
	testscript.Run(t, testscript.Params{
		Files:         files,
		UpdateScripts: s.Update,
		Setup: func(e *testscript.Env) error {
			for k, v := range s.Env {
				e.Setenv(k, v)
			}
			return nil
		},
		Cmds: cmds,
	})
}

// inProcess runs vitlab in the test process (its working directory is the
// test's: use $WORK for paths).
func inProcess(ts *testscript.TestScript, args []string) int {
	e := &env{stdout: ts.Stdout(), stderr: ts.Stderr(), getenv: ts.Getenv}
	return runMain(context.Background(), e, args)
}

// asProcess runs vitlab as a process (the test binary, asVitlab set in the
// script's environment) in $WORK.
func asProcess(ts *testscript.TestScript, args []string) int {
	err := ts.Exec(testBinary, args...)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode()
	case err != nil:
		ts.Fatalf("vitlab: %v", err)
	}
	return 0
}
