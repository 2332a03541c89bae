package cluster

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func node(name string, ready corev1.ConditionStatus) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}}}
}

func pod(name string, phase corev1.PodPhase, ready corev1.ConditionStatus) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}}}
}

func TestReadiness(t *testing.T) {
	tests := []struct {
		name      string
		nodes     []corev1.Node
		pods      []corev1.Pod
		wantNodes int
		ready     bool
		text      string
	}{
		{name: "all ready", wantNodes: 2,
			nodes: []corev1.Node{node("cp", "True"), node("w", "True")},
			pods:  []corev1.Pod{pod("etcd", corev1.PodRunning, "True"), pod("job", corev1.PodSucceeded, "False")},
			ready: true, text: "nodes 2/2 Ready, kube-system pods 1/1 Ready"},
		{name: "node not ready", wantNodes: 2,
			nodes: []corev1.Node{node("cp", "True"), node("w", "False")},
			pods:  []corev1.Pod{pod("etcd", corev1.PodRunning, "True")},
			text:  "nodes 1/2 Ready, kube-system pods 1/1 Ready; waiting for node/w"},
		{name: "node missing", wantNodes: 3,
			nodes: []corev1.Node{node("cp", "True"), node("w", "True")},
			pods:  []corev1.Pod{pod("etcd", corev1.PodRunning, "True")}},
		{name: "pod pending", wantNodes: 1,
			nodes: []corev1.Node{node("cp", "True")},
			pods:  []corev1.Pod{pod("coredns-1", corev1.PodPending, "False"), pod("etcd", corev1.PodRunning, "True")},
			text:  "nodes 1/1 Ready, kube-system pods 1/2 Ready; waiting for pod/coredns-1"},
		{name: "no pods yet", wantNodes: 1, nodes: []corev1.Node{node("cp", "True")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := readiness(tc.nodes, tc.pods)
			if r.Ready(tc.wantNodes) != tc.ready {
				t.Errorf("Ready = %v, want %v (%s)", !tc.ready, tc.ready, r)
			}
			if tc.text != "" && r.String() != tc.text {
				t.Errorf("got %q, want %q", r.String(), tc.text)
			}
		})
	}
}

func TestRegistration(t *testing.T) {
	hostNet := func(p corev1.Pod) corev1.Pod { p.Spec.HostNetwork = true; return p }
	nodes := []corev1.Node{node("cp", "False"), node("w", "False")}
	pods := []corev1.Pod{
		hostNet(pod("etcd-cp", corev1.PodRunning, "True")),
		hostNet(pod("kube-proxy-w", corev1.PodRunning, "False")),
		pod("coredns-1", corev1.PodPending, "False"),
	}
	r := registration(nodes, pods)
	assert.False(t, r.Ready(2), "kube-proxy on w is not Ready yet")
	assert.Equal(t, "nodes 2 registered (no pod network yet), host-network kube-system pods 1/2 Ready; waiting for pod/kube-proxy-w", r.String())
	assert.False(t, registration(nodes[:1], pods[:1]).Ready(2), "a node has not registered")

	pods[1] = hostNet(pod("kube-proxy-w", corev1.PodRunning, "True"))
	r = registration(nodes, pods)
	assert.True(t, r.Ready(2), "nodes NotReady and CoreDNS Pending are what a cluster without a CNI looks like: %s", r)
	assert.False(t, readiness(nodes, pods).Ready(2), "the same cluster is not Ready")
}

func TestWaitReady(t *testing.T) {
	tests := []struct {
		name         string
		objects      []runtime.Object
		wantNodes    int
		refuse       bool
		wantErr      string
		wantProgress string
	}{
		{
			name:         "ready",
			wantNodes:    1,
			objects:      []runtime.Object{ptrTo(node("cp", "True")), ptrTo(podIn("kube-system", pod("etcd-cp", corev1.PodRunning, "True")))},
			wantProgress: "  nodes 1/1 Ready, kube-system pods 1/1 Ready\n",
		},
		{
			name:         "a node short",
			wantNodes:    2,
			objects:      []runtime.Object{ptrTo(node("cp", "True")), ptrTo(podIn("kube-system", pod("etcd-cp", corev1.PodRunning, "True")))},
			wantErr:      "not Ready in time: nodes 1/1 Ready, kube-system pods 1/1 Ready: context deadline exceeded",
			wantProgress: "  nodes 1/1 Ready, kube-system pods 1/1 Ready\n",
		},
		{
			name:         "API not answering",
			wantNodes:    1,
			refuse:       true,
			wantErr:      "not Ready in time: API not answering yet: connection refused: context deadline exceeded",
			wantProgress: "  API not answering yet: connection refused\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientset(tc.objects...)
			if tc.refuse {
				c.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, errors.New("connection refused")
				})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			var progress bytes.Buffer
			err := waitReady(ctx, c, tc.wantNodes, time.Millisecond, &progress, readiness)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Errorf("error %v, want %q", err, tc.wantErr)
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("error %v does not wrap the deadline", err)
				}
			} else if err != nil {
				t.Fatalf("error %v", err)
			}
			if progress.String() != tc.wantProgress {
				t.Errorf("progress %q, want %q (told once per change)", progress.String(), tc.wantProgress)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

func podIn(ns string, p corev1.Pod) corev1.Pod {
	p.Namespace = ns
	return p
}
