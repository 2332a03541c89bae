package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rehearse/rehearse/internal/testenv"
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
