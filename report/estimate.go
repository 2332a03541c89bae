package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

// Steps the estimate names in its formula; every other step of a node is
// counted as "other".
const (
	// EstimateDrain is the step that evicts a node's pods.
	EstimateDrain = "drain"
	// EstimateReady is the wait for a node to be Ready at the target (the
	// driver's step "ready at vX.Y.Z", named without its version so that
	// estimates of different targets compare).
	EstimateReady = "ready"
)

// Groups of the in-place upgrade's plan the estimate measures.
const (
	estimateWorkersGroup      = "workers"
	estimateControlPlaneGroup = "control plane"
)

// EstimateOptions describe the production cluster the rehearsal stands for.
type EstimateOptions struct {
	// Nodes is production's number of workers. It may be left zero when
	// Pools are given; when both are set they must agree.
	Nodes int
	// Pools are production's worker pools by name and node count,
	// upgraded one after another, each in its own batches (optional).
	Pools map[string]int
	// MaxUnavailable is how many workers are upgraded at once (default 1).
	MaxUnavailable int
	// Interval, when positive, is the wait between two batches; else the
	// mean of the waits measured in the rehearsal (zero if none was).
	Interval time.Duration
}

// NodeDuration is how long something took on one node.
type NodeDuration struct {
	Node     string        `json:"node"`
	Duration time.Duration `json:"duration"`
}

// Estimate is how long production's upgrade will take, from the durations
// the rehearsal measured (see EstimateUpgrade for the formula).
type Estimate struct {
	// Nodes is production's number of workers; Pools their pools, if given.
	Nodes int            `json:"nodes"`
	Pools map[string]int `json:"pools,omitempty"`
	// MaxUnavailable is how many workers are upgraded at once.
	MaxUnavailable int `json:"maxUnavailable"`
	// Batches is how many times MaxUnavailable workers (or fewer) are
	// upgraded together; Intervals the waits between batches.
	Batches   int `json:"batches"`
	Intervals int `json:"intervals"`
	// MeasuredWorkers is how many workers of the rehearsal were measured.
	MeasuredWorkers int `json:"measuredWorkers"`
	// Steps are a worker's steps in the order they ran.
	Steps []string `json:"steps"`
	// PerNode is each step's mean duration over the measured workers,
	// PerNodeMax its longest.
	PerNode    map[string]time.Duration `json:"perNode"`
	PerNodeMax map[string]time.Duration `json:"perNodeMax"`
	// Node is the time of one worker: the sum of PerNode.
	Node time.Duration `json:"node"`
	// SlowestNode is the measured worker whose steps took longest in all.
	SlowestNode NodeDuration `json:"slowestNode"`
	// Interval is the wait between two batches.
	Interval time.Duration `json:"interval"`
	// IntervalMeasured says whether Interval is the rehearsal's (else it
	// was given).
	IntervalMeasured bool `json:"intervalMeasured"`
	// Soak is the wait in every batch between its new nodes' readiness
	// and its old nodes' retirement (node replacement), as measured.
	Soak time.Duration `json:"soak,omitempty"`
	// ControlPlane is the rehearsal's control-plane upgrade, taken as it
	// was measured; zero when it was not.
	ControlPlane time.Duration `json:"controlPlane"`
	// ControlPlanes is how many control-plane nodes it upgraded.
	ControlPlanes int `json:"controlPlanes"`
	// Total is the estimate; Worst the same with every worker as slow as
	// SlowestNode.
	Total time.Duration `json:"total"`
	Worst time.Duration `json:"worst"`
	// LongestDrain is the measured worker drain that took longest.
	LongestDrain NodeDuration `json:"longestDrain"`
}

// EstimateUpgrade estimates how long an in-place rolling upgrade of
// production will take, from the rehearsal's timeline (the driver's
// actions and groups, see rehearse/driver.Kubeadm.Plan):
//
//	batches   = ⌈Nodes / MaxUnavailable⌉ (with pools, the sum over pools of ⌈pool / MaxUnavailable⌉)
//	node      = Σ over a worker's steps of the step's mean duration over the measured workers
//	Total     = batches × (node + soak) + (batches − 1) × interval + control plane
//	Worst     = batches × (slowest measured worker + soak) + (batches − 1) × interval + control plane
//
// A worker's steps are the driver's actions naming a node (their Subject)
// inside the group whose name starts with "workers"; a worker is measured
// when all its steps ended ok (a failed worker's steps say nothing of a
// normal upgrade). A step's mean is over the workers that ran it; "ready
// at vX.Y.Z" is measured as "ready". The interval is the mean of the
// actions of that group named "node interval …" (the waits between
// batches), unless o.Interval is given; the soak the mean of those named
// "soak …" (a node replacement's wait in each batch). The control plane is the duration of the group
// "control plane", as measured: production's control plane is taken to
// take as long as the rehearsal's. A batch is taken to last one mean
// node: its nodes run side by side, so Worst bounds a batch that waits
// for a slow node. Preparing the target's binaries and images (the
// group "prepare") is not counted.
//
// A timeline with no measured worker step is an error, as are options
// that do not describe a cluster.
func EstimateUpgrade(events []Event, o EstimateOptions) (*Estimate, error) {
	e, err := o.estimate()
	if err != nil {
		return nil, err
	}
	evs := append([]Event(nil), events...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })

	workers, haveWorkers := groupSpan(evs, estimateWorkersGroup, true)
	cp, haveCP := groupSpan(evs, estimateControlPlaneGroup, false)

	type worker struct {
		steps  []string
		d      map[string]time.Duration
		failed bool
	}
	byNode := map[string]*worker{}
	var order []string
	var intervals, soaks []time.Duration
	cpNodes := map[string]bool{}
	for _, a := range actions(evs) {
		inWorkers := haveWorkers && workers.holds(a.start)
		switch {
		case inWorkers && a.subject == "":
			switch {
			case !a.ok:
			case strings.HasPrefix(a.name, "node interval"):
				intervals = append(intervals, a.end.Sub(a.start))
			case strings.HasPrefix(a.name, "soak "):
				soaks = append(soaks, a.end.Sub(a.start))
			}
		case inWorkers:
			// A replaced worker's steps run under its name and its
			// replacement's (worker2, worker2-v1-36-3): one worker.
			node := replacedNode.ReplaceAllString(a.subject, "")
			w := byNode[node]
			if w == nil {
				w = &worker{d: map[string]time.Duration{}}
				byNode[node] = w
				order = append(order, node)
			}
			name := estimateStep(a.name)
			if _, seen := w.d[name]; !seen {
				w.steps = append(w.steps, name)
			}
			w.d[name] += a.end.Sub(a.start)
			w.failed = w.failed || !a.ok
		case haveCP && cp.holds(a.start) && a.subject != "":
			cpNodes[a.subject] = true
		}
	}
	var nodes []string
	for _, node := range order {
		w := byNode[node]
		if w.failed {
			continue
		}
		nodes = append(nodes, node)
		for _, name := range w.steps {
			if _, seen := e.PerNode[name]; !seen {
				e.Steps = append(e.Steps, name)
				e.PerNode[name] = 0
			}
		}
	}
	if len(nodes) == 0 {
		return nil, errors.New(`the timeline holds no worker whose upgrade steps all ended ok (driver actions naming a node under a group "workers…"): there is no node upgrade to measure`)
	}

	e.MeasuredWorkers = len(nodes)
	for _, name := range e.Steps {
		var sum time.Duration
		var n int64
		for _, node := range nodes {
			d, ok := byNode[node].d[name]
			if !ok {
				continue
			}
			sum += d
			n++
			e.PerNodeMax[name] = max(e.PerNodeMax[name], d)
			if name == EstimateDrain && d > e.LongestDrain.Duration {
				e.LongestDrain = NodeDuration{Node: node, Duration: d}
			}
		}
		e.PerNode[name] = sum / time.Duration(n)
		e.Node += e.PerNode[name]
	}
	for _, node := range nodes {
		var sum time.Duration
		for _, d := range byNode[node].d {
			sum += d
		}
		if sum > e.SlowestNode.Duration {
			e.SlowestNode = NodeDuration{Node: node, Duration: sum}
		}
	}
	if e.Interval == 0 && len(intervals) > 0 {
		e.Interval, e.IntervalMeasured = mean(intervals), true
	}
	if len(soaks) > 0 {
		e.Soak = mean(soaks)
	}
	if haveCP && cp.ended {
		e.ControlPlane, e.ControlPlanes = cp.end.Sub(cp.start), len(cpNodes)
	}
	rest := time.Duration(e.Intervals)*e.Interval + e.ControlPlane
	e.Total = time.Duration(e.Batches)*(e.Node+e.Soak) + rest
	e.Worst = time.Duration(e.Batches)*(e.SlowestNode.Duration+e.Soak) + rest
	return e, nil
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// estimate checks the options and returns an estimate holding what they
// settle: nodes, pools, batches, intervals.
func (o EstimateOptions) estimate() (*Estimate, error) {
	m := o.MaxUnavailable
	switch {
	case m < 0:
		return nil, fmt.Errorf("max unavailable: %d is negative; it is how many workers are upgraded at once", m)
	case m == 0:
		m = 1
	}
	if o.Nodes < 0 {
		return nil, fmt.Errorf("nodes: %d is negative; it is production's number of workers", o.Nodes)
	}
	if o.Interval < 0 {
		return nil, fmt.Errorf("interval: %s is negative", o.Interval)
	}
	e := &Estimate{MaxUnavailable: m, Nodes: o.Nodes, Interval: o.Interval,
		PerNode: map[string]time.Duration{}, PerNodeMax: map[string]time.Duration{}}
	batches := func(n int) int { return (n + m - 1) / m }
	if len(o.Pools) > 0 {
		e.Pools = map[string]int{}
		sum := 0
		for _, name := range sortedKeys(o.Pools) {
			n := o.Pools[name]
			if n < 1 {
				return nil, fmt.Errorf("pools: pool %q has %d nodes; a pool needs at least one", name, n)
			}
			e.Pools[name] = n
			sum += n
			e.Batches += batches(n)
		}
		if o.Nodes != 0 && o.Nodes != sum {
			return nil, fmt.Errorf("nodes: %d, but the pools hold %d: give one or make them agree", o.Nodes, sum)
		}
		e.Nodes = sum
	} else {
		if o.Nodes == 0 {
			return nil, errors.New("nodes: production's number of workers is needed (nodes, or pools with their node counts)")
		}
		e.Batches = batches(o.Nodes)
	}
	e.Intervals = e.Batches - 1
	return e, nil
}

// replacedNode is the suffix the replace driver gives a node that replaces
// another: the version it runs (rehearse/driver's replacementName).
var replacedNode = regexp.MustCompile(`(-v[0-9]+-[0-9]+-[0-9]+)+$`)

// estimateStep is the name a step is measured under: the driver's name,
// but "ready" for "ready at vX.Y.Z".
func estimateStep(name string) string {
	if name == EstimateReady || strings.HasPrefix(name, EstimateReady+" at ") {
		return EstimateReady
	}
	// A node replacement's steps name the image or the node replaced.
	for _, prefix := range []string{"create node container", "copy the cluster's images", "take over labels and taints"} {
		if strings.HasPrefix(name, prefix) {
			return prefix
		}
	}
	return name
}

// span is when a group of the plan ran.
type span struct {
	start, end time.Time
	ended      bool
}

// holds says whether t falls within the span; a span that never ended
// holds everything after its start.
func (s span) holds(t time.Time) bool {
	return !t.Before(s.start) && (!s.ended || !t.After(s.end))
}

// groupSpan finds the first driver group named name (or, with prefix,
// whose name starts with it) and when it ended.
func groupSpan(evs []Event, name string, prefix bool) (span, bool) {
	is := func(msg string) bool {
		if prefix {
			return strings.HasPrefix(msg, name)
		}
		return msg == name || strings.HasPrefix(msg, name+": ")
	}
	var s span
	found := false
	for _, ev := range evs {
		if ev.Source != timeline.SourceDriver || !is(ev.Message) {
			continue
		}
		switch {
		case ev.Kind == "group-start" && !found:
			s.start, found = ev.Time, true
		case ev.Kind == "group-end" && found:
			s.end, s.ended = ev.Time, true
			return s, true
		}
	}
	return s, found
}

// action is a driver action with its start and end.
type action struct {
	subject, name string
	start, end    time.Time
	ok            bool
}

// actions pairs the driver's action starts with their ends, in the order
// they started. An end names its action, followed by ": " and the error
// when it failed; actions that never ended are left out.
func actions(evs []Event) []action {
	var out []action
	open := map[string][]int{} // subject → indexes into out not yet ended
	for _, ev := range evs {
		if ev.Source != timeline.SourceDriver {
			continue
		}
		switch ev.Kind {
		case "start":
			open[ev.Subject] = append(open[ev.Subject], len(out))
			out = append(out, action{subject: ev.Subject, name: ev.Message, start: ev.Time})
		case "end":
			idx := open[ev.Subject]
			for j, i := range idx {
				name := out[i].name
				if ev.Message != name && !strings.HasPrefix(ev.Message, name+": ") {
					continue
				}
				out[i].end, out[i].ok = ev.Time, ev.Outcome == "ok"
				open[ev.Subject] = append(idx[:j:j], idx[j+1:]...)
				break
			}
		}
	}
	ended := out[:0]
	for _, a := range out {
		if !a.end.IsZero() {
			ended = append(ended, a)
		}
	}
	return ended
}

// Lines says the estimate in a few lines: the formula with its numbers,
// the measured per-node steps (mean and max), the worst case, the longest
// drain, and what was taken as measured.
func (e *Estimate) Lines() []string {
	var parts []string
	other := e.Node
	for _, name := range []string{EstimateDrain, EstimateReady} {
		if d, ok := e.PerNode[name]; ok {
			parts = append(parts, name+" "+estDur(d))
			other -= d
		}
	}
	if len(parts) == 0 || len(e.PerNode) > len(parts) {
		label := "other "
		if len(parts) == 0 {
			label = ""
		}
		parts = append(parts, label+estDur(other))
	}
	if e.Soak > 0 {
		parts = append(parts, "soak "+estDur(e.Soak))
	}
	formula := fmt.Sprintf("%s, %d at a time: %s × (%s)", txtPlural(int64(e.Nodes), "node"), e.MaxUnavailable,
		estBatches(e.Batches), strings.Join(parts, " + "))
	if e.Intervals > 0 {
		formula += fmt.Sprintf(" + %s × %s", txtPlural(int64(e.Intervals), "interval"), estDur(e.Interval))
	}
	if e.ControlPlane > 0 {
		formula += " + control plane " + estDur(e.ControlPlane)
	}
	formula += " ≈ " + estDur(e.Total)
	out := []string{formula}

	steps := make([]string, len(e.Steps))
	for i, name := range e.Steps {
		steps[i] = fmt.Sprintf("%s %s (%s)", name, estDur(e.PerNode[name]), estDur(e.PerNodeMax[name]))
	}
	out = append(out, fmt.Sprintf("per node, mean (max) over %s: %s; in all %s (slowest %s, %s)",
		txtPlural(int64(e.MeasuredWorkers), "measured worker"), strings.Join(steps, ", "),
		estDur(e.Node), e.SlowestNode.Node, estDur(e.SlowestNode.Duration)))
	out = append(out, fmt.Sprintf("at worst, every node as slow as the slowest measured: ≈ %s", estDur(e.Worst)))
	if e.LongestDrain.Node != "" {
		out = append(out, fmt.Sprintf("longest drain: %s, %s", e.LongestDrain.Node, estDur(e.LongestDrain.Duration)))
	}
	if len(e.Pools) > 0 {
		var ps []string
		for _, name := range sortedKeys(e.Pools) {
			n := e.Pools[name]
			ps = append(ps, fmt.Sprintf("%s %s in %s", name, txtPlural(int64(n), "node"),
				estBatches((n+e.MaxUnavailable-1)/e.MaxUnavailable)))
		}
		out = append(out, "pools, one after another: "+strings.Join(ps, "; "))
	}
	switch {
	case e.IntervalMeasured:
		out = append(out, "interval: the mean wait between batches measured in the rehearsal")
	case e.Interval > 0:
		out = append(out, "interval: as given")
	}
	if e.ControlPlane > 0 {
		out = append(out, fmt.Sprintf("control plane: as measured in the rehearsal (%s), not scaled to production",
			txtPlural(int64(e.ControlPlanes), "control-plane node")))
	} else {
		out = append(out, "control plane: not measured, not counted")
	}
	return out
}

// estBatches is "1 batch" or "n batches".
func estBatches(n int) string {
	if n == 1 {
		return "1 batch"
	}
	return fmt.Sprintf("%d batches", n)
}

// estDur writes a duration for people: 4.2 s, 42 s, 118 s, 4 m 10 s,
// 1 h 40 m.
func estDur(d time.Duration) string {
	if d < 10*time.Second {
		s := fmt.Sprintf("%.1f", d.Seconds())
		return strings.TrimSuffix(s, ".0") + " s"
	}
	if r := d.Round(time.Second); r < 2*time.Minute {
		return fmt.Sprintf("%d s", r/time.Second)
	} else if r < time.Hour {
		m, s := int(r/time.Minute), int(r%time.Minute/time.Second)
		if s == 0 {
			return fmt.Sprintf("%d m", m)
		}
		return fmt.Sprintf("%d m %d s", m, s)
	}
	r := d.Round(time.Minute)
	h, m := int(r/time.Hour), int(r%time.Hour/time.Minute)
	if m == 0 {
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d m", h, m)
}

// estimateJSON is an Estimate with its durations as strings such as
// "4m10s", as the rules write theirs.
type estimateJSON struct {
	estimatePlain
	PerNode      map[string]string `json:"perNode"`
	PerNodeMax   map[string]string `json:"perNodeMax"`
	Node         string            `json:"node"`
	SlowestNode  nodeDurationJSON  `json:"slowestNode"`
	Interval     string            `json:"interval"`
	Soak         string            `json:"soak,omitempty"`
	ControlPlane string            `json:"controlPlane"`
	Total        string            `json:"total"`
	Worst        string            `json:"worst"`
	LongestDrain nodeDurationJSON  `json:"longestDrain"`
}

type estimatePlain Estimate

type nodeDurationJSON struct {
	Node     string `json:"node,omitempty"`
	Duration string `json:"duration"`
}

// MarshalJSON writes durations as strings such as "4m10s".
func (e Estimate) MarshalJSON() ([]byte, error) {
	j := estimateJSON{estimatePlain: estimatePlain(e),
		PerNode: map[string]string{}, PerNodeMax: map[string]string{},
		Node: e.Node.String(), Interval: e.Interval.String(), Soak: durOrEmpty(e.Soak), ControlPlane: e.ControlPlane.String(),
		Total: e.Total.String(), Worst: e.Worst.String(),
		SlowestNode:  nodeDurationJSON{e.SlowestNode.Node, e.SlowestNode.Duration.String()},
		LongestDrain: nodeDurationJSON{e.LongestDrain.Node, e.LongestDrain.Duration.String()},
	}
	for k, d := range e.PerNode {
		j.PerNode[k] = d.String()
	}
	for k, d := range e.PerNodeMax {
		j.PerNodeMax[k] = d.String()
	}
	return json.Marshal(j)
}

func durOrEmpty(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *Estimate) UnmarshalJSON(b []byte) error {
	var j estimateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var errs []error
	dur := func(name, s string) time.Duration {
		if s == "" {
			return 0
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("estimate: %s: %w", name, err))
		}
		return d
	}
	out := Estimate(j.estimatePlain)
	out.PerNode, out.PerNodeMax = map[string]time.Duration{}, map[string]time.Duration{}
	for _, k := range sortedKeys(j.PerNode) {
		out.PerNode[k] = dur("perNode."+k, j.PerNode[k])
	}
	for _, k := range sortedKeys(j.PerNodeMax) {
		out.PerNodeMax[k] = dur("perNodeMax."+k, j.PerNodeMax[k])
	}
	out.Node = dur("node", j.Node)
	out.Interval = dur("interval", j.Interval)
	out.Soak = dur("soak", j.Soak)
	out.ControlPlane = dur("controlPlane", j.ControlPlane)
	out.Total = dur("total", j.Total)
	out.Worst = dur("worst", j.Worst)
	out.SlowestNode = NodeDuration{j.SlowestNode.Node, dur("slowestNode.duration", j.SlowestNode.Duration)}
	out.LongestDrain = NodeDuration{j.LongestDrain.Node, dur("longestDrain.duration", j.LongestDrain.Duration)}
	if len(errs) > 0 {
		return errs[0]
	}
	*e = out
	return nil
}
