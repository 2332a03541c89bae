package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/checklist"
	"github.com/rehearse/rehearse/rehearse/cluster"
	"github.com/rehearse/rehearse/rehearse/kube"
	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

// requireSubstrate fails the test with the doctor's words when this machine
// cannot run the scenario's clusters.
func requireSubstrate(t testing.TB, versions ...string) {
	t.Helper()
	for _, v := range versions {
		var out bytes.Buffer
		res := cluster.NewDoctor(cluster.LocalHost{}, v).Run(context.Background(), false, func(r cluster.Result) { cluster.WriteResult(&out, r) })
		if !cluster.Healthy(res) {
			t.Fatalf("this machine cannot run the rehearsal (rehearse doctor --kubernetes %s):\n%s\nfix: make substrate (rehearse doctor --fix; rehearse images build --kubernetes %s)", v, out.String(), v)
		}
	}
}

// testCluster is a real kind cluster made for one test and deleted when the
// test ends.
type testCluster struct {
	Provider *cluster.Provider
	Name     string
	Client   kubernetes.Interface
	Created  *cluster.Created
}

// newTestCluster creates a flannel cluster named prefix-HHMMSS at version
// with one control plane and the given workers.
func newTestCluster(ctx context.Context, t *testing.T, prefix, version string, workers int) *testCluster {
	t.Helper()
	p, err := cluster.NewProvider(ctx, cluster.Options{Progress: progressWriter{t}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	name := prefix + time.Now().Format("150405")
	created, err := p.Create(ctx, cluster.Spec{Name: name, Kubernetes: version, ControlPlanes: 1, Workers: workers, CNI: cluster.CNIFlannel}, cluster.CreateOptions{Throwaway: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Delete(context.Background(), name); err != nil {
			t.Errorf("delete cluster %s: %v", name, err)
		}
	})
	cfg, err := kube.Config(created.Kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testCluster{Provider: p, Name: name, Client: client, Created: created}
}

type progressWriter struct{ t *testing.T }

func (w progressWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func rehearseScenario(t *testing.T, sc *scenarios.Scenario) *rehearse.Result {
	t.Helper()
	requireSubstrate(t, append([]string{sc.Cluster.KubernetesVersion}, sc.Upgrade.Hops()...)...)
	dir := filepath.Join(runsDir(t), sc.Metadata.Name+"-"+time.Now().UTC().Format("20060102T150405Z"))
	progress := progressWriter{t}
	res, err := rehearse.Run(t.Context(), sc, rehearse.Options{
		Dir:         dir,
		Progress:    progress,
		Provisioner: &rehearse.Provisioners{Progress: progress},
		Canary:      rehearse.BuildCanaryImage(progress),
	})
	if err != nil {
		t.Fatalf("rehearsal %s could not run: %v (run folder %s)", sc.Metadata.Name, err, dir)
	}
	var b bytes.Buffer
	if res.Report != nil {
		_ = report.RenderText(&b, res.Report)
	}
	t.Logf("run folder %s; verdict %s\n%s", res.Dir, res.Verdict, b.String())
	return res
}

// readChecklist reads a checklist result a rehearsal wrote into its run
// folder (rehearse.ChecklistFile is the final one).
func readChecklist(t *testing.T, dir, name string) checklist.Result {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	var r checklist.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// runsDir keeps run folders where CI can publish them (REHEARSE_RUNS_DIR),
// else in the test's temporary folder.
func runsDir(t *testing.T) string {
	if d := os.Getenv("REHEARSE_RUNS_DIR"); d != "" {
		return d
	}
	return t.TempDir()
}

// TestGateDefaultScenario is the upgrade gate on the embedded default
// scenario: the in-place kubeadm minor upgrade must not hurt the canary.
func TestGateDefaultScenario(t *testing.T) {
	testenv.RequireCluster(t)
	sc, err := scenarios.Default()
	if err != nil {
		t.Fatal(err)
	}
	res := rehearseScenario(t, sc)
	if res.Verdict != report.Pass {
		t.Fatalf("the upgrade gate fails: verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
	// The new release is copied onto the nodes before the load starts:
	// the stage phase comes before the baseline, and ended well.
	var order []string
	for _, p := range res.Phases {
		order = append(order, p.Name+":"+p.Outcome)
	}
	joined := strings.Join(order, " ")
	if i, j := strings.Index(joined, rehearse.PhaseStage+":ok"), strings.Index(joined, rehearse.PhaseBaseline+":"); i < 0 || j < i {
		t.Errorf("phases %s: want %s (ok) before %s", joined, rehearse.PhaseStage, rehearse.PhaseBaseline)
	}
}

// TestGateNegativeControl proves the gate can fail: one replica, no PDB and
// no graceful drain must fail, by the outage rule.
func TestGateNegativeControl(t *testing.T) {
	testenv.RequireCluster(t)
	sc, err := scenarios.Load(filepath.Join("..", "scenarios", "examples", "negative-control.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res := rehearseScenario(t, sc)
	if res.Verdict != report.Fail {
		t.Fatalf("the negative control did not fail: verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
	named := false
	for _, r := range res.Reasons {
		if strings.Contains(r, report.RuleOutage+" fail") {
			named = true
		}
	}
	if !named {
		t.Fatalf("the negative control failed, but not by the %s rule:\n- %s", report.RuleOutage, strings.Join(res.Reasons, "\n- "))
	}
}

// TestGateExistingCluster rehearses the upgrade of an existing
// pre-production cluster by a command (kops rolling-update, eksctl, a
// script): REHEARSE_E2E_SCENARIO names an exec scenario for it.
func TestGateExistingCluster(t *testing.T) {
	path := os.Getenv("REHEARSE_E2E_SCENARIO")
	if path == "" {
		t.Skip("no pre-production cluster: set REHEARSE_E2E_SCENARIO to an exec scenario (see scenarios/examples/exec-kops-preprod.yaml)")
	}
	sc, err := scenarios.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	progress := progressWriter{t}
	res, err := rehearse.Run(t.Context(), sc, rehearse.Options{Dir: filepath.Join(runsDir(t), sc.Metadata.Name), Progress: progress, Provisioner: &rehearse.Provisioners{Progress: progress}})
	if err != nil {
		t.Fatalf("rehearsal could not run: %v", err)
	}
	if res.Verdict != report.Pass {
		t.Fatalf("the upgrade gate fails: verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
}

// noFailedRequest fails the test when any request of the rehearsal failed,
// and logs how many were sent.
func noFailedRequest(t *testing.T, res *rehearse.Result) {
	t.Helper()
	var failed, sent int64
	for _, m := range res.Report.Runs {
		for _, ph := range m.Phases {
			failed += ph.Failures
			sent += ph.Requests
		}
	}
	t.Logf("%d requests, %d failed", sent, failed)
	if failed != 0 {
		t.Errorf("%d of %d requests failed; want 0", failed, sent)
	}
}
