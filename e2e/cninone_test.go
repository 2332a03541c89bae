package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/checklist"
	"github.com/rehearse/rehearse/rehearse/nodeimage"
	"github.com/rehearse/rehearse/report"
)

// TestGateNoCNI rehearses cni-none.yaml as its README says to: the cluster
// is created without a CNI and the pod network is the flannel manifest
// copied out of the node image, installed as a workload. The workloads must
// run before the canary, the rehearsal (the default in-place upgrade) must
// pass with no failed request, and the final checklist must find the
// flannel the workloads installed, at Ready on every node.
func TestGateNoCNI(t *testing.T) {
	testenv.RequireFull(t)
	dir := t.TempDir()
	example, err := os.ReadFile(filepath.Join("..", "scenarios", "examples", "cni-none.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cni-none.yaml"), example, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "cni-none"), 0o755); err != nil {
		t.Fatal(err)
	}
	requireSubstrate(t, "v1.35.4")
	manifest, err := exec.Command("podman", "run", "--rm", "--entrypoint", "cat", nodeimage.ImageRepository+":v1.35.4", "/kind/manifests/flannel.yaml").Output()
	if err != nil || !strings.Contains(string(manifest), "kube-flannel-ds") {
		t.Fatalf("copy flannel's manifest out of the node image as cni-none/README.md says: %v\n%s", err, manifest)
	}
	if err := os.WriteFile(filepath.Join(dir, "cni-none", "flannel.yaml"), manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := rehearse.ScenarioLoader().Load(filepath.Join(dir, "cni-none.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	res := rehearseScenario(t, sc)
	if res.Verdict != report.Pass {
		t.Errorf("cni none: verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
	noFailedRequest(t, res)
	names := phaseNames(res)
	w, c := slices.Index(names, rehearse.PhaseWorkloads), slices.Index(names, rehearse.PhaseCanary)
	if w < 0 || c < 0 || w > c {
		t.Errorf("phases %v: want the workloads (the pod network) before the canary", names)
	}
	final := readChecklist(t, res.Dir, rehearse.ChecklistFile)
	i := slices.IndexFunc(final.Items, func(it checklist.ItemResult) bool { return it.Component == "kube-flannel" })
	if i < 0 || final.Items[i].Outcome != checklist.Pass || final.Items[i].Ready != "3/3" {
		t.Errorf("final checklist: want kube-flannel (installed by the workloads) passing at 3/3, got %+v", final.Items)
	}
}
