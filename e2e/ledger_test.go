package e2e

import (
	"strings"
	"testing"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/rehearse/ledger"
	"github.com/rehearse/rehearse/report"
)

// ledgerSummary judges the run folder's ledger again from its files and
// logs what it holds.
func ledgerSummary(t *testing.T, dir string) ledger.Summary {
	t.Helper()
	s, err := ledger.JudgeDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range s.Phases {
		t.Logf("ledger %s: %d writes sent, %d acknowledged", p.Phase, p.Sent, p.Acked)
	}
	for _, rb := range s.ReadBacks {
		t.Logf("ledger read-back after %s: %d keys in %s %s", rb.After, rb.Count, rb.Ended.Sub(rb.Started), rb.Error)
	}
	t.Logf("ledger: %d lost, %d out of order, %d applied unacknowledged", len(s.Lost), s.Disorder, s.Applied)
	return s
}

// TestGateLedger rehearses the default in-place upgrade with the stateful
// canary: a 3-member etcd cluster on persistent volumes with a budget of
// one, under 20 sequenced writes per second. Every acknowledged write must
// be read back after each node's upgrade and at the end, and the writes'
// availability must pass like the canary's. It runs in make test-full
// (about 12 minutes): make test keeps within CI's time on a fresh machine.
func TestGateLedger(t *testing.T) {
	testenv.RequireFull(t)
	res := rehearseScenario(t, loadExample(t, "ledger.yaml"))
	s := ledgerSummary(t, res.Dir)
	if res.Verdict != report.Pass {
		t.Fatalf("ledger: verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
	c := s.Check()
	if c.Outcome != report.Pass {
		t.Fatalf("lost-writes: %s: %s", c.Outcome, c.Message)
	}
	// After the baseline and the upgrade, after each of the three nodes'
	// uncordon, and at the end.
	if len(s.ReadBacks) < 6 {
		t.Fatalf("%d read-backs, want at least 6 (2 phases, 3 nodes, the end)", len(s.ReadBacks))
	}
	for _, p := range s.Phases {
		if p.Acked == 0 {
			t.Fatalf("no write acknowledged in phase %s", p.Phase)
		}
	}
	// The canary must not lose a request; the store may refuse a few writes
	// while it elects a leader (judged above by the error-rate and outage
	// rules of target:ledger).
	for _, m := range res.Report.Runs {
		for _, ph := range m.Phases {
			for _, p := range ph.Probes {
				if p.Probe == "target:ledger" {
					t.Logf("target:ledger %s: %d writes, %d failed", ph.Name, p.Requests, p.Failures)
					continue
				}
				if p.Failures != 0 {
					t.Errorf("%s %s: %d of %d requests failed", ph.Name, p.Probe, p.Failures, p.Requests)
				}
			}
		}
	}
}

// TestGateLedgerFragile is the stateful canary's negative control: one
// member on an emptyDir without a budget loses its data when the drain
// moves it, and the rehearsal must fail by lost-writes. It runs in make
// test-full: make test keeps the default scenario's negative control.
func TestGateLedgerFragile(t *testing.T) {
	testenv.RequireFull(t)
	res := rehearseScenario(t, loadExample(t, "ledger-fragile.yaml"))
	s := ledgerSummary(t, res.Dir)
	if res.Verdict != report.Fail {
		t.Fatalf("ledger-fragile: verdict %s, want fail:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
	named := false
	for _, r := range res.Reasons {
		named = named || strings.Contains(r, ledger.RuleLostWrites)
	}
	if !named || len(s.Lost) == 0 {
		t.Fatalf("ledger-fragile failed without naming %s (%d lost):\n- %s", ledger.RuleLostWrites, len(s.Lost), strings.Join(res.Reasons, "\n- "))
	}
}
