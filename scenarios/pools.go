package scenarios

import (
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// TaintEffects lists the effects a pool's taint may have.
func TaintEffects() []string { return []string{"NoExecute", "NoSchedule", "PreferNoSchedule"} }

// PoolOf returns the pool named name, or nil.
func (c Cluster) PoolOf(name string) *Pool {
	for i := range c.Pools {
		if c.Pools[i].Name == name {
			return &c.Pools[i]
		}
	}
	return nil
}

// settlePools fills what pools imply: the worker count (their sum) unless
// the scenario gives it, and the kubeadm driver's pool order with each
// pool's maxUnavailable.
func (s *Scenario) settlePools(src *source) {
	c := &s.Cluster
	if len(c.Pools) == 0 {
		return
	}
	if !present(src, "cluster.workers") {
		c.Workers = 0
		for _, p := range c.Pools {
			c.Workers += max(p.Workers, 0)
		}
	}
	k := s.Upgrade.Kubeadm
	if s.Upgrade.Driver != DriverKubeadm || k == nil {
		return
	}
	if len(k.Pools) == 0 {
		for _, p := range c.Pools {
			k.Pools = append(k.Pools, PoolUpgrade{Name: p.Name})
		}
	}
	for i := range k.Pools {
		if k.Pools[i].MaxUnavailable == 0 {
			n := k.MaxUnavailable
			if p := c.PoolOf(k.Pools[i].Name); p != nil && p.Workers > 0 {
				n = min(n, p.Workers)
			}
			k.Pools[i].MaxUnavailable = n
		}
	}
	if k.PoolLabel == "" && s.Cluster.Provider == ProviderKind {
		k.PoolLabel = PoolLabel
	}
}

// KubeletMaySetLabel tells whether a kubelet may set a label with this key:
// not in the kubernetes.io or k8s.io namespaces, except under
// node.kubernetes.io/ and kubelet.kubernetes.io/.
func KubeletMaySetLabel(key string) bool {
	prefix, _, ok := strings.Cut(key, "/")
	if !ok {
		return true
	}
	for _, ns := range []string{"kubernetes.io", "k8s.io"} {
		if prefix == ns || strings.HasSuffix(prefix, "."+ns) {
			return prefix == "node.kubernetes.io" || prefix == "kubelet.kubernetes.io"
		}
	}
	return true
}

// validatePools checks cluster.pools, canary.pool and
// upgrade.kubeadm.pools.
func (s *Scenario) validatePools(src *source, add func(path, format string, args ...any)) {
	c := s.Cluster
	names := map[string]bool{}
	sum := 0
	for i, p := range c.Pools {
		at := func(field string) string { return "cluster.pools[" + strconv.Itoa(i) + "]" + field }
		switch {
		case p.Name == "":
			add(at(".name"), "missing: name the pool (a DNS-1123 label)")
		case len(validation.IsDNS1123Label(p.Name)) > 0:
			add(at(".name"), "%q is not a DNS-1123 label", p.Name)
		case names[p.Name]:
			add(at(".name"), "%q: a pool of that name comes earlier", p.Name)
		}
		names[p.Name] = true
		if p.Workers < 1 || p.Workers > MaxNodes {
			add(at(".workers"), "%d: a pool has 1 to %d workers", p.Workers, MaxNodes)
		} else {
			sum += p.Workers
		}
		for _, k := range sortedKeys(p.Labels) {
			v := p.Labels[k]
			switch {
			case k == PoolLabel:
				add(at(".labels"), "%s is set by rehearse to the pool's name", k)
			case len(validation.IsQualifiedName(k)) > 0:
				add(at(".labels"), "%q is not a label key: %s", k, strings.Join(validation.IsQualifiedName(k), "; "))
			case !KubeletMaySetLabel(k):
				add(at(".labels"), "%s: the kubelet may not set labels in the kubernetes.io and k8s.io namespaces (except node.kubernetes.io/ and kubelet.kubernetes.io/)", k)
			case len(validation.IsValidLabelValue(v)) > 0:
				add(at(".labels"), "%s: %q is not a label value: %s", k, v, strings.Join(validation.IsValidLabelValue(v), "; "))
			}
		}
		for j, t := range p.Taints {
			tat := at(".taints[" + strconv.Itoa(j) + "]")
			if msgs := validation.IsQualifiedName(t.Key); len(msgs) > 0 {
				add(tat+".key", "%q is not a taint key: %s", t.Key, strings.Join(msgs, "; "))
			}
			if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
				add(tat+".value", "%q is not a taint value: %s", t.Value, strings.Join(msgs, "; "))
			}
			if !slices.Contains(TaintEffects(), t.Effect) {
				add(tat+".effect", "%q: want one of %s", t.Effect, strings.Join(TaintEffects(), ", "))
			}
		}
	}
	if len(c.Pools) > 0 && c.Provider != ProviderKind {
		add("cluster.pools", "only for a kind cluster: an existing cluster has its own node groups (name them with upgrade.kubeadm.poolLabel)")
	}
	if len(c.Pools) > 0 && sum > 0 && sum != c.Workers {
		add("cluster.workers", "%d, but the pools hold %d workers: leave workers out or make them agree", c.Workers, sum)
	}
	if s.Canary.Pool != "" && !names[s.Canary.Pool] {
		add("canary.pool", "%q is not one of cluster.pools (%s)", s.Canary.Pool, strings.Join(poolNames(c.Pools), ", "))
	}
	k := s.Upgrade.Kubeadm
	if s.Upgrade.Driver != DriverKubeadm || k == nil {
		return
	}
	if !present(src, "upgrade.kubeadm.pools") {
		// Made from cluster.pools, checked above.
		k = &KubeadmSettings{PoolLabel: k.PoolLabel}
	}
	seen := map[string]bool{}
	for i, pu := range k.Pools {
		at := "upgrade.kubeadm.pools[" + strconv.Itoa(i) + "]"
		p := c.PoolOf(pu.Name)
		switch {
		case pu.Name == "":
			add(at+".name", "missing: name the pool")
		case seen[pu.Name]:
			add(at+".name", "%q is listed twice", pu.Name)
		case c.Provider == ProviderKind && p == nil:
			add(at+".name", "%q is not one of cluster.pools (%s)", pu.Name, strings.Join(poolNames(c.Pools), ", "))
		}
		seen[pu.Name] = true
		switch {
		case pu.MaxUnavailable < 1:
			add(at+".maxUnavailable", "%d: at least one node must be upgraded at a time", pu.MaxUnavailable)
		case p != nil && pu.MaxUnavailable > p.Workers:
			add(at+".maxUnavailable", "%d is more than the pool's %d workers", pu.MaxUnavailable, p.Workers)
		}
	}
	if k.PoolLabel != "" && len(validation.IsQualifiedName(k.PoolLabel)) > 0 {
		add("upgrade.kubeadm.poolLabel", "%q is not a label key", k.PoolLabel)
	}
	if len(k.Pools) > 0 && k.PoolLabel == "" {
		add("upgrade.kubeadm.poolLabel", "missing: name the node label whose value is a node's pool")
	}
}

func poolNames(pools []Pool) []string {
	out := make([]string, len(pools))
	for i, p := range pools {
		out[i] = p.Name
	}
	return out
}
