package main

import (
	"os"
	"path/filepath"
	"testing"

	"vitlab/internal/testfixtures"
)

// TestCollectScripts runs the transcripts testdata/collect_*.txtar of
// 'vitlab collect'. The vitlab command runs in-process; 'status N' asserts
// the exit code of the last vitlab. The scripts get $FAKE_NSYS (a stand-in
// for nsys), $FAKE_WORKLOAD (a stand-in workload folder, python3 without
// torch) and $NSYS_FIXTURE (a real nsys export the stand-in "exports").
// Use $WORK for paths: the command runs in the test's directory.
func TestCollectScripts(t *testing.T) {
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	runScripts(t, scripts{
		Prefix: "collect",
		Env: map[string]string{
			"FAKE_NSYS":     abs("../../collectors/nsys/testdata/fake-nsys"),
			"FAKE_WORKLOAD": abs("../../collectors/runner/testdata/workload"),
			"NSYS_FIXTURE":  testfixtures.Export("h100_tiny_conv_nvtx.sqlite"),
		},
		Run: inProcess,
		// VITLAB_UPDATE_SCRIPTS=1 rewrites the expected outputs in place;
		// review the diff.
		Update: os.Getenv("VITLAB_UPDATE_SCRIPTS") != "",
	})
}
