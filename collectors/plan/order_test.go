package plan

import (
	"slices"
	"strings"
	"testing"
)

const orderPlan = `name: ord
rq: rq1
defaults: {resolution: 224, batch_size: 8, preprocess: gpu}
matrix:
  patch: [8, 16, 32]
  depth: [6, 12]
  hidden: [384, 768]
repeats: 3
`

func expandOrder(t *testing.T, yaml, profile string) *Expansion {
	t.Helper()
	p, err := Parse("ord.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	x, err := p.Expand(profile)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func ids(x *Expansion) []string {
	var out []string
	for _, r := range x.Runs {
		out = append(out, r.ID)
	}
	return out
}

// TestShuffleRounds: every repeat round holds every configuration once,
// round r before round r+1, in an order that the seed alone decides.
func TestShuffleRounds(t *testing.T) {
	x := expandOrder(t, orderPlan, "full")
	if x.OrderSeed != DefaultOrderSeed {
		t.Fatalf("order seed %d, want the default %d", x.OrderSeed, DefaultOrderSeed)
	}
	if len(x.Runs) != 36 {
		t.Fatalf("%d runs, want 36", len(x.Runs))
	}
	var rounds [][]string
	for i, r := range x.Runs {
		if want := i/12 + 1; r.Repeat != want {
			t.Fatalf("run %d (%s) is repeat %d, want %d: rounds must not mix", i, r.ID, r.Repeat, want)
		}
		if r.Repeat > len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[r.Repeat-1] = append(rounds[r.Repeat-1], r.Name)
	}
	for i, round := range rounds {
		sorted := slices.Sorted(slices.Values(round))
		if len(slices.Compact(sorted)) != 12 {
			t.Fatalf("round %d does not hold the 12 configurations once each: %v", i+1, round)
		}
	}
	if slices.Equal(rounds[0], rounds[1]) && slices.Equal(rounds[1], rounds[2]) {
		t.Fatalf("every round has the same order: rounds are not shuffled independently")
	}
	plain := slices.Clone(x.Runs)
	x.Shuffle(0)
	for i := 1; i < 12; i++ {
		if *x.Runs[i-1].Settings.Patch > *x.Runs[i].Settings.Patch {
			t.Fatalf("seed 0 is not the plan's order: %s before %s", x.Runs[i-1].ID, x.Runs[i].ID)
		}
	}
	if slices.EqualFunc(plain, x.Runs, func(a, b Run) bool { return a.ID == b.ID }) {
		t.Fatalf("seed %d gave the plan's order", DefaultOrderSeed)
	}
	x.Shuffle(DefaultOrderSeed)
	if !slices.Equal(ids(x), ids(&Expansion{Runs: plain})) {
		t.Fatalf("shuffling again with the same seed gave another order")
	}
	y := expandOrder(t, orderPlan, "full")
	if !slices.Equal(ids(x), ids(y)) {
		t.Fatalf("two expansions of one plan (two shards, or a resume) disagree on the order")
	}
	y.Shuffle(2)
	if slices.Equal(ids(x), ids(y)) {
		t.Fatalf("seeds 1 and 2 gave the same order")
	}
}

// TestOrderSeedKey: order_seed at the top and in a profile, and its errors.
func TestOrderSeedKey(t *testing.T) {
	yaml := orderPlan + "order_seed: 7\nprofiles:\n  quick: {order_seed: 0, repeats: 1, allow_few_repeats: true}\n"
	if x := expandOrder(t, yaml, "full"); x.OrderSeed != 7 {
		t.Errorf("top-level order_seed: got %d, want 7", x.OrderSeed)
	}
	if x := expandOrder(t, yaml, "quick"); x.OrderSeed != 0 {
		t.Errorf("profile order_seed 0: got %d", x.OrderSeed)
	}
	for _, bad := range []string{"order_seed: -1\n", "order_seed: abc\n", "order_seed: 1.5\n"} {
		_, err := Parse("ord.yaml", []byte(orderPlan+bad))
		if err == nil || !strings.Contains(err.Error(), "order_seed must be an integer >= 0") {
			t.Errorf("%q: got %v, want an order_seed error", bad, err)
		}
	}
}

// TestTraceRepeats: trace_repeats N marks repeats 1..N of every
// configuration traced and the rest not, whatever the order; a profile
// overrides the plan's value; 0, or a value at or above repeats, traces
// every run; a negative or non-integer value is an error at its line.
func TestTraceRepeats(t *testing.T) {
	yaml := orderPlan + "trace_repeats: 1\nprofiles:\n  two: {trace_repeats: 2}\n  all: {trace_repeats: 0}\n"
	for _, tc := range []struct {
		profile string
		want    int // traced repeats; 0: all
	}{{"full", 1}, {"two", 2}, {"all", 0}} {
		x := expandOrder(t, yaml, tc.profile)
		if x.TraceRepeats != tc.want {
			t.Errorf("%s: TraceRepeats %d, want %d", tc.profile, x.TraceRepeats, tc.want)
		}
		traced := 0
		for _, r := range x.Runs {
			want := tc.want == 0 || r.Repeat <= tc.want
			if r.Traced != want {
				t.Errorf("%s: %s traced %v, want %v", tc.profile, r.ID, r.Traced, want)
			}
			if r.Traced {
				traced++
			}
		}
		x.Shuffle(7) // reordering keeps the marks
		for _, r := range x.Runs {
			if r.Traced != (tc.want == 0 || r.Repeat <= tc.want) {
				t.Errorf("%s after Shuffle: %s traced %v", tc.profile, r.ID, r.Traced)
			}
		}
		if tc.want > 0 && traced != tc.want*x.Configs {
			t.Errorf("%s: %d traced runs, want %d", tc.profile, traced, tc.want*x.Configs)
		}
	}
	x := expandOrder(t, orderPlan, "full")
	x.SetTraceRepeats(3) // = repeats: every run
	if x.TraceRepeats != 0 || slices.ContainsFunc(x.Runs, func(r Run) bool { return !r.Traced }) {
		t.Errorf("trace_repeats at repeats: %d, some run untraced", x.TraceRepeats)
	}
	for _, bad := range []string{"trace_repeats: -1\n", "trace_repeats: two\n"} {
		_, err := Parse("ord.yaml", []byte(orderPlan+bad))
		if err == nil || !strings.Contains(err.Error(), "trace_repeats must be an integer >= 0") || !strings.Contains(err.Error(), "ord.yaml:9") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
