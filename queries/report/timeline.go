package report

import (
	"context"
	"fmt"
	"image/color"
	"regexp"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"vitlab/queries"
	"vitlab/queries/duck"
)

// Timeline is what happened on the GPU and in the NVTX stages of one run
// over its timed window W (the host NVTX range `timed`).
type Timeline struct {
	BatchID, RunID string
	Name           string // the run's configuration name
	Why            string // why this run was chosen
	// WindowNs is |W|; Spans are relative to its start.
	WindowNs int64
	// WindowFrom says where W came from: "NVTX range timed", or the span of
	// the GPU work when the run has no timed range.
	WindowFrom string
	Lanes      []Lane
	// Ops counts the events drawn, before merging.
	Ops int
}

// Lane is one row of the timeline: an NVTX stage or a CUDA stream.
type Lane struct {
	Label string
	Spans []Span
}

// Span is one interval of a lane, in ns from the start of W, of a kind
// (kernel, HtoD, DtoH, copy, memset, nvtx).
type Span struct {
	Start, End int64
	Kind       string
}

// nvtxStageOrder puts the pipeline's stages in the order a batch passes
// through them; other NVTX names follow alphabetically.
var nvtxStageOrder = []string{"admit", "batch", "preprocess_worker", "preprocess", "h2d", "forward", "d2h", "retire"}

var trailingIndex = regexp.MustCompile(`[\s_#:]*[0-9]+$`)

// chooseTimelineRun picks the run the report draws: the run given, else a
// representative async run (queue depth nearest 4, CPU preprocessing
// first), else any run with kernels.
func chooseTimelineRun(ctx context.Context, w *queries.Warehouse, runID string) (batch, run, name, why string, err error) {
	where := "status = 'ok' and kernels > 0"
	why = "an async run with GPU work (queue depth nearest 4, CPU preprocessing first); vitlab report --timeline-run RUN draws another"
	if runID != "" {
		where = "run_id = " + duck.Quote(runID)
		why = "chosen with --timeline-run"
	}
	res, err := w.SQL(ctx, `select batch_id, run_id, coalesce(name, run_id), pipeline = 'async' as async
		from runs where `+where+`
		order by (pipeline = 'async') desc nulls last, abs(coalesce(queue_depth, 1) - 4), queue_depth,
			(preprocess = 'cpu') desc nulls last, batch_id, run_id
		limit 1`)
	if err != nil {
		return "", "", "", "", fmt.Errorf("report: timeline: %w", err)
	}
	if len(res.Rows) == 0 {
		if runID != "" {
			return "", "", "", "", fmt.Errorf("report: timeline: no run %q in the warehouse", runID)
		}
		return "", "", "", "", nil
	}
	r := res.Rows[0]
	if a, _ := r[3].(bool); !a && runID == "" {
		why = "no async run with GPU work in the warehouse, so the first run with kernels"
	}
	return r[0].(string), r[1].(string), r[2].(string), why, nil
}

// loadTimeline reads the spans of one run over its window W. Intervals of a
// lane closer than merge ns are drawn as one (a 1 s window holds tens of
// thousands of kernels; the chart cannot show gaps under a pixel anyway).
func loadTimeline(ctx context.Context, w *queries.Warehouse, batch, run string) (*Timeline, error) {
	tl := &Timeline{BatchID: batch, RunID: run}
	key := "batch_id = " + duck.Quote(batch) + " and run_id = " + duck.Quote(run)
	win, err := w.SQL(ctx, `with timed as (
			select min(start) as s, max("end") as e from nvtx where `+key+` and name = 'timed' and "end" is not null
		), gpu as (
			select min(start) as s, max("end") as e from (
				select start, "end" from kernels where `+key+`
				union all select start, "end" from memcpys where `+key+`
				union all select start, "end" from memsets where `+key+`)
		)
		select timed.s, timed.e, gpu.s, gpu.e from timed, gpu`)
	if err != nil {
		return nil, fmt.Errorf("report: timeline %s: %w", run, err)
	}
	r := win.Rows[0]
	ws, okS := r[0].(int64)
	we, okE := r[1].(int64)
	tl.WindowFrom = "NVTX range timed"
	if !okS || !okE || we <= ws {
		ws, okS = r[2].(int64)
		we, okE = r[3].(int64)
		tl.WindowFrom = "first to last GPU operation (the run has no timed NVTX range)"
		if !okS || !okE || we <= ws {
			return nil, nil
		}
	}
	tl.WindowNs = we - ws
	in := fmt.Sprintf(`%s and "end" > %d and start < %d`, key, ws, we)
	clip := fmt.Sprintf(`greatest(start, %d) - %d as s, least("end", %d) - %d as e`, ws, ws, we, ws)
	res, err := w.SQL(ctx, `select 'gpu' as lane_kind, cast(stream_id as varchar) as lane, 'kernel' as kind, `+clip+` from kernels where `+in+`
		union all select 'gpu', cast(stream_id as varchar), case when kind in ('HtoD', 'DtoH') then kind else 'copy' end, `+clip+` from memcpys where `+in+`
		union all select 'gpu', cast(stream_id as varchar), 'memset', `+clip+` from memsets where `+in+`
		union all select 'nvtx', name, 'nvtx', `+clip+` from nvtx where `+in+` and name not in ('timed', 'warmup') and style in ('PushPop', 'StartEnd')
		order by 1, 2, 4`)
	if err != nil {
		return nil, fmt.Errorf("report: timeline %s: %w", run, err)
	}
	merge := tl.WindowNs / 1500
	type laneKey struct{ kind, name string }
	lanes := map[laneKey]*Lane{}
	kinds := map[laneKey]map[string]bool{}
	var keys []laneKey
	for _, row := range res.Rows {
		lk := laneKey{row[0].(string), fmt.Sprint(row[1])}
		if lk.kind == "nvtx" {
			lk.name = trailingIndex.ReplaceAllString(lk.name, "")
		}
		l, ok := lanes[lk]
		if !ok {
			l = &Lane{}
			lanes[lk], kinds[lk] = l, map[string]bool{}
			keys = append(keys, lk)
		}
		s := Span{Start: row[3].(int64), End: row[4].(int64), Kind: row[2].(string)}
		tl.Ops++
		kinds[lk][s.Kind] = true
		l.Spans = append(l.Spans, s)
	}
	slices.SortFunc(keys, func(a, b laneKey) int {
		if a.kind != b.kind {
			return strings.Compare(b.kind, a.kind) // nvtx lanes above gpu lanes
		}
		if a.kind == "nvtx" {
			ia, ib := slices.Index(nvtxStageOrder, a.name), slices.Index(nvtxStageOrder, b.name)
			if ia < 0 {
				ia = len(nvtxStageOrder)
			}
			if ib < 0 {
				ib = len(nvtxStageOrder)
			}
			if ia != ib {
				return ia - ib
			}
			return strings.Compare(a.name, b.name)
		}
		var na, nb int64
		fmt.Sscan(a.name, &na)
		fmt.Sscan(b.name, &nb)
		return int(na - nb)
	})
	for _, k := range keys {
		l := lanes[k]
		if k.kind == "nvtx" {
			l.Label = "NVTX " + k.name
		} else {
			var ks []string
			for _, kind := range []string{"kernel", "HtoD", "DtoH", "copy", "memset"} {
				if kinds[k][kind] {
					ks = append(ks, kind)
				}
			}
			l.Label = "stream " + k.name + " (" + strings.Join(ks, ", ") + ")"
		}
		l.Spans = mergeSpans(l.Spans, merge)
		tl.Lanes = append(tl.Lanes, *l)
	}
	return tl, nil
}

// mergeSpans joins spans of the same kind that overlap or lie closer than
// gap, in start order.
func mergeSpans(in []Span, gap int64) []Span {
	slices.SortStableFunc(in, func(a, b Span) int { return cmpInt(a.Start, b.Start) })
	var out []Span
	last := map[string]int{} // kind → index in out of its latest span
	for _, s := range in {
		if i, ok := last[s.Kind]; ok && s.Start-out[i].End <= gap {
			out[i].End = max(out[i].End, s.End)
			continue
		}
		last[s.Kind] = len(out)
		out = append(out, s)
	}
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// spanColors colour the kinds of span.
var spanColors = map[string]color.RGBA{
	"kernel": {0x4e, 0x79, 0xa7, 0xff},
	"HtoD":   {0x59, 0xa1, 0x4f, 0xff},
	"DtoH":   {0xf2, 0x8e, 0x2b, 0xff},
	"copy":   {0xed, 0xc9, 0x48, 0xff},
	"memset": {0x9c, 0x75, 0x5f, 0xff},
	"nvtx":   {0xb0, 0x7a, 0xa1, 0xff},
}

var drawRank = map[string]int{"memset": 0, "copy": 1, "HtoD": 1, "DtoH": 1, "nvtx": 2, "kernel": 3}

var spanKindNames = []struct{ kind, label string }{
	{"kernel", "kernel"}, {"HtoD", "copy HtoD"}, {"DtoH", "copy DtoH"}, {"copy", "other copy"}, {"memset", "memset"}, {"nvtx", "NVTX range (host)"},
}

// spans is a gonum/plot Plotter drawing the lanes' intervals as bars: lane
// i (from the top) is centred on y = n-1-i, x is ms from the start of W.
type spans struct{ tl *Timeline }

func (s spans) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	n := len(s.tl.Lanes)
	for i, l := range s.tl.Lanes {
		y := float64(n - 1 - i)
		// Memsets first and half height, kernels last: a lane's kernels
		// stay visible where the merged memsets of the same stream overlap
		// them.
		ordered := slices.Clone(l.Spans)
		slices.SortStableFunc(ordered, func(a, b Span) int { return drawRank[a.Kind] - drawRank[b.Kind] })
		for _, sp := range ordered {
			x0, x1 := tx(float64(sp.Start)/1e6), tx(float64(sp.End)/1e6)
			if x1-x0 < 0.4 {
				x1 = x0 + 0.4 // a visible sliver for sub-pixel work
			}
			var clr color.Color = spanColors[sp.Kind]
			if sp.Kind == "nvtx" {
				nc := color.NRGBAModel.Convert(clr).(color.NRGBA)
				nc.A = 0xa0 // overlapping ranges of a stage stay readable
				clr = nc
			}
			c.SetColor(clr)
			h := 0.35
			if sp.Kind == "memset" {
				h = 0.15
			}
			c.Fill(rect(x0, ty(y-h), x1, ty(y+h)))
		}
	}
}

func (s spans) DataRange() (xmin, xmax, ymin, ymax float64) {
	return 0, float64(s.tl.WindowNs) / 1e6, -0.5, float64(len(s.tl.Lanes)) - 0.5
}

func rect(x0, y0, x1, y1 vg.Length) vg.Path {
	var p vg.Path
	p.Move(vg.Point{X: x0, Y: y0})
	p.Line(vg.Point{X: x1, Y: y0})
	p.Line(vg.Point{X: x1, Y: y1})
	p.Line(vg.Point{X: x0, Y: y1})
	p.Close()
	return p
}

// swatch is a legend thumbnail: a filled box of a span kind's colour.
type swatch color.RGBA

func (s swatch) Thumbnail(c *draw.Canvas) {
	c.SetColor(color.RGBA(s))
	h := c.Max.Y - c.Min.Y
	c.Fill(rect(c.Min.X, c.Min.Y+h*0.15, c.Max.X, c.Max.Y-h*0.15))
}

// RenderTimeline draws tl with gonum/plot and returns the SVG document.
func RenderTimeline(tl *Timeline) (svg []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			svg, err = nil, fmt.Errorf("timeline: %v", r)
		}
	}()
	if len(tl.Lanes) == 0 {
		return nil, fmt.Errorf("timeline of %s: no GPU operation or NVTX range in the window", tl.RunID)
	}
	f := newFigure(fmt.Sprintf("%s — %.1f ms window", tl.RunID, float64(tl.WindowNs)/1e6))
	p := f.p
	p.X.Label.Text = "ms from the start of the timed window"
	p.X.Tick.Marker = linTicks{}
	p.X.Min, p.X.Max = 0, float64(tl.WindowNs)/1e6
	n := len(tl.Lanes)
	ticks := make(plot.ConstantTicks, n)
	for i, l := range tl.Lanes {
		ticks[i] = plot.Tick{Value: float64(n - 1 - i), Label: l.Label}
	}
	p.Y.Tick.Marker = ticks
	p.Y.Min, p.Y.Max = -0.5, float64(n)-0.5
	p.Add(spans{tl})
	seen := map[string]bool{}
	for _, l := range tl.Lanes {
		for _, s := range l.Spans {
			seen[s.Kind] = true
		}
	}
	for _, k := range spanKindNames {
		if seen[k.kind] {
			f.legend(k.label, swatch(spanColors[k.kind]))
		}
	}
	return f.svg(10*vg.Inch, vg.Points(float64(max(150, 60+16*n))))
}
