package queries

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"vitlab/etl/ingest"
)

// fTail is the test's own P(F(d1, d2) > f): the regularized incomplete
// beta I_x(d2/2, d1/2), x = d2/(d2 + d1·f), as (2/B)·∫₀^asin(√x)
// sin^(d2−1)φ·cos^(d1−1)φ dφ by Simpson's rule (t = sin²φ takes the
// endpoint singularities out of the integrand). Independent of the SQL's
// finite series.
func fTail(f, d1, d2 float64) float64 {
	if f <= 0 {
		return 1
	}
	x := d2 / (d2 + d1*f)
	a, b := d2/2, d1/2
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	beta := math.Exp(la + lb - lab)
	g := func(p float64) float64 { return math.Pow(math.Sin(p), d2-1) * math.Pow(math.Cos(p), d1-1) }
	return 2 / beta * simpson(g, math.Asin(math.Sqrt(x)), 20000)
}

// TestFSurvival checks f_sf (views/05_stats.sql) against three references:
// published 5 % critical values of F (where the tail is 0.05), tails
// computed offline with an incomplete-beta continued fraction (Numerical
// Recipes' betacf, in Python, double precision; hard-coded below), and a
// grid against fTail, covering the three forms of the series (d1 even,
// d2 even, both odd).
func TestFSurvival(t *testing.T) {
	w := openEmpty(t)
	type ref struct{ f, d1, d2, p float64 }
	refs := []ref{
		// F(0.95; d1, d2) from the usual tables (R's qf, 7 digits): tail 0.05
		{161.4476, 1, 1, 0.05}, {18.51282, 1, 2, 0.05}, {10.12796, 1, 3, 0.05},
		{9.552094, 2, 3, 0.05}, {9.276628, 3, 3, 0.05}, {6.607891, 1, 5, 0.05},
		{5.050329, 5, 5, 0.05}, {4.964603, 1, 10, 0.05}, {3.862548, 3, 9, 0.05},
		{3.47805, 4, 10, 0.05}, {2.591096, 8, 16, 0.05}, {5.117355, 1, 9, 0.05},
		{19, 2, 2, 0.05},
		// incomplete-beta continued fraction (Python, offline)
		{2.5, 1, 4, 0.18900365845517542}, {0.3, 3, 5, 0.8247137692919987},
		{7.0, 7, 16, 0.0006468247584799094}, {1.0, 1, 1, 0.5000000000000004},
		{12.0, 1, 3, 0.040519326353834}, {0.05, 3, 3, 0.9826133295298128},
		{4.2, 8, 16, 0.007063449758588019}, {40.0, 1, 4, 0.003198202152335305},
		{1.7, 9, 18, 0.16151632246187958}, {100.0, 2, 6, 2.4708824802535344e-05},
		{3.3, 5, 7, 0.07552343230418421}, {0.8, 2, 4, 0.5102040816326532},
	}
	for _, d1 := range []float64{1, 2, 3, 4, 5, 7, 8, 11} {
		for _, d2 := range []float64{1, 2, 3, 4, 6, 9, 15, 28} {
			for _, f := range []float64{0.2, 1, 3.5, 12, 80} {
				refs = append(refs, ref{f, d1, d2, math.NaN()})
			}
		}
	}
	var vals []string
	for i, r := range refs {
		vals = append(vals, fmt.Sprintf("(%d, %v, %v, %v)", i, r.f, r.d1, r.d2))
	}
	res, err := w.SQL(context.Background(), "select f_sf(f::double, d1::bigint, d2::bigint) from (values "+
		strings.Join(vals, ", ")+") as v(i, f, d1, d2) order by i")
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range refs {
		got, ok := res.Rows[i][0].(float64)
		if !ok {
			t.Errorf("f_sf(%g, %g, %g) = %v", r.f, r.d1, r.d2, res.Rows[i][0])
			continue
		}
		want, tol := r.p, 2e-6 // the tables' 7 digits
		if math.IsNaN(want) {
			want, tol = fTail(r.f, r.d1, r.d2), 1e-9
		} else if r.p != 0.05 {
			tol = 1e-12 * math.Max(1, 1/r.p) * r.p
		}
		if math.Abs(got-want) > tol {
			t.Errorf("f_sf(%g, %g, %g) = %.15g, want %.15g", r.f, r.d1, r.d2, got, want)
		}
	}
	res, err = w.SQL(context.Background(), `select f_sf(0.0, 2, 3), f_sf('inf'::double, 2, 3), f_sf(1.0, 0, 3), f_sf(1.0, 1.5, 3), f_sf(null, 2, 3)`)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Rows[0]); got != "[1 0 <nil> <nil> <nil>]" {
		t.Errorf("edge cases: %s, want [1 0 <nil> <nil> <nil>]", got)
	}
}

// h100RunJSON is what the variance test reads of a run.json.
type h100RunJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	StartedAt  string `json:"started_at"`
	FinishedAt string `json:"finished_at"`
	GPU        struct {
		Name string `json:"name"`
	} `json:"gpu"`
	Windows []struct {
		Start      int64   `json:"start_unix_ns"`
		End        int64   `json:"end_unix_ns"`
		Throughput float64 `json:"throughput"`
	} `json:"windows"`
	Phase map[string]float64 `json:"phase_seconds"`
}

// TestThroughputVarianceH100 pools the two collections of the b32 pipeline
// configurations on one H100 (data/h100-pipeline-2026-12-07: the full
// rq5-pipeline-h100 batch, executed launches, and the run records of
// rq5-quick-h100-warm-seed2, warm start), two runs per b32 configuration,
// and checks every number of throughput_variance against the same
// decomposition computed here in Go from the run.json files themselves
// (windows' throughput and marker times, started_at, finished_at), not from the
// warehouse: with vc_runs=ok over every ok run, and with the default over
// the runs usable_runs keeps (the one thing taken from the warehouse: which
// runs its validity flags leave out).
func TestThroughputVarianceH100(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join("..", "data", "h100-pipeline-2026-12-07")
	dirs := []string{filepath.Join(root, "rq5-pipeline-h100"), filepath.Join(root, "runs-only", "rq5-quick-h100-warm-seed2")}
	wh := t.TempDir()
	if _, err := ingest.Run(ctx, ingest.Request{Warehouse: wh, Paths: dirs[:1], Jobs: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.Run(ctx, ingest.Request{Warehouse: wh, Paths: dirs[1:], Jobs: 2, RunsOnly: true}); err != nil {
		t.Fatal(err)
	}
	w, err := Open(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	// The runs, from run.json.
	var all []*varRun
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "runs", "*", "run.json"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var j h100RunJSON
			if err := json.Unmarshal(b, &j); err != nil {
				t.Fatal(err)
			}
			if j.Status != "ok" {
				continue
			}
			s, err1 := time.Parse(time.RFC3339Nano, j.StartedAt)
			e, err2 := time.Parse(time.RFC3339Nano, j.FinishedAt)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			r := &varRun{batch: filepath.Base(dir), id: j.ID, config: j.Name + " @ " + j.GPU.Name,
				wall: e.Sub(s).Seconds(), phases: j.Phase["clean"] + j.Phase["traced"] + j.Phase["export"]}
			for _, win := range j.Windows {
				r.logs = append(r.logs, math.Log(win.Throughput))
				r.secs = append(r.secs, float64(win.End-win.Start)/1e9) // clean_windows.duration_ns
			}
			all = append(all, r)
		}
	}
	if len(all) != 26 {
		t.Fatalf("%d ok runs in run.json, want 26 (18 + 8)", len(all))
	}
	usableRes, err := w.SQL(ctx, `select batch_id || '/' || run_id from usable_runs`)
	if err != nil {
		t.Fatal(err)
	}
	usable := map[string]bool{}
	for _, r := range usableRes.Rows {
		usable[r[0].(string)] = true
	}

	q, ok := w.Catalog().Query("throughput_variance")
	if !ok {
		t.Fatal("no saved query throughput_variance")
	}
	for _, mode := range []string{"ok", "usable"} {
		t.Run(mode, func(t *testing.T) {
			byConfig := map[string][]*varRun{}
			for _, r := range all {
				if mode == "ok" || usable[r.batch+"/"+r.id] {
					byConfig[r.config] = append(byConfig[r.config], r)
				}
			}
			res, err := w.Run(ctx, q, map[string]string{"vc_runs": mode})
			if err != nil {
				t.Fatal(err)
			}
			col := map[string]int{}
			for i, c := range res.Columns {
				col[c.Name] = i
			}
			get := func(row []any, name string) any { return row[col[name]] }
			seen := map[string]string{}
			var iccs []float64
			effects := 0
			for _, row := range res.Rows {
				level := get(row, "level").(string)
				if level == "rq" {
					continue
				}
				cfg := get(row, "config_id").(string)
				seen[cfg] = level
				runs := byConfig[cfg]
				if level == "not split" {
					if len(runs) != 1 || get(row, "reason") != "one run: no between-run variance" {
						t.Errorf("%s not split (%v) with %d runs", cfg, get(row, "reason"), len(runs))
					}
					continue
				}
				want := anovaOf(runs)
				iccs = append(iccs, want.icc)
				if want.p < 0.05 {
					effects++
				}
				checkNum := func(name string, want float64) {
					t.Helper()
					got, ok := get(row, name).(float64)
					if !ok {
						if v, isInt := get(row, name).(int64); isInt {
							got, ok = float64(v), true
						}
					}
					if !ok || math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
						t.Errorf("%s: %s = %v, want %.12g", cfg, name, get(row, name), want)
					}
				}
				checkNum("n_runs", float64(len(runs)))
				checkNum("windows", float64(want.n))
				checkNum("n0", want.n0)
				checkNum("throughput_gm", want.gm)
				checkNum("ms_between", want.msb)
				checkNum("ms_within", want.msw)
				checkNum("s2_within", want.msw)
				checkNum("s2_run", want.s2r)
				checkNum("icc", want.icc)
				checkNum("f_stat", want.f)
				checkNum("f_p", want.p)
				checkNum("window_s", want.windowS)
				// timestamps are stored to the microsecond
				if got := get(row, "run_cost_s").(float64); math.Abs(got-want.cost) > 1e-5 {
					t.Errorf("%s: run_cost_s = %v, want %.6f", cfg, got, want.cost)
				}
				if want.s2r > 0 {
					nw := math.Max(1, math.Round(math.Sqrt(want.cost*want.msw/(want.windowS*want.s2r))))
					checkNum("windows_opt", nw)
					if get(row, "reason") != "" && get(row, "reason") != nil {
						t.Errorf("%s: reason %q with S_r² > 0", cfg, get(row, "reason"))
					}
				} else {
					if get(row, "windows_opt") != nil {
						t.Errorf("%s: windows_opt %v with S_r² = 0", cfg, get(row, "windows_opt"))
					}
					if r, _ := get(row, "reason").(string); !strings.HasPrefix(r, "S_r² estimated 0") {
						t.Errorf("%s: reason %q with S_r² = 0", cfg, r)
					}
				}
				checkRunsNeeded(t, cfg, get(row, "runs_needed"), want.s2means, 0.02)
				t.Logf("%s: runs %d, S_w² %.6g, S_r² %.6g, ICC %.4f, F %.4g p %.4g, c_run %.2f s (phases %.2f s), c_window %.3f s, n_w* %v, runs_needed %v (at n_w*: %v)",
					cfg, len(runs), want.msw, want.s2r, want.icc, want.f, want.p, want.cost, want.phaseCost, want.windowS,
					get(row, "windows_opt"), get(row, "runs_needed"), get(row, "runs_needed_opt"))
			}
			for cfg, runs := range byConfig {
				if _, ok := seen[cfg]; !ok {
					t.Errorf("%s (%d runs) has no row", cfg, len(runs))
				} else if (len(runs) >= 2) != (seen[cfg] == "config") {
					t.Errorf("%s: %d runs, level %s", cfg, len(runs), seen[cfg])
				}
			}
			if len(seen) != len(byConfig) {
				t.Errorf("%d configurations in the answer, %d in run.json", len(seen), len(byConfig))
			}
			// the rq row: median ICC and the F-test count
			sort.Float64s(iccs)
			for _, row := range res.Rows {
				if get(row, "level") != "rq" {
					continue
				}
				med := iccs[len(iccs)/2]
				if len(iccs)%2 == 0 {
					med = (iccs[len(iccs)/2-1] + iccs[len(iccs)/2]) / 2
				}
				if got := get(row, "icc").(float64); math.Abs(got-med) > 1e-9 {
					t.Errorf("rq row: median icc %v, want %v", got, med)
				}
				if got := get(row, "run_effect_configs").(int64); got != int64(effects) {
					t.Errorf("rq row: run_effect_configs %d, want %d", got, effects)
				}
				if got := get(row, "configs").(int64); got != int64(len(iccs)) {
					t.Errorf("rq row: configs %d, want %d", got, len(iccs))
				}
				t.Logf("rq %v: %v configurations, median ICC %.4f, %d with a run effect at 5 %%: %v", get(row, "rq"), get(row, "configs"), med, effects, get(row, "reason"))
			}
		})
	}
}

// varRun is one run as TestThroughputVarianceH100 reads it from run.json.
type varRun struct {
	batch, id, config string
	logs, secs        []float64 // ln(window throughput), window seconds
	wall              float64   // finished_at − started_at, s
	phases            float64   // phase_seconds clean + traced + export
}

type anovaResult struct {
	n                                 int
	n0, gm, msb, msw, s2r, icc, f, p  float64
	windowS, cost, phaseCost, s2means float64
}

// anovaOf is the one-way random-effects ANOVA of the runs' log windows,
// written out as the textbook gives it.
func anovaOf(runs []*varRun) anovaResult {
	var a anovaResult
	k := float64(len(runs))
	var sum, sumN2, secs, means, cost, phase float64
	for _, r := range runs {
		a.n += len(r.logs)
		sumN2 += float64(len(r.logs) * len(r.logs))
		var rs float64
		for i, y := range r.logs {
			sum += y
			rs += r.secs[i]
		}
		secs += rs
		cost += r.wall - rs
		phase += r.phases - rs
	}
	n := float64(a.n)
	grand := sum / n
	var ssb, ssw float64
	runMeans := make([]float64, len(runs))
	for i, r := range runs {
		var m float64
		for _, y := range r.logs {
			m += y
		}
		m /= float64(len(r.logs))
		runMeans[i] = m
		means += m
		ssb += float64(len(r.logs)) * (m - grand) * (m - grand)
		for _, y := range r.logs {
			ssw += (y - m) * (y - m)
		}
	}
	mm := means / k
	for _, m := range runMeans {
		a.s2means += (m - mm) * (m - mm) / (k - 1)
	}
	a.gm = math.Exp(mm)
	a.msb = ssb / (k - 1)
	a.msw = ssw / (n - k)
	a.n0 = (n - sumN2/n) / (k - 1)
	a.s2r = math.Max(0, a.msb-a.msw) / a.n0
	a.icc = a.s2r / (a.s2r + a.msw)
	a.f = a.msb / a.msw
	a.p = fTail(a.f, k-1, n-k)
	a.windowS = secs / n
	a.cost = cost / k
	a.phaseCost = phase / k
	return a
}

// checkRunsNeeded checks runs_needed against Student's t (studentQuantile):
// the fewest n whose 95 % half-width t(0.975, n−1)·s/√n is at most
// ln(1 + h); where the SQL's grid (every n to 30, then steps) or its
// approximate t (Hill, within 2e-3) may differ, the answer must still meet
// the rule within that error and its grid predecessor must not.
func checkRunsNeeded(t *testing.T, cfg string, got any, s2 float64, h float64) {
	t.Helper()
	target := math.Log(1 + h)
	half := func(n int) float64 { return studentQuantile(0.975, float64(n-1)) * math.Sqrt(s2/float64(n)) }
	want := 0
	for n := 2; n <= 1000; n++ {
		if half(n) <= target {
			want = n
			break
		}
	}
	g, ok := got.(int64)
	if !ok {
		if want != 0 && want <= 30 {
			t.Errorf("%s: runs_needed %v, want %d", cfg, got, want)
		}
		return
	}
	if int(g) == want {
		return
	}
	if int(g) < want || half(int(g)) > target*(1+2e-3) || (g <= 30 && half(int(g)-1) <= target*(1-2e-3)) {
		t.Errorf("%s: runs_needed %d, want %d (half-width %.5g at %d, target %.5g)", cfg, g, want, half(int(g)), g, target)
	}
}
