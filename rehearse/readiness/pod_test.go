package readiness

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func runningPod(mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "coredns-a"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "coredns"}}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "coredns", Ready: true,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
		},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func unready(p *corev1.Pod) {
	p.Status.Conditions[0].Status = corev1.ConditionFalse
	p.Status.Conditions[0].Reason = "ContainersNotReady"
	p.Status.ContainerStatuses[0].Ready = false
}

func waiting(reason, msg string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
	}
}

func pending(p *corev1.Pod) {
	p.Status.Phase = corev1.PodPending
	p.Status.Conditions = nil
}

func TestPodProblem(t *testing.T) {
	tests := []struct {
		name  string
		pod   *corev1.Pod
		ready bool
		want  string
	}{
		{name: "ready", pod: runningPod(), ready: true},
		{name: "not ready, nothing known", pod: runningPod(unready), want: "not ready"},
		{name: "no Ready condition", pod: runningPod(func(p *corev1.Pod) { p.Status.Conditions = nil }), want: "not ready"},
		{
			name: "crash loop wins over everything",
			pod: runningPod(unready, waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container"),
				func(p *corev1.Pod) { p.Status.ContainerStatuses[0].RestartCount = 4 }),
			want: "CrashLoopBackOff: container coredns restarted 4 times",
		},
		{
			name: "unschedulable",
			pod: runningPod(pending, func(p *corev1.Pod) {
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
					Reason: "Unschedulable", Message: "0/3 nodes are available"}}
			}),
			want: "Pending: Unschedulable: 0/3 nodes are available",
		},
		{name: "pending without a reason", pod: runningPod(pending, func(p *corev1.Pod) { p.Status.ContainerStatuses = nil }), want: "Pending"},
		{name: "pending on an image that is not there", pod: runningPod(pending, waiting("ErrImageNeverPull", "")),
			want: "Pending: container coredns ErrImageNeverPull"},
		{
			name: "the kubelet's word on the image",
			pod:  runningPod(pending, waiting("ErrImageNeverPull", `Container image "localhost/rehearse/canary:v0.1.0" is not present with pull policy of Never`+"\nmore")),
			want: `Pending: container coredns ErrImageNeverPull: Container image "localhost/rehearse/canary:v0.1.0" is not present with pull policy of Never`,
		},
		{name: "running, image pull backing off", pod: runningPod(unready, waiting("ImagePullBackOff", "")),
			want: "not ready: container coredns ImagePullBackOff"},
		{
			name: "init container waits",
			pod: runningPod(pending, func(p *corev1.Pod) {
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
			}),
			want: "Pending: container init PodInitializing",
		},
		{name: "failed", pod: runningPod(func(p *corev1.Pod) {
			p.Status.Phase, p.Status.Reason, p.Status.Message, p.Status.Conditions = corev1.PodFailed, "Evicted", "low on memory", nil
		}),
			want: "Failed: Evicted: low on memory"},
		{name: "succeeded", pod: runningPod(func(p *corev1.Pod) { p.Status.Phase, p.Status.Conditions = corev1.PodSucceeded, nil }), want: "Succeeded"},
		{
			name: "container exited",
			pod: runningPod(unready, func(p *corev1.Pod) {
				p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137}}
			}),
			want: "not ready: container coredns exited 137",
		},
		{
			name: "restarted and running, not ready",
			pod: runningPod(unready, func(p *corev1.Pod) {
				p.Status.ContainerStatuses[0].RestartCount = 3
				p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}}
			}),
			want: "not ready: container coredns restarted 3 times, last exit 2 (Error)",
		},
		{
			name: "failing readiness probe",
			pod: runningPod(unready, func(p *corev1.Pod) {
				p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{}
			}),
			want: "not ready: container coredns running, its readiness probe not passing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, PodProblem(tt.pod))
			assert.Equal(t, tt.ready, PodReady(tt.pod))
		})
	}
}

func TestNodeProblem(t *testing.T) {
	node := func(conds ...corev1.NodeCondition) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "kind-worker"}, Status: corev1.NodeStatus{Conditions: conds}}
	}
	tests := []struct {
		name string
		node *corev1.Node
		want string
	}{
		{name: "ready", node: node(
			corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
			corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"})},
		{name: "not ready with a reason", node: node(corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse,
			Reason: "KubeletNotReady", Message: "container runtime network not ready"}),
			want: "NotReady (KubeletNotReady: container runtime network not ready)"},
		{name: "not ready, no reason", node: node(corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse}), want: "NotReady"},
		{name: "unknown", node: node(corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}), want: "NotReady (status unknown)"},
		{name: "unknown, the kubelet stopped", node: node(corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown,
			Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status."}),
			want: "NotReady (NodeStatusUnknown: Kubelet stopped posting node status.)"},
		{name: "no Ready condition", node: node(), want: "NotReady (no Ready condition)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, NodeProblem(tt.node))
			assert.Equal(t, tt.want == "", NodeReady(tt.node))
		})
	}
}
