package report

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	plottext "gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"vitlab/queries"
	"vitlab/queries/duck"
)

// chartTitle is the title drawn above a chart: the declared one, or
// "<y> by <x>".
func chartTitle(c queries.Chart) string {
	if c.Title != "" {
		return c.Title
	}
	t := c.Y + " by " + c.X
	if c.Series != "" {
		t += " and " + c.Series
	}
	return t
}

// errNoPoints says a chart has nothing to draw: every row's x or y is NULL
// (or not positive on a log axis). That is the data's state (e.g. no remote
// NUMA runs on a one-node host), not a mistake of the chart.
var errNoPoints = errors.New("no data")

// chartLine is the chart as its header line writes it.
func chartLine(c queries.Chart) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s x=%s y=%s", c.Kind, c.X, c.Y)
	if c.Series != "" {
		b.WriteString(" series=" + c.Series)
	}
	if c.LogX {
		b.WriteString(" logx")
	}
	if c.LogY {
		b.WriteString(" logy")
	}
	if c.Title != "" {
		b.WriteString(" title=" + c.Title)
	}
	return b.String()
}

// Chart sizes, in points (1 pt = 4/3 CSS px).
const (
	chartWidth  = 6.4 * vg.Inch
	chartHeight = 3.6 * vg.Inch
)

// RenderChart draws a finding's chart (its header's -- chart: line,
// contract §5) over the finding's result res with gonum/plot and returns the SVG
// document. Rows whose x or y is NULL, not a number (for y, and for x of a
// line or scatter unless every x is text) or not positive on a log axis are
// left out; a chart left with no point is an error, as is a column res
// lacks.
func RenderChart(spec queries.Chart, res *duck.Result) (svg []byte, err error) {
	svg, _, err = renderChart(spec, res)
	return svg, err
}

// renderChart is RenderChart that also returns what the chart drew.
func renderChart(spec queries.Chart, res *duck.Result) (svg []byte, f *figure, err error) {
	defer func() {
		// gonum/plot panics on some degenerate inputs; a chart is not worth
		// stopping the report for.
		if r := recover(); r != nil {
			svg, err = nil, fmt.Errorf("chart %q: %v", chartTitle(spec), r)
		}
	}()
	f, err = buildPlot(spec, res)
	if err != nil {
		return nil, nil, err
	}
	svg, err = f.svg(chartWidth, chartHeight)
	return svg, f, err
}

// chartPoint is one value a chart draws: where, and the interval drawn
// around y (Lo == Hi == Y, Interval false, when the row has none).
type chartPoint struct {
	X, Y, Lo, Hi float64
	Interval     bool
}

// intervalColumns finds the columns holding y's interval: <stem>_lo and
// <stem>_hi, optionally followed by y's unit suffix, for the longest stem
// of y (y itself, y less its unit, then shorter prefixes): clean_throughput
// → clean_throughput_lo; latency_p99_ms → latency_p99_lo; energy_per_image_mj
// → energy_lo_mj; local_throughput → local_lo. -1, -1 when there is none.
func intervalColumns(res *duck.Result, y string) (lo, hi int) {
	idx := map[string]int{}
	for i, c := range res.Columns {
		idx[c.Name] = i
	}
	parts := strings.Split(y, "_")
	unit := ""
	if len(parts) > 1 && unitSuffix[parts[len(parts)-1]] != "" {
		unit = "_" + parts[len(parts)-1]
	}
	for n := len(parts); n >= 1; n-- {
		stem := strings.Join(parts[:n], "_")
		for _, u := range []string{"", unit} {
			l, okl := idx[stem+"_lo"+u]
			h, okh := idx[stem+"_hi"+u]
			if okl && okh && stem+"_lo"+u != y {
				return l, h
			}
		}
	}
	return -1, -1
}

func buildPlot(spec queries.Chart, res *duck.Result) (*figure, error) {
	col := func(name string) (int, error) {
		for i, c := range res.Columns {
			if c.Name == name {
				return i, nil
			}
		}
		names := make([]string, len(res.Columns))
		for i, c := range res.Columns {
			names[i] = c.Name
		}
		return 0, fmt.Errorf("chart %q: no column %q (columns: %s)", chartTitle(spec), name, strings.Join(names, ", "))
	}
	xi, err := col(spec.X)
	if err != nil {
		return nil, err
	}
	yi, err := col(spec.Y)
	if err != nil {
		return nil, err
	}
	si := -1
	if spec.Series != "" {
		if si, err = col(spec.Series); err != nil {
			return nil, err
		}
	}
	if spec.Kind == "bar" && spec.LogX {
		return nil, fmt.Errorf("chart %q: a bar chart has categories on x (no logx)", chartTitle(spec))
	}
	loi, hii := intervalColumns(res, spec.Y)
	f := newFigure(chartTitle(spec))
	f.p.X.Label.Text = axisLabel(spec.X)
	f.p.Y.Label.Text = axisLabel(spec.Y)
	f.hasIntervals = loi >= 0

	// x is categorical for bars, and when every non-null x is text.
	categorical := spec.Kind == "bar"
	if !categorical {
		for _, r := range res.Rows {
			if _, ok := r[xi].(string); ok {
				categorical = true
			} else if r[xi] != nil {
				if _, ok := number(r[xi]); ok {
					categorical = false
					break
				}
			}
		}
		if categorical && spec.LogX {
			return nil, fmt.Errorf("chart %q: logx needs a numeric x, %s is text", chartTitle(spec), spec.X)
		}
	}
	var cats []string
	catIndex := map[string]int{}
	if categorical {
		for _, r := range res.Rows {
			if r[xi] == nil {
				continue
			}
			c := cellText(r[xi])
			if _, ok := catIndex[c]; !ok {
				catIndex[c] = len(cats)
				cats = append(cats, c)
			}
		}
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	type seriesPoints struct {
		name string
		pts  []chartPoint
	}
	var all []seriesPoints
	kept := 0
	for _, s := range splitSeries(res, si, "") {
		sp := seriesPoints{name: s.name}
		for _, r := range s.rows {
			var x float64
			okx := false
			if categorical {
				if r[xi] != nil {
					x, okx = float64(catIndex[cellText(r[xi])]), true
				}
			} else {
				x, okx = number(r[xi])
			}
			y, oky := number(r[yi])
			if !okx || !oky || !finite(x) || !finite(y) {
				continue
			}
			pt := chartPoint{X: x, Y: y, Lo: y, Hi: y}
			if loi >= 0 {
				lo, okl := number(r[loi])
				hi, okh := number(r[hii])
				if okl && okh && finite(lo) && finite(hi) {
					pt.Lo, pt.Hi, pt.Interval = math.Min(lo, y), math.Max(hi, y), true
				}
			}
			sp.pts = append(sp.pts, pt)
		}
		if len(sp.pts) == 0 {
			continue
		}
		kept += len(sp.pts)
		all = append(all, sp)
	}
	if kept == 0 {
		return nil, fmt.Errorf("chart %q: %w: none of the %d rows has a plottable %s and %s", chartTitle(spec), errNoPoints, len(res.Rows), spec.X, spec.Y)
	}

	// A log axis only where the data span more than a decade (and are all
	// positive): on a narrower range it hides differences and has too few
	// labels to read a value from.
	var xs, ys []float64
	for _, s := range all {
		for _, p := range s.pts {
			xs = append(xs, p.X)
			ys = append(ys, p.Y, p.Lo, p.Hi)
		}
	}
	logX := spec.LogX && !categorical && spansDecade(xs)
	logY := spec.LogY && spansDecade(ys)
	// No bars on a log axis: a bar's length would mean nothing. Bars whose
	// values need a log axis are drawn as dots.
	bars := spec.Kind == "bar" && !logY

	p := f.p
	slots := len(all)
	for i, s := range all {
		clr := seriesColor(i)
		pts := s.pts
		if categorical && slots > 1 {
			// Side by side within the category, as bars are.
			off := (float64(i)+0.5)/float64(slots)*0.8 - 0.4
			pts = slices.Clone(pts)
			for k := range pts {
				pts[k].X += off
			}
		}
		var thumbs []plot.Thumbnailer
		switch {
		case bars:
			b := &barSet{pts: pts, color: clr, width: 0.8 / float64(slots)}
			p.Add(b)
			thumbs = []plot.Thumbnailer{swatch(palette[i%len(palette)])}
		case spec.Kind == "line":
			slices.SortStableFunc(pts, func(a, b chartPoint) int { return cmpFloat(a.X, b.X) })
			l, sc, err := plotter.NewLinePoints(xyOf(pts))
			if err != nil {
				return nil, fmt.Errorf("chart %q: %w", chartTitle(spec), err)
			}
			l.Color, l.Width = clr, vg.Points(1.5)
			sc.Color, sc.Shape, sc.Radius = clr, seriesGlyph(i), vg.Points(2.5)
			p.Add(l, sc)
			thumbs = []plot.Thumbnailer{l, sc}
		default:
			sc, err := plotter.NewScatter(xyOf(pts))
			if err != nil {
				return nil, fmt.Errorf("chart %q: %w", chartTitle(spec), err)
			}
			sc.Color, sc.Shape, sc.Radius = clr, seriesGlyph(i), vg.Points(3)
			p.Add(sc)
			thumbs = []plot.Thumbnailer{sc}
		}
		eb := &errBars{pts: pts, color: clr}
		if eb.count() > 0 {
			p.Add(eb)
			f.errorBars += eb.count()
		}
		f.points = append(f.points, pts...)
		if s.name != "" {
			f.legend(s.name, thumbs...)
		}
	}

	// Axis ranges from the data, intervals included, with a margin so no
	// glyph sits on the frame.
	var px, py []float64
	for _, q := range f.points {
		px = append(px, q.X)
		py = append(py, q.Y, q.Lo, q.Hi)
	}
	if bars {
		py = append(py, 0)
	}
	if categorical {
		p.X.Min, p.X.Max = -0.5, float64(len(cats))-0.5
		p.X.Tick.Marker = categoryTicks(p.X.Tick.Label, cats)
		p.X.Tick.Length = 0
	} else {
		p.X.Min, p.X.Max = padRange(px, logX)
		p.X.Tick.Marker = axisTicks(logX)
	}
	p.Y.Min, p.Y.Max = padRange(py, logY)
	if bars && p.Y.Min > 0 {
		p.Y.Min = 0
	}
	p.Y.Tick.Marker = axisTicks(logY)
	if logX {
		p.X.Scale = plot.LogScale{}
	}
	if logY {
		p.Y.Scale = plot.LogScale{}
	}
	f.logX, f.logY, f.bars = logX, logY, bars
	p.Add(plotter.NewGrid())
	return f, nil
}

// series is the rows of one series value, in result order.
type series struct {
	name string
	rows [][]any
}

func splitSeries(res *duck.Result, si int, label string) []*series {
	if si < 0 {
		return []*series{{rows: res.Rows}}
	}
	var out []*series
	byName := map[string]*series{}
	for _, r := range res.Rows {
		name := cellText(r[si])
		if label != "" {
			name = label + "=" + name
		}
		s, ok := byName[name]
		if !ok {
			s = &series{name: name}
			byName[name] = s
			out = append(out, s)
		}
		s.rows = append(s.rows, r)
	}
	return out
}

func xyOf(pts []chartPoint) plotter.XYs {
	xys := make(plotter.XYs, len(pts))
	for i, p := range pts {
		xys[i] = plotter.XY{X: p.X, Y: p.Y}
	}
	return xys
}

// spansDecade reports whether every value is positive and the largest is
// more than ten times the smallest.
func spansDecade(vs []float64) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if v <= 0 {
			return false
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return hi > 10*lo
}

// padRange is the axis range that holds every value with a margin: 6 % of
// the span on a linear axis (or of the value, when all are equal), the
// same share of the decades on a log one.
func padRange(vs []float64, log bool) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if log {
		m := math.Pow(hi/lo, 0.06)
		if m < 1.05 {
			m = 1.05
		}
		return lo / m, hi * m
	}
	span := hi - lo
	if span == 0 {
		span = math.Abs(hi)
		if span == 0 {
			span = 1
		}
	}
	lo, hi = lo-0.06*span, hi+0.06*span
	// Keep a positive quantity's axis from dipping below zero for the margin alone.
	if lo < 0 && lo+0.06*span >= 0 {
		lo = 0
	}
	return lo, hi
}

func axisTicks(log bool) plot.Ticker {
	if log {
		return logTicks{}
	}
	return linTicks{}
}

// categoryTicks labels categories at 0, 1, …; a label wider than its
// category's share of the axis is broken at its spaces onto several lines.
func categoryTicks(style plottext.Style, cats []string) plot.ConstantTicks {
	room := (chartWidth - vg.Points(190)) / vg.Length(max(1, len(cats)))
	ticks := make(plot.ConstantTicks, len(cats))
	for i, c := range cats {
		label := c
		if style.Width(c) > room {
			label = wrapText(style, c, room)
		}
		ticks[i] = plot.Tick{Value: float64(i), Label: label}
	}
	return ticks
}

// errBars draws each point's interval as a vertical bar with caps.
type errBars struct {
	pts   []chartPoint
	color color.Color
}

func (e *errBars) count() int {
	n := 0
	for _, p := range e.pts {
		if p.Interval {
			n++
		}
	}
	return n
}

func (e *errBars) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	sty := draw.LineStyle{Color: e.color, Width: vg.Points(1)}
	w := vg.Points(3)
	for _, q := range e.pts {
		if !q.Interval {
			continue
		}
		x, lo, hi := tx(q.X), ty(q.Lo), ty(q.Hi)
		c.StrokeLine2(sty, x, lo, x, hi)
		c.StrokeLine2(sty, x-w, lo, x+w, lo)
		c.StrokeLine2(sty, x-w, hi, x+w, hi)
	}
}

func (e *errBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax, ymin, ymax = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, q := range e.pts {
		xmin, xmax = math.Min(xmin, q.X), math.Max(xmax, q.X)
		ymin, ymax = math.Min(ymin, q.Lo), math.Max(ymax, q.Hi)
	}
	return
}

// barSet is one series of a bar chart, a gonum/plot Plotter: each point's
// bar is centred on its x (the category, shifted to the series' slot) and
// rises from zero on a linear y axis (bars are never drawn on a log one).
type barSet struct {
	pts   []chartPoint
	color color.Color
	width float64 // in x units
}

func (b *barSet) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	c.SetColor(b.color)
	for _, q := range b.pts {
		x0, x1 := tx(q.X-b.width/2), tx(q.X+b.width/2)
		c.Fill(rect(x0, ty(0), x1, ty(q.Y)))
	}
}

func (b *barSet) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax, ymin, ymax = math.Inf(1), math.Inf(-1), 0, 0
	for _, q := range b.pts {
		xmin, xmax = math.Min(xmin, q.X-b.width/2), math.Max(xmax, q.X+b.width/2)
		ymin, ymax = math.Min(ymin, q.Y), math.Max(ymax, q.Y)
	}
	return
}

// linTicks labels a linear axis at 4 to 8 round values (1, 2 or 5 × 10^k
// apart), each with as many decimals as the step needs and no more.
type linTicks struct{}

func (linTicks) Ticks(min, max float64) []plot.Tick {
	if !(max > min) {
		return []plot.Tick{{Value: min, Label: numLabel(min, 0)}}
	}
	var ticks []plot.Tick
	for parts := 5.0; parts <= 40; parts *= 2 {
		ticks = linTicksAt(min, max, (max-min)/parts)
		labelled := 0
		for _, t := range ticks {
			if t.Label != "" {
				labelled++
			}
		}
		if labelled >= 3 {
			break
		}
	}
	return ticks
}

// linTicksAt labels round values at the 1-2-5 step at or above raw, with
// an unlabelled tick halfway between.
func linTicksAt(min, max, raw float64) []plot.Tick {
	e := math.Floor(math.Log10(raw))
	step := math.Pow(10, e)
	for _, m := range []float64{1, 2, 5, 10} {
		if m*math.Pow(10, e) >= raw*(1-1e-9) {
			step = m * math.Pow(10, e)
			break
		}
	}
	decimals := 0
	for d := 0; d < 10; d++ {
		scaled := step * math.Pow(10, float64(d))
		if math.Abs(scaled-math.Round(scaled)) < 1e-9*scaled {
			decimals = d
			break
		}
	}
	var ticks []plot.Tick
	for k := math.Ceil(min/step - 1e-9); k*step <= max+step*1e-9; k++ {
		v := k * step
		ticks = append(ticks, plot.Tick{Value: v, Label: numLabel(v, decimals)})
		if half := v + step/2; half <= max {
			ticks = append(ticks, plot.Tick{Value: half})
		}
	}
	return ticks
}

// numLabel prints a tick value with the given decimals, thousands
// separated by commas; -0 prints as 0.
func numLabel(v float64, decimals int) string {
	if math.Abs(v) < 1e-12 {
		v = 0
	}
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if len(intPart) > 3 {
		var b strings.Builder
		for i, r := range intPart {
			if i > 0 && (len(intPart)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(r)
		}
		intPart = b.String()
	}
	s = intPart
	if frac = strings.TrimRight(frac, "0"); hasFrac && frac != "" {
		s += "." + frac
	}
	if neg {
		s = "-" + s
	}
	return s
}

// logTicks labels a log axis at powers of ten, at 2 and 5 times them when
// the range spans less than two decades, and at every integer multiple
// when that still gives fewer than three labels.
type logTicks struct{}

func (logTicks) Ticks(min, max float64) []plot.Tick {
	if min <= 0 || max <= min {
		return nil
	}
	for _, mults := range [][]float64{{1}, {1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}} {
		if len(mults) == 1 && math.Log10(max/min) < 2 {
			continue
		}
		var ticks []plot.Tick
		labelled := 0
		for e := math.Floor(math.Log10(min)); e <= math.Ceil(math.Log10(max)); e++ {
			for m := 1.0; m <= 9; m++ {
				v := m * math.Pow(10, e)
				if v < min*0.999 || v > max*1.001 {
					continue
				}
				t := plot.Tick{Value: v}
				if slices.Contains(mults, m) {
					t.Label = tickLabel(v)
					labelled++
				}
				ticks = append(ticks, t)
			}
		}
		if labelled >= 3 || len(mults) == 9 {
			return ticks
		}
	}
	return nil
}

// tickLabel prints a log-axis tick (one significant digit): plain
// decimals from 0.001 to 10^7, thousands separated.
func tickLabel(v float64) string {
	if v >= 1e-3 && v < 1e7 {
		return numLabel(v, max(0, -int(math.Floor(math.Log10(v)+1e-9))))
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// unitSuffix maps a column name's last word to the unit it means.
var unitSuffix = map[string]string{
	"ms": "ms", "us": "µs", "ns": "ns", "s": "s", "mib": "MiB", "gib": "GiB", "mj": "mJ", "j": "J", "w": "W",
	"gbps": "GB/s", "pct": "%",
}

// axisLabels are the axis titles of the findings' chart columns, in words
// with their units; other columns get their name in words and the unit
// their suffix names.
var axisLabels = map[string]string{
	"clean_throughput":         "Untraced throughput (images/s)",
	"traced_throughput":        "Traced throughput (images/s)",
	"hidden":                   "Hidden size",
	"depth":                    "Depth (blocks)",
	"patch":                    "Patch size (pixels)",
	"gpu_busy":                 "GPU busy (fraction of the timed window)",
	"tflops":                   "Achieved TFLOP/s",
	"gflops_per_image":         "Work per image (GFLOP)",
	"peak_fraction":            "Fraction of the card's dense bf16 peak",
	"kernel_us":                "Mean GPU time per kernel (µs)",
	"launch_gap_p50_us":        "Median launch gap (µs)",
	"tokens":                   "Tokens per image",
	"token_rate_m":             "Token rate (million tokens/s)",
	"latency_p50_ms":           "Per-batch latency p50 (ms)",
	"latency_p99_ms":           "Per-batch latency p99 (ms)",
	"peak_mem_mib":             "Peak GPU memory (MiB)",
	"compile_mode":             "torch.compile mode",
	"speedup":                  "Speedup over eager (×)",
	"compile_s":                "Compile time (s)",
	"batch_size":               "Batch size (images)",
	"ratio":                    "Throughput ratio, local / remote",
	"queue_depth":              "Queue depth (batches in flight)",
	"label":                    "Pipeline",
	"copy_compute_overlap":     "Copy time hidden under kernels (fraction)",
	"seed_compute_utilisation": "Seed compute utilisation (fraction)",
	"h2d_link_mib_s":           "vitlab H2D link rate (MiB/s)",
	"seed_h2d_mib_s":           "Seed per-copy H2D rate (MiB/s)",
	"energy_per_image_mj":      "Energy per image (mJ)",
	"resolution":               "Resolution (pixels)",
}

// axisLabel is a column's axis title.
func axisLabel(col string) string {
	if l, ok := axisLabels[col]; ok {
		return l
	}
	parts := strings.Split(col, "_")
	unit := ""
	if len(parts) > 1 && unitSuffix[parts[len(parts)-1]] != "" {
		unit = " (" + unitSuffix[parts[len(parts)-1]] + ")"
		parts = parts[:len(parts)-1]
	}
	s := strings.Join(parts, " ")
	if s != "" {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	return s + unit
}

// wrapText breaks s into lines no wider than width in style (a word wider
// than width keeps its own line).
func wrapText(style plottext.Style, s string, width vg.Length) string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		try := word
		if line != "" {
			try = line + " " + word
		}
		if line != "" && style.Width(try) > width {
			lines = append(lines, line)
			try = word
		}
		line = try
	}
	return strings.Join(append(lines, line), "\n")
}

// figure is a plot with its legend drawn in a strip at its right, where
// it hides no data.
type figure struct {
	p       *plot.Plot
	leg     plot.Legend
	entries int
	// What was drawn, for the tests: every point with its interval (x
	// shifted to its slot in a category), how many intervals were drawn,
	// whether the result had interval columns for y, the axes' scales.
	points           []chartPoint
	errorBars        int
	hasIntervals     bool
	logX, logY, bars bool
}

func sans(f font.Font, size float64) font.Font {
	f.Typeface, f.Variant, f.Size = "Liberation", "Sans", vg.Points(size)
	return f
}

// newFigure returns a plot with a sans-serif title, axes and legend.
func newFigure(title string) *figure {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = sans(p.Title.TextStyle.Font, 11)
	p.Title.Padding = vg.Points(6)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = sans(a.Label.TextStyle.Font, 10)
		a.Tick.Label.Font = sans(a.Tick.Label.Font, 9)
	}
	f := &figure{p: p, leg: plot.NewLegend()}
	f.leg.TextStyle.Font = sans(f.leg.TextStyle.Font, 9)
	f.leg.Top, f.leg.Left = true, true
	f.leg.Padding = vg.Points(2)
	return f
}

// legend adds an entry to the figure's legend.
func (f *figure) legend(name string, thumbs ...plot.Thumbnailer) {
	if r := []rune(name); len(r) > 32 {
		name = string(r[:31]) + "…"
	}
	f.leg.Add(name, thumbs...)
	f.entries++
}

// svg renders the figure into an SVG document of w × h points.
func (f *figure) svg(w, h vg.Length) ([]byte, error) {
	c := vgsvg.New(w, h)
	// A margin: browsers may lay text out a little wider than the font
	// metrics gonum/plot measures with.
	dc := draw.Crop(draw.New(c), vg.Points(8), -vg.Points(4), vg.Points(2), -vg.Points(4))
	if f.entries == 0 {
		f.p.Title.Text = wrapText(f.p.Title.TextStyle, f.p.Title.Text, dc.Max.X-dc.Min.X)
		f.p.Draw(dc)
	} else {
		lw := f.leg.Rectangle(dc).Size().X + vg.Points(12)
		f.p.Title.Text = wrapText(f.p.Title.TextStyle, f.p.Title.Text, dc.Max.X-dc.Min.X-lw)
		f.p.Draw(draw.Crop(dc, 0, -lw, 0, 0))
		top := f.p.Title.TextStyle.Rectangle(f.p.Title.Text).Size().Y + f.p.Title.Padding
		f.leg.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-lw+vg.Points(8), 0, 0, -top))
	}
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("chart: svg: %w", err)
	}
	return b.Bytes(), nil
}

// palette is Tableau 10: distinct hues that stay readable when printed.
var palette = []color.RGBA{
	{0x4e, 0x79, 0xa7, 0xff}, {0xf2, 0x8e, 0x2b, 0xff}, {0xe1, 0x57, 0x59, 0xff}, {0x76, 0xb7, 0xb2, 0xff},
	{0x59, 0xa1, 0x4f, 0xff}, {0xed, 0xc9, 0x48, 0xff}, {0xb0, 0x7a, 0xa1, 0xff}, {0xff, 0x9d, 0xa7, 0xff},
	{0x9c, 0x75, 0x5f, 0xff}, {0xba, 0xb0, 0xac, 0xff},
}

func seriesColor(i int) color.Color { return palette[i%len(palette)] }

func seriesGlyph(i int) draw.GlyphDrawer {
	glyphs := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PlusGlyph{}, draw.CrossGlyph{}, draw.RingGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}}
	return glyphs[i%len(glyphs)]
}

// number converts a numeric result value to float64.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case duck.Decimal:
		return x.Float64(), true
	case *big.Int:
		f, _ := new(big.Float).SetInt(x).Float64()
		return f, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case time.Time:
		return float64(x.UnixNano()) / 1e9, true
	}
	return 0, false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
