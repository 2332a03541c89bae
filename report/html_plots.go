package report

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

// The plots of the HTML report, drawn with gonum/plot into SVG fragments
// that the page inlines: per run, latency, the failure ratio, the upgrade
// steps and the requests over time; the latency of the phases by
// percentile; and the requests each node served in each phase.

// Plot colours. The line colours are opaque and distinctive so that they stay
// recognisable over the translucent phase bands.
var (
	htmlP50Colour     = color.NRGBA{R: 0x1F, G: 0x3A, B: 0x93, A: 0xFF} // dark blue
	htmlP99Colour     = color.NRGBA{R: 0xD6, G: 0x33, B: 0x6C, A: 0xFF} // magenta
	htmlFailColour    = color.NRGBA{R: 0xE0, G: 0x31, B: 0x31, A: 0xFF} // red
	htmlRequestColour = color.NRGBA{R: 0x86, G: 0x8E, B: 0x96, A: 0xFF} // grey
	htmlEventColour   = color.NRGBA{R: 0x34, G: 0x3A, B: 0x40, A: 0xFF} // near black
	htmlGridColour    = color.NRGBA{R: 0xDE, G: 0xE2, B: 0xE6, A: 0xFF}
	// htmlLimitColour draws the rules' limits.
	htmlLimitColour      = color.NRGBA{R: 0x86, G: 0x1E, B: 0x3E, A: 0xFF} // dark crimson
	htmlStepColour       = color.NRGBA{R: 0xD0, G: 0xDB, B: 0xE8, A: 0xFF} // light slate
	htmlStepEdge         = color.NRGBA{R: 0x5C, G: 0x6B, B: 0x7A, A: 0xFF}
	htmlFailedStepColour = color.NRGBA{R: 0xFF, G: 0xC9, B: 0xC9, A: 0xFF}
	htmlIncidentColour   = color.NRGBA{R: 0xE0, G: 0x31, B: 0x31, A: 0x30}
	htmlLabelBack        = color.NRGBA{R: 0xFF, G: 0xFF, B: 0xFF, A: 0xD0}
	htmlTextColour       = color.NRGBA{R: 0x21, G: 0x25, B: 0x29, A: 0xFF}
)

// htmlPhasePalette colours phases: translucent for the bands behind the time
// series, opaque for the phase's own line in the distribution plot.
var htmlPhasePalette = []color.NRGBA{
	{R: 0x4C, G: 0x78, B: 0xA8, A: 0xFF}, // blue
	{R: 0xF5, G: 0x85, B: 0x18, A: 0xFF}, // orange
	{R: 0x54, G: 0xA2, B: 0x4B, A: 0xFF}, // green
	{R: 0xB2, G: 0x79, B: 0xA2, A: 0xFF}, // purple
	{R: 0x72, G: 0xB7, B: 0xB2, A: 0xFF}, // teal
	{R: 0x9D, G: 0x75, B: 0x5D, A: 0xFF}, // brown
	{R: 0xEE, G: 0xCA, B: 0x3B, A: 0xFF}, // yellow
	{R: 0x79, G: 0x70, B: 0x6E, A: 0xFF}, // grey
}

const htmlBandAlpha = 0x38

var htmlPlotFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// Plot geometry, in points (SVG user units).
const (
	htmlPlotWidth    = 900
	htmlSeriesHeight = 290
	htmlRateHeight   = 220
	// htmlStepLane is the height of one lane of the steps plot.
	htmlStepLane = 15
	// htmlStepsMaxLanes bounds the lanes of the steps plot.
	htmlStepsMaxLanes = 30
	// htmlStepLabelMax bounds a step's label, in characters.
	htmlStepLabelMax = 36
	// htmlTextSlack widens text as measured in the plot's font when
	// placing labels: a browser without that font draws a wider one.
	htmlTextSlack = 1.15
	// htmlMarkRows is how many rows of labels the dashed marks get.
	htmlMarkRows = 3
	// htmlDataWidthGuess is a lower bound of a time plot's data width, in
	// points, for placing the steps' labels before the plot is drawn.
	htmlDataWidthGuess   = 600
	htmlPercentileHeight = 320
	// htmlMaxPoints bounds the points of one time series; longer recordings
	// are drawn in coarser buckets.
	htmlMaxPoints = 1500
	// htmlPercentilePoints bounds the points of one distribution line.
	htmlPercentilePoints = 1000
)

// drawPlots draws the time series of every run, the latency percentiles
// and the nodes' requests into the view, as inline SVG.
func (b *htmlBuilder) drawPlots(v *htmlView) {
	r := b.r
	points := make([][]seriesPoint, len(r.Runs))
	for ri, m := range r.Runs {
		if m != nil && b.hasWin[ri] {
			points[ri] = seriesPoints(m)
		}
	}
	scale := b.seriesScale(points)
	for ri, m := range r.Runs {
		if m == nil {
			continue
		}
		s := b.series(ri, m, points[ri], scale)
		if v.MultiRun {
			s.Heading = fmt.Sprintf("Run %d", ri+1)
			if m.Source != "" {
				s.Heading += ": " + m.Source
			}
		}
		v.Series = append(v.Series, s)
	}
	v.Percentiles = b.percentilePlot()
	v.NodesPlot = b.nodesPlot()
	// The plots over time and the percentiles line up: their data areas
	// share left and right edges. The nodes' bars have an axis of their own.
	all := []*htmlPlot{&v.Percentiles}
	for i := range v.Series {
		s := &v.Series[i]
		all = append(all, &s.Latency, &s.FailRate, &s.Steps, &s.Errors)
	}
	var stacked []*svgPlot
	for _, hp := range all {
		if hp.plot != nil {
			stacked = append(stacked, hp.plot)
		}
	}
	alignPlots(stacked)
	for _, hp := range append(all, &v.NodesPlot) {
		if hp.plot != nil {
			hp.SVG, hp.Note = hp.plot.render()
			hp.plot = nil
		}
	}
}

func sansFont(size vg.Length) font.Font { return font.From(htmlPlotFont, size) }

func newHTMLPlot() *plot.Plot {
	p := plot.New()
	p.Title.TextStyle.Font = sansFont(12)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = sansFont(11)
		a.Label.TextStyle.Color = htmlTextColour
		a.Tick.Label.Font = sansFont(10)
		a.Tick.Label.Color = htmlTextColour
		a.Tick.Length = vg.Points(5)
		a.Color = htmlTextColour
		a.Tick.Color = htmlTextColour
	}
	p.X.Tick.Marker = linearTicks(10)
	p.Y.Tick.Marker = linearTicks(5)
	p.X.Label.Padding = vg.Points(3)
	p.Y.Label.Padding = vg.Points(4)
	return p
}

func newHTMLLegend() *plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font = sansFont(10)
	l.TextStyle.Color = htmlTextColour
	l.Top, l.Left = true, true
	l.Padding = vg.Points(4)
	l.ThumbnailWidth = vg.Points(18)
	return &l
}

func gridLines() *plotter.Grid {
	g := plotter.NewGrid()
	g.Vertical = draw.LineStyle{Color: htmlGridColour, Width: vg.Points(0.5)}
	g.Horizontal = draw.LineStyle{Color: htmlGridColour, Width: vg.Points(0.5)}
	return g
}

func bandColour(i int) color.NRGBA {
	c := htmlPhasePalette[i%len(htmlPhasePalette)]
	c.A = htmlBandAlpha
	return c
}

// phaseBands fills the x span of each phase over the full plot height.
type phaseBands struct {
	bands []phaseBand
}

type phaseBand struct {
	x0, x1 float64
	colour color.Color
}

func (pb phaseBands) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	for _, b := range pb.bands {
		x0 := max(trX(b.x0), c.Min.X)
		x1 := min(trX(b.x1), c.Max.X)
		if x1-x0 < 1 {
			x1 = x0 + 1
		}
		if x0 >= c.Max.X {
			continue
		}
		c.FillPolygon(b.colour, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	}
}

// swatch is a legend thumbnail filled with one colour.
type swatch struct{ colour color.Color }

func (s swatch) Thumbnail(c *draw.Canvas) {
	r := c.Rectangle
	pad := vg.Points(1)
	c.FillPolygon(s.colour, []vg.Point{
		{X: r.Min.X, Y: r.Min.Y + pad}, {X: r.Max.X, Y: r.Min.Y + pad},
		{X: r.Max.X, Y: r.Max.Y - pad}, {X: r.Min.X, Y: r.Max.Y - pad},
	})
}

// eventMarks draws a dashed vertical line at each event with its label:
// an upgrade step's short name, another event's number in the timeline.
// Labels go in up to htmlMarkRows rows at the top, each in the first row
// where it overlaps no other; a label with no room is left out (the steps
// plot and the timeline name every one).
type eventMarks struct {
	xs     []float64
	labels []string
	// bare leaves the labels out: the plot sits under one that has them.
	bare bool
}

func (em eventMarks) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	ls := draw.LineStyle{Color: htmlEventColour, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}
	ts := text.Style{Color: htmlEventColour, Font: sansFont(8), XAlign: draw.XLeft, YAlign: draw.YTop, Handler: plot.DefaultTextHandler}
	var ends []vg.Length // per row: where its last label ends
	for i, x := range em.xs {
		px := trX(x)
		if px < c.Min.X || px > c.Max.X {
			continue
		}
		c.StrokeLine2(ls, px, c.Min.Y, px, c.Max.Y)
		if em.bare {
			continue
		}
		w := ts.Width(em.labels[i]) * htmlTextSlack
		lo, at := px+vg.Points(2), ts
		if lo+w > c.Max.X {
			lo, at.XAlign = px-vg.Points(2)-w, draw.XRight
		}
		row := -1
		for r, e := range ends {
			if lo >= e {
				row = r
				break
			}
		}
		if row < 0 && len(ends) < htmlMarkRows {
			ends = append(ends, c.Min.X)
			row = len(ends) - 1
		}
		if row < 0 {
			continue
		}
		ends[row] = lo + w + vg.Points(8)
		pt := vg.Point{X: px + vg.Points(2), Y: c.Max.Y - vg.Points(2) - vg.Length(row)*vg.Points(10)}
		if at.XAlign == draw.XRight {
			pt.X = px - vg.Points(2)
		}
		labelText(c, at, pt, em.labels[i])
	}
}

// labelText writes text over a translucent white box so that it stays
// legible over lines and bands.
func labelText(c draw.Canvas, ts text.Style, pt vg.Point, s string) {
	r := ts.Rectangle(s)
	pad := vg.Points(1)
	x0, y0 := pt.X+r.Min.X-pad, pt.Y+r.Min.Y
	x1, y1 := pt.X+r.Max.X+pad, pt.Y+r.Max.Y
	c.FillPolygon(htmlLabelBack, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
	c.FillText(ts, pt, s)
}

type eventThumb struct{}

func (eventThumb) Thumbnail(c *draw.Canvas) {
	ls := draw.LineStyle{Color: htmlEventColour, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}
	x := (c.Min.X + c.Max.X) / 2
	c.StrokeLine2(ls, x, c.Min.Y, x, c.Max.Y)
}

// bars draws one bar per bucket, from x to x+width, up from base (zero
// unless the axis is a log scale).
type bars struct {
	xs, ys []float64
	width  float64
	base   float64
	colour color.Color
}

func (bs bars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	y0 := trY(bs.base)
	for i, x := range bs.xs {
		if bs.ys[i] <= 0 {
			continue
		}
		x0, x1 := trX(x), trX(x+bs.width)
		if x1-x0 < vg.Points(0.8) {
			x1 = x0 + vg.Points(0.8)
		}
		y1 := min(trY(bs.ys[i]), c.Max.Y)
		c.FillPolygon(bs.colour, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
	}
}

func (bs bars) DataRange() (xmin, xmax, ymin, ymax float64) {
	if len(bs.xs) == 0 {
		return 0, 1, 0, 1
	}
	xmin, xmax = math.Inf(1), math.Inf(-1)
	for i, x := range bs.xs {
		xmin, xmax = min(xmin, x), max(xmax, x+bs.width)
		ymax = max(ymax, bs.ys[i])
	}
	return xmin, xmax, 0, max(ymax, 1)
}

func (bs bars) Thumbnail(c *draw.Canvas) { swatch{bs.colour}.Thumbnail(c) }

// logTicks labels 1, 2 and 5 times the powers of ten in range, with minor
// ticks at the other integers.
func logTicks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi <= lo {
		return nil
	}
	// Over more than three decades only the powers of ten are labelled.
	wide := math.Log10(hi/lo) > 3
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow(10, e)
		for i := 1; i < 10; i++ {
			v := base * float64(i)
			if v < lo*0.999 || v > hi*1.001 {
				continue
			}
			t := plot.Tick{Value: v}
			if i == 1 || (!wide && (i == 2 || i == 5)) {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
				if v >= 1e5 {
					t.Label = strconv.FormatFloat(v, 'e', 0, 64)
				}
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// linearTicks returns a ticker that labels about n round values in range,
// with unlabelled minor ticks half-way between them.
func linearTicks(n int) plot.Ticker {
	return plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		if !(hi > lo) || n < 1 {
			return nil
		}
		raw := (hi - lo) / float64(n)
		mag := math.Pow(10, math.Floor(math.Log10(raw)))
		step := mag
		for _, f := range []float64{1, 2, 2.5, 5, 10} {
			if step = f * mag; step >= raw {
				break
			}
		}
		e := int(math.Floor(math.Log10(step) + 1e-9))
		prec := max(0, -e)
		if frac := step / math.Pow(10, float64(e)); math.Abs(frac-2.5) < 1e-9 {
			prec = max(0, 1-e)
		}
		var ticks []plot.Tick
		for k := math.Ceil(lo/step*2 - 1e-9); k/2*step <= hi+step*1e-9; k++ {
			v := k / 2 * step
			if math.Abs(v) < step*1e-9 {
				v = 0
			}
			t := plot.Tick{Value: v}
			if math.Mod(k, 2) == 0 {
				t.Label = strconv.FormatFloat(v, 'f', prec, 64)
			}
			ticks = append(ticks, t)
		}
		return ticks
	})
}

// useLog sets a log scale over [lo, hi] on the axis.
func useLog(a *plot.Axis, lo, hi float64) {
	a.Scale = logScale{}
	a.Tick.Marker = plot.TickerFunc(logTicks)
	a.Min, a.Max = lo, hi
}

// logScale is plot.LogScale except at the arithmetic middle of the range,
// which it puts in the middle of the axis. gonum/plot reserves room for an
// axis label around the normalised arithmetic middle (Axis.GlyphBoxes)
// but draws it at the centre; on a log scale that middle is near the end
// of the axis, and the room reserved there shrinks the data area.
type logScale struct{}

func (logScale) Normalize(min, max, x float64) float64 {
	if x == 0.5*(min+max) {
		return 0.5
	}
	return plot.LogScale{}.Normalize(min, max, x)
}

// seriesPoint is one (possibly bucketed) point of a run's time series.
type seriesPoint struct {
	x, width          float64 // seconds since the run's origin; bucket width
	p50, p99          float64 // ms; 0 when nothing succeeded
	requests, failure float64 // per second
}

// seriesPoints turns the run's windows into points, in buckets of several
// seconds when the run is long. A bucket's p50 is the mean of its seconds'
// p50 and its p99 the highest of their p99.
func seriesPoints(m *Metrics) []seriesPoint {
	ws := append([]Window(nil), m.Windows...)
	sort.Slice(ws, func(i, j int) bool { return ws[i].Offset < ws[j].Offset })
	if len(ws) == 0 {
		return nil
	}
	span := ws[len(ws)-1].Offset - ws[0].Offset + 1
	k := int64(1)
	if span > htmlMaxPoints {
		k = (span + htmlMaxPoints - 1) / htmlMaxPoints
	}
	var pts []seriesPoint
	var cur *seriesPoint
	var p50n int
	var curBucket int64
	floorDiv := func(a, b int64) int64 {
		q := a / b
		if a%b != 0 && a < 0 {
			q--
		}
		return q
	}
	for _, w := range ws {
		bk := floorDiv(w.Offset, k)
		if cur == nil || bk != curBucket {
			if cur != nil && p50n > 0 {
				cur.p50 /= float64(p50n)
			}
			pts = append(pts, seriesPoint{x: float64(bk * k), width: float64(k)})
			cur, curBucket, p50n = &pts[len(pts)-1], bk, 0
		}
		cur.requests += float64(w.Requests) / float64(k)
		cur.failure += float64(w.Failures) / float64(k)
		if w.P50Ms > 0 {
			cur.p50 += w.P50Ms
			p50n++
		}
		cur.p99 = max(cur.p99, w.P99Ms)
	}
	if cur != nil && p50n > 0 {
		cur.p50 /= float64(p50n)
	}
	return pts
}

// segments splits a series into runs of points with a positive value, so
// that seconds in which nothing succeeded leave a gap rather than a drop.
func segments(pts []seriesPoint, val func(seriesPoint) float64) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	for i, p := range pts {
		v := val(p)
		gap := i > 0 && p.x-pts[i-1].x > pts[i-1].width*1.5
		if v <= 0 || gap {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
		}
		if v > 0 {
			cur = append(cur, plotter.XY{X: p.x + p.width/2, Y: v})
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// bandsAndEvents returns the run's phase bands and event marks, and adds
// their legend entries when a legend is given.
func (b *htmlBuilder) bandsAndEvents(ri int, m *Metrics, legend *plot.Legend) (phaseBands, eventMarks) {
	origin := b.origins[ri]
	var pb phaseBands
	for _, p := range m.Phases {
		if p == nil || p.Start.IsZero() {
			continue
		}
		col := bandColour(b.colour[p])
		pb.bands = append(pb.bands, phaseBand{x0: p.Start.Sub(origin).Seconds(), x1: p.End.Sub(origin).Seconds(), colour: col})
		if legend != nil {
			legend.Add(b.label[p], swatch{col})
		}
	}
	var em eventMarks
	lo, hi := b.runSpan(ri)
	for i, e := range b.r.Timeline {
		if e.Time.Before(lo) || e.Time.After(hi) || !markedOnPlots(e) {
			continue
		}
		em.xs = append(em.xs, e.Time.Sub(origin).Seconds())
		label := strconv.Itoa(i + 1)
		if e.Source == timeline.SourceDriver && e.Kind == stepStart {
			label = b.stepLabel(e.Message, e.Subject)
		}
		em.labels = append(em.labels, label)
	}
	if legend != nil && len(em.xs) > 0 {
		legend.Add("step or event (see timeline)", eventThumb{})
	}
	return pb, em
}

// seriesScale holds the axis ranges shared by the time-series plots of all
// runs, so that two recordings are drawn to the same scale.
type seriesScale struct {
	xMax         float64 // seconds: the longest run
	latLo, latHi float64 // ms, over positive values; latHi is 0 when nothing succeeded
	logLatency   bool
	rateMax      float64 // requests per second
	// failLo and failHi bound the positive failure percentages (per second,
	// per phase and the rules' limits); failHi is 0 when nothing failed.
	failLo, failHi float64
	logFail        bool
}

// runExtent is the x range of a run's time series: its windows and phases.
func (b *htmlBuilder) runExtent(ri int, pts []seriesPoint) (xmin, xmax float64) {
	xmin, xmax = 0, 1
	for _, p := range b.r.Runs[ri].Phases {
		if p != nil && !p.Start.IsZero() {
			xmin = min(xmin, p.Start.Sub(b.origins[ri]).Seconds())
			xmax = max(xmax, p.End.Sub(b.origins[ri]).Seconds())
		}
	}
	for _, pt := range pts {
		xmin, xmax = min(xmin, pt.x), max(xmax, pt.x+pt.width)
	}
	return xmin, xmax
}

func (b *htmlBuilder) seriesScale(points [][]seriesPoint) seriesScale {
	sc := seriesScale{latLo: math.Inf(1), failLo: math.Inf(1), xMax: 1, rateMax: 1}
	fail := func(v float64) {
		if v > 0 {
			sc.failLo, sc.failHi = min(sc.failLo, v), max(sc.failHi, v)
		}
	}
	for ri, pts := range points {
		if pts == nil {
			continue
		}
		_, xmax := b.runExtent(ri, pts)
		sc.xMax = max(sc.xMax, xmax)
		for _, pt := range pts {
			for _, v := range []float64{pt.p50, pt.p99} {
				if v > 0 {
					sc.latLo, sc.latHi = min(sc.latLo, v), max(sc.latHi, v)
				}
			}
			sc.rateMax = max(sc.rateMax, pt.requests, pt.failure)
			if pt.requests > 0 {
				fail(100 * pt.failure / pt.requests)
			}
		}
		for _, s := range b.failureLines(ri) {
			fail(s.y)
		}
	}
	// A log scale when the per-second latencies span more than a factor 10.
	sc.logLatency = sc.latHi > 0 && sc.latHi/sc.latLo > 10
	// A log scale for the failures when a lone failure would be a sliver
	// beside an outage's 100%.
	sc.logFail = sc.failHi > 0 && sc.failHi/sc.failLo > 20
	return sc
}

// series draws the plots of one run over time: latency, the failure
// ratio, the upgrade steps and the requests sent and failed.
func (b *htmlBuilder) series(ri int, m *Metrics, pts []seriesPoint, sc seriesScale) htmlSeries {
	s := htmlSeries{
		Latency:  htmlPlot{Name: "latency", Title: "Latency over time", Run: ri + 1},
		FailRate: htmlPlot{Name: "failure-rate", Title: "Failed requests, % per second", Run: ri + 1},
		Errors:   htmlPlot{Name: "errors", Title: "Requests per second", Run: ri + 1},
	}
	if !b.hasWin[ri] {
		s.Latency.Note = "No per-second windows were kept for this recording, so there is no time series to draw."
		s.FailRate.Note, s.Errors.Note = s.Latency.Note, s.Latency.Note
		return s
	}
	bucket := ""
	if len(pts) > 0 && pts[0].width > 1 {
		bucket = fmt.Sprintf(" Each point covers %g seconds (p50: mean, p99: highest, rates: mean per second).", pts[0].width)
	}
	if len(b.r.Runs) > 1 {
		bucket += " All recordings are drawn to the same scale."
	}
	ax := timeAxis{xmin: 0, xmax: sc.xMax, label: "seconds since " + b.origins[ri].UTC().Format("2006-01-02 15:04:05 UTC")}
	ax.xmin, _ = b.runExtent(ri, pts)
	s.Latency.Caption, s.Latency.plot = b.latencyPlot(ri, m, pts, sc, ax)
	s.Latency.Caption += bucket
	s.FailRate.Caption, s.FailRate.plot = b.failRatePlot(ri, m, pts, sc, ax)
	s.FailRate.Caption += bucket
	s.Steps = b.stepsPlot(ri, m, ax)
	s.Errors.Caption, s.Errors.plot = b.requestsPlot(ri, m, pts, sc, ax)
	s.Errors.Caption += bucket
	return s
}

// timeAxis is the x axis the plots of one run share.
type timeAxis struct {
	xmin, xmax float64
	label      string
}

func (ax timeAxis) apply(p *plot.Plot) {
	p.X.Min, p.X.Max = ax.xmin, ax.xmax
	p.X.Padding, p.Y.Padding = 0, 0
	p.X.Label.Text = ax.label
}

func (b *htmlBuilder) latencyPlot(ri int, m *Metrics, pts []seriesPoint, sc seriesScale, ax timeAxis) (string, *svgPlot) {
	p := newHTMLPlot()
	legend := newHTMLLegend()
	pb, em := b.bandsAndEvents(ri, m, nil)
	p.Add(pb, gridLines())
	ax.apply(p)
	switch {
	case sc.latHi == 0:
		p.Y.Min, p.Y.Max = 0, 1
		p.Y.Label.Text = "latency (ms)"
	case sc.logLatency:
		useLog(&p.Y, sc.latLo/1.3, sc.latHi*1.3)
		p.Y.Label.Text = "latency (ms, log scale)"
	default:
		p.Y.Min, p.Y.Max = 0, sc.latHi*1.1
		p.Y.Label.Text = "latency (ms)"
	}
	lines := []struct {
		name   string
		val    func(seriesPoint) float64
		colour color.Color
		width  float64
	}{
		{"p50", func(s seriesPoint) float64 { return s.p50 }, htmlP50Colour, 1.4},
		{"p99", func(s seriesPoint) float64 { return s.p99 }, htmlP99Colour, 1.8},
	}
	for _, ln := range lines {
		style := draw.LineStyle{Color: ln.colour, Width: vg.Points(ln.width)}
		var first *plotter.Line
		for _, seg := range segments(pts, ln.val) {
			l, err := plotter.NewLine(seg)
			if err != nil {
				continue
			}
			l.LineStyle = style
			p.Add(l)
			if first == nil {
				first = l
			}
		}
		if first == nil {
			first = &plotter.Line{LineStyle: style}
		}
		legend.Add(ln.name+" per second", first)
	}
	p.Add(em)
	b.bandsAndEvents(ri, m, legend)
	caption := "Per-second p50 and p99 of successful requests; shaded bands show the phases, dashed lines the upgrade steps and other events." + gapNote(pts)
	return caption, newSVGPlot(p, legend, htmlPlotWidth, htmlSeriesHeight, "latency over time, p50 and p99 per second")
}

// failureLines are the horizontal references of the failure-ratio plot of
// a run: each phase's failure ratio over the phase, and for each compared
// phase the most its ratio may reach under the error-rate rule (the
// baseline's ratio plus the rule's allowance), in percent.
func (b *htmlBuilder) failureLines(ri int) (out []hSegment) {
	origin := b.origins[ri]
	for _, p := range b.r.Runs[ri].Phases {
		if p == nil || p.Start.IsZero() || p.Requests == 0 {
			continue
		}
		x0, x1 := p.Start.Sub(origin).Seconds(), p.End.Sub(origin).Seconds()
		if p.Failures > 0 {
			out = append(out, hSegment{x0: x0, x1: x1, y: 100 * float64(p.Failures) / float64(p.Requests), kind: "phase"})
		}
	}
	rules := b.r.Rules.WithDefaults()
	for _, c := range b.r.Comparisons {
		base, cand := b.comparisonPhases(c)
		if base == nil || cand == nil || b.runOf[cand] != ri || cand.Start.IsZero() || base.Requests == 0 {
			continue
		}
		limit := 100 * (float64(base.Failures)/float64(base.Requests) + rules.MaxErrorRateIncrease)
		out = append(out, hSegment{
			x0: cand.Start.Sub(origin).Seconds(), x1: cand.End.Sub(origin).Seconds(), y: limit, kind: "limit",
			label: "failure-ratio limit " + fmtPercent(limit/100),
		})
	}
	return out
}

func (b *htmlBuilder) failRatePlot(ri int, m *Metrics, pts []seriesPoint, sc seriesScale, ax timeAxis) (string, *svgPlot) {
	p := newHTMLPlot()
	legend := newHTMLLegend()
	pb, em := b.bandsAndEvents(ri, m, nil)
	em.bare = true
	p.Add(pb, gridLines())
	fb := bars{colour: htmlFailColour}
	for _, pt := range pts {
		if pt.requests > 0 && pt.failure > 0 {
			fb.xs = append(fb.xs, pt.x)
			fb.ys = append(fb.ys, 100*pt.failure/pt.requests)
		}
		fb.width = pt.width
	}
	if sc.logFail {
		fb.base = sc.failLo / 3
	}
	p.Add(fb)
	ax.apply(p)
	switch {
	case sc.failHi == 0:
		p.Y.Min, p.Y.Max = 0, 1
		p.Y.Label.Text = "failed (% of requests)"
	case sc.logFail:
		useLog(&p.Y, fb.base, min(sc.failHi*1.3, 130))
		p.Y.Label.Text = "failed (% of requests, log)"
	default:
		p.Y.Min, p.Y.Max = 0, sc.failHi*1.15
		p.Y.Label.Text = "failed (% of requests)"
	}
	legend.Add("failed in the second", fb)
	var phases, limits hSegments
	phases.style = draw.LineStyle{Color: htmlEventColour, Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(5), vg.Points(2)}}
	limits.style = draw.LineStyle{Color: htmlLimitColour, Width: vg.Points(1.4), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
	for _, s := range b.failureLines(ri) {
		if s.kind == "limit" {
			limits.segs = append(limits.segs, s)
		} else {
			phases.segs = append(phases.segs, s)
		}
	}
	p.Add(phases, limits, em)
	if len(phases.segs) > 0 {
		legend.Add("failure ratio of the phase", phases)
	}
	if len(limits.segs) > 0 {
		legend.Add("limit (error-rate rule)", limits)
	}
	b.bandsAndEvents(ri, m, legend)
	caption := "Share of each second's requests that failed, on an axis of its own so that a few failures show."
	if sc.logFail {
		caption += " The axis is logarithmic: a lone failure stays visible beside an outage."
	}
	if len(limits.segs) > 0 {
		caption += " The error-rate rule compares each phase's failure ratio (dashed) with the baseline's plus the allowance (dotted limit); a phase fails the rule only when it is above its limit significantly."
	}
	if len(fb.xs) == 0 {
		caption += " No request failed."
	}
	return caption, newSVGPlot(p, legend, htmlPlotWidth, htmlRateHeight, "failed requests as a percentage of each second's requests")
}

func (b *htmlBuilder) requestsPlot(ri int, m *Metrics, pts []seriesPoint, sc seriesScale, ax timeAxis) (string, *svgPlot) {
	p := newHTMLPlot()
	legend := newHTMLLegend()
	pb, em := b.bandsAndEvents(ri, m, nil)
	em.bare = true
	p.Add(pb, gridLines())
	var reqXY plotter.XYs
	fb := bars{colour: htmlFailColour}
	var total float64
	for _, pt := range pts {
		reqXY = append(reqXY, plotter.XY{X: pt.x + pt.width/2, Y: pt.requests})
		fb.xs = append(fb.xs, pt.x)
		fb.ys = append(fb.ys, pt.failure)
		fb.width = pt.width
		total += pt.failure
	}
	p.Add(fb)
	legend.Add("failed", fb)
	if rl, err := plotter.NewLine(reqXY); err == nil {
		rl.LineStyle = draw.LineStyle{Color: htmlRequestColour, Width: vg.Points(1)}
		p.Add(rl)
		legend.Add("sent", rl)
	}
	p.Add(em)
	ax.apply(p)
	p.Y.Min, p.Y.Max = 0, sc.rateMax*1.08
	p.Y.Label.Text = "requests per second"
	b.bandsAndEvents(ri, m, legend)
	caption := "Failed requests per second (bars) against requests sent per second (line)."
	if total == 0 {
		caption += " No request failed."
	}
	return caption, newSVGPlot(p, legend, htmlPlotWidth, htmlSeriesHeight, "failed and sent requests per second")
}

// hSegments draws horizontal segments, each with an optional label above
// its right end.
type hSegments struct {
	segs  []hSegment
	style draw.LineStyle
}

type hSegment struct {
	x0, x1, y float64
	kind      string // "phase" or "limit"
	label     string
}

func (hs hSegments) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	ts := text.Style{Color: hs.style.Color, Font: sansFont(8), XAlign: draw.XRight, YAlign: draw.YBottom, Handler: plot.DefaultTextHandler}
	for _, s := range hs.segs {
		if _, log := p.Y.Scale.(logScale); log && s.y <= 0 {
			continue
		}
		x0, x1, y := max(trX(s.x0), c.Min.X), min(trX(s.x1), c.Max.X), trY(s.y)
		if x1 <= x0 || y < c.Min.Y || y > c.Max.Y {
			continue
		}
		c.StrokeLine2(hs.style, x0, y, x1, y)
		if s.label != "" {
			labelText(c, ts, vg.Point{X: x1 - vg.Points(3), Y: y + vg.Points(2)}, s.label)
		}
	}
}

func (hs hSegments) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	c.StrokeLine2(hs.style, c.Min.X, y, c.Max.X, y)
}

func gapNote(pts []seriesPoint) string {
	for _, p := range pts {
		if p.requests > 0 && p.p50 == 0 {
			return " Gaps are seconds in which no request succeeded."
		}
	}
	return ""
}

// htmlStep is one upgrade step of the timeline, from its start to its end.
type htmlStep struct {
	label      string    // short: "drain worker2"
	start, end time.Time // end zero: the timeline never saw it end
	failed     bool
}

// timelineSteps pairs the driver's start and end events of each step (by
// name and subject), in order of start. Groups are left out: the steps
// inside say more.
func (b *htmlBuilder) timelineSteps() []htmlStep {
	var out []htmlStep
	open := map[string][]int{}
	for _, e := range b.r.Timeline {
		if e.Source != timeline.SourceDriver {
			continue
		}
		key := e.Subject + "\x00" + stepName(e)
		switch e.Kind {
		case stepStart:
			open[key] = append(open[key], len(out))
			out = append(out, htmlStep{label: b.stepLabel(e.Message, e.Subject), start: e.Time})
		case stepEnd:
			if idx := open[key]; len(idx) > 0 {
				out[idx[0]].end = e.Time
				out[idx[0]].failed = e.Outcome == "failed"
				open[key] = idx[1:]
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// stepLabel names a step shortly: its name and its node without the prefix
// all the steps' nodes share ("drain worker2" for the step "drain" of node
// "rh-1a2b-worker2"), at most htmlStepLabelMax characters.
func (b *htmlBuilder) stepLabel(name, subject string) string {
	short := strings.TrimPrefix(subject, b.nodePrefix)
	label := name
	switch {
	case subject == "":
	case strings.Contains(name, subject):
		label = strings.ReplaceAll(name, subject, short)
	default:
		label = name + " " + short
	}
	if r := []rune(label); len(r) > htmlStepLabelMax {
		label = string(r[:htmlStepLabelMax-1]) + "…"
	}
	return label
}

// nodePrefix is the prefix the subjects of the driver's steps share, up to
// a '-' or '.', when there are several and none is only the prefix: kind
// names nodes after their cluster ("rh-1a2b-control-plane",
// "rh-1a2b-worker").
func nodePrefix(events []Event) string {
	seen := map[string]bool{}
	var subjects []string
	for _, e := range events {
		if e.Source == timeline.SourceDriver && e.Subject != "" && !seen[e.Subject] {
			seen[e.Subject] = true
			subjects = append(subjects, e.Subject)
		}
	}
	if len(subjects) < 2 {
		return ""
	}
	prefix := subjects[0]
	for _, s := range subjects[1:] {
		n := 0
		for n < len(prefix) && n < len(s) && prefix[n] == s[n] {
			n++
		}
		prefix = prefix[:n]
	}
	cut := strings.LastIndexAny(prefix, "-.")
	if cut < 0 {
		return ""
	}
	prefix = prefix[:cut+1]
	for _, s := range subjects {
		if len(s) == len(prefix) {
			return ""
		}
	}
	return prefix
}

// laneStep is a step placed in a lane of the steps plot, in seconds since
// the run's origin.
type laneStep struct {
	x0, x1 float64
	lane   int
	label  string
	failed bool
}

// stepLanes draws the steps as labelled bars, lane 0 at the top.
type stepLanes struct {
	steps []laneStep
	lanes int
}

func stepTextStyle() text.Style {
	return text.Style{Color: htmlTextColour, Font: sansFont(8), XAlign: draw.XLeft, YAlign: draw.YCenter, Handler: plot.DefaultTextHandler}
}

func (sl stepLanes) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	ts := stepTextStyle()
	for _, s := range sl.steps {
		top := float64(sl.lanes - s.lane)
		y0, y1 := trY(top-0.9), trY(top-0.1)
		x0, x1 := max(trX(s.x0), c.Min.X), min(trX(s.x1), c.Max.X)
		if x1 < x0+vg.Points(1.5) {
			x1 = x0 + vg.Points(1.5)
		}
		fill, edge := htmlStepColour, htmlStepEdge
		if s.failed {
			fill, edge = htmlFailedStepColour, htmlFailColour
		}
		box := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
		c.FillPolygon(fill, box)
		c.StrokeLines(draw.LineStyle{Color: edge, Width: vg.Points(0.6)}, append(box, box[0]))
		at, pt := ts, vg.Point{X: x0 + vg.Points(3), Y: (y0 + y1) / 2}
		if pt.X+ts.Width(s.label) > c.Max.X {
			at.XAlign, pt.X = draw.XRight, c.Max.X-vg.Points(2)
		}
		c.FillText(at, pt, s.label)
	}
}

func (sl stepLanes) Thumbnail(c *draw.Canvas) { swatch{htmlStepColour}.Thumbnail(c) }

// placeSteps puts each step of the run in the first lane where neither it
// nor its label overlaps another, at most htmlStepsMaxLanes lanes (then the
// lane that frees first). secPerPt converts the label's width to seconds.
func placeSteps(steps []htmlStep, origin time.Time, lo, hi, secPerPt float64) ([]laneStep, int) {
	ts := stepTextStyle()
	var out []laneStep
	var ends []float64
	for _, s := range steps {
		x0 := s.start.Sub(origin).Seconds()
		x1 := hi
		if !s.end.IsZero() {
			x1 = s.end.Sub(origin).Seconds()
		}
		if x1 < lo || x0 > hi {
			continue
		}
		need := max(x1, x0+(ts.Width(s.label)*htmlTextSlack+vg.Points(10)).Points()*secPerPt)
		lane := -1
		for l, e := range ends {
			if e <= x0 {
				lane = l
				break
			}
		}
		if lane < 0 && len(ends) < htmlStepsMaxLanes {
			ends = append(ends, x0)
			lane = len(ends) - 1
		}
		if lane < 0 {
			lane = 0
			for l, e := range ends {
				if e < ends[lane] {
					lane = l
				}
			}
		}
		ends[lane] = max(ends[lane], need)
		out = append(out, laneStep{x0: x0, x1: x1, lane: lane, label: s.label, failed: s.failed})
	}
	return out, len(ends)
}

// stepsPlot draws the upgrade steps that ran during the run as labelled
// bars over the run's time axis, with the incidents behind them; it is
// empty when no step ran.
func (b *htmlBuilder) stepsPlot(ri int, m *Metrics, ax timeAxis) htmlPlot {
	hp := htmlPlot{Name: "steps", Title: "Upgrade steps", Run: ri + 1}
	origin := b.origins[ri]
	steps, lanes := placeSteps(b.steps, origin, ax.xmin, ax.xmax, (ax.xmax-ax.xmin)/htmlDataWidthGuess)
	if lanes == 0 {
		return htmlPlot{}
	}
	p := newHTMLPlot()
	legend := newHTMLLegend()
	pb, _ := b.bandsAndEvents(ri, m, nil)
	inc := phaseBands{}
	lo, hi := b.runSpan(ri)
	for _, in := range b.r.Incidents {
		if in.End.Before(lo) || in.Start.After(hi) {
			continue
		}
		inc.bands = append(inc.bands, phaseBand{x0: in.Start.Sub(origin).Seconds(), x1: in.End.Sub(origin).Seconds(), colour: htmlIncidentColour})
	}
	failed := 0
	for _, s := range steps {
		if s.failed {
			failed++
		}
	}
	p.Add(pb, inc, gridLines(), stepLanes{steps: steps, lanes: lanes})
	ax.apply(p)
	p.Y.Min, p.Y.Max = 0, float64(lanes)
	p.Y.Tick.Marker = plot.ConstantTicks{}
	p.Y.Label.Text = "steps"
	legend.Add("step", stepLanes{})
	if failed > 0 {
		legend.Add("failed step", swatch{htmlFailedStepColour})
	}
	if len(inc.bands) > 0 {
		legend.Add("incident (see table)", swatch{htmlIncidentColour})
	}
	b.bandsAndEvents(ri, m, legend)
	hp.Caption = fmt.Sprintf("Each upgrade step of the timeline from its start to its end, named after its node (%s in all)", plural(len(steps), "step", "steps"))
	if failed > 0 {
		hp.Caption += fmt.Sprintf(", %d failed (red)", failed)
	}
	hp.Caption += "."
	if len(inc.bands) > 0 {
		hp.Caption += " Red bands are the incidents: times of failure listed in the incidents table."
	}
	hp.plot = newSVGPlot(p, legend, htmlPlotWidth, vg.Length(44+lanes*htmlStepLane), "upgrade steps over time")
	return hp
}

// percentileTicks label the percentiles of the percentile plot's axis of
// 1/(1-q).
var percentileTicks = []struct {
	x     float64
	label string
}{{1, "0"}, {2, "50"}, {10, "90"}, {100, "99"}, {1e3, "99.9"}, {1e4, "99.99"}, {1e5, "99.999"}, {1e6, "99.9999"}}

// exactPercentiles are the percentiles a LatencySummary holds, as
// (1/(1-q), ms) points.
func exactPercentiles(l LatencySummary) plotter.XYs {
	if l.Count == 0 {
		return nil
	}
	return plotter.XYs{{X: 2, Y: l.P50Ms}, {X: 10, Y: l.P90Ms}, {X: 20, Y: l.P95Ms}, {X: 100, Y: l.P99Ms}, {X: 1000, Y: l.P999Ms}}
}

// percentilePoints returns the latency of a sample (ns) by percentile, as
// (1/(1-q), ms) points evenly spread on the log axis, at most
// htmlPercentilePoints of them: the value at q = i/n is the i-th smallest.
func percentilePoints(sample []float64) plotter.XYs {
	s := make([]float64, 0, len(sample))
	for _, v := range sample {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			s = append(s, max(v/1e6, 1e-3))
		}
	}
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return nil
	}
	var xys plotter.XYs
	last := -1
	for k := 0; k <= htmlPercentilePoints; k++ {
		x := math.Pow(float64(n), float64(k)/htmlPercentilePoints)
		i := min(int(float64(n)-float64(n)/x+1e-9), n-1)
		if i <= last {
			continue
		}
		last = i
		xys = append(xys, plotter.XY{X: float64(n) / float64(n-i), Y: s[i]})
	}
	return xys
}

// p99Limits are the p99 latencies above which the latency rule may fail
// each comparison: the larger of the baseline's p99 times MaxP99Ratio and
// the baseline's p99 plus MinP99Increase (the rule asks for both). Equal
// limits are listed once.
func (b *htmlBuilder) p99Limits() []hSegment {
	rules := b.r.Rules.WithDefaults()
	var out []hSegment
	seen := map[string]bool{}
	for _, c := range b.r.Comparisons {
		base := c.Stats.BaselineP99Ms
		if base <= 0 {
			continue
		}
		limit := max(base*rules.MaxP99Ratio, base+float64(rules.MinP99Increase)/1e6)
		label := fmt.Sprintf("p99 limit %s ms", fmtMs(limit))
		if seen[label] {
			continue
		}
		seen[label] = true
		out = append(out, hSegment{y: limit, kind: "limit", label: label})
	}
	return out
}

// percentilePlot draws the latency of the compared phases (of every phase
// when nothing was compared) by percentile, HDR style: the x axis is
// 1/(1-q) on a log scale, so that 90%, 99%, 99.9% and 99.99% are equally
// far apart, and the latency rule's p99 limit is a line across.
func (b *htmlBuilder) percentilePlot() htmlPlot {
	hp := htmlPlot{Name: "percentiles", Title: "Latency by percentile"}
	phases := b.distributionPhases()
	type line struct {
		p     *Phase
		xys   plotter.XYs
		exact plotter.XYs
	}
	var lines []line
	var empty, fromSummary []string
	xhi, lo, hi := 1e3, math.Inf(1), 0.0
	span := func(xys plotter.XYs) {
		for _, pt := range xys {
			if pt.Y > 0 {
				lo, hi = min(lo, pt.Y), max(hi, pt.Y)
			}
			xhi = max(xhi, pt.X)
		}
	}
	for _, p := range phases {
		ln := line{p: p, xys: percentilePoints(p.Sample()), exact: exactPercentiles(p.Latency)}
		if len(ln.xys) == 0 && len(ln.exact) > 0 {
			ln.xys = append(plotter.XYs{{X: 1, Y: p.Latency.MinMs}}, ln.exact...)
			fromSummary = append(fromSummary, b.label[p])
		}
		if len(ln.xys) == 0 {
			empty = append(empty, b.label[p])
			continue
		}
		span(ln.xys)
		span(ln.exact)
		lines = append(lines, ln)
	}
	limits := b.p99Limits()
	hp.Caption = "Latency of successful requests by percentile, on an axis that gives the tail room: 90%, 99%, 99.9% and 99.99% are equally far apart. Lines come from each phase's uniform sample; dots are the exact p50, p90, p95, p99 and p99.9 of all its requests."
	if len(limits) > 0 {
		r := b.r.Rules.WithDefaults()
		hp.Caption += fmt.Sprintf(" The dotted line is the latency rule's p99 limit: the larger of the baseline's p99 ×%.3g and the baseline's p99 + %s; a candidate fails the rule only when its p99 is above it with confidence and the shift is significant.", r.MaxP99Ratio, r.MinP99Increase)
	}
	if len(fromSummary) > 0 {
		hp.Caption += " No sample for " + strings.Join(fromSummary, ", ") + ": its line joins the exact percentiles."
	}
	if len(empty) > 0 {
		hp.Caption += " No latency sample for " + strings.Join(empty, ", ") + " (no request succeeded)."
	}
	if len(lines) == 0 {
		hp.Note = "No phase has a latency sample to draw: no request succeeded."
		return hp
	}
	for _, l := range limits {
		lo, hi = min(lo, l.y), max(hi, l.y)
	}
	p := newHTMLPlot()
	legend := newHTMLLegend()
	p.Add(gridLines())
	xmax := xhi * 1.5
	p.X.Scale = logScale{}
	p.X.Min, p.X.Max = 1, xmax
	var ticks plot.ConstantTicks
	for _, t := range percentileTicks {
		if t.x <= xmax {
			ticks = append(ticks, plot.Tick{Value: t.x, Label: t.label})
		}
	}
	p.X.Tick.Marker = ticks
	p.X.Label.Text = "percentile (%, log scale of 1/(1−q))"
	if hi <= lo {
		lo, hi = lo*0.9, hi*1.1+1e-3
	}
	if hi/lo > 10 {
		useLog(&p.Y, lo/1.15, hi*1.15)
		p.Y.Label.Text = "latency (ms, log scale)"
	} else {
		p.Y.Min, p.Y.Max = 0, hi*1.08
		p.Y.Label.Text = "latency (ms)"
	}
	p.X.Padding, p.Y.Padding = 0, 0
	for i, ln := range lines {
		l, err := plotter.NewLine(ln.xys)
		if err != nil {
			continue
		}
		col := htmlPhasePalette[b.colour[ln.p]%len(htmlPhasePalette)]
		l.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1.8)}
		if i > 0 || len(b.r.Comparisons) == 0 {
			l.LineStyle.Width = vg.Points(1.5)
		}
		p.Add(l)
		if sc, err := plotter.NewScatter(ln.exact); err == nil {
			sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(2.6), Shape: draw.CircleGlyph{}}
			p.Add(sc)
		}
		role := ""
		if len(b.r.Comparisons) > 0 {
			role = "candidate: "
			if i == 0 {
				role = "baseline: "
			}
		}
		legend.Add(fmt.Sprintf("%s%s (n=%s)", role, b.label[ln.p], fmtInt(int64(len(ln.p.Sample())))), l)
	}
	for _, name := range empty {
		legend.Add(name + ": no sample")
	}
	if len(limits) > 0 {
		ls := hSegments{style: draw.LineStyle{Color: htmlLimitColour, Width: vg.Points(1.4), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}}
		for _, l := range limits {
			l.x0, l.x1 = 1, xmax
			ls.segs = append(ls.segs, l)
		}
		p.Add(ls)
		legend.Add("p99 limit (latency rule)", ls)
	}
	hp.plot = newSVGPlot(p, legend, htmlPlotWidth, htmlPercentileHeight, "latency by percentile per phase")
	return hp
}

// distributionPhases are the phases the percentile plot draws: the
// baselines, then the candidates of the comparisons, else every phase.
func (b *htmlBuilder) distributionPhases() []*Phase {
	var phases []*Phase
	seen := map[*Phase]bool{}
	addPhase := func(p *Phase) {
		if p != nil && !seen[p] {
			seen[p] = true
			phases = append(phases, p)
		}
	}
	for _, c := range b.r.Comparisons {
		base, _ := b.comparisonPhases(c)
		addPhase(base)
	}
	for _, c := range b.r.Comparisons {
		_, cand := b.comparisonPhases(c)
		addPhase(cand)
	}
	if len(phases) == 0 {
		for _, p := range b.r.Phases() {
			addPhase(p)
		}
	}
	return phases
}

// nodeBar is one bar of the nodes plot: a node's requests in one phase.
type nodeBar struct {
	y, rate            float64
	requests, failures int64
	colour             color.Color
}

// nodeBars draws horizontal bars from zero, each labelled with its rate and
// failures.
type nodeBars struct{ bars []nodeBar }

func (nb nodeBars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	ts := text.Style{Font: sansFont(8), XAlign: draw.XLeft, YAlign: draw.YCenter, Handler: plot.DefaultTextHandler}
	x0 := trX(0)
	for _, bar := range nb.bars {
		y0, y1 := trY(bar.y-0.4), trY(bar.y+0.4)
		x1 := max(trX(bar.rate), x0+vg.Points(1))
		c.FillPolygon(bar.colour, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
		label := fmt.Sprintf("%s/s, %s requests, none failed", fmtFloat(bar.rate, 1), fmtInt(bar.requests))
		ts.Color = htmlRequestColour
		if bar.failures > 0 {
			label = fmt.Sprintf("%s/s, %s requests, %s failed (%s)", fmtFloat(bar.rate, 1), fmtInt(bar.requests), fmtInt(bar.failures), fmtPercent(float64(bar.failures)/float64(bar.requests)))
			ts.Color = htmlFailColour
		}
		c.FillText(ts, vg.Point{X: x1 + vg.Points(4), Y: (y0 + y1) / 2}, label)
	}
}

// nodesPlot draws, for each node that answered, its mean requests per
// second in each phase, with its failures; it is empty when no node is
// known. The recording counts nodes per phase only, not per second.
func (b *htmlBuilder) nodesPlot() htmlPlot {
	type cell struct {
		p *Phase
		c CountSummary
	}
	byNode := map[string][]cell{}
	var names []string
	for _, p := range b.r.Phases() {
		if p == nil || p.Seconds <= 0 {
			continue
		}
		for _, n := range p.Nodes {
			name := cmp.Or(n.Name, "(unknown)")
			if byNode[name] == nil {
				names = append(names, name)
			}
			byNode[name] = append(byNode[name], cell{p, n})
		}
	}
	if len(names) == 0 {
		return htmlPlot{}
	}
	sort.Strings(names)
	p := newHTMLPlot()
	legend := newHTMLLegend()
	var nb nodeBars
	var ticks plot.ConstantTicks
	y, most := 0.0, 1.0
	phaseSeen := map[*Phase]bool{}
	for i := len(names) - 1; i >= 0; i-- {
		cells := byNode[names[i]]
		top := y + float64(len(cells)) - 1
		for j, c := range cells {
			col := htmlPhasePalette[b.colour[c.p]%len(htmlPhasePalette)]
			rate := float64(c.c.Requests) / c.p.Seconds
			nb.bars = append(nb.bars, nodeBar{y: top - float64(j), rate: rate, requests: c.c.Requests, failures: c.c.Failures, colour: col})
			most = max(most, rate)
			phaseSeen[c.p] = true
		}
		ticks = append(ticks, plot.Tick{Value: (y + top) / 2, Label: names[i]})
		y = top + 1.6
	}
	for _, ph := range b.r.Phases() {
		if phaseSeen[ph] {
			legend.Add(b.label[ph], swatch{htmlPhasePalette[b.colour[ph]%len(htmlPhasePalette)]})
		}
	}
	p.Add(gridLines(), nb)
	p.X.Min, p.X.Max = 0, most*1.9
	p.Y.Min, p.Y.Max = -0.6, y-1.6+0.6
	p.X.Padding, p.Y.Padding = 0, 0
	p.Y.Tick.Marker = ticks
	p.X.Label.Text = "requests per second, mean over the phase"
	sp := newSVGPlot(p, legend, htmlPlotWidth, vg.Length(48+len(nb.bars)*13+len(names)*8), "requests by node and phase")
	for _, n := range names {
		// Room for the names in a wider font than they were measured in.
		sp.left = max(sp.left, p.Y.Tick.Label.Width(n)*(htmlTextSlack-1))
	}
	return htmlPlot{
		Name: "nodes", Title: "Requests by node and phase",
		Caption: "Each node's mean requests per second in each phase, with its failed requests. The recording counts nodes per phase, not per second, so this is per phase; a request that got no answer names no node and is not counted here.",
		plot:    sp,
	}
}

// svgPlot is a plot with its legend, drawn to an SVG fragment. The legend
// sits on the right of the plot.
type svgPlot struct {
	p      *plot.Plot
	legend *plot.Legend
	w, h   vg.Length
	label  string
	// left is an extra left margin and legendW the legend's width; plots
	// stacked above each other get them set so their data areas line up.
	left, legendW vg.Length
}

func newSVGPlot(p *plot.Plot, legend *plot.Legend, w, h vg.Length, label string) *svgPlot {
	sp := &svgPlot{p: p, legend: legend, w: w, h: h, label: label}
	// The legend's rectangle depends only on its entries, not on where it
	// is drawn.
	if lw := legend.Rectangle(draw.Canvas{}).Size().X; lw > 0 {
		// A browser without the font draws a wider one in its place.
		sp.legendW = min(lw*htmlTextSlack+legend.TextStyle.Width("MM"), w/3)
	}
	return sp
}

func (sp *svgPlot) area(dc draw.Canvas) draw.Canvas {
	return draw.Crop(dc, sp.left, -sp.legendW-vg.Points(8), 0, -vg.Points(6))
}

// dataLeft is where the plot's data area starts.
func (sp *svgPlot) dataLeft() (x vg.Length, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return sp.p.DataCanvas(sp.area(draw.New(vgsvg.New(sp.w, sp.h)))).Min.X, true
}

// alignPlots gives plots of the same width one legend width and left
// margins such that their data areas start and end at the same x.
func alignPlots(ps []*svgPlot) {
	var lw vg.Length
	for _, sp := range ps {
		lw = max(lw, sp.legendW)
	}
	lefts := make([]vg.Length, len(ps))
	var most vg.Length
	for i, sp := range ps {
		sp.legendW = lw
		x, ok := sp.dataLeft()
		if !ok {
			return
		}
		lefts[i] = x
		most = max(most, x)
	}
	for i, sp := range ps {
		sp.left = most - lefts[i]
	}
}

// render draws the plot into an SVG fragment fit for inlining. A plot that
// cannot be drawn yields a note instead.
func (sp *svgPlot) render() (svg template.HTML, note string) {
	var buf bytes.Buffer
	err := func() (err error) {
		defer func() {
			if e := recover(); e != nil {
				err = fmt.Errorf("%v", e)
			}
		}()
		c := vgsvg.New(sp.w, sp.h)
		dc := draw.New(c)
		sp.p.Draw(sp.area(dc))
		if sp.legendW > 0 {
			sp.legend.Draw(draw.Crop(dc, sp.w-sp.legendW, 0, 0, -vg.Points(8)))
		}
		_, err = c.WriteTo(&buf)
		return err
	}()
	if err != nil {
		return "", "The plot could not be drawn: " + err.Error()
	}
	return template.HTML(inlineSVG(buf.String(), sp.w, sp.h, sp.label)), ""
}

// inlineSVG turns a standalone SVG document into an element for an HTML
// page: the XML prologue and the fixed size go, the viewBox stays so the
// plot scales with the page, and the fonts fall back to metric-compatible
// families.
func inlineSVG(doc string, w, h vg.Length, label string) string {
	i := strings.Index(doc, "<svg")
	if i < 0 {
		return doc
	}
	j := strings.Index(doc[i:], ">")
	if j < 0 {
		return doc
	}
	body := doc[i+j+1:]
	body = strings.ReplaceAll(body, "font-family:Liberation Sans;", "font-family:'Liberation Sans',Arial,Helvetica,sans-serif;")
	head := fmt.Sprintf(`<svg viewBox="0 0 %.5g %.5g" width="%.5g" height="%.5g" role="img" aria-label="%s" preserveAspectRatio="xMidYMid meet">`,
		w.Points(), h.Points(), w.Points(), h.Points(), template.HTMLEscapeString(label))
	return head + body
}

// markedOnPlots tells which events are drawn over the traffic: what the
// upgrade did and what the rotation did. Phases are bands already, and the
// checklist's transitions (many during an upgrade) stay in the table.
func markedOnPlots(e Event) bool {
	switch e.Source {
	case "phase", "checklist", "loadgen":
		return false
	case "driver":
		// A step's start is marked; its end, and a group's start and
		// end (its first and last steps are marked already), are not.
		return e.Kind != "end" && e.Kind != "group-start" && e.Kind != "group-end"
	}
	return true
}
