package report

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/timeline"
)

var streamStart = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

// feedTargets sends, for one phase, 200 requests a second on each probe and
// two a second on each user target named in fail (the n-th of every ten
// requests of a user target fails its expect check when n < fail[name]).
func feedTargets(c *Collector, phase string, from time.Duration, seconds int, fail map[string]int) {
	for i := range seconds * 200 {
		for j, probe := range loadgen.Probes() {
			at := from + time.Duration(i)*5*time.Millisecond + time.Duration(j)*time.Millisecond
			c.Add(&vegeta.Result{Attack: loadgen.AttackName(phase, probe), Timestamp: streamStart.Add(at),
				Latency: 2 * time.Millisecond, Code: 200, URL: "http://172.18.0.2:30080/"})
		}
	}
	for _, name := range sortedKeys(fail) {
		for i := range seconds * 2 {
			at := from + time.Duration(i)*500*time.Millisecond + 3*time.Millisecond
			r := &vegeta.Result{Attack: phase + "/target:" + name, Timestamp: streamStart.Add(at),
				Latency: 4 * time.Millisecond, Code: 200, URL: "http://shop.example/" + name}
			if i%10 < fail[name] {
				r.Error = `expect: body does not contain "ok"`
			}
			c.Add(r)
		}
	}
}

// A user target whose requests fail while the pooled failure ratio stays
// within the rules fails the verdict, named; a target the baseline did not
// have is judged against the pooled baseline.
func TestJudgeUserTargetOnItsOwn(t *testing.T) {
	c := NewCollector(CollectorOptions{})
	feedTargets(c, "baseline", 0, 60, map[string]int{"shop": 0})
	feedTargets(c, "upgrade", 60*time.Second, 60, map[string]int{"shop": 1, "cart": 1})
	m := c.Close()

	up := m.Phase("upgrade")
	require.NotNil(t, up)
	assert.Equal(t, int64(24), up.Classes[ClassExpect], "the failed expect checks are their own class")

	r, err := JudgeRun(m, "baseline", Rules{})
	require.NoError(t, err)
	require.Len(t, r.Comparisons, 1)
	cmp := r.Comparisons[0]
	for _, rr := range cmp.Rules {
		if rr.Rule == RuleErrorRate {
			assert.Equal(t, Pass, rr.Outcome, "the pooled ratio stays within the rules: %s", rr.Message)
		}
	}
	assert.Equal(t, Fail, r.Verdict, "%v", r.Reasons)
	reasons := strings.Join(r.Reasons, "\n")
	assert.Contains(t, reasons, "error-rate on target:shop (upgrade): 10.0% vs 0.0% (12/120 vs 0/120)")
	assert.Contains(t, reasons, "error-rate on target:cart (upgrade): 10.0% vs 0.0% (12/120 vs 0/24120, against the pooled baseline)")
	assert.NotContains(t, reasons, "on reuse")
	assert.NotContains(t, reasons, "on fresh")

	got := map[string]SubjectResult{}
	for _, s := range cmp.Subjects {
		got[s.Dim+" "+s.Name] = s
	}
	require.Contains(t, got, "stream target:shop")
	assert.Equal(t, AgainstOwn, got["stream target:shop"].Against)
	assert.Equal(t, AgainstPooled, got["stream target:cart"].Against)
	assert.Equal(t, Pass, got["stream reuse"].Outcome)
	// Latency is judged on the probes, which have samples enough; the user
	// targets' 120 requests are too few and say so without failing.
	for _, rr := range got["stream target:shop"].Rules {
		if rr.Rule == RuleLatency {
			assert.Equal(t, Inconclusive, rr.Outcome)
		}
	}
	for _, rr := range got["stream reuse"].Rules {
		if rr.Rule == RuleLatency {
			assert.Equal(t, Pass, rr.Outcome, rr.Message)
		}
	}
}

// entry points of the node-port scenario.
var entryPoints = []string{"http://172.18.0.2:30080/", "http://172.18.0.3:30080/", "http://172.18.0.4:30080/"}

// feedEntryPoints sends 100 requests a second, each to the next entry
// point, three in a row of one probe then three of the other; the node
// behind an entry point answers in X-Canary-Node. Requests to entry point
// 1 are refused (no node header: they never reached a node) from down to
// up, offsets in the phase.
func feedEntryPoints(c *Collector, phase string, from time.Duration, seconds int, down, up time.Duration) {
	nodes := []string{"rh-x-worker", "rh-x-worker2", "rh-x-worker3"}
	for k := range seconds * 100 {
		off := time.Duration(k) * 10 * time.Millisecond
		ep := k % 3
		probe := loadgen.Probes()[(k/3)%2]
		r := &vegeta.Result{Attack: loadgen.AttackName(phase, probe), Timestamp: streamStart.Add(from + off),
			Latency: 3 * time.Millisecond, Code: 200, URL: entryPoints[ep],
			Headers: map[string][]string{"X-Canary-Node": {nodes[ep]}}}
		if ep == 1 && off >= down && off < up {
			r.Code, r.Headers, r.Latency = 0, nil, 200*time.Microsecond
			r.Error = fmt.Sprintf(`Get "%s": dial tcp 172.18.0.3:30080: connect: connection refused`, entryPoints[ep])
		}
		c.Add(r)
	}
}

func entryPointRun(t *testing.T) *Metrics {
	t.Helper()
	c := NewCollector(CollectorOptions{})
	feedEntryPoints(c, "baseline", 0, 120, 0, 0)
	feedEntryPoints(c, "upgrade", 120*time.Second, 120, 20410*time.Millisecond, 29710*time.Millisecond)
	return c.Close()
}

// drainTimeline is a recorded upgrade: a kubelet step on one node, then a
// group draining another, whose drain began 0.4 s before its entry point
// refused connections.
func drainTimeline() []Event {
	at := func(d time.Duration) time.Time { return streamStart.Add(120*time.Second + d) }
	return []Event{
		{Time: at(0), Source: timeline.SourcePhase, Kind: "start", Subject: "upgrade", Message: "upgrade"},
		{Time: at(5 * time.Second), Source: timeline.SourceDriver, Kind: "start", Subject: "rh-x-worker", Message: "upgrade kubelet"},
		{Time: at(15 * time.Second), Source: timeline.SourceDriver, Kind: "end", Subject: "rh-x-worker", Outcome: "ok", Message: "upgrade kubelet"},
		{Time: at(19 * time.Second), Source: timeline.SourceDriver, Kind: "group-start", Subject: "rh-x-worker2", Message: "node rh-x-worker2"},
		{Time: at(20010 * time.Millisecond), Source: timeline.SourceDriver, Kind: "start", Subject: "rh-x-worker2", Message: "drain"},
		{Time: at(35 * time.Second), Source: timeline.SourceDriver, Kind: "end", Subject: "rh-x-worker2", Outcome: "ok", Message: "drain"},
		{Time: at(36 * time.Second), Source: timeline.SourceDriver, Kind: "group-end", Subject: "rh-x-worker2", Outcome: "ok", Message: "node rh-x-worker2"},
	}
}

// An entry point that refuses connections for 9.3 s while the others serve
// fails the outage rule on its own, though no stream saw two failures in a
// row and the pooled ratio is within the rules; the failures never reached
// a node, so no node is blamed. The timeline ties the outage to the drain
// that began 0.4 s before it, in the incidents and in the reason.
func TestJudgeEntryPointOutageAttributed(t *testing.T) {
	m := entryPointRun(t)
	up := m.Phase("upgrade")
	require.NotNil(t, up)
	assert.Less(t, up.Outages.LongestSeconds, 0.05, "no stream saw two failures in a row")
	for _, n := range up.Nodes {
		assert.Zero(t, n.Failures, "refused requests reached no node: %s", n.Name)
	}
	var ep CountSummary
	for _, c := range up.Targets {
		if c.Name == entryPoints[1] {
			ep = c
		}
	}
	assert.Equal(t, int64(1), ep.Outages)
	assert.InDelta(t, 9.3, ep.LongestOutageSeconds, 1e-9)

	rules := Rules{MaxErrorRateIncrease: 0.05}
	r, err := JudgeRun(m, "baseline", rules)
	require.NoError(t, err)
	for _, rr := range r.Comparisons[0].Rules {
		if rr.Rule == RuleErrorRate || rr.Rule == RuleOutage {
			assert.Equal(t, Pass, rr.Outcome, "pooled %s: %s", rr.Rule, rr.Message)
		}
	}
	require.Equal(t, Fail, r.Verdict)
	assert.Contains(t, strings.Join(r.Reasons, "\n"), "outage on http://172.18.0.3:30080/ (upgrade): 9.3 s (")
	assert.NotContains(t, strings.Join(r.Reasons, "\n"), "starting", "no timeline yet")
	require.Len(t, r.Incidents, 1)
	assert.Empty(t, r.Incidents[0].Steps)

	r.SetTimeline(drainTimeline())
	require.Len(t, r.Incidents, 1)
	in := r.Incidents[0]
	assert.Equal(t, "outage 9.3 s on http://172.18.0.3:30080/ (fresh, reuse) starting 0.4 s after `drain` (rh-x-worker2) began", in.String())
	assert.Equal(t, []string{"`drain` (rh-x-worker2)"}, in.Steps)
	assert.InDelta(t, 0.4, in.LagSeconds, 1e-9)
	assert.True(t, in.Running)
	assert.Equal(t, []string{entryPoints[1]}, in.Targets)
	assert.Empty(t, in.Nodes)
	assert.Equal(t, int64(310), in.Lost, "every request to the entry point from 20.41 s to 29.70 s")
	assert.Contains(t, in.FirstError, "connection refused")

	var outageReason string
	for _, reason := range r.Reasons {
		if strings.HasPrefix(reason, "outage on http://172.18.0.3:30080/ (upgrade)") {
			outageReason = reason
		}
	}
	assert.Contains(t, outageReason, "longer than the 1s allowed")
	assert.True(t, strings.HasSuffix(outageReason, "; starting 0.4 s after `drain` (rh-x-worker2) began"), outageReason)

	// Every format shows the incident.
	for name, render := range map[string]Renderer{"text": RenderText, "markdown": RenderMarkdown, "html": RenderHTML, "json": RenderJSON} {
		out := renderString(t, render, r)
		assert.Contains(t, out, "rh-x-worker2", name)
		assert.Contains(t, out, "20.410", name)
	}
}

func TestAttributeSteps(t *testing.T) {
	at := func(s float64) time.Time { return streamStart.Add(time.Duration(s * float64(time.Second))) }
	steps := stepSpans([]Event{
		{Time: at(0), Source: timeline.SourceDriver, Kind: "start", Subject: "cp", Message: "upgrade control plane"},
		{Time: at(10), Source: timeline.SourceDriver, Kind: "start", Subject: "cp", Message: "restart kubelet on cp"},
		{Time: at(12), Source: timeline.SourceDriver, Kind: "end", Subject: "cp", Outcome: "failed", Message: "restart kubelet on cp: exit status 1"},
		{Time: at(40), Source: timeline.SourceDriver, Kind: "end", Subject: "cp", Outcome: "ok", Message: "upgrade control plane"},
		{Time: at(45), Source: timeline.SourceChecklist, Kind: "start", Subject: "x", Message: "not a step"},
		{Time: at(50), Source: timeline.SourceDriver, Kind: "start", Subject: "w1", Message: "drain"},
		{Time: at(55), Source: timeline.SourceDriver, Kind: "end", Subject: "w1", Outcome: "ok", Message: "drain"},
		{Time: at(200), Source: timeline.SourceDriver, Kind: "start", Subject: "w2", Message: "drain"},
	})
	for _, tc := range []struct {
		name  string
		start float64
		want  string
	}{
		{"before any step", -1, ""},
		{"one running", 5, "starting 5.0 s after `upgrade control plane` (cp) began"},
		{"nested, latest first", 11, "starting 1.0 s after `restart kubelet on cp` began, while `upgrade control plane` (cp) ran"},
		{"failed step ended, outer still running", 13, "starting 13.0 s after `upgrade control plane` (cp) began"},
		{"ended within the lag bound", 60, "starting 10.0 s after `drain` (w1) began (it had ended)"},
		{"ended beyond the lag bound", 50 + DefaultAttributionLag.Seconds() + 1, ""},
		{"never ended", 300, "starting 100.0 s after `drain` (w2) began"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Incident{Start: at(tc.start)}
			attribute(&in, steps)
			assert.Equal(t, tc.want, in.Cause())
		})
	}
}

// Bursts: failures of one stream within the gap of each other, successes
// between them allowed, at least the burst count.
func TestCollectorBursts(t *testing.T) {
	c := NewCollector(CollectorOptions{BurstFailures: 3, BurstGap: time.Second})
	add := func(ms int, ok bool) {
		r := &vegeta.Result{Attack: "upgrade/reuse", Timestamp: streamStart.Add(time.Duration(ms) * time.Millisecond),
			Latency: time.Millisecond, Code: 200, URL: "http://a/"}
		if !ok {
			r.Code, r.Error = 503, "503 Service Unavailable"
		}
		c.Add(r)
	}
	// A burst of four failures with successes between them...
	for i, ok := range []bool{false, true, false, true, false, false, true} {
		add(i*400, ok)
	}
	// ...two failures 5 s later: too few for a burst...
	add(8000, false)
	add(8500, false)
	add(9000, true)
	// ...and failures more than the gap apart are no burst.
	add(12000, false)
	add(13500, false)
	add(15000, false)
	add(15100, true)
	p := c.Close().Phase("upgrade")
	var bursts []Outage
	for _, o := range p.FailureWindows {
		if o.Kind == WindowBurst {
			bursts = append(bursts, o)
		}
	}
	require.Len(t, bursts, 2, "one for the stream, one for its entry point: %+v", bursts)
	for _, b := range bursts {
		assert.Equal(t, int64(4), b.Failures)
		assert.Equal(t, streamStart, b.Start)
		assert.Equal(t, streamStart.Add(2001*time.Millisecond), b.End)
		assert.Equal(t, "503 Service Unavailable", b.FirstError)
	}
	assert.Equal(t, "reuse", bursts[0].Probe+bursts[1].Probe)
	assert.Equal(t, "http://a/", bursts[0].Target+bursts[1].Target)
}

// However many distinct URLs, nodes and streams come, the collector tells
// apart at most MaxStreams of each and counts the rest together.
func TestCollectorBoundsStreams(t *testing.T) {
	c := NewCollector(CollectorOptions{})
	for i := range 3 * MaxStreams {
		c.Add(&vegeta.Result{Attack: fmt.Sprintf("upgrade/target:t%03d", i), Timestamp: streamStart.Add(time.Duration(i) * time.Millisecond),
			Latency: time.Millisecond, Code: 503, Error: "503", URL: fmt.Sprintf("http://a/%03d", i),
			Headers: map[string][]string{"X-Canary-Node": {fmt.Sprintf("n%03d", i)}}})
	}
	p := c.Close().Phase("upgrade")
	require.Len(t, p.Probes, MaxStreams+1)
	require.Len(t, p.Targets, MaxStreams+1)
	require.Len(t, p.Nodes, MaxStreams+1)
	assert.Equal(t, OtherName, p.Probes[0].Probe, "sorted first")
	assert.Equal(t, int64(2*MaxStreams), p.Probes[0].Requests)
	var other CountSummary
	for _, tg := range p.Targets {
		if tg.Name == OtherName {
			other = tg
		}
	}
	assert.Equal(t, int64(2*MaxStreams), other.Failures)
	assert.Equal(t, int64(1), other.Outages, "the folded entry points failed in a row")
}

// TestCollectorEntryPointsIgnoreFragments counts writes whose keys ride in
// URL fragments by the entry point they went to.
func TestCollectorEntryPointsIgnoreFragments(t *testing.T) {
	c := NewCollector(CollectorOptions{})
	for i := range 2 * MaxStreams {
		c.Add(&vegeta.Result{Attack: "upgrade/target:ledger", Timestamp: streamStart.Add(time.Duration(i) * time.Millisecond),
			Latency: time.Millisecond, Code: 200, URL: fmt.Sprintf("http://10.0.0.%d:31000/v3/kv/put#ledger/%010d", i%2, i)})
	}
	p := c.Close().Phase("upgrade")
	var names []string
	for _, tg := range p.Targets {
		names = append(names, tg.Name)
	}
	assert.Equal(t, []string{"http://10.0.0.0:31000/v3/kv/put", "http://10.0.0.1:31000/v3/kv/put"}, names)
}
