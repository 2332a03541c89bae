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
