package report

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rehearse/rehearse/loadgen"
)

// RenderText writes the report as plain text for a terminal or a CI log:
// the verdict first, then its reasons, the checks with their items, the
// rules of every comparison and a compact table of every recording's
// phases. It uses no colours, and the same report always renders the same
// way.
func RenderText(w io.Writer, r *Report) error {
	sw := &txtWriter{w: w}
	fmt.Fprintf(sw, "VERDICT: %s  %s\n", txtVerdict(r.Verdict), txtLine(r.Title))
	if !r.Generated.IsZero() {
		fmt.Fprintf(sw, "Generated: %s\n", r.Generated.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(sw, "Thresholds: %s\n", txtThresholds(r.Rules))

	fmt.Fprintf(sw, "\nReasons:\n")
	if len(r.Reasons) == 0 {
		fmt.Fprintf(sw, "  (none given)\n")
	}
	for _, reason := range r.Reasons {
		fmt.Fprintf(sw, "  - %s\n", txtLine(reason))
	}
	txtChecks(sw, r.Checks)
	if len(r.Incidents) > 0 {
		fmt.Fprintf(sw, "\nIncidents:\n")
		rows := make([][]string, len(r.Incidents))
		for i, in := range r.Incidents {
			rows[i] = incidentCells(in)
		}
		txtRows(sw, "  ", incidentHead, rows)
	}

	for _, c := range r.Comparisons {
		fmt.Fprintf(sw, "\nComparison %s vs %s: %s\n", txtLine(c.Candidate), txtLine(c.Baseline), txtVerdict(c.Outcome))
		tw := txtTable(sw)
		fmt.Fprintf(tw, "  RULE\tOUTCOME\tVALUE\tTHRESHOLD\tMESSAGE\n")
		for _, rr := range c.Rules {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", txtCell(rr.Rule), txtCell(string(rr.Outcome)),
				txtRuleValue(rr.Rule, rr.Value, rr.Unit), txtRuleThreshold(rr.Rule, rr.Threshold, rr.Unit), txtCell(rr.Message))
		}
		sw.flush(tw)
		fmt.Fprintf(sw, "  Statistics, %s\n", txtStats(c.Stats))
		if line := subjectsLine(c); line != "" {
			fmt.Fprintf(sw, "  %s\n", line)
			txtRows(sw, "    ", subjectHead, failedSubjectRules(c))
		}
	}

	txtEstimate(sw, r.Estimate)
	for i, m := range r.Runs {
		txtRun(sw, r, i, m)
	}
	return sw.err
}

// txtEstimate writes how long production's upgrade will take, if estimated.
func txtEstimate(sw *txtWriter, e *Estimate) {
	if e == nil {
		return
	}
	fmt.Fprintf(sw, "\nEstimate:\n")
	for _, l := range e.Lines() {
		fmt.Fprintf(sw, "  %s\n", txtLine(l))
	}
}

// txtRows writes a table with an upper-case head, each line indented;
// nothing when there are no rows.
func txtRows(sw *txtWriter, indent string, head []string, rows [][]string) {
	if len(rows) == 0 {
		return
	}
	tw := txtTable(sw)
	line := func(cells []string) {
		fmt.Fprint(tw, indent)
		for i, c := range cells {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, txtCell(c))
		}
		fmt.Fprintln(tw)
	}
	upper := make([]string, len(head))
	for i, h := range head {
		upper[i] = strings.ToUpper(h)
	}
	line(upper)
	for _, row := range rows {
		line(row)
	}
	sw.flush(tw)
}

// txtChecks writes the checks, each with a table of its items.
func txtChecks(sw *txtWriter, checks []Check) {
	if len(checks) == 0 {
		return
	}
	fmt.Fprintf(sw, "\nChecks:\n")
	for _, c := range checks {
		fmt.Fprintf(sw, "  %s: %s  %s\n", txtLine(c.Name), txtVerdict(c.Overall()), txtLine(c.explain()))
		if len(c.Items) == 0 {
			continue
		}
		tw := txtTable(sw)
		fmt.Fprintf(tw, "    COMPONENT\tEXPECTED\tSEEN\tVERDICT\tMESSAGE\n")
		for _, it := range c.Items {
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", txtCell(it.Component), txtCell(it.Expected), txtCell(it.Seen),
				txtVerdict(it.Outcome), txtCell(it.Message))
		}
		sw.flush(tw)
	}
}

// textRun writes one recording: its warnings, load accounting and phases.
func txtRun(sw *txtWriter, r *Report, i int, m *Metrics) {
	fmt.Fprintf(sw, "\n%s\n", txtRunHeading(r, i, m))
	if m.Read != nil && m.Read.CorruptBytes > 0 {
		fmt.Fprintf(sw, "  WARNING: %s\n", txtCorruption(m.Read))
	}
	if m.Read != nil && m.Read.Dropped > 0 {
		fmt.Fprintf(sw, "  WARNING: %s\n", txtTruncation(m.Read))
	}
	if a := m.Accounting; a != nil {
		fmt.Fprintf(sw, "  Load over %s s (late: sent more than %g ms behind schedule):\n", txtNum(a.Seconds), a.LateToleranceMs)
		tw := txtTable(sw)
		fmt.Fprintf(tw, "  LOAD\tTARGET/S\tACHIEVED/S\tSCHEDULED\tSENT\tMISSED\tLATE\tMAX LAG MS\n")
		fmt.Fprintf(tw, "  total\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", txtNum(a.TargetRate), txtNum(a.AchievedRate),
			a.Scheduled, a.Sent, a.Missed, a.Late, txtNum(a.MaxLagMs))
		for _, p := range txtProbeAccounting(a.Probes) {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", txtCell(string(p.Probe)), txtNum(p.TargetRate), txtNum(p.AchievedRate),
				p.Scheduled, p.Sent, p.Missed, p.Late, txtNum(p.MaxLagMs))
		}
		sw.flush(tw)
		fmt.Fprintln(sw)
	}
	if len(m.Phases) == 0 {
		fmt.Fprintf(sw, "  (no results)\n")
		return
	}

	tw := txtTable(sw)
	fmt.Fprintf(tw, "  PHASE\tREQUESTS\tRATE/S\tSUCCESS\tFAILED\tBY CLASS\tP50 MS\tP90 MS\tP99 MS\tP99.9 MS\tMAX MS\tOUTAGES\tLONGEST S\n")
	for _, p := range m.Phases {
		l := p.Latency
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", txtCell(p.Name), p.Requests, txtNum(p.Rate),
			txtPercent(p.SuccessRatio, p.Failures), p.Failures, txtClasses(p.Classes),
			txtNum(l.P50Ms), txtNum(l.P90Ms), txtNum(l.P99Ms), txtNum(l.P999Ms), txtNum(l.MaxMs),
			p.Outages.Count, txtNum(p.Outages.LongestSeconds))
		for _, pr := range p.Probes {
			l := pr.Latency
			fmt.Fprintf(tw, "    %s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", txtCell(txtProbe(pr.Probe)), pr.Requests,
				txtNum(txtProbeRate(p, pr)), txtPercent(pr.SuccessRatio, pr.Failures), pr.Failures, "-",
				txtNum(l.P50Ms), txtNum(l.P90Ms), txtNum(l.P99Ms), txtNum(l.P999Ms), txtNum(l.MaxMs),
				pr.Outages, txtNum(pr.LongestOutageSeconds))
		}
	}
	sw.flush(tw)

	txtCounts(sw, m, "TARGET", func(p *Phase) []CountSummary { return p.Targets })
	txtCounts(sw, m, "NODE", func(p *Phase) []CountSummary { return p.Nodes })
}

// textCounts writes the per-target or per-node counts of a recording when
// some phase saw more than one.
func txtCounts(sw *txtWriter, m *Metrics, what string, get func(*Phase) []CountSummary) {
	if !txtSeveral(m, get) {
		return
	}
	fmt.Fprintln(sw)
	tw := txtTable(sw)
	fmt.Fprintf(tw, "  PHASE\t%s\tREQUESTS\tFAILED\tSUCCESS\n", what)
	for _, p := range m.Phases {
		for _, c := range get(p) {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\n", txtCell(p.Name), txtCell(c.Name), c.Requests, c.Failures,
				txtPercent(ratio(c.Requests-c.Failures, c.Requests), c.Failures))
		}
	}
	sw.flush(tw)
}

// severalCounts tells whether any phase of m has more than one entry.
func txtSeveral(m *Metrics, get func(*Phase) []CountSummary) bool {
	for _, p := range m.Phases {
		if len(get(p)) > 1 {
			return true
		}
	}
	return false
}

func txtTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// renderWriter remembers the first write error so that renderers can write
// freely and report it once.
type txtWriter struct {
	w   io.Writer
	err error
}

func (s *txtWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	s.err = err
	return n, err
}

func (s *txtWriter) flush(tw *tabwriter.Writer) {
	if err := tw.Flush(); err != nil && s.err == nil {
		s.err = err
	}
}

// Helpers shared by the text and Markdown renderers.

// verdictLabel is an outcome in capitals: PASS, FAIL, INCONCLUSIVE.
func txtVerdict(o Outcome) string {
	if o == "" {
		return "UNKNOWN"
	}
	return strings.ToUpper(string(o))
}

// renderLine flattens text onto one line.
func txtLine(s string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ", "\t", " ").Replace(s)), " ")
}

// renderCell is renderLine for a table cell: never empty.
func txtCell(s string) string {
	if s = txtLine(s); s == "" {
		return "-"
	}
	return s
}

// num formats a measurement compactly: whole numbers from 100 up, one
// decimal from 10, two below.
func txtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "-"
	case v == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

// percent formats a success ratio as a percentage, truncated rather than
// rounded so that 100% is shown only when nothing failed.
func txtPercent(r float64, failures int64) string {
	if math.IsNaN(r) {
		return "-"
	}
	v := math.Floor(r*10000) / 100
	if failures > 0 && v >= 100 {
		v = 99.99
	}
	return fmt.Sprintf("%.2f%%", v)
}

// ruleValue formats a rule's measured value with its unit.
func txtRuleValue(rule string, v float64, unit string) string {
	if rule == RuleErrorRate && unit == "ratio" {
		return fmt.Sprintf("%+.3g pts", v*100)
	}
	return txtMeasure(v, unit)
}

// ruleThreshold formats a rule's threshold with its unit.
func txtRuleThreshold(rule string, v float64, unit string) string {
	if rule == RuleErrorRate && unit == "ratio" {
		return fmt.Sprintf("%.3g pts", v*100)
	}
	return txtMeasure(v, unit)
}

func txtMeasure(v float64, unit string) string {
	switch unit {
	case "requests":
		return fmt.Sprintf("%.0f requests", v)
	case "ratio":
		return fmt.Sprintf("%.3gx", v)
	case "seconds":
		return fmt.Sprintf("%.3g s", v)
	case "":
		return fmt.Sprintf("%.4g", v)
	}
	return fmt.Sprintf("%.4g %s", v, txtLine(unit))
}

// rulesLine states the thresholds in force.
func txtThresholds(r Rules) string {
	return fmt.Sprintf("%s %d requests; %s +%.3g pts; %s %.3gx and +%s; %s %s; alpha %.3g",
		RuleMinSamples, r.MinSamples, RuleErrorRate, r.MaxErrorRateIncrease*100,
		RuleLatency, r.MaxP99Ratio, r.MinP99Increase, RuleOutage, r.MaxOutage, r.Alpha)
}

// statsLine summarises the statistics a comparison rests on.
func txtStats(s Stats) string {
	e := s.ErrorRate
	return fmt.Sprintf("candidate vs baseline: requests %d vs %d; failure ratio %.3g%% vs %.3g%% (p=%.2g); p99 %s ms vs %s ms, ratio %.3g [%.3g, %.3g]; shift %+.3g ms [%+.3g, %+.3g]; Mann-Whitney p=%.2g; KS D=%.3f p=%.2g",
		s.CandidateRequests, s.BaselineRequests, e.CandRate*100, e.BaseRate*100, e.PValue,
		txtNum(s.CandidateP99Ms), txtNum(s.BaselineP99Ms), s.P99Ratio, s.P99RatioLo, s.P99RatioHi,
		s.ShiftMs, s.ShiftLoMs, s.ShiftHiMs, s.MannWhitneyP, s.KSD, s.KSP)
}

// classesCell lists failures by class: the known classes in reporting
// order, then any others by name.
func txtClasses(classes map[string]int64) string {
	var parts []string
	known := map[string]bool{}
	for _, c := range ErrorClasses() {
		known[c] = true
		if n := classes[c]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", c, n))
		}
	}
	for _, c := range sortedKeys(classes) {
		if !known[c] && classes[c] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", txtLine(c), classes[c]))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func txtProbe(p string) string {
	if p == "" {
		return "(no probe)"
	}
	return p
}

// probeRate is a probe's share of its phase's request rate.
func txtProbeRate(p *Phase, pr ProbeSummary) float64 {
	if p.Requests == 0 {
		return 0
	}
	return p.Rate * float64(pr.Requests) / float64(p.Requests)
}

// runHeading names a recording.
func txtRunHeading(r *Report, i int, m *Metrics) string {
	h := "Recording"
	if len(r.Runs) > 1 {
		h = fmt.Sprintf("Recording %d", i+1)
	}
	if m.Source != "" {
		h += ": " + txtLine(m.Source)
	}
	return h
}

func txtTruncation(ri *loadgen.ReadInfo) string {
	file := "results file"
	if ri.Path != "" {
		file += " " + txtLine(ri.Path)
	}
	s := fmt.Sprintf("%s was cut short: %d trailing bytes that did not hold a whole record were dropped (%d records read)",
		file, ri.Dropped, ri.Records)
	if ri.TailErr != "" {
		s += ": " + txtLine(ri.TailErr)
	}
	return s
}

// txtCorruption says how much of a results file was corrupt and about how
// many records that lost.
func txtCorruption(ri *loadgen.ReadInfo) string {
	file := "results file"
	if ri.Path != "" {
		file += " " + txtLine(ri.Path)
	}
	return file + " is " + txtLost(ri)
}

// txtLost is txtCorruption without the file's name.
func txtLost(ri *loadgen.ReadInfo) string {
	s := fmt.Sprintf("corrupt: about %d of %d records (%.3g%%) unreadable, %d bytes in %s",
		ri.LostRecords, ri.Records+ri.LostRecords, ri.LostFraction()*100, ri.CorruptBytes, txtPlural(ri.CorruptSpans, "span"))
	if ri.CorruptErr != "" {
		s += ", first at " + txtLine(ri.CorruptErr)
	}
	return s
}

// plural is "n thing" or "n things".
func txtPlural(n int64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

func txtProbeAccounting(ps []loadgen.ProbeAccounting) []loadgen.ProbeAccounting {
	out := append([]loadgen.ProbeAccounting(nil), ps...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Probe < out[j].Probe })
	return out
}
