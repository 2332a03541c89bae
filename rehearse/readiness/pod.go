package readiness

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// PodReady says whether a pod's Ready condition is True.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// PodProblem says what is wrong with a pod that should be running, or ""
// when it is Ready. In order: a crash-looping container; a Pending pod and
// why (unschedulable, or the container it waits for, e.g.
// ErrImageNeverPull); a pod that ran to its end; a not-Ready container that
// waits, exited, restarted, or whose readiness probe does not pass.
func PodProblem(p *corev1.Pod) string {
	for _, cs := range allStatuses(p) {
		if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
			return fmt.Sprintf("CrashLoopBackOff: container %s restarted %d times", cs.Name, cs.RestartCount)
		}
	}
	switch p.Status.Phase {
	case corev1.PodPending:
		why := "Pending"
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				return strings.Join(append([]string{why}, nonEmpty(c.Reason, c.Message)...), ": ")
			}
		}
		if w := waitingReason(p); w != "" {
			why += ": " + w
		}
		return why
	case corev1.PodFailed, corev1.PodSucceeded:
		return strings.Join(append([]string{string(p.Status.Phase)}, nonEmpty(p.Status.Reason, p.Status.Message)...), ": ")
	}
	if PodReady(p) {
		return ""
	}
	if w := waitingReason(p); w != "" {
		return "not ready: " + w
	}
	for _, cs := range allStatuses(p) {
		if cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0 {
			return fmt.Sprintf("not ready: container %s exited %d", cs.Name, cs.State.Terminated.ExitCode)
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.LastTerminationState.Terminated; t != nil && !cs.Ready && cs.RestartCount > 0 {
			why := fmt.Sprintf("not ready: container %s restarted %d times, last exit %d", cs.Name, cs.RestartCount, t.ExitCode)
			if t.Reason != "" {
				why += " (" + t.Reason + ")"
			}
			return why
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil && !cs.Ready && hasReadinessProbe(p, cs.Name) {
			return fmt.Sprintf("not ready: container %s running, its readiness probe not passing", cs.Name)
		}
	}
	return "not ready"
}

// waitingReason names the first waiting container, why it waits and what
// the kubelet said of it (e.g. which image it cannot pull).
func waitingReason(p *corev1.Pod) string {
	for _, cs := range allStatuses(p) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			why := fmt.Sprintf("container %s %s", cs.Name, w.Reason)
			if msg, _, _ := strings.Cut(w.Message, "\n"); msg != "" {
				why += ": " + msg
			}
			return why
		}
	}
	return ""
}

// hasReadinessProbe says whether the pod's container named name has one.
func hasReadinessProbe(p *corev1.Pod, name string) bool {
	for _, c := range p.Spec.Containers {
		if c.Name == name {
			return c.ReadinessProbe != nil
		}
	}
	return false
}

// allStatuses returns the statuses of a pod's init and regular containers.
func allStatuses(p *corev1.Pod) []corev1.ContainerStatus {
	out := make([]corev1.ContainerStatus, 0, len(p.Status.InitContainerStatuses)+len(p.Status.ContainerStatuses))
	out = append(out, p.Status.InitContainerStatuses...)
	return append(out, p.Status.ContainerStatuses...)
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
