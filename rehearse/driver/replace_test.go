package driver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/scenarios"
)

// kindJoinConf is a worker's /kind/kubeadm.conf as kind writes it for
// v1.35 (kubeadm.k8s.io/v1beta3, kubeletExtraArgs a map), with a pool's
// label and taint.
const kindJoinConf = `apiVersion: kubeadm.k8s.io/v1beta3
clusterName: kind
controlPlaneEndpoint: kind-control-plane:6443
kind: ClusterConfiguration
kubernetesVersion: v1.35.4
---
apiVersion: kubeadm.k8s.io/v1beta3
bootstrapTokens:
- token: abcdef.0123456789abcdef
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.89.0.4
  bindPort: 6443
---
apiVersion: kubeadm.k8s.io/v1beta3
discovery:
  bootstrapToken:
    apiServerEndpoint: kind-control-plane:6443
    token: abcdef.0123456789abcdef
    unsafeSkipCAVerification: true
kind: JoinConfiguration
nodeRegistration:
  criSocket: unix:///run/containerd/containerd.sock
  kubeletExtraArgs:
    node-ip: 10.89.0.4
    node-labels: rehearse.io/pool=apps
    provider-id: kind://podman/kind/kind-worker
  taints:
  - effect: NoSchedule
    key: dedicated
    value: apps
skipPhases:
- preflight
---
apiVersion: kubelet.config.k8s.io/v1beta1
failCgroupV1: false
kind: KubeletConfiguration
`

// kindJoinConfV1beta4 is the same in kubeadm.k8s.io/v1beta4, where
// kubeletExtraArgs is a list.
const kindJoinConfV1beta4 = `apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
nodeRegistration:
  criSocket: "unix:///run/containerd/containerd.sock"
  kubeletExtraArgs:
    - name: "node-ip"
      value: "10.89.0.4"
    - name: "provider-id"
      value: "kind://podman/kind/kind-worker"
    - name: "node-labels"
      value: "rehearse.io/pool=apps"
  taints:
  - key: dedicated
    value: apps
    effect: NoSchedule
discovery:
  bootstrapToken:
    apiServerEndpoint: "kind-control-plane:6443"
    token: "abcdef.0123456789abcdef"
    unsafeSkipCAVerification: true
`

func TestJoinConfigForTheNewNode(t *testing.T) {
	for name, in := range map[string]string{"v1beta3": kindJoinConf, "v1beta4": kindJoinConfV1beta4} {
		f, err := parseJoinFacts(in)
		require.NoError(t, err, name)
		assert.Equal(t, "kind-control-plane:6443", f.endpoint, name)
		assert.Equal(t, "rehearse.io/pool=apps", f.nodeLabels, name)
		assert.Equal(t, "kind://podman/kind/kind-worker", f.providerID, name)
		conf, err := joinConfig(f, "kind-worker", "kind-worker-v1-36-3", "10.89.0.9", "zyxwvu.9876543210zyxwvu")
		require.NoError(t, err, name)
		assert.Equal(t, `apiVersion: kubeadm.k8s.io/v1beta4
discovery:
  bootstrapToken:
    apiServerEndpoint: kind-control-plane:6443
    token: zyxwvu.9876543210zyxwvu
    unsafeSkipCAVerification: true
kind: JoinConfiguration
nodeRegistration:
  criSocket: unix:///run/containerd/containerd.sock
  kubeletExtraArgs:
  - name: node-ip
    value: 10.89.0.9
  - name: provider-id
    value: kind://podman/kind/kind-worker-v1-36-3
  - name: node-labels
    value: rehearse.io/pool=apps
  taints:
  - effect: NoSchedule
    key: dedicated
    value: apps
skipPhases:
- preflight
`, conf, name)
	}

	// Another node's file, or one with no join configuration, is refused.
	f, err := parseJoinFacts(kindJoinConf)
	require.NoError(t, err)
	_, err = joinConfig(f, "kind-worker2", "n", "10.89.0.9", "zyxwvu.9876543210zyxwvu")
	assert.ErrorContains(t, err, `provider id "kind://podman/kind/kind-worker" is not kind-worker2's`)
	_, err = parseJoinFacts(strings.ReplaceAll(kindJoinConf, "kind: JoinConfiguration", "kind: Other"))
	assert.ErrorContains(t, err, "no JoinConfiguration")
	_, err = parseJoinFacts(strings.ReplaceAll(kindJoinConf, "apiServerEndpoint: kind-control-plane:6443", "x: y"))
	assert.ErrorContains(t, err, "apiServerEndpoint")
}

func TestReplacementName(t *testing.T) {
	assert.Equal(t, "kind-worker2-v1-36-3", replacementName("kind-worker2", "v1.36.3"))
	assert.Equal(t, "kind-worker2-v1-35-4", replacementName("kind-worker2-v1-36-3", "v1.35.4"), "a revert names the node after the original")
	assert.Equal(t, "kind-worker2-v1-35-4-v1-35-4", replacementName("kind-worker2-v1-35-4", "v1.35.4"))
	long := strings.Repeat("a", 50) + "-worker2"
	got := replacementName(long, "v1.36.3")
	assert.LessOrEqual(t, len(got), 63)
	assert.True(t, strings.HasPrefix(got, long[:40]), got)
	assert.NotEqual(t, got, replacementName(long, "v1.37.0"), "another target, another name")
}

func TestParseNodeContainerAndRunArgs(t *testing.T) {
	out := "kind\tworker\tkind;\tbind|/lib/modules|/lib/modules|false;volume|abc123|/var|true;bind|/dev/null|/etc/rehearse-run/r1|false;bind|/dev/null|/etc/rehearse-owner/1.2.3.b|false;\t/dev/fuse;\t10.89.0.4;\n"
	c, ip, err := parseNodeContainer(out)
	require.NoError(t, err)
	assert.Equal(t, "10.89.0.4", ip)
	assert.Equal(t, nodeContainer{cluster: "kind", role: "worker", networks: []string{"kind"},
		binds:   []string{"/dev/null:/etc/rehearse-run/r1:ro", "/dev/null:/etc/rehearse-owner/1.2.3.b:ro"},
		devices: []string{"/dev/fuse"}}, c)
	args := strings.Join(c.runArgs("podman", "kind-worker-v1-36-3", "vol9", "localhost/rehearse/node:v1.36.3"), " ")
	for _, want := range []string{
		"run --name kind-worker-v1-36-3 --hostname kind-worker-v1-36-3",
		"--label io.x-k8s.kind.cluster=kind --label io.x-k8s.kind.role=worker --privileged",
		"--volume vol9:/var:suid,exec,dev", "--net kind", "--device /dev/fuse",
		"--volume /dev/null:/etc/rehearse-owner/1.2.3.b:ro",
	} {
		assert.Contains(t, args, want)
	}
	assert.True(t, strings.HasSuffix(args, " localhost/rehearse/node:v1.36.3"), args)

	_, _, err = parseNodeContainer("\tworker\tkind;\t\t\t\n")
	assert.ErrorContains(t, err, "not a kind node container")
	_, _, err = parseNodeContainer("garbage")
	assert.Error(t, err)
}

func TestFullImageName(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                              "docker.io/library/nginx:latest",
		"nginx:1.27":                         "docker.io/library/nginx:1.27",
		"team/app":                           "docker.io/team/app:latest",
		"registry.k8s.io/kube-proxy:v1.36.3": "registry.k8s.io/kube-proxy:v1.36.3",
		"localhost/rehearse/canary:dev":      "localhost/rehearse/canary:dev",
		"localhost:5000/app":                 "localhost:5000/app:latest",
		"quay.io/x/y@sha256:abc":             "quay.io/x/y@sha256:abc",
	} {
		assert.Equal(t, want, fullImageName(in), in)
	}
}

func TestTakenOverLabelsAndTaints(t *testing.T) {
	labels, taints, changed := takenOver(
		map[string]string{corev1.LabelHostname: "new", "rehearse.io/pool": "apps"},
		[]corev1.Taint{{Key: "dedicated", Value: "apps", Effect: corev1.TaintEffectNoSchedule}},
		map[string]string{corev1.LabelHostname: "old", "rehearse.io/pool": "apps", "team": "shop"},
		[]corev1.Taint{{Key: "dedicated", Value: "apps", Effect: corev1.TaintEffectNoSchedule},
			{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule},
			{Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoExecute}})
	assert.True(t, changed)
	assert.Equal(t, map[string]string{corev1.LabelHostname: "new", "rehearse.io/pool": "apps", "team": "shop"}, labels)
	assert.Equal(t, []corev1.Taint{{Key: "dedicated", Value: "apps", Effect: corev1.TaintEffectNoSchedule},
		{Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoExecute}}, taints)

	_, _, changed = takenOver(map[string]string{"a": "1"}, nil, map[string]string{"a": "1", corev1.LabelHostname: "x"}, nil)
	assert.False(t, changed)
}

func TestReplacePlanOrder(t *testing.T) {
	shape := KindShape("demo", "v1.35.4", 1, 3).WithPools([]PoolSize{{Name: "web", Workers: 2}, {Name: "batch", Workers: 1}})
	for _, tc := range []struct {
		name    string
		s       ReplaceSettings
		batches []string
		steps   []string
	}{
		{"surge first", ReplaceSettings{MaxSurge: 1, Soak: 5e9, NodeInterval: 10e9},
			[]string{"pool batch: batch demo-worker3", "node interval 10s", "pool web: batch demo-worker", "node interval 10s", "pool web: batch demo-worker2"},
			[]string{"surge", "soak 5s", "retire"}},
		{"two at once", ReplaceSettings{MaxSurge: 2},
			[]string{"pool batch: batch demo-worker3", "pool web: batch demo-worker, demo-worker2"},
			[]string{"surge", "retire"}},
		{"surge one, one more unavailable", ReplaceSettings{MaxSurge: 1, MaxUnavailable: 1},
			[]string{"pool batch: batch demo-worker3", "pool web: batch demo-worker, demo-worker2"},
			[]string{"surge", "retire"}},
		{"no surge: retire first", ReplaceSettings{MaxSurge: 0, MaxUnavailable: 1},
			[]string{"pool batch: batch demo-worker3", "pool web: batch demo-worker", "pool web: batch demo-worker2"},
			[]string{"retire", "replace the retired"}},
	} {
		d, err := NewReplace(tc.s)
		require.NoError(t, err, tc.name)
		plan, err := d.Plan(context.Background(), Env{Shape: shape}, "v1.36.3")
		require.NoError(t, err, tc.name)
		require.Len(t, plan.Root.Children, 3, tc.name)
		workers := plan.Root.Children[2]
		var batches []string
		for _, b := range workers.Children {
			batches = append(batches, b.Name)
		}
		assert.Equal(t, tc.batches, batches, tc.name)
		var steps []string
		for _, s := range workers.Children[0].Children {
			steps = append(steps, s.Name)
		}
		assert.Equal(t, tc.steps, steps, tc.name)
		var b bytes.Buffer
		require.NoError(t, plan.Render(&b))
		out := b.String()
		for _, want := range []string{"kubeadm upgrade apply v1.36.3", "demo-worker3-v1-36-3  [serial]",
			"create node container from localhost/rehearse/node:v1.36.3 to replace demo-worker3\n", "kubeadm join", "ready at v1.36.3",
			"take over labels and taints of demo-worker3", "cordon", "drain", "delete node", "remove node container"} {
			assert.Contains(t, out, want, tc.name)
		}
		if tc.s.MaxSurge == 1 && tc.s.MaxUnavailable == 1 {
			var web []string
			for _, st := range workers.Children[1].Children {
				web = append(web, fmt.Sprintf("%s %d", st.Name, len(st.Children)))
			}
			assert.Equal(t, []string{"surge 1", "retire 2", "replace the retired 1"}, web, "one node surges, two go, the second is replaced after")
		}
		// Every node gets the target's images: the upgraded DaemonSets run
		// on the old workers until they are replaced.
		assert.Contains(t, out, "load v1.36.3 into demo-worker3", tc.name)
	}

	_, err := NewReplace(ReplaceSettings{})
	assert.ErrorContains(t, err, "no node could be replaced")
	d, _ := NewReplace(ReplaceSettings{MaxSurge: 1})
	_, err = d.Plan(context.Background(), Env{Shape: KindShape("demo", "v1.35.4", 1, 0)}, "v1.36.3")
	assert.ErrorContains(t, err, "no worker to replace")
	_, err = d.Plan(context.Background(), Env{Shape: KindShape("demo", "v1.35.4", 1, 1)}, "v1.38.0")
	assert.Error(t, err, "two minors ahead")
}

// fakeKind answers the replace driver's commands as kind's node containers
// would: a joined node appears in the API at the target, a removed
// container's node is gone.
type fakeKind struct {
	*fakeNodes
	mu         sync.Mutex
	containers map[string]bool
	images     map[string]string
}

func (f *fakeKind) Exec(ctx context.Context, node string, argv ...string) (string, error) {
	line := strings.Join(argv, " ")
	switch {
	case line == "cat /kind/kubeadm.conf":
		f.record(node + ": " + line)
		return strings.ReplaceAll(kindJoinConf, "kind/kind-worker\n", "kind/"+node+"\n"), nil
	case strings.HasPrefix(line, "kubeadm token create"):
		f.record(node + ": " + line)
		return "zyxwvu.9876543210zyxwvu\n", nil
	case strings.HasPrefix(line, "kubeadm join"):
		f.record(node + ": " + line)
		n := kindNode(node, false, f.target)
		n.Labels[corev1.LabelHostname] = node
		_, err := f.client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		return "", err
	case strings.Contains(line, "images list -q"):
		f.record(node + ": " + line)
		return f.images[node], nil
	}
	return f.fakeNodes.Exec(ctx, node, argv...)
}

func (f *fakeKind) record(s string) {
	f.fakeNodes.mu.Lock()
	f.cmds = append(f.cmds, s)
	f.fakeNodes.mu.Unlock()
}

func (f *fakeKind) Engine(ctx context.Context, args ...string) (string, error) {
	line := strings.Join(args, " ")
	switch args[0] {
	case "inspect":
		f.record("engine: " + line)
		name := args[len(args)-1]
		if strings.Contains(line, `eq .Type "volume"`) {
			return "vol-" + name + ";", nil
		}
		return fmt.Sprintf("kind\tworker\tkind;\tvolume|vol-%s|/var|true;\t\t10.89.0.%d;\n", name, len(name)), nil
	case "run":
		f.record("engine: " + line)
		for i := range args[:len(args)-1] {
			if args[i] == "--name" {
				f.mu.Lock()
				f.containers[args[i+1]] = true
				f.mu.Unlock()
			}
		}
		return "", nil
	case "logs":
		return "Reached target Multi-User System.\n", nil
	case "volume":
		f.record("engine: " + line)
		return "vol-new\n", nil
	case "rm":
		f.record("engine: " + line)
		name := args[len(args)-1]
		f.mu.Lock()
		delete(f.containers, name)
		f.mu.Unlock()
		return "", nil
	}
	return f.fakeNodes.Engine(ctx, args...)
}

func TestReplaceUpgradeOrder(t *testing.T) {
	c := kindClient("v1.35.4")
	w, err := c.CoreV1().Nodes().Get(context.Background(), "kind-worker2", metav1.GetOptions{})
	require.NoError(t, err)
	w.Labels["team"] = "shop"
	w.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "shop", Effect: corev1.TaintEffectNoSchedule}}
	_, err = c.CoreV1().Nodes().Update(context.Background(), w, metav1.UpdateOptions{})
	require.NoError(t, err)
	nodes := &fakeKind{fakeNodes: &fakeNodes{client: c, target: "v1.36.3"}, containers: map[string]bool{"kind-worker": true, "kind-worker2": true},
		images: map[string]string{"kind-worker": "localhost/rehearse/canary:dev\nregistry.k8s.io/pause:3.10\nsha256:1\n", "kind-worker-v1-36-3": "registry.k8s.io/pause:3.10\n"}}
	d, err := NewReplace(ReplaceSettings{MaxSurge: 1, Runner: nodes, ReadyTimeout: 5e9, DeregistrationDelay: time.Millisecond})
	require.NoError(t, err)
	d.k.s.StaticPodQuiet = 50e6
	env := Env{Client: c, Log: io.Discard}
	plan, err := d.Plan(context.Background(), env, "v1.36.3")
	require.NoError(t, err)
	rec := timeline.NewRecorder(nil)
	require.NoError(t, plan.Execute(context.Background(), env, rec))

	list, err := c.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var names []string
	for _, n := range list.Items {
		names = append(names, n.Name)
		assert.Equal(t, "v1.36.3", n.Status.NodeInfo.KubeletVersion, n.Name)
	}
	assert.ElementsMatch(t, []string{"kind-control-plane", "kind-worker-v1-36-3", "kind-worker2-v1-36-3"}, names)
	assert.Equal(t, map[string]bool{"kind-worker-v1-36-3": true, "kind-worker2-v1-36-3": true}, nodes.containers, "the old containers are removed")
	nu, err := c.CoreV1().Nodes().Get(context.Background(), "kind-worker2-v1-36-3", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "shop", nu.Labels["team"], "labels set through the API are taken over")
	assert.Equal(t, "kind-worker2-v1-36-3", nu.Labels[corev1.LabelHostname])
	assert.Equal(t, []corev1.Taint{{Key: "dedicated", Value: "shop", Effect: corev1.TaintEffectNoSchedule}}, nu.Spec.Taints)

	// The old worker is drained only once its replacement is Ready, and
	// the next batch starts after the old one is gone.
	var seq []string
	for _, e := range rec.Events() {
		if e.Kind == "start" && strings.HasPrefix(e.Subject, "kind-worker") && !strings.HasPrefix(e.Message, "load ") {
			seq = append(seq, e.Subject+": "+e.Message)
		}
	}
	assert.Equal(t, []string{
		"kind-worker-v1-36-3: create node container from localhost/rehearse/node:v1.36.3 to replace kind-worker",
		"kind-worker-v1-36-3: copy the cluster's images from kind-worker",
		"kind-worker-v1-36-3: kubeadm join",
		"kind-worker-v1-36-3: ready at v1.36.3",
		"kind-worker-v1-36-3: " + podNetworkStep,
		"kind-worker-v1-36-3: take over labels and taints of kind-worker",
		"kind-worker: cordon", "kind-worker: drain", "kind-worker: exclude from load balancers", "kind-worker: deregistration delay 1ms", "kind-worker: delete node", "kind-worker: remove node container",
		"kind-worker2-v1-36-3: create node container from localhost/rehearse/node:v1.36.3 to replace kind-worker2",
		"kind-worker2-v1-36-3: copy the cluster's images from kind-worker2",
		"kind-worker2-v1-36-3: kubeadm join",
		"kind-worker2-v1-36-3: ready at v1.36.3",
		"kind-worker2-v1-36-3: " + podNetworkStep,
		"kind-worker2-v1-36-3: take over labels and taints of kind-worker2",
		"kind-worker2: cordon", "kind-worker2: drain", "kind-worker2: exclude from load balancers", "kind-worker2: deregistration delay 1ms", "kind-worker2: delete node", "kind-worker2: remove node container",
	}, seq)
	joined := strings.Join(nodes.cmds, "\n")
	assert.Contains(t, joined, "kind-worker: ctr --namespace=k8s.io images export /tmp/rehearse-images.tar localhost/rehearse/canary:dev\n",
		"only the image the new node lacks and the node images do not carry is copied")
	assert.Contains(t, joined, "kind-control-plane: kubeadm token create --ttl 1h")
	assert.Contains(t, joined, "engine: volume rm -f vol-kind-worker")
	assert.Contains(t, joined, "engine: run --name kind-worker-v1-36-3 --hostname kind-worker-v1-36-3")
	assert.NotContains(t, joined, "kind-worker: kubeadm upgrade node", "workers are replaced, not upgraded")
	assert.Less(t, strings.Index(joined, "kubeadm upgrade apply"), strings.Index(joined, "engine: run --name"), "the control plane goes first")
}

func TestReplaceUndrainableNode(t *testing.T) {
	for _, cordon := range []bool{false, true} {
		c := kindClient("v1.35.4")
		// A pod whose budget allows no eviction pins kind-worker.
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: "default", Labels: map[string]string{"app": "db"}},
			Spec: corev1.PodSpec{NodeName: "kind-worker"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		_, err := c.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{})
		require.NoError(t, err)
		pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
			Spec:   policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
			Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0}}
		_, err = c.PolicyV1().PodDisruptionBudgets("default").Create(context.Background(), pdb, metav1.CreateOptions{})
		require.NoError(t, err)
		evictions(c)
		nodes := &fakeKind{fakeNodes: &fakeNodes{client: c, target: "v1.36.3"}, containers: map[string]bool{"kind-worker": true, "kind-worker2": true}, images: map[string]string{}}
		d, err := NewReplace(ReplaceSettings{MaxSurge: 1, Runner: nodes, ReadyTimeout: 5e9, DrainTimeout: 300e6, CordonUndrainable: cordon, DeregistrationDelay: time.Millisecond})
		require.NoError(t, err)
		d.k.s.StaticPodQuiet = 50e6
		env := Env{Client: c, Log: io.Discard}
		plan, err := d.Plan(context.Background(), env, "v1.36.3")
		require.NoError(t, err)
		rec := timeline.NewRecorder(nil)
		err = plan.Execute(context.Background(), env, rec)
		old, getErr := c.CoreV1().Nodes().Get(context.Background(), "kind-worker", metav1.GetOptions{})
		require.NoError(t, getErr, "an undrainable node is never deleted")
		assert.True(t, old.Spec.Unschedulable, "and stays cordoned")
		assert.True(t, nodes.containers["kind-worker"], "its container stays")
		if !cordon {
			require.Error(t, err)
			assert.Contains(t, err.Error(), "drain (kind-worker)")
			assert.Contains(t, err.Error(), "PodDisruptionBudget default/db", "the error names the budget")
			assert.Contains(t, err.Error(), "(pods: default/db-0)", "and its pod")
			assert.Contains(t, err.Error(), "its replacement kind-worker-v1-36-3, Ready at v1.36.3, stays in the cluster", "the surge node is accounted for")
			_, getErr := c.CoreV1().Nodes().Get(context.Background(), "kind-worker-v1-36-3", metav1.GetOptions{})
			assert.NoError(t, getErr, "the surge node stays")
			var left []string
			for _, e := range rec.Events() {
				if e.Kind == "surge-left" {
					left = append(left, e.Subject)
				}
			}
			assert.Equal(t, []string{"kind-worker-v1-36-3"}, left, "the surge node left is on the timeline")
			_, getErr = c.CoreV1().Nodes().Get(context.Background(), "kind-worker2-v1-36-3", metav1.GetOptions{})
			assert.True(t, apierrors.IsNotFound(getErr), "the upgrade stops at the undrainable node")
			continue
		}
		require.NoError(t, err, "undrainable: cordon goes on")
		_, getErr = c.CoreV1().Nodes().Get(context.Background(), "kind-worker2-v1-36-3", metav1.GetOptions{})
		assert.NoError(t, getErr, "the next worker is replaced")
		var left []string
		for _, e := range rec.Events() {
			if e.Kind == "left-cordoned" {
				left = append(left, e.Subject)
			}
		}
		assert.Equal(t, []string{"kind-worker"}, left)
	}
}

func TestReplaceFromScenario(t *testing.T) {
	d, err := Drivers().New(scenarios.Upgrade{Driver: scenarios.DriverReplace, Target: "v1.36.3",
		Replace: &scenarios.Replace{MaxSurge: 2, Soak: scenarios.D(3e9), Undrainable: scenarios.UndrainableCordon, DrainTimeout: scenarios.D(60e9)}})
	require.NoError(t, err)
	r := d.(*Replace)
	assert.Equal(t, 2, r.s.MaxSurge)
	assert.True(t, r.s.CordonUndrainable)
	assert.Equal(t, "soak 3s", fmt.Sprintf("soak %s", r.s.Soak))
}

func TestAbortAfterStopsTheUpgrade(t *testing.T) {
	// Planned: the abort step follows the batch that reaches the count,
	// kubeadm and replace alike.
	shape := KindShape("demo", "v1.35.4", 1, 3)
	k, err := NewKubeadm(KubeadmSettings{MaxUnavailable: 1, AbortAfter: 2})
	require.NoError(t, err)
	plan, err := k.Plan(context.Background(), Env{Shape: shape}, "v1.36.3")
	require.NoError(t, err)
	var names []string
	for _, s := range plan.Root.Children[2].Children {
		names = append(names, s.Name)
	}
	assert.Equal(t, []string{"batch demo-worker", "batch demo-worker2", "abort after 2 workers", "batch demo-worker3"}, names)

	// Run: the upgrade stops after the first worker with ErrAborted; the
	// rest is skipped, the second worker untouched.
	c := kindClient("v1.35.4")
	nodes := &fakeKind{fakeNodes: &fakeNodes{client: c, target: "v1.36.3"}, containers: map[string]bool{"kind-worker": true, "kind-worker2": true}, images: map[string]string{}}
	d, err := NewReplace(ReplaceSettings{MaxSurge: 1, Runner: nodes, ReadyTimeout: 5e9, DeregistrationDelay: time.Millisecond, AbortAfter: 1})
	require.NoError(t, err)
	d.k.s.StaticPodQuiet = 50e6
	env := Env{Client: c, Log: io.Discard}
	plan, err = d.Plan(context.Background(), env, "v1.36.3")
	require.NoError(t, err)
	err = plan.Execute(context.Background(), env, timeline.Discard)
	require.ErrorIs(t, err, ErrAborted)
	_, err = c.CoreV1().Nodes().Get(context.Background(), "kind-worker-v1-36-3", metav1.GetOptions{})
	require.NoError(t, err, "the first worker was replaced")
	w2, err := c.CoreV1().Nodes().Get(context.Background(), "kind-worker2", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "v1.35.4", w2.Status.NodeInfo.KubeletVersion, "the second was not")
	var b bytes.Buffer
	require.NoError(t, plan.Render(&b))
	assert.Contains(t, b.String(), "not run: the upgrade was aborted")

	// Revert: the replaced worker is replaced again by a node at v1.35.4;
	// the untouched one stays. The target's kube-proxy, which runs, goes
	// with it: the older node image lacks it.
	nodes.target = "v1.35.4"
	nodes.images["kind-worker-v1-36-3"] = "registry.k8s.io/kube-proxy:v1.36.3\nregistry.k8s.io/kube-apiserver:v1.36.3\n"
	_, err = c.CoreV1().Pods("kube-system").Create(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy-x", Namespace: "kube-system"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "kube-proxy", Image: "registry.k8s.io/kube-proxy:v1.36.3"}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	rp, err := d.RevertPlan(context.Background(), env, "v1.35.4")
	require.NoError(t, err)
	b.Reset()
	require.NoError(t, rp.Render(&b))
	assert.Contains(t, b.String(), "revert to v1.35.4: replace the 1 workers at another version")
	assert.Contains(t, b.String(), "kind-worker-v1-35-4")
	assert.Contains(t, b.String(), "create node container from localhost/rehearse/node:v1.35.4 to replace kind-worker-v1-36-3")
	require.NoError(t, rp.Execute(context.Background(), env, timeline.Discard))
	assert.Contains(t, strings.Join(nodes.cmds, "\n"), "kind-worker-v1-36-3: ctr --namespace=k8s.io images export /tmp/rehearse-images.tar registry.k8s.io/kube-proxy:v1.36.3\n",
		"the kube-proxy in use is copied, the apiserver no pod runs is not")
	list, err := c.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	at := map[string]string{}
	for _, n := range list.Items {
		at[n.Name] = n.Status.NodeInfo.KubeletVersion
	}
	assert.Equal(t, map[string]string{"kind-control-plane": "v1.36.3", "kind-worker-v1-35-4": "v1.35.4", "kind-worker2": "v1.35.4"}, at)

	// Nothing left to revert is a plan that says so.
	rp, err = d.RevertPlan(context.Background(), env, "v1.35.4")
	require.NoError(t, err)
	require.NoError(t, rp.Execute(context.Background(), env, timeline.Discard))
	assert.Contains(t, rp.Leaves()[0].Name, "nothing to revert")
}
