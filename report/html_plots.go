package report

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The plots of the HTML report, drawn with gonum/plot into SVG fragments
// that the page inlines: latency and failures over time per run, and the
// latency distributions of the compared phases.

// Plot colours. The line colours are opaque and distinctive so that they stay
// recognisable over the translucent phase bands.
var (
	htmlP50Colour     = color.NRGBA{R: 0x1F, G: 0x3A, B: 0x93, A: 0xFF} // dark blue
	htmlP99Colour     = color.NRGBA{R: 0xD6, G: 0x33, B: 0x6C, A: 0xFF} // magenta
	htmlFailColour    = color.NRGBA{R: 0xE0, G: 0x31, B: 0x31, A: 0xFF} // red
	htmlRequestColour = color.NRGBA{R: 0x86, G: 0x8E, B: 0x96, A: 0xFF} // grey
	htmlEventColour   = color.NRGBA{R: 0x34, G: 0x3A, B: 0x40, A: 0xFF} // near black
	htmlGridColour    = color.NRGBA{R: 0xDE, G: 0xE2, B: 0xE6, A: 0xFF}
	htmlTextColour    = color.NRGBA{R: 0x21, G: 0x25, B: 0x29, A: 0xFF}
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
	htmlECDFHeight   = 320
	// htmlMaxPoints bounds the points of one time series; longer recordings
	// are drawn in coarser buckets.
	htmlMaxPoints = 1500
	// htmlECDFPoints bounds the points of one distribution line.
	htmlECDFPoints = 1000
)

// drawPlots draws the time series of every run and the latency
// distribution into the view, as inline SVG.
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
		s := htmlSeries{}
		if v.MultiRun {
			s.Heading = fmt.Sprintf("Run %d", ri+1)
			if m.Source != "" {
				s.Heading += ": " + m.Source
			}
		}
		s.Latency, s.Errors = b.seriesPlots(ri, m, points[ri], scale)
		v.Series = append(v.Series, s)
	}
	v.ECDF = b.ecdfPlot()
	// All plots line up: their data areas share left and right edges.
	all := []*htmlPlot{&v.ECDF}
	for i := range v.Series {
		all = append(all, &v.Series[i].Latency, &v.Series[i].Errors)
	}
	var stacked []*svgPlot
	for _, hp := range all {
		if hp.plot != nil {
			stacked = append(stacked, hp.plot)
		}
	}
	alignPlots(stacked)
	for _, hp := range all {
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

// eventMarks draws a dashed vertical line with its number at each event.
type eventMarks struct {
	xs     []float64
	labels []string
}

func (em eventMarks) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	ls := draw.LineStyle{Color: htmlEventColour, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}
	ts := text.Style{Color: htmlEventColour, Font: sansFont(8), XAlign: draw.XLeft, YAlign: draw.YTop, Handler: plot.DefaultTextHandler}
	lastX, row := vg.Length(math.Inf(-1)), 0
	for i, x := range em.xs {
		px := trX(x)
		if px < c.Min.X || px > c.Max.X {
			continue
		}
		c.StrokeLine2(ls, px, c.Min.Y, px, c.Max.Y)
		if px-lastX < ts.Width(em.labels[i])+vg.Points(4) {
			row = (row + 1) % 4
		} else {
			row = 0
		}
		lastX = px
		c.FillText(ts, vg.Point{X: px + vg.Points(2), Y: c.Max.Y - vg.Points(2) - vg.Length(row)*vg.Points(9)}, em.labels[i])
	}
}

type eventThumb struct{}

func (eventThumb) Thumbnail(c *draw.Canvas) {
	ls := draw.LineStyle{Color: htmlEventColour, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}
	x := (c.Min.X + c.Max.X) / 2
	c.StrokeLine2(ls, x, c.Min.Y, x, c.Max.Y)
}

// bars draws one bar per bucket, from x to x+width, up from zero.
type bars struct {
	xs, ys []float64
	width  float64
	colour color.Color
}

func (bs bars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	y0 := trY(0)
	for i, x := range bs.xs {
		if bs.ys[i] <= 0 {
			continue
		}
		x0, x1 := trX(x), trX(x+bs.width)
		if x1-x0 < vg.Points(0.8) {
			x1 = x0 + vg.Points(0.8)
		}
		y1 := trY(bs.ys[i])
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
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow(10, e)
		for i := 1; i < 10; i++ {
			v := base * float64(i)
			if v < lo*0.999 || v > hi*1.001 {
				continue
			}
			t := plot.Tick{Value: v}
			if i == 1 || i == 2 || i == 5 {
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
	a.Scale = plot.LogScale{}
	a.Tick.Marker = plot.TickerFunc(logTicks)
	a.Min, a.Max = lo, hi
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
		em.labels = append(em.labels, strconv.Itoa(i+1))
	}
	if legend != nil && len(em.xs) > 0 {
		legend.Add("event (see timeline)", eventThumb{})
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
	sc := seriesScale{latLo: math.Inf(1), xMax: 1, rateMax: 1}
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
		}
	}
	// A log scale when the per-second latencies span more than a factor 10.
	sc.logLatency = sc.latHi > 0 && sc.latHi/sc.latLo > 10
	return sc
}

func (b *htmlBuilder) seriesPlots(ri int, m *Metrics, pts []seriesPoint, sc seriesScale) (lat, errs htmlPlot) {
	lat = htmlPlot{Name: "latency", Title: "Latency over time", Run: ri + 1}
	errs = htmlPlot{Name: "errors", Title: "Failures per second", Run: ri + 1}
	if !b.hasWin[ri] {
		lat.Note = "No per-second windows were kept for this recording, so there is no time series to draw."
		errs.Note = lat.Note
		return lat, errs
	}
	bucket := ""
	if len(pts) > 0 && pts[0].width > 1 {
		bucket = fmt.Sprintf(" Each point covers %g seconds (p50: mean, p99: highest, rates: mean per second).", pts[0].width)
	}
	xmin, _ := b.runExtent(ri, pts)
	xLabel := "seconds since " + b.origins[ri].UTC().Format("2006-01-02 15:04:05 UTC")
	if len(b.r.Runs) > 1 {
		bucket += " All recordings are drawn to the same scale."
	}

	// Latency over time.
	{
		p := newHTMLPlot()
		legend := newHTMLLegend()
		pb, em := b.bandsAndEvents(ri, m, nil)
		p.Add(pb, gridLines())
		p.X.Min, p.X.Max = xmin, sc.xMax
		p.X.Padding, p.Y.Padding = 0, 0
		p.X.Label.Text = xLabel
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
		lat.Caption = "Per-second p50 and p99 of successful requests; shaded bands show the phases." + gapNote(pts) + bucket
		lat.plot = newSVGPlot(p, legend, htmlPlotWidth, htmlSeriesHeight, "latency over time, p50 and p99 per second")
	}

	// Failures per second.
	{
		p := newHTMLPlot()
		legend := newHTMLLegend()
		pb, em := b.bandsAndEvents(ri, m, nil)
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
		p.X.Min, p.X.Max = xmin, sc.xMax
		p.X.Padding, p.Y.Padding = 0, 0
		p.Y.Min, p.Y.Max = 0, sc.rateMax*1.08
		p.X.Label.Text = xLabel
		p.Y.Label.Text = "requests per second"
		b.bandsAndEvents(ri, m, legend)
		errs.Caption = "Failed requests per second (bars) against requests sent per second (line)."
		if total == 0 {
			errs.Caption += " No request failed."
		}
		errs.Caption += bucket
		errs.plot = newSVGPlot(p, legend, htmlPlotWidth, htmlSeriesHeight, "failed and sent requests per second")
	}
	return lat, errs
}

func gapNote(pts []seriesPoint) string {
	for _, p := range pts {
		if p.requests > 0 && p.p50 == 0 {
			return " Gaps are seconds in which no request succeeded."
		}
	}
	return ""
}

// ecdfPlot overlays the latency distributions of the compared phases (of
// every phase when nothing was compared).
func (b *htmlBuilder) ecdfPlot() htmlPlot {
	hp := htmlPlot{Name: "ecdf", Title: "Latency distribution"}
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
	type line struct {
		p   *Phase
		xys plotter.XYs
	}
	var lines []line
	var empty []string
	lo, hi := math.Inf(1), 0.0
	for _, p := range phases {
		s := p.Sample()
		if len(s) == 0 {
			empty = append(empty, b.label[p])
			continue
		}
		xys := ecdfPoints(s)
		lo, hi = min(lo, xys[0].X), max(hi, xys[len(xys)-1].X)
		lines = append(lines, line{p, xys})
	}
	hp.Caption = "Empirical cumulative distribution of the latency of successful requests (uniform sample per phase): the further right a line, the slower the phase."
	if len(empty) > 0 {
		hp.Caption += " No latency sample for " + strings.Join(empty, ", ") + " (no request succeeded)."
	}
	if len(lines) == 0 {
		hp.Note = "No phase has a latency sample to draw: no request succeeded."
		return hp
	}
	p := newHTMLPlot()
	legend := newHTMLLegend()
	p.Add(gridLines())
	if hi <= lo {
		lo, hi = lo*0.9, hi*1.1+1e-3
	}
	if hi/lo > 10 {
		useLog(&p.X, lo/1.15, hi*1.15)
		p.X.Label.Text = "latency (ms, log scale)"
	} else {
		p.X.Min, p.X.Max = 0, hi*1.05
		p.X.Label.Text = "latency (ms)"
	}
	p.X.Padding, p.Y.Padding = 0, 0
	p.Y.Min, p.Y.Max = 0, 1.01
	p.Y.Label.Text = "fraction of requests at or below"
	p.Y.Tick.Marker = plot.ConstantTicks{
		{Value: 0, Label: "0"}, {Value: 0.25, Label: "0.25"}, {Value: 0.5, Label: "0.5"},
		{Value: 0.75, Label: "0.75"}, {Value: 0.9, Label: "0.9"}, {Value: 1, Label: "1"},
	}
	for i, ln := range lines {
		l, err := plotter.NewLine(ln.xys)
		if err != nil {
			continue
		}
		l.StepStyle = plotter.PostStep
		col := htmlPhasePalette[b.colour[ln.p]%len(htmlPhasePalette)]
		l.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1.8)}
		if i > 0 || len(b.r.Comparisons) == 0 {
			l.LineStyle.Width = vg.Points(1.5)
		}
		p.Add(l)
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
	hp.plot = newSVGPlot(p, legend, htmlPlotWidth, htmlECDFHeight, "latency distribution per phase")
	return hp
}

// ecdfPoints returns the empirical distribution of latencies given in
// nanoseconds as (ms, fraction) points, at most htmlECDFPoints of them.
func ecdfPoints(sample []float64) plotter.XYs {
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
	xys := plotter.XYs{{X: s[0], Y: 0}}
	step := 1
	if n > htmlECDFPoints {
		step = (n + htmlECDFPoints - 1) / htmlECDFPoints
	}
	for i := 0; i < n; i += step {
		xys = append(xys, plotter.XY{X: s[i], Y: float64(i+1) / float64(n)})
	}
	if last := xys[len(xys)-1]; last.Y < 1 {
		xys = append(xys, plotter.XY{X: s[n-1], Y: 1})
	}
	return xys
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
		sp.legendW = min(lw+legend.TextStyle.Width("MM"), w/3)
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
