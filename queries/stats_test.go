package queries

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// studentCDF is Student's t distribution function with df degrees of
// freedom at x >= 0, by Simpson's rule on the density (the test's own
// reference, independent of the SQL).
func studentCDF(x, df float64) float64 {
	lg1, _ := math.Lgamma((df + 1) / 2)
	lg2, _ := math.Lgamma(df / 2)
	c := math.Exp(lg1-lg2) / math.Sqrt(df*math.Pi)
	f := func(u float64) float64 { return c * math.Pow(1+u*u/df, -(df+1)/2) }
	return 0.5 + simpson(f, x, 4000)
}

// simpson is the integral of f over [0, end] by Simpson's rule on steps
// (even) intervals: the tests' own numerical references.
func simpson(f func(float64) float64, end float64, steps int) float64 {
	h := end / float64(steps)
	sum := f(0) + f(end)
	for i := 1; i < steps; i++ {
		w := 2.0
		if i%2 == 1 {
			w = 4
		}
		sum += w * f(float64(i)*h)
	}
	return sum * h / 3
}

// studentQuantile inverts studentCDF by bisection (p > 0.5).
func studentQuantile(p, df float64) float64 {
	lo, hi := 0.0, 1.0
	for studentCDF(hi, df) < p {
		hi *= 2
	}
	for range 60 {
		mid := (lo + hi) / 2
		if studentCDF(mid, df) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

func openEmpty(t *testing.T) *Warehouse {
	t.Helper()
	base, err := givenBase(nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := OpenSQL(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// TestTQuantiles checks the SQL t quantiles (views/05_stats.sql,
// t_quantiles) against Student's distribution at integer and real degrees
// of freedom, as Welch–Satterthwaite gives them.
func TestTQuantiles(t *testing.T) {
	w := openEmpty(t)
	ps := []float64{0.9, 0.95, 0.975, 0.99, 0.995, 0.9995}
	dfs := []float64{1, 1.3, 1.7, 2, 2.5, 3, 3.6, 4, 5, 7.5, 9, 15, 30, 60, 200}
	var rows []string
	for _, p := range ps {
		for _, df := range dfs {
			rows = append(rows, fmt.Sprintf("(%g, %g)", p, df))
		}
	}
	res, err := w.SQL(context.Background(), "with req as (select p::double as p, df::double as df from (values "+strings.Join(rows, ", ")+
		") as v(p, df)) select p::double, df::double, t from t_quantiles('req') order by p, df")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != len(ps)*len(dfs) {
		t.Fatalf("%d rows, want %d", len(res.Rows), len(ps)*len(dfs))
	}
	for _, r := range res.Rows {
		p, df, got := r[0].(float64), r[1].(float64), r[2].(float64)
		want := studentQuantile(p, df)
		// Hill's algorithm without R's refinement step is within 2e-3 from
		// 2 degrees of freedom up; between 1 and 2 (Welch with two runs on
		// a side) it errs by up to 3 %, always upwards: a wider interval,
		// never a narrower one.
		switch rel := math.Abs(got/want - 1); {
		case df >= 2 || df == 1:
			if rel > 2e-3 {
				t.Errorf("t(%g, df %g) = %.5f, want %.5f (relative error %.2g)", p, df, got, want, rel)
			}
		case got < want || rel > 0.04:
			t.Errorf("t(%g, df %g) = %.5f, want %.5f: below, or more than 4 %% above", p, df, got, want)
		}
	}
	res, err = w.SQL(context.Background(), "with req as (select p::double as p, df::double as df from (values (0.025, 4.0), (0.5, 3.0), (0.975, 0.5), (0.975, null)) as v(p, df)) select t from t_quantiles('req') order by p, df")
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Rows[0][0].(float64); math.Abs(got+2.7764) > 1e-3 {
		t.Errorf("t(0.025, 4) = %g, want -2.7764", got)
	}
	if got := res.Rows[1][0].(float64); got != 0 {
		t.Errorf("t(0.5, 3) = %g, want 0", got)
	}
	if res.Rows[2][0] != nil || res.Rows[3][0] != nil {
		t.Errorf("t at df 0.5 or null = %v, %v, want null (too few runs)", res.Rows[2][0], res.Rows[3][0])
	}
}

// TestIntervalCoverage is the simulation test of the interval methods: it
// draws runs from known lognormal distributions (seeded; no GPU), runs the
// saved SQL (config_stats over run_values, claim_tests' Welch contrast on
// log values) through DuckDB, and checks that the intervals cover the true
// values as often as their stated level says, within ±2 points, for 3, 5
// and 10 runs per side. 4000 replicates per n: the standard error of a
// 95 % coverage is 0.34 points.
func TestIntervalCoverage(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	const reps = 4000
	const muA, sigmaA = 1000.0, 0.05 // side a: median 1000 img/s, log sd 0.05
	const muB, sigmaB = 1200.0, 0.12 // side b: unequal spread (Welch)
	trueRatio := muA / muB           // ratio of medians = ratio of geometric means
	rng := rand.New(rand.NewPCG(15, 2026))
	var b strings.Builder
	b.WriteString("batch_id,run_id,config_id,metric,v\n")
	for _, n := range []int{3, 5, 10} {
		for r := range reps {
			for side, mu := range map[string]float64{"a": muA, "b": muB} {
				sigma := sigmaA
				if side == "b" {
					sigma = sigmaB
				}
				for i := range n {
					v := mu * math.Exp(sigma*rng.NormFloat64())
					fmt.Fprintf(&b, "sim,n%d-r%d-%s-%d,n%d-r%d-%s,clean_throughput,%.17g\n", n, r, side, i, n, r, side, v)
				}
			}
		}
	}
	file := filepath.Join(t.TempDir(), "runs.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	w := openEmpty(t)
	ctx := context.Background()
	for _, s := range []string{
		// the simulated runs shadow the views the statistics read
		"create temp table run_values as select batch_id, run_id, config_id, metric, v, 0 as window_n, null::double as window_cv, null::double as window_spread from read_csv('" + file + "', header = true, columns = {'batch_id': 'varchar', 'run_id': 'varchar', 'config_id': 'varchar', 'metric': 'varchar', 'v': 'double'})",
		"create temp table usable_runs as select distinct batch_id, run_id, config_id from run_values",
		// one band unit per replicate: the ratio a/b of the replicate's two configurations
		`create temp table sim_units as
		 select
		     'n' || n as claim_id, 'rep ' || r as unit, 'band' as test, 0.5 as edge_lo, 2.0 as edge_hi,
		     'log' as scale, null::double as shift, null::double as estimate,
		     [contrast_term('n' || n || '-r' || r || '-a', 'clean_throughput', 1, 'log'),
		      contrast_term('n' || n || '-r' || r || '-b', 'clean_throughput', -1, 'log')] as terms,
		     'ratio' as value_unit, '' as evidence
		 from (select unnest([3, 5, 10]) as n), range(` + fmt.Sprint(reps) + `) as t(r)`,
		"set variable claims_alpha = 0.025", // holds interval at 1 - 2 alpha = 95 %
		"set variable claims_assumed_cv = 0.05",
		"set variable claims_min_runs = 3",
	} {
		if _, err := w.SQL(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	res, err := w.SQL(ctx, fmt.Sprintf(`
		select claim_id, any_value(level_h)::double, count(*), avg(case when lo_h <= %[1]g and %[1]g <= hi_h then 1.0 else 0.0 end)
		from claim_tests('sim_units', 'config_stats')
		group by claim_id order by claim_id`, trueRatio))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 3 {
		t.Fatalf("%d claims, want 3", len(res.Rows))
	}
	for _, r := range res.Rows {
		level, count, cover := r[1].(float64), r[2].(int64), r[3].(float64)
		t.Logf("ratio, %s runs per side: coverage %.4f of %d, stated %.2f", r[0], cover, count, level)
		if count != reps || math.Abs(cover-level) > 0.02 {
			t.Errorf("ratio, %s runs per side: coverage %.4f over %d units, stated %.2f (want within 0.02)", r[0], cover, count, level)
		}
	}
	// A single configuration's level: config_stats' 95 % t interval on log
	// values must cover the true geometric mean (the median of a lognormal).
	res, err = w.SQL(ctx, fmt.Sprintf(`
		select n, any_value(conf_level)::double, count(*), avg(case when ci_low <= %[1]g and %[1]g <= ci_high then 1.0 else 0.0 end)
		from config_stats
		where config_id like '%%-a'
		group by n order by n`, muA))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rows {
		level, count, cover := r[1].(float64), r[2].(int64), r[3].(float64)
		t.Logf("level, %v runs: coverage %.4f of %d, stated %.2f", r[0], cover, count, level)
		if count != reps || math.Abs(cover-level) > 0.02 {
			t.Errorf("level, %v runs: coverage %.4f over %d configs, stated %.2f (want within 0.02)", r[0], cover, count, level)
		}
	}
}
