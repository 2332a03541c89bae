package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/driver"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/scenarios"
)

// rehearsedFolder is a run folder whose timeline holds the steps of a real
// plan executed with short actions: a control plane and two workers.
func rehearsedFolder(t *testing.T) string {
	dir := t.TempDir()
	writeRunFolder(t, dir, "rh-x-1", 1, 0, 10*time.Millisecond)
	sc, err := scenarios.Default()
	require.NoError(t, err)
	b, err := scenarios.Marshal(sc)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, rehearse.ScenarioFile), b, 0o600))
	wait := func(d time.Duration) driver.Func {
		return func(context.Context, driver.Env) error { time.Sleep(d); return nil }
	}
	node := func(n string) *driver.Step {
		return driver.Group(n, driver.Serial, driver.Action("drain", n, wait(20*time.Millisecond)), driver.Action("ready at v1.36.3", n, wait(10*time.Millisecond)))
	}
	plan := &driver.Plan{Driver: "kubeadm", Target: "v1.36.3", Root: driver.Group("kubeadm upgrade", driver.Serial,
		driver.Group("control plane", driver.Serial, node("rh-x-1-control-plane")),
		driver.Group("workers (1 at a time, 0s between)", driver.Serial,
			driver.Group("batch rh-x-1-worker", driver.Parallel, node("rh-x-1-worker")),
			driver.Group("batch rh-x-1-worker2", driver.Parallel, node("rh-x-1-worker2"))))}
	evs, err := timeline.Read(filepath.Join(dir, timeline.File))
	require.NoError(t, err)
	rec := timeline.NewRecorder(nil)
	require.NoError(t, plan.Execute(context.Background(), driver.Env{}, rec))
	all := append(evs, rec.Events()...)
	tl, err := timeline.Create(filepath.Join(dir, "timeline.new"))
	require.NoError(t, err)
	for _, e := range all {
		tl.Emit(e)
	}
	require.NoError(t, tl.Close())
	require.NoError(t, os.Rename(filepath.Join(dir, "timeline.new"), filepath.Join(dir, timeline.File)))
	return dir
}

// rehearse report RUN --nodes N estimates production's upgrade from the
// steps the rehearsal measured, in every format; without a rehearsal's
// timeline it is refused.
func TestReportEstimatesProductionUpgrade(t *testing.T) {
	dir := rehearsedFolder(t)
	r := run(t, context.Background(), "report", dir, "--nodes", "50", "--no-write", "-o", "json")
	require.Contains(t, []int{0, 1, 3}, r.code, "stderr: %s", r.err)
	var got struct {
		Estimate struct {
			Nodes int    `json:"nodes"`
			Total string `json:"total"`
		} `json:"estimate"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.out), &got), r.out)
	assert.Equal(t, 50, got.Estimate.Nodes)
	total, err := time.ParseDuration(got.Estimate.Total)
	require.NoError(t, err, got.Estimate.Total)
	assert.Greater(t, total, 50*30*time.Millisecond, "50 workers of a drain and a ready each")

	r = run(t, context.Background(), "report", dir, "--nodes", "50", "--no-write")
	assert.Contains(t, r.out, "50 nodes")

	r = run(t, context.Background(), "report", dir, "--nodes", "-1", "--no-write")
	assert.Equal(t, ExitBadInput, r.code)
	assert.Contains(t, r.err, "--nodes")
}
