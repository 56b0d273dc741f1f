package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"vitlab/internal/testfixtures"
)

// TestCollectScripts runs the transcripts testdata/collect_*.txtar of
// 'vitlab collect'. The vitlab command runs in-process; 'status N' asserts
// the exit code of the last vitlab. The scripts get $FAKE_NSYS (a stand-in
// for nsys), $FAKE_WORKLOAD (a stand-in workload folder, python3 without
// torch) and $NSYS_FIXTURE (a real nsys export the stand-in "exports").
// Use $WORK for paths: the command runs in the test's directory.
func TestCollectScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/collect_*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/collect_*.txtar: %v", err)
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	fakeNsys := abs("../../collectors/nsys/testdata/fake-nsys")
	fakeWorkload := abs("../../collectors/runner/testdata/workload")
	fixture := testfixtures.Export("h100_tiny_conv_nvtx.sqlite")
	testscript.Run(t, testscript.Params{
		Files: files,
		// VITLAB_UPDATE_SCRIPTS=1 rewrites the expected outputs in place;
		// review the diff.
		UpdateScripts: os.Getenv("VITLAB_UPDATE_SCRIPTS") != "",
		Setup: func(e *testscript.Env) error {
			e.Setenv("FAKE_NSYS", fakeNsys)
			e.Setenv("FAKE_WORKLOAD", fakeWorkload)
			e.Setenv("NSYS_FIXTURE", fixture)
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
		},
	})
}
