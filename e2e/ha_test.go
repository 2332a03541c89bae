package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/checklist"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/report"
)

// TestGateHAControlPlane rehearses the HA example: a 3 control plane + 2
// worker flannel cluster, created offline (the apiservers' load balancer
// is rehearse's own stand-in image), upgraded in place from v1.35.4 to
// v1.36.3 under load. It must pass with no failed request; the timeline
// must show etcd whole (3 started members, a leader) after each control
// plane's upgrade, and etcd's leadership off each control plane before its
// upgrade; the final checklist must find etcd and the apiserver on all
// three control planes at the end.
func TestGateHAControlPlane(t *testing.T) {
	testenv.RequireFull(t)
	sc := loadExample(t, "ha.yaml")
	res := rehearseScenario(t, sc)
	if res.Verdict != report.Pass {
		t.Errorf("HA: verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
	noFailedRequest(t, res)

	evs, err := timeline.Read(filepath.Join(res.Dir, timeline.File))
	if err != nil {
		t.Fatal(err)
	}
	var etcd, leaders []string
	for _, e := range evs {
		switch {
		case e.Kind == "etcd" && e.Outcome == "healthy":
			etcd = append(etcd, e.Message)
		case e.Kind == "etcd" && (e.Outcome == "leader-moved" || e.Outcome == "leader-kept"):
			leaders = append(leaders, e.Subject+": "+e.Message)
		}
	}
	if len(leaders) != 3 {
		t.Errorf("etcd leadership events: %d, want one before each of the 3 control planes: %v", len(leaders), leaders)
	}
	t.Logf("etcd leadership before each control plane:\n%s", strings.Join(leaders, "\n"))
	if len(etcd) != 3 {
		t.Errorf("etcd healthy events: %d, want one after each of the 3 control planes: %v", len(etcd), etcd)
	}
	for _, m := range etcd {
		if !strings.Contains(m, "3 members started, leader ") {
			t.Errorf("etcd event %q does not show 3 started members and a leader", m)
		}
	}
	t.Logf("etcd on the timeline:\n%s", strings.Join(etcd, "\n"))

	final := readChecklist(t, res.Dir, rehearse.ChecklistFile)
	for _, it := range final.Items {
		if it.Component == "etcd" || it.Component == "kube-apiserver" {
			if it.Ready != "3/3" {
				t.Errorf("%s: %s ready, want 3/3 (one per control plane)", it.Component, it.Ready)
			}
		}
	}
	if final.Outcome != checklist.Pass {
		t.Errorf("final checklist %s", final.Outcome)
	}
}

// TestGateHAEtcdFaults rehearses the etcd fault drills of
// ha-etcd-faults.yaml on a 3 control plane + 2 worker cluster: one member
// stopped for 20 s after the first control plane's upgrade must heal
// within its bound (on the timeline, with its time to heal); two members
// stopped after the second lose quorum, and the rehearsal must fail with
// a reason that names etcd's quorum.
func TestGateHAEtcdFaults(t *testing.T) {
	testenv.RequireFull(t)
	sc := loadExample(t, "ha-etcd-faults.yaml")
	res := rehearseScenario(t, sc)
	t.Logf("verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	if res.Verdict != report.Fail {
		t.Errorf("verdict %s, want FAIL: two etcd members of three lost", res.Verdict)
	}
	named := false
	for _, r := range res.Reasons {
		if strings.Contains(r, "etcd lost quorum") {
			named = true
		}
	}
	if !named {
		t.Errorf("no reason names etcd's lost quorum")
	}
	evs, err := timeline.Read(filepath.Join(res.Dir, timeline.File))
	if err != nil {
		t.Fatal(err)
	}
	var faults []string
	healedOne, lost := false, false
	for _, e := range evs {
		if e.Kind != "fault" {
			continue
		}
		faults = append(faults, e.Outcome+": "+e.Message)
		switch {
		case e.Outcome == "healed" && !strings.Contains(e.Subject, ","):
			healedOne = true
		case e.Outcome == "quorum-lost" && strings.Contains(e.Subject, ","):
			lost = true
		case e.Outcome == "quorum-lost" || e.Outcome == "not-healed":
			t.Errorf("fault %s on %s: %s", e.Outcome, e.Subject, e.Message)
		}
	}
	t.Logf("faults on the timeline:\n%s", strings.Join(faults, "\n"))
	if !healedOne {
		t.Errorf("the one-member fault has no healed event")
	}
	if !lost {
		t.Errorf("the two-member fault has no quorum-lost event")
	}
}
