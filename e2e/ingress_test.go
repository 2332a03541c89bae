package e2e

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/runfolder"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/report"
)

// buildIngressController builds Traefik from source into podman's store,
// as a user of the ingress example does (cached after the first build).
func buildIngressController(t *testing.T) {
	t.Helper()
	out, err := exec.Command(filepath.Join("..", "scripts", "build-ingress-controller.sh")).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/build-ingress-controller.sh: %v\n%s", err, out)
	}
	t.Logf("built %s", strings.TrimSpace(string(out)))
}

// TestGateIngressLoad rehearses ingress-load.yaml: the default in-place
// upgrade with Traefik installed as a workload and three in-cluster
// generators sending through it, to the Ingress rehearse made for the
// canary. It must pass with no failed request; every request must have
// gone to Traefik's Service (the one target the timeline names, with the
// Ingress's host) and been answered by a canary pod, on every node.
func TestGateIngressLoad(t *testing.T) {
	testenv.RequireFull(t)
	buildIngressController(t)
	res := rehearseScenario(t, loadExample(t, "ingress-load.yaml"))
	if res.Verdict != report.Pass {
		t.Fatalf("ingress-load: verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}

	evs, err := timeline.Read(filepath.Join(res.Dir, timeline.File))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(evs, func(e timeline.Event) bool { return e.Source == timeline.SourceLoadgen && e.Kind == "generators" })
	if i < 0 {
		t.Fatal("timeline: no generators event")
	}
	msg := evs[i].Message
	t.Logf("timeline: %s", msg)
	if !strings.Contains(msg, "(Host: canary.rehearse.test)") {
		t.Errorf("the generators should send with the Ingress's host: %s", msg)
	}

	urls := map[string]int64{}
	nodes := map[string]int64{}
	var n, failed int64
	if _, err := loadgen.ReadResults(filepath.Join(res.Dir, runfolder.Results), func(r *vegeta.Result) error {
		n++
		urls[r.URL]++
		if r.Error != "" || r.Code != 200 {
			failed++
		}
		if node := r.Headers.Get("X-Canary-Node"); node != "" {
			nodes[node]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d results, %d failed; sent to %v; answered on nodes %v", n, failed, urls, nodes)
	if failed != 0 {
		t.Errorf("%d of %d requests through the ingress failed", failed, n)
	}
	if len(urls) != 1 {
		t.Fatalf("want every request sent to Traefik's Service, got %v", urls)
	}
	for u := range urls {
		if !strings.Contains(msg, "["+u+"]") {
			t.Errorf("results went to %s, not the target the timeline names: %s", u, msg)
		}
	}
	if len(nodes) < 3 {
		t.Errorf("canary pods on %d nodes answered, want all 3: %v", len(nodes), nodes)
	}
}
