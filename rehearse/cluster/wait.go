package cluster

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	// Imported as ready: this package's readiness is its own judgement.
	ready "github.com/rehearse/rehearse/rehearse/readiness"
)

// Clientset returns a client for the cluster of a kubeconfig file.
func Clientset(kubeconfig string) (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.Timeout = 15 * time.Second
	return kubernetes.NewForConfig(cfg)
}

// Readiness is how far a cluster is from Ready.
type Readiness struct {
	Nodes, ReadyNodes int
	Pods, ReadyPods   int
	// Waiting names what is not Ready yet.
	Waiting []string
	// NoCNI says only registration was judged: nodes that exist, and the
	// kube-system pods on the host's network (see registration).
	NoCNI bool
}

// Ready says every expected node and every kube-system pod is Ready.
func (r Readiness) Ready(wantNodes int) bool {
	return r.Nodes >= wantNodes && r.ReadyNodes == r.Nodes && r.Pods > 0 && r.ReadyPods == r.Pods
}

func (r Readiness) String() string {
	s := fmt.Sprintf("nodes %d/%d Ready, kube-system pods %d/%d Ready", r.ReadyNodes, r.Nodes, r.ReadyPods, r.Pods)
	if r.NoCNI {
		s = fmt.Sprintf("nodes %d registered (no pod network yet), host-network kube-system pods %d/%d Ready", r.Nodes, r.ReadyPods, r.Pods)
	}
	if len(r.Waiting) > 0 {
		w := r.Waiting
		if len(w) > 6 {
			w = append(append([]string{}, w[:6]...), fmt.Sprintf("and %d more", len(r.Waiting)-6))
		}
		s += "; waiting for " + strings.Join(w, ", ")
	}
	return s
}

// readiness judges nodes and kube-system pods. Pods that ran to completion
// count as Ready.
func readiness(nodes []corev1.Node, pods []corev1.Pod) Readiness {
	var r Readiness
	for i := range nodes {
		r.Nodes++
		if ready.NodeReady(&nodes[i]) {
			r.ReadyNodes++
		} else {
			r.Waiting = append(r.Waiting, "node/"+nodes[i].Name)
		}
	}
	for i := range pods {
		if pods[i].Status.Phase == corev1.PodSucceeded {
			continue
		}
		r.Pods++
		if ready.PodReady(&pods[i]) {
			r.ReadyPods++
		} else {
			r.Waiting = append(r.Waiting, "pod/"+pods[i].Name)
		}
	}
	sort.Strings(r.Waiting)
	return r
}

// registration judges a cluster that has no pod network yet: its nodes
// cannot be Ready and CoreDNS cannot start until a CNI is installed, so it
// counts the nodes that registered, whatever their state, and the
// kube-system pods on the host's network (the control plane's static pods,
// kube-proxy), which need no CNI.
func registration(nodes []corev1.Node, pods []corev1.Pod) Readiness {
	var host []corev1.Pod
	for i := range pods {
		if pods[i].Spec.HostNetwork {
			host = append(host, pods[i])
		}
	}
	r := readiness(nodes, host)
	r.ReadyNodes, r.NoCNI = r.Nodes, true
	r.Waiting = slices.DeleteFunc(r.Waiting, func(w string) bool { return strings.HasPrefix(w, "node/") })
	return r
}

// WaitReady waits until wantNodes nodes and every kube-system pod are Ready,
// writing progress when it changes (and every 30 s), until ctx ends.
func WaitReady(ctx context.Context, kubeconfig string, wantNodes int, progress io.Writer) error {
	cs, err := Clientset(kubeconfig)
	if err != nil {
		return err
	}
	return waitReady(ctx, cs, wantNodes, 2*time.Second, progress, readiness)
}

// WaitRegistered waits until wantNodes nodes registered and the kube-system
// pods on the host's network are Ready: as far as a cluster created without
// a CNI gets before one is installed (see WaitReady for after that).
func WaitRegistered(ctx context.Context, kubeconfig string, wantNodes int, progress io.Writer) error {
	cs, err := Clientset(kubeconfig)
	if err != nil {
		return err
	}
	return waitReady(ctx, cs, wantNodes, 2*time.Second, progress, registration)
}

func waitReady(ctx context.Context, cs kubernetes.Interface, wantNodes int, every time.Duration, progress io.Writer,
	judge func([]corev1.Node, []corev1.Pod) Readiness) error {
	err := ready.WaitFor(ctx, ready.Options{
		Interval:  every,
		Progress:  func(s string) { fmt.Fprintf(progress, "  %s\n", s) },
		Heartbeat: 30 * time.Second,
	}, func(ctx context.Context) (bool, string, error) {
		r, err := checkReadiness(ctx, cs, judge)
		if err != nil {
			return false, "API not answering yet: " + err.Error(), nil
		}
		return r.Ready(wantNodes), r.String(), nil
	})
	if err != nil {
		return fmt.Errorf("not Ready in time: %w", err)
	}
	return nil
}

func checkReadiness(ctx context.Context, cs kubernetes.Interface, judge func([]corev1.Node, []corev1.Pod) Readiness) (Readiness, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return Readiness{}, err
	}
	pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
	if err != nil {
		return Readiness{}, err
	}
	return judge(nodes.Items, pods.Items), nil
}
