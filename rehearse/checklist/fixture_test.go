package checklist

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

// fixture is a kind-like cluster in objects: one control plane and two
// workers, kubeadm's static pods, CoreDNS, kube-proxy and flannel, all
// healthy. Tests change it before building a fake clientset from it.
type fixture struct {
	nodes       []*corev1.Node
	pods        []*corev1.Pod
	deployments []*appsv1.Deployment
	daemonSets  []*appsv1.DaemonSet
}

const fixtureVersion = "v1.35.4"

var fixtureNodes = []string{"kind-control-plane", "kind-worker", "kind-worker2"}

func kindFixture() *fixture {
	f := &fixture{}
	for i, name := range fixtureNodes {
		n := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
			Status: corev1.NodeStatus{
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}},
				NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: fixtureVersion},
			},
		}
		if i == 0 {
			n.Labels["node-role.kubernetes.io/control-plane"] = ""
		}
		f.nodes = append(f.nodes, n)
	}
	cp := fixtureNodes[0]
	for _, c := range []struct{ name, image string }{
		{"etcd", "registry.k8s.io/etcd:3.6.6-0"},
		{"kube-apiserver", "registry.k8s.io/kube-apiserver:" + fixtureVersion},
		{"kube-controller-manager", "registry.k8s.io/kube-controller-manager:" + fixtureVersion},
		{"kube-scheduler", "registry.k8s.io/kube-scheduler:" + fixtureVersion},
	} {
		p := readyPod("kube-system", c.name+"-"+cp, cp, c.name, c.image, map[string]string{"component": c.name, "tier": "control-plane"})
		p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash"}
		p.Spec.PriorityClassName = "system-node-critical"
		f.pods = append(f.pods, p)
	}

	dnsLabels := map[string]string{"k8s-app": "kube-dns"}
	f.deployments = append(f.deployments, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "coredns"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: dnsLabels},
		},
		Status: appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2},
	})
	for i, node := range []string{"kind-worker", "kind-worker2"} {
		p := readyPod("kube-system", fmt.Sprintf("coredns-7d764666f9-%c", 'a'+i), node, "coredns", "registry.k8s.io/coredns/coredns:v1.13.1", dnsLabels)
		p.Spec.PriorityClassName = "system-cluster-critical"
		f.pods = append(f.pods, p)
	}

	f.daemonSet("kube-system", "kube-proxy", "kube-proxy", "registry.k8s.io/kube-proxy:"+fixtureVersion, map[string]string{"k8s-app": "kube-proxy"})
	f.daemonSet("kube-flannel", "kube-flannel-ds", "kube-flannel", "ghcr.io/flannel-io/flannel:v0.28.10", map[string]string{"app": "flannel"})
	return f
}

// daemonSet adds a DaemonSet with a Ready pod on every node.
func (f *fixture) daemonSet(ns, name, container, image string, labels map[string]string) {
	f.daemonSets = append(f.daemonSets, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: int32(len(fixtureNodes)),
			CurrentNumberScheduled: int32(len(fixtureNodes)), NumberReady: int32(len(fixtureNodes)), NumberAvailable: int32(len(fixtureNodes))},
	})
	for i, node := range fixtureNodes {
		p := readyPod(ns, fmt.Sprintf("%s-%c%c", name, 'a'+i, 'x'), node, container, image, labels)
		p.Spec.PriorityClassName = "system-node-critical"
		f.pods = append(f.pods, p)
	}
}

func readyPod(ns, name, node, container, image string, labels map[string]string) *corev1.Pod {
	l := map[string]string{}
	for k, v := range labels {
		l[k] = v
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: l, UID: types.UID("uid-" + ns + "-" + name)},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: container, Image: image}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: container, Image: image, Ready: true,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
		},
	}
}

func (f *fixture) pod(name string) *corev1.Pod {
	for _, p := range f.pods {
		if p.Name == name {
			return p
		}
	}
	panic("no pod " + name)
}

func (f *fixture) node(name string) *corev1.Node {
	for _, n := range f.nodes {
		if n.Name == name {
			return n
		}
	}
	panic("no node " + name)
}

func (f *fixture) deployment(name string) *appsv1.Deployment {
	for _, d := range f.deployments {
		if d.Name == name {
			return d
		}
	}
	panic("no deployment " + name)
}

// removePods drops the pods whose names start with prefix.
func (f *fixture) removePods(prefix string) {
	var keep []*corev1.Pod
	for _, p := range f.pods {
		if len(p.Name) < len(prefix) || p.Name[:len(prefix)] != prefix {
			keep = append(keep, p)
		}
	}
	f.pods = keep
}

func (f *fixture) objects() []runtime.Object {
	var out []runtime.Object
	for _, n := range f.nodes {
		out = append(out, n.DeepCopy())
	}
	for _, p := range f.pods {
		out = append(out, p.DeepCopy())
	}
	for _, d := range f.deployments {
		out = append(out, d.DeepCopy())
	}
	for _, d := range f.daemonSets {
		out = append(out, d.DeepCopy())
	}
	return out
}

func (f *fixture) client() *fake.Clientset { return fake.NewClientset(f.objects()...) }

// notReady makes a pod's containers not ready, waiting for reason.
func notReady(p *corev1.Pod, reason string, restarts int32) {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			p.Status.Conditions[i].Status = corev1.ConditionFalse
			p.Status.Conditions[i].Reason = "ContainersNotReady"
		}
	}
	for i := range p.Status.ContainerStatuses {
		cs := &p.Status.ContainerStatuses[i]
		cs.Ready = false
		cs.RestartCount = restarts
		if reason != "" {
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
		}
	}
}

func ptr[T any](v T) *T { return &v }
