package scenarios

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Pools set the worker count and, for the in-place driver, the upgrade's
// pool order with each pool's batch size.
func TestPoolsDefaults(t *testing.T) {
	s, err := Parse("t.yaml", []byte(base+`cluster:
  pools:
    - {name: general, workers: 3}
    - name: gpu
      workers: 1
      labels: {accelerator: nvidia}
      taints: [{key: dedicated, value: gpu, effect: NoSchedule}]
canary:
  pool: general
upgrade:
  kubeadm:
    maxUnavailable: 2
`))
	require.NoError(t, err)
	assert.Equal(t, 4, s.Cluster.Workers, "the pools' workers")
	assert.Equal(t, []PoolUpgrade{{Name: "general", MaxUnavailable: 2}, {Name: "gpu", MaxUnavailable: 1}}, s.Upgrade.Kubeadm.Pools,
		"the pools in order, each at most its own size")
	assert.Equal(t, PoolLabel, s.Upgrade.Kubeadm.PoolLabel)
	assert.Equal(t, "general", s.Canary.Pool)

	ex, err := Load("examples/pools.yaml")
	require.NoError(t, err)
	assert.Equal(t, 3, ex.Cluster.Workers)
	assert.Equal(t, []PoolUpgrade{{Name: "apps", MaxUnavailable: 1}, {Name: "general", MaxUnavailable: 1}}, ex.Upgrade.Kubeadm.Pools)
}

// Each bad pool and the exact error it gets, at its file, line and field.
func TestMalformedPools(t *testing.T) {
	pools := func(lines string) string { return base + "cluster:\n  pools:\n" + lines }
	tests := []struct{ name, doc, want string }{
		{"no name", pools("    - {workers: 1}\n"), `t.yaml:7: cluster.pools[0].name: missing: name the pool (a DNS-1123 label)`},
		{"bad name", pools("    - {name: GPU, workers: 1}\n"), `t.yaml:7: cluster.pools[0].name: "GPU" is not a DNS-1123 label`},
		{"twice", pools("    - {name: a, workers: 1}\n    - {name: a, workers: 1}\n"), `t.yaml:8: cluster.pools[1].name: "a": a pool of that name comes earlier`},
		{"no workers", pools("    - {name: a}\n"), `t.yaml:7: cluster.pools[0].workers: 0: a pool has 1 to`},
		{"workers disagree", base + "cluster:\n  workers: 3\n  pools:\n    - {name: a, workers: 1}\n", `t.yaml:6: cluster.workers: 3, but the pools hold 1 workers: leave workers out or make them agree`},
		{"kubernetes.io label", pools("    - name: a\n      workers: 1\n      labels: {kubernetes.io/role: x}\n"), `t.yaml:9: cluster.pools[0].labels: kubernetes.io/role: the kubelet may not set labels in the kubernetes.io and k8s.io namespaces`},
		{"pool label", pools("    - name: a\n      workers: 1\n      labels: {rehearse.io/pool: b}\n"), `t.yaml:9: cluster.pools[0].labels: rehearse.io/pool is set by rehearse to the pool's name`},
		{"bad label value", pools("    - name: a\n      workers: 1\n      labels: {tier: 'a b'}\n"), `t.yaml:9: cluster.pools[0].labels: tier: "a b" is not a label value`},
		{"bad taint effect", pools("    - name: a\n      workers: 1\n      taints: [{key: k, effect: NoWay}]\n"), `cluster.pools[0].taints[0].effect: "NoWay": want one of NoExecute, NoSchedule, PreferNoSchedule`},
		{"canary on no pool", pools("    - {name: a, workers: 1}\n") + "canary:\n  pool: b\n", `t.yaml:9: canary.pool: "b" is not one of cluster.pools (a)`},
		{"upgrade of no pool", pools("    - {name: a, workers: 1}\n") + "upgrade:\n  kubeadm:\n    pools: [{name: b}]\n", `upgrade.kubeadm.pools[0].name: "b" is not one of cluster.pools (a)`},
		{"pool batch too big", pools("    - {name: a, workers: 1}\n") + "upgrade:\n  kubeadm:\n    pools: [{name: a, maxUnavailable: 2}]\n", `upgrade.kubeadm.pools[0].maxUnavailable: 2 is more than the pool's 1 workers`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
