package checklist

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestWorkerVersionAfterARevert(t *testing.T) {
	node := func(name, v string, cp bool) corev1.Node {
		n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
			Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: v},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
		if cp {
			n.Labels["node-role.kubernetes.io/control-plane"] = ""
		}
		return n
	}
	nodes := []corev1.Node{node("cp", "v1.36.3", true), node("w1", "v1.35.4", false), node("w2", "v1.36.3", false)}
	opts, err := Options{ExpectVersion: "v1.36.3", WorkerVersion: "v1.35.4"}.withDefaults()
	assert.NoError(t, err)
	got := map[string]Outcome{}
	msgs := map[string]string{}
	for _, it := range checkNodes(nodes, opts) {
		got[it.Component] = it.Outcome
		msgs[it.Component] = it.Message
	}
	assert.Equal(t, map[string]Outcome{NodeItemPrefix + "cp": Pass, NodeItemPrefix + "w1": Pass, NodeItemPrefix + "w2": Fail}, got)
	assert.Contains(t, msgs[NodeItemPrefix+"w2"], "kubelet v1.36.3, want v1.35.4")

	// Without a worker version, every node answers to ExpectVersion.
	opts, _ = Options{ExpectVersion: "v1.36.3"}.withDefaults()
	for _, it := range checkNodes(nodes, opts) {
		if it.Component == NodeItemPrefix+"w1" {
			assert.Equal(t, Fail, it.Outcome)
		}
	}
	_, err = Options{WorkerVersion: "not-a-version"}.withDefaults()
	assert.ErrorContains(t, err, "expected worker version")
}
