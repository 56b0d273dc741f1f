package report

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vitlab/queries/duck"
)

// TestAnswersCiteTheirQueries reads report/answers.json of the sample and
// checks every number each answer cites against the output of its query,
// run afresh: the rows its where clause names exist, the value is theirs
// (or their count), and the answer's text prints it as cited.
func TestAnswersCiteTheirQueries(t *testing.T) {
	answers := checkAnswers(t, writeReport(t, sampleWarehouse(t)))
	if len(answers) != 5 {
		t.Fatalf("%d answers, want one per research question", len(answers))
	}
	for _, a := range answers {
		if len(a.Numbers) < 3 || a.Text == "" {
			t.Errorf("%s: answer %q cites %d numbers", a.RQ, a.Text, len(a.Numbers))
		}
	}
}

// TestAnswerHeadroom: on the first collection of the process-based
// workload (data/h100-2026-12-07/rq5-quick-h100, which records each run's
// forward-only and preprocessing-only rates) the RQ5 answer says how much
// of its ceiling the fastest pipeline reached, every number cited as the
// sample's answers are.
func TestAnswerHeadroom(t *testing.T) {
	wh := warehouseOf(t, "h100-rq5", "", filepath.Join("..", "..", "data", "h100-2026-12-07", "rq5-quick-h100"))
	for _, a := range checkAnswers(t, writeReport(t, wh)) {
		if a.RQ != "rq5" {
			continue
		}
		if want := "The fastest, async q8 gpu, reached 0.938 of its ceiling, the slower of its model alone (10,056 img/s) and its preprocessing alone (22,620 img/s); limiting: forward."; !strings.Contains(a.Text, want) {
			t.Errorf("rq5 answer: no %q in\n%s", want, a.Text)
		}
		// async q8 cpu ran at the power cap (power_capped, info): it counts
		// and the answer says so.
		if want := "1 run(s) count with a note (power_capped: the SM clock fell in a clean window under the GPU's power cap"; !strings.Contains(a.Text, want) {
			t.Errorf("rq5 answer: no %q in\n%s", want, a.Text)
		}
		if strings.Contains(a.Text, "left out of every number") {
			t.Errorf("rq5 answer leaves a run out:\n%s", a.Text)
		}
	}
}

// checkAnswers reads r's answers.json and checks every number each answer
// cites against the output of its query, run afresh.
func checkAnswers(t *testing.T, r written) []Answer {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.out, "answers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var answers []Answer
	if err := json.Unmarshal(b, &answers); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	results := map[string]*duck.Result{}
	run := func(name string) *duck.Result {
		if res, ok := results[name]; ok {
			return res
		}
		var res *duck.Result
		if sql, ok := internalQueries[name]; ok {
			res, err = r.w.SQL(ctx, sql)
		} else if q, ok := r.w.Catalog().Query(name); ok {
			res, err = r.w.Run(ctx, q, nil)
		} else {
			t.Fatalf("answers cite query %q, which is neither saved nor the report's", name)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		results[name] = res
		return res
	}
	for _, a := range answers {
		for _, n := range a.Numbers {
			for _, p := range checkNumber(run(n.Query), n) {
				t.Errorf("%s: %s.%s %v: %s", a.RQ, n.Query, n.Column, n.Where, p)
			}
			if n.Text != fmtNumber(n.Value) || !strings.Contains(a.Text, n.Text) {
				t.Errorf("%s: cites %s.%s = %v as %q; the text does not print it so: %s", a.RQ, n.Query, n.Column, n.Value, n.Text, a.Text)
			}
		}
	}
	return answers
}

// checkNumber lists what is wrong with a cited number given its query's
// result.
func checkNumber(res *duck.Result, n Number) []string {
	a := &answerer{results: map[string]*duck.Result{n.Query: res}}
	rows := a.rows(n.Query, n.Where)
	switch n.Agg {
	case "count":
		if float64(len(rows)) != n.Value {
			return []string{"cites a count of " + fmtNumber(n.Value) + ", the query has " + fmtNumber(float64(len(rows))) + " such rows"}
		}
		return nil
	case "":
	default:
		return []string{"unknown agg " + n.Agg}
	}
	if len(rows) == 0 {
		return []string{"no row of the query matches"}
	}
	for _, r := range rows {
		if v, ok := number(r[n.Column]); ok && v == n.Value {
			return nil
		}
	}
	return []string{"cites " + fmtNumber(n.Value) + ", which no matching row holds"}
}
