package report

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/canary"
)

// startCanary serves the real canary on addr until the returned stop is
// called, and waits until it answers.
func startCanary(t *testing.T, addr string, cfg canary.Config) (stop func()) {
	t.Helper()
	cfg.Addr = addr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- canary.Serve(ctx, cfg, nil) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			break
		}
		require.True(t, time.Now().Before(deadline), "canary did not start on %s: %v", addr, err)
		time.Sleep(20 * time.Millisecond)
	}
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		require.NoError(t, <-done)
	}
	t.Cleanup(stop)
	return stop
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// record sends rate/s to addr for d and returns the closed phase; during()
// runs alongside the load (to inject an outage).
func record(t *testing.T, addr, phase string, rate float64, d time.Duration, during func()) *Phase {
	t.Helper()
	atk, err := loadgen.New(loadgen.Spec{Targets: []string{"http://" + addr + "/"}, Rate: rate, Duration: d, Phase: phase, Timeout: 2 * time.Second})
	require.NoError(t, err)
	col := NewCollector(CollectorOptions{ReorderWindow: 3 * time.Second})
	if during != nil {
		go during()
	}
	acc, err := atk.Run(context.Background(), col)
	require.NoError(t, err)
	t.Logf("%s: target %.0f/s achieved %.1f/s, sent %d, missed %d, late %d", phase, acc.TargetRate, acc.AchievedRate, acc.Sent, acc.Missed, acc.Late)
	p := col.Close().Phase(phase)
	require.NotNil(t, p)
	return p
}

// TestIntegrationJudgeRealRecordings records real HTTP traffic against the
// real canary and checks that the judge passes an A/A pair and fails each
// injected regression by the right rule.
func TestIntegrationJudgeRealRecordings(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: records 5 x 8 s of real traffic against the canary")
	}
	const rate = 200.0
	const dur = 8 * time.Second
	addr := freeAddr(t)
	stop := startCanary(t, addr, canary.Config{Seed: 1})
	baseline := record(t, addr, "baseline", rate, dur, nil)
	stop()

	tests := []struct {
		name     string
		cfg      canary.Config
		outage   bool
		wantRule string // "" = must pass
	}{
		{name: "same canary again passes", cfg: canary.Config{Seed: 2}},
		{name: "one percent 503s fails the error rate", cfg: canary.Config{Seed: 3, FailRate: 0.01}, wantRule: RuleErrorRate},
		{name: "20 ms more latency fails latency", cfg: canary.Config{Seed: 4, Delay: 20 * time.Millisecond}, wantRule: RuleLatency},
		{name: "a 2-second outage fails the outage rule", cfg: canary.Config{Seed: 5}, outage: true, wantRule: RuleOutage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stop := startCanary(t, addr, tc.cfg)
			var during func()
			if tc.outage {
				during = func() {
					time.Sleep(3 * time.Second)
					stop() // no drain delay: the port closes at once
					time.Sleep(2 * time.Second)
					startCanary(t, addr, tc.cfg)
				}
			}
			cand := record(t, addr, "candidate", rate, dur, during)
			cmp := Judge(baseline, cand, Rules{})
			for _, r := range cmp.Rules {
				t.Logf("%s %s: %s", r.Rule, r.Outcome, r.Message)
			}
			if tc.wantRule == "" {
				assert.Equal(t, Pass, cmp.Outcome)
				return
			}
			assert.Equal(t, Fail, cmp.Outcome)
			assert.Contains(t, failing(cmp), tc.wantRule)
		})
	}
}
