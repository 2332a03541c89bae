package report

import (
	"cmp"
	"fmt"
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The view model of the HTML report: plain rows of formatted strings built
// from a *Report, which templates/report.html.tmpl draws.

// htmlTopErrors is how many error messages are listed per phase.
const htmlTopErrors = 10

type htmlView struct {
	Title       string
	Generated   string
	Verdict     Outcome
	VerdictWord string
	Reasons     []string
	Checks      []htmlCheck
	Incidents   []htmlIncidentRow
	Summary     string
	MultiRun    bool
	Runs        []htmlRunRow
	Comparisons []htmlComparison
	Series      []htmlSeries
	Percentiles htmlPlot
	// NodesPlot is empty when no node is known.
	NodesPlot  htmlPlot
	Phases     []htmlPhaseRow
	ClassCols  []string
	Probes     []htmlProbeRow
	Targets    []htmlCountRow
	Nodes      []htmlCountRow
	Outages    []htmlOutageRow
	OutageNote string
	Errors     []htmlErrorRow
	Codes      []htmlCodeRow
	HasRead    bool
	HasAcct    bool
	Timeline   []htmlEventRow
	RulesSet   []htmlKV
	// Estimate is how long production's upgrade will take: its formula
	// first, then what it rests on; empty when not estimated.
	Estimate []string
	// Style is the stylesheet; PhaseColours colour the phase classes
	// ph0, ph1, … in order.
	Style        template.CSS
	PhaseColours []template.CSS
}

type htmlKV struct{ Key, Value string }

type htmlCheck struct {
	Name    string
	Outcome Outcome
	Message string
	Items   []htmlCheckItem
}

type htmlCheckItem struct {
	Component, Expected, Seen string
	Outcome                   Outcome
	Message                   string
}

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
	// SubjectsLine counts the streams, entry points and nodes judged on
	// their own; Subjects are their failed rules.
	SubjectsLine string
	Subjects     []htmlSubjectRow
}

type htmlSubjectRow struct{ Subject, Against, Rule, Message string }

type htmlIncidentRow struct {
	Start, Phase, Kind, Seconds, Where, Lost, Step, FirstError string
}

type htmlRuleRow struct {
	Rule      string
	Outcome   Outcome
	Value     string
	Threshold string
	Message   string
}

type htmlStatRow struct{ Name, Baseline, Candidate, Change string }

// htmlSeries are the plots of one run over time; Steps is empty when no
// upgrade step ran during the run.
type htmlSeries struct {
	Heading  string
	Latency  htmlPlot
	FailRate htmlPlot
	Steps    htmlPlot
	Errors   htmlPlot
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
// the time origin of each run, and the upgrade steps of the timeline.
type htmlBuilder struct {
	r       *Report
	colour  map[*Phase]int
	label   map[*Phase]string
	runOf   map[*Phase]int
	origins []time.Time
	hasWin  []bool
	// nodePrefix is what the steps' nodes' names share (see nodePrefix).
	nodePrefix string
	steps      []htmlStep
}

// newHTMLBuilder gives each phase its colour and label and each run its
// time origin, and pairs the upgrade steps of the timeline.
func newHTMLBuilder(r *Report) *htmlBuilder {
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
	b.nodePrefix = nodePrefix(r.Timeline)
	b.steps = b.timelineSteps()
	return b
}

func buildHTMLView(r *Report) *htmlView {
	b := newHTMLBuilder(r)
	v := &htmlView{
		Title:        r.Title,
		Verdict:      r.Verdict,
		Reasons:      r.Reasons,
		MultiRun:     len(r.Runs) > 1,
		Generated:    "unknown",
		Style:        template.CSS(htmlStylesheet),
		PhaseColours: htmlPhaseColours(),
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

	v.Checks = htmlChecks(r.Checks)
	for _, in := range r.Incidents {
		c := incidentCells(in)
		v.Incidents = append(v.Incidents, htmlIncidentRow{Start: c[0], Phase: c[1], Kind: c[2], Seconds: c[3], Where: c[4], Lost: c[5], Step: c[6], FirstError: c[7]})
	}
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
	b.drawPlots(v)
	b.phaseTables(v)
	v.Timeline = b.timelineRows()
	if r.Estimate != nil {
		v.Estimate = r.Estimate.Lines()
	}
	v.RulesSet = rulesInForce(r.Rules)
	return v
}

// htmlChecks lists the checks, each counted with its items, and the items.
func htmlChecks(checks []Check) []htmlCheck {
	var out []htmlCheck
	for _, c := range checks {
		hc := htmlCheck{Name: c.Name, Outcome: c.Overall(), Message: c.explain()}
		for _, it := range c.Items {
			hc.Items = append(hc.Items, htmlCheckItem{
				Component: it.Component, Expected: cmp.Or(it.Expected, "–"), Seen: cmp.Or(it.Seen, "–"),
				Outcome: it.Outcome, Message: it.Message,
			})
		}
		out = append(out, hc)
	}
	return out
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
			if m.Read.CorruptBytes > 0 {
				row.Dropped += fmt.Sprintf("; %s corrupt bytes, about %s records lost (%s)",
					fmtInt(m.Read.CorruptBytes), fmtInt(m.Read.LostRecords), m.Read.CorruptErr)
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
	hc := htmlComparison{Baseline: c.Baseline, Candidate: c.Candidate, Outcome: c.Outcome, SubjectsLine: subjectsLine(c)}
	for _, row := range failedSubjectRules(c) {
		hc.Subjects = append(hc.Subjects, htmlSubjectRow{Subject: row[0], Against: row[1], Rule: row[2], Message: row[3]})
	}
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
