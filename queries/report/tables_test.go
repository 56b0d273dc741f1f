package report

import (
	"strings"
	"testing"

	"vitlab/queries/duck"
)

// TestClaimsStatisticsColumns: the claims table shows the statistics
// columns when the claims query has them (unit, level, runs, reason), and
// falls back to the unit its testable form names, the runs it used and its
// evidence when it does not.
func TestClaimsStatisticsColumns(t *testing.T) {
	cols := func(names ...string) []duck.Column {
		var c []duck.Column
		for _, n := range names {
			c = append(c, duck.Column{Name: n})
		}
		return c
	}
	with := claimsOf(&duck.Result{
		Columns: cols("claim_id", "verdict", "value", "ci_low", "ci_high", "runs", "evidence", "unit", "conf_level", "method", "n_runs_min", "runs_needed", "reason"),
		Rows:    [][]any{{"C14", "inconclusive", 54.591, 50.0, 58.0, int64(30), "long evidence", "GB/s", 0.95, "bootstrap", int64(1), int64(5), "one run per configuration"}},
	})[0]
	if got := strings.Join([]string{with.ValueWithUnit(), with.CI(), with.Level, with.NRuns(), with.Why(), with.RunsNeeded}, " | "); got != "54.591 GB/s | [50, 58] | 95 % | 1 per config | one run per configuration | 5" {
		t.Errorf("with the statistics columns: %s", got)
	}
	without := claimsOf(&duck.Result{
		Columns: cols("claim_id", "verdict", "value", "threshold", "runs", "evidence"),
		Rows:    [][]any{{"C14", "inconclusive", 54.591, "H2D link rate in [21.0, 23.0] GB/s for every config", int64(30), "long evidence"}},
	})[0]
	if got := strings.Join([]string{without.ValueWithUnit(), without.Level, without.NRuns(), without.Why()}, " | "); got != "54.591 GB/s |  | 30 | long evidence" {
		t.Errorf("without them: %s", got)
	}
}

// TestConfigLabels: a short label is the settings that vary between the
// rows; where they do not tell rows apart, the words of config_id that do.
func TestConfigLabels(t *testing.T) {
	res := &duck.Result{
		Columns: []duck.Column{{Name: "config_id"}, {Name: "patch"}, {Name: "depth"}, {Name: "hidden"}},
		Rows: [][]any{
			{"rq1-p16-d6-h384 @ H200", int64(16), int64(6), int64(384)},
			{"rq1-p16-d12-h768 @ H200", int64(16), int64(12), int64(768)},
		},
	}
	if got := strings.Join(configLabels(res), ", "); got != "d6 h384, d12 h768" {
		t.Errorf("labels %q", got)
	}
	res = &duck.Result{
		Columns: []duck.Column{{Name: "config_id"}, {Name: "rq"}},
		Rows:    [][]any{{"rq2-p16-r256 @ H200", "rq2"}, {"rq2-p16-r512 @ H200", "rq2"}},
	}
	if got := strings.Join(configLabels(res), ", "); got != "r256, r512" {
		t.Errorf("labels from config_id %q", got)
	}
}
