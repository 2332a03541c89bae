package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A drill with real traffic: three canaries behind one rotation, one of
// them stops answering for 5 s during the upgrade phase. The pooled error
// rate stays within the rule, but the verdict fails by that target's own
// rules, and the reasons name it.
func TestDrillOneTargetOfThreeDown(t *testing.T) {
	if testing.Short() {
		t.Skip("sends real load for 42 s; run without -short")
	}
	addrs := []string{serveCanary(t), freeAddr(t), serveCanary(t)}
	down := addrs[1]
	// The middle canary runs in process, stopped and started again below.
	var stop context.CancelFunc
	served := make(chan result, 1)
	start := func() {
		ctx, cancel := context.WithCancel(context.Background())
		stop = cancel
		go func() {
			served <- run(t, ctx, "canary", "serve", "--addr", down, "--drain-delay", "0s")
		}()
		require.Eventually(t, func() bool {
			resp, err := http.Get("http://" + down + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, 5*time.Second, 20*time.Millisecond)
	}
	start()
	t.Cleanup(func() {
		stop()
		<-served
	})

	out := filepath.Join(t.TempDir(), "drill")
	loaded := make(chan result, 1)
	go func() {
		args := []string{"load", "--rate", "60/1s", "--duration", "42s", "--out", out, "--quiet",
			"--phase", "baseline", "--phase-switch", "8s=upgrade", "--phase-switch", "38s=after"}
		for _, a := range addrs {
			args = append(args, "--target", "http://"+a+"/")
		}
		loaded <- run(t, context.Background(), args...)
	}()

	// Down from 15 s to 20 s, inside the upgrade phase.
	time.Sleep(15 * time.Second)
	stop()
	require.Equal(t, ExitPass, (<-served).code)
	stopped := time.Now()
	time.Sleep(5*time.Second - time.Since(stopped))
	start()

	r := <-loaded
	require.Equal(t, ExitPass, r.code, r.err)

	r = run(t, context.Background(), "report", out, "--no-write", "-o", "json",
		"--max-error-increase", "0.08", "--min-samples", "200")
	require.Equal(t, ExitFail, r.code, "one target down for 5 s fails the rehearsal: %s", r.err)
	var rep struct {
		Verdict     string   `json:"verdict"`
		Reasons     []string `json:"reasons"`
		Comparisons []struct {
			Candidate string `json:"candidate"`
			Rules     []struct {
				Rule    string `json:"rule"`
				Outcome string `json:"outcome"`
				Message string `json:"message"`
			} `json:"rules"`
		} `json:"comparisons"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.out), &rep), r.out)
	assert.Equal(t, "fail", rep.Verdict)
	reasons := strings.Join(rep.Reasons, "\n")
	assert.Contains(t, reasons, "http://"+down+"/", "the reasons name the target that stopped answering")
	for _, a := range []string{addrs[0], addrs[2]} {
		assert.NotContains(t, reasons, "http://"+a+"/", "a target that kept answering is not blamed")
	}
	var pooled bool
	for _, c := range rep.Comparisons {
		if c.Candidate != "upgrade" {
			continue
		}
		for _, rule := range c.Rules {
			if rule.Rule == "error-rate" {
				pooled = true
				assert.Equal(t, "pass", rule.Outcome, "the pooled error rate stays within the rule: %s", rule.Message)
			}
		}
	}
	assert.True(t, pooled, "the upgrade phase has a pooled error-rate rule")
	t.Logf("reasons:\n%s", reasons)
}
