package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/runfolder"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/report"
)

// TestGateDrillKubelet runs the kubelet drill of drill-kubelet.yaml with no
// upgrade: one worker's kubelet stopped for 30 s, the other's killed and
// restarted by systemd, under load. The pods keep running, so no request
// may fail and the verdict must pass; each fault must be on the timeline,
// injected and healed in the scenario's order.
func TestGateDrillKubelet(t *testing.T) {
	testenv.RequireFull(t)
	sc := loadExample(t, "drill-kubelet.yaml")
	res := rehearseScenario(t, sc)
	if res.Verdict != report.Pass {
		t.Errorf("verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
	noFailedRequest(t, res)
	evs, err := timeline.Read(filepath.Join(res.Dir, timeline.File))
	if err != nil {
		t.Fatal(err)
	}
	var got, msgs []string
	for _, e := range evs {
		if e.Kind == "fault" {
			got = append(got, e.Outcome+" "+e.Subject[strings.LastIndex(e.Subject, "-")+1:])
			msgs = append(msgs, e.Message)
		}
	}
	t.Logf("faults on the timeline:\n%s", strings.Join(msgs, "\n"))
	want := []string{"injected worker", "healed worker", "injected worker2", "healed worker2"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("fault events %v, want %v", got, want)
	}
}

// TestGateDrillUpgradeFaults runs drill-upgrade-faults.yaml: the default
// in-place upgrade with a fault at each of its points: the only apiserver
// stopped for 20 s before the upgrade, a worker's kubelet stopped for 20 s
// during the other worker's drain, a worker's node container killed and
// started again after the last node's upgrade. Every fault must be
// injected and healed in that order, on the timeline, and the upgrade must
// finish with every node and component Ready at the target. The apiserver
// and kubelet faults leave the pods running, so no request may fail before
// the node fault's step begins. A killed node takes its canary pod with it
// abruptly: the failures that follow must be reported as incidents tied to
// that step, and the rehearsal must fail by them (what the drill is for).
// The node's heal waits for its pods to be restarted, so those restarts
// belong to the fault and the final checklist must pass.
func TestGateDrillUpgradeFaults(t *testing.T) {
	testenv.RequireFull(t)
	sc := loadExample(t, "drill-upgrade-faults.yaml")
	res := rehearseScenario(t, sc)
	checkDrillUpgradeFaults(t, res.Dir, res.Report, res.Verdict)
}

func checkDrillUpgradeFaults(t *testing.T, dir string, rep *report.Report, verdict report.Outcome) {
	evs, err := timeline.Read(filepath.Join(dir, timeline.File))
	if err != nil {
		t.Fatal(err)
	}
	var got, msgs []string
	var nodeStep time.Time
	for _, e := range evs {
		if e.Source == "driver" && e.Kind == "start" && strings.HasPrefix(e.Message, "fault node:") {
			nodeStep = e.Time
		}
		if e.Kind != "fault" {
			continue
		}
		role := e.Subject[strings.LastIndex(e.Subject, "-")+1:]
		if role == "plane" {
			role = "control-plane"
		}
		got = append(got, e.Outcome+" "+role)
		msgs = append(msgs, e.Message)
	}
	t.Logf("faults on the timeline:\n%s", strings.Join(msgs, "\n"))
	want := []string{"injected control-plane", "healed control-plane", "injected worker2", "healed worker2", "injected worker", "healed worker"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("fault events %v, want %v", got, want)
	}
	if nodeStep.IsZero() {
		t.Fatal("the node fault's step never began")
	}
	var before, after, failedAfter int
	if _, err := loadgen.ReadResults(filepath.Join(dir, runfolder.Results), func(r *vegeta.Result) error {
		failed := r.Error != "" || r.Code < 200 || r.Code > 399
		switch {
		case r.Timestamp.Before(nodeStep) && failed:
			before++
		case !r.Timestamp.Before(nodeStep):
			after++
			if failed {
				failedAfter++
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if before > 0 {
		t.Errorf("%d requests failed before the node fault's step began: the apiserver and kubelet faults must not reach the traffic", before)
	}
	t.Logf("from the node fault's step on: %d of %d requests failed; verdict %s", failedAfter, after, verdict)
	if failedAfter == 0 || verdict != report.Fail {
		t.Errorf("a node killed under its canary pod: want failed requests and a failing verdict, got %d failed and %s", failedAfter, verdict)
	}
	tied := 0
	for _, in := range rep.Incidents {
		for _, st := range in.Steps {
			if strings.Contains(st, "fault node:") {
				tied++
				break
			}
		}
	}
	if len(rep.Incidents) == 0 || tied != len(rep.Incidents) {
		t.Errorf("%d of %d incidents tied to the node fault's step, want all: %+v", tied, len(rep.Incidents), rep.Incidents)
	}
	final := readChecklist(t, dir, rehearse.ChecklistFile)
	for _, it := range final.Failed() {
		t.Errorf("final checklist: %s %s: ready %s, restarts %d: %s", it.Component, it.Outcome, it.Ready, it.Restarts, it.Message)
	}
	for _, c := range rep.Checks {
		if c.Name == "upgrade" && c.Outcome != report.Pass {
			t.Errorf("upgrade check: %s %s", c.Outcome, c.Message)
		}
	}
}
