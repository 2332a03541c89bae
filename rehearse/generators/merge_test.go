package generators

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func result(sentMs, latencyMs int, probe loadgen.Probe) *vegeta.Result {
	return &vegeta.Result{Attack: loadgen.AttackName("baseline", probe), Timestamp: at(sentMs), Latency: time.Duration(latencyMs) * time.Millisecond, Code: 200}
}

type collect struct{ got []vegeta.Result }

func (c *collect) Add(r *vegeta.Result) { c.got = append(c.got, *r) }

func phasesAt(switchMs int) func(time.Time) string {
	return func(t time.Time) string {
		if t.Before(at(switchMs)) {
			return "baseline"
		}
		return "upgrade"
	}
}

func TestMergeOrdersByTimeAcrossGeneratorsAndTagsPhases(t *testing.T) {
	gens := []Generator{{Name: "g0", Rate: 10}, {Name: "g1", Rate: 10}}
	var out collect
	m := NewMerge(gens, MergeOptions{Bound: time.Second, Start: t0, PhaseAt: phasesAt(500)}, &out)
	m.Streaming(0, 1)
	m.Streaming(1, 1)
	// Each generator writes in completion order: g0's 100 ms request
	// finishes after its 200 ms one that took 10 ms.
	m.Add(0, result(200, 10, loadgen.ProbeReuse), at(210), at(215))
	m.Add(0, result(100, 300, loadgen.ProbeFresh), at(400), at(405))
	m.Add(1, result(150, 20, loadgen.ProbeReuse), at(170), at(175))
	m.Add(1, result(600, 5, loadgen.ProbeReuse), at(605), at(610))
	m.Release(at(700))
	assert.Empty(t, out.got, "nothing is older than the lowest watermark yet")
	// g0 writes a line 2 s on: everything it sends later is after 1 s.
	m.Add(0, result(1900, 100, loadgen.ProbeReuse), at(2000), at(2001))
	m.Add(1, result(1950, 10, loadgen.ProbeReuse), at(1960), at(1961))
	m.Release(at(2100))
	require.Len(t, out.got, 4)
	var sent []int
	for _, r := range out.got {
		sent = append(sent, int(r.Timestamp.Sub(t0)/time.Millisecond))
	}
	assert.Equal(t, []int{100, 150, 200, 600}, sent)
	assert.Equal(t, "baseline/fresh", out.got[0].Attack)
	assert.Equal(t, "upgrade/reuse", out.got[3].Attack, "tagged by when it was sent, from one clock")

	accs := m.Close(at(2000))
	assert.Len(t, out.got, 6)
	assert.Equal(t, int64(6), m.Out)
	assert.Zero(t, m.Reordered)
	assert.Equal(t, int64(3), accs[0].Received)
	assert.Equal(t, int64(20), accs[0].Scheduled, "10/s over 2 s")
	assert.InDelta(t, 1.0, accs[0].DelayMs, 0.001, "the shortest end-to-arrival delay")
}

func TestMergeHoldsBackForAStalledStream(t *testing.T) {
	gens := []Generator{{Name: "g0", Rate: 10}, {Name: "g1", Rate: 10}}
	var out collect
	m := NewMerge(gens, MergeOptions{Bound: time.Second, Start: t0, PhaseAt: phasesAt(0)}, &out)
	m.Streaming(0, 1)
	m.Streaming(1, 1)
	m.Add(1, result(100, 10, loadgen.ProbeReuse), at(110), at(110))
	for i := range 50 {
		m.Add(0, result(i*100, 10, loadgen.ProbeReuse), at(i*100+10), at(i*100+10))
	}
	m.Release(at(5000))
	assert.Empty(t, out.got, "g1's stream is cut (its kubelet restarting) after a line at 110 ms: nothing is surely older than what it may still write")
	// Its stream resumes with what it wrote meanwhile.
	m.Add(1, result(3000, 10, loadgen.ProbeReuse), at(3010), at(6000))
	m.Release(at(6000))
	for i := 1; i < len(out.got); i++ {
		assert.False(t, out.got[i].Timestamp.Before(out.got[i-1].Timestamp), "in order")
	}
	before := len(out.got)
	// A generator whose stream ended holds nothing back.
	m.Streaming(1, -1)
	m.Release(at(6000))
	assert.Greater(t, len(out.got), before)
}

func TestMergeReportsLostGeneratorWindows(t *testing.T) {
	gens := []Generator{{Name: "g0", Rate: 10}, {Name: "g1", Rate: 10}}
	var out collect
	m := NewMerge(gens, MergeOptions{Bound: time.Second, Start: t0, PhaseAt: phasesAt(0)}, &out)
	// g1 is killed at 3 s, made again, and sends from 8 s on.
	m.Note(1, at(0), "", "rehearse-load-1-abc")
	m.Note(1, at(3100), "pod rehearse-load-1-abc deleted", "")
	m.Note(1, at(7000), "pod rehearse-load-1-def on worker", "")
	m.Note(1, at(7000), "", "rehearse-load-1-def")
	for ms := 0; ms < 10000; ms += 100 {
		m.Add(0, result(ms, 5, loadgen.ProbeReuse), at(ms+5), at(ms+5))
		if ms < 3000 || ms >= 8000 {
			m.Add(1, result(ms, 5, loadgen.ProbeReuse), at(ms+5), at(ms+5))
		}
	}
	accs := m.Close(at(10000))
	require.Len(t, accs, 2)
	assert.Empty(t, accs[0].Lost)
	require.Len(t, accs[1].Lost, 1)
	l := accs[1].Lost[0]
	assert.Equal(t, at(2900), l.From)
	assert.Equal(t, at(8000), l.To)
	assert.Equal(t, int64(51), l.Requests)
	assert.Contains(t, l.Why, "deleted")
	assert.Contains(t, l.Why, "rehearse-load-1-def")
	assert.Equal(t, int64(50), accs[1].LostRequests, "what it never sent: 100 scheduled, 50 received")
	assert.Equal(t, []string{"rehearse-load-1-abc", "rehearse-load-1-def"}, accs[1].Pods)
	assert.Equal(t, int64(50), accs[1].Received)
	assert.Equal(t, int64(150), m.Out, "every result sent reached the merge")
	a := loadgen.Accounting{Generators: accs}
	assert.InDelta(t, 50.0/200, a.Shortfall(), 1e-9)
	// Errors are not lost load: a generator whose requests all fail
	// still sends.
	for _, r := range out.got {
		assert.Empty(t, r.Error)
	}
}

// A generator that stalls and then catches up (its pacer sends what it
// owes at once) leaves a quiet window but lost nothing.
func TestMergeStallCaughtUpIsNotLost(t *testing.T) {
	gens := []Generator{{Name: "g0", Rate: 10}}
	var out collect
	m := NewMerge(gens, MergeOptions{Bound: time.Second, Start: t0, PhaseAt: phasesAt(0)}, &out)
	for ms := 0; ms < 10000; ms += 100 {
		sent := ms
		if ms >= 3000 && ms < 6000 {
			sent = 6000 // held back 3 s, then sent late
		}
		m.Add(0, result(sent, 5, loadgen.ProbeReuse), at(sent+5), at(sent+5))
	}
	accs := m.Close(at(10000))
	require.Len(t, accs[0].Lost, 1, "the quiet window is shown")
	assert.Zero(t, accs[0].LostRequests, "but every request was sent")
}

func TestMergeLostAtTheEndAndAtTheStart(t *testing.T) {
	gens := []Generator{{Name: "g0", Rate: 100}}
	var out collect
	m := NewMerge(gens, MergeOptions{Bound: time.Second, Start: t0, PhaseAt: phasesAt(0)}, &out)
	for ms := 3000; ms < 6000; ms += 10 {
		m.Add(0, result(ms, 1, loadgen.ProbeReuse), at(ms+1), at(ms+1))
	}
	accs := m.Close(at(9000))
	require.Len(t, accs[0].Lost, 2)
	assert.Equal(t, at(0), accs[0].Lost[0].From, "its pod started late")
	assert.Equal(t, at(5990), accs[0].Lost[1].From)
	assert.Equal(t, at(9000), accs[0].Lost[1].To)
	assert.Contains(t, accs[0].Lost[1].Why, "no results while its pod was running")
}

func TestReadLogResumesAfterTheLastLine(t *testing.T) {
	var log bytes.Buffer
	enc := vegeta.NewJSONEncoder(&log)
	var lines []string
	for i := range 3 {
		log.Reset()
		require.NoError(t, enc(result(i*100, 5, loadgen.ProbeReuse)))
		lines = append(lines, fmt.Sprintf("%s %s", at(i*100+5).Format(time.RFC3339Nano), log.String()))
	}
	end := fmt.Sprintf("%s %s{\"sent\":3,\"scheduled\":3}}\n", at(400).Format(time.RFC3339Nano), loadgen.StreamAccountingKey)
	out := make(chan line, 10)
	var last time.Time
	// The first stream is cut in the middle of the third line.
	cut := lines[0] + lines[1] + lines[2][:20]
	assert.False(t, readLog(strings.NewReader(cut), 0, &last, out))
	assert.Equal(t, at(105), last)
	// The resumed stream starts at the second (SinceTime has seconds only).
	assert.True(t, readLog(strings.NewReader(lines[0]+lines[1]+lines[2]+end+"not read\n"), 0, &last, out))
	close(out)
	var got []time.Time
	var acc *loadgen.Accounting
	for l := range out {
		if l.end != nil {
			acc = l.end
			continue
		}
		got = append(got, l.res.Timestamp)
	}
	assert.Equal(t, []time.Time{at(0), at(100), at(200)}, got, "each result once")
	require.NotNil(t, acc)
	assert.Equal(t, int64(3), acc.Sent)
}

// Failures are counted against the generator that saw them: an error, or
// a status the judge counts as failed; a 404 or a success is not.
func TestMergeCountsFailuresPerGenerator(t *testing.T) {
	gens := []Generator{{Name: "g0", Rate: 10}, {Name: "g1", Rate: 10}}
	var out collect
	m := NewMerge(gens, MergeOptions{Bound: time.Second, Start: t0, PhaseAt: phasesAt(0)}, &out)
	for ms := 0; ms < 1000; ms += 100 {
		ok := result(ms, 1, loadgen.ProbeReuse)
		m.Add(0, ok, at(ms+1), at(ms+1))
		bad := result(ms+50, 1, loadgen.ProbeFresh)
		switch ms {
		case 200:
			bad.Code, bad.Error = 0, "connect: connection refused"
		case 300:
			bad.Code = 503
		}
		m.Add(1, bad, at(ms+51), at(ms+51))
	}
	accs := m.Close(at(1000))
	assert.Zero(t, accs[0].Failed)
	assert.Equal(t, int64(2), accs[1].Failed, "the refused connection and the 503")
	assert.Equal(t, int64(1), m.Errors, "only one carried an error")
}
