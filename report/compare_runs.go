package report

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/timeline"
)

// Labels of the two rehearsals CompareRuns sets side by side: a phase of
// run A is named "A:upgrade" in the report, the same phase of run B
// "B:upgrade".
const (
	RunA = "A"
	RunB = "B"
)

// RunsComparison is a rehearsal (B) judged against an earlier one (A) phase
// by phase (B's upgrade against A's upgrade, B's after against A's after),
// with the durations of their upgrade steps side by side.
type RunsComparison struct {
	SchemaVersion int `json:"schemaVersion"`
	// A and B are the run folders compared.
	A string `json:"a"`
	B string `json:"b"`
	// Phases are the phases judged, in A's order.
	Phases []string `json:"phases"`
	// OnlyA and OnlyB are phases one run recorded and the other did not.
	OnlyA []string `json:"onlyA,omitempty"`
	OnlyB []string `json:"onlyB,omitempty"`
	// Report holds one comparison per phase: B's phase (candidate)
	// against A's (baseline), the phases named "A:NAME" and "B:NAME".
	Report *Report `json:"report"`
	// Steps are the upgrade steps of either run with their durations.
	Steps []StepTiming `json:"steps"`
}

// StepTiming is one upgrade step as each run's timeline bounds it.
type StepTiming struct {
	// Step is the step's name with its subject, node names reduced to
	// their role ("drain (worker2)"); the nth repeat of a name carries
	// "#n".
	Step string   `json:"step"`
	A    StepSpan `json:"a"`
	B    StepSpan `json:"b"`
}

// StepSpan is a step's run in one rehearsal.
type StepSpan struct {
	// Ran tells whether the step started in that run.
	Ran bool `json:"ran"`
	// Seconds is from its start to its end; zero when it never ended.
	Seconds float64 `json:"seconds,omitempty"`
	// Outcome is the end event's outcome (ok, failed), or "unfinished".
	Outcome string `json:"outcome,omitempty"`
}

// Diff is B's duration minus A's, and whether both ran to an end.
func (s StepTiming) Diff() (time.Duration, bool) {
	if !s.A.ended() || !s.B.ended() {
		return 0, false
	}
	return seconds(s.B.Seconds) - seconds(s.A.Seconds), true
}

func (s StepSpan) ended() bool { return s.Ran && s.Outcome != StepUnfinished }

// StepUnfinished is the outcome of a step that started and never ended.
const StepUnfinished = "unfinished"

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// ErrNoSuchPhase is the error, wrapped, of CompareRuns asked for a phase a
// run did not record.
var ErrNoSuchPhase = errors.New("no such phase")

// RunsOptions choose what CompareRuns judges.
type RunsOptions struct {
	// Phase, when set, judges this phase alone; it must be in both runs.
	Phase string
	// Rules are the judge's thresholds.
	Rules Rules
}

// CompareRuns judges run folder b against run folder a phase by phase:
// each phase both recorded, or opts.Phase alone, is B's phase judged
// against A's same phase with the rules. The upgrade steps of both
// timelines (timeline.jsonl; a run without one has no steps) are matched
// by name and subject, node names reduced to their role, since cluster
// names differ between runs. Bad input (no common phase, an unknown
// opts.Phase, an unreadable file) is an error naming the file.
func CompareRuns(a, b string, opts RunsOptions) (*RunsComparison, error) {
	if err := opts.Rules.Validate(); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	ma, err := loadLabelled(a, RunA)
	if err != nil {
		return nil, err
	}
	mb, err := loadLabelled(b, RunB)
	if err != nil {
		return nil, err
	}
	na, nb := phaseNames(ma, RunA), phaseNames(mb, RunB)
	rc := &RunsComparison{SchemaVersion: SchemaVersion, A: a, B: b}
	for _, p := range na {
		if slices.Contains(nb, p) {
			rc.Phases = append(rc.Phases, p)
		} else {
			rc.OnlyA = append(rc.OnlyA, p)
		}
	}
	for _, p := range nb {
		if !slices.Contains(na, p) {
			rc.OnlyB = append(rc.OnlyB, p)
		}
	}
	if opts.Phase != "" {
		for _, side := range []struct {
			dir   string
			names []string
		}{{a, na}, {b, nb}} {
			if !slices.Contains(side.names, opts.Phase) {
				return nil, fmt.Errorf("phase %q: %w in run %s; its phases: %s", opts.Phase, ErrNoSuchPhase, side.dir, strings.Join(side.names, ", "))
			}
		}
		rc.Phases = []string{opts.Phase}
	}
	if len(rc.Phases) == 0 {
		return nil, fmt.Errorf("runs %s (phases %s) and %s (phases %s) have no phase in common", a, strings.Join(na, ", "), b, strings.Join(nb, ", "))
	}
	keepPhases(ma, RunA, rc.Phases)
	keepPhases(mb, RunB, rc.Phases)
	var comps []Comparison
	for _, p := range rc.Phases {
		comps = append(comps, Judge(ma.Phase(PhaseLabel(RunA, p)), mb.Phase(PhaseLabel(RunB, p)), opts.Rules))
	}
	title := fmt.Sprintf("%s vs %s, phase by phase (%s)", b, a, strings.Join(rc.Phases, ", "))
	rc.Report = newReport(title, []*Metrics{ma, mb}, comps, opts.Rules)

	ea, err := readTimeline(a)
	if err != nil {
		return nil, err
	}
	eb, err := readTimeline(b)
	if err != nil {
		return nil, err
	}
	rc.Steps = CompareSteps(ea, eb)
	return rc, nil
}

// PhaseLabel is the name a phase of run (RunA or RunB) has in a
// RunsComparison's report: "A:upgrade".
func PhaseLabel(run, phase string) string { return run + ":" + phase }

// loadLabelled reads a run folder's results with every phase named
// PhaseLabel(run, phase), as Load would otherwise.
func loadLabelled(dir, run string) (*Metrics, error) {
	c := NewCollector(CollectorOptions{KeepWindows: true, PhaseOf: func(r *vegeta.Result) string {
		return PhaseLabel(run, defaultPhaseOf(r))
	}})
	info, err := loadgen.ReadResults(dir, func(r *vegeta.Result) error {
		c.Add(r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	m := c.Close()
	m.Source = dir
	m.Read = &info
	if m.Accounting, err = readAccounting(filepath.Join(dir, SummaryFile)); err != nil {
		return nil, err
	}
	return m, nil
}

// phaseNames are the phases of a labelled recording without their label,
// in recording order.
func phaseNames(m *Metrics, run string) []string {
	out := make([]string, len(m.Phases))
	for i, p := range m.Phases {
		out[i] = strings.TrimPrefix(p.Name, run+":")
	}
	return out
}

// keepPhases drops the phases (and their windows) not in keep.
func keepPhases(m *Metrics, run string, keep []string) {
	want := map[string]bool{}
	for _, p := range keep {
		want[PhaseLabel(run, p)] = true
	}
	m.Phases = slices.DeleteFunc(m.Phases, func(p *Phase) bool { return !want[p.Name] })
	m.Windows = slices.DeleteFunc(m.Windows, func(w Window) bool { return !want[w.Phase] })
}

// readTimeline reads a run folder's timeline; a folder without one has no
// events.
func readTimeline(dir string) ([]Event, error) {
	evs, err := timeline.Read(filepath.Join(dir, timeline.File))
	if os.IsNotExist(err) {
		return nil, nil
	}
	return evs, err
}

// nodeName matches a kind node name (CLUSTER-control-plane,
// CLUSTER-worker2, CLUSTER-external-load-balancer) inside a step's name or
// subject; group 2 is its role.
var nodeName = regexp.MustCompile(`([A-Za-z0-9][A-Za-z0-9.-]*)-(control-plane[0-9]*|worker[0-9]*|external-load-balancer)([\s,;:)]|$)`)

// NormalizeNode reduces every kind node name in s to its role, dropping
// the cluster name, which carries a random part and so differs between
// runs: "drain rh-app-111111-abcdef-worker2" becomes "drain worker2".
func NormalizeNode(s string) string { return nodeName.ReplaceAllString(s, "$2$3") }

// CompareSteps matches the upgrade steps of two timelines (driver start and
// end events) by name and subject, node names reduced to their role, and
// returns each with its duration in both: A's steps in the order they
// started, then those only B ran. The nth run of a step with the same name
// and subject is matched with the nth in the other timeline.
func CompareSteps(a, b []Event) []StepTiming {
	sa, sb := stepRuns(a), stepRuns(b)
	var out []StepTiming
	index := map[string]int{}
	for _, s := range sa {
		index[s.key] = len(out)
		out = append(out, StepTiming{Step: s.key, A: s.span})
	}
	for _, s := range sb {
		if i, ok := index[s.key]; ok {
			out[i].B = s.span
			continue
		}
		out = append(out, StepTiming{Step: s.key, B: s.span})
	}
	return out
}

type stepRun struct {
	key   string
	start time.Time
	span  StepSpan
}

// stepRuns pairs a timeline's driver start and end events into steps, keyed
// by their normalised label, in start order.
func stepRuns(events []Event) []stepRun {
	evs := slices.Clone(events)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
	var out []stepRun
	open := map[string][]int{}
	seen := map[string]int{}
	for _, e := range evs {
		if e.Source != timeline.SourceDriver || (e.Kind != stepStart && e.Kind != stepEnd) {
			continue
		}
		name, subject := NormalizeNode(stepName(e)), NormalizeNode(e.Subject)
		label := name
		if subject != "" && !strings.Contains(name, subject) {
			label += " (" + subject + ")"
		}
		switch e.Kind {
		case stepStart:
			seen[label]++
			key := label
			if n := seen[label]; n > 1 {
				key = fmt.Sprintf("%s #%d", label, n)
			}
			open[label] = append(open[label], len(out))
			out = append(out, stepRun{key: key, start: e.Time, span: StepSpan{Ran: true, Outcome: StepUnfinished}})
		case stepEnd:
			if idx := open[label]; len(idx) > 0 {
				s := &out[idx[0]]
				s.span.Seconds = e.Time.Sub(s.start).Seconds()
				s.span.Outcome = cmp.Or(e.Outcome, "ok")
				open[label] = idx[1:]
			}
		}
	}
	return out
}

// RunsRenderer writes a RunsComparison in one format.
type RunsRenderer func(io.Writer, *RunsComparison) error

// RunsFormats are the formats of a RunsComparison: text, JSON and Markdown
// show the steps' durations after the report; JUnit and HTML render the
// report alone.
func RunsFormats() map[string]RunsRenderer {
	alone := func(render Renderer) RunsRenderer {
		return func(w io.Writer, rc *RunsComparison) error { return render(w, rc.Report) }
	}
	return map[string]RunsRenderer{
		"text":     RenderRunsText,
		"json":     RenderRunsJSON,
		"markdown": RenderRunsMarkdown,
		"junit":    alone(RenderJUnit),
		"html":     alone(RenderHTML),
	}
}

// RunsRendererFor returns the named renderer or an error listing the known
// ones.
func RunsRendererFor(name string) (RunsRenderer, error) {
	if r, ok := RunsFormats()[name]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("unknown report format %q; known: %s", name, strings.Join(FormatNames(), ", "))
}

// RenderRunsJSON writes the comparison as indented JSON.
func RenderRunsJSON(w io.Writer, rc *RunsComparison) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rc)
}

// RenderRunsText writes the report as RenderText does, preceded by which
// run is A and which B, then the phases one run lacks and the steps'
// durations.
func RenderRunsText(w io.Writer, rc *RunsComparison) error {
	sw := &txtWriter{w: w}
	fmt.Fprintf(sw, "A: %s\nB: %s\n", txtLine(rc.A), txtLine(rc.B))
	fmt.Fprintf(sw, "Each phase of B judged against the same phase of A: %s\n\n", strings.Join(rc.Phases, ", "))
	if sw.err != nil {
		return sw.err
	}
	if err := RenderText(sw, rc.Report); err != nil {
		return err
	}
	if len(rc.OnlyA)+len(rc.OnlyB) > 0 {
		fmt.Fprintf(sw, "\nNot compared: %s\n", onlyLine(rc))
	}
	fmt.Fprintf(sw, "\nUpgrade steps:\n")
	if len(rc.Steps) == 0 {
		fmt.Fprintf(sw, "  (neither timeline holds an upgrade step)\n")
	}
	rows := make([][]string, len(rc.Steps))
	for i, s := range rc.Steps {
		rows[i] = stepCells(s)
	}
	txtRows(sw, "  ", stepHead, rows)
	return sw.err
}

// RenderRunsMarkdown writes the report as RenderMarkdown does, then the
// phases one run lacks and the steps' durations.
func RenderRunsMarkdown(w io.Writer, rc *RunsComparison) error {
	sw := &txtWriter{w: w}
	fmt.Fprintf(sw, "A: `%s`, B: `%s`; each phase of B judged against the same phase of A.\n\n", mdText(rc.A), mdText(rc.B))
	if sw.err != nil {
		return sw.err
	}
	if err := RenderMarkdown(sw, rc.Report); err != nil {
		return err
	}
	if len(rc.OnlyA)+len(rc.OnlyB) > 0 {
		fmt.Fprintf(sw, "\nNot compared: %s\n", mdText(onlyLine(rc)))
	}
	fmt.Fprintf(sw, "\n## Upgrade steps\n\n")
	if len(rc.Steps) == 0 {
		fmt.Fprintf(sw, "Neither timeline holds an upgrade step.\n")
		return sw.err
	}
	t := mdTable{head: stepHead, align: "lrrr"}
	for _, s := range rc.Steps {
		t.add(stepCells(s)...)
	}
	t.write(sw)
	return sw.err
}

var stepHead = []string{"step", "A", "B", "difference"}

func onlyLine(rc *RunsComparison) string {
	var parts []string
	if len(rc.OnlyA) > 0 {
		parts = append(parts, "only in A: "+strings.Join(rc.OnlyA, ", "))
	}
	if len(rc.OnlyB) > 0 {
		parts = append(parts, "only in B: "+strings.Join(rc.OnlyB, ", "))
	}
	return strings.Join(parts, "; ")
}

func stepCells(s StepTiming) []string {
	diff := "-"
	if d, ok := s.Diff(); ok {
		diff = fmt.Sprintf("%+.1fs", d.Seconds())
		if a := s.A.Seconds; a > 0 {
			diff += fmt.Sprintf(" (%+.0f%%)", (s.B.Seconds-a)/a*100)
		}
	}
	return []string{s.Step, spanCell(s.A), spanCell(s.B), diff}
}

func spanCell(s StepSpan) string {
	switch {
	case !s.Ran:
		return "-"
	case s.Outcome == StepUnfinished:
		return "unfinished"
	case s.Outcome != "ok":
		return fmt.Sprintf("%.1fs %s", s.Seconds, s.Outcome)
	}
	return fmt.Sprintf("%.1fs", s.Seconds)
}
