package profile

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/rehearse/rehearse/scenarios"
)

func tainted(n *corev1.Node, taints ...corev1.Taint) *corev1.Node {
	n.Spec.Taints = append(n.Spec.Taints, taints...)
	return n
}

func taint(key, value string, effect corev1.TaintEffect) corev1.Taint {
	return corev1.Taint{Key: key, Value: value, Effect: effect}
}

// eksPools is an EKS cluster: a node group "general" of three workers, a
// tainted node group "GPU_Nodes" of two, and a worker from an eksctl
// group without the EKS label.
func eksPools() []runtime.Object {
	general := func(name, zone, disk string) *corev1.Node {
		return tainted(node(name, false, "", "aws:///"+zone+"/"+name, map[string]string{
			"eks.amazonaws.com/nodegroup":      "general",
			"eks.amazonaws.com/capacityType":   "ON_DEMAND",
			"team":                             "shop",
			"disk":                             disk, // differs: dropped
			"node.kubernetes.io/lifecycle":     "normal",
			"node.kubernetes.io/instance-type": "m5.large",   // per machine: dropped
			"kubernetes.io/arch":               "amd64",      // kubernetes.io: dropped
			"topology.kubernetes.io/zone":      zone,         // kubernetes.io: dropped
			"kubernetes.io/hostname":           name,         // per node: dropped
			"rehearse.io/pool":                 "production", // rehearse's own: dropped
		}), taint("ToBeDeletedByClusterAutoscaler", "1700000000", corev1.TaintEffectNoSchedule))
	}
	gpu := func(name string, extra ...corev1.Taint) *corev1.Node {
		return tainted(node(name, false, "", "aws:///eu-west-1a/"+name, map[string]string{
			"eks.amazonaws.com/nodegroup":      "GPU_Nodes",
			"nvidia.com/gpu.present":           "true",
			"node.kubernetes.io/instance-type": "g5.xlarge",
		}), append([]corev1.Taint{
			taint("nvidia.com/gpu", "present", corev1.TaintEffectNoSchedule),
			taint("node.kubernetes.io/not-ready", "", corev1.TaintEffectNoExecute), // the system's: dropped
		}, extra...)...)
	}
	return []runtime.Object{
		general("ip-10-0-1-1", "eu-west-1a", "ssd"),
		general("ip-10-0-1-2", "eu-west-1b", "hdd"),
		general("ip-10-0-1-3", "eu-west-1c", "ssd"),
		gpu("ip-10-0-2-1"),
		gpu("ip-10-0-2-2", taint("dedicated", "ml", corev1.TaintEffectNoSchedule)), // on one node: dropped
		node("ip-10-0-3-1", false, "", "aws:///eu-west-1a/i-3", map[string]string{"alpha.eksctl.io/nodegroup-name": "legacy"}),
		// A control plane is never in a pool, whatever it carries.
		node("cp-1", true, "", "", map[string]string{"eks.amazonaws.com/nodegroup": "general"}),
		ds("kube-system", "aws-node"),
		deploy("kube-system", "coredns", 2, nil, "coredns:1"),
	}
}

func TestDiscoverPools(t *testing.T) {
	c, verbs := client("v1.34.2-eks-abcdef", eksPools()...)
	p, err := Discover(context.Background(), c)
	require.NoError(t, err)
	for _, v := range *verbs {
		assert.Contains(t, []string{"get", "list", "watch"}, v, "profiling must only read")
	}

	assert.Equal(t, 6, p.Workers)
	assert.Equal(t, "eks.amazonaws.com/nodegroup", p.PoolLabel)
	assert.Equal(t, "node label eks.amazonaws.com/nodegroup", p.Sources["pools"])
	assert.Equal(t, []scenarios.Pool{
		{
			Name: "gpu-nodes", Workers: 2,
			Labels: map[string]string{"eks.amazonaws.com/nodegroup": "GPU_Nodes", "nvidia.com/gpu.present": "true"},
			Taints: []scenarios.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: "NoSchedule"}},
		},
		{
			Name: "general", Workers: 3,
			Labels: map[string]string{
				"eks.amazonaws.com/nodegroup":    "general",
				"eks.amazonaws.com/capacityType": "ON_DEMAND",
				"team":                           "shop",
				"node.kubernetes.io/lifecycle":   "normal",
			},
		},
	}, p.Pools)
	assert.Contains(t, p.Notes, "1 worker (ip-10-0-3-1) carries no eks.amazonaws.com/nodegroup label: it is in no pool and the scenario leaves it out")

	doc, err := p.ScenarioYAML("eks-pools")
	require.NoError(t, err)
	s, err := scenarios.Loader{}.Parse("eks-pools.yaml", doc)
	require.NoError(t, err, string(doc))
	assert.Equal(t, p.Pools, s.Cluster.Pools)
	assert.Equal(t, 5, s.Cluster.Workers, "the pools' workers; the worker in no pool is left out")
	require.NotNil(t, s.Upgrade.Kubeadm)
	assert.Equal(t, scenarios.PoolLabel, s.Upgrade.Kubeadm.PoolLabel, "the kind cluster's label, not production's")
	assert.Equal(t, []scenarios.PoolUpgrade{{Name: "gpu-nodes", MaxUnavailable: 1}, {Name: "general", MaxUnavailable: 1}}, s.Upgrade.Kubeadm.Pools)
	notes := strings.Join(s.Notes, "\n")
	assert.Contains(t, notes, "pools read from label eks.amazonaws.com/nodegroup: gpu-nodes (2 workers), general (3 workers)")
	assert.Contains(t, notes, "1 worker (ip-10-0-3-1) carries no eks.amazonaws.com/nodegroup label")
	assert.NotContains(t, notes, "scaled down")
	assert.NotContains(t, notes, "every pool is tainted")
}

// Without a node-group label on any worker there are no pools and the
// scenario keeps the plain worker count.
func TestDiscoverNoPools(t *testing.T) {
	c, _ := client("v1.35.4", kindCluster()...)
	p, err := Discover(context.Background(), c)
	require.NoError(t, err)
	assert.Empty(t, p.Pools)
	assert.Empty(t, p.PoolLabel)
	assert.Contains(t, p.Sources["pools"], "no worker carries a node-group label")
	s := p.Scenario("kind-shape")
	assert.Empty(t, s.Cluster.Pools)
	assert.Equal(t, 2, s.Cluster.Workers)
	assert.NotContains(t, strings.Join(s.Notes, "\n"), "pools read from")
}

func TestGroupLabel(t *testing.T) {
	workers := func(lbls ...map[string]string) []*corev1.Node {
		var out []*corev1.Node
		for i, l := range lbls {
			out = append(out, node("w"+string(rune('0'+i)), false, "", "", l))
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		workers []*corev1.Node
		want    string
	}{
		{"none", workers(map[string]string{"team": "a"}), ""},
		{"gke", workers(map[string]string{"cloud.google.com/gke-nodepool": "default-pool"}), "cloud.google.com/gke-nodepool"},
		{"first in the list wins, whichever worker carries it", workers(
			map[string]string{"node.kubernetes.io/pool": "a"},
			map[string]string{"karpenter.sh/nodepool": "b"},
		), "karpenter.sh/nodepool"},
		{"aks", workers(map[string]string{"kubernetes.azure.com/agentpool": "np1", "agentpool": "np1"}), "kubernetes.azure.com/agentpool"},
		{"rehearse", workers(map[string]string{scenarios.PoolLabel: "web"}), scenarios.PoolLabel},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, groupLabel(tc.workers)) })
	}
}

func TestPoolName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"general", "general"},
		{"GPU_Nodes", "gpu-nodes"},
		{"ng.spot/1", "ng-spot-1"},
		{"--edge--", "edge"},
		{"", "pool"},
		{"___", "pool"},
		{strings.Repeat("a", 62) + "_b", strings.Repeat("a", 62)},
		{strings.Repeat("x", 70), strings.Repeat("x", 63)},
	} {
		t.Run(tc.in, func(t *testing.T) { assert.Equal(t, tc.want, poolName(tc.in)) })
	}

	taken := map[string]bool{}
	long := strings.Repeat("y", 63)
	var got []string
	for _, n := range []string{"gpu", "gpu", "gpu", long, long} {
		got = append(got, uniqueName(n, taken))
	}
	assert.Equal(t, []string{"gpu", "gpu-2", "gpu-3", long, strings.Repeat("y", 61) + "-2"}, got)
}

func TestPlacementLabel(t *testing.T) {
	const group = "eks.amazonaws.com/nodegroup"
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{group, true},
		{"team", true},
		{"example.com/tier", true},
		{"node.kubernetes.io/lifecycle", true},
		{"kubelet.kubernetes.io/role", true},
		{"kubernetes.io/hostname", false},
		{"kubernetes.io/arch", false},
		{"topology.kubernetes.io/zone", false},
		{"node-role.kubernetes.io/worker", false},
		{"k8s.io/cloud-provider-aws", false},
		{"node.kubernetes.io/instance-type", false},
		{scenarios.PoolLabel, false},
	} {
		t.Run(tc.key, func(t *testing.T) { assert.Equal(t, tc.want, placementLabel(tc.key, group)) })
	}
	assert.False(t, placementLabel(scenarios.PoolLabel, scenarios.PoolLabel), "rehearse sets its own label")
	assert.True(t, placementLabel("node.kubernetes.io/pool", "node.kubernetes.io/pool"))
}

// Production's pools are larger than one machine: they shrink in
// proportion, each keeping a worker, and the scenario still loads.
func TestScenarioPoolsScaled(t *testing.T) {
	pool := func(name string, workers int, taints ...scenarios.Taint) scenarios.Pool {
		return scenarios.Pool{Name: name, Workers: workers, Labels: map[string]string{"eks.amazonaws.com/nodegroup": name}, Taints: taints}
	}
	gpuTaint := scenarios.Taint{Key: "nvidia.com/gpu", Effect: "NoSchedule"}
	for _, tc := range []struct {
		name          string
		controlPlanes int
		pools         []scenarios.Pool
		want          map[string]int
		notes         []string
	}{
		{
			name: "fits", controlPlanes: 3,
			pools: []scenarios.Pool{pool("general", 4), pool("gpu", 2, gpuTaint)},
			want:  map[string]int{"general": 4, "gpu": 2},
			notes: []string{"pools read from label eks.amazonaws.com/nodegroup: general (4 workers), gpu (2 workers)"},
		},
		{
			name:  "in proportion",
			pools: []scenarios.Pool{pool("general", 30), pool("gpu", 4, gpuTaint)},
			want:  map[string]int{"general": 8, "gpu": 1},
			notes: []string{
				"pools read from label eks.amazonaws.com/nodegroup: general (30 workers), gpu (4 workers)",
				"pools scaled down for one machine: general 8, gpu 1",
			},
		},
		{
			name:  "each keeps one",
			pools: []scenarios.Pool{pool("a", 1), pool("b", 1), pool("c", 1), pool("d", 40)},
			want:  map[string]int{"a": 1, "b": 1, "c": 1, "d": 6},
		},
		{
			name: "more pools than room", controlPlanes: 7,
			pools: []scenarios.Pool{pool("d", 5), pool("a", 1), pool("c", 2), pool("b", 5), pool("e", 2)},
			want:  map[string]int{"d": 1, "c": 1, "b": 1},
			notes: []string{"2 pools left out, one machine holds 3 workers: e, a", "pools scaled down for one machine: d 1, c 1, b 1"},
		},
		{
			name:  "all tainted",
			pools: []scenarios.Pool{pool("gpu", 2, gpuTaint)},
			want:  map[string]int{"gpu": 2},
			notes: []string{"every pool is tainted NoSchedule or NoExecute: set canary.pool to place the canary on one of them"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Profile{KubernetesVersion: "v1.35.4", ControlPlanes: tc.controlPlanes, CNI: "flannel", KubeProxyMode: "iptables", DNS: "coredns", Flavor: "eks",
				PoolLabel: "eks.amazonaws.com/nodegroup", Pools: tc.pools}
			for _, pl := range tc.pools {
				p.Workers += pl.Workers
			}
			doc, err := p.ScenarioYAML("scaled")
			require.NoError(t, err)
			s, err := scenarios.Loader{}.Parse("scaled.yaml", doc)
			require.NoError(t, err, string(doc))
			got, sum := map[string]int{}, 0
			for _, pl := range s.Cluster.Pools {
				got[pl.Name] = pl.Workers
				sum += pl.Workers
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, sum, s.Cluster.Workers)
			assert.LessOrEqual(t, s.Cluster.ControlPlanes+s.Cluster.Workers, scenarios.MaxNodes)
			for _, n := range tc.notes {
				assert.Contains(t, s.Notes, n)
			}
			assert.Equal(t, tc.pools[0].Workers, p.Pools[0].Workers, "the profile keeps production's counts")
		})
	}
}
