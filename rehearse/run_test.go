package rehearse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/rehearse/rehearse/rehearse/canary"
	"github.com/rehearse/rehearse/rehearse/driver"
	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

// fakeProvisioner records what the rehearsal asked of it. Its clusters'
// kubeconfigs point at an address where nothing answers: the rehearsal can
// build clients, but every phase that needs the API server would fail.
type fakeProvisioner struct {
	t           *testing.T
	mu          sync.Mutex
	calls       []string
	provisionFn func(name string) (*Cluster, error)
	teardownErr error
	// kept records, per cluster, whether the scenario it was provisioned
	// from asked to keep it.
	kept map[string]bool
}

func (f *fakeProvisioner) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeProvisioner) cluster(name string) *Cluster {
	kc := filepath.Join(f.t.TempDir(), "kubeconfig")
	require.NoError(f.t, os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600))
	return &Cluster{Name: name, Kubeconfig: kc, Throwaway: true}
}

func (f *fakeProvisioner) Provision(_ context.Context, sc *scenarios.Scenario, name string) (*Cluster, error) {
	f.record("provision " + name)
	f.mu.Lock()
	if f.kept == nil {
		f.kept = map[string]bool{}
	}
	f.kept[name] = sc.Cluster.Keep
	f.mu.Unlock()
	if f.provisionFn != nil {
		return f.provisionFn(name)
	}
	return f.cluster(name), nil
}

func (f *fakeProvisioner) LoadImage(_ context.Context, c *Cluster, _ string) error {
	f.record("load " + c.Name)
	return nil
}

func (f *fakeProvisioner) ExportLogs(ctx context.Context, c *Cluster, _ string) error {
	f.record("logs " + c.Name)
	if ctx.Err() != nil {
		return errors.New("export logs got a context that had already ended")
	}
	return nil
}

func (f *fakeProvisioner) Teardown(ctx context.Context, c *Cluster) error {
	f.record("teardown " + c.Name)
	if ctx.Err() != nil {
		return errors.New("teardown got a context that had already ended")
	}
	return f.teardownErr
}

// planDriver is a driver whose Plan runs fn; it never upgrades.
type planDriver struct {
	fn func(ctx context.Context) error
}

func (d planDriver) Plan(ctx context.Context, _ driver.Env, target string) (*driver.Plan, error) {
	if err := d.fn(ctx); err != nil {
		return nil, err
	}
	return &driver.Plan{Driver: "fake", Target: target, Root: driver.Group("upgrade", driver.Serial, driver.Action("nothing", "", func(context.Context, driver.Env) error {
		return errors.New("not reached")
	}))}, nil
}

func rehearseWith(t *testing.T, ctx context.Context, p *fakeProvisioner, keep bool, plan func(ctx context.Context) error) (*Result, error) {
	t.Helper()
	sc, err := scenarios.Default()
	require.NoError(t, err)
	return Run(ctx, sc, Options{
		Dir:         t.TempDir(),
		Keep:        keep,
		Provisioner: p,
		Drivers: driver.Registry{sc.Upgrade.Driver: func(scenarios.Upgrade) (driver.Driver, error) {
			return planDriver{fn: plan}, nil
		}},
	})
}

func readRun(t *testing.T, dir string) Result {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, RunFile))
	require.NoError(t, err)
	var r Result
	require.NoError(t, json.Unmarshal(b, &r))
	return r
}

func phaseOutcomes(r Result) map[string]string {
	out := map[string]string{}
	for _, p := range r.Phases {
		out[p.Name] = p.Outcome
	}
	return out
}

func TestRunFailedPreflightExportsLogsAndTearsDown(t *testing.T) {
	p := &fakeProvisioner{t: t}
	res, err := rehearseWith(t, context.Background(), p, false, func(context.Context) error { return errors.New("skew") })
	var infra *InfraError
	require.ErrorAs(t, err, &infra)
	assert.Equal(t, PhasePreflight, infra.Phase)
	require.Len(t, p.calls, 3, "%v", p.calls)
	assert.Regexp(t, `^provision rh-kind-inplace-minor-\d{6}-[0-9a-f]{6}$`, p.calls[0])
	name := p.calls[0][len("provision "):]
	assert.Equal(t, []string{"logs " + name, "teardown " + name}, p.calls[1:])
	run := readRun(t, res.Dir)
	assert.Equal(t, map[string]string{PhaseProvision: "ok", PhasePreflight: "failed", "collect logs": "ok", PhaseTeardown: "ok"}, phaseOutcomes(run))
	assert.False(t, run.Interrupted)
}

func TestRunInterruptedTearsDownWithItsOwnContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &fakeProvisioner{t: t}
	res, err := rehearseWith(t, ctx, p, false, func(ctx context.Context) error {
		cancel() // Ctrl-C while the plan is made
		return ctx.Err()
	})
	require.Error(t, err)
	assert.True(t, res.Interrupted)
	assert.Equal(t, report.Inconclusive, res.Verdict)
	assert.Contains(t, res.Reasons, "interrupted during "+PhasePreflight)
	require.Len(t, p.calls, 3, "%v", p.calls)
	assert.Equal(t, "teardown", p.calls[2][:len("teardown")])
	run := readRun(t, res.Dir)
	assert.True(t, run.Interrupted)
	assert.Equal(t, "ok", phaseOutcomes(run)[PhaseTeardown], "teardown ran with a live context despite the interrupt")
	assert.Equal(t, "ok", phaseOutcomes(run)["collect logs"])
}

func TestRunKeepLeavesTheCluster(t *testing.T) {
	p := &fakeProvisioner{t: t}
	res, err := rehearseWith(t, context.Background(), p, true, func(context.Context) error { return errors.New("skew") })
	require.Error(t, err)
	for _, c := range p.calls {
		assert.NotContains(t, c, "teardown", "--keep: %v", p.calls)
	}
	// The result names the cluster left running.
	require.NotNil(t, res)
	assert.Equal(t, "provision "+res.Cluster, p.calls[0])
	assert.Equal(t, res.Cluster, readRun(t, res.Dir).Cluster, "run.json names it too")
	// The provisioner is told, so that the cluster carries no owner mark
	// and no orphan pruning takes it.
	require.Len(t, p.kept, 1)
	for name, kept := range p.kept {
		assert.True(t, kept, "cluster %s was provisioned without keep", name)
	}

	q := &fakeProvisioner{t: t}
	_, err = rehearseWith(t, context.Background(), q, false, func(context.Context) error { return errors.New("skew") })
	require.Error(t, err)
	require.Len(t, q.kept, 1)
	for name, kept := range q.kept {
		assert.False(t, kept, "cluster %s of a rehearsal without --keep was provisioned to be kept", name)
	}
}

func TestRunFailedTeardownIsAnInfrastructureError(t *testing.T) {
	p := &fakeProvisioner{t: t, teardownErr: errors.New("podman: cannot remove container")}
	res, err := rehearseWith(t, context.Background(), p, false, func(context.Context) error { return errors.New("skew") })
	var infra *InfraError
	require.ErrorAs(t, err, &infra)
	phases := infraPhases(err)
	assert.Contains(t, phases, PhaseTeardown, "the teardown's failure is returned: %v", err)
	assert.Contains(t, err.Error(), "podman: cannot remove container")
	assert.Contains(t, res.Reasons, "teardown failed: podman: cannot remove container")
	assert.Contains(t, readRun(t, res.Dir).Reasons, "teardown failed: podman: cannot remove container", "run.json says so too")
}

// infraPhases are the phases of every InfraError in err's tree.
func infraPhases(err error) []string {
	var out []string
	if ie, ok := err.(*InfraError); ok {
		out = append(out, ie.Phase)
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, infraPhases(e)...)
		}
	case interface{ Unwrap() error }:
		out = append(out, infraPhases(u.Unwrap())...)
	}
	return out
}

func TestRunHalfMadeClusterIsTornDown(t *testing.T) {
	p := &fakeProvisioner{t: t}
	p.provisionFn = func(name string) (*Cluster, error) {
		return p.cluster(name), errors.New("control plane did not come up")
	}
	_, err := rehearseWith(t, context.Background(), p, false, func(context.Context) error { return nil })
	var infra *InfraError
	require.ErrorAs(t, err, &infra)
	assert.Equal(t, PhaseProvision, infra.Phase)
	require.Len(t, p.calls, 3, "%v", p.calls)
	assert.Contains(t, p.calls[2], "teardown ")
}

func TestRunNoClusterNoTeardown(t *testing.T) {
	p := &fakeProvisioner{t: t}
	p.provisionFn = func(string) (*Cluster, error) { return nil, errors.New("no node image") }
	_, err := rehearseWith(t, context.Background(), p, false, func(context.Context) error { return nil })
	require.Error(t, err)
	assert.Len(t, p.calls, 1, "%v", p.calls)
}

func TestClusterNamesDifferInTheSameSecond(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a, b := clusterName("default", now), clusterName("default", now)
	assert.NotEqual(t, a, b, "two rehearsals of one scenario started in the same second must not share a cluster")
	assert.LessOrEqual(t, len(a), 40, "kind node names stay short: %s", a)
}

// The scenario's requests and limits reach the canary as written.
func TestCanaryOptionsHonourResources(t *testing.T) {
	c := scenarios.Canary{Replicas: 3, Resources: scenarios.Resources{
		Requests: scenarios.ResourceList{CPU: "250m", Memory: "64Mi"},
		Limits:   scenarios.ResourceList{Memory: "128Mi"},
	}}
	o, err := canaryOptions(c, "img")
	require.NoError(t, err)
	assert.Equal(t, "250m", o.Resources.Requests.Cpu().String())
	assert.Equal(t, "64Mi", o.Resources.Requests.Memory().String())
	assert.Equal(t, "128Mi", o.Resources.Limits.Memory().String())
	_, hasCPULimit := o.Resources.Limits["cpu"]
	assert.False(t, hasCPULimit, "no cpu limit was asked for")

	c.Resources.Limits.CPU = "lots"
	_, err = canaryOptions(c, "img")
	assert.EqualError(t, err, `canary.resources.limits.cpu: "lots" is not a quantity such as 10m or 16Mi`)
}

// canary.pool selects the pool's nodes, tolerates its taints and keeps the
// canary off the control plane; a scenario without pools changes nothing.
func TestPlaceCanaryOnPool(t *testing.T) {
	c := scenarios.Cluster{Pools: []scenarios.Pool{
		{Name: "general", Workers: 1},
		{Name: "gpu", Workers: 2, Taints: []scenarios.Taint{{Key: "dedicated", Value: "gpu", Effect: "NoSchedule"}}},
	}}
	o := canary.DeployOptions{NodeSelector: map[string]string{"disk": "ssd"}}
	placeOnPool(&o, c, "gpu")
	assert.Equal(t, map[string]string{"disk": "ssd", scenarios.PoolLabel: "gpu"}, o.NodeSelector)
	assert.True(t, o.NoControlPlane)
	assert.Equal(t, []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}, o.Tolerations)

	o = canary.DeployOptions{}
	placeOnPool(&o, c, "")
	assert.Equal(t, canary.DeployOptions{}, o)
}

// A phase that fails on the scenario's input (an image, a Service, a
// workload the scenario names) stops the run with an InputError naming
// the phase; anything else that stops a phase is the machinery's.
func TestStoppedTellsInputFromInfrastructure(t *testing.T) {
	r := &run{res: &Result{}}
	err := r.stopped(context.Background(), PhaseTargets, fmt.Errorf("wrapped: %w", inputError(errors.New("service shop/nowhere not found"))))
	var in *InputError
	require.ErrorAs(t, err, &in)
	assert.Equal(t, "targets: wrapped: service shop/nowhere not found", err.Error())
	var infra *InfraError
	assert.False(t, errors.As(err, &infra))

	err = r.stopped(context.Background(), PhaseWorkloads, errors.New("connection refused"))
	require.ErrorAs(t, err, &infra)
	assert.False(t, errors.As(err, &in))

	// Interrupted, the run stopped for the interruption, whatever the
	// phase's error said.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = r.stopped(ctx, PhaseTargets, inputError(errors.New("x")))
	require.ErrorAs(t, err, &infra)
	assert.True(t, r.res.Interrupted)
}

// A revert faster than the judge's minimum samples is held open until it
// has them: 500 requests at 100/s, a fifth to spare, is 6 s.
func TestJudgedSpan(t *testing.T) {
	sc, err := scenarios.Default()
	require.NoError(t, err)
	sc.Load.Rate = 100
	assert.Equal(t, 6*time.Second, judgedSpan(sc))
	sc.Checks.Judge.MinSamples = 2000
	sc.Load.Rate = 400
	assert.Equal(t, 6*time.Second, judgedSpan(sc))
}

func TestUpgradeCheckHopByHop(t *testing.T) {
	sc, err := scenarios.Default("upgrade.driver=kubeadm")
	require.NoError(t, err)
	sc.Upgrade.Targets, sc.Upgrade.Target = []string{"v1.36.3", "v1.37.2"}, "v1.37.2"
	ok := func(name string) PhaseRecord { return PhaseRecord{Name: name, Outcome: "ok"} }

	c := upgradeCheck(sc, []PhaseRecord{ok("baseline"), ok("upgrade-1"), ok("upgrade-2"), ok("after")}, false)
	assert.Equal(t, report.Pass, c.Outcome)
	assert.Equal(t, "kubeadm upgrade to v1.37.2 finished in 2 hops (v1.36.3, v1.37.2)", c.Message)

	c = upgradeCheck(sc, []PhaseRecord{ok("baseline"), ok("upgrade-1"), {Name: "upgrade-2", Outcome: "error", Error: "drain: blocked"}}, false)
	assert.Equal(t, report.Fail, c.Outcome)
	assert.Equal(t, "upgrade-2 (hop to v1.37.2): drain: blocked", c.Message)

	c = upgradeCheck(sc, []PhaseRecord{ok("baseline"), ok("upgrade-1")}, false)
	assert.Equal(t, report.Inconclusive, c.Outcome, "one hop of two is not the upgrade")

	assert.Equal(t, "upgrade", HopPhase(0, 1))
	assert.Equal(t, "upgrade-2", HopPhase(1, 2))
	assert.True(t, IsUpgradePhase("upgrade-2"))
	assert.False(t, IsUpgradePhase("upgraded"))
}

func TestRequestFailedCollectsLogsUnderAPassingVerdict(t *testing.T) {
	assert.False(t, requestFailed(nil), "no report yet")
	rep := &report.Report{Verdict: report.Pass, Runs: []*report.Metrics{{Phases: []*report.Phase{
		{Name: "baseline", Requests: 3000}, {Name: "upgrade", Requests: 90000},
	}}}}
	assert.False(t, requestFailed(rep))
	rep.Runs[0].Phases[1].Failures = 17
	assert.True(t, requestFailed(rep), "17 failures within the rules' allowances still need the logs that explain them")
}
