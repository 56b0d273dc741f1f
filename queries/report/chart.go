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
	defer func() {
		// gonum/plot panics on some degenerate inputs; a chart is not worth
		// stopping the report for.
		if r := recover(); r != nil {
			svg, err = nil, fmt.Errorf("chart %q: %v", chartTitle(spec), r)
		}
	}()
	f, err := buildPlot(spec, res)
	if err != nil {
		return nil, err
	}
	return f.svg(chartWidth, chartHeight)
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
	f := newFigure(chartTitle(spec))
	f.p.X.Label.Text = spec.X
	f.p.Y.Label.Text = spec.Y
	if spec.Kind == "bar" && spec.LogX {
		return nil, fmt.Errorf("chart %q: a bar chart has categories on x (no logx)", chartTitle(spec))
	}
	if spec.Kind == "bar" {
		err = addBars(f, spec, res, xi, yi, si)
	} else {
		err = addPoints(f, spec, res, xi, yi, si)
	}
	if err != nil {
		return nil, err
	}
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
		name := label + "=" + cellText(r[si])
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

func addPoints(f *figure, spec queries.Chart, res *duck.Result, xi, yi, si int) error {
	p := f.p
	// x is numeric, or categorical when every non-null x is text.
	var cats []string
	catIndex := map[string]int{}
	categorical := false
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
		return fmt.Errorf("chart %q: logx needs a numeric x, %s is text", chartTitle(spec), spec.X)
	}
	if categorical {
		for _, r := range res.Rows {
			if s, ok := r[xi].(string); ok {
				if _, seen := catIndex[s]; !seen {
					catIndex[s] = len(cats)
					cats = append(cats, s)
				}
			}
		}
	}
	ok := func(v float64, log bool) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && (!log || v > 0) }
	total, kept := 0, 0
	for i, s := range splitSeries(res, si, spec.Series) {
		var xys plotter.XYs
		for _, r := range s.rows {
			total++
			var x float64
			var okx bool
			if categorical {
				var c string
				c, okx = r[xi].(string)
				x = float64(catIndex[c])
			} else {
				x, okx = number(r[xi])
			}
			y, oky := number(r[yi])
			if !okx || !oky || !ok(x, spec.LogX) || !ok(y, spec.LogY) {
				continue
			}
			xys = append(xys, plotter.XY{X: x, Y: y})
		}
		if len(xys) == 0 {
			continue
		}
		kept += len(xys)
		clr := seriesColor(i)
		var thumbs []plot.Thumbnailer
		if spec.Kind == "line" {
			slices.SortStableFunc(xys, func(a, b plotter.XY) int { return cmpFloat(a.X, b.X) })
			l, sc, err := plotter.NewLinePoints(xys)
			if err != nil {
				return fmt.Errorf("chart %q: %w", chartTitle(spec), err)
			}
			l.Color, l.Width = clr, vg.Points(1.5)
			sc.Color, sc.Shape, sc.Radius = clr, seriesGlyph(i), vg.Points(2.5)
			p.Add(l, sc)
			thumbs = []plot.Thumbnailer{l, sc}
		} else {
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return fmt.Errorf("chart %q: %w", chartTitle(spec), err)
			}
			sc.Color, sc.Shape, sc.Radius = clr, seriesGlyph(i), vg.Points(3)
			p.Add(sc)
			thumbs = []plot.Thumbnailer{sc}
		}
		if s.name != "" {
			f.legend(s.name, thumbs...)
		}
	}
	if kept == 0 {
		return fmt.Errorf("chart %q: %w: none of the %d rows has a plottable %s and %s", chartTitle(spec), errNoPoints, total, spec.X, spec.Y)
	}
	if categorical {
		ticks := make(plot.ConstantTicks, len(cats))
		for i, c := range cats {
			ticks[i] = plot.Tick{Value: float64(i), Label: c}
		}
		p.X.Tick.Marker = ticks
		p.X.Min, p.X.Max = -0.5, float64(len(cats))-0.5
	}
	if spec.LogX {
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, logTicks{}
		widenLog(&p.X)
	}
	if spec.LogY {
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, logTicks{}
		widenLog(&p.Y)
	}
	p.Add(plotter.NewGrid())
	return nil
}

func addBars(f *figure, spec queries.Chart, res *duck.Result, xi, yi, si int) error {
	p := f.p
	var cats []string
	catIndex := map[string]int{}
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
	groups := splitSeries(res, si, spec.Series)
	var sets []*barSet
	kept := 0
	for i, s := range groups {
		b := &barSet{vals: make([]float64, len(cats)), color: seriesColor(i), log: spec.LogY}
		for k := range b.vals {
			b.vals[k] = math.NaN()
		}
		n := 0
		for _, r := range s.rows {
			y, ok := number(r[yi])
			if r[xi] == nil || !ok || math.IsNaN(y) || math.IsInf(y, 0) || (spec.LogY && y <= 0) {
				continue
			}
			b.vals[catIndex[cellText(r[xi])]] = y
			n++
		}
		if n == 0 {
			continue
		}
		kept += n
		sets = append(sets, b)
		if s.name != "" {
			f.legend(s.name, swatch(palette[i%len(palette)]))
		}
	}
	if kept == 0 {
		return fmt.Errorf("chart %q: %w: none of the %d rows has a plottable %s and %s", chartTitle(spec), errNoPoints, len(res.Rows), spec.X, spec.Y)
	}
	for i, b := range sets {
		b.slot, b.slots = i, len(sets)
		p.Add(b)
	}
	ticks := make(plot.ConstantTicks, len(cats))
	for i, c := range cats {
		ticks[i] = plot.Tick{Value: float64(i), Label: c}
	}
	p.X.Tick.Marker = ticks
	p.X.Tick.Length = 0
	p.X.Min, p.X.Max = -0.5, float64(len(cats))-0.5
	if spec.LogY {
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, logTicks{}
		widenLog(&p.Y)
	}
	p.Add(plotter.NewGrid())
	return nil
}

// barSet is one series of a bar chart, a gonum/plot Plotter: category k
// is centred on x = k, the series' bar is slot of slots side by side. On a
// log y axis a bar rises from the axis' bottom; otherwise from zero.
type barSet struct {
	vals        []float64 // by category; NaN where the series has none
	color       color.Color
	log         bool
	slot, slots int
}

func (b *barSet) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	unit := tx(1) - tx(0)
	w := unit * 0.8 / vg.Length(b.slots)
	base := 0.0
	if b.log {
		base = p.Y.Min
	}
	c.SetColor(b.color)
	for k, v := range b.vals {
		if math.IsNaN(v) {
			continue
		}
		x0 := tx(float64(k)) - unit*0.4 + w*vg.Length(b.slot)
		c.Fill(rect(x0, ty(base), x0+w, ty(v)))
	}
}

func (b *barSet) DataRange() (xmin, xmax, ymin, ymax float64) {
	ymin, ymax = math.Inf(1), math.Inf(-1)
	for _, v := range b.vals {
		if !math.IsNaN(v) {
			ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
		}
	}
	if b.log {
		ymin /= 1.5
	} else {
		ymin, ymax = math.Min(ymin, 0), math.Max(ymax, 0)
	}
	return -0.5, float64(len(b.vals)) - 0.5, ymin, ymax
}

// widenLog gives a log axis whose data sit on one value a range around it
// (gonum/plot would widen it by ±1, through zero).
func widenLog(a *plot.Axis) {
	if a.Min == a.Max && a.Min > 0 {
		a.Min, a.Max = a.Min/2, a.Max*2
	}
}

// logTicks labels a log axis at powers of ten, and at 2 and 5 times them
// when the range spans less than two decades.
type logTicks struct{}

func (logTicks) Ticks(min, max float64) []plot.Tick {
	if min <= 0 || max <= min {
		return nil
	}
	mults := []float64{1}
	if math.Log10(max/min) < 2 {
		mults = []float64{1, 2, 5}
	}
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(min)); e <= math.Ceil(math.Log10(max)); e++ {
		for _, m := range mults {
			v := m * math.Pow(10, e)
			if v < min*0.999 || v > max*1.001 {
				continue
			}
			ticks = append(ticks, plot.Tick{Value: v, Label: tickLabel(v)})
		}
		for _, m := range []float64{2, 3, 4, 5, 6, 7, 8, 9} {
			if v := m * math.Pow(10, e); v >= min && v <= max && !slices.Contains(mults, m) {
				ticks = append(ticks, plot.Tick{Value: v})
			}
		}
	}
	return ticks
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

// tickLabel prints a log-axis tick: plain decimals from 0.001 to 10^7.
func tickLabel(v float64) string {
	if v >= 1e-3 && v < 1e7 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// figure is a plot with its legend drawn in a strip at its right, where
// it hides no data.
type figure struct {
	p       *plot.Plot
	leg     plot.Legend
	entries int
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
