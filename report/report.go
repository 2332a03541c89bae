package report

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/timeline"

	"github.com/rehearse/rehearse/rehearse/runfolder"
)

// Report is everything a renderer shows: the recordings, the comparisons
// made between their phases, and the verdict with its reasons.
type Report struct {
	SchemaVersion int       `json:"schemaVersion"`
	Title         string    `json:"title"`
	Generated     time.Time `json:"generated"`
	// Verdict is pass, fail or inconclusive.
	Verdict Outcome `json:"verdict"`
	// Reasons are the messages of the rules that did not pass, or, on a
	// pass, a one-line statement of what held.
	Reasons     []string     `json:"reasons"`
	Rules       Rules        `json:"rules"`
	Comparisons []Comparison `json:"comparisons"`
	// Runs are the recordings; a rehearsal has one with several phases, a
	// comparison of two recordings has two.
	Runs []*Metrics `json:"runs"`
	// Timeline holds events that happened during the recordings, in time
	// order, for renderers that show them beside the traffic.
	Timeline []Event `json:"timeline,omitempty"`
	// Checks are outcomes from outside the traffic that count in the
	// verdict: the upgrade itself, the final kube-system checklist.
	Checks []Check `json:"checks,omitempty"`
	// Incidents are the times of failure of the recordings, tied to the
	// upgrade steps of the timeline (see Incident and SetTimeline).
	Incidents []Incident `json:"incidents,omitempty"`
	// Estimate is how long production's upgrade will take, measured from
	// the rehearsal's timeline (see EstimateUpgrade); nil when not asked.
	Estimate *Estimate `json:"estimate,omitempty"`
}

// SetTimeline gives the report the rehearsal's events and settles what
// they change: the incidents are tied to the upgrade steps, the checklist's
// events are judged as the check RuleChecklistDuring (see
// ChecklistDuring), and the verdict and its reasons are settled again,
// naming the step that explains a failed rule. Calling it again replaces
// what an earlier call added.
func (r *Report) SetTimeline(events []Event) {
	r.Timeline = events
	r.Incidents = Incidents(r.Runs, r.Rules, events)
	checks := r.Checks[:0:0]
	for _, c := range r.Checks {
		if c.Name != RuleChecklistDuring {
			checks = append(checks, c)
		}
	}
	r.Checks = checks
	if c, ok := ChecklistDuring(events, r.Rules); ok {
		r.Checks = append(r.Checks, c)
	}
	r.settle()
}

// Check is a pass/fail/inconclusive outcome that is not a traffic rule.
type Check struct {
	Name    string  `json:"name"`
	Outcome Outcome `json:"outcome"`
	Message string  `json:"message"`
	// Items are the parts the check is made of, such as the components of
	// a checklist; every renderer shows each one. An item that did not pass
	// counts in the verdict even when Outcome says pass: the check's
	// outcome is the worst of Outcome and its items' (see Check.Overall).
	Items []CheckItem `json:"items,omitempty"`
}

// CheckItem is one part of a check: a checklist's component, what was
// expected of it, what was seen and its outcome.
type CheckItem struct {
	Component string  `json:"component"`
	Expected  string  `json:"expected,omitempty"`
	Seen      string  `json:"seen,omitempty"`
	Outcome   Outcome `json:"outcome"`
	Message   string  `json:"message,omitempty"`
}

// Overall is the check's outcome counting its items: fail when it or any
// item failed, else inconclusive when it or any item was, else its Outcome.
func (c Check) Overall() Outcome {
	res := c.Outcome
	for _, it := range c.Items {
		switch {
		case it.Outcome == Fail:
			return Fail
		case it.Outcome == Inconclusive && res != Fail:
			res = Inconclusive
		}
	}
	return res
}

// explain is the check's message, or what its items say when the check
// itself says nothing or says pass while an item did not pass.
func (c Check) explain() string {
	if c.Message != "" && (c.Outcome != Pass || c.Overall() == Pass) {
		return c.Message
	}
	var out []string
	for _, it := range c.Items {
		if it.Outcome != Pass {
			out = append(out, it.Component+": "+cmp.Or(it.Message, string(it.Outcome)))
		}
	}
	return strings.Join(out, "; ")
}

// AddCheck adds a check and settles the verdict and reasons again.
func (r *Report) AddCheck(c Check) {
	r.Checks = append(r.Checks, c)
	r.settle()
}

// Event is a timestamped happening shown beside the traffic (a phase change,
// an upgrade step, a component turning not ready).
type Event = timeline.Event

// Phases returns every phase of every run, in order.
func (r *Report) Phases() []*Phase {
	var out []*Phase
	for _, m := range r.Runs {
		out = append(out, m.Phases...)
	}
	return out
}

// Compare judges a candidate recording against a baseline recording; each
// recording is taken whole as one phase. Rules that do not validate are an
// error.
func Compare(base, cand *Metrics, rules Rules) (*Report, error) {
	if err := rules.Validate(); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	bp, err := single(base, "baseline")
	if err != nil {
		return nil, err
	}
	cp, err := single(cand, "candidate")
	if err != nil {
		return nil, err
	}
	return newReport(fmt.Sprintf("%s vs %s", bp.Name, cp.Name), []*Metrics{base, cand}, []Comparison{Judge(bp, cp, rules)}, rules), nil
}

func single(m *Metrics, what string) (*Phase, error) {
	switch len(m.Phases) {
	case 0:
		return nil, fmt.Errorf("%s %s: no results", what, m.Source)
	case 1:
		return m.Phases[0], nil
	}
	names := make([]string, len(m.Phases))
	for i, p := range m.Phases {
		names[i] = p.Name
	}
	return nil, fmt.Errorf("%s %s holds several phases (%s): load it as one phase", what, m.Source, strings.Join(names, ", "))
}

// JudgeRun judges every phase of one recording against its baseline phase.
// Rules that do not validate are an error.
func JudgeRun(m *Metrics, baseline string, rules Rules) (*Report, error) {
	if err := rules.Validate(); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	base := m.Phase(baseline)
	if base == nil {
		names := make([]string, len(m.Phases))
		for i, p := range m.Phases {
			names[i] = p.Name
		}
		sort.Strings(names)
		return nil, fmt.Errorf("recording %s has no phase %q; phases: %s", m.Source, baseline, strings.Join(names, ", "))
	}
	var comps []Comparison
	for _, p := range m.Phases {
		if p.Name != baseline {
			comps = append(comps, Judge(base, p, rules))
		}
	}
	return newReport(fmt.Sprintf("phases against %s", baseline), []*Metrics{m}, comps, rules), nil
}

func newReport(title string, runs []*Metrics, comps []Comparison, rules Rules) *Report {
	r := &Report{
		SchemaVersion: SchemaVersion,
		Title:         title,
		Generated:     time.Now().UTC(),
		Rules:         rules.WithDefaults(),
		Comparisons:   comps,
		Runs:          runs,
	}
	for _, m := range runs {
		if m != nil && m.Read != nil && m.Read.CorruptBytes > 0 {
			r.Checks = append(r.Checks, readCheck(m.Read, r.Rules))
		}
	}
	r.Incidents = Incidents(runs, r.Rules, nil)
	r.settle()
	return r
}

// LostTolerance is the largest share of a recording's records that may be
// lost to corruption (see loadgen.ReadResults; a cut tail does not count)
// for its traffic to be judged: a tenth of the failure-ratio tolerance,
// 0.01% under the default rules, none under zero tolerance. Had every lost
// record failed, the failure ratio would have moved by at most a tenth of
// what the rules allow.
func (r Rules) LostTolerance() float64 { return r.WithDefaults().MaxErrorRateIncrease / 10 }

// readCheck is the check a corrupt results file adds: passed while the
// records lost stay within the rules' LostTolerance, else inconclusive (a
// failure elsewhere still fails: what was read failed).
func readCheck(ri *loadgen.ReadInfo, rules Rules) Check {
	c := Check{Name: "results file " + ri.Path, Outcome: Pass, Message: txtLost(ri)}
	if tol := rules.LostTolerance(); ri.LostFraction() > tol {
		c.Outcome = Inconclusive
		c.Message += fmt.Sprintf("; more than the %.3g%% tolerated, so the traffic cannot be judged", tol*100)
	} else {
		c.Message += fmt.Sprintf("; within the %.3g%% tolerated", tol*100)
	}
	return c
}

// settle computes the verdict and its reasons from the comparisons and checks.
func (r *Report) settle() {
	var outs []Outcome
	for _, c := range r.Comparisons {
		outs = append(outs, c.Outcome)
	}
	for _, c := range r.Checks {
		outs = append(outs, c.Overall())
	}
	r.Verdict = Combine(outs...)
	r.Reasons = nil
	for _, c := range r.Checks {
		res := c.Overall()
		if res == Pass {
			continue
		}
		r.Reasons = append(r.Reasons, fmt.Sprintf("%s %s: %s", c.Name, res, c.explain()))
	}
	for _, c := range r.Comparisons {
		for _, rr := range c.Rules {
			if rr.Outcome != Pass {
				reason := fmt.Sprintf("%s vs %s: %s %s: %s", c.Candidate, c.Baseline, rr.Rule, rr.Outcome, rr.Message)
				if in, ok := explainRule(r.Incidents, c.Candidate, rr.Rule, "", ""); ok && rr.Outcome == Fail {
					reason += "; worst incident: " + in.String()
				}
				r.Reasons = append(r.Reasons, reason)
			}
		}
		for _, s := range c.Subjects {
			for _, rr := range s.Rules {
				if rr.Outcome != Fail {
					continue
				}
				reason := fmt.Sprintf("%s on %s (%s): %s", rr.Rule, s.Label(), c.Candidate, rr.Message)
				if in, ok := explainRule(r.Incidents, c.Candidate, rr.Rule, s.Dim, s.Name); ok {
					reason += "; " + in.Cause()
				}
				r.Reasons = append(r.Reasons, reason)
			}
		}
	}
	switch {
	case len(r.Comparisons) == 0:
		r.Reasons = append(r.Reasons, "nothing to compare: only one phase was recorded")
	case r.Verdict == Pass:
		r.Reasons = []string{fmt.Sprintf("all %d rules held in %d comparisons", len(r.Comparisons)*4, len(r.Comparisons))}
		if n := countSubjects(r.Comparisons); n > 0 {
			r.Reasons[0] += fmt.Sprintf(", and for each of %d streams, entry points and nodes", n)
		}
		if len(r.Checks) > 0 {
			r.Reasons[0] += fmt.Sprintf("; %d checks passed", len(r.Checks))
		}
	}
}

func countSubjects(cs []Comparison) int {
	n := 0
	for _, c := range cs {
		n += len(c.Subjects)
	}
	return n
}

// ExitCode maps a verdict to the process exit code: 0 pass, 1 fail,
// 3 inconclusive. (2 is bad input, used by callers.)
func ExitCode(v Outcome) int {
	switch v {
	case Pass:
		return 0
	case Fail:
		return 1
	}
	return 3
}

// Renderer writes a report in one format.
type Renderer func(io.Writer, *Report) error

// Formats returns the renderers by name.
func Formats() map[string]Renderer {
	return map[string]Renderer{
		"text":     RenderText,
		"json":     RenderJSON,
		"junit":    RenderJUnit,
		"markdown": RenderMarkdown,
		"html":     RenderHTML,
	}
}

// FormatNames returns the sorted format names, for help and errors.
func FormatNames() []string {
	var names []string
	for n := range Formats() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Renderer returns the named renderer or an error listing the known ones.
func RendererFor(name string) (Renderer, error) {
	if r, ok := Formats()[name]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("unknown report format %q; known: %s", name, strings.Join(FormatNames(), ", "))
}

// safeRender runs a renderer, turning a panic into an error: a fault in
// one format must not take the rehearsal's verdict, its other formats and
// its cleanup down with it.
func safeRender(render Renderer, w io.Writer, r *Report) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v", p)
		}
	}()
	return render(w, r)
}

// WriteFiles renders the report in each format into dir and returns the
// paths written.
func WriteFiles(dir string, r *Report, formats []string) ([]string, error) {
	var written []string
	for _, f := range formats {
		render, err := RendererFor(f)
		if err != nil {
			return written, err
		}
		name := runfolder.Report(f)
		if name == "" {
			name = "report." + f
		}
		var buf bytes.Buffer
		if err := safeRender(render, &buf, r); err != nil {
			return written, fmt.Errorf("render %s: %w", f, err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, buf.Bytes(), runfolder.FileMode); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}
