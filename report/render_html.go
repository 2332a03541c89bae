package report

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"image/color"
	"io"
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
)

// The HTML report is one self-contained file: inline stylesheet, inline SVG
// plots drawn with gonum/plot, no scripts, no fonts or images fetched.

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
	// htmlTopErrors is how many error messages are listed per phase.
	htmlTopErrors = 10
)

// RenderHTML writes the report as one self-contained HTML page: verdict,
// comparisons, plots of latency and failures over time, the latency
// distributions, and the tables behind them.
func RenderHTML(w io.Writer, r *Report) error {
	if r == nil {
		return errors.New("html: no report")
	}
	v := buildHTMLView(r)
	var buf bytes.Buffer
	if err := htmlPage.Execute(&buf, v); err != nil {
		return fmt.Errorf("html: %w", err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// ---- view model ----

type htmlView struct {
	Title       string
	Generated   string
	Verdict     Outcome
	VerdictWord string
	Reasons     []string
	Summary     string
	MultiRun    bool
	Runs        []htmlRunRow
	Comparisons []htmlComparison
	Series      []htmlSeries
	ECDF        htmlPlot
	Phases      []htmlPhaseRow
	ClassCols   []string
	Probes      []htmlProbeRow
	Targets     []htmlCountRow
	Nodes       []htmlCountRow
	Outages     []htmlOutageRow
	OutageNote  string
	Errors      []htmlErrorRow
	Codes       []htmlCodeRow
	HasRead     bool
	HasAcct     bool
	Timeline    []htmlEventRow
	RulesSet    []htmlKV
	Style       template.CSS
}

type htmlKV struct{ Key, Value string }

type htmlRunRow struct {
	Label, Source, Phases, Span, Requests, Records, Dropped         string
	TargetRate, AchievedRate, Scheduled, Sent, Missed, Late, MaxLag string
	HasAccounting                                                   bool
}

type htmlComparison struct {
	Baseline, Candidate string
	Outcome             Outcome
	Rules               []htmlRuleRow
	Stats               []htmlStatRow
}

type htmlRuleRow struct {
	Rule      string
	Outcome   Outcome
	Value     string
	Threshold string
	Message   string
}

type htmlStatRow struct{ Name, Baseline, Candidate, Change string }

type htmlSeries struct {
	Heading string
	Latency htmlPlot
	Errors  htmlPlot
}

type htmlPlot struct {
	Name    string
	Run     int
	Title   string
	Caption string
	SVG     template.HTML
	Note    string

	plot *svgPlot // drawn into SVG once aligned with the plots around it
}

type htmlPhaseRow struct {
	Run, Phase, Class, Start, StartClock, Duration, Requests, Rate, Success string
	P50, P90, P99, P999, Max, Outages, Longest                              string
	Classes                                                                 []string
}

type htmlProbeRow struct {
	Phase, Class, Probe, Requests, Failures, Success, P50, P99, Max, Outages, Longest string
}

type htmlCountRow struct {
	Phase, Class, Name, Requests, Failures, Success, Share string
}

type htmlOutageRow struct {
	Phase, Class, Probe, Start, StartClock, End, Seconds, Failures string
}

type htmlCodeRow struct {
	Phase, Class, Status, Count, Share string
}

type htmlErrorRow struct {
	Phase, Class, Count, Share, Message string
}

type htmlEventRow struct {
	N, Clock, Offset, Source, Kind, Subject, Message string
}

// htmlBuilder carries what the sections share: phase colours and labels,
// and the time origin of each run.
type htmlBuilder struct {
	r       *Report
	colour  map[*Phase]int
	label   map[*Phase]string
	runOf   map[*Phase]int
	origins []time.Time
	hasWin  []bool
}

func buildHTMLView(r *Report) *htmlView {
	b := &htmlBuilder{r: r, colour: map[*Phase]int{}, label: map[*Phase]string{}, runOf: map[*Phase]int{}}
	names := map[string]int{}
	for ri, m := range r.Runs {
		if m == nil {
			continue
		}
		for _, p := range m.Phases {
			if p == nil {
				continue
			}
			b.colour[p] = len(b.colour) % len(htmlPhasePalette)
			b.runOf[p] = ri
			names[p.Name]++
		}
	}
	for p, ri := range b.runOf {
		b.label[p] = p.Name
		if names[p.Name] > 1 {
			b.label[p] = fmt.Sprintf("%s (run %d)", p.Name, ri+1)
		}
	}
	for _, m := range r.Runs {
		o, ok := runOrigin(m)
		b.origins = append(b.origins, o)
		b.hasWin = append(b.hasWin, ok && len(m.Windows) > 0)
	}

	v := &htmlView{
		Title:     r.Title,
		Verdict:   r.Verdict,
		Reasons:   r.Reasons,
		MultiRun:  len(r.Runs) > 1,
		Generated: "unknown",
		Style:     htmlStyle(),
	}
	if v.Title == "" {
		v.Title = "rehearse report"
	}
	if !r.Generated.IsZero() {
		v.Generated = r.Generated.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	switch r.Verdict {
	case Pass, Fail, Inconclusive:
		v.VerdictWord = strings.ToUpper(string(r.Verdict))
	case "":
		v.Verdict, v.VerdictWord = Inconclusive, "NO VERDICT"
	default:
		v.VerdictWord = strings.ToUpper(string(r.Verdict))
	}
	var nreq int64
	for _, p := range r.Phases() {
		if p != nil {
			nreq += p.Requests
		}
	}
	v.Summary = fmt.Sprintf("%s requests in %s, %s phases, %s comparisons",
		fmtInt(nreq), plural(len(r.Runs), "recording", "recordings"), fmtInt(int64(len(b.colour))), fmtInt(int64(len(r.Comparisons))))

	v.Runs = b.runRows()
	for _, m := range r.Runs {
		if m != nil {
			v.HasRead = v.HasRead || m.Read != nil
			v.HasAcct = v.HasAcct || m.Accounting != nil
		}
	}
	for _, c := range r.Comparisons {
		v.Comparisons = append(v.Comparisons, b.comparison(c))
	}
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
	b.phaseTables(v)
	v.Timeline = b.timelineRows()
	v.RulesSet = rulesInForce(r.Rules)
	return v
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// runOrigin is the instant the run's time axis counts from: the start of
// the second of its first result.
func runOrigin(m *Metrics) (time.Time, bool) {
	if m == nil {
		return time.Time{}, false
	}
	if len(m.Windows) > 0 {
		w := m.Windows[0]
		return w.Start.Add(-time.Duration(w.Offset) * time.Second), true
	}
	var o time.Time
	for _, p := range m.Phases {
		if p != nil && !p.Start.IsZero() && (o.IsZero() || p.Start.Before(o)) {
			o = p.Start
		}
	}
	return o.Truncate(time.Second), !o.IsZero()
}

func (b *htmlBuilder) phaseClass(p *Phase) string {
	if p == nil {
		return ""
	}
	return "ph" + strconv.Itoa(b.colour[p])
}

func (b *htmlBuilder) runLabel(ri int) string {
	if len(b.r.Runs) < 2 {
		return ""
	}
	return strconv.Itoa(ri + 1)
}

func (b *htmlBuilder) runRows() []htmlRunRow {
	var rows []htmlRunRow
	for ri, m := range b.r.Runs {
		if m == nil {
			continue
		}
		row := htmlRunRow{Label: strconv.Itoa(ri + 1), Source: m.Source}
		if row.Source == "" {
			row.Source = "(live recording)"
		}
		var names []string
		var first, last time.Time
		var req int64
		for _, p := range m.Phases {
			if p == nil {
				continue
			}
			names = append(names, p.Name)
			req += p.Requests
			if first.IsZero() || p.Start.Before(first) {
				first = p.Start
			}
			if p.End.After(last) {
				last = p.End
			}
		}
		row.Phases = strings.Join(names, ", ")
		row.Requests = fmtInt(req)
		if !first.IsZero() {
			row.Span = fmt.Sprintf("%s – %s (%s)", first.UTC().Format("15:04:05"), last.UTC().Format("15:04:05"), fmtSeconds(last.Sub(first).Seconds()))
		}
		if m.Read != nil {
			row.Records = fmtInt(m.Read.Records)
			row.Dropped = fmtInt(m.Read.Dropped) + " bytes"
			if m.Read.TailErr != "" {
				row.Dropped += " (" + m.Read.TailErr + ")"
			}
		}
		if a := m.Accounting; a != nil {
			row.HasAccounting = true
			row.TargetRate = fmtFloat(a.TargetRate, 1)
			row.AchievedRate = fmtFloat(a.AchievedRate, 1)
			row.Scheduled = fmtInt(a.Scheduled)
			row.Sent = fmtInt(a.Sent)
			row.Missed = fmtInt(a.Missed)
			row.Late = fmtInt(a.Late)
			row.MaxLag = fmtMs(a.MaxLagMs)
		}
		rows = append(rows, row)
	}
	return rows
}

// comparisonPhases finds the phases a comparison was made between. Phase
// names may repeat across runs (two recordings each taken whole), so the
// candidate is the first phase of that name that is not the baseline.
func (b *htmlBuilder) comparisonPhases(c Comparison) (base, cand *Phase) {
	for _, p := range b.r.Phases() {
		if p != nil && p.Name == c.Baseline {
			base = p
			break
		}
	}
	for _, p := range b.r.Phases() {
		if p != nil && p.Name == c.Candidate && p != base {
			cand = p
			break
		}
	}
	return base, cand
}

func (b *htmlBuilder) comparison(c Comparison) htmlComparison {
	hc := htmlComparison{Baseline: c.Baseline, Candidate: c.Candidate, Outcome: c.Outcome}
	for _, rr := range c.Rules {
		val, thr := fmtRuleValues(rr)
		hc.Rules = append(hc.Rules, htmlRuleRow{Rule: rr.Rule, Outcome: rr.Outcome, Value: val, Threshold: thr, Message: rr.Message})
	}
	st := c.Stats
	e := st.ErrorRate
	conf := int(math.Round(st.Confidence * 100))
	if conf == 0 {
		conf = int(DefaultConfidence * 100)
	}
	hc.Stats = []htmlStatRow{
		{"requests", fmtInt(st.BaselineRequests), fmtInt(st.CandidateRequests), ""},
		{"failures", fmt.Sprintf("%s (%s)", fmtInt(e.BaseErrors), fmtPercent(e.BaseRate)), fmt.Sprintf("%s (%s)", fmtInt(e.CandErrors), fmtPercent(e.CandRate)),
			fmt.Sprintf("%+.3g pp, %d%% interval [%+.3g, %+.3g]; Fisher p=%.2g", e.Diff*100, conf, e.DiffLo*100, e.DiffHi*100, e.PValue)},
		{"p99 latency", fmtMs(st.BaselineP99Ms) + " ms", fmtMs(st.CandidateP99Ms) + " ms",
			fmt.Sprintf("×%.3g, %d%% interval [%.3g, %.3g]", st.P99Ratio, conf, st.P99RatioLo, st.P99RatioHi)},
		{"latency shift (Hodges–Lehmann)", "", "", fmt.Sprintf("%+.3g ms, %d%% interval [%+.3g, %+.3g]", st.ShiftMs, conf, st.ShiftLoMs, st.ShiftHiMs)},
		{"Mann–Whitney", "", "", fmt.Sprintf("U=%.4g, p=%.2g", st.MannWhitneyU, st.MannWhitneyP)},
		{"Kolmogorov–Smirnov", "", "", fmt.Sprintf("D=%.3f, p=%.2g", st.KSD, st.KSP)},
	}
	base, cand := b.comparisonPhases(c)
	if base != nil && cand != nil {
		hc.Stats = append(hc.Stats[:3], append([]htmlStatRow{
			{"p50 latency", fmtLatencyMs(base.Latency, base.Latency.P50Ms), fmtLatencyMs(cand.Latency, cand.Latency.P50Ms), ""},
			{"longest outage", fmtSeconds(base.Outages.LongestSeconds), fmtSeconds(cand.Outages.LongestSeconds), ""},
		}, hc.Stats[3:]...)...)
	}
	return hc
}

func fmtRuleValues(rr RuleResult) (val, thr string) {
	switch {
	case rr.Rule == RuleErrorRate || (rr.Unit == "ratio" && rr.Threshold < 1):
		return fmt.Sprintf("%+.3g pp", rr.Value*100), fmt.Sprintf("%.3g pp", rr.Threshold*100)
	case rr.Unit == "ratio":
		return fmt.Sprintf("×%.3g", rr.Value), fmt.Sprintf("×%.3g", rr.Threshold)
	case rr.Unit == "seconds":
		return fmtSeconds(rr.Value), fmtSeconds(rr.Threshold)
	case rr.Unit == "requests":
		return fmtInt(int64(rr.Value)), fmtInt(int64(rr.Threshold))
	}
	return fmt.Sprintf("%.4g %s", rr.Value, rr.Unit), fmt.Sprintf("%.4g %s", rr.Threshold, rr.Unit)
}

func rulesInForce(r Rules) []htmlKV {
	return []htmlKV{
		{"least requests per side", fmtInt(r.MinSamples)},
		{"largest failure-ratio rise", fmt.Sprintf("%.3g pp", r.MaxErrorRateIncrease*100)},
		{"largest p99 ratio", fmt.Sprintf("×%.3g", r.MaxP99Ratio)},
		{"smallest p99 rise that counts", r.MinP99Increase.String()},
		{"longest outage", r.MaxOutage.String()},
		{"significance level", fmt.Sprintf("%.3g", r.Alpha)},
	}
}

func (b *htmlBuilder) phaseTables(v *htmlView) {
	classSeen := map[string]bool{}
	for _, p := range b.r.Phases() {
		if p == nil {
			continue
		}
		for c, n := range p.Classes {
			if n > 0 {
				classSeen[c] = true
			}
		}
	}
	for _, c := range ErrorClasses() {
		if classSeen[c] {
			v.ClassCols = append(v.ClassCols, c)
			delete(classSeen, c)
		}
	}
	var extra []string
	for c := range classSeen {
		extra = append(extra, c)
	}
	sort.Strings(extra)
	v.ClassCols = append(v.ClassCols, extra...)

	var totalOutages int64
	for _, p := range b.r.Phases() {
		if p == nil {
			continue
		}
		ri := b.runOf[p]
		origin := b.origins[ri]
		label, cls := b.label[p], b.phaseClass(p)
		row := htmlPhaseRow{
			Run: b.runLabel(ri), Phase: label, Class: cls,
			Start:      fmtOffset(p.Start, origin),
			StartClock: p.Start.UTC().Format("2006-01-02 15:04:05.000 UTC"),
			Duration:   fmtFloat(p.Seconds, 1),
			Requests:   fmtInt(p.Requests),
			Rate:       fmtFloat(p.Rate, 1),
			Success:    fmtPercent(p.SuccessRatio),
			P50:        fmtLatency(p.Latency, p.Latency.P50Ms),
			P90:        fmtLatency(p.Latency, p.Latency.P90Ms),
			P99:        fmtLatency(p.Latency, p.Latency.P99Ms),
			P999:       fmtLatency(p.Latency, p.Latency.P999Ms),
			Max:        fmtLatency(p.Latency, p.Latency.MaxMs),
			Outages:    fmtInt(p.Outages.Count),
			Longest:    fmtFloat(p.Outages.LongestSeconds, 2),
		}
		if p.Requests == 0 {
			row.Success = "–"
		}
		for _, c := range v.ClassCols {
			row.Classes = append(row.Classes, fmtInt(p.Classes[c]))
		}
		v.Phases = append(v.Phases, row)
		v.Codes = append(v.Codes, codeRows(label, cls, p.Codes, p.Requests)...)

		for _, pr := range p.Probes {
			probe := pr.Probe
			if probe == "" {
				probe = "(none)"
			}
			v.Probes = append(v.Probes, htmlProbeRow{
				Phase: label, Class: cls, Probe: probe,
				Requests: fmtInt(pr.Requests), Failures: fmtInt(pr.Failures), Success: fmtPercent(pr.SuccessRatio),
				P50: fmtLatency(pr.Latency, pr.Latency.P50Ms), P99: fmtLatency(pr.Latency, pr.Latency.P99Ms), Max: fmtLatency(pr.Latency, pr.Latency.MaxMs),
				Outages: fmtInt(pr.Outages), Longest: fmtFloat(pr.LongestOutageSeconds, 2),
			})
		}
		for _, t := range p.Targets {
			v.Targets = append(v.Targets, countRow(label, cls, t, p.Requests))
		}
		for _, n := range p.Nodes {
			v.Nodes = append(v.Nodes, countRow(label, cls, n, p.Requests))
		}
		totalOutages += p.Outages.Count
		for _, o := range p.Outages.Windows {
			v.Outages = append(v.Outages, htmlOutageRow{
				Phase: label, Class: cls, Probe: o.Probe,
				Start: fmtOffset(o.Start, origin), StartClock: o.Start.UTC().Format("15:04:05.000"),
				End: o.End.UTC().Format("15:04:05.000"), Seconds: fmtFloat(o.Seconds, 3), Failures: fmtInt(o.Failures),
			})
		}
		for i, e := range p.Errors {
			if i == htmlTopErrors {
				break
			}
			msg := e.Error
			if msg == "" {
				msg = "(no transport error; HTTP status outside 2xx/3xx)"
			}
			share := "–"
			if p.Failures > 0 {
				share = fmtPercent(float64(e.Count) / float64(p.Failures))
			}
			v.Errors = append(v.Errors, htmlErrorRow{Phase: label, Class: cls, Count: fmtInt(e.Count), Share: share, Message: msg})
		}
	}
	if listed := int64(len(v.Outages)); listed < totalOutages {
		v.OutageNote = fmt.Sprintf("%s outages in all; the %s longest are listed.", fmtInt(totalOutages), fmtInt(listed))
	}
}

func countRow(phase, cls string, c CountSummary, phaseRequests int64) htmlCountRow {
	row := htmlCountRow{Phase: phase, Class: cls, Name: c.Name, Requests: fmtInt(c.Requests), Failures: fmtInt(c.Failures), Success: "–", Share: "–"}
	if c.Name == "" {
		row.Name = "(unknown)"
	}
	if c.Requests > 0 {
		row.Success = fmtPercent(float64(c.Requests-c.Failures) / float64(c.Requests))
	}
	if phaseRequests > 0 {
		row.Share = fmtPercent(float64(c.Requests) / float64(phaseRequests))
	}
	return row
}

// eventOrigin is the origin events are counted from: that of the run whose
// span holds the event, else of the first run.
func (b *htmlBuilder) eventOrigin(t time.Time) time.Time {
	for ri, m := range b.r.Runs {
		if m == nil {
			continue
		}
		lo, hi := b.runSpan(ri)
		if !t.Before(lo) && !t.After(hi) {
			return b.origins[ri]
		}
	}
	if len(b.origins) > 0 {
		return b.origins[0]
	}
	return time.Time{}
}

// runSpan is the time the run's plots cover.
func (b *htmlBuilder) runSpan(ri int) (lo, hi time.Time) {
	m := b.r.Runs[ri]
	lo = b.origins[ri]
	hi = lo
	for _, w := range m.Windows {
		if e := w.Start.Add(time.Second); e.After(hi) {
			hi = e
		}
	}
	for _, p := range m.Phases {
		if p != nil && p.End.After(hi) {
			hi = p.End
		}
	}
	return lo, hi
}

func (b *htmlBuilder) timelineRows() []htmlEventRow {
	var rows []htmlEventRow
	for i, e := range b.r.Timeline {
		rows = append(rows, htmlEventRow{
			N:      strconv.Itoa(i + 1),
			Clock:  e.Time.UTC().Format("15:04:05.000"),
			Offset: fmtOffset(e.Time, b.eventOrigin(e.Time)),
			Source: e.Source, Kind: e.Kind, Subject: e.Subject, Message: e.Message,
		})
	}
	return rows
}

// ---- number formatting ----

func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func fmtFloat(f float64, prec int) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "–"
	}
	return strconv.FormatFloat(f, 'f', prec, 64)
}

func fmtMs(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "–"
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func fmtLatency(l LatencySummary, v float64) string {
	if l.Count == 0 {
		return "–"
	}
	return fmtMs(v)
}

// fmtLatencyMs is fmtLatency with the unit.
func fmtLatencyMs(l LatencySummary, v float64) string {
	if l.Count == 0 {
		return "–"
	}
	return fmtMs(v) + " ms"
}

func fmtSeconds(s float64) string {
	if s == 0 {
		return "0 s"
	}
	return strconv.FormatFloat(s, 'g', 3, 64) + " s"
}

// fmtPercent shows a ratio as a percentage with enough digits that a ratio
// just short of 1 does not read as 100%.
func fmtPercent(r float64) string {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return "–"
	case r == 0 || r == 1:
		return strconv.FormatFloat(r*100, 'f', 0, 64) + "%"
	case r > 0.9999 || r < 0.0001:
		return strconv.FormatFloat(r*100, 'f', 4, 64) + "%"
	case r > 0.999 || r < 0.001:
		return strconv.FormatFloat(r*100, 'f', 3, 64) + "%"
	}
	return strconv.FormatFloat(r*100, 'f', 2, 64) + "%"
}

func fmtOffset(t, origin time.Time) string {
	if t.IsZero() || origin.IsZero() {
		return "–"
	}
	return fmt.Sprintf("+%.1f s", t.Sub(origin).Seconds())
}

// codeRows lists a phase's answers by HTTP status, most frequent first.
func codeRows(phase, cls string, codes map[string]int64, total int64) []htmlCodeRow {
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if codes[keys[i]] != codes[keys[j]] {
			return codes[keys[i]] > codes[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var rows []htmlCodeRow
	for _, k := range keys {
		row := htmlCodeRow{Phase: phase, Class: cls, Status: k, Count: fmtInt(codes[k]), Share: "–"}
		if k == "0" {
			row.Status = "none (no answer)"
		}
		if total > 0 {
			row.Share = fmtPercent(float64(codes[k]) / float64(total))
		}
		rows = append(rows, row)
	}
	return rows
}

// ---- plots ----

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

// ---- page ----

// htmlStyle is the page's stylesheet, with one class per phase colour.
func htmlStyle() template.CSS {
	var sb strings.Builder
	sb.WriteString(htmlBaseStyle)
	for i, c := range htmlPhasePalette {
		fmt.Fprintf(&sb, ".ph%d::before{background:#%02X%02X%02X}\n", i, c.R, c.G, c.B)
	}
	return template.CSS(sb.String())
}

const htmlBaseStyle = `
:root{--fg:#212529;--muted:#6c757d;--line:#dee2e6;--zebra:#f8f9fa;--pass:#2b8a3e;--fail:#c92a2a;--inconclusive:#d9480f;--bg-pass:#ebfbee;--bg-fail:#fff5f5;--bg-inconclusive:#fff4e6}
*{box-sizing:border-box}
body{margin:0;padding:0 24px 48px;color:var(--fg);background:#fff;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif}
main{max-width:1200px;margin:0 auto}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;margin:32px 0 10px;padding-bottom:4px;border-bottom:2px solid var(--line)}
h3{font-size:15px;margin:20px 0 8px}
p{margin:6px 0}
.meta,.note,figcaption,.hint{color:var(--muted)}
.verdict{display:flex;align-items:center;gap:24px;margin:24px 0 8px;padding:18px 24px;border-radius:10px;border-left:10px solid}
.verdict .word{font-size:34px;font-weight:800;letter-spacing:.06em;min-width:5.5em}
.verdict.pass{border-color:var(--pass);background:var(--bg-pass)}.verdict.pass .word{color:var(--pass)}
.verdict.fail{border-color:var(--fail);background:var(--bg-fail)}.verdict.fail .word{color:var(--fail)}
.verdict.inconclusive{border-color:var(--inconclusive);background:var(--bg-inconclusive)}.verdict.inconclusive .word{color:var(--inconclusive)}
ul.reasons{margin:6px 0;padding-left:20px}ul.reasons li{margin:3px 0}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;text-transform:uppercase;letter-spacing:.03em;color:#fff;background:var(--muted)}
.badge.pass{background:var(--pass)}.badge.fail{background:var(--fail)}.badge.inconclusive{background:var(--inconclusive)}
.comparison{border:1px solid var(--line);border-radius:8px;padding:4px 16px 12px;margin:14px 0}
.comparison h3 .vs{color:var(--muted);font-weight:400}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--zebra);font-weight:600;vertical-align:bottom}
tbody tr:nth-child(even) td{background:#fcfcfd}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.num{white-space:nowrap}
td.msg{min-width:22em;max-width:60em}
td.mono,.mono{font-family:ui-monospace,"DejaVu Sans Mono","Liberation Mono",Menlo,monospace;font-size:12px;overflow-wrap:anywhere}
table.rules{width:100%}
.stats td:first-child{color:var(--muted);white-space:nowrap}
.phase{white-space:nowrap}
.phase::before{content:"";display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:-1px;background:var(--muted)}
figure.plot{margin:12px 0 22px;padding:8px 10px 4px;border:1px solid var(--line);border-radius:8px}
figure.plot figcaption{margin:0 0 4px;font-size:13px}
figure.plot figcaption strong{color:var(--fg);margin-right:6px}
figure.plot svg{display:block;width:100%;height:auto}
dl.kv{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:6px 0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;font-variant-numeric:tabular-nums}
footer{margin-top:40px;color:var(--muted);font-size:12px}
`

var htmlPage = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="rehearse">
<title>{{.VerdictWord}} · {{.Title}} · rehearse</title>
<style>{{.Style}}</style>
</head>
<body>
<main>
<header class="verdict {{.Verdict}}" id="verdict" data-verdict="{{.Verdict}}">
<div class="word">{{.VerdictWord}}</div>
<div>
<h1>{{.Title}}</h1>
<p class="meta">Generated {{.Generated}} · {{.Summary}}</p>
</div>
</header>
<section id="reasons">
<ul class="reasons">{{range .Reasons}}
<li>{{.}}</li>{{end}}
</ul>
</section>

<section id="traffic">
<h2>Traffic over time</h2>
{{range .Series}}{{if .Heading}}<h3>{{.Heading}}</h3>{{end}}
{{template "plot" .Latency}}
{{template "plot" .Errors}}
{{else}}<p class="note">No recording.</p>{{end}}
</section>

<section id="distribution">
<h2>Latency distribution</h2>
{{template "plot" .ECDF}}
</section>

{{if .Comparisons}}<section id="comparisons">
<h2>Comparisons</h2>
{{range .Comparisons}}<article class="comparison">
<h3><span class="badge {{.Outcome}}">{{.Outcome}}</span> {{.Candidate}} <span class="vs">vs</span> {{.Baseline}}</h3>
<div class="scroll"><table class="rules">
<thead><tr><th>Rule</th><th>Outcome</th><th class="num">Value</th><th class="num">Threshold</th><th>Message</th></tr></thead>
<tbody>{{range .Rules}}
<tr><td class="mono">{{.Rule}}</td><td><span class="badge {{.Outcome}}">{{.Outcome}}</span></td><td class="num">{{.Value}}</td><td class="num">{{.Threshold}}</td><td class="msg">{{.Message}}</td></tr>{{end}}
</tbody></table></div>
<div class="scroll"><table class="stats">
<thead><tr><th>Statistic</th><th class="num">{{.Baseline}}</th><th class="num">{{.Candidate}}</th><th>Change</th></tr></thead>
<tbody>{{range .Stats}}
<tr><td>{{.Name}}</td><td class="num">{{.Baseline}}</td><td class="num">{{.Candidate}}</td><td>{{.Change}}</td></tr>{{end}}
</tbody></table></div>
</article>
{{end}}</section>{{end}}

<section id="phases">
<h2>Phases</h2>
{{if .Phases}}<div class="scroll"><table>
<thead><tr>{{if .MultiRun}}<th class="num">Run</th>{{end}}<th>Phase</th><th class="num">Start</th><th class="num">Seconds</th><th class="num">Requests</th><th class="num">Rate /s</th><th class="num">Success</th><th class="num">p50 ms</th><th class="num">p90 ms</th><th class="num">p99 ms</th><th class="num">p99.9 ms</th><th class="num">Max ms</th><th class="num">Outages</th><th class="num">Longest outage s</th>{{range .ClassCols}}<th class="num">{{.}}</th>{{end}}</tr></thead>
<tbody>{{$multi := .MultiRun}}{{range .Phases}}
<tr>{{if $multi}}<td class="num">{{.Run}}</td>{{end}}<td><span class="phase {{.Class}}">{{.Phase}}</span></td><td class="num" title="{{.StartClock}}">{{.Start}}</td><td class="num">{{.Duration}}</td><td class="num">{{.Requests}}</td><td class="num">{{.Rate}}</td><td class="num">{{.Success}}</td><td class="num">{{.P50}}</td><td class="num">{{.P90}}</td><td class="num">{{.P99}}</td><td class="num">{{.P999}}</td><td class="num">{{.Max}}</td><td class="num">{{.Outages}}</td><td class="num">{{.Longest}}</td>{{range .Classes}}<td class="num">{{.}}</td>{{end}}</tr>{{end}}
</tbody></table></div>
{{if .ClassCols}}<p class="hint">Failure classes: refused (connection refused, no route), reset (reset, broken pipe, EOF), timeout, 5xx and 4xx answers, other.</p>{{end}}
{{else}}<p class="note">No phase was recorded.</p>{{end}}

{{if .Probes}}<h3>Probes</h3>
<div class="scroll"><table>
<thead><tr><th>Phase</th><th>Probe</th><th class="num">Requests</th><th class="num">Failures</th><th class="num">Success</th><th class="num">p50 ms</th><th class="num">p99 ms</th><th class="num">Max ms</th><th class="num">Outages</th><th class="num">Longest outage s</th></tr></thead>
<tbody>{{range .Probes}}
<tr><td><span class="phase {{.Class}}">{{.Phase}}</span></td><td>{{.Probe}}</td><td class="num">{{.Requests}}</td><td class="num">{{.Failures}}</td><td class="num">{{.Success}}</td><td class="num">{{.P50}}</td><td class="num">{{.P99}}</td><td class="num">{{.Max}}</td><td class="num">{{.Outages}}</td><td class="num">{{.Longest}}</td></tr>{{end}}
</tbody></table></div>{{end}}

{{if .Nodes}}<h3>Nodes</h3>
<div class="scroll"><table>
<thead><tr><th>Phase</th><th>Node</th><th class="num">Requests</th><th class="num">Share</th><th class="num">Failures</th><th class="num">Success</th></tr></thead>
<tbody>{{range .Nodes}}
<tr><td><span class="phase {{.Class}}">{{.Phase}}</span></td><td class="mono">{{.Name}}</td><td class="num">{{.Requests}}</td><td class="num">{{.Share}}</td><td class="num">{{.Failures}}</td><td class="num">{{.Success}}</td></tr>{{end}}
</tbody></table></div>{{end}}

{{if .Targets}}<h3>Targets</h3>
<div class="scroll"><table>
<thead><tr><th>Phase</th><th>Target</th><th class="num">Requests</th><th class="num">Share</th><th class="num">Failures</th><th class="num">Success</th></tr></thead>
<tbody>{{range .Targets}}
<tr><td><span class="phase {{.Class}}">{{.Phase}}</span></td><td class="mono">{{.Name}}</td><td class="num">{{.Requests}}</td><td class="num">{{.Share}}</td><td class="num">{{.Failures}}</td><td class="num">{{.Success}}</td></tr>{{end}}
</tbody></table></div>{{end}}
</section>

<section id="outages">
<h2>Outages</h2>
{{if .Outages}}<div class="scroll"><table>
<thead><tr><th>Phase</th><th>Probe</th><th class="num">Start</th><th class="num">From (UTC)</th><th class="num">To (UTC)</th><th class="num">Seconds</th><th class="num">Failed requests</th></tr></thead>
<tbody>{{range .Outages}}
<tr><td><span class="phase {{.Class}}">{{.Phase}}</span></td><td>{{.Probe}}</td><td class="num">{{.Start}}</td><td class="num">{{.StartClock}}</td><td class="num">{{.End}}</td><td class="num">{{.Seconds}}</td><td class="num">{{.Failures}}</td></tr>{{end}}
</tbody></table></div>
{{if .OutageNote}}<p class="note">{{.OutageNote}}</p>{{end}}
{{else}}<p class="note">No outage: no probe saw consecutive failures.</p>{{end}}
</section>

<section id="errors">
<h2>Top error messages</h2>
{{if .Errors}}<div class="scroll"><table>
<thead><tr><th>Phase</th><th class="num">Count</th><th class="num">Share of failures</th><th>Message</th></tr></thead>
<tbody>{{range .Errors}}
<tr><td><span class="phase {{.Class}}">{{.Phase}}</span></td><td class="num">{{.Count}}</td><td class="num">{{.Share}}</td><td class="mono msg">{{.Message}}</td></tr>{{end}}
</tbody></table></div>
{{else}}<p class="note">No request failed.</p>{{end}}
{{if .Codes}}<h3>Answers by HTTP status</h3>
<div class="scroll"><table>
<thead><tr><th>Phase</th><th>Status</th><th class="num">Requests</th><th class="num">Share</th></tr></thead>
<tbody>{{range .Codes}}
<tr><td><span class="phase {{.Class}}">{{.Phase}}</span></td><td>{{.Status}}</td><td class="num">{{.Count}}</td><td class="num">{{.Share}}</td></tr>{{end}}
</tbody></table></div>{{end}}
</section>

{{if .Timeline}}<section id="timeline">
<h2>Timeline</h2>
<div class="scroll"><table>
<thead><tr><th class="num">#</th><th class="num">Time (UTC)</th><th class="num">Offset</th><th>Source</th><th>Kind</th><th>Subject</th><th>Message</th></tr></thead>
<tbody>{{range .Timeline}}
<tr><td class="num">{{.N}}</td><td class="num">{{.Clock}}</td><td class="num">{{.Offset}}</td><td>{{.Source}}</td><td>{{.Kind}}</td><td class="mono">{{.Subject}}</td><td class="msg">{{.Message}}</td></tr>{{end}}
</tbody></table></div>
<p class="hint">The numbers match the dashed marks in the plots; offsets count from the start of the recording.</p>
</section>{{end}}

<section id="recordings">
<h2>Recordings and rules</h2>
<div class="scroll"><table>
<thead><tr><th class="num">Run</th><th>Source</th><th>Phases</th><th>Span (UTC)</th><th class="num">Requests</th>{{if .HasRead}}<th class="num">Records read</th><th class="num">Dropped</th>{{end}}{{if .HasAcct}}<th class="num">Target /s</th><th class="num">Achieved /s</th><th class="num">Scheduled</th><th class="num">Sent</th><th class="num">Missed</th><th class="num">Late</th><th class="num">Max lag ms</th>{{end}}</tr></thead>
<tbody>{{$read := .HasRead}}{{$acct := .HasAcct}}{{range .Runs}}
<tr><td class="num">{{.Label}}</td><td class="mono">{{.Source}}</td><td>{{.Phases}}</td><td>{{.Span}}</td><td class="num">{{.Requests}}</td>{{if $read}}<td class="num">{{or .Records "–"}}</td><td class="num">{{or .Dropped "–"}}</td>{{end}}{{if $acct}}{{if .HasAccounting}}<td class="num">{{.TargetRate}}</td><td class="num">{{.AchievedRate}}</td><td class="num">{{.Scheduled}}</td><td class="num">{{.Sent}}</td><td class="num">{{.Missed}}</td><td class="num">{{.Late}}</td><td class="num">{{.MaxLag}}</td>{{else}}<td class="num">–</td><td class="num">–</td><td class="num">–</td><td class="num">–</td><td class="num">–</td><td class="num">–</td><td class="num">–</td>{{end}}{{end}}</tr>{{end}}
</tbody></table></div>
<h3>Thresholds in force</h3>
<dl class="kv">{{range .RulesSet}}<dt>{{.Key}}</dt><dd>{{.Value}}</dd>{{end}}</dl>
</section>

<footer>rehearse report · self-contained page: no scripts, no external resources.</footer>
</main>
</body>
</html>
{{define "plot"}}<figure class="plot" data-plot="{{.Name}}"{{if .Run}} data-run="{{.Run}}"{{end}}>
<figcaption><strong>{{.Title}}</strong>{{.Caption}}</figcaption>
{{if .SVG}}{{.SVG}}{{else}}<p class="note">{{.Note}}</p>{{end}}
</figure>{{end}}`))

// markedOnPlots tells which events are drawn over the traffic: what the
// upgrade did and what the rotation did. Phases are bands already, and the
// checklist's transitions (many during an upgrade) stay in the table.
func markedOnPlots(e Event) bool {
	switch e.Source {
	case "phase", "checklist", "loadgen":
		return false
	case "driver":
		return e.Kind != "end"
	}
	return true
}
