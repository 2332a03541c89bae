package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/checklist"
	"github.com/rehearse/rehearse/rehearse/cluster"
	"github.com/rehearse/rehearse/rehearse/kube"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

// TestGateReplace rehearses the replace example on a real 1+2 cluster:
// the control plane upgraded in place, each worker replaced by a new node
// at v1.36.3 (maxSurge 1, maxUnavailable 0) under load. The rehearsal must
// pass with no failed request; afterwards every node is at v1.36.3, the old
// workers are gone (Node objects and containers), and the new nodes served
// requests. The cluster is kept to be inspected, then deleted.
func TestGateReplace(t *testing.T) {
	testenv.RequireFull(t)
	sc := loadExample(t, "replace.yaml")
	sc.Load.Baseline, sc.Load.After = scenarios.D(20*time.Second), scenarios.D(30*time.Second)
	sc.Cluster.Keep = true
	res := rehearseScenario(t, sc)
	if res.Cluster == "" {
		t.Fatal("the result names no cluster")
	}
	p, err := cluster.NewProvider(context.Background(), cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Delete(context.Background(), res.Cluster); err != nil {
			t.Errorf("delete cluster %s: %v", res.Cluster, err)
		}
	})
	if res.Verdict != report.Pass {
		t.Fatalf("replace: verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}

	var failed, newServed int64
	for _, m := range res.Report.Runs {
		for _, ph := range m.Phases {
			failed += ph.Failures
			for _, n := range ph.Nodes {
				if strings.HasSuffix(n.Name, "-v1-36-3") {
					newServed += n.Requests
				}
			}
		}
	}
	if failed != 0 {
		t.Errorf("%d requests failed; want 0", failed)
	}
	if newServed == 0 {
		t.Error("no request was served by a new node")
	}

	cfg, err := kube.Config(p.KubeconfigPath(res.Cluster), "")
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{res.Cluster + "-control-plane": true, res.Cluster + "-worker-v1-36-3": true, res.Cluster + "-worker2-v1-36-3": true}
	for _, n := range nodes.Items {
		if !want[n.Name] {
			t.Errorf("node %s is left in the cluster", n.Name)
		}
		delete(want, n.Name)
		if v := n.Status.NodeInfo.KubeletVersion; v != "v1.36.3" {
			t.Errorf("node %s runs kubelet %s; want v1.36.3", n.Name, v)
		}
	}
	for n := range want {
		t.Errorf("node %s is missing", n)
	}
	list, err := p.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range list {
		if in.Name != res.Cluster {
			continue
		}
		for _, c := range in.Nodes {
			if strings.HasSuffix(c, "-worker") || strings.HasSuffix(c, "-worker2") {
				t.Errorf("old node container %s is left", c)
			}
		}
		t.Logf("node containers at the end: %v", in.Nodes)
	}

	// The rotation followed the nodes: each new node joined it, each old
	// one left it.
	evs, err := timeline.Read(filepath.Join(res.Dir, timeline.File))
	if err != nil {
		t.Fatal(err)
	}
	joined, gone := map[string]bool{}, map[string]bool{}
	for _, e := range evs {
		switch e.Kind {
		case "node-joined":
			joined[e.Subject] = true
		case "node-gone":
			gone[e.Subject] = true
		}
	}
	for _, n := range []string{"-worker-v1-36-3", "-worker2-v1-36-3"} {
		if !joined[res.Cluster+n] {
			t.Errorf("no node-joined event for %s%s: %v", res.Cluster, n, joined)
		}
	}
	for _, n := range []string{"-worker", "-worker2"} {
		if !gone[res.Cluster+n] {
			t.Errorf("no node-gone event for %s%s: %v", res.Cluster, n, gone)
		}
		delete(gone, res.Cluster+n)
	}
	for g := range gone {
		t.Errorf("the rotation let go of %s, which was never removed", g)
	}
	t.Logf("%d requests served by the new nodes; joined %v", newServed, joined)
}

// TestGateReplaceAbortAndRevert rehearses the replace example stopped
// after its first worker (upgrade.abortAfter: 1) and reverted
// (upgrade.revert): the replaced worker is replaced again by a node at
// v1.35.4 under load.
func TestGateReplaceAbortAndRevert(t *testing.T) {
	testenv.RequireFull(t)
	sc := loadExample(t, "replace.yaml", "upgrade.abortAfter=1", "upgrade.revert=true")
	sc.Metadata.Name = "replace-revert"
	abortAndRevert(t, sc)
}

// TestGateKubeadmAbortAndRevert rehearses the in-place example stopped
// after its first worker and reverted: the upgraded worker gets back the
// kubelet, kubectl, kubeadm and kubelet configuration it had, under load.
func TestGateKubeadmAbortAndRevert(t *testing.T) {
	testenv.RequireFull(t)
	sc := loadExample(t, "kind-inplace.yaml", "upgrade.abortAfter=1", "upgrade.revert=true")
	sc.Metadata.Name = "inplace-revert"
	abortAndRevert(t, sc)
}

// abortAndRevert runs sc, an upgrade aborted after one worker and
// reverted: the revert phase runs under load and is judged, the workers
// end at v1.35.4 (the control plane stays at v1.36.3), and the final
// checklist, which expects exactly that, passes.
func abortAndRevert(t *testing.T, sc *scenarios.Scenario) {
	t.Helper()
	sc.Load.Baseline, sc.Load.After = scenarios.D(20*time.Second), scenarios.D(20*time.Second)
	res := rehearseScenario(t, sc)
	if res.Verdict != report.Pass {
		t.Fatalf("abort and revert: verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
	var phases []string
	for _, p := range res.Phases {
		phases = append(phases, p.Name+":"+p.Outcome)
	}
	joined := strings.Join(phases, " ")
	if !strings.Contains(joined, "upgrade:failed revert:ok after:ok verify:ok") {
		t.Errorf("phases %s: want the upgrade stopped (aborted), then revert, after and verify ok", joined)
	}
	judged := false
	for _, c := range res.Report.Comparisons {
		if c.Candidate == "revert" {
			judged = true
			if c.Outcome != report.Pass {
				t.Errorf("the revert phase against the baseline: %s", c.Outcome)
			}
		}
	}
	if !judged {
		t.Error("the revert phase was not judged against the baseline")
	}
	checks := map[string]report.Check{}
	for _, c := range res.Report.Checks {
		checks[c.Name] = c
	}
	if c := checks["upgrade"]; c.Outcome != report.Pass || !strings.Contains(c.Message, "aborted after 1 workers") {
		t.Errorf("upgrade check %+v: want a pass saying it was aborted after 1 worker", c)
	}
	if c := checks["revert"]; c.Outcome != report.Pass {
		t.Errorf("revert check %+v: want a pass", c)
	}
	// The final checklist saw the workers at v1.35.4 and the control
	// plane at v1.36.3.
	final := readChecklist(t, res.Dir, rehearse.ChecklistFile)
	workers, cps := 0, 0
	for _, it := range final.Items {
		if !strings.HasPrefix(it.Component, checklist.NodeItemPrefix) {
			continue
		}
		switch {
		case strings.HasSuffix(it.Component, "-control-plane"):
			cps++
			if it.Version != "v1.36.3" {
				t.Errorf("%s at %s, want v1.36.3", it.Component, it.Version)
			}
		default:
			workers++
			if it.Version != "v1.35.4" {
				t.Errorf("%s at %s, want v1.35.4", it.Component, it.Version)
			}
		}
	}
	if workers != 2 || cps != 1 {
		t.Errorf("the final checklist names %d workers and %d control planes, want 2 and 1", workers, cps)
	}
	if final.Outcome != checklist.Pass {
		t.Errorf("final checklist %s", final.Outcome)
	}
	t.Logf("phases %s", joined)
}

// TestGateReplaceBlockedDrain rehearses node replacement of a cluster
// whose one canary replica sits behind a budget that allows no disruption:
// the old node's drain is blocked, the rehearsal fails at the drain
// timeout naming the budget and the pod, and the surge node that was made
// for it is reported as left in the cluster.
func TestGateReplaceBlockedDrain(t *testing.T) {
	testenv.RequireFull(t)
	sc := loadExample(t, "replace-blocked-drain.yaml")
	res := rehearseScenario(t, sc)
	if res.Verdict != report.Fail {
		t.Fatalf("blocked drain: verdict %s, want fail:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
	var upgradeErr string
	for _, p := range res.Phases {
		if p.Name == rehearse.PhaseUpgrade {
			upgradeErr = p.Error
		}
	}
	t.Logf("upgrade phase error: %s", upgradeErr)
	for _, want := range []string{"blocked for ", "by PodDisruptionBudget rehearse-canary/", "(pods: rehearse-canary/", "-v1-36-3, Ready at v1.36.3, stays in the cluster"} {
		if !strings.Contains(upgradeErr, want) {
			t.Errorf("the upgrade's error does not say %q", want)
		}
	}
	reasons := strings.Join(res.Reasons, "\n")
	if !strings.Contains(reasons, "PodDisruptionBudget") {
		t.Errorf("the verdict's reasons do not name the budget:\n%s", reasons)
	}
	evs, err := timeline.Read(filepath.Join(res.Dir, timeline.File))
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range evs {
		if e.Kind == "surge-left" {
			left = append(left, e.Subject)
		}
	}
	if len(left) != 1 || !strings.HasSuffix(left[0], "-v1-36-3") {
		t.Errorf("surge nodes left on the timeline: %v, want the one replacement", left)
	}
}
