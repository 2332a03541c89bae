package driver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/scenarios"
)

func TestExecMarksStepsInOrder(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "upgrade.sh")
	require.NoError(t, os.WriteFile(script, []byte(`#!/bin/sh
set -e
echo "kubeconfig is $KUBECONFIG, zone $ZONE"
echo "cluster $REHEARSE_CLUSTER on $REHEARSE_ENGINE to $REHEARSE_TARGET"
echo "::rehearse-step cordon kind-worker"
echo "::rehearse-step drain kind-worker"
echo "progress on stderr" >&2
echo "::rehearse-step swap kubelet"
echo "::rehearse-step uncordon kind-worker"
`), 0o755))
	d, err := NewExec(ExecSettings{Command: []string{script}, Env: map[string]string{"ZONE": "a"}})
	require.NoError(t, err)
	var log bytes.Buffer
	env := Env{Kubeconfig: "/tmp/kc", Log: &log, ClusterName: "kind", Engine: "podman"}
	plan, err := d.Plan(context.Background(), env, "v1.36.3")
	require.NoError(t, err)
	rec := timeline.NewRecorder(nil)
	require.NoError(t, plan.Execute(context.Background(), env, rec))

	var starts []string
	for _, e := range rec.Events() {
		if e.Kind == "start" && e.Subject != "" {
			starts = append(starts, e.Subject)
		}
	}
	assert.Equal(t, []string{"cordon kind-worker", "drain kind-worker", "swap kubelet", "uncordon kind-worker"}, starts)
	assert.Contains(t, log.String(), "kubeconfig is /tmp/kc, zone a")
	assert.Contains(t, log.String(), "cluster kind on podman to v1.36.3")
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
	err = plan.Execute(context.Background(), Env{}, rec)
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
	require.NoError(t, plan.Execute(context.Background(), env, timeline.Discard))
	assert.Contains(t, log.String(), "reading the output for step markers stopped")
	assert.True(t, strings.HasSuffix(log.String(), "done\n"), "the output after the long line is kept in the log")
}

// TestExecTimeoutKillsTheProcessGroup runs a command that starts a child and
// waits on it, both far beyond the timeout: the timeout must end with an
// error that says so, and neither the command nor its child may be left
// running.
func TestExecTimeoutKillsTheProcessGroup(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skipf("no /proc to look for the process group in: %v", err)
	}
	d, err := NewExec(ExecSettings{Command: []string{"sleep 300 & echo child $!; echo group $$; wait"}, Shell: true, Timeout: 300 * time.Millisecond})
	require.NoError(t, err)
	var log bytes.Buffer
	env := Env{Log: &log}
	plan, _ := d.Plan(context.Background(), env, "v1.36.3")
	start := time.Now()
	err = plan.Execute(context.Background(), env, timeline.Discard)
	t.Logf("Upgrade returned after %s", time.Since(start).Round(time.Millisecond))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "timed out after 300ms")

	var child, group int
	for _, line := range strings.Split(log.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "child "); ok {
			child, _ = strconv.Atoi(v)
		}
		if v, ok := strings.CutPrefix(line, "group "); ok {
			group, _ = strconv.Atoi(v)
		}
	}
	require.Positive(t, child, "the command printed its child's pid: %q", log.String())
	require.Positive(t, group, "the command printed its pid, the process group's id: %q", log.String())
	assert.Contains(t, err.Error(), "group ", "the error carries the last output")

	// Upgrade returns once the command's output is closed, that is once
	// every process holding it exited; the kernel may take a moment to
	// tear them down. A live process in the group after that is a leak.
	var alive []string
	deadline := time.Now().Add(30 * time.Second) // a guard, not a performance bound
	for {
		alive = liveInGroup(t, group)
		if len(alive) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	assert.Empty(t, alive, "processes of the command's group still running after its timeout")
	if st, err := processState(child); err == nil {
		assert.Equal(t, "Z", st, "the child (pid %d) is dead (or a zombie waiting for its reaper)", child)
	}
}

// processState returns the state letter of pid from /proc/PID/stat.
func processState(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 1 {
		return "", fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	return f[0], nil
}

// liveInGroup lists the processes of process group pgid that are not
// zombies, as "pid (comm) state".
func liveInGroup(t *testing.T, pgid int) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone meanwhile
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid && f[0] != "Z" && f[0] != "X" {
			out = append(out, strings.TrimSpace(s[:i+1])+" "+f[0])
		}
	}
	return out
}

func TestPlanRender(t *testing.T) {
	p := &Plan{Driver: "kubeadm", Target: "v1.36.3", Root: Group("upgrade", Serial,
		Group("control plane", Serial, Action("kubeadm upgrade apply v1.36.3", "kind-control-plane", nil)),
		Group("workers (maxUnavailable 1)", Serial,
			Group("kind-worker", Serial, Action("cordon", "kind-worker", nil), Action("drain", "kind-worker", nil)),
			Group("kind-worker2", Serial, Action("cordon", "kind-worker2", nil)),
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
   │  ├─ [!] cordon: drain blocked
   │  └─ [ ] drain
   └─ [ ] kind-worker2  [serial]
      └─ [ ] cordon
`
	assert.Equal(t, want, b.String())
}

func TestRegistry(t *testing.T) {
	r := Registry{"exec": nil, "kubeadm": nil, "bluegreen": nil}
	_, err := r.New(scenarios.Upgrade{Driver: "helm"})
	require.Error(t, err)
	assert.Equal(t, `unknown driver "helm"; known: bluegreen, exec, kubeadm`, err.Error())
	assert.True(t, strings.HasPrefix(strings.Join(r.Names(), ","), "bluegreen"))
}
