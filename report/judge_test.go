package report

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
)

// synth describes a synthetic recording: rate requests per second for a
// duration, log-normal latency around median, failures injected as 503s at
// failRate, and an optional outage (connection refused) window.
type synth struct {
	seed      uint64
	rate      int
	duration  time.Duration
	median    time.Duration
	sigma     float64
	extra     time.Duration
	failRate  float64
	outageAt  time.Duration
	outageFor time.Duration
}

var synthStart = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func (s synth) phase(t *testing.T, name string) *Phase {
	t.Helper()
	c := NewCollector(CollectorOptions{KeepWindows: true})
	s.feed(c, name, synthStart)
	m := c.Close()
	p := m.Phase(name)
	require.NotNil(t, p)
	return p
}

func (s synth) feed(c *Collector, phase string, start time.Time) {
	rng := rand.New(rand.NewPCG(s.seed, 42))
	if s.sigma == 0 {
		s.sigma = 0.3
	}
	n := int(s.duration.Seconds() * float64(s.rate))
	interval := time.Second / time.Duration(s.rate)
	for i := range n {
		off := time.Duration(i) * interval
		probe := loadgen.ProbeReuse
		if i%2 == 1 {
			probe = loadgen.ProbeFresh
		}
		lat := time.Duration(float64(s.median)*math.Exp(rng.NormFloat64()*s.sigma)) + s.extra
		r := vegeta.Result{
			Attack: loadgen.AttackName(phase, probe), Seq: uint64(i), Code: 200,
			Timestamp: start.Add(off), Latency: lat, URL: fmt.Sprintf("http://node-%d:30080/", i%3),
		}
		switch {
		case s.outageFor > 0 && off >= s.outageAt && off < s.outageAt+s.outageFor:
			r.Code, r.Error, r.Latency = 0, "dial tcp 10.0.0.1:30080: connect: connection refused", 200*time.Microsecond
		case rng.Float64() < s.failRate:
			r.Code, r.Error = 503, "503 Service Unavailable"
		}
		c.Add(&r)
	}
}

func base(seed uint64) synth {
	return synth{seed: seed, rate: 200, duration: 30 * time.Second, median: time.Millisecond, failRate: 0.0005}
}

func failing(c Comparison) []string {
	var out []string
	for _, r := range c.Rules {
		if r.Outcome == Fail {
			out = append(out, r.Rule)
		}
	}
	return out
}

func TestJudgeAAPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the A/A run judges 100 pairs of 6000-request recordings (about 10 s)")
	}
	passes := 0
	for i := range 100 {
		b := base(uint64(2*i+1)).phase(t, "baseline")
		c := base(uint64(2*i+2)).phase(t, "candidate")
		cmp := Judge(b, c, Rules{Seed: uint64(i + 1)})
		if cmp.Outcome == Pass {
			passes++
		} else {
			t.Logf("A/A pair %d: %s: %v", i, cmp.Outcome, failing(cmp))
		}
	}
	t.Logf("A/A: %d of 100 comparisons passed", passes)
	assert.GreaterOrEqual(t, passes, 99)
}

// TestJudgeDetectsRegressions checks that each injected regression fails the
// comparison by exactly the rules it breaks, and no other. A 2-second outage
// at 200 rps is about 400 failed requests out of 6000 (6.7 %), so it also
// breaks the failure-ratio rule; its failures are fast refusals, not slow
// answers, so latency holds.
func TestJudgeDetectsRegressions(t *testing.T) {
	b := base(1).phase(t, "baseline")
	tests := []struct {
		name      string
		cand      synth
		wantRules []string
	}{
		{"one percent more 503s", func() synth { s := base(2); s.failRate += 0.01; return s }(), []string{RuleErrorRate}},
		{"20 ms more latency on a 1 ms baseline", func() synth { s := base(3); s.extra = 20 * time.Millisecond; return s }(), []string{RuleLatency}},
		{"one 2-second outage at 200 rps", func() synth { s := base(4); s.outageAt, s.outageFor = 10*time.Second, 2*time.Second; return s }(), []string{RuleErrorRate, RuleOutage}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmp := Judge(b, tc.cand.phase(t, "candidate"), Rules{})
			for _, r := range cmp.Rules {
				assert.NotEmpty(t, r.Message, r.Rule)
				t.Logf("%s %s: %s", r.Rule, r.Outcome, r.Message)
			}
			assert.Equal(t, Fail, cmp.Outcome)
			assert.ElementsMatch(t, tc.wantRules, failing(cmp), "the failing rules")
			for _, r := range cmp.Rules {
				if !slices.Contains(tc.wantRules, r.Rule) {
					assert.Equal(t, Pass, r.Outcome, "%s: %s", r.Rule, r.Message)
				}
			}
		})
	}
}

func TestJudgeOutageMeasuredInTime(t *testing.T) {
	s := base(5)
	s.failRate = 0
	s.outageAt, s.outageFor = 10*time.Second, 2*time.Second
	p := s.phase(t, "candidate")
	// Each probe kind sees the outage on its own stream of requests.
	assert.Equal(t, int64(2), p.Outages.Count)
	assert.InDelta(t, 2.0, p.Outages.LongestSeconds, 0.01)
	require.Len(t, p.Outages.Windows, 2)
	for _, o := range p.Outages.Windows {
		assert.Equal(t, int64(200), o.Failures)
		assert.InDelta(t, 2.0, o.Seconds, 0.01)
	}
	assert.ElementsMatch(t, []string{"reuse", "fresh"}, []string{p.Outages.Windows[0].Probe, p.Outages.Windows[1].Probe})
	assert.Equal(t, int64(400), p.Classes[ClassRefused])
}

func TestJudgeTooLittleDataIsInconclusive(t *testing.T) {
	small := synth{seed: 1, rate: 20, duration: 10 * time.Second, median: time.Millisecond}
	b := small.phase(t, "baseline")
	c := small.phase(t, "candidate")
	cmp := Judge(b, c, Rules{})
	assert.Equal(t, Inconclusive, cmp.Outcome)
	for _, r := range cmp.Rules {
		if r.Rule == RuleMinSamples {
			assert.Equal(t, Inconclusive, r.Outcome)
			assert.Contains(t, r.Message, "too little data")
		}
	}
	// Even a failure in too little data fails: an outage is an outage.
	bad := small
	bad.outageAt, bad.outageFor = 2*time.Second, 3*time.Second
	assert.Equal(t, Fail, Judge(b, bad.phase(t, "candidate"), Rules{}).Outcome)
}

func TestJudgeSparseErrorsDoNotFail(t *testing.T) {
	b := base(7)
	b.failRate = 0
	c := base(8)
	c.failRate = 0
	cp := c.phase(t, "candidate")
	// Three scattered failures in 6000 requests: not a significant rise.
	cp.Failures += 3
	cmp := Judge(b.phase(t, "baseline"), cp, Rules{})
	for _, r := range cmp.Rules {
		if r.Rule == RuleErrorRate {
			assert.Equal(t, Pass, r.Outcome, r.Message)
		}
	}
}

func TestRulesOverrides(t *testing.T) {
	b := base(1).phase(t, "baseline")
	s := base(9)
	s.extra = 3 * time.Millisecond
	c := s.phase(t, "candidate")
	assert.Equal(t, Pass, Judge(b, c, Rules{}).Outcome, "3 ms is below the default 5 ms floor")
	strict := Judge(b, c, Rules{MinP99Increase: time.Millisecond})
	assert.Equal(t, Fail, strict.Outcome)
	assert.Contains(t, failing(strict), RuleLatency)
}

func TestRulesValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules Rules
		want  string
	}{
		{"defaults", Rules{}, ""},
		{"negative samples", Rules{MinSamples: -1}, "minSamples"},
		{"error increase above one", Rules{MaxErrorRateIncrease: 2}, "maxErrorRateIncrease"},
		{"ratio below one", Rules{MaxP99Ratio: 0.5}, "maxP99Ratio"},
		{"negative outage", Rules{MaxOutage: -time.Second}, "maxOutage"},
		{"alpha one", Rules{Alpha: 1}, "alpha"},
		{"alpha negative", Rules{Alpha: -0.01}, "alpha"},
		{"alpha NaN", Rules{Alpha: math.NaN()}, "alpha: NaN"},
		{"alpha +Inf", Rules{Alpha: math.Inf(1)}, "alpha: +Inf"},
		{"alpha -Inf", Rules{Alpha: math.Inf(-1)}, "alpha: -Inf"},
		{"alpha just below one", Rules{Alpha: 0.999}, ""},
		{"error increase NaN", Rules{MaxErrorRateIncrease: math.NaN()}, "maxErrorRateIncrease: NaN"},
		{"error increase +Inf", Rules{MaxErrorRateIncrease: math.Inf(1)}, "maxErrorRateIncrease: +Inf"},
		{"error increase -Inf", Rules{MaxErrorRateIncrease: math.Inf(-1)}, "maxErrorRateIncrease: -Inf"},
		{"error increase negative", Rules{MaxErrorRateIncrease: -0.001}, "maxErrorRateIncrease"},
		{"error increase one", Rules{MaxErrorRateIncrease: 1}, ""},
		{"ratio NaN", Rules{MaxP99Ratio: math.NaN()}, "maxP99Ratio: NaN"},
		{"ratio +Inf", Rules{MaxP99Ratio: math.Inf(1)}, "maxP99Ratio: +Inf"},
		{"ratio -Inf", Rules{MaxP99Ratio: math.Inf(-1)}, "maxP99Ratio: -Inf"},
		{"ratio negative", Rules{MaxP99Ratio: -2}, "maxP99Ratio"},
		{"ratio one", Rules{MaxP99Ratio: 1}, ""},
		{"negative p99 increase", Rules{MinP99Increase: -time.Millisecond}, "minP99Increase"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.rules.Validate()
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// Thresholds a comparison with NaN is always false for would let a failing
// candidate pass; Compare and JudgeRun refuse them and Judge judges nothing.
func TestInvalidRulesNeverPass(t *testing.T) {
	b := base(1).phase(t, "baseline")
	worse := base(2)
	worse.failRate += 0.02
	worse.extra = 20 * time.Millisecond
	worse.outageAt, worse.outageFor = 10*time.Second, 2*time.Second
	c := worse.phase(t, "candidate")
	require.Equal(t, Fail, Judge(b, c, Rules{}).Outcome, "the candidate fails under the default rules")

	whole := func(p *Phase) *Metrics { return &Metrics{Source: p.Name, Phases: []*Phase{p}} }
	run := &Metrics{Source: "run", Phases: []*Phase{b, c}}
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name  string
		rules Rules
		field string
	}{
		{"alpha NaN", Rules{Alpha: nan}, "alpha"},
		{"alpha +Inf", Rules{Alpha: inf}, "alpha"},
		{"error increase NaN", Rules{MaxErrorRateIncrease: nan}, "maxErrorRateIncrease"},
		{"error increase +Inf", Rules{MaxErrorRateIncrease: inf}, "maxErrorRateIncrease"},
		{"p99 ratio NaN", Rules{MaxP99Ratio: nan}, "maxP99Ratio"},
		{"p99 ratio +Inf", Rules{MaxP99Ratio: inf}, "maxP99Ratio"},
		{"p99 ratio -Inf", Rules{MaxP99Ratio: math.Inf(-1)}, "maxP99Ratio"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmp := Judge(b, c, tc.rules)
			assert.Equal(t, Inconclusive, cmp.Outcome)
			require.Len(t, cmp.Rules, 1)
			assert.Equal(t, RuleValid, cmp.Rules[0].Rule)
			assert.Contains(t, cmp.Rules[0].Message, tc.field)

			_, err := Compare(whole(b), whole(c), tc.rules)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.field+": ")
			_, err = JudgeRun(run, "baseline", tc.rules)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.field+": ")
		})
	}
}

func TestCombine(t *testing.T) {
	assert.Equal(t, Inconclusive, Combine())
	assert.Equal(t, Pass, Combine(Pass, Pass))
	assert.Equal(t, Inconclusive, Combine(Pass, Inconclusive))
	assert.Equal(t, Fail, Combine(Inconclusive, Fail, Pass))
}

func TestRulesJSONRoundTrip(t *testing.T) {
	in := Rules{MinSamples: 100, MaxErrorRateIncrease: 0.002, MaxP99Ratio: 2, MinP99Increase: 7 * time.Millisecond, MaxOutage: 1500 * time.Millisecond, Alpha: 0.05, Seed: 3}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"minP99Increase":"7ms"`)
	assert.Contains(t, string(b), `"maxOutage":"1.5s"`)
	var out Rules
	require.NoError(t, json.Unmarshal(b, &out))
	assert.Equal(t, in, out)
	assert.ErrorContains(t, json.Unmarshal([]byte(`{"maxOutage":"soon"}`), &out), "maxOutage")
}
