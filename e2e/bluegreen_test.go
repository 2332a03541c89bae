package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/cluster"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

// TestGateBlueGreen rehearses an A/B cluster swap under load: cluster B at
// the target version takes the live traffic from A, gives it back (the
// rollback rehearsal) and takes it again; A is deleted at the end. The
// failed requests around each switch are logged.
func TestGateBlueGreen(t *testing.T) {
	testenv.RequireFull(t)
	sc, err := scenarios.Load(filepath.Join("..", "scenarios", "examples", "kind-bluegreen.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Shorter windows than the example's keep the gate's run time down;
	// each still holds 1500 or more requests.
	sc.Load.Baseline, sc.Load.After = scenarios.D(20*time.Second), scenarios.D(20*time.Second)
	sc.Upgrade.BlueGreen.Settle = scenarios.D(15 * time.Second)
	res := rehearseScenario(t, sc)

	evs, err := timeline.Read(filepath.Join(res.Dir, timeline.File))
	if err != nil {
		t.Fatal(err)
	}
	var switches []timeline.Event
	for _, e := range evs {
		if e.Source == timeline.SourceRotation && e.Kind == "switch" {
			switches = append(switches, e)
		}
	}
	if len(switches) != 3 {
		t.Fatalf("want 3 traffic switches (A→B, B→A, A→B) on the timeline, got %d: %+v", len(switches), switches)
	}
	a, b := switchEnds(t, switches[0].Message)
	if !strings.HasPrefix(a, "rh-") || b != a+"-b" {
		t.Errorf("the first switch went %s → %s, want the rehearsal's cluster → the same name plus -b", a, b)
	}
	for i, want := range [][2]string{{a, b}, {b, a}, {a, b}} {
		from, to := switchEnds(t, switches[i].Message)
		if from != want[0] || to != want[1] {
			t.Errorf("switch %d went %s → %s, want %s → %s", i+1, from, to, want[0], want[1])
		}
	}

	// Failed requests around each switch: from 5 s before to 10 s after.
	type window struct {
		at               time.Time
		requests, failed int
	}
	wins := make([]window, len(switches))
	for i, s := range switches {
		wins[i].at = s.Time
	}
	if _, err := loadgen.ReadResults(filepath.Join(res.Dir, loadgen.ResultsFile), func(r *vegeta.Result) error {
		for i := range wins {
			if r.Timestamp.After(wins[i].at.Add(-5*time.Second)) && r.Timestamp.Before(wins[i].at.Add(10*time.Second)) {
				wins[i].requests++
				if r.Error != "" || r.Code < 200 || r.Code >= 400 {
					wins[i].failed++
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, w := range wins {
		t.Logf("switch %d (%s): %d of %d requests failed from 5 s before to 10 s after", i+1, switches[i].Message[:strings.Index(switches[i].Message, ":")], w.failed, w.requests)
		if w.requests < 1000 {
			t.Errorf("switch %d: only %d requests around it: the load did not keep running", i+1, w.requests)
		}
	}

	// A is gone, B was torn down with the rehearsal.
	p, err := cluster.NewProvider(context.Background(), cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	infos, err := p.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.Name == a || in.Name == b {
			t.Errorf("cluster %s still exists after the rehearsal", in.Name)
		}
	}
	if res.Verdict != report.Pass {
		t.Fatalf("the blue-green swap fails the gate: verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
}

// switchEnds reads "traffic A → B: [targets]".
func switchEnds(t *testing.T, msg string) (from, to string) {
	t.Helper()
	head, _, _ := strings.Cut(msg, ":")
	head = strings.TrimPrefix(head, "traffic ")
	from, to, ok := strings.Cut(head, " → ")
	if !ok {
		t.Fatalf("switch event %q does not read \"traffic A → B: ...\"", msg)
	}
	return from, to
}
