package cluster

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// Pools become workers in order, each labelled with its pool and its own
// labels, and registered with its taints through kubeadm's join.
func TestKindConfigPools(t *testing.T) {
	s := baseSpec()
	s.Workers = 3
	s.Pools = []Pool{
		{Name: "general", Workers: 1},
		{Name: "gpu", Workers: 2, Labels: map[string]string{"accelerator": "nvidia"},
			Taints: []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}},
	}
	c, err := KindConfig(s, HostFacts{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Nodes) != 4 {
		t.Fatalf("want 1 control plane and 3 workers, got %d nodes", len(c.Nodes))
	}
	if c.Nodes[0].Role != v1alpha4.ControlPlaneRole || len(c.Nodes[0].Labels) != 0 {
		t.Errorf("control plane %+v", c.Nodes[0])
	}
	if got := c.Nodes[1].Labels; got[PoolLabel] != "general" || len(got) != 1 || len(c.Nodes[1].KubeadmConfigPatches) != 0 {
		t.Errorf("general worker: labels %v patches %v", got, c.Nodes[1].KubeadmConfigPatches)
	}
	for _, n := range c.Nodes[2:] {
		if n.Labels[PoolLabel] != "gpu" || n.Labels["accelerator"] != "nvidia" {
			t.Errorf("gpu worker labels %v", n.Labels)
		}
		if len(n.KubeadmConfigPatches) != 1 {
			t.Fatalf("gpu worker patches %v", n.KubeadmConfigPatches)
		}
		var patch struct {
			Kind             string `json:"kind"`
			NodeRegistration struct {
				Taints []corev1.Taint `json:"taints"`
			} `json:"nodeRegistration"`
		}
		if err := yaml.Unmarshal([]byte(n.KubeadmConfigPatches[0]), &patch); err != nil {
			t.Fatal(err)
		}
		if patch.Kind != "JoinConfiguration" || len(patch.NodeRegistration.Taints) != 1 ||
			patch.NodeRegistration.Taints[0] != (corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}) {
			t.Errorf("patch %q", n.KubeadmConfigPatches[0])
		}
	}

	s.Workers = 4
	if _, err := KindConfig(s, HostFacts{}); err == nil || !strings.Contains(err.Error(), "pools hold 3 workers, but the cluster has 4") {
		t.Errorf("pools that do not add up: %v", err)
	}
}
