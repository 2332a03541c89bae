package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/net/http/httpguts"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Probe is a kind of request stream. Disruption shows differently on each:
// a reused connection survives an endpoint change it should not, a fresh one
// exercises every hop of connection set-up (Service routing, conntrack, SYN).
type Probe string

const (
	// ProbeReuse sends over keep-alive connections that are reused.
	ProbeReuse Probe = "reuse"
	// ProbeFresh opens a new connection for every request.
	ProbeFresh Probe = "fresh"
)

// Probes lists the probe kinds in their canonical order.
func Probes() []Probe { return []Probe{ProbeReuse, ProbeFresh} }

// ParseProbe turns a name into a Probe: a canary probe kind (reuse,
// fresh) or the stream of a user target (target:NAME, see TargetProbe).
func ParseProbe(s string) (Probe, error) {
	p := Probe(s)
	if p.IsCanary() {
		return p, nil
	}
	if name, ok := p.Target(); ok {
		if len(validation.IsDNS1123Label(name)) > 0 {
			return "", fmt.Errorf("probe %q: %q is not a target name (a DNS-1123 label)", s, name)
		}
		return p, nil
	}
	return "", fmt.Errorf("unknown probe kind %q; known: %s, %s, %sNAME", s, ProbeReuse, ProbeFresh, TargetProbePrefix)
}

// Defaults of a Spec.
const (
	DefaultRate          = 100.0
	DefaultTimeout       = 10 * time.Second
	DefaultMaxWorkers    = 512
	DefaultPhase         = "baseline"
	DefaultLateTolerance = 10 * time.Millisecond
	// MaxBodyBytes is how much of a response body is read; bodies are not recorded.
	MaxBodyBytes = 4096
)

// Spec describes one attack: the canary's probe streams, over Targets or
// Rotation, and a stream per user target. A spec without Targets and
// Rotation runs no canary probes, only its UserTargets.
type Spec struct {
	// Targets are the canary's URLs in rotation; requests go to them
	// round-robin. Ignored when Rotation is set.
	Targets []string
	// Rotation, when set, supplies the canary's targets and may change them
	// while the attack runs.
	Rotation *Rotation
	// Host, when set, is the Host header of the canary's requests: the
	// virtual host an ingress controller routes to the canary.
	Host string
	// UserTargets are the user's applications, each a stream of its own.
	UserTargets []Target
	// Rate is the total request rate per second over all streams. Each
	// canary probe kind weighs 1 and each user target its Share: a stream
	// sends Rate times its weight over the sum of the weights (without
	// user targets, Rate split evenly over Probes).
	Rate float64
	// Duration bounds the attack; zero runs until the context ends or Stop.
	Duration time.Duration
	// Probes are the canary's probe kinds run side by side; empty means all
	// when the spec has canary targets, none otherwise.
	Probes []Probe
	// Timeout bounds one request.
	Timeout time.Duration
	// MaxWorkers bounds the concurrent requests of each stream. When all are
	// busy, requests go out late; Accounting counts them.
	MaxWorkers uint64
	// Phase is the phase in force at the start.
	Phase string
	// LateTolerance is how far behind schedule a request may be sent before
	// it counts as late.
	LateTolerance time.Duration
}

func (s Spec) withDefaults() Spec {
	if s.Rate == 0 {
		s.Rate = DefaultRate
	}
	if len(s.Probes) == 0 && s.hasCanary() {
		s.Probes = Probes()
	}
	if s.UserTargets != nil {
		ts := make([]Target, len(s.UserTargets))
		for i, t := range s.UserTargets {
			ts[i] = t.withDefaults()
		}
		s.UserTargets = ts
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.MaxWorkers == 0 {
		s.MaxWorkers = DefaultMaxWorkers
	}
	if s.Phase == "" {
		s.Phase = DefaultPhase
	}
	if s.LateTolerance == 0 {
		s.LateTolerance = DefaultLateTolerance
	}
	return s
}

// hasCanary tells whether the spec sends the canary's probes: it has
// canary targets.
func (s Spec) hasCanary() bool { return s.Rotation != nil || len(s.Targets) > 0 }

// stream is one attacker's worth of a spec: a canary probe kind or a user
// target, and its share of the rate.
type stream struct {
	probe  Probe
	rate   float64
	target *Target
}

// streams lists the spec's streams, canary probes first, each with its
// rate: Rate times its weight over the sum of the weights. The spec has
// its defaults applied.
func (s Spec) streams() []stream {
	var out []stream
	weight := 0.0
	for _, p := range s.Probes {
		out = append(out, stream{probe: p, rate: 1})
		weight++
	}
	for i := range s.UserTargets {
		t := &s.UserTargets[i]
		if t.Rate > 0 {
			continue
		}
		out = append(out, stream{probe: TargetProbe(t.Name), rate: t.Share, target: t})
		weight += t.Share
	}
	for i := range out {
		out[i].rate = s.Rate * out[i].rate / weight
	}
	// Targets with a rate of their own are outside the split.
	for i := range s.UserTargets {
		if t := &s.UserTargets[i]; t.Rate > 0 {
			out = append(out, stream{probe: TargetProbe(t.Name), rate: t.Rate, target: t})
		}
	}
	return out
}

// Validate reports the first invalid field of the spec, by its name.
func (s Spec) Validate() error {
	explicitProbes := len(s.Probes) > 0
	s = s.withDefaults()
	switch {
	case s.Rotation != nil:
	case len(s.Targets) == 0 && len(s.UserTargets) == 0:
		return errors.New("targets: at least one target URL (or a user target) is required")
	default:
		for i, t := range s.Targets {
			if err := validateTarget(t); err != nil {
				return fmt.Errorf("targets[%d]: %w", i, err)
			}
		}
	}
	if !s.hasCanary() && explicitProbes {
		return errors.New("probes: canary probe kinds given without canary targets (Targets or Rotation)")
	}
	names := map[string]bool{}
	for i, t := range s.UserTargets {
		if err := t.validate(); err != nil {
			return fmt.Errorf("userTargets[%d]: %w", i, err)
		}
		if names[t.Name] {
			return fmt.Errorf("userTargets[%d]: name: %q given twice", i, t.Name)
		}
		names[t.Name] = true
	}
	if s.Rate < 0 || math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0) {
		return fmt.Errorf("rate: %v is not a positive number of requests per second", s.Rate)
	}
	for _, st := range s.streams() {
		if st.rate >= 1 {
			continue
		}
		if len(s.UserTargets) == 0 {
			return fmt.Errorf("rate: %v/s split over %d probe kinds is below 1/s per probe", s.Rate, len(s.Probes))
		}
		return fmt.Errorf("rate: %v/s split by weight over %d streams leaves %s %.3g/s, below 1/s", s.Rate, len(s.Probes)+len(s.UserTargets), st.probe, st.rate)
	}
	if s.Duration < 0 {
		return fmt.Errorf("duration: %s is negative", s.Duration)
	}
	if s.Timeout < 0 {
		return fmt.Errorf("timeout: %s is negative", s.Timeout)
	}
	seen := map[Probe]bool{}
	for _, p := range s.Probes {
		if !p.IsCanary() {
			return fmt.Errorf("probes: unknown probe kind %q; known: %s, %s", p, ProbeReuse, ProbeFresh)
		}
		if seen[p] {
			return fmt.Errorf("probes: %q given twice", p)
		}
		seen[p] = true
	}
	if err := validatePhase(s.Phase); err != nil {
		return fmt.Errorf("phase: %w", err)
	}
	if s.Host != "" && !httpguts.ValidHostHeader(s.Host) {
		return fmt.Errorf("host: %q is not a valid Host header", s.Host)
	}
	return nil
}

func validateTarget(t string) error {
	u, err := url.Parse(t)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", t, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: scheme must be http or https", t)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", t)
	}
	return nil
}

func validatePhase(p string) error {
	if p == "" {
		return errors.New("empty phase name")
	}
	if strings.ContainsAny(p, "/ \t\n") {
		return fmt.Errorf("phase name %q may not contain '/' or white space", p)
	}
	return nil
}

// AttackName is the vegeta attack name of a result: "phase/probe".
func AttackName(phase string, probe Probe) string { return phase + "/" + string(probe) }

// SplitAttack is the inverse of AttackName. A name written by another tool
// (no '/') is taken whole as the phase, with an empty probe.
func SplitAttack(name string) (phase string, probe Probe) {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i], Probe(name[i+1:])
	}
	return name, ""
}

// Sink receives every result as it arrives, already tagged. Sinks of one
// attack are called from a single goroutine, one result at a time, and must
// not keep the pointer after returning.
type Sink interface {
	Add(*vegeta.Result)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(*vegeta.Result)

// Add calls f.
func (f SinkFunc) Add(r *vegeta.Result) { f(r) }

// Attack is one continuous, phase-tagged load run.
type Attack struct {
	spec Spec

	mu     sync.Mutex
	phases []PhaseSwitch

	started   time.Time
	attackers []*vegeta.Attacker
	stopOnce  sync.Once
	stopped   chan struct{}

	probes []*probeState
}

// PhaseSwitch records when a phase came in force.
type PhaseSwitch struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"`
}

// probeState is one stream of an attack: a canary probe kind or a user
// target, with its own attacker, pacer and counters.
type probeState struct {
	probe     Probe
	rate      float64
	keepAlive bool
	targeter  vegeta.Targeter
	maxBody   int64
	// expect judges a user target's responses; nil for the canary.
	expect   *expectation
	sent     atomic.Int64
	errors   atomic.Int64
	late     atomic.Int64
	maxLagNs atomic.Int64
}

// New validates the spec and prepares an attack.
func New(spec Spec) (*Attack, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	spec = spec.withDefaults()
	rot := spec.Rotation
	if rot == nil && len(spec.Targets) > 0 {
		rot = NewRotation(spec.Targets)
	}
	a := &Attack{spec: spec, stopped: make(chan struct{})}
	for _, st := range spec.streams() {
		ps := &probeState{probe: st.probe, rate: st.rate, keepAlive: st.probe == ProbeReuse, maxBody: MaxBodyBytes}
		if t := st.target; t != nil {
			trot := t.Rotation
			if trot == nil {
				trot = NewRotation(t.URLs)
			}
			ps.keepAlive = t.Probe == ProbeReuse
			ps.targeter = t.targeter(trot)
			if t.Expect.BodyContains != "" {
				ps.maxBody = MaxExpectBodyBytes
			}
			ps.expect = newExpectation(t.Expect, int(ps.maxBody))
		} else if spec.Host != "" {
			ps.targeter = Target{Method: http.MethodGet, Headers: map[string]string{"Host": spec.Host}}.targeter(rot)
		} else {
			ps.targeter = rot.targeter()
		}
		a.probes = append(a.probes, ps)
	}
	return a, nil
}

// SetPhase switches the phase that tags requests sent from now on. Traffic
// does not pause.
func (a *Attack) SetPhase(name string) error {
	if err := validatePhase(name); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.phases = append(a.phases, PhaseSwitch{Name: name, At: time.Now()})
	return nil
}

// Phases returns the phase switches so far, the first being the start.
func (a *Attack) Phases() []PhaseSwitch {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]PhaseSwitch(nil), a.phases...)
}

func (a *Attack) phaseAt(t time.Time) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	i := sort.Search(len(a.phases), func(i int) bool { return a.phases[i].At.After(t) })
	if i == 0 {
		return a.phases[0].Name
	}
	return a.phases[i-1].Name
}

// Stop ends the attack early; Run returns once in-flight requests finish.
func (a *Attack) Stop() {
	a.stopOnce.Do(func() { close(a.stopped) })
}

// Run sends load until the duration elapses, ctx ends or Stop is called,
// handing every result to the sinks. It returns the schedule accounting.
func (a *Attack) Run(ctx context.Context, sinks ...Sink) (Accounting, error) {
	results := make(chan *vegeta.Result, 1024)
	var wg sync.WaitGroup

	a.mu.Lock()
	a.started = time.Now()
	a.phases = append([]PhaseSwitch{{Name: a.spec.Phase, At: a.started}}, a.phases...)
	a.mu.Unlock()

	for _, ps := range a.probes {
		atk := vegeta.NewAttacker(
			vegeta.KeepAlive(ps.keepAlive),
			vegeta.Timeout(a.spec.Timeout),
			vegeta.Workers(min(a.spec.MaxWorkers, 16)),
			vegeta.MaxWorkers(a.spec.MaxWorkers),
			vegeta.MaxBody(ps.maxBody),
			vegeta.Connections(int(min(a.spec.MaxWorkers, 10000))),
			vegeta.Redirects(vegeta.NoFollow),
		)
		a.attackers = append(a.attackers, atk)
		pacer := ratePacer(ps.rate)
		interval := float64(time.Second) / ps.rate
		began := time.Now()
		ch := atk.Attack(ps.targeter, pacer, a.spec.Duration, string(ps.probe))
		wg.Add(1)
		go func(ps *probeState) {
			defer wg.Done()
			for r := range ch {
				lag := r.Timestamp.Sub(began) - time.Duration(float64(r.Seq+1)*interval)
				if lag > a.spec.LateTolerance {
					ps.late.Add(1)
				}
				for {
					cur := ps.maxLagNs.Load()
					if int64(lag) <= cur || ps.maxLagNs.CompareAndSwap(cur, int64(lag)) {
						break
					}
				}
				ps.sent.Add(1)
				if ps.expect != nil {
					ps.expect.check(r)
				}
				if r.Error != "" {
					ps.errors.Add(1)
				}
				r.Attack = AttackName(a.phaseAt(r.Timestamp), ps.probe)
				r.Body = nil
				r.Headers = keepCanaryHeaders(r.Headers)
				results <- r
			}
		}(ps)
	}

	// cut is when the schedule stopped calling for requests: a stop or
	// cancellation, after which no slot counts as missed while in-flight
	// requests drain.
	cut := make(chan time.Time, 1)
	go func() {
		select {
		case <-ctx.Done():
		case <-a.stopped:
		}
		cut <- time.Now()
		for _, atk := range a.attackers {
			atk.Stop()
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()

	for r := range results {
		for _, s := range sinks {
			s.Add(r)
		}
	}
	ended := time.Now()
	a.Stop()
	scheduleEnd := <-cut
	if scheduleEnd.After(ended) {
		scheduleEnd = ended
	}
	return a.accounting(ended, scheduleEnd), nil
}

// Snapshot is a live view of an attack's counters.
type Snapshot struct {
	Elapsed time.Duration
	Phase   string
	Sent    int64
	Errors  int64
	Late    int64
}

// Snapshot returns live counters, safe to call while Run is going.
func (a *Attack) Snapshot() Snapshot {
	a.mu.Lock()
	started := a.started
	phase := a.spec.Phase
	if n := len(a.phases); n > 0 {
		phase = a.phases[n-1].Name
	}
	a.mu.Unlock()
	s := Snapshot{Phase: phase}
	if !started.IsZero() {
		s.Elapsed = time.Since(started)
	}
	for _, ps := range a.probes {
		s.Sent += ps.sent.Load()
		s.Errors += ps.errors.Load()
		s.Late += ps.late.Load()
	}
	return s
}

// ratePacer sends hit n (counting from 0) at (n+1)/rate seconds, like
// vegeta's constant pacer, but for any positive rate, fractional ones too.
// Running late, it sends at once: the lateness is accounted per result.
func ratePacer(rate float64) vegeta.Pacer {
	interval := float64(time.Second) / rate
	return pacer{rate: rate, interval: interval}
}

type pacer struct{ rate, interval float64 }

func (p pacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return time.Duration(float64(hits+1)*p.interval) - elapsed, false
}

func (p pacer) Rate(time.Duration) float64 { return p.rate }

// keepCanaryHeaders keeps only the canary's identity headers of a response,
// which is what ties a result to the pod and node that served it.
func keepCanaryHeaders(h map[string][]string) map[string][]string {
	var out map[string][]string
	for k, v := range h {
		if strings.HasPrefix(k, "X-Canary-") {
			if out == nil {
				out = make(map[string][]string, 3)
			}
			out[k] = v
		}
	}
	return out
}
