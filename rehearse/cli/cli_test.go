package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rehearse/rehearse/scenarios"
)

type result struct {
	code     int
	out, err string
}

func run(t *testing.T, ctx context.Context, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	err := Run(ctx, Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, args)
	code := exitCode(&errb, err)
	return result{code: code, out: out.String(), err: errb.String()}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// serveCanary runs `rehearse canary serve` in process until the test ends.
func serveCanary(t *testing.T, args ...string) string {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		done <- run(t, ctx, append([]string{"canary", "serve", "--addr", addr, "--drain-delay", "0s"}, args...)...)
	}()
	t.Cleanup(func() {
		cancel()
		r := <-done
		assert.Equal(t, 0, r.code, r.err)
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 5*time.Second, 20*time.Millisecond)
	return addr
}

func TestVersion(t *testing.T) {
	r := run(t, context.Background(), "version")
	assert.Equal(t, 0, r.code)
	assert.NotEmpty(t, strings.TrimSpace(r.out))
}

func TestBadInputExitsTwo(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.bin")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	corrupt := filepath.Join(dir, "corrupt.bin")
	require.NoError(t, os.WriteFile(corrupt, []byte("\x03\x01\x02 this is not a results file"), 0o644))
	missing := filepath.Join(dir, "missing.bin")
	badScenario := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(badScenario, []byte("apiVersion: rehearse.dev/v1alpha1\nkind: Scenario\nmetadata:\n  nam: x\n"), 0o644))
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: only, context: {cluster: c, user: u}}]
current-context: only
`), 0o600))
	runFolder := filepath.Join(dir, "run")
	require.NoError(t, os.MkdirAll(runFolder, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(runFolder, "scenario.yaml"), scenarios.DefaultYAML(), 0o644))

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown flag", []string{"load", "--nope"}, "unknown flag: --nope"},
		{"load without out", []string{"load", "--target", "http://127.0.0.1:1/"}, "--out"},
		{"load without target", []string{"load", "--out", dir}, "--target: at least one target"},
		{"load bad target", []string{"load", "--out", dir, "--target", "ftp://x/"}, "scheme must be http or https"},
		{"load bad rate", []string{"load", "--out", dir, "--target", "http://x/", "--rate", "-5"}, "--rate: -5"},
		{"load bad probe", []string{"load", "--out", dir, "--target", "http://x/", "--probes", "udp"}, "--probes: unknown probe kind \"udp\""},
		{"load bad phase switch", []string{"load", "--out", dir, "--target", "http://x/", "--phase-switch", "soon=upgrade"}, "--phase-switch \"soon=upgrade\""},
		{"compare one argument", []string{"compare", empty}, "compare takes BASELINE and CANDIDATE"},
		{"compare missing file", []string{"compare", missing, missing}, "missing.bin"},
		{"compare empty file", []string{"compare", empty, empty}, "empty.bin: file is empty"},
		{"compare corrupt file", []string{"compare", corrupt, corrupt}, "corrupt.bin: not a vegeta results file"},
		{"compare unknown format", []string{"compare", empty, empty, "-o", "pdf"}, "unknown report format \"pdf\"; known: html, json, junit, markdown, text"},
		{"compare bad rule", []string{"compare", empty, empty, "--max-p99-ratio", "0.5"}, "maxP99Ratio"},
		{"report missing folder", []string{"report", filepath.Join(dir, "nope")}, "nope"},
		{"canary bad fail rate", []string{"canary", "serve", "--fail-rate", "1.5"}, "--fail-rate 1.5"},
		{"canary deploy without kubeconfig", []string{"canary", "deploy"}, "--kubeconfig"},
		{"canary deploy budget clash", []string{"canary", "deploy", "--kubeconfig", empty, "--no-pdb", "--max-unavailable", "1"}, "--no-pdb and --max-unavailable exclude each other"},
		{"canary deploy no replicas", []string{"canary", "deploy", "--kubeconfig", empty, "--replicas", "0"}, "--replicas 0: must be at least 1"},
		{"run missing scenario", []string{"run", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"run bad scenario", []string{"run", badScenario}, "bad.yaml:4: metadata.nam: unknown field"},
		{"run bad set", []string{"run", "--set", "load.rate=-1"}, "--set load.rate=-1: load.rate: -1: want a positive number"},
		{"run unknown engine", []string{"run", "--engine", "dokker"}, `--engine: unknown container engine "dokker"; known: podman, docker`},
		{"report rule flags on a rehearsal", []string{"report", runFolder, "--min-samples", "10"}, "scenario.yaml (checks.judge); --min-samples do not apply"},
		{"check unreachable", []string{"check", "--kubeconfig", kubeconfig}, "API server https://127.0.0.1:1 does not answer"},
		{"plan skew", []string{"plan", "--set", "upgrade.target=v1.34.0"}, "upgrade.target: target v1.34.0 is not newer"},
		{"profile unknown context", []string{"profile", "--kubeconfig", kubeconfig, "--context", "nope"}, `no context "nope"; contexts: only`},
		{"profile unreachable", []string{"profile", "--kubeconfig", kubeconfig}, "API server https://127.0.0.1:1 does not answer"},
		{"check unknown checklist", []string{"check", "--kubeconfig", kubeconfig, "--checklist", "openshift"}, `unknown checklist "openshift"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, context.Background(), tc.args...)
			assert.Equal(t, ExitBadInput, r.code, "stderr: %s", r.err)
			assert.Contains(t, r.err, tc.want)
			assert.Equal(t, 1, strings.Count(r.err, "rehearse: "), "the error is printed once: %q", r.err)
		})
	}
}

// TestLoadCompareReport drives the real commands end to end: the canary,
// two recordings, a comparison in every format, a truncated recording, and
// the report of a phased run folder.
func TestLoadCompareReport(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: sends 3 x 3 s of real traffic")
	}
	good := serveCanary(t)
	bad := serveCanary(t, "--fail-rate", "0.2", "--seed", "7")
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	ctx := context.Background()

	r := run(t, ctx, "load", "--quiet", "--target", "http://"+good+"/", "--rate", "300", "--duration", "3s", "--out", a)
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, "recorded 900 results")
	for _, f := range []string{"results.bin", "summary.json"} {
		assert.FileExists(t, filepath.Join(a, f))
	}
	r = run(t, ctx, "load", "--quiet", "--target", "http://"+bad+"/", "--rate", "300", "--duration", "3s", "--out", b)
	require.Equal(t, 0, r.code, r.err)

	r = run(t, ctx, "compare", a, b)
	assert.Equal(t, ExitFail, r.code, r.err)
	assert.Contains(t, r.out, "FAIL")
	assert.Contains(t, r.out, "error-rate")

	for _, format := range []string{"json", "junit", "markdown", "html", "text"} {
		out := filepath.Join(dir, "report."+format)
		r = run(t, ctx, "compare", a, b, "-o", format, "--out", out)
		assert.Equal(t, ExitFail, r.code, "%s: %s", format, r.err)
		st, err := os.Stat(out)
		require.NoError(t, err)
		assert.Greater(t, st.Size(), int64(200), format)
	}

	// A/A passes.
	r = run(t, ctx, "compare", a, a)
	assert.Equal(t, 0, r.code, r.out+r.err)

	// A recording cut short mid-record still reports, saying what was dropped.
	full, err := os.ReadFile(filepath.Join(a, "results.bin"))
	require.NoError(t, err)
	cut := filepath.Join(dir, "cut.bin")
	require.NoError(t, os.WriteFile(cut, full[:len(full)-37], 0o644))
	r = run(t, ctx, "compare", a, cut)
	assert.Contains(t, []int{0, 3}, r.code, r.err)
	assert.Contains(t, r.err, "cut.bin was cut short")
	assert.Contains(t, r.err, "trailing bytes dropped")

	// A phased run folder is judged phase by phase; report files land in it.
	r = run(t, ctx, "load", "--quiet", "--target", "http://"+good+"/", "--rate", "300", "--duration", "3s",
		"--phase-switch", "1s=upgrade", "--phase-switch", "2s=after", "--out", c)
	require.Equal(t, 0, r.code, r.err)
	r = run(t, ctx, "report", c, "--min-samples", "100")
	assert.Contains(t, []int{0, 1}, r.code, r.err)
	assert.Contains(t, r.out, "upgrade")
	assert.Contains(t, r.out, "after")
	for _, f := range []string{"report.json", "report.html", "report.md", "junit.xml"} {
		assert.FileExists(t, filepath.Join(c, f))
	}
}

func TestLoadInterruptKeepsResults(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: sends 1 s of real traffic")
	}
	addr := serveCanary(t)
	out := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r := run(t, ctx, "load", "--quiet", "--target", "http://"+addr+"/", "--rate", "100", "--duration", "1m", "--out", out)
	assert.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.err, "interrupted")
	r = run(t, context.Background(), "report", out, "--no-write", "-o", "json")
	assert.Equal(t, ExitInconclusive, r.code, "one phase only: nothing to compare")
	assert.Contains(t, r.out, `"requests": `)
}

func TestExitCodeOfPlainErrorIsInfra(t *testing.T) {
	var b bytes.Buffer
	assert.Equal(t, ExitInfra, exitCode(&b, errors.New("boom")))
	assert.Equal(t, "rehearse: boom\n", b.String())
	b.Reset()
	assert.Equal(t, ExitFail, exitCode(&b, &ExitError{Code: ExitFail}))
	assert.Empty(t, b.String(), "a verdict already said why")
	assert.Equal(t, ExitBadInput, exitCode(&b, fmt.Errorf("wrap: %w", badInput(errors.New("x")))))
}

// rehearse plan shows each driver's tree before anything runs.
func TestPlanTrees(t *testing.T) {
	tests := []struct {
		scenario string
		want     []string
	}{
		{"", []string{"kubeadm upgrade to v1.36.3", "CLUSTER-control-plane", "kubeadm upgrade apply v1.36.3", "batch CLUSTER-worker", "drain", "uncordon"}},
		{"kind-bluegreen.yaml", []string{"blue-green swap from v1.35.4 to v1.36.3", "create cluster CLUSTER-b at v1.36.3", "smoke test (pre-live)",
			"switch traffic CLUSTER → CLUSTER-b", "rollback rehearsal", "switch traffic CLUSTER-b → CLUSTER", "delete cluster CLUSTER"}},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			args := []string{"plan"}
			if tc.scenario != "" {
				args = append(args, filepath.Join("..", "..", "scenarios", "examples", tc.scenario))
			}
			r := run(t, context.Background(), args...)
			require.Equal(t, 0, r.code, "stderr: %s", r.err)
			rest := r.out
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				require.GreaterOrEqual(t, i, 0, "%q missing from the plan, or out of order:\n%s", w, r.out)
				rest = rest[i+len(w):]
			}
		})
	}
}
