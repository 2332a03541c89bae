package cluster

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
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
}

// Ready says every expected node and every kube-system pod is Ready.
func (r Readiness) Ready(wantNodes int) bool {
	return r.Nodes >= wantNodes && r.ReadyNodes == r.Nodes && r.Pods > 0 && r.ReadyPods == r.Pods
}

func (r Readiness) String() string {
	s := fmt.Sprintf("nodes %d/%d Ready, kube-system pods %d/%d Ready", r.ReadyNodes, r.Nodes, r.ReadyPods, r.Pods)
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
	for _, n := range nodes {
		r.Nodes++
		if conditionTrue(n.Status.Conditions, corev1.NodeReady) {
			r.ReadyNodes++
		} else {
			r.Waiting = append(r.Waiting, "node/"+n.Name)
		}
	}
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded {
			continue
		}
		r.Pods++
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if ready {
			r.ReadyPods++
		} else {
			r.Waiting = append(r.Waiting, "pod/"+p.Name)
		}
	}
	sort.Strings(r.Waiting)
	return r
}

func conditionTrue(cs []corev1.NodeCondition, t corev1.NodeConditionType) bool {
	for _, c := range cs {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// WaitReady waits until wantNodes nodes and every kube-system pod are Ready,
// writing progress when it changes (and every 30 s), until ctx ends.
func WaitReady(ctx context.Context, kubeconfig string, wantNodes int, progress io.Writer) error {
	cs, err := Clientset(kubeconfig)
	if err != nil {
		return err
	}
	var last string
	var lastAt time.Time
	var lastErr error
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		r, err := checkReadiness(ctx, cs)
		if err == nil && r.Ready(wantNodes) {
			fmt.Fprintf(progress, "  %s\n", r)
			return nil
		}
		msg := r.String()
		if err != nil {
			msg, lastErr = "API not answering yet: "+err.Error(), err
		}
		if msg != last || time.Since(lastAt) > 30*time.Second {
			fmt.Fprintf(progress, "  %s\n", msg)
			last, lastAt = msg, time.Now()
		}
		select {
		case <-ctx.Done():
			if err == nil {
				return fmt.Errorf("not Ready in time: %s (%w)", r, ctx.Err())
			}
			return fmt.Errorf("not Ready in time: %w (last error: %v)", ctx.Err(), lastErr)
		case <-tick.C:
		}
	}
}

func checkReadiness(ctx context.Context, cs kubernetes.Interface) (Readiness, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return Readiness{}, err
	}
	pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
	if err != nil {
		return Readiness{}, err
	}
	return readiness(nodes.Items, pods.Items), nil
}
