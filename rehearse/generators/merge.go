package generators

import (
	"container/heap"
	"fmt"
	"math"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/report"
)

// Merge puts the results of several generators into one stream ordered by
// the time each request was sent, so that percentiles over the merged
// results are exact. Each generator writes its results in the order they
// complete: a result is at most the request timeout plus the generator's
// flush interval older than the moment its line was written. So once a
// generator has written a line at time L, every result it writes later
// was sent after L minus that bound, its watermark. Results are held until
// they are older than the lowest watermark of the generators still
// streaming, then handed on in order. A generator whose stream stalls (its
// node's kubelet restarting, the apiserver away) holds the merge back
// until it streams again or ends; nothing is reordered or dropped.
//
// Merge also assigns each result its phase from the switches of one clock
// (the rehearsal's own), and finds each generator's windows without
// results: load that was never sent, reported as lost, not as errors.
type Merge struct {
	bound   time.Duration
	start   time.Time
	phaseAt func(time.Time) string
	sinks   []loadgen.Sink
	gens    []*genMerge
	held    resultHeap
	// last is the send time of the last result handed on.
	last time.Time
	// Out counts results handed on; Reordered those handed on behind an
	// earlier one (a generator broke the bound).
	Out, Reordered int64
	Errors         int64
}

type genMerge struct {
	name      string
	rate      float64
	streaming int
	watermark time.Time
	received  int64
	failed    int64
	reported  int64
	reports   int
	first     time.Time
	last      time.Time
	lost      []loadgen.LostLoad
	minDelay  time.Duration
	notes     []note
	pods      []string
}

type note struct {
	at   time.Time
	text string
}

// MergeOptions configure a Merge.
type MergeOptions struct {
	// Bound is how much older than its line's write time a result can be:
	// the request timeout plus the generators' flush interval.
	Bound time.Duration
	// Start is when the generators started sending.
	Start time.Time
	// PhaseAt names the phase in force at an instant.
	PhaseAt func(time.Time) string
}

// NewMerge merges the results of gens into sinks.
func NewMerge(gens []Generator, o MergeOptions, sinks ...loadgen.Sink) *Merge {
	m := &Merge{bound: o.Bound, start: o.Start, phaseAt: o.PhaseAt, sinks: sinks}
	for _, g := range gens {
		m.gens = append(m.gens, &genMerge{name: g.Name, rate: g.Rate, minDelay: math.MaxInt64})
	}
	return m
}

// Streaming counts a stream of generator i opening (+1) or ending (-1).
// A generator with no stream open does not hold the merge back.
func (m *Merge) Streaming(i, delta int) {
	m.gens[i].streaming += delta
}

// Note records what was seen of generator i at an instant (its pod made,
// deleted, restarted): it explains the windows it sent nothing in.
func (m *Merge) Note(i int, at time.Time, text, pod string) {
	g := m.gens[i]
	if pod != "" {
		g.pods = append(g.pods, pod)
		return
	}
	g.notes = append(g.notes, note{at, text})
}

// Reported records the accounting generator i's pod wrote at its end.
func (m *Merge) Reported(i int, a loadgen.Accounting) {
	m.gens[i].reported += a.Sent
	m.gens[i].reports++
}

// Add takes one result of generator i, from a line written at written
// (the generator's node's clock) and read at arrived (this machine's).
func (m *Merge) Add(i int, r *vegeta.Result, written, arrived time.Time) {
	g := m.gens[i]
	if w := written.Add(-m.bound); w.After(g.watermark) {
		g.watermark = w
	}
	if d := arrived.Sub(r.Timestamp.Add(r.Latency)); d < g.minDelay {
		g.minDelay = d
	}
	g.received++
	heap.Push(&m.held, held{gen: i, res: *r})
}

// Release hands on every held result older than the lowest watermark of
// the generators streaming. A generator not streaming now (between pods,
// or its pod not running) may stream again: whatever it sends then is
// younger than now less the bound.
func (m *Merge) Release(now time.Time) {
	mark := now.Add(-m.bound)
	for _, g := range m.gens {
		if g.streaming > 0 && g.watermark.Before(mark) {
			mark = g.watermark
		}
	}
	for m.held.Len() > 0 && m.held[0].res.Timestamp.Before(mark) {
		m.emit(heap.Pop(&m.held).(held))
	}
}

func (m *Merge) emit(h held) {
	r := &h.res
	g := m.gens[h.gen]
	if r.Timestamp.Before(m.last) {
		m.Reordered++
	} else {
		m.last = r.Timestamp
	}
	_, probe := loadgen.SplitAttack(r.Attack)
	r.Attack = loadgen.AttackName(m.phaseAt(r.Timestamp), probe)
	m.gap(g, r.Timestamp)
	if g.first.IsZero() {
		g.first = r.Timestamp
	}
	if r.Timestamp.After(g.last) {
		g.last = r.Timestamp
	}
	if r.Error != "" {
		m.Errors++
	}
	if !report.Succeeded(r.Code, r.Error) {
		g.failed++
	}
	m.Out++
	for _, s := range m.sinks {
		s.Add(r)
	}
}

// quiet is how long a generator may send nothing before the window counts
// as lost load: twenty of its intervals, and at least two seconds.
func (g *genMerge) quiet() time.Duration {
	if g.rate <= 0 {
		return time.Second
	}
	return max(2*time.Second, time.Duration(20*float64(time.Second)/g.rate))
}

// gap records a lost window when generator g's results resume at t after
// a quiet spell (or begin late).
func (m *Merge) gap(g *genMerge, t time.Time) {
	from := g.last
	if from.IsZero() {
		from = m.start
	}
	if t.Sub(from) > g.quiet() {
		g.addLost(from, t)
	}
}

func (g *genMerge) addLost(from, to time.Time) {
	secs := to.Sub(from).Seconds()
	l := loadgen.LostLoad{From: from, To: to, Seconds: secs, Requests: int64(math.Floor(secs * g.rate))}
	var why []string
	for _, n := range g.notes {
		if !n.at.Before(from.Add(-5*time.Second)) && !n.at.After(to.Add(5*time.Second)) {
			why = append(why, n.text)
		}
	}
	if len(why) == 0 {
		why = append(why, "no results while its pod was running")
	}
	l.Why = strings.Join(why, "; ")
	g.lost = append(g.lost, l)
}

// Close hands on everything still held, closes each generator's last
// window at end (when the load stopped) and returns every generator's
// accounting.
func (m *Merge) Close(end time.Time) []loadgen.GeneratorAccounting {
	for m.held.Len() > 0 {
		m.emit(heap.Pop(&m.held).(held))
	}
	var out []loadgen.GeneratorAccounting
	for _, g := range m.gens {
		if end.Sub(maxTime(g.last, m.start)) > g.quiet() {
			g.addLost(maxTime(g.last, m.start), end)
		}
		// It is scheduled until the stop, or its last request when it
		// sent on until its stop reached it.
		until := maxTime(end, g.last)
		a := loadgen.GeneratorAccounting{
			Name:         g.name,
			Pods:         g.pods,
			TargetRate:   g.rate,
			Scheduled:    int64(math.Floor(until.Sub(m.start).Seconds()*g.rate + 1e-9)),
			Received:     g.received,
			Failed:       g.failed,
			Reported:     g.reported,
			ReportedPods: g.reports,
			Lost:         g.lost,
		}
		for _, l := range g.lost {
			a.LostRequests += l.Requests
		}
		// A generator that stalled sends what it owes late when it
		// resumes (the pacer catches up): only what it never sent is lost.
		a.LostRequests = min(a.LostRequests, max(0, a.Scheduled-a.Received))
		if g.minDelay != math.MaxInt64 {
			a.DelayMs = float64(g.minDelay) / float64(time.Millisecond)
		}
		out = append(out, a)
	}
	return out
}

// Received counts the results taken so far.
func (m *Merge) Received() int64 {
	var n int64
	for _, g := range m.gens {
		n += g.received
	}
	return n
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// String describes a lost window for the timeline.
func describeLost(name string, l loadgen.LostLoad) string {
	return fmt.Sprintf("generator %s sent nothing for %.1fs (%s to %s): %d requests of its share never sent (%s)",
		name, l.Seconds, l.From.Format("15:04:05.000"), l.To.Format("15:04:05.000"), l.Requests, l.Why)
}

type held struct {
	gen int
	res vegeta.Result
}

type resultHeap []held

func (h resultHeap) Len() int           { return len(h) }
func (h resultHeap) Less(i, j int) bool { return h[i].res.Timestamp.Before(h[j].res.Timestamp) }
func (h resultHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *resultHeap) Push(x any)        { *h = append(*h, x.(held)) }
func (h *resultHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
