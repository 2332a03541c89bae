package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/canary"
	"github.com/rehearse/rehearse/rehearse/checklist"
	"github.com/rehearse/rehearse/rehearse/cli"
	"github.com/rehearse/rehearse/rehearse/driver"
	"github.com/rehearse/rehearse/rehearse/generators"
	"github.com/rehearse/rehearse/rehearse/nodeimage"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

// TestIntegrationCanaryAndChecklistDrills puts the canary on a real 1+2
// flannel cluster, sends 20 s at 200/s through every node's NodePort behind
// the health-checked rotation (the rate is reached, every node serves,
// nothing fails, no target leaves the rotation), stops one canary pod to
// see its preStop drain run on a real kubelet, drains a node a budget keeps
// from draining and checks the error names the unready pod, then breaks the cluster three
// ways and checks the checklist, in the library and through `rehearse
// check`, names each: coredns scaled to 0, kube-proxy's DaemonSet on an image
// that does not exist, a worker's kubelet stopped.
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
	canaryOpts := canary.DeployOptions{Image: img.Image, Replicas: 3}
	dep, err := canary.Deploy(ctx, client, canaryOpts, progress)
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
	// The health checker reports every change of the rotation to a
	// timeline file, as a rehearsal's run folder has it.
	tlPath := filepath.Join(t.TempDir(), timeline.File)
	tl, err := timeline.Create(tlPath)
	if err != nil {
		t.Fatal(err)
	}
	rot := loadgen.NewRotation(targets)
	lctx, lcancel := context.WithCancel(ctx)
	hcDone := make(chan error, 1)
	go func() { hcDone <- loadgen.HealthCheck{Candidates: targets, Emitter: tl}.Run(lctx, rot) }()
	const rate, length = 200, 20 * time.Second
	atk, err := loadgen.New(loadgen.Spec{Rotation: rot, Rate: rate, Duration: length})
	if err != nil {
		t.Fatal(err)
	}
	col := report.NewCollector(report.CollectorOptions{})
	acc, err := atk.Run(ctx, col)
	inRotation := rot.Targets()
	lcancel()
	if hcErr := <-hcDone; hcErr != nil {
		t.Errorf("health check: %v", hcErr)
	}
	if cerr := tl.Close(); cerr != nil {
		t.Errorf("timeline: %v", cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	ph := col.Close().Phase(loadgen.DefaultPhase)
	t.Logf("load: %d requests, %d failed, achieved %.1f/s (sent %d of %d scheduled, %d missed, %d late, max lag %.1f ms); targets %+v; nodes %+v",
		ph.Requests, ph.Failures, acc.AchievedRate, acc.Sent, acc.Scheduled, acc.Missed, acc.Late, acc.MaxLagMs, ph.Targets, ph.Nodes)
	// The load must really have been 200/s for 20 s: a generator that fell
	// behind would pass the other checks with a trickle.
	if acc.AchievedRate < 0.95*rate || ph.Requests < int64(0.975*rate*length.Seconds()) {
		t.Errorf("load fell short: achieved %.1f/s (want >= %.0f/s), %d requests (want >= %d)",
			acc.AchievedRate, 0.95*rate, ph.Requests, int64(0.975*rate*length.Seconds()))
	}
	if ph.Failures != 0 {
		t.Errorf("%d of %d requests failed on a healthy cluster: %+v", ph.Failures, ph.Requests, ph.Errors)
	}
	// The rotation started with every target and, the cluster healthy, kept
	// them: the timeline holds no change that took one out.
	if fmt.Sprint(inRotation) != fmt.Sprint(targets) {
		t.Errorf("rotation at the end of the load: %v, want every target %v", inRotation, targets)
	}
	events, err := timeline.Read(tlPath)
	if err != nil {
		t.Fatalf("timeline file: %v", err)
	}
	if len(events) != len(tl.Events()) {
		t.Errorf("timeline file holds %d events, the emitter got %d", len(events), len(tl.Events()))
	}
	t.Logf("rotation timeline (%s): %d events %+v", tlPath, len(events), events)
	for _, e := range events {
		if e.Source != timeline.SourceRotation {
			t.Errorf("timeline event from %q, want only %q: %+v", e.Source, timeline.SourceRotation, e)
		}
		if e.Kind == loadgen.RotationOut || e.Kind == loadgen.RotationFailOpen {
			t.Errorf("a target left the rotation on a healthy cluster: %+v", e)
		}
	}
	if len(ph.Targets) != 3 || len(ph.Nodes) != 3 {
		t.Errorf("want every node's NodePort hit and every node serving: targets %+v, nodes %+v", ph.Targets, ph.Nodes)
	}
	for _, c := range append(append([]report.CountSummary{}, ph.Targets...), ph.Nodes...) {
		if c.Requests == 0 {
			t.Errorf("%s got no requests", c.Name)
		}
	}

	// In-cluster generators, one on each node, reach the canary pods
	// themselves through the headless Service's DNS name (past
	// kube-proxy): 15 s at 150/s, every result back, each generator's own
	// count equal to what reached the merge, nothing failed, every node's
	// pod served.
	podsTarget, err := generators.PodsTarget(ctx, client, dep)
	if err != nil {
		t.Fatal(err)
	}
	fleet, err := generators.Deploy(ctx, client, generators.Options{
		Namespace: generators.DefaultNamespace, Image: img.Image, Replicas: 3, Rate: 150, Timeout: 10 * time.Second,
		Probes: []string{string(loadgen.ProbeReuse), string(loadgen.ProbeFresh)}, Targets: []string{podsTarget}, StartIn: 15 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(fleet.StartAt))
	gcol := report.NewCollector(report.CollectorOptions{ReorderWindow: 11 * time.Second})
	gctx, gcancel := context.WithTimeout(ctx, 15*time.Second)
	gacc, err := generators.NewRunner(fleet, loadgen.DefaultPhase, timeline.EmitterFunc(func(e timeline.Event) { t.Logf("generators: %s", e.Message) })).Run(gctx, gcol)
	gcancel()
	if derr := fleet.Delete(ctx); derr != nil {
		t.Errorf("delete the generators: %v", derr)
	}
	if err != nil {
		t.Fatal(err)
	}
	gph := gcol.Close().Phase(loadgen.DefaultPhase)
	t.Logf("in-cluster load to %s: %d results, %d failed, achieved %.1f/s (%d of %d scheduled); nodes %+v; errors %+v",
		podsTarget, gph.Requests, gph.Failures, gacc.AchievedRate, gacc.Sent, gacc.Scheduled, gph.Nodes, gph.Errors)
	if !strings.HasPrefix(podsTarget, "http://"+canary.HeadlessName(dep.Name)+"."+dep.Namespace+".svc.cluster.local.:") {
		t.Errorf("pods target %s: want the headless Service's rooted name in the kubelets' domain cluster.local", podsTarget)
	}
	if gph.Failures != 0 {
		t.Errorf("%d of %d in-cluster requests to the pods failed on a healthy cluster: %+v", gph.Failures, gph.Requests, gph.Errors)
	}
	if gph.Requests != gacc.Sent || gacc.AchievedRate < 0.95*150 {
		t.Errorf("in-cluster load: %d results merged, %d accounted, achieved %.1f/s of 150/s", gph.Requests, gacc.Sent, gacc.AchievedRate)
	}
	for _, g := range gacc.Generators {
		if g.ReportedPods != 1 || g.Reported != g.Received || g.Failed != 0 {
			t.Errorf("generator %s on %s: it said %d sent (%d ends), %d reached the merge, %d failed; want one end, equal counts, none failed", g.Name, g.Node, g.Reported, g.ReportedPods, g.Received, g.Failed)
		}
	}
	if len(gph.Nodes) != 3 {
		t.Errorf("the pods on %d nodes served the in-cluster load, want all 3: %+v", len(gph.Nodes), gph.Nodes)
	}

	// One canary pod stopped the way a drain stops it: its preStop hook
	// (GET /drain) drains it on the real kubelet, and the SIGTERM after it
	// shuts down without draining again. The container's log says which.
	victim := dep.Pods[0]
	logs, err := client.CoreV1().Pods(dep.Namespace).GetLogs(victim.Name, &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stopStart := time.Now()
	if err := client.CoreV1().Pods(dep.Namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var logb strings.Builder
	_, _ = io.Copy(&logb, logs) // ends when the container exits
	logs.Close()
	exited := time.Since(stopStart)
	for {
		_, err := client.CoreV1().Pods(dep.Namespace).Get(ctx, victim.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Since(stopStart) > 2*time.Minute {
			t.Fatalf("canary pod %s still there 2 min after its deletion (%v)", victim.Name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	gone := time.Since(stopStart)
	canaryLog := logb.String()
	t.Logf("canary pod %s stopped: container exited after %s, pod gone after %s; log:\n%s", victim.Name, exited.Round(10*time.Millisecond), gone.Round(10*time.Millisecond), canaryLog)
	for _, want := range []string{`by="preStop hook`, "drain already done", "shutdown complete"} {
		if !strings.Contains(canaryLog, want) {
			t.Errorf("the stopped canary's log lacks %q: the preStop drain did not run as meant", want)
		}
	}
	if exited < canary.DefaultDrainDelay || exited > 2*canary.DefaultDrainDelay {
		t.Errorf("canary container exited %s after deletion: want one drain delay (%s), not none and not two", exited, canary.DefaultDrainDelay)
	}
	evs, err := client.CoreV1().Events(dep.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + victim.Name})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.Reason == "FailedPreStopHook" {
			t.Errorf("kubelet: %s: %s", e.Reason, e.Message)
		}
	}
	if _, err := canary.Deploy(ctx, client, canaryOpts, progress); err != nil { // back to 3 Ready pods
		t.Fatal(err)
	}

	drillBlockedDrain(ctx, t, client, name+"-worker", img.Image)
	if _, err := canary.Deploy(ctx, client, canaryOpts, progress); err != nil { // the drained worker's canary pod is back
		t.Fatal(err)
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
	// cliNames runs `rehearse check` and wants exit 1 with the component's
	// row failing: the table lists every item, passing ones too, so the
	// name alone proves nothing.
	cliNames := func(what, component string) {
		t.Helper()
		out, err := checkCLI()
		var exit *cli.ExitError
		if !errors.As(err, &exit) || exit.Code != cli.ExitFail || !strings.Contains(out, "CHECKLIST kind: FAIL") {
			t.Fatalf("rehearse check with %s: want exit %d (FAIL), got %v\n%s", what, cli.ExitFail, err, out)
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == component && (f[1] == string(checklist.Fail) || f[2] == string(checklist.Fail)) {
				t.Logf("rehearse check with %s: exit %d, %s", what, exit.Code, strings.TrimSpace(line))
				return
			}
		}
		t.Fatalf("rehearse check with %s: exit %d but no failing row for %s\n%s", what, exit.Code, component, out)
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
	cliNames("coredns at 0", "coredns")
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
	cliNames("kube-proxy on a missing image", "kube-proxy")
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
	cliNames("a stopped kubelet", "node/"+worker)
}

// drillBlockedDrain drains a real node that holds the one Ready pod of a
// budget whose other pod cannot be scheduled (required anti-affinity, and
// only that node allowed): the drain is blocked, and its error names the
// budget, the pod it could not evict, and the unscheduled pod and why,
// which is what keeps the budget from allowing a disruption.
func drillBlockedDrain(ctx context.Context, t *testing.T, client kubernetes.Interface, node, image string) {
	t.Helper()
	const ns = "rehearse-drill"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = driver.Cordon(context.WithoutCancel(ctx), client, node, false)
		_ = client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), ns, metav1.DeleteOptions{})
	}()
	lbl := map[string]string{"app": "blocker"}
	two, one := int32(2), intstr.FromInt32(1)
	never := corev1.PullNever
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "blocker", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &two,
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"kubernetes.io/hostname": node},
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchLabels: lbl}, TopologyKey: "kubernetes.io/hostname"}},
					}},
					Containers: []corev1.Container{{Name: "canary", Image: image, ImagePullPolicy: never,
						Command: []string{canary.Executable, "canary", "serve", "--addr", ":8080"}}},
				},
			},
		},
	}
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "blocker", Namespace: ns},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: lbl}},
	}
	if _, err := client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// One pod Running and Ready on the node, the other Pending.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, "blocker", metav1.GetOptions{})
		if err == nil && d.Status.ReadyReplicas == 1 && d.Status.Replicas == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("blocker deployment: want 1 of 2 Ready, got %+v (%v)", d.Status, err)
		}
		time.Sleep(time.Second)
	}
	if err := driver.Cordon(ctx, client, node, true); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := driver.Drain(ctx, client, node, driver.DrainOptions{Timeout: 20 * time.Second}, timeline.Discard)
	t.Logf("drain %s with the blocker budget: %v after %s", node, err, time.Since(start).Round(time.Second))
	var be *driver.BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("drain of %s: want a blocked drain, got %v", node, err)
	}
	if len(be.Budgets) != 1 || !strings.HasPrefix(be.Budgets[0], ns+"/blocker (minAvailable 1, 0 disruptions allowed)") {
		t.Errorf("blocked drain names budgets %v, want only %s/blocker with 0 disruptions allowed", be.Budgets, ns)
	}
	if len(be.Pods) != 1 || !strings.HasPrefix(be.Pods[0], ns+"/blocker-") {
		t.Errorf("blocked drain names pods %v, want the one blocker pod on %s", be.Pods, node)
	}
	if len(be.Unready) != 1 || !strings.HasPrefix(be.Unready[0], ns+"/blocker-") ||
		!strings.Contains(be.Unready[0], " on no node (Pending: Unschedulable: ") {
		t.Errorf("blocked drain names unready pods %v, want the unscheduled blocker pod and why", be.Unready)
	}
}
