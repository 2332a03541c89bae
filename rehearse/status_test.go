package rehearse

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

// The live status knows the step in progress and how many of the plan's
// steps ended; a plain writer (not a terminal) gets whole lines.
func TestStatusTracksSteps(t *testing.T) {
	var out bytes.Buffer
	s := newStatus(&out)
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
