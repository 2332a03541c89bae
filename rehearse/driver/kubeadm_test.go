package driver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

func kindNode(name string, cp bool, v string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
		Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: v},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	if cp {
		n.Labels["node-role.kubernetes.io/control-plane"] = ""
	}
	return n
}

func kindClient(v string) *fake.Clientset {
	c := fake.NewClientset(kindNode("kind-control-plane", true, v), kindNode("kind-worker", false, v), kindNode("kind-worker2", false, v))
	c.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: v}
	return c
}

func TestKubeadmPlanTree(t *testing.T) {
	d, err := NewKubeadm(KubeadmSettings{MaxUnavailable: 1, NodeInterval: 10e9})
	require.NoError(t, err)
	plan, err := d.Plan(context.Background(), Env{Client: kindClient("v1.35.4")}, "v1.36.3")
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, plan.Render(&b))
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"[ ] kubeadm upgrade from v1.35.4 to v1.36.3  [serial]",
		"stage binaries and images of v1.36.3 from localhost/rehearse/node:v1.36.3",
		"load into nodes  [parallel]",
		"├─ [ ] prepare  [serial]  (before the load starts)\n",
		"kind-control-plane  [serial]",
		"│  └─ [ ] kind-control-plane  [serial]",
		"│     ├─ [ ] kubeadm upgrade apply v1.36.3\n",
		"workers (1 at a time, 10s between)  [serial]",
		"batch kind-worker  [parallel]",
		"   └─ [ ] batch kind-worker2  [parallel]\n      └─ [ ] kind-worker2  [serial]\n" +
			"         ├─ [ ] upgrade kubeadm\n         ├─ [ ] kubeadm upgrade node\n" +
			"         ├─ [ ] cordon\n         ├─ [ ] drain\n",
		"         ├─ [ ] ready at v1.36.3\n",
	} {
		assert.Contains(t, out, want)
	}
	// A node is named once, by its group; its steps do not repeat it.
	assert.NotContains(t, out, "drain (kind-worker2)")
}

func TestKubeadmRejectsBadTargetsBeforeAnything(t *testing.T) {
	d, _ := NewKubeadm(KubeadmSettings{})
	for _, tc := range []struct{ target, want string }{
		{"v1.34.4", "target v1.34.4 is not newer than the cluster's v1.35.4"},
		{"v1.35.4", "is not newer"},
		{"v1.37.0", "more than one minor version ahead of v1.35.4"},
		{"latest", `"latest" is not a Kubernetes version`},
	} {
		t.Run(tc.target, func(t *testing.T) {
			_, err := d.Plan(context.Background(), Env{Client: kindClient("v1.35.4")}, tc.target)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// fakeNodes plays the node containers: it records commands and, when a
// node's kubelet is swapped, reports the node at the new version.
type fakeNodes struct {
	mu     sync.Mutex
	cmds   []string
	client *fake.Clientset
	target string
	// restartStatic, when set, plays a new kubelet recreating the node's
	// static pods.
	restartStatic func(node string)
}

func (f *fakeNodes) Exec(ctx context.Context, node string, argv ...string) (string, error) {
	f.mu.Lock()
	f.cmds = append(f.cmds, node+": "+strings.Join(argv, " "))
	f.mu.Unlock()
	line := strings.Join(argv, " ")
	switch {
	case len(argv) == 5 && argv[3] == "restore":
		// The revert's restore script: the kept kubelet comes back.
		return "", f.setKubelet(ctx, node, argv[4])
	case strings.Contains(line, "images list -q"):
		return "registry.k8s.io/kube-apiserver:v1.36.3\nsha256:abc\nregistry.k8s.io/pause:3.10.2\n", nil
	case strings.Contains(line, "cp /tmp/rehearse-upgrade/kubelet"):
		n, err := f.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		n.Status.NodeInfo.KubeletVersion = f.target
		if _, err = f.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			return "", err
		}
		if f.restartStatic != nil {
			f.restartStatic(node)
		}
		return "", nil
	}
	return "", nil
}

func (f *fakeNodes) setKubelet(ctx context.Context, node, v string) error {
	n, err := f.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return err
	}
	n.Status.NodeInfo.KubeletVersion = v
	_, err = f.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	return err
}

func (f *fakeNodes) Engine(ctx context.Context, args ...string) (string, error) {
	f.mu.Lock()
	f.cmds = append(f.cmds, "engine: "+strings.Join(args, " "))
	f.mu.Unlock()
	if args[0] == "cp" && !strings.Contains(args[1], ":") {
		return "", nil
	}
	if args[0] == "cp" {
		// Copying out of the staging container: make the file.
		return "", os.WriteFile(args[2], []byte("x"), 0o644)
	}
	return "", nil
}

// upgradeWith plans and runs the kubeadm driver's upgrade of the fake
// cluster c to v1.36.3, and returns the plan and the timeline.
func upgradeWith(t *testing.T, c *fake.Clientset, s KubeadmSettings) (*Plan, *timeline.Recorder) {
	t.Helper()
	d, err := NewKubeadm(s)
	require.NoError(t, err)
	env := Env{Client: c, Log: io.Discard}
	plan, err := d.Plan(context.Background(), env, "v1.36.3")
	require.NoError(t, err)
	rec := timeline.NewRecorder(nil)
	require.NoError(t, plan.Execute(context.Background(), env, rec))
	return plan, rec
}

func TestKubeadmUpgradeOrder(t *testing.T) {
	c := kindClient("v1.35.4")
	nodes := &fakeNodes{client: c, target: "v1.36.3"}
	plan, rec := upgradeWith(t, c, KubeadmSettings{Runner: nodes, ReadyTimeout: 5e9, StaticPodQuiet: 50 * time.Millisecond})

	for _, n := range []string{"kind-control-plane", "kind-worker", "kind-worker2"} {
		got, _ := c.CoreV1().Nodes().Get(context.Background(), n, metav1.GetOptions{})
		assert.Equal(t, "v1.36.3", got.Status.NodeInfo.KubeletVersion)
		assert.False(t, got.Spec.Unschedulable, "%s uncordoned", n)
	}
	// Per worker, the timeline shows cordon, drain, upgrade, ready and uncordon in order.
	for _, n := range []string{"kind-worker", "kind-worker2"} {
		var seq []string
		for _, e := range rec.Events() {
			if e.Subject == n && e.Kind == "start" {
				seq = append(seq, e.Message)
			}
		}
		assert.Equal(t, []string{"load v1.36.3 into " + n, "upgrade kubeadm", "kubeadm upgrade node", "cordon", "drain", "upgrade kubelet and kubectl", "ready at v1.36.3", "uncordon", "remove staged files"}, seq, n)
	}
	var cp []string
	for _, e := range rec.Events() {
		if e.Subject == "kind-control-plane" && e.Kind == "start" {
			cp = append(cp, e.Message)
		}
	}
	assert.Equal(t, []string{"load v1.36.3 into kind-control-plane", "upgrade kubeadm", "kubeadm upgrade plan", "kubeadm upgrade apply v1.36.3", "wait for kube-system to settle",
		"cordon", "drain", "upgrade kubelet and kubectl", "ready at v1.36.3", "uncordon", staticPodsStep, "remove staged files"}, cp)
	joined := strings.Join(nodes.cmds, "\n")
	assert.Contains(t, joined, "kind-control-plane: kubeadm upgrade apply v1.36.3 --yes --ignore-preflight-errors=SystemVerification")
	assert.Contains(t, joined, "kind-worker: kubeadm upgrade node")
	assert.Contains(t, joined, "images export /tmp/images.tar registry.k8s.io/kube-apiserver:v1.36.3 registry.k8s.io/pause:3.10.2")
	apply := strings.Index(joined, "kubeadm upgrade apply")
	workerNode := strings.Index(joined, "kind-worker: kubeadm upgrade node")
	assert.Less(t, apply, workerNode, "the control plane goes first")
	for _, s := range plan.Leaves() {
		st, msg := s.State()
		assert.Equal(t, Done, st, fmt.Sprintf("%s %s %s", s.Subject, s.Name, msg))
	}
}

// mirrorPod is the apiserver's mirror of a static pod on node.
func mirrorPod(component, node, uid string, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: component + "-" + node, Namespace: "kube-system", UID: types.UID(uid),
			Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "hash-" + uid}},
		Spec: corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: st}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: component, ContainerID: "containerd://" + uid}},
		},
	}
}

// A new kubelet that recreates the control plane's static pods holds the
// upgrade until they are back and Ready: no worker's kubeadm upgrade node
// reaches an apiserver that is restarting.
func TestKubeadmWaitsForStaticPodsAfterControlPlaneKubelet(t *testing.T) {
	c := kindClient("v1.35.4")
	components := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}
	for _, comp := range components {
		_, err := c.CoreV1().Pods("kube-system").Create(context.Background(), mirrorPod(comp, "kind-control-plane", comp+"-old", true), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	// Ready again 1.5 s after the kubelet swap, one component at a time.
	var readyAt time.Time
	var mu sync.Mutex
	nodes := &fakeNodes{client: c, target: "v1.36.3", restartStatic: func(node string) {
		if node != "kind-control-plane" {
			return
		}
		ctx := context.Background()
		for _, comp := range components {
			_ = c.CoreV1().Pods("kube-system").Delete(ctx, comp+"-"+node, metav1.DeleteOptions{})
			_, _ = c.CoreV1().Pods("kube-system").Create(ctx, mirrorPod(comp, node, comp+"-new", false), metav1.CreateOptions{})
		}
		go func() {
			for i, comp := range components {
				time.Sleep(time.Duration(300+300*i) * time.Millisecond)
				_, _ = c.CoreV1().Pods("kube-system").Update(ctx, mirrorPod(comp, node, comp+"-new", true), metav1.UpdateOptions{})
			}
			mu.Lock()
			readyAt = time.Now()
			mu.Unlock()
		}()
	}}
	_, rec := upgradeWith(t, c, KubeadmSettings{Runner: nodes, ReadyTimeout: 20 * time.Second, StaticPodQuiet: 500 * time.Millisecond})

	var workerStart time.Time
	var restartMsg string
	for _, e := range rec.Events() {
		if e.Subject == "kind-worker" && e.Kind == "start" && e.Message == "kubeadm upgrade node" {
			workerStart = e.Time
		}
		if e.Kind == "static-pods" {
			restartMsg = e.Message
		}
	}
	mu.Lock()
	defer mu.Unlock()
	require.False(t, readyAt.IsZero(), "the static pods came back")
	assert.True(t, workerStart.After(readyAt), "the first worker's kubeadm upgrade node (%s) waits for the control plane's static pods (Ready at %s)", workerStart, readyAt)
	assert.Equal(t, "the new kubelet restarted etcd, kube-apiserver, kube-controller-manager, kube-scheduler on kind-control-plane; all Ready", restartMsg)
}

func TestWaitStaticPodsFailsNamingThePod(t *testing.T) {
	c := fake.NewClientset(mirrorPod("kube-apiserver", "cp", "a", true), mirrorPod("etcd", "cp", "e", true))
	before, err := staticPods(context.Background(), c, "cp")
	require.NoError(t, err)
	require.Len(t, before, 2)
	_, err = c.CoreV1().Pods("kube-system").Update(context.Background(), mirrorPod("etcd", "cp", "e2", false), metav1.UpdateOptions{})
	require.NoError(t, err)
	err = WaitStaticPods(context.Background(), c, "cp", before, 100*time.Millisecond, 1500*time.Millisecond, timeline.NewRecorder(nil), io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "etcd-cp not Ready")
	assert.NotContains(t, err.Error(), "kube-apiserver")

	// A kubelet that keeps its pods: done after the quiet period, nothing restarted.
	c2 := fake.NewClientset(mirrorPod("kube-apiserver", "cp", "a", true))
	before2, _ := staticPods(context.Background(), c2, "cp")
	rec := timeline.NewRecorder(nil)
	require.NoError(t, WaitStaticPods(context.Background(), c2, "cp", before2, 100*time.Millisecond, 5*time.Second, rec, io.Discard))
	require.Len(t, rec.Events(), 1)
	assert.Equal(t, "the new kubelet kept the 1 static pods of cp; all Ready", rec.Events()[0].Message)
}

func TestApiserverFlake(t *testing.T) {
	for out, want := range map[string]bool{
		`nodes "w" is forbidden: User "kubernetes-admin" cannot get resource "nodes" in API group "" at the cluster scope`: true,
		`Get "https://cp:6443/api": dial tcp 10.89.0.2:6443: connect: connection refused`:                                  true,
		"http2: client connection lost":                                    true,
		"[ERROR CoreDNSUnsupportedPlugins]: there are unsupported plugins": false,
		"the version of kubeadm v1.36.3 is not supported":                  false,
	} {
		assert.Equal(t, want, apiserverFlake(out), out)
	}
}

// With pools, the workers are upgraded pool by pool in the given order,
// each pool with its own batch size, then the workers in no pool; the plan
// shows it.
func TestKubeadmPlanPoolByPool(t *testing.T) {
	c := fake.NewClientset(
		kindNode("kind-control-plane", true, "v1.35.4"),
		poolNode("kind-worker", "general"), poolNode("kind-worker2", "gpu"), poolNode("kind-worker3", "gpu"),
		poolNode("kind-worker4", "gpu"), poolNode("kind-worker5", ""),
	)
	c.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: "v1.35.4"}
	d, err := NewKubeadm(KubeadmSettings{MaxUnavailable: 1, NodeInterval: 10e9,
		Pools: []PoolSettings{{Name: "gpu", MaxUnavailable: 2}, {Name: "general"}}})
	require.NoError(t, err)
	plan, err := d.Plan(context.Background(), Env{Client: c}, "v1.36.3")
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, plan.Render(&b))
	out := b.String()
	t.Log("\n" + out)
	workers := plan.Root.Children[2]
	var groups []string
	for _, g := range workers.Children {
		groups = append(groups, g.Name)
	}
	assert.Equal(t, []string{
		"pool gpu (2 at a time)", "node interval 10s",
		"pool general (1 at a time)", "node interval 10s",
		"workers in no pool (1 at a time)",
	}, groups)
	gpu := workers.Children[0]
	require.Len(t, gpu.Children, 3, "two batches with an interval between")
	assert.Equal(t, "batch kind-worker2, kind-worker3", gpu.Children[0].Name)
	assert.Equal(t, "batch kind-worker4", gpu.Children[2].Name)
	assert.Contains(t, out, "workers, pool by pool (10s between)")

	// A pool no worker belongs to is no upgrade at all.
	d, _ = NewKubeadm(KubeadmSettings{Pools: []PoolSettings{{Name: "arm"}}})
	_, err = d.Plan(context.Background(), Env{Client: c}, "v1.36.3")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no worker carries the pool label rehearse.io/pool with a value among the pools arm")

	// Planned before the cluster exists, from the scenario's shape.
	d, _ = NewKubeadm(KubeadmSettings{Pools: []PoolSettings{{Name: "b"}, {Name: "a"}}})
	shape := KindShape("demo", "v1.35.4", 1, 3).WithPools([]PoolSize{{Name: "a", Workers: 1}, {Name: "b", Workers: 2}})
	plan, err = d.Plan(context.Background(), Env{Shape: shape}, "v1.36.3")
	require.NoError(t, err)
	assert.Equal(t, "pool b (1 at a time)", plan.Root.Children[2].Children[0].Name)
	assert.Equal(t, "batch demo-worker2", plan.Root.Children[2].Children[0].Children[0].Name)
}

func poolNode(name, pool string) *corev1.Node {
	n := kindNode(name, false, "v1.35.4")
	if pool != "" {
		n.Labels[DefaultPoolLabel] = pool
	}
	return n
}

// An aborted in-place upgrade with upgrade.revert keeps each worker's
// kubelet before upgrading it and puts it back in the revert: the upgraded
// worker only, drained around the restore; the control plane stays.
func TestKubeadmAbortAndRevert(t *testing.T) {
	c := kindClient("v1.35.4")
	nodes := &fakeNodes{client: c, target: "v1.36.3"}
	d, err := NewKubeadm(KubeadmSettings{Runner: nodes, ReadyTimeout: 5e9, StaticPodQuiet: 50 * time.Millisecond, AbortAfter: 1, Revert: true})
	require.NoError(t, err)
	env := Env{Client: c, Log: io.Discard}
	plan, err := d.Plan(context.Background(), env, "v1.36.3")
	require.NoError(t, err)
	require.ErrorIs(t, plan.Execute(context.Background(), env, timeline.Discard), ErrAborted)
	joined := strings.Join(nodes.cmds, "\n")
	keep := strings.Index(joined, "kind-worker: sh -c "+keepScript)
	require.GreaterOrEqual(t, keep, 0, "the worker's kubelet is kept before its upgrade")
	assert.Less(t, keep, strings.Index(joined, "kind-worker: kubeadm upgrade node"))
	assert.NotContains(t, joined, "kind-worker2: sh -c "+keepScript, "the aborted upgrade never reached kind-worker2")
	assert.NotContains(t, joined, "kind-control-plane: sh -c "+keepScript, "control planes are not reverted")

	nodes.cmds = nil
	rp, err := d.RevertPlan(context.Background(), env, "v1.35.4")
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, rp.Render(&b))
	assert.Contains(t, b.String(), "revert to v1.35.4: put back the kubelet of v1.35.4 on the 1 upgraded workers; the control plane stays as it is (kubeadm upgrade apply is not reversible)")
	rec := timeline.NewRecorder(nil)
	require.NoError(t, rp.Execute(context.Background(), env, rec))
	var seq []string
	for _, e := range rec.Events() {
		if e.Kind == "start" {
			seq = append(seq, e.Subject+": "+e.Message)
		}
	}
	assert.Equal(t, []string{"kind-worker: cordon", "kind-worker: drain", "kind-worker: restore the kubelet of v1.35.4", "kind-worker: ready at v1.35.4",
		"kind-worker: uncordon", "kind-worker: remove the kept kubelet"}, seq)
	assert.Contains(t, strings.Join(nodes.cmds, "\n"), "kind-worker: sh -c "+restoreScript+" restore v1.35.4")
	at := map[string]string{}
	list, err := c.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	for _, n := range list.Items {
		at[n.Name] = n.Status.NodeInfo.KubeletVersion
		assert.False(t, n.Spec.Unschedulable, "%s uncordoned", n.Name)
	}
	assert.Equal(t, map[string]string{"kind-control-plane": "v1.36.3", "kind-worker": "v1.35.4", "kind-worker2": "v1.35.4"}, at)
}
