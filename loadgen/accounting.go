package loadgen

import (
	"math"
	"time"
)

// Accounting tells how faithfully the attack kept its schedule. An open-loop
// generator that falls behind must say so: requests it could not send on time
// are counted, never silently dropped (coordinated omission).
type Accounting struct {
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Seconds is how long the schedule ran.
	Seconds float64 `json:"seconds"`
	// TargetRate and AchievedRate are requests per second.
	TargetRate   float64 `json:"targetRate"`
	AchievedRate float64 `json:"achievedRate"`
	// Scheduled is how many requests the schedule called for while it ran.
	Scheduled int64 `json:"scheduled"`
	// Sent is how many went out; Missed = Scheduled - Sent never did.
	Sent   int64 `json:"sent"`
	Missed int64 `json:"missed"`
	// Late counts requests sent more than LateToleranceMs behind schedule.
	Late            int64             `json:"late"`
	LateToleranceMs float64           `json:"lateToleranceMs"`
	MaxLagMs        float64           `json:"maxLagMs"`
	Probes          []ProbeAccounting `json:"probes"`
	Phases          []PhaseSwitch     `json:"phases"`
	// Generators, when the load came from in-cluster generators, is each
	// one's share: what it was to send, what reached the results and the
	// windows it sent nothing in (missing load, not target errors).
	Generators []GeneratorAccounting `json:"generators,omitempty"`
}

// GeneratorAccounting is one in-cluster load generator's share of a run.
type GeneratorAccounting struct {
	Name string `json:"name"`
	// Node is where it ran; Pods every pod that was it, in order (a pod
	// killed and made again by its DaemonSet is a second one).
	Node string   `json:"node,omitempty"`
	Pods []string `json:"pods,omitempty"`
	// TargetRate is its share of the rate, in requests per second.
	TargetRate float64 `json:"targetRate"`
	// Scheduled is how many requests its share called for over the run.
	Scheduled int64 `json:"scheduled"`
	// Received is how many of its results reached the merged results.
	Received int64 `json:"received"`
	// Failed is how many of its results failed (an error, or a status
	// the judge counts as failed): which generators saw the failures,
	// from which nodes.
	Failed int64 `json:"failed"`
	// Reported is how many requests its pods said they sent, summed over
	// the pods that ended cleanly and said so; ReportedPods counts them.
	Reported     int64 `json:"reported"`
	ReportedPods int   `json:"reportedPods"`
	// Lost are the windows it sent nothing in, and LostRequests what its
	// share called for in them.
	Lost         []LostLoad `json:"lost,omitempty"`
	LostRequests int64      `json:"lostRequests"`
	// DelayMs is the shortest time from a request's end on the generator
	// to its result reaching rehearse: an upper bound of how far the
	// generator's clock can run behind this machine's.
	DelayMs float64 `json:"delayMs"`
}

// LostLoad is a window in which a generator sent nothing.
type LostLoad struct {
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Seconds  float64   `json:"seconds"`
	Requests int64     `json:"requests"`
	// Why is what was seen of the generator then, e.g. "pod rehearse-load-1-x7 deleted".
	Why string `json:"why,omitempty"`
}

// Shortfall is the fraction of the scheduled load the generators did not
// send because they were gone: lost requests over scheduled ones.
func (a Accounting) Shortfall() float64 {
	var lost, sched int64
	for _, g := range a.Generators {
		lost += g.LostRequests
		sched += g.Scheduled
	}
	if sched == 0 {
		return 0
	}
	return float64(lost) / float64(sched)
}

// ProbeAccounting is Accounting for one probe kind.
type ProbeAccounting struct {
	Probe        Probe   `json:"probe"`
	TargetRate   float64 `json:"targetRate"`
	AchievedRate float64 `json:"achievedRate"`
	Scheduled    int64   `json:"scheduled"`
	Sent         int64   `json:"sent"`
	Missed       int64   `json:"missed"`
	Late         int64   `json:"late"`
	MaxLagMs     float64 `json:"maxLagMs"`
}

// accounting counts the schedule from the start to scheduleEnd (the end of
// the duration, or an early stop), and the run itself until ended.
func (a *Attack) accounting(ended, scheduleEnd time.Time) Accounting {
	a.mu.Lock()
	started := a.started
	phases := append([]PhaseSwitch(nil), a.phases...)
	a.mu.Unlock()

	ran := scheduleEnd.Sub(started)
	if a.spec.Duration > 0 && ran > a.spec.Duration {
		ran = a.spec.Duration
	}
	acc := Accounting{
		Started:         started,
		Ended:           ended,
		Seconds:         ran.Seconds(),
		TargetRate:      a.spec.Rate,
		LateToleranceMs: ms(a.spec.LateTolerance),
		Phases:          phases,
	}
	for _, ps := range a.probes {
		sent := ps.sent.Load()
		sched := int64(math.Floor(ran.Seconds()*ps.rate + 1e-9))
		if sched < sent {
			sched = sent
		}
		pa := ProbeAccounting{
			Probe:      ps.probe,
			TargetRate: ps.rate,
			Scheduled:  sched,
			Sent:       sent,
			Missed:     sched - sent,
			Late:       ps.late.Load(),
			MaxLagMs:   ms(time.Duration(ps.maxLagNs.Load())),
		}
		if ran > 0 {
			pa.AchievedRate = float64(sent) / ran.Seconds()
		}
		acc.Probes = append(acc.Probes, pa)
		acc.Scheduled += pa.Scheduled
		acc.Sent += pa.Sent
		acc.Missed += pa.Missed
		acc.Late += pa.Late
		acc.MaxLagMs = max(acc.MaxLagMs, pa.MaxLagMs)
	}
	if ran > 0 {
		acc.AchievedRate = float64(acc.Sent) / ran.Seconds()
	}
	return acc
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
