package report

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

func TestChecklistDuring(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	ev := func(s int, kind, subject, msg string) Event {
		return Event{Time: t0.Add(time.Duration(s) * time.Second), Source: timeline.SourceChecklist, Kind: kind, Subject: subject, Message: msg}
	}
	drv := func(s int, kind string) Event {
		return Event{Time: t0.Add(time.Duration(s) * time.Second), Source: timeline.SourceDriver, Kind: kind, Subject: "cp", Message: "upgrade"}
	}
	for _, tc := range []struct {
		name   string
		events []Event
		rules  Rules
		want   Outcome
		failed []string // components that fail, with a word of their message
	}{
		{"an in-place upgrade: static pods and kube-proxy restart, briefly not Ready, versions move on", []Event{
			drv(0, "start"),
			ev(10, clNotReady, "kube-apiserver", "0/1 ready"),
			ev(11, clUnreachable, "api-server", "API server unreachable"),
			ev(40, clReachable, "api-server", "API server answers again"),
			ev(45, clReady, "kube-apiserver", "1/1 ready"),
			ev(45, clRestart, "kube-apiserver", "kube-apiserver restarts 0 -> 1"),
			ev(46, clVersion, "kube-apiserver", "kube-apiserver version v1.30.2 -> v1.31.0"),
			ev(60, clNotReady, "kube-proxy", "1/2 ready"),
			ev(61, clVersion, "kube-proxy", "kube-proxy version v1.30.2 -> v1.30.2,v1.31.0"),
			ev(70, clReady, "kube-proxy", "2/2 ready"),
			ev(71, clVersion, "kube-proxy", "kube-proxy version v1.30.2,v1.31.0 -> v1.31.0"),
			drv(300, "end"),
		}, Rules{}, Pass, nil},
		{"not Ready beyond the bound", []Event{
			ev(10, clNotReady, "coredns", "1/2 ready"),
			ev(10+270, clReady, "coredns", "2/2 ready"),
		}, Rules{}, Fail, []string{"coredns: not Ready for 4m30s, longer than the 4m0s allowed"}},
		{"the bound is a rule", []Event{
			ev(10, clNotReady, "coredns", "1/2 ready"),
			ev(10+270, clReady, "coredns", "2/2 ready"),
		}, Rules{MaxNotReady: 5 * time.Minute}, Pass, nil},
		{"a tighter bound is a rule too", []Event{
			ev(10, clNotReady, "coredns", "1/2 ready"),
			ev(10+150, clReady, "coredns", "2/2 ready"),
		}, Rules{MaxNotReady: 2 * time.Minute}, Fail, []string{"coredns: not Ready for 2m30s, longer than the 2m0s allowed"}},
		{"spells do not add up", []Event{
			ev(0, clNotReady, "coredns", ""), ev(100, clReady, "coredns", ""),
			ev(110, clNotReady, "coredns", ""), ev(210, clReady, "coredns", ""),
		}, Rules{}, Pass, nil},
		{"still not Ready at the end, long enough", []Event{
			ev(0, clNotReady, "etcd", "0/1 ready"),
			drv(30, "start"),
			drv(300, "end"),
		}, Rules{}, Fail, []string{"etcd: not Ready for 5m0s"}},
		{"a replaced node goes away", []Event{
			ev(0, clNotReady, "node/rh-x-worker", "NotReady"),
			ev(20, clRemoved, "node/rh-x-worker", "gone"),
			drv(500, "end"),
		}, Rules{}, Pass, nil},
		{"the API server unreachable too long", []Event{
			ev(0, clUnreachable, "api-server", "unreachable"),
			ev(300, clReachable, "api-server", "answers"),
		}, Rules{}, Fail, []string{"api-server: not Ready for 5m0s"}},
		{"a version going back", []Event{
			ev(0, clVersion, "kube-proxy", "kube-proxy version v1.30.2 -> v1.31.0"),
			ev(30, clVersion, "kube-proxy", "kube-proxy version v1.31.0 -> v1.30.2"),
		}, Rules{}, Fail, []string{"kube-proxy: version went back: v1.31.0 -> v1.30.2"}},
		{"a static pod missing for a moment on an upgraded control plane (several control planes)", []Event{
			ev(0, clVersion, "kube-apiserver", "kube-apiserver version v1.30.2 -> v1.30.2,v1.31.0"),
			ev(10, clNotReady, "kube-apiserver", "2/3 ready; not ready: kube-apiserver-cp1 (Pending)"),
			ev(12, clVersion, "kube-apiserver", "kube-apiserver version v1.30.2,v1.31.0 -> v1.30.2"),
			ev(13, clVersion, "kube-apiserver", "kube-apiserver version v1.30.2 -> v1.30.2,v1.31.0"),
			ev(40, clReady, "kube-apiserver", "3/3 ready"),
		}, Rules{}, Pass, nil},
		{"a static pod missing for a moment while the others stay Ready (seen on a 3+2 cluster)", []Event{
			ev(0, clVersion, "kube-apiserver", "kube-apiserver version v1.30.2 -> v1.30.2,v1.31.0"),
			ev(10, clVersion, "kube-apiserver", "kube-apiserver version v1.30.2,v1.31.0 -> v1.30.2"),
			ev(11, clVersion, "kube-apiserver", "kube-apiserver version v1.30.2 -> v1.30.2,v1.31.0"),
		}, Rules{}, Pass, nil},
		{"a newer version gone and not back by the next Ready", []Event{
			ev(0, clVersion, "kube-apiserver", "kube-apiserver version v1.30.2 -> v1.30.2,v1.31.0"),
			ev(10, clVersion, "kube-apiserver", "kube-apiserver version v1.30.2,v1.31.0 -> v1.30.2"),
			ev(20, clNotReady, "kube-apiserver", "2/3 ready"),
			ev(40, clReady, "kube-apiserver", "3/3 ready"),
		}, Rules{}, Fail, []string{"kube-apiserver: version went back: v1.30.2,v1.31.0 -> v1.30.2"}},
		{"a rollback while not Ready, Ready again on the older version", []Event{
			ev(0, clVersion, "kube-apiserver", "kube-apiserver version v1.30.2 -> v1.30.2,v1.31.0"),
			ev(10, clNotReady, "kube-apiserver", "2/3 ready"),
			ev(12, clVersion, "kube-apiserver", "kube-apiserver version v1.30.2,v1.31.0 -> v1.30.2"),
			ev(40, clReady, "kube-apiserver", "3/3 ready"),
		}, Rules{}, Fail, []string{"kube-apiserver: version went back: v1.30.2,v1.31.0 -> v1.30.2"}},
		{"a worker's kubelet taken back by the revert", []Event{
			ev(0, clVersion, "node/rh-x-worker", "node/rh-x-worker version v1.30.2 -> v1.31.0"),
			{Time: t0.Add(50 * time.Second), Source: timeline.SourcePhase, Kind: "start", Subject: RevertPhase, Message: RevertPhase},
			ev(55, clNotReady, "node/rh-x-worker", "NotReady"),
			ev(60, clVersion, "node/rh-x-worker", "node/rh-x-worker version v1.31.0 -> v1.30.2"),
			ev(62, clReady, "node/rh-x-worker", "Ready"),
			{Time: t0.Add(70 * time.Second), Source: timeline.SourcePhase, Kind: "end", Subject: RevertPhase, Message: RevertPhase},
		}, Rules{}, Pass, nil},
		{"outside the revert, a kubelet going back is a rollback", []Event{
			ev(0, clVersion, "node/rh-x-worker", "node/rh-x-worker version v1.30.2 -> v1.31.0"),
			ev(60, clVersion, "node/rh-x-worker", "node/rh-x-worker version v1.31.0 -> v1.30.2"),
		}, Rules{}, Fail, []string{"node/rh-x-worker: version went back: v1.31.0 -> v1.30.2"}},
		{"restarts alone never fail", []Event{
			ev(0, clRestart, "kube-scheduler", "restarts 0 -> 1"),
			ev(10, clRestart, "kube-scheduler", "restarts 1 -> 5"),
		}, Rules{}, Pass, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := ChecklistDuring(tc.events, tc.rules)
			require.True(t, ok)
			assert.Equal(t, RuleChecklistDuring, c.Name)
			assert.Equal(t, tc.want, c.Overall(), "%+v", c)
			var failed []string
			for _, it := range c.Items {
				if it.Outcome == Fail {
					failed = append(failed, it.Component+": "+it.Message)
				}
			}
			require.Len(t, failed, len(tc.failed), "%v", failed)
			for i, f := range tc.failed {
				assert.Contains(t, failed[i], f)
			}
		})
	}

	_, ok := ChecklistDuring([]Event{{Time: t0, Source: timeline.SourceDriver, Kind: "start", Message: "x"}}, Rules{})
	assert.False(t, ok, "no checklist event, no check")
}

// The timeline's checklist counts in the verdict, named.
func TestSetTimelineJudgesChecklist(t *testing.T) {
	r := renderPassing(t)
	t0 := r.Runs[0].Phases[0].Start
	r.SetTimeline([]Event{
		{Time: t0, Source: timeline.SourceChecklist, Kind: clNotReady, Subject: "coredns", Message: "0/2 ready"},
		{Time: t0.Add(5 * time.Minute), Source: timeline.SourceChecklist, Kind: clReady, Subject: "coredns", Message: "2/2 ready"},
	})
	assert.Equal(t, Fail, r.Verdict)
	assert.Contains(t, strings.Join(r.Reasons, "\n"), "checklist-during-upgrade fail: coredns: not Ready for 5m0s")
	// Again: replaced, not added twice.
	r.SetTimeline(r.Timeline)
	n := 0
	for _, c := range r.Checks {
		if c.Name == RuleChecklistDuring {
			n++
		}
	}
	assert.Equal(t, 1, n)
	r.SetTimeline(nil)
	assert.Equal(t, Pass, r.Verdict, "%v", r.Reasons)
}

func TestRulesMaxNotReady(t *testing.T) {
	assert.Equal(t, DefaultMaxNotReady, DefaultRules().MaxNotReady)
	assert.ErrorContains(t, Rules{MaxNotReady: -time.Second}.Validate(), "maxNotReady: -1s is negative")
	b, err := Rules{MaxNotReady: 90 * time.Second}.MarshalJSON()
	require.NoError(t, err)
	assert.Contains(t, string(b), `"maxNotReady":"1m30s"`)
	var back Rules
	require.NoError(t, back.UnmarshalJSON(b))
	assert.Equal(t, 90*time.Second, back.MaxNotReady)
	assert.ErrorContains(t, back.UnmarshalJSON([]byte(`{"maxNotReady":"soon"}`)), "maxNotReady")
}

// A sweep over many pods chains different pods' restarts into one long
// spell: shown, never failed; a component's own long spell still fails.
func TestChecklistDuringSweepsAreShownOnly(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ev := func(at time.Duration, kind, subject string) Event {
		return Event{Time: t0.Add(at), Source: "checklist", Kind: kind, Subject: subject}
	}
	events := []Event{
		ev(0, "not-ready", "kube-system pods"),
		ev(0, "not-ready", "etcd"),
		ev(50*time.Second, "ready", "etcd"),
		ev(5*time.Minute, "ready", "kube-system pods"),
	}
	c, ok := ChecklistDuring(events, Rules{})
	require.True(t, ok)
	assert.Equal(t, Pass, c.Outcome, c.Message)

	events = append(events, ev(6*time.Minute, "not-ready", "coredns"), ev(11*time.Minute, "ready", "coredns"))
	c, _ = ChecklistDuring(events, Rules{})
	assert.Equal(t, Fail, c.Outcome)
	assert.Contains(t, c.Message, "coredns: not Ready for 5m0s")
}
