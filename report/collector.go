package report

import (
	"container/heap"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
)

// Collector defaults.
const (
	// DefaultSampleSize is how many latencies per phase are kept, uniformly
	// sampled, for the distribution tests.
	DefaultSampleSize = 20000
	// DefaultReorderWindow is how long results may arrive out of send order
	// (a request completes at most its timeout after it was sent).
	DefaultReorderWindow = loadgen.DefaultTimeout + time.Second
	// MaxListedOutages bounds the outage windows kept per phase (longest kept).
	MaxListedOutages = 100
	// MaxDistinctErrors bounds the distinct error messages counted per phase.
	MaxDistinctErrors = 20
	// MaxStreams bounds the distinct streams (probe kinds and user targets),
	// entry points and nodes the collector tells apart, each; beyond it
	// they are counted together under OtherName.
	MaxStreams = 64
	// OtherName names the streams, entry points or nodes beyond MaxStreams.
	OtherName = "(other)"
	// MaxListedWindows bounds the failure windows of entry points and
	// nodes and the bursts kept per phase (those with most failures kept).
	MaxListedWindows = 200
	// StreamSampleSize is the most latencies kept per stream and phase,
	// uniformly sampled, for the stream's latency rule.
	StreamSampleSize = 5000
	// DefaultBurstFailures and DefaultBurstGap define an error burst: at
	// least this many failures of one stream, entry point or node, each
	// sent within the gap of the one before (successes in between do not
	// end it).
	DefaultBurstFailures = 5
	DefaultBurstGap      = time.Second

	histLowest    = 1              // µs
	histHighest   = 3600 * 1000000 // one hour in µs
	histSigFigs   = 3
	windowSigFigs = 2
)

// CollectorOptions configure a Collector. The zero value is usable.
type CollectorOptions struct {
	// PhaseOf names the phase of a result; by default the phase in its
	// attack name (see loadgen.SplitAttack), or "all" when it has none.
	PhaseOf func(*vegeta.Result) string
	// SampleSize is the per-phase latency sample size.
	SampleSize int
	// ReorderWindow is how far out of send order results may arrive.
	ReorderWindow time.Duration
	// OnWindow, when set, receives every per-second window as it closes.
	OnWindow func(Window)
	// KeepWindows keeps closed windows in the metrics (for plots). Live
	// collection leaves it off so memory does not grow with run length.
	KeepWindows bool
	// Seed makes the latency sample reproducible.
	Seed uint64
	// BurstFailures and BurstGap define an error burst (see
	// DefaultBurstFailures); zero takes the defaults.
	BurstFailures int64
	BurstGap      time.Duration
}

// Collector aggregates results as they arrive. It implements loadgen.Sink.
// It is not safe for concurrent use; loadgen calls sinks from one goroutine.
type Collector struct {
	opts   CollectorOptions
	rng    *rand.Rand
	phases map[string]*phaseAgg
	order  []string
	// pending holds results not yet settled, in send order; trackers
	// follow each stream, entry point and node in that order.
	pending  pendingHeap
	trackers map[streamKey]*failureTracker
	// names are the names told apart so far, per dimension (bounded).
	names   map[string]map[string]bool
	windows windowAgg
	maxTS   time.Time
	closed  *Metrics
}

// NewCollector returns an empty collector.
func NewCollector(opts CollectorOptions) *Collector {
	if opts.SampleSize <= 0 {
		opts.SampleSize = DefaultSampleSize
	}
	if opts.ReorderWindow <= 0 {
		opts.ReorderWindow = DefaultReorderWindow
	}
	if opts.PhaseOf == nil {
		opts.PhaseOf = defaultPhaseOf
	}
	if opts.BurstFailures <= 0 {
		opts.BurstFailures = DefaultBurstFailures
	}
	if opts.BurstGap <= 0 {
		opts.BurstGap = DefaultBurstGap
	}
	seed := opts.Seed
	if seed == 0 {
		seed = 0x5eed
	}
	c := &Collector{
		opts:     opts,
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		phases:   map[string]*phaseAgg{},
		trackers: map[streamKey]*failureTracker{},
		names:    map[string]map[string]bool{},
	}
	c.windows.open = map[int64]*windowState{}
	return c
}

func defaultPhaseOf(r *vegeta.Result) string {
	phase, _ := loadgen.SplitAttack(r.Attack)
	if phase == "" {
		return "all"
	}
	return phase
}

type phaseAgg struct {
	name        string
	first, last time.Time
	requests    int64
	failures    int64
	codes       map[uint16]int64
	classes     map[string]int64
	errors      map[string]int64
	errorsOther int64
	latency     *hdr.Histogram // successes, µs
	sumLatency  float64        // ns, successes
	sample      []float64      // successes' latency, ns, uniform sample
	seen        int64
	probes      map[loadgen.Probe]*countAgg
	targets     map[string]*countAgg
	nodes       map[string]*countAgg
	outages     []Outage
	windows     []Outage // entry points' and nodes' outages, every burst
	outageCount int64
	outageTotal time.Duration
}

type countAgg struct {
	requests, failures int64
	latency            *hdr.Histogram
	outages            int64
	longest            time.Duration
	// sample and seen: a uniform sample of successes' latency (ns), kept
	// for streams only.
	sample []float64
	seen   int64
}

func newHist(sig int) *hdr.Histogram { return hdr.New(histLowest, histHighest, sig) }

func (c *Collector) phase(name string, ts time.Time) *phaseAgg {
	p, ok := c.phases[name]
	if !ok {
		p = &phaseAgg{
			name: name, first: ts, last: ts,
			codes: map[uint16]int64{}, classes: map[string]int64{}, errors: map[string]int64{},
			latency: newHist(histSigFigs),
			probes:  map[loadgen.Probe]*countAgg{}, targets: map[string]*countAgg{}, nodes: map[string]*countAgg{},
		}
		c.phases[name] = p
		c.order = append(c.order, name)
	}
	return p
}

func recordUs(h *hdr.Histogram, d time.Duration) {
	us := d.Microseconds()
	if us < histLowest {
		us = histLowest
	}
	if us > histHighest {
		us = histHighest
	}
	_ = h.RecordValue(us)
}

// Dimensions in which failures are followed: the stream (probe kind or user
// target, as loadgen.SplitAttack names it), the entry point (the URL a
// request went to) and the node that answered (X-Canary-Node).
const (
	DimStream = "stream"
	DimTarget = "target"
	DimNode   = "node"
)

// fold returns name, or OtherName once MaxStreams names of the dimension
// are known, so that memory stays bounded whatever the URLs and headers.
func (c *Collector) fold(dim, name string) string {
	seen := c.names[dim]
	if seen == nil {
		seen = map[string]bool{}
		c.names[dim] = seen
	}
	if seen[name] {
		return name
	}
	if len(seen) >= MaxStreams {
		return OtherName
	}
	seen[name] = true
	return name
}

// Add aggregates one result.
func (c *Collector) Add(r *vegeta.Result) {
	name := c.opts.PhaseOf(r)
	_, rawProbe := loadgen.SplitAttack(r.Attack)
	probe := loadgen.Probe(c.fold(DimStream, string(rawProbe)))
	// A fragment is never sent: a URL's entry point is what comes before
	// it (the ledger's writes carry their keys there).
	entry, _, _ := strings.Cut(r.URL, "#")
	url := c.fold(DimTarget, entry)
	node := firstHeader(r, "X-Canary-Node")
	if node != "" {
		node = c.fold(DimNode, node)
	}
	p := c.phase(name, r.Timestamp)
	if r.Timestamp.Before(p.first) {
		p.first = r.Timestamp
	}
	if r.Timestamp.After(p.last) {
		p.last = r.Timestamp
	}
	ok := Succeeded(r.Code, r.Error)
	p.requests++
	p.codes[r.Code]++
	pr := p.probes[probe]
	if pr == nil {
		pr = &countAgg{latency: newHist(histSigFigs)}
		p.probes[probe] = pr
	}
	pr.requests++
	tg := p.targets[url]
	if tg == nil {
		tg = &countAgg{}
		p.targets[url] = tg
	}
	tg.requests++
	var nd *countAgg
	if node != "" {
		if nd = p.nodes[node]; nd == nil {
			nd = &countAgg{}
			p.nodes[node] = nd
		}
		nd.requests++
	}
	if ok {
		recordUs(p.latency, r.Latency)
		recordUs(pr.latency, r.Latency)
		p.sumLatency += float64(r.Latency)
		p.seen++
		if len(p.sample) < c.opts.SampleSize {
			p.sample = append(p.sample, float64(r.Latency))
		} else if j := c.rng.Int64N(p.seen); j < int64(c.opts.SampleSize) {
			p.sample[j] = float64(r.Latency)
		}
		size := min(c.opts.SampleSize, StreamSampleSize)
		pr.seen++
		if len(pr.sample) < size {
			pr.sample = append(pr.sample, float64(r.Latency))
		} else if j := c.rng.Int64N(pr.seen); j < int64(size) {
			pr.sample[j] = float64(r.Latency)
		}
	} else {
		p.failures++
		pr.failures++
		tg.failures++
		if nd != nil {
			nd.failures++
		}
		p.classes[Classify(r.Code, r.Error)]++
		msg := r.Error
		if _, known := p.errors[msg]; known || len(p.errors) < MaxDistinctErrors {
			p.errors[msg]++
		} else {
			p.errorsOther++
		}
	}

	if r.Timestamp.After(c.maxTS) {
		c.maxTS = r.Timestamp
	}
	c.windows.add(c, r, name, ok)
	pr2 := pendingResult{ts: r.Timestamp, end: r.Timestamp.Add(r.Latency), ok: ok, phase: name,
		probe: string(probe), target: url, node: node}
	if !ok {
		pr2.err = r.Error
		if pr2.err == "" {
			pr2.err = strconv.Itoa(int(r.Code))
		}
	}
	heap.Push(&c.pending, pr2)
	c.flush(false)
}

func firstHeader(r *vegeta.Result, key string) string {
	if v := r.Headers[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// flush settles what can no longer be reordered: outage runs, bursts and
// windows older than the reorder window. At close everything settles.
func (c *Collector) flush(all bool) {
	horizon := c.maxTS.Add(-c.opts.ReorderWindow)
	for c.pending.Len() > 0 && (all || c.pending[0].ts.Before(horizon)) {
		pr := heap.Pop(&c.pending).(pendingResult)
		c.track(streamKey{DimStream, pr.probe}, pr)
		c.track(streamKey{DimTarget, pr.target}, pr)
		if pr.node != "" {
			c.track(streamKey{DimNode, pr.node}, pr)
		}
	}
	if all {
		keys := make([]streamKey, 0, len(c.trackers))
		for k := range c.trackers {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].dim != keys[j].dim {
				return keys[i].dim < keys[j].dim
			}
			return keys[i].name < keys[j].name
		})
		for _, k := range keys {
			c.trackers[k].finish(c.opts.BurstFailures, c.addWindow)
		}
	}
	c.windows.flush(c, horizon, all)
}

func (c *Collector) track(k streamKey, pr pendingResult) {
	t := c.trackers[k]
	if t == nil {
		t = &failureTracker{key: k}
		c.trackers[k] = t
	}
	t.step(pr, c.opts.BurstGap, c.opts.BurstFailures, c.addWindow)
}

// addWindow files a settled outage or burst under the phase it started in.
func (c *Collector) addWindow(o Outage) {
	p := c.phases[o.Phase]
	if p == nil {
		return
	}
	if o.Kind == WindowOutage && o.Probe != "" {
		c.addOutage(p, o)
		return
	}
	if o.Kind == WindowOutage {
		a := p.targets[o.Target]
		if o.Node != "" {
			a = p.nodes[o.Node]
		}
		if a != nil {
			a.outages++
			a.longest = max(a.longest, o.duration())
		}
	}
	p.windows = keepMost(p.windows, o, MaxListedWindows, func(o Outage) float64 { return float64(o.Failures) })
}

// keepMost appends o to list while it is shorter than n, else puts it in
// place of the smallest by weight when o weighs more.
func keepMost(list []Outage, o Outage, n int, weight func(Outage) float64) []Outage {
	if len(list) < n {
		return append(list, o)
	}
	small := 0
	for i := range list {
		if weight(list[i]) < weight(list[small]) {
			small = i
		}
	}
	if weight(o) > weight(list[small]) {
		list[small] = o
	}
	return list
}

func (c *Collector) addOutage(p *phaseAgg, o Outage) {
	d := o.duration()
	p.outageCount++
	p.outageTotal += d
	if pr := p.probes[loadgen.Probe(o.Probe)]; pr != nil {
		pr.outages++
		pr.longest = max(pr.longest, d)
	}
	// Keep the longest.
	p.outages = keepMost(p.outages, o, MaxListedOutages, func(o Outage) float64 { return float64(o.duration()) })
}

// Kinds of failure window.
const (
	// WindowOutage is a span of consecutive failures.
	WindowOutage = "outage"
	// WindowBurst is a run of failures each sent within the burst gap of
	// the one before, successes in between allowed (see DefaultBurstGap).
	WindowBurst = "burst"
)

// Outage is a window of failure of one stream (Probe), entry point (Target)
// or node (Node); exactly one of the three is set.
//
// An outage (Kind "outage", or empty in older documents) is a span of
// consecutive failed requests, in send order: from the first failure's send
// time to the next success's send time (or, when none followed, the end of
// the last failure). A burst (Kind "burst") is a run of at least the burst
// count of failures, each sent within the burst gap of the previous one,
// from the first failure's send time to the end of the last.
type Outage struct {
	Phase    string    `json:"phase"`
	Probe    string    `json:"probe"`
	Kind     string    `json:"kind,omitempty"`
	Target   string    `json:"target,omitempty"`
	Node     string    `json:"node,omitempty"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Seconds  float64   `json:"seconds"`
	Failures int64     `json:"failures"`
	// FirstError is the error of the window's first failed request.
	FirstError string `json:"firstError,omitempty"`
}

// Subject names what the window is of: its stream, entry point or node.
func (o Outage) Subject() (dim, name string) {
	switch {
	case o.Target != "":
		return DimTarget, o.Target
	case o.Node != "":
		return DimNode, o.Node
	}
	return DimStream, o.Probe
}

func (o Outage) duration() time.Duration { return o.End.Sub(o.Start) }

type pendingResult struct {
	ts, end time.Time
	ok      bool
	phase   string
	probe   string
	target  string
	node    string
	err     string // failures only
}

type pendingHeap []pendingResult

func (h pendingHeap) Len() int           { return len(h) }
func (h pendingHeap) Less(i, j int) bool { return h[i].ts.Before(h[j].ts) }
func (h pendingHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)        { *h = append(*h, x.(pendingResult)) }
func (h *pendingHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// streamKey names one stream, entry point or node.
type streamKey struct{ dim, name string }

// failureTracker follows the failures of one stream, entry point or node in
// send order: the outage in progress and the burst in progress. Its memory
// is fixed.
type failureTracker struct {
	key     streamKey
	in      bool
	cur     Outage
	lastEnd time.Time

	burstOn   bool
	burst     Outage
	burstLast time.Time
}

func (t *failureTracker) window(kind string, r pendingResult) Outage {
	o := Outage{Phase: r.phase, Kind: kind, Start: r.ts, FirstError: r.err}
	switch t.key.dim {
	case DimTarget:
		o.Target = t.key.name
	case DimNode:
		o.Node = t.key.name
	default:
		o.Probe = t.key.name
	}
	return o
}

func (t *failureTracker) step(r pendingResult, gap time.Duration, burstMin int64, emit func(Outage)) {
	if r.ok {
		if t.in {
			t.in = false
			o := t.cur
			o.End = r.ts
			o.Seconds = o.duration().Seconds()
			emit(o)
		}
		return
	}
	if !t.in {
		t.in = true
		t.cur = t.window(WindowOutage, r)
	}
	t.cur.Failures++
	t.lastEnd = r.end

	if t.burstOn && r.ts.Sub(t.burstLast) > gap {
		t.closeBurst(burstMin, emit)
	}
	if !t.burstOn {
		t.burstOn = true
		t.burst = t.window(WindowBurst, r)
	}
	t.burst.Failures++
	t.burst.End = maxTime(t.burst.End, r.end)
	t.burstLast = r.ts
}

func (t *failureTracker) closeBurst(burstMin int64, emit func(Outage)) {
	t.burstOn = false
	if t.burst.Failures >= burstMin {
		o := t.burst
		o.Seconds = o.duration().Seconds()
		emit(o)
	}
}

func (t *failureTracker) finish(burstMin int64, emit func(Outage)) {
	if t.in {
		t.in = false
		o := t.cur
		o.End = t.lastEnd
		o.Seconds = o.duration().Seconds()
		emit(o)
	}
	if t.burstOn {
		t.closeBurst(burstMin, emit)
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Window is one second of results.
type Window struct {
	// Start is the window's start; Offset its start in seconds since the
	// first result of the recording.
	Start    time.Time `json:"start"`
	Offset   int64     `json:"offset"`
	Phase    string    `json:"phase"`
	Requests int64     `json:"requests"`
	Failures int64     `json:"failures"`
	P50Ms    float64   `json:"p50Ms"`
	P99Ms    float64   `json:"p99Ms"`
	MaxMs    float64   `json:"maxMs"`
}

type windowState struct {
	w      Window
	hist   *hdr.Histogram
	phases map[string]int64
}

type windowAgg struct {
	origin time.Time
	open   map[int64]*windowState
	pool   []*hdr.Histogram
	closed []Window
}

func (wa *windowAgg) add(c *Collector, r *vegeta.Result, phase string, ok bool) {
	if wa.origin.IsZero() {
		wa.origin = r.Timestamp.Truncate(time.Second)
	}
	off := int64(r.Timestamp.Sub(wa.origin) / time.Second)
	if r.Timestamp.Before(wa.origin) {
		off = -1 - int64(wa.origin.Sub(r.Timestamp)/time.Second)
	}
	ws := wa.open[off]
	if ws == nil {
		var h *hdr.Histogram
		if n := len(wa.pool); n > 0 {
			h, wa.pool = wa.pool[n-1], wa.pool[:n-1]
			h.Reset()
		} else {
			h = newHist(windowSigFigs)
		}
		ws = &windowState{w: Window{Start: wa.origin.Add(time.Duration(off) * time.Second), Offset: off}, hist: h, phases: map[string]int64{}}
		wa.open[off] = ws
	}
	ws.w.Requests++
	ws.phases[phase]++
	if ok {
		recordUs(ws.hist, r.Latency)
	} else {
		ws.w.Failures++
	}
}

func (wa *windowAgg) flush(c *Collector, horizon time.Time, all bool) {
	if len(wa.open) == 0 {
		return
	}
	var ready []int64
	for off, ws := range wa.open {
		if all || ws.w.Start.Add(time.Second).Before(horizon) {
			ready = append(ready, off)
		}
	}
	sort.Slice(ready, func(i, j int) bool { return ready[i] < ready[j] })
	for _, off := range ready {
		ws := wa.open[off]
		delete(wa.open, off)
		w := ws.w
		if ws.hist.TotalCount() > 0 {
			w.P50Ms = usToMs(ws.hist.ValueAtQuantile(50))
			w.P99Ms = usToMs(ws.hist.ValueAtQuantile(99))
			w.MaxMs = usToMs(ws.hist.Max())
		}
		var best int64
		for name, n := range ws.phases {
			if n > best || (n == best && name < w.Phase) {
				best, w.Phase = n, name
			}
		}
		wa.pool = append(wa.pool, ws.hist)
		if c.opts.OnWindow != nil {
			c.opts.OnWindow(w)
		}
		if c.opts.KeepWindows {
			wa.closed = append(wa.closed, w)
		}
	}
}

func usToMs(us int64) float64 { return float64(us) / 1000 }

// Close settles everything and returns the metrics. Further Adds are ignored
// by the returned metrics; Close may be called again and returns the same.
func (c *Collector) Close() *Metrics {
	if c.closed != nil {
		return c.closed
	}
	c.flush(true)
	m := &Metrics{SchemaVersion: SchemaVersion}
	for _, name := range c.order {
		m.Phases = append(m.Phases, c.phases[name].summary())
	}
	m.Windows = c.windows.closed
	c.closed = m
	return m
}

func (p *phaseAgg) summary() *Phase {
	ph := &Phase{
		Name:     p.name,
		Start:    p.first,
		End:      p.last,
		Seconds:  p.last.Sub(p.first).Seconds(),
		Requests: p.requests,
		Failures: p.failures,
		Codes:    map[string]int64{},
		Classes:  map[string]int64{},
		Latency:  latencySummary(p.latency),
	}
	ph.Successes = p.requests - p.failures
	if p.requests > 0 {
		ph.SuccessRatio = float64(ph.Successes) / float64(p.requests)
	}
	if p.requests > 1 && ph.Seconds > 0 {
		ph.Rate = float64(p.requests-1) / ph.Seconds
	}
	if p.seen > 0 {
		ph.Latency.MeanMs = p.sumLatency / float64(p.seen) / 1e6
	}
	for code, n := range p.codes {
		ph.Codes[strconv.Itoa(int(code))] = n
	}
	for class, n := range p.classes {
		ph.Classes[class] = n
	}
	for msg, n := range p.errors {
		ph.Errors = append(ph.Errors, ErrorCount{Error: msg, Count: n})
	}
	if p.errorsOther > 0 {
		ph.Errors = append(ph.Errors, ErrorCount{Error: "(other errors)", Count: p.errorsOther})
	}
	sort.Slice(ph.Errors, func(i, j int) bool {
		if ph.Errors[i].Count != ph.Errors[j].Count {
			return ph.Errors[i].Count > ph.Errors[j].Count
		}
		return ph.Errors[i].Error < ph.Errors[j].Error
	})
	outs := append([]Outage(nil), p.outages...)
	sort.Slice(outs, func(i, j int) bool { return outs[i].Start.Before(outs[j].Start) })
	ph.Outages = OutageSummary{Count: p.outageCount, TotalSeconds: p.outageTotal.Seconds(), Windows: outs}
	for _, o := range outs {
		ph.Outages.LongestSeconds = max(ph.Outages.LongestSeconds, o.Seconds)
	}
	for _, probe := range sortedKeys(p.probes) {
		a := p.probes[probe]
		ph.Probes = append(ph.Probes, ProbeSummary{
			Probe: string(probe), Requests: a.requests, Failures: a.failures,
			SuccessRatio: ratio(a.requests-a.failures, a.requests), Latency: latencySummary(a.latency),
			Outages: a.outages, LongestOutageSeconds: a.longest.Seconds(),
			sample: append([]float64(nil), a.sample...),
		})
	}
	for _, u := range sortedKeys(p.targets) {
		ph.Targets = append(ph.Targets, p.targets[u].count(u))
	}
	for _, n := range sortedKeys(p.nodes) {
		ph.Nodes = append(ph.Nodes, p.nodes[n].count(n))
	}
	ph.FailureWindows = append([]Outage(nil), p.windows...)
	sort.Slice(ph.FailureWindows, func(i, j int) bool {
		a, b := ph.FailureWindows[i], ph.FailureWindows[j]
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		if a.Kind != b.Kind {
			return a.Kind > b.Kind
		}
		return a.Target+a.Node < b.Target+b.Node
	})
	ph.sample = append([]float64(nil), p.sample...)
	return ph
}

func (a *countAgg) count(name string) CountSummary {
	return CountSummary{Name: name, Requests: a.requests, Failures: a.failures,
		Outages: a.outages, LongestOutageSeconds: a.longest.Seconds()}
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func latencySummary(h *hdr.Histogram) LatencySummary {
	if h.TotalCount() == 0 {
		return LatencySummary{}
	}
	return LatencySummary{
		Count:  h.TotalCount(),
		MinMs:  usToMs(h.Min()),
		MeanMs: h.Mean() / 1000,
		P50Ms:  usToMs(h.ValueAtQuantile(50)),
		P90Ms:  usToMs(h.ValueAtQuantile(90)),
		P95Ms:  usToMs(h.ValueAtQuantile(95)),
		P99Ms:  usToMs(h.ValueAtQuantile(99)),
		P999Ms: usToMs(h.ValueAtQuantile(99.9)),
		MaxMs:  usToMs(h.Max()),
	}
}
