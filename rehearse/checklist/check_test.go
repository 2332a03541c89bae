package checklist

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func mustBuiltin(t *testing.T, name string) Checklist {
	t.Helper()
	cl, ok := Builtin(name)
	require.True(t, ok, name)
	return cl
}

func failedNames(r Result) []string {
	var out []string
	for _, it := range r.Failed() {
		out = append(out, it.Component)
	}
	sort.Strings(out)
	return out
}

func itemNamed(t *testing.T, r Result, name string) ItemResult {
	t.Helper()
	for _, it := range r.Items {
		if it.Component == name {
			return it
		}
	}
	t.Fatalf("no item %q in %+v", name, r.Items)
	return ItemResult{}
}

func TestCheckKind(t *testing.T) {
	tests := []struct {
		name    string
		change  func(f *fixture)
		cl      func(cl *Checklist)
		opts    Options
		failed  []string          // the failing items, sorted
		message map[string]string // item -> text its message holds
	}{
		{
			name: "healthy",
			message: map[string]string{
				"coredns":                "coredns 2/2 ready, v1.13.1",
				"kindnet":                "not present; kube-flannel is, in its place (cni)",
				"kube-apiserver":         "kube-apiserver 1/1 ready, v1.35.4",
				"local-path-provisioner": "not present (optional)",
				"node/kind-worker":       "node kind-worker Ready, kubelet v1.35.4",
				"kube-system pods":       "kube-system pods 9/9 ready",
				"critical pods":          "critical pods 12/12 ready",
			},
		},
		{
			name:    "healthy at the expected version",
			opts:    Options{ExpectVersion: "1.35.4"},
			message: map[string]string{"kube-proxy": "kube-proxy 3/3 ready, v1.35.4"},
		},
		{
			name: "coredns scaled to 0",
			change: func(f *fixture) {
				f.deployment("coredns").Spec.Replicas = ptr(int32(0))
				f.removePods("coredns-")
			},
			failed:  []string{"coredns"},
			message: map[string]string{"coredns": "coredns 0/0 ready (1 needed); scaled to 0 replicas"},
		},
		{
			name:    "coredns deleted",
			change:  func(f *fixture) { f.deployments = nil; f.removePods("coredns-") },
			failed:  []string{"coredns"},
			message: map[string]string{"coredns": "Deployment kube-system/coredns not found"},
		},
		{
			name:   "kube-proxy pod unavailable",
			change: func(f *fixture) { notReady(f.pod("kube-proxy-bx"), "", 0) },
			failed: []string{"critical pods", "kube-proxy", "kube-system pods"},
			message: map[string]string{
				"kube-proxy":       "kube-proxy 2/3 ready; not ready: kube-proxy-bx (not ready)",
				"kube-system pods": "kube-system/kube-proxy-bx (not ready)",
			},
		},
		{
			name: "kube-proxy wrong image",
			change: func(f *fixture) {
				p := f.pod("kube-proxy-cx")
				p.Spec.Containers[0].Image = "registry.k8s.io/kube-proxy:v1.34.0@sha256:0123"
			},
			opts:    Options{ExpectVersion: "v1.35.4"},
			failed:  []string{"kube-proxy"},
			message: map[string]string{"kube-proxy": "kube-proxy 3/3 ready; image tag v1.34.0, want v1.35.4"},
		},
		{
			name: "node NotReady",
			change: func(f *fixture) {
				c := &f.node("kind-worker2").Status.Conditions[0]
				c.Status, c.Reason, c.Message = corev1.ConditionFalse, "KubeletNotReady", "container runtime network not ready"
			},
			failed: []string{"node/kind-worker2"},
			message: map[string]string{
				"node/kind-worker2": "node kind-worker2 NotReady (KubeletNotReady: container runtime network not ready)",
			},
		},
		{
			name:   "CrashLoopBackOff",
			change: func(f *fixture) { notReady(f.pod("coredns-7d764666f9-b"), "CrashLoopBackOff", 4) },
			failed: []string{"coredns", "critical pods", "kube-system pods"},
			message: map[string]string{
				"coredns":          "coredns 1/2 ready; not ready: coredns-7d764666f9-b (CrashLoopBackOff: container coredns restarted 4 times); restarts above 0: coredns-7d764666f9-b/coredns 4",
				"kube-system pods": "kube-system pods 8/9 ready; not ready: kube-system/coredns-7d764666f9-b (CrashLoopBackOff",
			},
		},
		{
			name: "Pending pod",
			change: func(f *fixture) {
				p := readyPod("kube-system", "metrics-server-1", "", "metrics-server", "metrics-server:v0.8.0", nil)
				p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
					Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available"}}}
				f.pods = append(f.pods, p)
			},
			failed: []string{"kube-system pods"},
			message: map[string]string{
				"kube-system pods": "kube-system/metrics-server-1 (Pending: Unschedulable: 0/3 nodes are available)",
			},
		},
		{
			name: "completed Job pod and terminating pod are not counted",
			change: func(f *fixture) {
				p := readyPod("kube-system", "upgrade-health-check-x", "kind-worker", "pause", "pause:3.10", nil)
				p.OwnerReferences = []metav1.OwnerReference{{Kind: "Job", Name: "upgrade-health-check", APIVersion: batchv1.SchemeGroupVersion.String()}}
				p.Status = corev1.PodStatus{Phase: corev1.PodSucceeded}
				f.pods = append(f.pods, p)
				old := readyPod("kube-system", "coredns-old", "kind-worker", "coredns", "coredns:v1.12.0", map[string]string{"k8s-app": "kube-dns"})
				notReady(old, "", 0)
				old.DeletionTimestamp = &metav1.Time{Time: time.Now()}
				old.Finalizers = []string{"example.com/hold"}
				f.pods = append(f.pods, old)
			},
			message: map[string]string{"kube-system pods": "kube-system pods 9/9 ready"},
		},
		{
			name: "failed Job pod is counted",
			change: func(f *fixture) {
				p := readyPod("kube-system", "upgrade-health-check-y", "kind-worker", "pause", "pause:3.10", nil)
				p.OwnerReferences = []metav1.OwnerReference{{Kind: "Job", Name: "upgrade-health-check"}}
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, Reason: "DeadlineExceeded"}
				f.pods = append(f.pods, p)
			},
			failed:  []string{"kube-system pods"},
			message: map[string]string{"kube-system pods": "upgrade-health-check-y (Failed: DeadlineExceeded)"},
		},
		{
			name: "version mismatch",
			opts: Options{ExpectVersion: "v1.36.3"},
			failed: []string{"kube-apiserver", "kube-controller-manager", "kube-proxy", "kube-scheduler",
				"node/kind-control-plane", "node/kind-worker", "node/kind-worker2"},
			message: map[string]string{
				"kube-apiserver":   "kube-apiserver 1/1 ready; image tag v1.35.4, want v1.36.3",
				"node/kind-worker": "node kind-worker Ready; kubelet v1.35.4, want v1.36.3",
				"etcd":             "etcd 1/1 ready, 3.6.6-0",
			},
		},
		{
			name:    "expected major.minor matches any patch",
			opts:    Options{ExpectVersion: "v1.35"},
			message: map[string]string{"kube-apiserver": "kube-apiserver 1/1 ready, v1.35.4"},
		},
		{
			name: "restarts above allowed",
			change: func(f *fixture) {
				f.pod("kube-scheduler-kind-control-plane").Status.ContainerStatuses[0].RestartCount = 2
			},
			failed:  []string{"kube-scheduler"},
			message: map[string]string{"kube-scheduler": "kube-scheduler 1/1 ready; restarts above 0: kube-scheduler-kind-control-plane/kube-scheduler 2"},
		},
		{
			name: "restarts within allowed",
			change: func(f *fixture) {
				f.pod("kube-scheduler-kind-control-plane").Status.ContainerStatuses[0].RestartCount = 2
			},
			cl: func(cl *Checklist) {
				for i := range cl.Components {
					if cl.Components[i].Name == "kube-scheduler" {
						cl.Components[i].AllowedRestarts = 2
					}
				}
			},
		},
		{
			name: "restarts before the baseline",
			change: func(f *fixture) {
				f.pod("kube-scheduler-kind-control-plane").Status.ContainerStatuses[0].RestartCount = 3
			},
			opts: Options{RestartBaseline: Restarts{"uid-kube-system-kube-scheduler-kind-control-plane/kube-scheduler": 3}},
		},
		{
			name:   "no CNI",
			change: func(f *fixture) { f.daemonSets = f.daemonSets[:1]; f.removePods("kube-flannel-ds-") },
			failed: []string{"calico-node", "kindnet", "kube-flannel"},
			message: map[string]string{
				"kindnet": "DaemonSet kube-system/kindnet not found, nor any other cni: kindnet, kube-flannel, calico-node",
			},
		},
		{
			name: "static pod missing on a second control plane",
			change: func(f *fixture) {
				n := f.node("kind-worker").DeepCopy()
				n.Name = "kind-control-plane2"
				n.Labels["node-role.kubernetes.io/control-plane"] = ""
				f.nodes = append(f.nodes, n)
			},
			failed: []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"},
			message: map[string]string{
				"kube-apiserver": "kube-apiserver 1/2 ready; no pod on kind-control-plane2",
			},
		},
		{
			name: "critical pod elsewhere not ready",
			change: func(f *fixture) {
				p := readyPod("monitoring", "node-exporter-x", "kind-worker", "node-exporter", "node-exporter:v1", nil)
				p.Spec.PriorityClassName = "system-node-critical"
				notReady(p, "ImagePullBackOff", 0)
				f.pods = append(f.pods, p)
			},
			failed:  []string{"critical pods"},
			message: map[string]string{"critical pods": "monitoring/node-exporter-x (not ready: container node-exporter ImagePullBackOff)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := kindFixture()
			if tc.change != nil {
				tc.change(f)
			}
			cl := mustBuiltin(t, "kind")
			if tc.cl != nil {
				tc.cl(&cl)
			}
			r, err := Check(context.Background(), f.client(), cl, tc.opts)
			require.NoError(t, err)
			assert.Equal(t, tc.failed, failedNames(r), "failed items")
			want := Pass
			if len(tc.failed) > 0 {
				want = Fail
			}
			assert.Equal(t, want, r.Outcome)
			for name, text := range tc.message {
				assert.Contains(t, itemNamed(t, r, name).Message, text, name)
			}
		})
	}
}

func TestCheckItems(t *testing.T) {
	r, err := Check(context.Background(), kindFixture().client(), mustBuiltin(t, "kind"), Options{ExpectVersion: "v1.35.4"})
	require.NoError(t, err)
	assert.Equal(t, "kind", r.Checklist)
	assert.Equal(t, "v1.35.4", r.ExpectVersion)
	assert.Equal(t, SchemaVersion, r.SchemaVersion)
	var names []string
	for _, it := range r.Items {
		names = append(names, it.Component)
	}
	assert.Equal(t, []string{"coredns", "kube-proxy", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
		"kindnet", "kube-flannel", "calico-node", "calico-kube-controllers", "local-path-provisioner",
		"node/kind-control-plane", "node/kind-worker", "node/kind-worker2", "kube-system pods", "critical pods"}, names)
	proxy := itemNamed(t, r, "kube-proxy")
	assert.Equal(t, ItemResult{Component: "kube-proxy", Kind: "DaemonSet", Namespace: "kube-system", Outcome: Pass,
		Ready: "3/3", Version: "v1.35.4", Message: "kube-proxy 3/3 ready, v1.35.4"}, proxy)
	kindnet := itemNamed(t, r, "kindnet")
	assert.Equal(t, "-", kindnet.Ready)
	assert.Equal(t, Pass, kindnet.Outcome)
}

func TestCheckRejects(t *testing.T) {
	client := kindFixture().client()
	_, err := Check(context.Background(), client, mustBuiltin(t, "kind"), Options{ExpectVersion: "latest"})
	assert.ErrorContains(t, err, `expected version: "latest" is not a Kubernetes version such as v1.36.3`)
	bad := mustBuiltin(t, "kind")
	bad.Components[0].Kind = "ReplicaSet"
	_, err = Check(context.Background(), client, bad, Options{})
	assert.ErrorContains(t, err, `checklist kind: components[0].kind: "ReplicaSet" is not one of DaemonSet, Deployment, PodPrefix, StaticPod`)
}

func TestBuiltinsAreValid(t *testing.T) {
	assert.Equal(t, []string{"eks", "gke", "kind", "kops"}, Names())
	for _, name := range Names() {
		cl := mustBuiltin(t, name)
		assert.Equal(t, name, cl.Name)
		assert.NoError(t, cl.Validate(), name)
	}
	// Each call is a fresh list: changing one does not change the next.
	a := mustBuiltin(t, "kind")
	a.Components[0].Name = "changed"
	assert.Equal(t, "coredns", mustBuiltin(t, "kind").Components[0].Name)
}

func TestOtherBuiltins(t *testing.T) {
	// An EKS-like cluster: aws-node, coredns and kube-proxy, no control plane.
	f := kindFixture()
	f.removePods("etcd-")
	f.removePods("kube-apiserver-")
	f.removePods("kube-controller-manager-")
	f.removePods("kube-scheduler-")
	f.daemonSets = f.daemonSets[:1]
	f.removePods("kube-flannel-ds-")
	f.daemonSet("kube-system", "aws-node", "aws-node", "amazon-k8s-cni:v1.19.0", map[string]string{"k8s-app": "aws-node"})
	for _, p := range f.pods {
		if strings.HasPrefix(p.Name, "kube-proxy-") {
			p.Spec.Containers[0].Image = "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.35.4-minimal-eksbuild.2"
		}
	}
	for _, n := range f.nodes {
		n.Status.NodeInfo.KubeletVersion = "v1.35.4-eks-5e0fdde"
	}
	r, err := Check(context.Background(), f.client(), mustBuiltin(t, "eks"), Options{ExpectVersion: "v1.35.4"})
	require.NoError(t, err)
	assert.Empty(t, failedNames(r))

	// The same cluster against kops' list misses kops' components.
	r, err = Check(context.Background(), f.client(), mustBuiltin(t, "kops"), Options{})
	require.NoError(t, err)
	assert.Contains(t, failedNames(r), "dns-controller")
	assert.Contains(t, itemNamed(t, r, "kube-proxy").Message, "StaticPod kube-proxy (kube-proxy pods in kube-system) not found")
}

func TestStaticPodOnEveryNode(t *testing.T) {
	f := kindFixture()
	f.daemonSets = f.daemonSets[1:]
	f.removePods("kube-proxy-")
	for _, node := range fixtureNodes[:2] {
		p := readyPod("kube-system", "kube-proxy-"+node, node, "kube-proxy", "kube-proxy:v1.35.4-gke.100", map[string]string{"component": "kube-proxy"})
		p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
		f.pods = append(f.pods, p)
	}
	cl := builtin("t", Component{Name: "kube-proxy", Kind: KindStaticPod, Nodes: NodesAll, Version: VersionTarget})
	r, err := Check(context.Background(), f.client(), cl, Options{ExpectVersion: "v1.35.4"})
	require.NoError(t, err)
	it := itemNamed(t, r, "kube-proxy")
	assert.Equal(t, Fail, it.Outcome)
	assert.Equal(t, "2/3", it.Ready)
	assert.Contains(t, it.Message, "no pod on kind-worker2")
}

func TestKubeletVersionPolicy(t *testing.T) {
	f := kindFixture()
	f.node("kind-worker2").Status.NodeInfo.KubeletVersion = "v1.36.3"
	cl := builtin("t", Component{Name: "kube-flannel", Namespace: "kube-flannel", Object: "kube-flannel-ds", Kind: KindDaemonSet, Version: VersionKubelet})
	r, err := Check(context.Background(), f.client(), cl, Options{ExpectVersion: "v1.36.3"})
	require.NoError(t, err)
	it := itemNamed(t, r, "kube-flannel")
	assert.Equal(t, "v1.35.4,v1.36.3", it.Version)
	assert.Contains(t, it.Message, "kubelet v1.35.4, want v1.36.3")
}

func TestPodPrefix(t *testing.T) {
	f := kindFixture()
	f.pods = append(f.pods,
		readyPod("kube-system", "metrics-server-v0.8.0-abc", "kind-worker", "metrics-server", "metrics-server:v0.8.0", nil),
		readyPod("kube-system", "metrics-server-v0.8.0-def", "kind-worker2", "metrics-server", "metrics-server:v0.8.0", nil))
	notReady(f.pods[len(f.pods)-1], "", 0)
	cl := builtin("t",
		Component{Name: "metrics-server", Object: "metrics-server-v", Kind: KindPodPrefix, MinReady: ptr(1)},
		Component{Name: "absent", Object: "nothing-", Kind: KindPodPrefix})
	r, err := Check(context.Background(), f.client(), cl, Options{})
	require.NoError(t, err)
	ms := itemNamed(t, r, "metrics-server")
	assert.Equal(t, Pass, ms.Outcome)
	assert.Equal(t, "metrics-server 1/2 ready (1 needed), v0.8.0", ms.Message)
	assert.Equal(t, "PodPrefix absent (nothing- pods in kube-system) not found", itemNamed(t, r, "absent").Message)
}

func TestVersionMatches(t *testing.T) {
	tests := []struct {
		actual, expected string
		want             bool
	}{
		{"v1.35.4", "v1.35.4", true},
		{"1.35.4", "v1.35.4", true},
		{"v1.35.4-eks-5e0fdde", "v1.35.4", true},
		{"v1.35.4-minimal-eksbuild.2", "v1.35.4", true},
		{"v1.35.4+k3s1", "v1.35.4", true},
		{"v1.35.40", "v1.35.4", false},
		{"v1.35.3", "v1.35.4", false},
		{"v1.35.4", "v1.35", true},
		{"v1.36.0", "v1.35", false},
		{"v1.35.4-rc.1", "v1.35.4-rc.1", true},
		{"v1.35.4", "v1.35.4-rc.1", false},
		{"latest", "v1.35.4", false},
		{"", "v1.35.4", false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, versionMatches(tc.actual, tc.expected), "%s vs %s", tc.actual, tc.expected)
	}
}

func TestImageTag(t *testing.T) {
	for image, want := range map[string]string{
		"registry.k8s.io/kube-proxy:v1.35.4":             "v1.35.4",
		"localhost:5000/kube-proxy:v1.35.4":              "v1.35.4",
		"localhost:5000/kube-proxy":                      "latest",
		"kube-proxy@sha256:abc":                          "latest",
		"registry.k8s.io/kube-proxy:v1.35.4@sha256:abcd": "v1.35.4",
	} {
		assert.Equal(t, want, imageTag(image), image)
	}
}
