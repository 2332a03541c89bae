package profile

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rehearse/rehearse/scenarios"
)

func node(name string, cp bool, cidr, provider string, lbl map[string]string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}, Spec: corev1.NodeSpec{PodCIDR: cidr, PodCIDRs: []string{cidr}, ProviderID: provider}}
	if cp {
		n.Labels["node-role.kubernetes.io/control-plane"] = ""
	}
	for k, v := range lbl {
		n.Labels[k] = v
	}
	return n
}

func staticPod(component string, args ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: component + "-cp", Namespace: "kube-system", Labels: map[string]string{"component": component}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: component, Command: append([]string{component}, args...)}}},
	}
}

func ds(ns, name string, args ...string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: name, Args: args}}}}}}
}

func deploy(ns, name string, replicas int32, lbl map[string]string, image string) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: lbl},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image}}}}}}
}

func kindCluster() []runtime.Object {
	one := intstr.FromInt32(1)
	return []runtime.Object{
		node("kind-control-plane", true, "10.200.0.0/24", "kind://podman/kind/kind-control-plane", nil),
		node("kind-worker", false, "10.200.1.0/24", "kind://podman/kind/kind-worker", nil),
		node("kind-worker2", false, "10.200.2.0/24", "kind://podman/kind/kind-worker2", nil),
		staticPod("kube-apiserver", "--advertise-address=10.89.0.2", "--service-cluster-ip-range=10.100.0.0/16"),
		staticPod("kube-controller-manager", "--cluster-cidr=10.200.0.0/16", "--allocate-node-cidrs=true"),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy", Namespace: "kube-system"}, Data: map[string]string{"config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: nftables\nclusterCIDR: 10.200.0.0/16\n"}},
		ds("kube-flannel", "kube-flannel-ds"),
		ds("kube-system", "kube-proxy"),
		deploy("kube-system", "coredns", 2, map[string]string{"k8s-app": "kube-dns"}, "registry.k8s.io/coredns/coredns:v1.13.1"),
		deploy("shop", "cart", 1, map[string]string{"app": "cart"}, "cart:1"),
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: "shop"},
			Spec:   policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cart"}}},
			Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0, ExpectedPods: 1, CurrentHealthy: 1, DesiredHealthy: 1}},
	}
}

func client(gitVersion string, objs ...runtime.Object) (*fake.Clientset, *[]string) {
	c := fake.NewClientset(objs...)
	c.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: gitVersion}
	var verbs []string
	c.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		verbs = append(verbs, a.GetVerb())
		return false, nil, nil
	})
	return c, &verbs
}

func TestDiscoverKindCluster(t *testing.T) {
	c, verbs := client("v1.35.4", kindCluster()...)
	p, err := Discover(context.Background(), c)
	require.NoError(t, err)
	assert.Equal(t, "v1.35.4", p.KubernetesVersion)
	assert.Equal(t, 1, p.ControlPlanes)
	assert.Equal(t, 2, p.Workers)
	assert.Equal(t, "flannel", p.CNI)
	assert.Equal(t, "10.200.0.0/16", p.PodSubnet)
	assert.Equal(t, "kube-controller-manager --cluster-cidr", p.Sources["podSubnet"])
	assert.Equal(t, "10.100.0.0/16", p.ServiceSubnet)
	assert.Equal(t, "nftables", p.KubeProxyMode)
	assert.Equal(t, "coredns", p.DNS)
	assert.Equal(t, "kind", p.Flavor)
	require.Len(t, p.Findings, 2)
	assert.Equal(t, FindingSingleReplicaPDB, p.Findings[0].Kind)
	assert.Equal(t, "Deployment shop/cart", p.Findings[0].Object)
	assert.Equal(t, FindingBlockingPDB, p.Findings[1].Kind)
	assert.Contains(t, p.Findings[1].Message, "allows 0 disruptions")

	for _, v := range *verbs {
		assert.Contains(t, []string{"get", "list", "watch"}, v, "profiling must only read")
	}
	assert.NotEmpty(t, *verbs)

	s := p.Scenario("prod-shape")
	b, err := scenarios.Marshal(s)
	require.NoError(t, err)
	back, err := scenarios.Parse("prod-shape.yaml", b)
	require.NoError(t, err, string(b))
	assert.Equal(t, "v1.35.4", back.Cluster.KubernetesVersion)
	assert.Equal(t, "v1.36.0", back.Upgrade.Target)
	assert.Equal(t, 2, back.Cluster.Workers)
	assert.Equal(t, "10.200.0.0/16", back.Cluster.Networking.PodSubnet)
	assert.Equal(t, "10.100.0.0/16", back.Cluster.Networking.ServiceSubnet)
	assert.Equal(t, "nftables", back.Cluster.Networking.KubeProxyMode)
	assert.Contains(t, strings.Join(back.Notes, "\n"), "finding: blocking-pdb: PodDisruptionBudget shop/cart: allows 0 disruptions")
}

func TestDiscoverFallbacksAndNotes(t *testing.T) {
	objs := []runtime.Object{
		node("ip-10-0-1-1", false, "192.168.3.0/24", "aws:///eu-west-1a/i-1", map[string]string{"eks.amazonaws.com/nodegroup": "ng"}),
		node("ip-10-0-1-2", false, "192.168.7.0/24", "aws:///eu-west-1a/i-2", nil),
		ds("kube-system", "aws-node"),
		ds("kube-system", "kube-proxy", "--proxy-mode=ipvs"),
		deploy("kube-system", "kube-dns", 2, nil, "k8s.gcr.io/k8s-dns-kube-dns:1.22"),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"}, Spec: corev1.ServiceSpec{ClusterIP: "172.20.0.1"}},
	}
	c, _ := client("v1.34.2-eks-abcdef", objs...)
	p, err := Discover(context.Background(), c)
	require.NoError(t, err)
	assert.Equal(t, "v1.34.2", p.KubernetesVersion)
	assert.Equal(t, 0, p.ControlPlanes)
	assert.Equal(t, "aws-vpc-cni", p.CNI)
	assert.Equal(t, "eks", p.Flavor)
	assert.Equal(t, "kube-dns", p.DNS)
	assert.Equal(t, "ipvs", p.KubeProxyMode)
	assert.Equal(t, "192.168.0.0/16", p.PodSubnet)
	assert.Equal(t, "172.20.0.0/16", p.ServiceSubnet)

	s := p.Scenario("eks-shape")
	assert.Equal(t, 1, s.Cluster.ControlPlanes)
	assert.Equal(t, "flannel", s.Cluster.CNI)
	joined := ""
	for _, n := range s.Notes {
		joined += n + "\n"
	}
	assert.Contains(t, joined, "CNI aws-vpc-cni cannot be reproduced offline: flannel stands in for it")
	assert.Contains(t, joined, "managed control plane")
	assert.Contains(t, joined, "service subnet 172.20.0.0/16 is a guess")
	assert.Contains(t, joined, "ipvs")
}

func TestScenarioKindnetStandsIn(t *testing.T) {
	p := &Profile{KubernetesVersion: "v1.35.4", ControlPlanes: 1, Workers: 2, CNI: "kindnet"}
	s := p.Scenario("kind-shape")
	assert.Equal(t, "flannel", s.Cluster.CNI, "kindnetd cannot be built from source")
	assert.Contains(t, strings.Join(s.Notes, "\n"), "CNI kindnet: node images built from source carry no kindnetd, so flannel stands in for it")
}

func TestSupernet(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want string
	}{
		{"kind nodes", []string{"10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"}, "10.244.0.0/16"},
		{"spread", []string{"100.96.1.0/24", "100.120.3.0/24"}, "100.96.0.0/11"},
		{"none", nil, ""},
		{"ipv6 ignored", []string{"fd00::/64"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, supernet(tc.in)) })
	}
}
