package readiness

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// NodeReady says whether a node's Ready condition is True.
func NodeReady(n *corev1.Node) bool { return NodeProblem(n) == "" }

// NodeProblem says why a node is not Ready, or "" when it is: "NotReady",
// followed in parentheses by the condition's reason and message, "status
// unknown" (the kubelet stopped reporting), or "no Ready condition".
func NodeProblem(n *corev1.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			return ""
		}
		why := strings.TrimSpace(strings.Join(nonEmpty(c.Reason, c.Message), ": "))
		if c.Status == corev1.ConditionUnknown && why == "" {
			why = "status unknown"
		}
		if why == "" {
			return "NotReady"
		}
		return "NotReady (" + why + ")"
	}
	return "NotReady (no Ready condition)"
}
