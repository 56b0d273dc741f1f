package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"vitlab/queries"
)

// TestQueryStoredAnswers: on a warehouse of the whole sample, vitlab query
// of every saved query that is not derived prints the same bytes from its
// answer stored in the view database as live (VITLAB_NO_STORED_ANSWERS
// set), as csv, json and table; and --param claims_alpha=0.25, which
// changes claims' verdicts, prints the live answer with that param, not
// the stored one of the defaults.
func TestQueryStoredAnswers(t *testing.T) {
	ctx := context.Background()
	wh := filepath.Join(t.TempDir(), "wh")
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		e := &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
		if code := runMain(ctx, e, args); code != 0 {
			t.Fatalf("vitlab %v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}
	batches, err := filepath.Glob(filepath.Join("..", "..", "data", "sample", "*", "batch.json"))
	if err != nil || len(batches) < 5 {
		t.Fatalf("sample batches: %v (%d)", err, len(batches))
	}
	for _, b := range batches {
		run("ingest", "--warehouse", wh, filepath.Dir(b))
	}
	cat, err := queries.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range cat.Queries {
		if !q.Derive {
			names = append(names, q.Name)
		}
	}
	if len(names) < 13 {
		t.Fatalf("%d saved queries not derived: %v", len(names), names)
	}
	stored := map[string]string{}
	query := func(args ...string) string {
		t.Helper()
		return run(append([]string{"query", "--warehouse", wh}, args...)...)
	}
	for _, name := range names {
		for _, f := range []string{"csv", "json", "table"} {
			stored[name+" "+f] = query("--format", f, name)
		}
	}
	alpha := query("--format", "csv", "--param", "claims_alpha=0.25", "claims")
	alphaDefault := query("--format", "csv", "--param", "claims_alpha=0.05", "claims")

	t.Setenv("VITLAB_NO_STORED_ANSWERS", "1")
	for _, name := range names {
		for _, f := range []string{"csv", "json", "table"} {
			if live := query("--format", f, name); live != stored[name+" "+f] {
				t.Errorf("vitlab query --format %s %s: stored answer differs from the live one:\n%s\nlive:\n%s", f, name, stored[name+" "+f], live)
			}
		}
	}
	liveAlpha := query("--format", "csv", "--param", "claims_alpha=0.25", "claims")
	if liveAlpha == stored["claims csv"] {
		t.Fatal("claims_alpha=0.25 gives the default answer: the test cannot tell")
	}
	if alpha != liveAlpha {
		t.Errorf("--param claims_alpha=0.25: the answer differs from the live one:\n%s\nlive:\n%s", alpha, liveAlpha)
	}
	if alphaDefault != stored["claims csv"] {
		t.Errorf("--param claims_alpha=0.05 (the default) differs from the default answer")
	}
}
