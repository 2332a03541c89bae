package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

// buildShop builds the own-app example's image into podman's store, as a
// user of the example does.
func buildShop(t *testing.T) {
	t.Helper()
	cmd := exec.Command(filepath.Join("..", "scripts", "build-example-app.sh"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/build-example-app.sh: %v\n%s", err, out)
	}
	t.Logf("built %s", strings.TrimSpace(string(out)))
}

func loadExample(t *testing.T, name string, sets ...string) *scenarios.Scenario {
	t.Helper()
	sc, err := rehearse.ScenarioLoader().Load(filepath.Join("..", "scenarios", "examples", name), sets...)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// streamOf finds the stream (probe or target) of a phase in the report.
func streamOf(rep *report.Report, phase, stream string) *report.ProbeSummary {
	for _, m := range rep.Runs {
		for _, p := range m.Phases {
			if p.Name != phase {
				continue
			}
			for i := range p.Probes {
				if p.Probes[i].Probe == stream {
					return &p.Probes[i]
				}
			}
		}
	}
	return nil
}

// TestGateOwnApp rehearses the default in-place upgrade with our own
// application beside the canary: its image loaded without a registry, its
// manifests applied and waited on, a request with a path, a header and an
// expected body sent to its Service's node ports. It must pass, with the
// shop's own requests counted and judged.
func TestGateOwnApp(t *testing.T) {
	testenv.RequireCluster(t)
	buildShop(t)
	res := rehearseScenario(t, loadExample(t, "own-app.yaml"))
	if res.Verdict != report.Pass {
		t.Fatalf("own-app: verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
	shop := streamOf(res.Report, rehearse.PhaseUpgrade, "target:shop")
	if shop == nil || shop.Requests == 0 {
		t.Fatalf("no request of the shop's target was recorded in the upgrade phase")
	}
	t.Logf("target:shop during the upgrade: %d requests, %d failed", shop.Requests, shop.Failures)
}

// TestGateOwnAppFragile is own-app's negative control: the same shop as a
// naive deployment (one replica, no budget, no drain) built by a
// kustomization must fail, and the verdict must name the shop's target. It
// runs in make test-full: make test keeps the default scenario's negative
// control.
func TestGateOwnAppFragile(t *testing.T) {
	testenv.RequireFull(t)
	buildShop(t)
	res := rehearseScenario(t, loadExample(t, "own-app-fragile.yaml"))
	if res.Verdict != report.Fail {
		t.Fatalf("own-app-fragile did not fail: verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
	if !strings.Contains(strings.Join(res.Reasons, "\n"), "target:shop") {
		t.Fatalf("own-app-fragile failed without naming the shop's target:\n- %s", strings.Join(res.Reasons, "\n- "))
	}
}

// shopTarget is a --set of the shop's target with another Service name and
// expected body.
func shopTarget(service, body string) string {
	return "load.targets=[{name: shop, service: {namespace: shop, name: " + service + ", port: http}, path: /api/items, headers: {X-Tenant: rehearse}, expect: {status: [200], bodyContains: '" + body + "'}}]"
}

// TestIntegrationOwnAppBadInput: a missing image, a manifest that never
// becomes ready, a bad expect and a target naming a missing Service each
// stop the rehearsal with an error naming the file or object, and leave no
// cluster behind.
func TestIntegrationOwnAppBadInput(t *testing.T) {
	testenv.RequireFull(t)
	buildShop(t)
	dir := t.TempDir()
	never := filepath.Join(dir, "never.yaml")
	if err := os.WriteFile(never, []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: never, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: never}}
  template:
    metadata: {labels: {app: never}}
    spec:
      containers:
        - name: never
          image: localhost/rehearse/shop:example
          imagePullPolicy: Never
          readinessProbe: {httpGet: {path: /nowhere, port: 8080}, periodSeconds: 1}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		sets []string
		want []string
	}{
		{"missing image", []string{"images=[]"}, []string{"image localhost/rehearse/shop:example", "missing on"}},
		{"never ready", []string{"workloads=[{path: " + never + ", timeout: 40s}]", "load.targets=[]"}, []string{"Deployment default/never", "never.yaml"}},
		{"bad expect", []string{shopTarget("shop", `not in the answer`)}, []string{"target shop does not answer", `expect: body does not contain "not in the answer"`}},
		{"missing service", []string{shopTarget("nowhere", `"items"`)}, []string{"load.targets[0] (shop)", "service shop/nowhere not found"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := loadExample(t, "own-app.yaml", append([]string{"load.baseline=5s", "load.after=5s"}, tc.sets...)...)
			progress := progressWriter{t}
			prov := &rehearse.Provisioners{Progress: progress}
			res, err := rehearse.Run(context.Background(), sc, rehearse.Options{Dir: t.TempDir(), Progress: progress, Provisioner: prov, Canary: rehearse.BuildCanaryImage(progress)})
			if err == nil {
				t.Fatalf("the rehearsal ran to a verdict (%v) instead of stopping", res.Verdict)
			}
			var in *rehearse.InputError
			if !errors.As(err, &in) {
				t.Errorf("the error is not the scenario's input (rehearse run would not exit 2): %T %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q:\n%v", w, err)
				}
			}
			out, _ := exec.Command("podman", "ps", "-a", "--filter", "label=io.x-k8s.kind.cluster", "--format", "{{.Names}}").Output()
			for _, n := range strings.Fields(string(out)) {
				if strings.HasPrefix(n, "rh-own-app-") {
					t.Errorf("container %s of the stopped rehearsal is left behind", n)
				}
			}
		})
	}
}
