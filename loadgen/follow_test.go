package loadgen_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/timeline"
)

// The candidates follow the cluster: a node that joins enters the rotation
// only once its checks pass, a deleted node leaves it at once and gets
// nothing from then on, and the others keep their place.
func TestHealthCheckFollowsCandidates(t *testing.T) {
	a, b, c := newNode(t, "node-a"), newNode(t, "node-b"), newNode(t, "node-c")
	rot := loadgen.NewRotation(nil)
	rec := timeline.NewRecorder(nil)
	follow := make(chan []string)
	stop := runCheck(t, loadgen.HealthCheck{
		Candidates: []string{a.url, b.url},
		Interval:   5 * time.Millisecond,
		Timeout:    time.Second,
		Emitter:    rec,
		Follow:     follow,
	}, rot)
	eventually(t, "a and b in rotation", func() bool { return len(rot.Targets()) == 2 })

	// c joins, a is deleted: a is retired at once, c waits for its checks
	// (DefaultJoinRiseThreshold of them: a node that just joined waits
	// longer than one that comes back).
	follow <- []string{b.url, c.url}
	eventually(t, "a retired", func() bool { return !contains(rot.Targets(), a.url) })
	eventually(t, "c in rotation", func() bool { return len(rot.Targets()) == 2 })
	assert.Equal(t, []string{b.url, c.url}, rot.Targets())
	events := eventsOf(rec)
	require.GreaterOrEqual(t, len(events), 3, "%v", events)
	assert.Equal(t, wantEvent{"added", c.url, "new candidate: in the rotation after 10 passed checks"}, events[0])
	assert.Equal(t, wantEvent{"retired", a.url, "gone: nothing is sent to it from now on"}, events[1])
	assert.Equal(t, wantEvent{"in", c.url, "healthy x10"}, events[2])

	// A node that joins but never answers stays out, and the rest serve.
	d := newNode(t, "node-d")
	d.stop()
	follow <- []string{b.url, c.url, d.url}
	time.Sleep(100 * time.Millisecond) // twenty rounds of checks
	assert.Equal(t, []string{b.url, c.url}, rot.Targets(), "a new node that fails its checks never enters")

	// Every node replaced at once: nothing left in rotation is healthy yet,
	// so the rotation fails open to the new candidates rather than to none.
	e := newNode(t, "node-e")
	follow <- []string{e.url}
	eventually(t, "the rotation holds only e", func() bool {
		got := rot.Targets()
		return len(got) == 1 && got[0] == e.url
	})
	stop()
	for _, ev := range rec.Events() {
		assert.Equal(t, timeline.SourceRotation, ev.Source)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
