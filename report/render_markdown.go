package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Markdown limits.
const (
	// MarkdownOutages is how many of the longest outages the Markdown
	// report lists.
	MarkdownOutages = 10
	// MarkdownErrors is how many of the most frequent error messages the
	// Markdown report lists.
	MarkdownErrors = 10
)

// RenderMarkdown writes the report as GitHub-flavoured Markdown, for a pull
// request comment or a CI step summary: the verdict, its reasons, the
// checks with their items, the rules of every comparison, the phases, the
// longest outages and the most frequent errors.
func RenderMarkdown(w io.Writer, r *Report) error {
	sw := &txtWriter{w: w}
	fmt.Fprintf(sw, "## Rehearsal verdict: **%s**\n\n", txtVerdict(r.Verdict))
	var sub []string
	if r.Title != "" {
		sub = append(sub, mdText(r.Title))
	}
	if !r.Generated.IsZero() {
		sub = append(sub, "generated "+r.Generated.UTC().Format(time.RFC3339))
	}
	if len(sub) > 0 {
		fmt.Fprintf(sw, "%s\n\n", strings.Join(sub, " · "))
	}

	for i, m := range r.Runs {
		if m.Read == nil {
			continue
		}
		var warns []string
		if m.Read.CorruptBytes > 0 {
			warns = append(warns, txtCorruption(m.Read))
		}
		if m.Read.Dropped > 0 {
			warns = append(warns, txtTruncation(m.Read))
		}
		for _, warn := range warns {
			if m.Read.Path == "" {
				warn = txtRunHeading(r, i, m) + ": " + warn
			}
			fmt.Fprintf(sw, "> **Warning:** %s\n\n", mdText(warn))
		}
	}

	fmt.Fprintf(sw, "### Reasons\n\n")
	if len(r.Reasons) == 0 {
		fmt.Fprintf(sw, "- (none given)\n")
	}
	for _, reason := range r.Reasons {
		fmt.Fprintf(sw, "- %s\n", mdText(reason))
	}
	mdChecks(sw, r.Checks)
	if len(r.Incidents) > 0 {
		fmt.Fprintf(sw, "\n### Incidents\n\n")
		t := mdTable{head: incidentHead, align: "lllrlrll"}
		for _, in := range r.Incidents {
			t.add(incidentCells(in)...)
		}
		t.write(sw)
	}

	for _, c := range r.Comparisons {
		fmt.Fprintf(sw, "\n### %s vs %s: **%s**\n\n", mdText(c.Candidate), mdText(c.Baseline), txtVerdict(c.Outcome))
		t := mdTable{head: []string{"Rule", "Outcome", "Value", "Threshold", "Message"}, align: "llrrl"}
		for _, rr := range c.Rules {
			t.add(rr.Rule, string(rr.Outcome), txtRuleValue(rr.Rule, rr.Value, rr.Unit), txtRuleThreshold(rr.Rule, rr.Threshold, rr.Unit), rr.Message)
		}
		t.write(sw)
		fmt.Fprintf(sw, "\nStatistics, %s\n", mdText(txtStats(c.Stats)))
		if line := subjectsLine(c); line != "" {
			fmt.Fprintf(sw, "\n%s\n", mdText(line))
			if rows := failedSubjectRules(c); len(rows) > 0 {
				fmt.Fprintln(sw)
				t := mdTable{head: subjectHead, align: "llll"}
				for _, row := range rows {
					t.add(row...)
				}
				t.write(sw)
			}
		}
	}

	mdEstimate(sw, r.Estimate)
	mdPhases(sw, r)
	mdLoad(sw, r)
	mdOutages(sw, r)
	mdErrors(sw, r)
	fmt.Fprintf(sw, "\n<sub>Thresholds: %s</sub>\n", mdText(txtThresholds(r.Rules)))
	return sw.err
}

// mdChecks tabulates the checks, then the items of each check that has
// them (a checklist's components: expected, seen, verdict).
func mdChecks(sw *txtWriter, checks []Check) {
	if len(checks) == 0 {
		return
	}
	fmt.Fprintf(sw, "\n### Checks\n\n")
	t := mdTable{head: []string{"Check", "Verdict", "Message"}, align: "lll"}
	for _, c := range checks {
		t.add(c.Name, txtVerdict(c.Overall()), c.explain())
	}
	t.write(sw)
	for _, c := range checks {
		if len(c.Items) == 0 {
			continue
		}
		fmt.Fprintf(sw, "\n#### %s: **%s**\n\n", mdText(c.Name), txtVerdict(c.Overall()))
		t := mdTable{head: []string{"Component", "Expected", "Seen", "Verdict", "Message"}, align: "lllll"}
		for _, it := range c.Items {
			t.add(it.Component, it.Expected, it.Seen, txtVerdict(it.Outcome), it.Message)
		}
		t.write(sw)
	}
}

// mdEstimate writes how long production's upgrade will take, if
// estimated: the formula first, in bold, then the rest.
func mdEstimate(sw *txtWriter, e *Estimate) {
	if e == nil {
		return
	}
	fmt.Fprintf(sw, "\n### Estimate\n\n")
	for i, l := range e.Lines() {
		if i == 0 {
			fmt.Fprintf(sw, "**%s**\n\n", mdText(l))
			continue
		}
		fmt.Fprintf(sw, "- %s\n", mdText(l))
	}
}

// mdPhases writes one table of every phase of every recording, each phase
// followed by its probes.
func mdPhases(sw *txtWriter, r *Report) {
	if len(r.Phases()) == 0 {
		return
	}
	fmt.Fprintf(sw, "\n### Phases\n\n")
	head := []string{"Phase", "Requests", "Rate/s", "Success", "Failed", "By class", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "Outages", "Longest s"}
	align := "lrrrrlrrrrrrr"
	several := len(r.Runs) > 1
	if several {
		head = append([]string{"Recording"}, head...)
		align = "l" + align
	}
	t := mdTable{head: head, align: align}
	for i, m := range r.Runs {
		for _, p := range m.Phases {
			l := p.Latency
			row := []string{"**" + mdText(p.Name) + "**", fmt.Sprint(p.Requests), txtNum(p.Rate), txtPercent(p.SuccessRatio, p.Failures),
				fmt.Sprint(p.Failures), txtClasses(p.Classes),
				txtNum(l.P50Ms), txtNum(l.P90Ms), txtNum(l.P99Ms), txtNum(l.P999Ms), txtNum(l.MaxMs),
				fmt.Sprint(p.Outages.Count), txtNum(p.Outages.LongestSeconds)}
			if several {
				row = append([]string{mdRunName(i, m)}, row...)
			}
			t.addRaw(row...)
			for _, pr := range p.Probes {
				l := pr.Latency
				row := []string{mdText(p.Name + " / " + txtProbe(pr.Probe)), fmt.Sprint(pr.Requests), txtNum(txtProbeRate(p, pr)),
					txtPercent(pr.SuccessRatio, pr.Failures), fmt.Sprint(pr.Failures), "",
					txtNum(l.P50Ms), txtNum(l.P90Ms), txtNum(l.P99Ms), txtNum(l.P999Ms), txtNum(l.MaxMs),
					fmt.Sprint(pr.Outages), txtNum(pr.LongestOutageSeconds)}
				if several {
					row = append([]string{mdRunName(i, m)}, row...)
				}
				t.addRaw(row...)
			}
		}
	}
	t.write(sw)
}

func mdRunName(i int, m *Metrics) string {
	if m.Source != "" {
		return mdText(m.Source)
	}
	return fmt.Sprint(i + 1)
}

// mdLoad writes the load generator's accounting of every recording that
// has it.
func mdLoad(sw *txtWriter, r *Report) {
	var rows [][]string
	for i, m := range r.Runs {
		a := m.Accounting
		if a == nil {
			continue
		}
		name := "total"
		if len(r.Runs) > 1 {
			name = mdRunName(i, m)
		}
		rows = append(rows, []string{name, txtNum(a.TargetRate), txtNum(a.AchievedRate), fmt.Sprint(a.Scheduled), fmt.Sprint(a.Sent),
			fmt.Sprint(a.Missed), fmt.Sprint(a.Late), txtNum(a.MaxLagMs)})
		for _, p := range txtProbeAccounting(a.Probes) {
			rows = append(rows, []string{mdText(name + " / " + string(p.Probe)), txtNum(p.TargetRate), txtNum(p.AchievedRate), fmt.Sprint(p.Scheduled),
				fmt.Sprint(p.Sent), fmt.Sprint(p.Missed), fmt.Sprint(p.Late), txtNum(p.MaxLagMs)})
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(sw, "\n### Load\n\n")
	t := mdTable{head: []string{"Load", "Target/s", "Achieved/s", "Scheduled", "Sent", "Missed", "Late", "Max lag ms"}, align: "lrrrrrrr"}
	for _, row := range rows {
		t.addRaw(row...)
	}
	t.write(sw)
}

// mdOutages lists the longest outages of all phases.
func mdOutages(sw *txtWriter, r *Report) {
	var all []Outage
	var total int64
	for _, p := range r.Phases() {
		all = append(all, p.Outages.Windows...)
		total += p.Outages.Count
	}
	if len(all) == 0 {
		return
	}
	mdSortOutages(all)
	fmt.Fprintf(sw, "\n### Outages\n\n")
	shown := min(len(all), MarkdownOutages)
	if total > int64(shown) {
		fmt.Fprintf(sw, "The %d longest of %d:\n\n", shown, total)
	}
	for _, o := range all[:shown] {
		fmt.Fprintf(sw, "- **%s s** in %s from %s to %s, %s\n", txtNum(o.Seconds),
			mdText(o.Phase+" / "+txtProbe(o.Probe)), o.Start.UTC().Format("15:04:05.000"), o.End.UTC().Format("15:04:05.000"),
			txtPlural(o.Failures, "failed request"))
	}
}

// sortOutages orders outages longest first, then by start.
func mdSortOutages(outs []Outage) {
	sort.SliceStable(outs, func(i, j int) bool {
		a, b := outs[i], outs[j]
		switch {
		case a.Seconds != b.Seconds:
			return a.Seconds > b.Seconds
		case !a.Start.Equal(b.Start):
			return a.Start.Before(b.Start)
		case a.Phase != b.Phase:
			return a.Phase < b.Phase
		}
		return a.Probe < b.Probe
	})
}

// mdErrors tabulates the most frequent error messages of all phases.
func mdErrors(sw *txtWriter, r *Report) {
	type row struct {
		phase string
		ErrorCount
	}
	var rows []row
	for _, p := range r.Phases() {
		for _, e := range p.Errors {
			rows = append(rows, row{p.Name, e})
		}
	}
	if len(rows) == 0 {
		return
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		switch {
		case a.Count != b.Count:
			return a.Count > b.Count
		case a.phase != b.phase:
			return a.phase < b.phase
		}
		return a.Error < b.Error
	})
	fmt.Fprintf(sw, "\n### Errors\n\n")
	t := mdTable{head: []string{"Phase", "Count", "Error"}, align: "lrl"}
	for _, e := range rows[:min(len(rows), MarkdownErrors)] {
		msg := e.Error
		if msg == "" {
			msg = "(no error message: failing HTTP status)"
		}
		t.add(e.phase, fmt.Sprint(e.Count), msg)
	}
	t.write(sw)
}

// mdTable is a GitHub-flavoured Markdown table.
type mdTable struct {
	head []string
	// align holds one letter per column: l or r.
	align string
	rows  [][]string
}

// add appends a row of plain text, escaped for a cell.
func (t *mdTable) add(cells ...string) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = mdText(c)
	}
	t.rows = append(t.rows, row)
}

// addRaw appends a row of cells already escaped.
func (t *mdTable) addRaw(cells ...string) { t.rows = append(t.rows, cells) }

func (t *mdTable) write(w io.Writer) {
	line := func(cells []string) {
		out := make([]string, len(t.head))
		for i := range out {
			if i < len(cells) && cells[i] != "" {
				out[i] = cells[i]
			} else {
				out[i] = " "
			}
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(out, " | "))
	}
	line(t.head)
	sep := make([]string, len(t.head))
	for i := range sep {
		sep[i] = "---"
		if i < len(t.align) && t.align[i] == 'r' {
			sep[i] = "--:"
		}
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(sep, "|"))
	for _, r := range t.rows {
		line(r)
	}
}

// mdText makes text safe inline in Markdown and in a table cell: one line,
// backslashes and pipes escaped, HTML special characters as entities.
func mdText(s string) string {
	return strings.NewReplacer(
		`\`, `\\`, "|", `\|`, "&", "&amp;", "<", "&lt;", ">", "&gt;",
	).Replace(txtLine(s))
}
