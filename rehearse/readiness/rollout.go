package readiness

import (
	"context"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// RolloutProblem returns "" when a workload has finished rolling out, or
// what it still lacks, naming it ("Deployment ns/name: ready 1/3, updated
// 2/3, available 1/3"). Like kubectl rollout status, a rollout is complete
// once the controller observed the latest generation and every desired
// replica runs the current template and is available; beyond kubectl, every
// one must also be Ready and no old replica may be left. The workload is a
// *appsv1.Deployment, *appsv1.StatefulSet, *appsv1.DaemonSet or
// *batchv1.Job (complete when its Complete condition is True).
func RolloutProblem(obj any) string {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return deploymentProblem(o)
	case *appsv1.StatefulSet:
		return statefulSetProblem(o)
	case *appsv1.DaemonSet:
		return daemonSetProblem(o)
	case *batchv1.Job:
		return jobProblem(o)
	default:
		return fmt.Sprintf("no rollout status for %T", obj)
	}
}

// rolloutCounts is a workload's progress towards its desired replicas.
type rolloutCounts struct {
	desired, updated, ready, available int32
	// wantUpdated is how many replicas must run the current template.
	wantUpdated int32
	// extra counts replicas beyond the updated ones still running (old
	// pods of a Deployment).
	extra                          int32
	generation, observedGeneration int64
	// also is what else keeps the rollout from completion, e.g. a progress
	// deadline exceeded.
	also []string
}

// problem returns "" when the counts say the rollout is complete, else
// what is missing, naming ref.
func (c rolloutCounts) problem(ref string) string {
	if c.observedGeneration >= c.generation && c.updated >= c.wantUpdated && c.ready >= c.desired &&
		c.available >= c.desired && c.extra <= 0 && len(c.also) == 0 {
		return ""
	}
	why := fmt.Sprintf("%s: ready %d/%d, updated %d/%d, available %d/%d",
		ref, c.ready, c.desired, c.updated, c.wantUpdated, c.available, c.desired)
	if c.extra > 0 {
		why += fmt.Sprintf(", %d old replicas", c.extra)
	}
	if c.observedGeneration < c.generation {
		why += fmt.Sprintf(", generation %d not observed (at %d)", c.generation, c.observedGeneration)
	}
	for _, a := range c.also {
		why += ", " + a
	}
	return why
}

func replicasOrOne(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func ref(kind string, o metav1.Object) string {
	return kind + " " + o.GetNamespace() + "/" + o.GetName()
}

func deploymentProblem(d *appsv1.Deployment) string {
	s := d.Status
	c := rolloutCounts{
		desired:            replicasOrOne(d.Spec.Replicas),
		wantUpdated:        replicasOrOne(d.Spec.Replicas),
		updated:            s.UpdatedReplicas,
		ready:              s.ReadyReplicas,
		available:          s.AvailableReplicas,
		extra:              s.Replicas - s.UpdatedReplicas,
		generation:         d.Generation,
		observedGeneration: s.ObservedGeneration,
	}
	for _, cond := range s.Conditions {
		// The deployment controller's reason when a rollout stops making
		// progress for spec.progressDeadlineSeconds (kubectl gives up on it).
		if cond.Type == appsv1.DeploymentProgressing && cond.Reason == "ProgressDeadlineExceeded" && s.ObservedGeneration >= d.Generation {
			c.also = append(c.also, "progress deadline exceeded")
		}
	}
	return c.problem(ref("Deployment", d))
}

func statefulSetProblem(ss *appsv1.StatefulSet) string {
	s := ss.Status
	desired := replicasOrOne(ss.Spec.Replicas)
	c := rolloutCounts{
		desired:            desired,
		wantUpdated:        desired,
		updated:            s.UpdatedReplicas,
		ready:              s.ReadyReplicas,
		available:          s.AvailableReplicas,
		generation:         ss.Generation,
		observedGeneration: s.ObservedGeneration,
	}
	switch u := ss.Spec.UpdateStrategy; {
	case u.Type == appsv1.OnDeleteStatefulSetStrategyType:
		// Pods are replaced only when deleted; there is no rollout to wait for.
		c.wantUpdated = 0
	case u.RollingUpdate != nil && u.RollingUpdate.Partition != nil && *u.RollingUpdate.Partition > 0:
		// Only the ordinals at or above the partition are updated.
		c.wantUpdated = max(desired-*u.RollingUpdate.Partition, 0)
	default:
		// A full rolling update is done when the update revision became
		// the current one.
		if s.UpdateRevision != "" && s.CurrentRevision != s.UpdateRevision && c.updated >= c.wantUpdated {
			c.also = append(c.also, fmt.Sprintf("revision %s not yet current (at %s)", s.UpdateRevision, s.CurrentRevision))
		}
	}
	return c.problem(ref("StatefulSet", ss))
}

func daemonSetProblem(d *appsv1.DaemonSet) string {
	s := d.Status
	c := rolloutCounts{
		desired:            s.DesiredNumberScheduled,
		wantUpdated:        s.DesiredNumberScheduled,
		updated:            s.UpdatedNumberScheduled,
		ready:              s.NumberReady,
		available:          s.NumberAvailable,
		generation:         d.Generation,
		observedGeneration: s.ObservedGeneration,
	}
	if d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		// Pods are replaced only when deleted; there is no rollout to wait for.
		c.wantUpdated = 0
	}
	return c.problem(ref("DaemonSet", d))
}

func jobProblem(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return ""
		case batchv1.JobFailed:
			return fmt.Sprintf("%s: failed: %s", ref("Job", j), strings.Join(nonEmpty(c.Reason, c.Message), ": "))
		}
	}
	return fmt.Sprintf("%s: succeeded %d/%d, active %d, failed %d",
		ref("Job", j), j.Status.Succeeded, replicasOrOne(j.Spec.Completions), j.Status.Active, j.Status.Failed)
}

// WorkloadProblems describes every Deployment, StatefulSet and DaemonSet in
// the namespaces whose rollout is not complete (see RolloutProblem). An
// error means a kind could not be listed in a namespace; the problems found
// elsewhere are returned with it.
func WorkloadProblems(ctx context.Context, c kubernetes.Interface, namespaces []string) ([]string, error) {
	var out []string
	var errs []error
	add := func(why string) {
		if why != "" {
			out = append(out, why)
		}
	}
	for _, ns := range namespaces {
		deps, err := c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("list Deployments in %s: %w", ns, err))
		} else {
			for i := range deps.Items {
				add(deploymentProblem(&deps.Items[i]))
			}
		}
		sets, err := c.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("list StatefulSets in %s: %w", ns, err))
		} else {
			for i := range sets.Items {
				add(statefulSetProblem(&sets.Items[i]))
			}
		}
		daemons, err := c.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("list DaemonSets in %s: %w", ns, err))
		} else {
			for i := range daemons.Items {
				add(daemonSetProblem(&daemons.Items[i]))
			}
		}
	}
	return out, errors.Join(errs...)
}
