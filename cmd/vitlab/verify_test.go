//go:build !noduckdb

package main

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestVerifyScripts runs the transcripts testdata/verify_*.txtar of
// 'vitlab verify' and 'vitlab report'. The vitlab command runs in-process;
// 'status N' asserts the exit code of the last vitlab; 'mkwarehouse DIR'
// builds the small warehouse of TestQueryScripts (events of a run the runs
// table lacks, so a check fires); $FIXTURES is the fixture exports' folder.
func TestVerifyScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/verify_*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/verify_*.txtar: %v", err)
	}
	testscript.Run(t, testscript.Params{
		Files: files,
		Setup: func(e *testscript.Env) error {
			e.Setenv("FIXTURES", fixtureDir)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"vitlab": func(ts *testscript.TestScript, neg bool, args []string) {
				e := &env{stdout: ts.Stdout(), stderr: ts.Stderr(), getenv: ts.Getenv}
				code := runMain(context.Background(), e, args)
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
			"mkwarehouse": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: mkwarehouse DIR")
				}
				if err := makeWarehouse(ts.MkAbs(args[0])); err != nil {
					ts.Fatalf("mkwarehouse: %v", err)
				}
			},
		},
	})
}
