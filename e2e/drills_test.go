package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/canary"
	"github.com/rehearse/rehearse/rehearse/checklist"
	"github.com/rehearse/rehearse/rehearse/cli"
	"github.com/rehearse/rehearse/rehearse/nodeimage"
	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

// TestIntegrationCanaryAndChecklistDrills puts the canary on a real 1+2
// flannel cluster, sends 20 s at 200/s through every node's NodePort behind
// the health-checked rotation (every node serves, nothing fails), then breaks
// the cluster three ways and checks the checklist names each: coredns scaled
// to 0, kube-proxy's DaemonSet on an image that does not exist, a worker's
// kubelet stopped.
func TestIntegrationCanaryAndChecklistDrills(t *testing.T) {
	testenv.RequireCluster(t)
	version := scenarios.DefaultKubernetesVersion
	requireSubstrate(t, version)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	progress := progressWriter{t}
	tc := newTestCluster(ctx, t, "rh-drill-", version, 2)
	p, name, client := tc.Provider, tc.Name, tc.Client

	// The canary, on every node.
	wd, _ := os.Getwd()
	img, err := nodeimage.BuildCanary(ctx, nodeimage.CanaryOptions{Options: nodeimage.Options{Progress: progress}, Version: "drill", Source: nodeimage.FindCanarySource(wd)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.LoadImageArchive(ctx, name, img.Archive); err != nil {
		t.Fatal(err)
	}
	dep, err := canary.Deploy(ctx, client, canary.DeployOptions{Image: img.Image, Replicas: 3}, progress)
	if err != nil {
		t.Fatal(err)
	}
	nodesWithPods := map[string]bool{}
	for _, pod := range dep.Pods {
		nodesWithPods[pod.Node] = true
	}
	if len(nodesWithPods) != 3 {
		t.Fatalf("canary pods on %d nodes, want one on each of 3: %+v", len(nodesWithPods), dep.Pods)
	}

	// 20 s at 200/s through the rotation, once every node port routes to
	// the canary (kube-proxy programs a new Service within a moment).
	targets := dep.Targets()
	if err := loadgen.WarmUp(ctx, targets, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	rot := loadgen.NewRotation(targets)
	lctx, lcancel := context.WithCancel(ctx)
	go func() { _ = loadgen.HealthCheck{Candidates: targets}.Run(lctx, rot) }()
	atk, err := loadgen.New(loadgen.Spec{Rotation: rot, Rate: 200, Duration: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	col := report.NewCollector(report.CollectorOptions{})
	acc, err := atk.Run(ctx, col)
	lcancel()
	if err != nil {
		t.Fatal(err)
	}
	ph := col.Close().Phase(loadgen.DefaultPhase)
	t.Logf("load: %d requests, %d failed, achieved %.1f/s; targets %+v; nodes %+v", ph.Requests, ph.Failures, acc.AchievedRate, ph.Targets, ph.Nodes)
	if ph.Failures != 0 {
		t.Errorf("%d of %d requests failed on a healthy cluster: %+v", ph.Failures, ph.Requests, ph.Errors)
	}
	if len(ph.Targets) != 3 || len(ph.Nodes) != 3 {
		t.Errorf("want every node's NodePort hit and every node serving: targets %+v, nodes %+v", ph.Targets, ph.Nodes)
	}
	for _, c := range append(append([]report.CountSummary{}, ph.Targets...), ph.Nodes...) {
		if c.Requests == 0 {
			t.Errorf("%s got no requests", c.Name)
		}
	}

	cl, _ := checklist.Builtin("kind")
	check := func() checklist.Result {
		r, err := checklist.Check(ctx, client, cl, checklist.Options{ExpectVersion: version})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	failing := func(r checklist.Result) []string {
		var out []string
		for _, it := range r.Failed() {
			out = append(out, it.Component)
		}
		return out
	}
	waitFor := func(what string, within time.Duration, ok func(checklist.Result) bool) checklist.Result {
		deadline := time.Now().Add(within)
		for {
			r := check()
			if ok(r) {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s; failing: %v", what, within, failing(r))
			}
			time.Sleep(2 * time.Second)
		}
	}
	names := func(r checklist.Result, want string) bool {
		for _, n := range failing(r) {
			if n == want {
				return true
			}
		}
		return false
	}
	if r := check(); r.Outcome != checklist.Pass {
		t.Fatalf("healthy cluster fails the checklist: %v", failing(r))
	}
	// The same through the command line, which reads through the
	// read-only guard: a write would be refused and fail the command.
	checkCLI := func() (string, error) {
		var out, errb strings.Builder
		err := cli.Run(ctx, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errb},
			[]string{"check", "--kubeconfig", tc.Created.Kubeconfig, "--checklist", "kind", "--expect-version", version})
		return out.String() + errb.String(), err
	}
	if out, err := checkCLI(); err != nil || !strings.Contains(out, "CHECKLIST kind: PASS") {
		t.Fatalf("rehearse check on a healthy cluster: %v\n%s", err, out)
	}

	scale := func(n int32) {
		patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)
		if _, err := client.AppsV1().Deployments("kube-system").Patch(ctx, "coredns", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	scale(0)
	r := waitFor("coredns at 0 named", time.Minute, func(r checklist.Result) bool { return names(r, "coredns") })
	t.Logf("coredns scaled to 0: failing %v", failing(r))
	out, err := checkCLI()
	var exit *cli.ExitError
	if !errors.As(err, &exit) || exit.Code != cli.ExitFail || !strings.Contains(out, "coredns") {
		t.Fatalf("rehearse check with coredns at 0: want exit %d naming coredns, got %v\n%s", cli.ExitFail, err, out)
	}
	scale(2)
	waitFor("healthy again after coredns", 2*time.Minute, func(r checklist.Result) bool { return r.Outcome == checklist.Pass })

	ds, err := client.AppsV1().DaemonSets("kube-system").Get(ctx, "kube-proxy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good := ds.Spec.Template.Spec.Containers[0].Image
	setImage := func(image string) {
		patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []map[string]any{{"name": ds.Spec.Template.Spec.Containers[0].Name, "image": image}}}}}})
		if _, err := client.AppsV1().DaemonSets("kube-system").Patch(ctx, "kube-proxy", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setImage("registry.k8s.io/kube-proxy:v0.0.0-missing")
	r = waitFor("broken kube-proxy named", 2*time.Minute, func(r checklist.Result) bool { return names(r, "kube-proxy") })
	t.Logf("kube-proxy on a missing image: failing %v", failing(r))
	setImage(good)
	waitFor("healthy again after kube-proxy", 3*time.Minute, func(r checklist.Result) bool { return r.Outcome == checklist.Pass })

	worker := name + "-worker2"
	if out, err := exec.CommandContext(ctx, p.Engine(), "exec", worker, "systemctl", "stop", "kubelet").CombinedOutput(); err != nil {
		t.Fatalf("stop kubelet: %v: %s", err, out)
	}
	r = waitFor("stopped kubelet named", 3*time.Minute, func(r checklist.Result) bool { return names(r, "node/"+worker) })
	t.Logf("kubelet of %s stopped: failing %v", worker, failing(r))
	if !strings.Contains(fmt.Sprint(failing(r)), worker) {
		t.Fatalf("the stopped node is not named: %v", failing(r))
	}
}
