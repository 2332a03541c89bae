package report

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/timeline"
)

// phaseLoad is the traffic of one phase of a synthetic run.
type phaseLoad struct {
	name     string
	failRate float64
	delay    time.Duration
}

// runStep is a synthetic upgrade step: name, subject, start offset and length.
type runStep struct {
	name, subject string
	at, took      time.Duration
	outcome       string
}

// writeRehearsal writes a run folder: results.bin with 1000 results per phase,
// and a timeline with the steps.
func writeRehearsal(t *testing.T, dir string, seed uint64, phases []phaseLoad, steps []runStep) {
	t.Helper()
	rec, err := loadgen.CreateRecorder(filepath.Join(dir, loadgen.ResultsFile))
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(seed, 7))
	t0 := time.Date(2026, 5, 6, 7, 0, 0, 0, time.UTC).Add(time.Duration(seed) * time.Hour)
	ts := t0
	for _, p := range phases {
		for i := range 1000 {
			probe := loadgen.ProbeReuse
			if i%2 == 1 {
				probe = loadgen.ProbeFresh
			}
			r := vegeta.Result{
				Attack: loadgen.AttackName(p.name, probe), Seq: uint64(i), Code: 200, Method: "GET",
				URL: "http://172.18.0.2:30080/", Timestamp: ts,
				Latency: p.delay + time.Duration(float64(time.Millisecond)*math.Exp(rng.NormFloat64()*0.3)),
			}
			if rng.Float64() < p.failRate {
				r.Code, r.Error = 503, "503 Service Unavailable"
			}
			rec.Add(&r)
			ts = ts.Add(10 * time.Millisecond)
		}
	}
	require.NoError(t, rec.Close())
	tl, err := timeline.Create(filepath.Join(dir, timeline.File))
	require.NoError(t, err)
	for _, s := range steps {
		tl.Emit(Event{Time: t0.Add(s.at), Source: timeline.SourceDriver, Kind: "start", Subject: s.subject, Message: s.name})
		if s.outcome == StepUnfinished {
			continue
		}
		end := Event{Time: t0.Add(s.at + s.took), Source: timeline.SourceDriver, Kind: "end", Subject: s.subject, Outcome: "ok", Message: s.name}
		if s.outcome == "failed" {
			end.Outcome, end.Message = "failed", s.name+": drain blocked"
		}
		tl.Emit(end)
	}
	require.NoError(t, tl.Close())
}

func TestCompareRunsAlignsPhasesAndSteps(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	const ca, cb = "rh-own-app-111111-abcdef", "rh-own-app-222222-123456"
	writeRehearsal(t, a, 1,
		[]phaseLoad{{name: "baseline"}, {name: "upgrade"}, {name: "after"}, {name: "settle"}},
		[]runStep{
			{name: "upgrade kubeadm", subject: ca + "-control-plane", at: 10 * time.Second, took: 2 * time.Second},
			{name: "drain", subject: ca + "-worker2", at: 12 * time.Second, took: 5 * time.Second},
			{name: "load localhost/rehearse/node:v1.36.3 into " + ca + "-worker", subject: ca + "-worker", at: 13 * time.Second, took: time.Second},
			{name: "node interval 0s", at: 18 * time.Second, took: time.Second},
			{name: "node interval 0s", at: 19 * time.Second, took: 2 * time.Second},
		})
	// B's upgrade fails 5% of requests; its after phase is like A's.
	writeRehearsal(t, b, 2,
		[]phaseLoad{{name: "baseline"}, {name: "upgrade", failRate: 0.05}, {name: "after"}, {name: "verify"}},
		[]runStep{
			{name: "upgrade kubeadm", subject: cb + "-control-plane", at: 10 * time.Second, took: 3 * time.Second},
			{name: "drain", subject: cb + "-worker2", at: 13 * time.Second, took: 8 * time.Second, outcome: "failed"},
			{name: "load localhost/rehearse/node:v1.36.3 into " + cb + "-worker", subject: cb + "-worker", at: 13 * time.Second, took: time.Second},
			{name: "node interval 0s", at: 18 * time.Second, took: 3 * time.Second},
			{name: "node interval 0s", at: 21 * time.Second, took: time.Second},
			{name: "uncordon", subject: cb + "-worker2", at: 30 * time.Second, outcome: StepUnfinished},
		})

	rc, err := CompareRuns(a, b, RunsOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"baseline", "upgrade", "after"}, rc.Phases)
	assert.Equal(t, []string{"settle"}, rc.OnlyA)
	assert.Equal(t, []string{"verify"}, rc.OnlyB)

	rep := rc.Report
	require.Len(t, rep.Comparisons, 3)
	outcome := map[string]Outcome{}
	for _, c := range rep.Comparisons {
		assert.Equal(t, "A:"+c.Candidate[len("B:"):], c.Baseline, "B's phase is judged against A's same phase")
		outcome[c.Candidate] = c.Outcome
	}
	assert.Equal(t, map[string]Outcome{"B:baseline": Pass, "B:upgrade": Fail, "B:after": Pass}, outcome)
	assert.Equal(t, Fail, rep.Verdict)
	require.Len(t, rep.Runs, 2)
	for _, m := range rep.Runs {
		assert.Len(t, m.Phases, 3, "phases that are not compared are left out: %s", m.Source)
		for _, w := range m.Windows {
			assert.NotContains(t, []string{"A:settle", "B:verify"}, w.Phase)
		}
	}

	got := map[string][2]StepSpan{}
	var order []string
	for _, s := range rc.Steps {
		got[s.Step] = [2]StepSpan{s.A, s.B}
		order = append(order, s.Step)
	}
	assert.Equal(t, []string{
		"upgrade kubeadm (control-plane)", "drain (worker2)", "load localhost/rehearse/node:v1.36.3 into worker",
		"node interval 0s", "node interval 0s #2", "uncordon (worker2)",
	}, order)
	assert.Equal(t, [2]StepSpan{{Ran: true, Seconds: 5, Outcome: "ok"}, {Ran: true, Seconds: 8, Outcome: "failed"}}, got["drain (worker2)"])
	assert.Equal(t, [2]StepSpan{{Ran: true, Seconds: 2, Outcome: "ok"}, {Ran: true, Seconds: 1, Outcome: "ok"}}, got["node interval 0s #2"])
	assert.Equal(t, [2]StepSpan{{}, {Ran: true, Outcome: StepUnfinished}}, got["uncordon (worker2)"])
	d, ok := rc.Steps[1].Diff()
	assert.True(t, ok)
	assert.Equal(t, 3*time.Second, d)
	_, ok = rc.Steps[5].Diff()
	assert.False(t, ok, "a step one run never finished has no difference")

	var txt bytes.Buffer
	require.NoError(t, RenderRunsText(&txt, rc))
	for _, want := range []string{
		"A: " + a, "B: " + b,
		"Comparison B:upgrade vs A:upgrade: FAIL",
		"Comparison B:after vs A:after: PASS",
		"Not compared: only in A: settle; only in B: verify",
		"STEP", "DIFFERENCE", "+3.0s (+60%)", "8.0s failed", "unfinished",
	} {
		assert.Contains(t, txt.String(), want)
	}
	var md bytes.Buffer
	require.NoError(t, RenderRunsMarkdown(&md, rc))
	assert.Contains(t, md.String(), "| drain (worker2) | 5.0s | 8.0s failed | +3.0s (+60%) |")

	var js bytes.Buffer
	require.NoError(t, RenderRunsJSON(&js, rc))
	var doc struct {
		Phases []string `json:"phases"`
		Report struct {
			Verdict string `json:"verdict"`
		} `json:"report"`
		Steps []StepTiming `json:"steps"`
	}
	require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
	assert.Equal(t, "fail", doc.Report.Verdict)
	assert.Equal(t, rc.Steps, doc.Steps)

	for name, render := range RunsFormats() {
		var buf bytes.Buffer
		require.NoError(t, render(&buf, rc), name)
		assert.NotEmpty(t, buf.String(), name)
	}
}

func TestCompareRunsOnePhase(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	writeRehearsal(t, a, 3, []phaseLoad{{name: "baseline"}, {name: "upgrade"}, {name: "after"}}, nil)
	writeRehearsal(t, b, 4, []phaseLoad{{name: "baseline"}, {name: "upgrade", failRate: 0.05}, {name: "after"}}, nil)

	rc, err := CompareRuns(a, b, RunsOptions{Phase: "after"})
	require.NoError(t, err)
	assert.Equal(t, []string{"after"}, rc.Phases)
	require.Len(t, rc.Report.Comparisons, 1)
	assert.Equal(t, "B:after", rc.Report.Comparisons[0].Candidate)
	assert.Equal(t, Pass, rc.Report.Verdict, "the failing upgrade phase is not judged")
	assert.Empty(t, rc.Steps)

	_, err = CompareRuns(a, b, RunsOptions{Phase: "rollback"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `phase "rollback"`)
	assert.Contains(t, err.Error(), a)
	assert.Contains(t, err.Error(), "baseline, upgrade, after")
}

func TestCompareRunsWithoutCommonPhase(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	writeRehearsal(t, a, 5, []phaseLoad{{name: "baseline"}}, nil)
	writeRehearsal(t, b, 6, []phaseLoad{{name: "upgrade"}}, nil)
	_, err := CompareRuns(a, b, RunsOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no phase in common")
}

func TestNormalizeNode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"rh-own-app-111111-abcdef-worker2", "worker2"},
		{"rh-own-app-222222-123456-worker", "worker"},
		{"rh-own-app-222222-123456-control-plane", "control-plane"},
		{"rh-x-1-a-control-plane3", "control-plane3"},
		{"rh-worker-test-1-a-worker2", "worker2"},
		{"rh-x-1-a-external-load-balancer", "external-load-balancer"},
		{"batch rh-x-1-a-worker, rh-x-1-a-worker2", "batch worker, worker2"},
		{"load img:v1 into rh-x-1-a-worker", "load img:v1 into worker"},
		{"kube-worker-pool", "kube-worker-pool"},
		{"drain", "drain"},
		{"", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			assert.Equal(t, tc.want, NormalizeNode(tc.in))
		})
	}
}
