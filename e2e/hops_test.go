package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/checklist"
	"github.com/rehearse/rehearse/report"
)

// TestGateTwoHops rehearses two-hops.yaml: a 1+2 cluster upgraded in place
// from v1.35.4 to v1.36.3 and then to v1.37.2 under continuous load. It
// must pass with no failed request, with two upgrade phases judged, the
// checklist passing at v1.36.3 between the hops, the second hop's plan in
// the run folder, and the final checklist at v1.37.2.
func TestGateTwoHops(t *testing.T) {
	testenv.RequireFull(t)
	sc := loadExample(t, "two-hops.yaml")
	res := rehearseScenario(t, sc)
	if res.Verdict != report.Pass {
		t.Errorf("two hops: verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
	noFailedRequest(t, res)
	judged := map[string]int64{}
	for _, m := range res.Report.Runs {
		for _, ph := range m.Phases {
			judged[ph.Name] += ph.Requests
		}
	}
	t.Logf("requests per phase: %v", judged)
	for _, p := range []string{"upgrade-1", "upgrade-2"} {
		if judged[p] == 0 {
			t.Errorf("phase %s has no requests", p)
		}
	}
	if names := phaseNames(res); !slices.Contains(names, "upgrade-1") || !slices.Contains(names, "upgrade-2") || slices.Contains(names, "upgrade") {
		t.Errorf("phases %v, want upgrade-1 and upgrade-2", names)
	}
	if between := readChecklist(t, res.Dir, "checklist-upgrade-1.json"); between.Outcome != checklist.Pass {
		t.Errorf("checklist between the hops: %s", between.Outcome)
	}
	if final := readChecklist(t, res.Dir, rehearse.ChecklistFile); final.Outcome != checklist.Pass {
		t.Errorf("final checklist: %s", final.Outcome)
	}
	if b, err := os.ReadFile(filepath.Join(res.Dir, "plan-upgrade-2.txt")); err != nil || !strings.Contains(string(b), "from v1.36.3 to v1.37.2") {
		t.Errorf("the second hop's plan: %v\n%s", err, b)
	}
}
