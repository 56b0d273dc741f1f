package report

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// A forest plot of one comparison (the report's "Between batches"): one row
// per configuration, its ratio NEW/BASE as a dot coloured by its verdict and
// its interval over runs as a horizontal whisker, the line ratio = 1 and the
// band of no change [1/(1+threshold), 1+threshold] behind them, rows sorted
// by ratio (the largest on top). This is the layout meta-analyses and
// benchmark dashboards use for many ratios with intervals: every row reads
// against the same reference line.

// forestRow is one configuration's ratio with its interval (Lo, Hi NaN when
// it has none: fewer than two runs on a side).
type forestRow struct {
	Label, Verdict string
	Ratio, Lo, Hi  float64
}

// verdictColors colour a comparison's verdicts: a change for the better in
// green, for the worse in red, no change grey, undecided amber.
var verdictColors = map[string]color.RGBA{
	"faster":       {0x59, 0xa1, 0x4f, 0xff},
	"better":       {0x59, 0xa1, 0x4f, 0xff},
	"slower":       {0xe1, 0x57, 0x59, 0xff},
	"worse":        {0xe1, 0x57, 0x59, 0xff},
	"higher":       {0x4e, 0x79, 0xa7, 0xff},
	"lower":        {0x4e, 0x79, 0xa7, 0xff},
	"no change":    {0x79, 0x70, 0x6e, 0xff},
	"inconclusive": {0xed, 0xa1, 0x2b, 0xff},
}

func verdictColor(v string) color.Color {
	if c, ok := verdictColors[v]; ok {
		return c
	}
	return color.RGBA{0x99, 0x99, 0x99, 0xff}
}

// forestPlot draws rows as a gonum/plot Plotter on a categorical y axis.
type forestPlot struct {
	rows      []forestRow
	threshold float64
}

func (fp *forestPlot) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	if fp.threshold > 0 {
		lo, hi := tx(1/(1+fp.threshold)), tx(1+fp.threshold)
		c.SetColor(color.RGBA{0xee, 0xee, 0xee, 0xff})
		c.Fill(rect(lo, c.Min.Y, hi, c.Max.Y))
	}
	one := tx(1)
	c.StrokeLine2(draw.LineStyle{Color: color.Gray{0x55}, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}},
		one, c.Min.Y, one, c.Max.Y)
	cap := vg.Points(3)
	for i, r := range fp.rows {
		y := ty(float64(i))
		col := verdictColor(r.Verdict)
		if !math.IsNaN(r.Lo) && !math.IsNaN(r.Hi) {
			sty := draw.LineStyle{Color: col, Width: vg.Points(1.2)}
			lo, hi := tx(r.Lo), tx(r.Hi)
			c.StrokeLine2(sty, lo, y, hi, y)
			c.StrokeLine2(sty, lo, y-cap, lo, y+cap)
			c.StrokeLine2(sty, hi, y-cap, hi, y+cap)
		}
		c.DrawGlyph(draw.GlyphStyle{Color: col, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}, vg.Point{X: tx(r.Ratio), Y: y})
	}
}

func (fp *forestPlot) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = 1.0, 1.0
	if fp.threshold > 0 {
		xmin, xmax = 1/(1+fp.threshold), 1+fp.threshold
	}
	for _, r := range fp.rows {
		for _, v := range []float64{r.Ratio, r.Lo, r.Hi} {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				xmin, xmax = math.Min(xmin, v), math.Max(xmax, v)
			}
		}
	}
	return xmin, xmax, -0.5, float64(len(fp.rows)) - 0.5
}

// verdictThumb is a legend entry: a dot of the verdict's colour.
type verdictThumb struct{ c color.Color }

func (v verdictThumb) Thumbnail(c *draw.Canvas) {
	c.DrawGlyph(draw.GlyphStyle{Color: v.c, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}, c.Center())
}

// renderForest draws rows (any order: they are sorted by ratio here) as an
// SVG; the height grows with the number of rows.
func renderForest(title, xLabel string, rows []forestRow, threshold float64) (svg []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			svg, err = nil, fmt.Errorf("chart %q: %v", title, r)
		}
	}()
	if len(rows) == 0 {
		return nil, errNoPoints
	}
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b forestRow) int { return cmpFloat(a.Ratio, b.Ratio) })
	f := newFigure(title)
	f.p.X.Label.Text = xLabel
	f.p.X.Tick.Marker = linTicks{}
	ticks := make(plot.ConstantTicks, len(rows))
	for i, r := range rows {
		ticks[i] = plot.Tick{Value: float64(i), Label: r.Label}
	}
	f.p.Y.Tick.Marker = ticks
	f.p.Y.Padding = 0
	fp := &forestPlot{rows: rows, threshold: threshold}
	f.p.Add(fp)
	lo, hi, _, _ := fp.DataRange()
	pad := (hi - lo) * 0.06
	f.p.X.Min, f.p.X.Max = lo-pad, hi+pad
	f.p.Y.Min, f.p.Y.Max = -0.7, float64(len(rows))-0.3
	seen := map[string]bool{}
	for _, v := range []string{"faster", "better", "slower", "worse", "higher", "lower", "no change", "inconclusive"} {
		for _, r := range rows {
			if r.Verdict == v && !seen[v] {
				seen[v] = true
				f.legend(v, verdictThumb{verdictColor(v)})
			}
		}
	}
	if threshold > 0 {
		f.legend(fmt.Sprintf("no change: ±%s", strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", 100*threshold), "0"), ".")+" %"),
			bandThumb{})
	}
	h := max(chartHeight, vg.Points(70+16*float64(len(rows))))
	return f.svg(chartWidth, h)
}

// bandThumb is the legend entry of the band of no change.
type bandThumb struct{}

func (bandThumb) Thumbnail(c *draw.Canvas) {
	c.SetColor(color.RGBA{0xdd, 0xdd, 0xdd, 0xff})
	c.Fill(c.Rectangle.Path())
}
