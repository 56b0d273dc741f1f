package report

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"

	"gonum.org/v1/plot"

	"vitlab/queries"
	"vitlab/queries/duck"
)

// TestSampleChartsInsideAxes renders every chart of every finding on the
// shipped sample and checks, from what the chart itself drew: each point
// and each interval end lies inside the plotted range; a chart whose result
// has interval columns for its y draws error bars; no bars on a log axis;
// a log axis only over more than a decade; enough tick labels, none with
// spurious decimals; axis titles in words.
func TestSampleChartsInsideAxes(t *testing.T) {
	ctx := context.Background()
	w := writeReport(t, sampleWarehouse(t)).w
	charts := 0
	for _, q := range w.Catalog().Layer(queries.LayerFinding) {
		if len(q.Charts) == 0 {
			continue
		}
		res, err := w.Run(ctx, q, nil)
		if err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		for i, spec := range q.Charts {
			name := fmt.Sprintf("%s chart %d (%s)", q.Name, i+1, chartLine(spec))
			f, err := buildPlot(spec, res)
			if errors.Is(err, errNoPoints) {
				continue // e.g. RQ4 on a one-NUMA-node host: said in the report
			}
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			charts++
			if lo, hi := intervalColumns(res, spec.Y); lo >= 0 {
				// Rows with an interval, counted from the result itself.
				want := 0
				for _, r := range res.Rows {
					x, y := r[colIndex(res, spec.X)], r[colIndex(res, spec.Y)]
					if x != nil && y != nil && r[lo] != nil && r[hi] != nil {
						want++
					}
				}
				if f.errorBars != want {
					t.Errorf("%s: %d rows have an interval (%s, %s), %d error bars drawn", name, want, res.Columns[lo].Name, res.Columns[hi].Name, f.errorBars)
				}
			}
			for _, p := range chartProblems(f) {
				t.Errorf("%s: %s", name, p)
			}
			if _, err := f.svg(chartWidth, chartHeight); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	if charts < 10 {
		t.Errorf("only %d charts drawn on the sample", charts)
	}
}

var spuriousDecimals = regexp.MustCompile(`\.[0-9]*0$`)

// chartProblems lists what is wrong with a built figure.
func chartProblems(f *figure) []string {
	var out []string
	in := func(v, lo, hi float64) bool { return v >= lo && v <= hi }
	x, y := f.p.X, f.p.Y
	for _, p := range f.points {
		if !in(p.X, x.Min, x.Max) {
			out = append(out, fmt.Sprintf("x %g outside the axis [%g, %g]", p.X, x.Min, x.Max))
		}
		for _, v := range []float64{p.Y, p.Lo, p.Hi} {
			if !in(v, y.Min, y.Max) {
				out = append(out, fmt.Sprintf("y %g (point %g, interval [%g, %g]) outside the axis [%g, %g]", v, p.Y, p.Lo, p.Hi, y.Min, y.Max))
			}
		}
	}
	if f.bars && f.logY {
		out = append(out, "bars on a log axis")
	}
	for _, a := range []struct {
		name string
		ax   plot.Axis
		log  bool
	}{{"x", x, f.logX}, {"y", y, f.logY}} {
		if a.log && !(a.ax.Max > 10*a.ax.Min) {
			out = append(out, a.name+": a log axis over less than a decade")
		}
		if _, ok := a.ax.Tick.Marker.(plot.ConstantTicks); ok {
			continue // categories
		}
		labels := 0
		for _, tk := range a.ax.Tick.Marker.Ticks(a.ax.Min, a.ax.Max) {
			if tk.Label == "" {
				continue
			}
			labels++
			if spuriousDecimals.MatchString(tk.Label) {
				out = append(out, fmt.Sprintf("%s tick %q has spurious decimals", a.name, tk.Label))
			}
		}
		if labels < 3 {
			out = append(out, fmt.Sprintf("%s axis has %d tick labels", a.name, labels))
		}
		if regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)+$`).MatchString(a.ax.Label.Text) {
			out = append(out, fmt.Sprintf("%s axis title %q is a column name", a.name, a.ax.Label.Text))
		}
	}
	return out
}

func colIndex(res *duck.Result, name string) int {
	for i, c := range res.Columns {
		if c.Name == name {
			return i
		}
	}
	panic("no column " + name)
}
