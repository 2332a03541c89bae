package driver

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

	"github.com/rehearse/rehearse/rehearse/readiness"
	"github.com/rehearse/rehearse/rehearse/timeline"
)

// staticPod is what the apiserver shows of one static pod: an identity that
// changes whenever the kubelet recreates the pod or restarts a container of
// it, and whether it is Ready.
type staticPod struct {
	id    string
	ready bool
}

// staticPods lists the mirror pods of node's static pods in kube-system.
func staticPods(ctx context.Context, client kubernetes.Interface, node string) (map[string]staticPod, error) {
	list, err := client.CoreV1().Pods(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return nil, err
	}
	out := map[string]staticPod{}
	for _, p := range list.Items {
		if p.Spec.NodeName != node {
			continue
		}
		if _, ok := p.Annotations[corev1.MirrorPodAnnotationKey]; !ok {
			continue
		}
		id := []string{string(p.UID)}
		for _, c := range p.Status.ContainerStatuses {
			id = append(id, c.ContainerID)
		}
		out[p.Name] = staticPod{id: strings.Join(id, ","), ready: readiness.PodProblem(&p) == ""}
	}
	return out, nil
}

// WaitStaticPods waits until every static pod node had before its kubelet
// was swapped is back, Ready, and has stayed unchanged for quiet, at most
// timeout. A new kubelet may recreate the static pods a few seconds after it
// starts; waiting for quiet after the last change sees that through whether
// it happens or not. It records which pods the new kubelet restarted.
func WaitStaticPods(ctx context.Context, client kubernetes.Interface, node string, before map[string]staticPod, quiet, timeout time.Duration, emit timeline.Emitter, log io.Writer) error {
	var (
		last        string
		stableSince = time.Now()
		now         map[string]staticPod
		restarted   = map[string]bool{}
	)
	err := readiness.WaitFor(ctx, readiness.Options{Timeout: timeout}, func(ctx context.Context) (bool, string, error) {
		pods, err := staticPods(ctx, client, node)
		if err != nil {
			if last != "apiserver" {
				last, stableSince = "apiserver", time.Now()
			}
			return false, "", err
		}
		now = pods
		steady := true
		var parts []string
		for name, b := range before {
			p, ok := pods[name]
			switch {
			case !ok:
				parts = append(parts, name+" missing")
				steady = false
			case !p.ready:
				parts = append(parts, name+" not Ready")
				steady = false
			}
			if ok && p.id != b.id {
				restarted[name] = true
			}
		}
		sort.Strings(parts)
		status := strings.Join(parts, ", ")
		ids := make([]string, 0, len(pods))
		for name, p := range pods {
			ids = append(ids, name+"="+p.id)
		}
		sort.Strings(ids)
		// Any change (a pod's readiness, a recreated pod or container)
		// starts the quiet period again.
		if state := status + "|" + strings.Join(ids, ","); state != last {
			last, stableSince = state, time.Now()
		}
		if steady {
			status = fmt.Sprintf("all Ready, unchanged for %s", time.Since(stableSince).Round(time.Second))
		}
		return steady && time.Since(stableSince) >= quiet, status, nil
	})
	if err != nil {
		return fmt.Errorf("the static pods of %s were not back, Ready and steady within %s (last: %w)", node, timeout, err)
	}
	names := make([]string, 0, len(restarted))
	for n := range restarted {
		names = append(names, strings.TrimSuffix(n, "-"+node))
	}
	sort.Strings(names)
	msg := fmt.Sprintf("the new kubelet kept the %d static pods of %s; all Ready", len(now), node)
	if len(names) > 0 {
		msg = fmt.Sprintf("the new kubelet restarted %s on %s; all Ready", strings.Join(names, ", "), node)
	}
	fmt.Fprintln(log, msg)
	emit.Emit(timeline.Event{Source: timeline.SourceDriver, Kind: "static-pods", Subject: node, Message: msg})
	return nil
}
