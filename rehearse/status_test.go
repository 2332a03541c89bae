package rehearse

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/timeline"
)

// The live status knows the step in progress and how many of the plan's
// steps ended; a plain writer (not a terminal) gets whole lines.
func TestStatusTracksSteps(t *testing.T) {
	var out bytes.Buffer
	s := newStatus(&out, false)
	assert.False(t, s.terminal, "a buffer is not a terminal")
	s.setSteps(3)
	tr := s.tracker(timeline.Discard)
	tr.Emit(timeline.Event{Source: timeline.SourceDriver, Kind: "group-start", Message: "workers"})
	tr.Emit(timeline.Event{Source: timeline.SourceDriver, Kind: "start", Subject: "w1", Message: "cordon"})
	tr.Emit(timeline.Event{Source: timeline.SourceDriver, Kind: "end", Subject: "w1", Message: "cordon"})
	tr.Emit(timeline.Event{Source: timeline.SourceDriver, Kind: "start", Subject: "w1", Message: "drain"})
	tr.Emit(timeline.Event{Source: timeline.SourceChecklist, Kind: "end", Subject: "kube-proxy"})
	_, step := s.get()
	assert.Equal(t, "w1: drain", step)
	assert.Equal(t, 1, s.done, "one action ended; groups and other sources do not count")
	s.say("hello %d", 1)
	assert.Equal(t, "rehearse: hello 1\n", out.String())
}

// A phase of known length says how long is left; the upgrade says which step
// of how many is in progress; a phase of unknown length says neither.
func TestStatusLineTimeLeftAndStep(t *testing.T) {
	s := newStatus(&bytes.Buffer{}, false)
	snap := loadgen.Snapshot{Elapsed: 95 * time.Second, Sent: 9500, Errors: 3}

	s.setPhase(PhaseBaseline)
	s.lasts(2 * time.Minute)
	start := s.phaseStart
	line := s.line(snap, 100, start.Add(50*time.Second))
	assert.Contains(t, line, "baseline")
	assert.Contains(t, line, "sent 9500  errors 3")
	assert.Contains(t, line, "1m10s left")
	assert.Contains(t, s.line(snap, 100, start.Add(3*time.Minute)), "0s left", "never a negative time")

	s.setPhase(PhaseUpgrade)
	s.setSteps(12)
	tr := s.tracker(timeline.Discard)
	tr.Emit(timeline.Event{Source: timeline.SourceDriver, Kind: "start", Subject: "kind-worker", Message: "cordon"})
	tr.Emit(timeline.Event{Source: timeline.SourceDriver, Kind: "end", Subject: "kind-worker", Message: "cordon"})
	tr.Emit(timeline.Event{Source: timeline.SourceDriver, Kind: "start", Subject: "kind-worker", Message: "drain"})
	line = s.line(snap, 100, time.Now())
	assert.Contains(t, line, "step 2 of 12: kind-worker: drain")
	assert.NotContains(t, line, "left", "the upgrade's length is not known")
}

// Verbose prints every step's start and its end with outcome and duration.
func TestStatusVerboseSaysEachStep(t *testing.T) {
	var out bytes.Buffer
	s := newStatus(&out, true)
	tr := s.tracker(timeline.Discard)
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	tr.Emit(timeline.Event{Time: t0, Source: timeline.SourceDriver, Kind: "start", Subject: "kind-worker", Message: "drain"})
	tr.Emit(timeline.Event{Time: t0.Add(12300 * time.Millisecond), Source: timeline.SourceDriver, Kind: "end", Subject: "kind-worker", Message: "drain", Outcome: "ok"})
	tr.Emit(timeline.Event{Time: t0, Source: timeline.SourceChecklist, Kind: "not-ready", Subject: "coredns"})
	assert.Equal(t, "rehearse: step kind-worker: drain: started\nrehearse: step kind-worker: drain: ok in 12.3s\n", out.String(),
		"checklist events are not steps")

	out.Reset()
	quiet := newStatus(&out, false)
	quiet.tracker(timeline.Discard).Emit(timeline.Event{Time: t0, Source: timeline.SourceDriver, Kind: "start", Subject: "kind-worker", Message: "drain"})
	assert.Empty(t, out.String(), "without verbose the step is only on the live line")
}
