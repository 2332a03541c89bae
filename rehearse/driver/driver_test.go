package driver

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

func TestExecMarksStepsInOrder(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "upgrade.sh")
	require.NoError(t, os.WriteFile(script, []byte(`#!/bin/sh
set -e
echo "kubeconfig is $KUBECONFIG, zone $ZONE"
echo "::rehearse-step cordon kind-worker"
echo "::rehearse-step drain kind-worker"
echo "progress on stderr" >&2
echo "::rehearse-step swap kubelet"
echo "::rehearse-step uncordon kind-worker"
`), 0o755))
	d, err := NewExec(ExecSettings{Command: []string{script}, Env: map[string]string{"ZONE": "a"}})
	require.NoError(t, err)
	var log bytes.Buffer
	env := Env{Kubeconfig: "/tmp/kc", Log: &log}
	plan, err := d.Plan(context.Background(), env, "v1.36.3")
	require.NoError(t, err)
	rec := timeline.NewRecorder(nil)
	require.NoError(t, d.Upgrade(context.Background(), env, plan, rec))

	var starts []string
	for _, e := range rec.Events() {
		if e.Kind == "start" && e.Subject != "" {
			starts = append(starts, e.Subject)
		}
	}
	assert.Equal(t, []string{"cordon kind-worker", "drain kind-worker", "swap kubelet", "uncordon kind-worker"}, starts)
	assert.Contains(t, log.String(), "kubeconfig is /tmp/kc, zone a")
	assert.Contains(t, log.String(), "progress on stderr")
	var out bytes.Buffer
	require.NoError(t, plan.Render(&out))
	assert.Contains(t, out.String(), "[x] drain kind-worker")
	for _, st := range plan.Leaves() {
		s, _ := st.State()
		assert.Equal(t, Done, s, st.Name)
	}
}

func TestExecFailureCarriesCommandAndOutput(t *testing.T) {
	d, err := NewExec(ExecSettings{Command: []string{"echo ::rehearse-step one; echo boom >&2; exit 3"}, Shell: true})
	require.NoError(t, err)
	plan, _ := d.Plan(context.Background(), Env{}, "v1.36.3")
	rec := timeline.NewRecorder(nil)
	err = d.Upgrade(context.Background(), Env{}, plan, rec)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/bin/sh -c echo ::rehearse-step one; echo boom >&2; exit 3: exit status 3")
	assert.Contains(t, err.Error(), "boom")
	ev := rec.Events()
	assert.Equal(t, "failed", ev[len(ev)-1].Outcome)
}

func TestExecLongLineDoesNotBlockTheCommand(t *testing.T) {
	// A 2 MiB line is beyond the marker scanner; the rest of the output
	// must still be read, or the command blocks on a full pipe until its
	// timeout.
	d, err := NewExec(ExecSettings{Command: []string{"echo ::rehearse-step one; head -c 2097152 /dev/zero | tr '\\0' a; echo; head -c 1048576 /dev/zero | tr '\\0' b; echo done"}, Shell: true, Timeout: 60 * time.Second})
	require.NoError(t, err)
	var log bytes.Buffer
	env := Env{Log: &log}
	plan, _ := d.Plan(context.Background(), env, "v1.36.3")
	require.NoError(t, d.Upgrade(context.Background(), env, plan, timeline.Discard))
	assert.Contains(t, log.String(), "reading the output for step markers stopped")
	assert.True(t, strings.HasSuffix(log.String(), "done\n"), "the output after the long line is kept in the log")
}

func TestExecTimeoutKillsTheProcessGroup(t *testing.T) {
	d, err := NewExec(ExecSettings{Command: []string{"sleep 30 & sleep 30"}, Shell: true, Timeout: 300 * time.Millisecond})
	require.NoError(t, err)
	plan, _ := d.Plan(context.Background(), Env{}, "v1.36.3")
	start := time.Now()
	err = d.Upgrade(context.Background(), Env{}, plan, timeline.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "timed out after 300ms")
	assert.Less(t, time.Since(start), 15*time.Second, "a timed-out command does not hang the driver")
}

func TestPlanRender(t *testing.T) {
	p := &Plan{Driver: "kubeadm", Target: "v1.36.3", Root: Group("upgrade", Serial,
		Group("control plane", Serial, Action("kubeadm upgrade apply v1.36.3", "kind-control-plane")),
		Group("workers (maxUnavailable 1)", Serial,
			Group("kind-worker", Serial, Action("cordon", "kind-worker"), Action("drain", "kind-worker")),
			Group("kind-worker2", Serial, Action("cordon", "kind-worker2")),
		))}
	p.Leaves()[0].set(Done, "")
	p.Leaves()[1].set(Failed, "drain blocked")
	var b bytes.Buffer
	require.NoError(t, p.Render(&b))
	want := `kubeadm upgrade to v1.36.3
[!] upgrade  [serial]
├─ [x] control plane  [serial]
│  └─ [x] kubeadm upgrade apply v1.36.3 (kind-control-plane)
└─ [!] workers (maxUnavailable 1)  [serial]
   ├─ [!] kind-worker  [serial]
   │  ├─ [!] cordon (kind-worker): drain blocked
   │  └─ [ ] drain (kind-worker)
   └─ [ ] kind-worker2  [serial]
      └─ [ ] cordon (kind-worker2)
`
	assert.Equal(t, want, b.String())
}

func TestRegistry(t *testing.T) {
	r := Registry{"exec": nil, "kubeadm": nil, "bluegreen": nil}
	_, err := r.New("helm", nil)
	require.Error(t, err)
	assert.Equal(t, `unknown driver "helm"; known: bluegreen, exec, kubeadm`, err.Error())
	assert.True(t, strings.HasPrefix(strings.Join(r.Names(), ","), "bluegreen"))
}
