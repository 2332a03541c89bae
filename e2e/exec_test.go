package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/rehearse/driver"
	"github.com/rehearse/rehearse/rehearse/timeline"
)

// TestIntegrationExecUpgradesOneWorker runs the example script
// scripts/upgrade-worker.sh through the exec driver on a real 1+1 flannel
// cluster at v1.35.4: the script upgrades the worker's kubelet to v1.36.3
// by hand (cordon, drain, swap the binaries, restart, wait Ready, uncordon),
// marking each step. The six steps must appear on the timeline in order, each
// ending ok, and the worker must end Ready, schedulable, at v1.36.3.
func TestIntegrationExecUpgradesOneWorker(t *testing.T) {
	testenv.RequireCluster(t)
	const (
		from        = "v1.35.4"
		to          = "v1.36.3"
		targetImage = "localhost/rehearse/node:" + to
	)
	requireSubstrate(t, from, to)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	progress := progressWriter{t}
	tc := newTestCluster(ctx, t, "rh-exec-", from, 1)
	p, name, client, created := tc.Provider, tc.Name, tc.Client, tc.Created
	worker := name + "-worker"

	d, err := driver.NewExec(driver.ExecSettings{
		Command: []string{"../scripts/upgrade-worker.sh", worker, targetImage},
		Env:     map[string]string{"ENGINE": p.Engine()},
		Timeout: 10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	env := driver.Env{Kubeconfig: created.Kubeconfig, Client: client, ClusterName: name, Log: progress}
	plan, err := d.Plan(ctx, env, to)
	if err != nil {
		t.Fatal(err)
	}
	rec := timeline.NewRecorder(nil)
	if err := plan.Execute(ctx, env, rec); err != nil {
		t.Fatalf("upgrade: %v", err)
	}

	// The marked steps, in order, each ending ok.
	want := []string{"cordon", "drain", "swap kubelet", "restart kubelet", "ready", "uncordon"}
	for i := range want {
		want[i] += " " + worker
	}
	run := "run " + strings.Join([]string{"../scripts/upgrade-worker.sh", worker, targetImage}, " ")
	var started []string
	starts := map[string]time.Time{}
	ends := map[string]timeline.Event{}
	var runStart, runEnd time.Time
	for _, e := range rec.Events() {
		if e.Source != timeline.SourceDriver {
			t.Errorf("event from %s, want only driver events: %+v", e.Source, e)
			continue
		}
		if e.Kind == "group-start" || e.Kind == "group-end" {
			// The plan's one group around the command.
			if e.Message != "exec" && !strings.HasPrefix(e.Message, "exec: ") {
				t.Errorf("unexpected group %+v", e)
			}
			continue
		}
		if e.Message == run || strings.HasPrefix(e.Message, run+": ") {
			switch e.Kind {
			case "start":
				runStart = e.Time
			case "end":
				runEnd = e.Time
				if e.Outcome != "ok" {
					t.Errorf("the command ended %s: %s", e.Outcome, e.Message)
				}
			}
			continue
		}
		if e.Subject != e.Message {
			t.Errorf("marked step's subject %q differs from its message %q", e.Subject, e.Message)
		}
		switch e.Kind {
		case "start":
			started = append(started, e.Subject)
			starts[e.Subject] = e.Time
		case "end":
			ends[e.Subject] = e
		default:
			t.Errorf("unexpected event kind %q: %+v", e.Kind, e)
		}
	}
	if strings.Join(started, "|") != strings.Join(want, "|") {
		t.Fatalf("marked steps on the timeline:\n  %q\nwant\n  %q", started, want)
	}
	for _, s := range want {
		end, ok := ends[s]
		if !ok {
			t.Errorf("step %q never ended", s)
			continue
		}
		if end.Outcome != "ok" {
			t.Errorf("step %q ended %s", s, end.Outcome)
		}
		t.Logf("step %-40s %s", s, end.Time.Sub(starts[s]).Round(10*time.Millisecond))
	}
	if runStart.IsZero() || runEnd.IsZero() {
		t.Errorf("the command's own step is missing from the timeline (start %v, end %v)", runStart, runEnd)
	} else {
		t.Logf("cordon to uncordon: %s; whole command (with taking the binaries out of %s): %s",
			ends[want[len(want)-1]].Time.Sub(starts[want[0]]).Round(10*time.Millisecond), targetImage, runEnd.Sub(runStart).Round(10*time.Millisecond))
	}
	if plan.Leaves()[0].Status != driver.Done {
		t.Errorf("plan leaf status %s, want done", plan.Leaves()[0].Status)
	}

	// The worker, as the API sees it.
	node, err := client.CoreV1().Nodes().Get(ctx, worker, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := node.Status.NodeInfo.KubeletVersion; got != to {
		t.Errorf("%s kubeletVersion %s, want %s", worker, got, to)
	}
	ready := false
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		t.Errorf("%s is not Ready: %+v", worker, node.Status.Conditions)
	}
	if node.Spec.Unschedulable {
		t.Errorf("%s is still cordoned", worker)
	}
	cp, err := client.CoreV1().Nodes().Get(ctx, name+"-control-plane", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: kubelet %s, Ready, schedulable; control plane kubelet %s", worker, node.Status.NodeInfo.KubeletVersion, cp.Status.NodeInfo.KubeletVersion)
}
