//go:build !noduckdb

package main

import "testing"

// TestVerifyScripts runs the transcripts testdata/verify_*.txtar of
// 'vitlab verify' and 'vitlab report'. The vitlab command runs in-process;
// 'status N' asserts the exit code of the last vitlab; 'mkwarehouse DIR'
// builds the small warehouse of TestQueryScripts (events of a run the runs
// table lacks, so a check fires); $FIXTURES is the fixture exports' folder.
func TestVerifyScripts(t *testing.T) {
	runScripts(t, scripts{
		Prefix: "verify",
		Env:    map[string]string{"FIXTURES": fixtureDir},
		Run:    inProcess,
		Cmds:   map[string]scriptCmd{"mkwarehouse": mkwarehouseCmd},
	})
}
