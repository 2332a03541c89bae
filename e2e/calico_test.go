package e2e

import (
	"slices"
	"strings"
	"testing"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/checklist"
	"github.com/rehearse/rehearse/report"
)

// TestGateCalico rehearses calico.yaml: the default in-place upgrade on a
// cluster whose pod network is Calico in VXLAN mode, built from source. It
// must pass with no failed request, and the final checklist must find
// calico-node Ready on all 3 nodes and calico-kube-controllers Ready, the
// CNI items in Calico's place.
func TestGateCalico(t *testing.T) {
	testenv.RequireFull(t)
	res := rehearseScenario(t, loadExample(t, "calico.yaml"))
	if res.Verdict != report.Pass {
		t.Errorf("calico: verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
	noFailedRequest(t, res)
	final := readChecklist(t, res.Dir, rehearse.ChecklistFile)
	for comp, ready := range map[string]string{"calico-node": "3/3", "calico-kube-controllers": "1/1"} {
		i := slices.IndexFunc(final.Items, func(it checklist.ItemResult) bool { return it.Component == comp })
		if i < 0 || final.Items[i].Outcome != checklist.Pass || final.Items[i].Ready != ready {
			t.Errorf("final checklist: want %s passing at %s, got %+v", comp, ready, final.Items)
		}
	}
	if i := slices.IndexFunc(final.Items, func(it checklist.ItemResult) bool { return it.Component == "kube-flannel" }); i >= 0 && final.Items[i].Outcome != checklist.Pass {
		t.Errorf("final checklist: kube-flannel should be absent in Calico's place, got %+v", final.Items[i])
	}
}
