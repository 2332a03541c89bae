package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

// DefaultAttributionLag is how long after an upgrade step began an incident
// that starts when no step is running is still tied to it.
const DefaultAttributionLag = 30 * time.Second

// Driver event kinds that bound one upgrade step.
const (
	stepStart = "start"
	stepEnd   = "end"
)

// Incident is a time of failure: the outage windows and error bursts of
// streams, entry points and nodes that overlap in time (within one phase),
// merged, and tied to the upgrade steps in force when it started.
//
// An incident is made of the outages with at least DefaultBurstFailures
// failures or longer than the rules' MaxOutage, and of every burst (see
// WindowBurst); a lone failed request is not an incident. Its steps are the
// driver steps running at its start (start and end events of the
// timeline), or, when none was, the last step that began at most
// DefaultAttributionLag before it. Lag is measured from the latest start
// among them.
type Incident struct {
	// Kind is WindowOutage when any of its windows is an outage, else
	// WindowBurst.
	Kind    string    `json:"kind"`
	Phase   string    `json:"phase"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Seconds float64   `json:"seconds"`
	// Streams, Targets and Nodes name what failed in it.
	Streams []string `json:"streams,omitempty"`
	Targets []string `json:"targets,omitempty"`
	Nodes   []string `json:"nodes,omitempty"`
	// Lost counts the failed requests: the largest total of one
	// dimension (streams, entry points or nodes each split the traffic).
	Lost       int64  `json:"requestsLost"`
	FirstError string `json:"firstError,omitempty"`
	// Steps name the upgrade steps it is tied to ("drain (rh-x-worker2)"),
	// the latest started first; LagSeconds is the time from that step's
	// start to the incident's.
	Steps      []string `json:"steps,omitempty"`
	LagSeconds float64  `json:"lagSeconds,omitempty"`
	// Running tells whether the first step was still running at the start
	// (else it had ended within the lag bound).
	Running bool `json:"running,omitempty"`
}

// Where names what failed: the entry points, else the nodes, else the
// streams, with the streams in brackets after entry points or nodes
// ("http://172.18.0.3:30080/ (fresh, reuse)").
func (in Incident) Where() string {
	var s string
	switch {
	case len(in.Targets) > 0:
		s = strings.Join(in.Targets, ", ")
	case len(in.Nodes) > 0:
		s = "node " + strings.Join(in.Nodes, ", node ")
	default:
		return strings.Join(in.Streams, ", ")
	}
	if len(in.Streams) > 0 {
		s += " (" + strings.Join(in.Streams, ", ") + ")"
	}
	return s
}

// Cause says what step it is tied to and when: "starting 0.4 s after
// `drain` (rh-x-worker2) began", or "" when no step is.
func (in Incident) Cause() string {
	if len(in.Steps) == 0 {
		return ""
	}
	s := fmt.Sprintf("starting %.1f s after %s began", in.LagSeconds, in.Steps[0])
	if !in.Running {
		s += " (it had ended)"
	}
	if len(in.Steps) > 1 {
		s += fmt.Sprintf(", while %s ran", strings.Join(in.Steps[1:], ", "))
	}
	return s
}

// String is one line: "outage 9.3 s on http://…:30080/ starting 0.4 s after
// `drain` (rh-x-worker2) began".
func (in Incident) String() string {
	s := fmt.Sprintf("%s %.1f s on %s", in.Kind, in.Seconds, in.Where())
	if c := in.Cause(); c != "" {
		s += " " + c
	}
	return s
}

// has tells whether the incident counts the subject.
func (in Incident) has(dim, name string) bool {
	list := in.Streams
	switch dim {
	case DimTarget:
		list = in.Targets
	case DimNode:
		list = in.Nodes
	}
	for _, n := range list {
		if n == name {
			return true
		}
	}
	return false
}

// Incidents merges the failure windows of every phase of the recordings
// into incidents and ties each to the timeline's upgrade steps (see
// Incident). It is a pure function of its inputs.
func Incidents(runs []*Metrics, rules Rules, events []Event) []Incident {
	r := rules.WithDefaults()
	steps := stepSpans(events)
	var out []Incident
	for _, m := range runs {
		if m == nil {
			continue
		}
		for _, p := range m.Phases {
			var ws []Outage
			for _, o := range p.Outages.Windows {
				if o.Failures >= DefaultBurstFailures || o.duration() > r.MaxOutage {
					ws = append(ws, o)
				}
			}
			for _, o := range p.FailureWindows {
				if o.Kind == WindowBurst || o.Failures >= DefaultBurstFailures || o.duration() > r.MaxOutage {
					ws = append(ws, o)
				}
			}
			for _, in := range mergeWindows(ws) {
				attribute(&in, steps)
				out = append(out, in)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// mergeWindows groups windows that overlap in time into incidents.
func mergeWindows(ws []Outage) []Incident {
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].Start.Before(ws[j].Start) })
	var out []Incident
	for i := 0; i < len(ws); {
		j := i + 1
		end := ws[i].End
		for j < len(ws) && !ws[j].Start.After(end) {
			end = maxTime(end, ws[j].End)
			j++
		}
		out = append(out, incidentOf(ws[i:j]))
		i = j
	}
	return out
}

func incidentOf(ws []Outage) Incident {
	in := Incident{Kind: WindowBurst, Phase: ws[0].Phase, Start: ws[0].Start, End: ws[0].End, FirstError: ws[0].FirstError}
	most := map[streamKey]int64{}
	names := map[string]map[string]bool{}
	for _, o := range ws {
		if o.Kind != WindowBurst {
			in.Kind = WindowOutage
		}
		in.End = maxTime(in.End, o.End)
		if in.FirstError == "" {
			in.FirstError = o.FirstError
		}
		dim, name := o.Subject()
		k := streamKey{dim, name}
		most[k] = max(most[k], o.Failures)
		if names[dim] == nil {
			names[dim] = map[string]bool{}
		}
		names[dim][name] = true
	}
	in.Seconds = in.End.Sub(in.Start).Seconds()
	total := map[string]int64{}
	for k, n := range most {
		total[k.dim] += n
	}
	for _, n := range total {
		in.Lost = max(in.Lost, n)
	}
	in.Streams = sortedKeys(names[DimStream])
	in.Targets = sortedKeys(names[DimTarget])
	in.Nodes = sortedKeys(names[DimNode])
	return in
}

// stepSpan is one upgrade step as the timeline bounds it.
type stepSpan struct {
	label      string
	start, end time.Time // end zero: never ended
}

// stepSpans pairs the driver's start and end events of each step (by name
// and subject). Group events are not steps: the steps inside say more.
func stepSpans(events []Event) []stepSpan {
	var out []stepSpan
	open := map[string][]int{}
	for _, e := range events {
		if e.Source != timeline.SourceDriver {
			continue
		}
		key := e.Subject + "\x00" + stepName(e)
		switch e.Kind {
		case stepStart:
			open[key] = append(open[key], len(out))
			out = append(out, stepSpan{label: stepLabel(stepName(e), e.Subject), start: e.Time})
		case stepEnd:
			if idx := open[key]; len(idx) > 0 {
				out[idx[0]].end = e.Time
				open[key] = idx[1:]
			}
		}
	}
	return out
}

// stepName is the step's name: an end event of a failed step carries
// "name: error" as its message.
func stepName(e Event) string {
	if e.Kind == stepEnd && e.Outcome == "failed" {
		if i := strings.Index(e.Message, ": "); i >= 0 {
			return e.Message[:i]
		}
	}
	return e.Message
}

func stepLabel(name, subject string) string {
	if subject == "" || strings.Contains(name, subject) {
		return "`" + name + "`"
	}
	return "`" + name + "` (" + subject + ")"
}

// attribute ties the incident to the steps in force at its start.
func attribute(in *Incident, steps []stepSpan) {
	t := in.Start
	var running []stepSpan
	var last *stepSpan
	for i, s := range steps {
		if s.start.After(t) {
			continue
		}
		if s.end.IsZero() || s.end.After(t) {
			running = append(running, s)
		}
		if last == nil || s.start.After(last.start) {
			last = &steps[i]
		}
	}
	if len(running) > 0 {
		sort.SliceStable(running, func(i, j int) bool { return running[i].start.After(running[j].start) })
		for _, s := range running {
			in.Steps = append(in.Steps, s.label)
		}
		in.LagSeconds = t.Sub(running[0].start).Seconds()
		in.Running = true
		return
	}
	if last != nil && t.Sub(last.start) <= DefaultAttributionLag {
		in.Steps = []string{last.label}
		in.LagSeconds = t.Sub(last.start).Seconds()
	}
}

// explainRule finds the incident that explains a failed rule of a phase,
// for a subject (dim, name) or, with dim "", for the whole phase: the
// longest of its incidents for an outage, else the one that lost most
// requests. Only incidents tied to a step explain anything.
func explainRule(incidents []Incident, phase, rule, dim, name string) (Incident, bool) {
	var best Incident
	found := false
	for _, in := range incidents {
		if in.Phase != phase || len(in.Steps) == 0 || (dim != "" && !in.has(dim, name)) {
			continue
		}
		if rule == RuleOutage && in.Kind != WindowOutage {
			continue
		}
		better := in.Lost > best.Lost
		if rule == RuleOutage {
			better = in.Seconds > best.Seconds
		}
		if !found || better {
			best, found = in, true
		}
	}
	return best, found
}
