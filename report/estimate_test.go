package report

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

var estStart = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// estTimeline records a kubeadm-like upgrade of one control plane and
// workers on the driver's timeline, with steps of known durations.
type estTimeline struct {
	evs []Event
	now time.Duration // since estStart
}

func (tl *estTimeline) at(d time.Duration) time.Time { return estStart.Add(d) }

func (tl *estTimeline) emit(kind, subject, msg, outcome string) {
	tl.evs = append(tl.evs, Event{Time: tl.at(tl.now), Source: timeline.SourceDriver, Kind: kind, Subject: subject, Message: msg, Outcome: outcome})
}

func (tl *estTimeline) group(name string, body func()) {
	tl.emit("group-start", "", name, "")
	body()
	tl.emit("group-end", "", name, "ok")
}

// action runs a step of d seconds; err, when set, fails it.
func (tl *estTimeline) action(subject, name string, secs float64, err string) {
	tl.emit("start", subject, name, "")
	tl.now += time.Duration(secs * float64(time.Second))
	if err != "" {
		tl.emit("end", subject, name+": "+err, "failed")
		return
	}
	tl.emit("end", subject, name, "ok")
}

// worker upgrades a worker: each step's seconds in the driver's order,
// upgrade kubeadm, kubeadm upgrade node, cordon, drain, upgrade kubelet
// and kubectl, ready, uncordon, remove staged files.
func (tl *estTimeline) worker(node string, secs [8]float64, failDrain bool) {
	names := []string{"upgrade kubeadm", "kubeadm upgrade node", "cordon", "drain", "upgrade kubelet and kubectl", "ready at v1.36.3", "uncordon", "remove staged files"}
	tl.group(node, func() {
		for i, name := range names {
			err := ""
			if failDrain && name == "drain" {
				err = "timed out after 40s: pod web-1 blocked by its disruption budget"
				tl.evs = append(tl.evs, Event{Time: tl.at(tl.now + time.Second), Source: timeline.SourceDriver, Kind: "drain-blocked", Subject: node, Outcome: "blocked", Message: "blocked"})
			}
			tl.action(node, name, secs[i], err)
			if err != "" {
				return
			}
		}
	})
}

// rehearsal is a recorded upgrade: prepare (50 s), the control plane
// (4 m 10 s, with its own 100 s drain), then workers w1 (109 s, drain 40 s,
// ready 60 s) and w2 (118 s, drain 44 s, ready 62 s) with a 10 s interval
// between them, and, with failed, a third worker w3 whose drain failed.
func rehearsal(failed bool) []Event {
	tl := &estTimeline{}
	tl.evs = append(tl.evs, Event{Time: estStart, Source: timeline.SourcePhase, Kind: "start", Message: "baseline"})
	tl.group("kubeadm upgrade from v1.35.0 to v1.36.3", func() {
		tl.group("prepare", func() {
			tl.action("", "stage binaries and images of v1.36.3 from localhost/rehearse/node:v1.36.3", 20, "")
			tl.group("load into nodes", func() {
				for _, n := range []string{"cp", "w1", "w2", "w3"} {
					tl.action(n, "load v1.36.3 into "+n, 30, "")
					tl.now -= 30 * time.Second
				}
				tl.now += 30 * time.Second
			})
		})
		tl.group("control plane", func() {
			tl.group("cp", func() {
				for _, s := range []struct {
					name string
					secs float64
				}{{"upgrade kubeadm", 1}, {"kubeadm upgrade plan", 9}, {"kubeadm upgrade apply v1.36.3", 30},
					{"wait for kube-system to settle", 20}, {"cordon", 1}, {"drain", 100}, {"upgrade kubelet and kubectl", 3},
					{"ready at v1.36.3", 16}, {"uncordon", 1}, {"control-plane pods steady under the new kubelet", 68}, {"remove staged files", 1}} {
					tl.action("cp", s.name, s.secs, "")
				}
			})
		})
		// The workers group starts at the very instant the control plane
		// ends (the clock here never moves between events without a step).
		tl.group("workers (1 at a time, 10s between)", func() {
			tl.worker("w1", [8]float64{1, 3, 1, 40, 2, 60, 1, 1}, false)
			tl.action("", "node interval 10s", 10, "")
			tl.worker("w2", [8]float64{2, 5, 1, 44, 2, 62, 1, 1}, false)
			if failed {
				tl.action("", "node interval 10s", 10, "")
				tl.worker("w3", [8]float64{9, 9, 9, 40, 9, 9, 9, 9}, true)
			}
		})
	})
	return tl.evs
}

func TestEstimateUpgrade(t *testing.T) {
	s := time.Second
	// Means over w1 and w2: upgrade kubeadm 1.5, kubeadm upgrade node 4,
	// cordon 1, drain 42, upgrade kubelet and kubectl 2, ready 61,
	// uncordon 1, remove staged files 1: a node 113.5 s; w2, the
	// slowest, 118 s.
	node := 113500 * time.Millisecond
	for _, tc := range []struct {
		name      string
		failed    bool
		o         EstimateOptions
		batches   int
		intervals int
		interval  time.Duration
		measured  bool
		total     time.Duration
		formula   string
	}{
		{
			name: "50 nodes one at a time", o: EstimateOptions{Nodes: 50},
			batches: 50, intervals: 49, interval: 10 * s, measured: true,
			// 50 × 113.5 s + 49 × 10 s + 250 s = 6415 s
			total:   6415 * s,
			formula: "50 nodes, 1 at a time: 50 batches × (drain 42 s + ready 61 s + other 11 s) + 49 intervals × 10 s + control plane 4 m 10 s ≈ 1 h 47 m",
		},
		{
			name: "a failed worker is not measured", failed: true, o: EstimateOptions{Nodes: 50},
			batches: 50, intervals: 49, interval: 10 * s, measured: true, total: 6415 * s,
		},
		{
			name: "three at a time", o: EstimateOptions{Nodes: 50, MaxUnavailable: 3},
			batches: 17, intervals: 16, interval: 10 * s, measured: true,
			// 17 × 113.5 s + 16 × 10 s + 250 s = 2339.5 s
			total:   2339500 * time.Millisecond,
			formula: "50 nodes, 3 at a time: 17 batches × (drain 42 s + ready 61 s + other 11 s) + 16 intervals × 10 s + control plane 4 m 10 s ≈ 39 m",
		},
		{
			name: "pools one after another", o: EstimateOptions{Pools: map[string]int{"a": 30, "b": 21}, MaxUnavailable: 2},
			batches: 26, intervals: 25, interval: 10 * s, measured: true,
			// (15 + 11) × 113.5 s + 25 × 10 s + 250 s = 3451 s
			total: 3451 * s,
		},
		{
			name: "pools agreeing with nodes", o: EstimateOptions{Nodes: 51, Pools: map[string]int{"a": 30, "b": 21}, MaxUnavailable: 2},
			batches: 26, intervals: 25, interval: 10 * s, measured: true, total: 3451 * s,
		},
		{
			name: "interval given", o: EstimateOptions{Nodes: 2, Interval: 30 * s},
			batches: 2, intervals: 1, interval: 30 * s,
			// 2 × 113.5 s + 30 s + 250 s = 507 s
			total:   507 * s,
			formula: "2 nodes, 1 at a time: 2 batches × (drain 42 s + ready 61 s + other 11 s) + 1 interval × 30 s + control plane 4 m 10 s ≈ 8 m 27 s",
		},
		{
			name: "one node", o: EstimateOptions{Nodes: 1},
			batches: 1, intervals: 0, interval: 10 * s, measured: true, total: node + 250*s,
			formula: "1 node, 1 at a time: 1 batch × (drain 42 s + ready 61 s + other 11 s) + control plane 4 m 10 s ≈ 6 m 4 s",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := rehearsal(tc.failed)
			// The estimate does not depend on the order events are given in.
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
			e, err := EstimateUpgrade(evs, tc.o)
			require.NoError(t, err)
			assert.Equal(t, 2, e.MeasuredWorkers)
			assert.Equal(t, tc.batches, e.Batches)
			assert.Equal(t, tc.intervals, e.Intervals)
			assert.Equal(t, []string{"upgrade kubeadm", "kubeadm upgrade node", "cordon", "drain", "upgrade kubelet and kubectl", "ready", "uncordon", "remove staged files"}, e.Steps)
			assert.Equal(t, map[string]time.Duration{
				"upgrade kubeadm": 1500 * time.Millisecond, "kubeadm upgrade node": 4 * s, "cordon": s, "drain": 42 * s,
				"upgrade kubelet and kubectl": 2 * s, "ready": 61 * s, "uncordon": s, "remove staged files": s,
			}, e.PerNode)
			assert.Equal(t, map[string]time.Duration{
				"upgrade kubeadm": 2 * s, "kubeadm upgrade node": 5 * s, "cordon": s, "drain": 44 * s,
				"upgrade kubelet and kubectl": 2 * s, "ready": 62 * s, "uncordon": s, "remove staged files": s,
			}, e.PerNodeMax)
			assert.Equal(t, node, e.Node)
			assert.Equal(t, NodeDuration{"w2", 118 * s}, e.SlowestNode)
			assert.Equal(t, NodeDuration{"w2", 44 * s}, e.LongestDrain, "the longest worker drain, not the control plane's")
			assert.Equal(t, 250*s, e.ControlPlane)
			assert.Equal(t, 1, e.ControlPlanes)
			assert.Equal(t, tc.interval, e.Interval)
			assert.Equal(t, tc.measured, e.IntervalMeasured)
			assert.Equal(t, tc.total, e.Total)
			assert.Equal(t, tc.total+time.Duration(tc.batches)*(118*s-node), e.Worst)
			lines := e.Lines()
			if tc.formula != "" {
				assert.Equal(t, tc.formula, lines[0])
			}
			all := strings.Join(lines, "\n")
			assert.Contains(t, all, "longest drain: w2, 44 s")
			assert.Contains(t, all, "drain 42 s (44 s)")
			assert.Contains(t, all, "slowest w2, 118 s")
		})
	}
}

func TestEstimateUpgradeLinesPools(t *testing.T) {
	e, err := EstimateUpgrade(rehearsal(false), EstimateOptions{Pools: map[string]int{"b": 21, "a": 30}, MaxUnavailable: 2})
	require.NoError(t, err)
	assert.Equal(t, []string{
		"51 nodes, 2 at a time: 26 batches × (drain 42 s + ready 61 s + other 11 s) + 25 intervals × 10 s + control plane 4 m 10 s ≈ 57 m 31 s",
		"per node, mean (max) over 2 measured workers: upgrade kubeadm 1.5 s (2 s), kubeadm upgrade node 4 s (5 s), cordon 1 s (1 s), drain 42 s (44 s), upgrade kubelet and kubectl 2 s (2 s), ready 61 s (62 s), uncordon 1 s (1 s), remove staged files 1 s (1 s); in all 114 s (slowest w2, 118 s)",
		"at worst, every node as slow as the slowest measured: ≈ 59 m 28 s",
		"longest drain: w2, 44 s",
		"pools, one after another: a 30 nodes in 15 batches; b 21 nodes in 11 batches",
		"interval: the mean wait between batches measured in the rehearsal",
		"control plane: as measured in the rehearsal (1 control-plane node), not scaled to production",
	}, e.Lines())
}

func TestEstimateUpgradeErrors(t *testing.T) {
	cpOnly := func() []Event {
		var out []Event
		for _, ev := range rehearsal(false) {
			if ev.Subject != "w1" && ev.Subject != "w2" && !strings.HasPrefix(ev.Message, "node interval") {
				out = append(out, ev)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		evs  []Event
		o    EstimateOptions
		want string
	}{
		{"no worker steps", cpOnly(), EstimateOptions{Nodes: 50}, "no worker whose upgrade steps all ended ok"},
		{"empty timeline", nil, EstimateOptions{Nodes: 50}, "no worker whose upgrade steps all ended ok"},
		{"no nodes", rehearsal(false), EstimateOptions{}, "nodes: production's number of workers is needed"},
		{"negative nodes", rehearsal(false), EstimateOptions{Nodes: -1}, "nodes: -1 is negative"},
		{"negative max unavailable", rehearsal(false), EstimateOptions{Nodes: 5, MaxUnavailable: -2}, "max unavailable: -2 is negative"},
		{"negative interval", rehearsal(false), EstimateOptions{Nodes: 5, Interval: -time.Second}, "interval: -1s is negative"},
		{"empty pool", rehearsal(false), EstimateOptions{Pools: map[string]int{"gpu": 0}}, `pools: pool "gpu" has 0 nodes`},
		{"pools disagree", rehearsal(false), EstimateOptions{Nodes: 10, Pools: map[string]int{"a": 3}}, "nodes: 10, but the pools hold 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := EstimateUpgrade(tc.evs, tc.o)
			require.Error(t, err)
			assert.Nil(t, e)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestEstimateWithoutControlPlaneOrInterval(t *testing.T) {
	var evs []Event
	for _, ev := range rehearsal(false) {
		if !strings.HasPrefix(ev.Message, "control plane") && !strings.HasPrefix(ev.Message, "node interval") {
			evs = append(evs, ev)
		}
	}
	e, err := EstimateUpgrade(evs, EstimateOptions{Nodes: 4})
	require.NoError(t, err)
	assert.Zero(t, e.ControlPlane)
	assert.Zero(t, e.Interval)
	assert.Equal(t, 4*e.Node, e.Total)
	assert.Equal(t, "4 nodes, 1 at a time: 4 batches × (drain 42 s + ready 61 s + other 11 s) + 3 intervals × 0 s ≈ 7 m 34 s", e.Lines()[0])
	assert.Contains(t, e.Lines(), "control plane: not measured, not counted")
}

func TestEstDur(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0 s"}, {1500 * time.Millisecond, "1.5 s"}, {4 * time.Second, "4 s"}, {42 * time.Second, "42 s"},
		{59600 * time.Millisecond, "60 s"}, {119 * time.Second, "119 s"}, {120 * time.Second, "2 m"}, {250 * time.Second, "4 m 10 s"}, {6415 * time.Second, "1 h 47 m"},
		{2 * time.Hour, "2 h"},
	} {
		assert.Equal(t, tc.want, estDur(tc.d), "%s", tc.d)
	}
}

func TestEstimateJSONRoundTrip(t *testing.T) {
	e, err := EstimateUpgrade(rehearsal(false), EstimateOptions{Pools: map[string]int{"a": 30, "b": 21}, MaxUnavailable: 2})
	require.NoError(t, err)
	r := &Report{Title: "t", Estimate: e}
	var buf bytes.Buffer
	require.NoError(t, RenderJSON(&buf, r))
	assert.Contains(t, buf.String(), `"total": "57m31s"`)
	assert.Contains(t, buf.String(), `"drain": "42s"`)
	assert.Contains(t, buf.String(), `"longestDrain": {`)
	var back Report
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	assert.Equal(t, e, back.Estimate)

	buf.Reset()
	require.NoError(t, RenderJSON(&buf, &Report{Title: "t"}))
	assert.NotContains(t, buf.String(), "estimate")

	var bad Estimate
	err = json.Unmarshal([]byte(`{"total": "soon"}`), &bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "estimate: total")
}

func TestRenderEstimate(t *testing.T) {
	e, err := EstimateUpgrade(rehearsal(false), EstimateOptions{Nodes: 50})
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		render func(*bytes.Buffer, *Report) error
		head   string
		first  string
	}{
		{"text", func(b *bytes.Buffer, r *Report) error { return RenderText(b, r) }, "\nEstimate:\n", "  50 nodes, 1 at a time: 50 batches × (drain 42 s + ready 61 s + other 11 s)"},
		{"markdown", func(b *bytes.Buffer, r *Report) error { return RenderMarkdown(b, r) }, "\n### Estimate\n\n", "**50 nodes, 1 at a time: 50 batches × (drain 42 s + ready 61 s + other 11 s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var with, without bytes.Buffer
			require.NoError(t, tc.render(&with, &Report{Title: "t", Estimate: e}))
			require.NoError(t, tc.render(&without, &Report{Title: "t"}))
			assert.Contains(t, with.String(), tc.head+tc.first)
			assert.Contains(t, with.String(), "longest drain: w2, 44 s")
			assert.NotContains(t, without.String(), "Estimate")
		})
	}
}

// TestEstimateNodeReplacement estimates from a replace driver's timeline:
// a worker's time is its replacement's steps (under the new node's name)
// plus its retirement's (under the old node's), each step's name freed of
// the nodes and image it names; a soak is waited once per batch, the node
// interval between batches.
func TestEstimateNodeReplacement(t *testing.T) {
	s := time.Second
	tl := &estTimeline{}
	tl.group("replace: control plane in place from v1.35.4 to v1.36.3, then every worker by a new node (max surge 1, max unavailable 0, soak 10s)", func() {
		tl.group("control plane", func() { tl.action("cp", "kubeadm upgrade apply v1.36.3", 200, "") })
		tl.group("workers", func() {
			for i, old := range []string{"w1", "w2"} {
				nu := old + "-v1-36-3"
				extra := float64(i * 2) // w2's replacement is 2 s slower at each step
				tl.group("batch "+old, func() {
					tl.group("surge", func() {
						tl.action(nu, "create node container from localhost/rehearse/node:v1.36.3 to replace "+old, 10+extra, "")
						tl.action(nu, "copy the cluster's images from "+old, 5, "")
						tl.action(nu, "kubeadm join", 30, "")
						tl.action(nu, "ready at v1.36.3", 20, "")
						tl.action(nu, "take over labels and taints of "+old, 1, "")
					})
					tl.action("", "soak 10s", 10, "")
					if i == 0 {
						tl.action("", "abort after 1 workers", 0, "")
					}
					tl.group("retire", func() {
						tl.action(old, "cordon", 1, "")
						tl.action(old, "drain", 20+extra, "")
						tl.action(old, "delete node", 1, "")
						tl.action(old, "deregistration delay 5s", 5, "")
						tl.action(old, "remove node container", 2, "")
					})
				})
				if i == 0 {
					tl.action("", "node interval 30s", 30, "")
				}
			}
		})
	})
	e, err := EstimateUpgrade(tl.evs, EstimateOptions{Nodes: 50, MaxUnavailable: 2})
	require.NoError(t, err)
	assert.Equal(t, []string{"create node container", "copy the cluster's images", "kubeadm join", EstimateReady, "take over labels and taints",
		"cordon", EstimateDrain, "delete node", "deregistration delay 5s", "remove node container"}, e.Steps)
	// Means: create 11, copy 5, join 30, ready 20, take over 1, cordon 1,
	// drain 21, delete 1, deregistration 5, remove 2: 97 s a worker.
	assert.Equal(t, 97*s, e.Node)
	assert.Equal(t, 10*s, e.Soak, "the soak, once per batch")
	assert.Equal(t, 30*s, e.Interval, "the node interval, not the soak or the abort step")
	assert.Equal(t, 200*s, e.ControlPlane)
	// 25 batches × (97 s + 10 s soak) + 24 intervals × 30 s + 200 s
	assert.Equal(t, 25, e.Batches)
	assert.Equal(t, (25*107+24*30+200)*s, e.Total)
	assert.Equal(t, 21*s, e.PerNode[EstimateDrain])
	text := strings.Join(e.Lines(), "\n")
	assert.Contains(t, text, "25 batches × (drain 21 s + ready 20 s + other 56 s + soak 10 s) + 24 intervals × 30 s + control plane 3 m 20 s ≈ 59 m 55 s")
	// A worker is its old node and its replacement: w2 is 2 s slower at
	// create and drain.
	assert.Equal(t, 2, e.MeasuredWorkers)
	assert.Equal(t, NodeDuration{Node: "w2", Duration: 99 * s}, e.SlowestNode)
	assert.Equal(t, (25*(99+10)+24*30+200)*s, e.Worst)
	b, err := json.Marshal(e)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"soak":"10s"`)
	var back Estimate
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, e.Soak, back.Soak)
}
