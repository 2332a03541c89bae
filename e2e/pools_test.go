package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

// TestGatePools rehearses the pools example: a general pool and a tainted
// apps pool. The canary must run on the apps pool only (every request is
// served by one of its nodes), the upgrade must drain the apps pool's nodes
// before the general pool's, and the rehearsal must pass.
func TestGatePools(t *testing.T) {
	testenv.RequireFull(t)
	sc := loadExample(t, "pools.yaml")
	sc.Load.Baseline, sc.Load.After = scenarios.D(20*time.Second), scenarios.D(20*time.Second)
	res := rehearseScenario(t, sc)
	if res.Verdict != report.Pass {
		t.Fatalf("pools: verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
	// kind names the workers in pool order: -worker is general, -worker2
	// and -worker3 are apps.
	apps := func(node string) bool {
		return strings.HasSuffix(node, "-worker2") || strings.HasSuffix(node, "-worker3")
	}
	served := 0
	for _, m := range res.Report.Runs {
		for _, p := range m.Phases {
			for _, n := range p.Nodes {
				if !apps(n.Name) {
					t.Errorf("phase %s: node %s served %d requests, but the canary belongs on the apps pool", p.Name, n.Name, n.Requests)
				}
				served += int(n.Requests)
			}
		}
	}
	if served == 0 {
		t.Fatal("no request was counted by the node that served it")
	}

	evs, err := timeline.Read(filepath.Join(res.Dir, timeline.File))
	if err != nil {
		t.Fatal(err)
	}
	var drained []string
	for _, e := range evs {
		if e.Source == timeline.SourceDriver && e.Kind == "start" && e.Message == "drain" && strings.Contains(e.Subject, "-worker") {
			drained = append(drained, e.Subject)
		}
	}
	if len(drained) != 3 || !apps(drained[0]) || !apps(drained[1]) || apps(drained[2]) {
		t.Fatalf("workers drained in order %v: want the apps pool's two, then the general pool's", drained)
	}
	t.Logf("workers drained in order %v; %d requests served by the apps pool; phases %v", drained, served, phaseNames(res))
}

func phaseNames(res *rehearse.Result) []string {
	var out []string
	for _, p := range res.Phases {
		out = append(out, p.Name)
	}
	return out
}
