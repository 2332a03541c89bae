package workloads

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/rehearse/rehearse/rehearse/readiness"
)

// rollout is how to read one kind whose rollout is waited for.
type rollout struct {
	gvr schema.GroupVersionResource
	// typed makes the typed object of the kind, to judge and to find its
	// pods.
	typed func() runtime.Object
	// selector is the label selector of the workload's pods.
	selector func(runtime.Object) *metav1.LabelSelector
}

// rolloutOf returns how to wait for the kind, or false when it is not
// waited for.
func rolloutOf(gk schema.GroupKind) (rollout, bool) {
	switch gk {
	case schema.GroupKind{Group: "apps", Kind: "Deployment"}:
		return rollout{
			gvr:      appsv1.SchemeGroupVersion.WithResource("deployments"),
			typed:    func() runtime.Object { return &appsv1.Deployment{} },
			selector: func(o runtime.Object) *metav1.LabelSelector { return o.(*appsv1.Deployment).Spec.Selector },
		}, true
	case schema.GroupKind{Group: "apps", Kind: "StatefulSet"}:
		return rollout{
			gvr:      appsv1.SchemeGroupVersion.WithResource("statefulsets"),
			typed:    func() runtime.Object { return &appsv1.StatefulSet{} },
			selector: func(o runtime.Object) *metav1.LabelSelector { return o.(*appsv1.StatefulSet).Spec.Selector },
		}, true
	case schema.GroupKind{Group: "apps", Kind: "DaemonSet"}:
		return rollout{
			gvr:      appsv1.SchemeGroupVersion.WithResource("daemonsets"),
			typed:    func() runtime.Object { return &appsv1.DaemonSet{} },
			selector: func(o runtime.Object) *metav1.LabelSelector { return o.(*appsv1.DaemonSet).Spec.Selector },
		}, true
	case schema.GroupKind{Group: "batch", Kind: "Job"}:
		return rollout{
			gvr:      batchv1.SchemeGroupVersion.WithResource("jobs"),
			typed:    func() runtime.Object { return &batchv1.Job{} },
			selector: func(o runtime.Object) *metav1.LabelSelector { return o.(*batchv1.Job).Spec.Selector },
		}, true
	}
	return rollout{}, false
}

var podGVR = corev1.SchemeGroupVersion.WithResource("pods")

// waitReady waits until every applied Deployment, StatefulSet and DaemonSet
// has rolled out and every Job has completed. When the wait ends first,
// its error names each that is not, and why.
func (r *run) waitReady(ctx context.Context) error {
	var waited []Ref
	for _, ref := range r.applied {
		if _, ok := rolloutOf(ref.groupKind()); ok {
			waited = append(waited, ref)
		}
	}
	if len(waited) == 0 {
		return nil
	}
	var problems []string
	err := readiness.WaitFor(ctx, readiness.Options{Interval: r.o.Interval, Timeout: r.o.Timeout, Progress: r.o.Progress},
		func(ctx context.Context) (bool, string, error) {
			problems = problems[:0]
			for _, ref := range waited {
				if why := r.notReady(ctx, ref); why != "" {
					if origin := r.origins[ref]; origin != "" {
						why = strings.Replace(why, ref.String(), ref.String()+" ("+origin+")", 1)
					}
					problems = append(problems, why)
				}
			}
			return len(problems) == 0, joinProblems(problems), nil
		})
	if err != nil && ctx.Err() == nil {
		return &NotReadyError{Err: fmt.Errorf("%d of %d workloads not ready after %s:\n  %s: %w",
			len(problems), len(waited), r.o.Timeout, joinLines(problems), waitCause(err))}
	}
	return err
}

// NotReadyError is workloads that were applied but did not become ready in
// time; it names each one and why.
type NotReadyError struct {
	Err error
}

func (e *NotReadyError) Error() string { return e.Err.Error() }
func (e *NotReadyError) Unwrap() error { return e.Err }

// notReady says why a workload has not rolled out, with the problem of one
// of its pods, or "" once it has.
func (r *run) notReady(ctx context.Context, ref Ref) string {
	ro, _ := rolloutOf(ref.groupKind())
	u, err := r.a.dyn.Resource(ro.gvr).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Sprintf("%s: get: %v", ref, err)
	}
	typed := ro.typed()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed); err != nil {
		return fmt.Sprintf("%s: read: %v", ref, err)
	}
	why := readiness.RolloutProblem(typed)
	if why == "" {
		return ""
	}
	if pod := r.podProblem(ctx, ref.Namespace, ro.selector(typed)); pod != "" {
		why += ": " + pod
	}
	return why
}

// podProblem names the first pod (by name) of the selector that is not
// Ready, where it runs and why; "" when there is none to name.
func (r *run) podProblem(ctx context.Context, ns string, sel *metav1.LabelSelector) string {
	if sel == nil {
		return ""
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return ""
	}
	list, err := r.a.dyn.Resource(podGVR).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: s.String()})
	if err != nil {
		return "list its pods: " + err.Error()
	}
	if len(list.Items) == 0 {
		return "no pods"
	}
	items := list.Items
	sort.Slice(items, func(i, j int) bool { return items[i].GetName() < items[j].GetName() })
	for i := range items {
		if why := podProblemOf(&items[i]); why != "" {
			return why
		}
	}
	return ""
}

// podProblemOf is "pod NAME on NODE: PROBLEM" for a pod that is not Ready,
// or "".
func podProblemOf(u *unstructured.Unstructured) string {
	var p corev1.Pod
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &p); err != nil {
		return ""
	}
	if p.Status.Phase == corev1.PodSucceeded {
		return "" // a Job's finished pod
	}
	why := readiness.PodProblem(&p)
	if why == "" {
		return ""
	}
	if p.Spec.NodeName != "" {
		return fmt.Sprintf("pod %s on %s: %s", p.Name, p.Spec.NodeName, why)
	}
	return fmt.Sprintf("pod %s: %s", p.Name, why)
}

// joinProblems is a wait's one-line status.
func joinProblems(problems []string) string { return strings.Join(problems, "; ") }

// joinLines lists problems one per indented line.
func joinLines(problems []string) string { return strings.Join(problems, "\n  ") }

// waitCause is why a wait ended (the context's error), without the status
// the caller already lists.
func waitCause(err error) error {
	var we *readiness.WaitError
	if errors.As(err, &we) {
		return we.Err
	}
	return err
}
