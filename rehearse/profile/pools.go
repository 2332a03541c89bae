package profile

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/rehearse/rehearse/scenarios"
)

// nodeGroupLabels are the labels that name a worker's node group, in the
// order they are tried: the first one any worker carries groups the whole
// cluster.
func nodeGroupLabels() []string {
	return []string{
		"eks.amazonaws.com/nodegroup",
		"alpha.eksctl.io/nodegroup-name",
		"cloud.google.com/gke-nodepool",
		"kubernetes.azure.com/agentpool",
		"agentpool",
		"kops.k8s.io/instancegroup",
		"karpenter.sh/nodepool",
		"node.kubernetes.io/pool",
		scenarios.PoolLabel,
	}
}

// systemTaintKeys are the taints Kubernetes, the cloud provider, the
// cluster autoscaler and Karpenter put on nodes by themselves; every key
// under node.kubernetes.io/ is one too.
func systemTaintKeys() []string {
	return []string{
		"node.cloudprovider.kubernetes.io/uninitialized",
		"ToBeDeletedByClusterAutoscaler",
		"DeletionCandidateOfClusterAutoscaler",
		"karpenter.sh/disrupted",
		"karpenter.sh/unregistered",
	}
}

// readPools groups the workers into pools by the first of nodeGroupLabels
// that one of them carries, and says in the notes which workers carry none.
func (p *Profile) readPools(nodes []corev1.Node) {
	var workers []*corev1.Node
	for i := range nodes {
		if !isControlPlane(&nodes[i]) {
			workers = append(workers, &nodes[i])
		}
	}
	label := groupLabel(workers)
	if label == "" {
		p.Sources["pools"] = "no worker carries a node-group label (" + strings.Join(nodeGroupLabels(), ", ") + ")"
		return
	}
	groups := map[string][]*corev1.Node{}
	var ungrouped []string
	for _, n := range workers {
		v, ok := n.Labels[label]
		if !ok {
			ungrouped = append(ungrouped, n.Name)
			continue
		}
		groups[v] = append(groups[v], n)
	}
	taken := map[string]bool{}
	for _, v := range slices.Sorted(maps.Keys(groups)) {
		members := groups[v]
		p.Pools = append(p.Pools, scenarios.Pool{
			Name:    uniqueName(poolName(v), taken),
			Workers: len(members),
			Labels:  poolLabels(members, label),
			Taints:  poolTaints(members),
		})
	}
	p.PoolLabel = label
	p.Sources["pools"] = "node label " + label
	if len(ungrouped) > 0 {
		sort.Strings(ungrouped)
		verb, they, them := "carries", "it is", "it"
		if len(ungrouped) > 1 {
			verb, they, them = "carry", "they are", "them"
		}
		p.Notes = append(p.Notes, fmt.Sprintf("%s (%s) %s no %s label: %s in no pool and the scenario leaves %s out",
			plural(len(ungrouped), "worker"), strings.Join(ungrouped, ", "), verb, label, they, them))
	}
}

// groupLabel is the first of nodeGroupLabels that a worker carries, or "".
func groupLabel(workers []*corev1.Node) string {
	for _, l := range nodeGroupLabels() {
		for _, n := range workers {
			if _, ok := n.Labels[l]; ok {
				return l
			}
		}
	}
	return ""
}

// poolName makes a node-group name a DNS-1123 label: lower case, every
// other character a '-', no '-' at either end, at most 63 characters.
func poolName(v string) string {
	b := []byte(strings.ToLower(v))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			b[i] = '-'
		}
	}
	s := strings.Trim(string(b), "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	if s == "" {
		return "pool"
	}
	return s
}

// uniqueName is name, or name-2, name-3… if taken has it, and records it.
func uniqueName(name string, taken map[string]bool) string {
	out := name
	for i := 2; taken[out]; i++ {
		suffix := "-" + strconv.Itoa(i)
		out = strings.TrimRight(name[:min(len(name), 63-len(suffix))], "-") + suffix
	}
	taken[out] = true
	return out
}

// poolLabels are the labels every one of the nodes carries with the same
// value and that placementLabel keeps; the group label is among them.
func poolLabels(nodes []*corev1.Node, group string) map[string]string {
	out := map[string]string{}
	for k, v := range nodes[0].Labels {
		if !placementLabel(k, group) {
			continue
		}
		common := true
		for _, n := range nodes[1:] {
			if w, ok := n.Labels[k]; !ok || w != v {
				common = false
				break
			}
		}
		if common {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// placementLabel tells whether a node label describes the node's pool and
// a kubelet may set it: the group label itself is kept (workloads select
// on it); rehearse.io/pool is rehearse's own; the kubelet may not set
// labels in the kubernetes.io and k8s.io namespaces except under
// node.kubernetes.io/ and kubelet.kubernetes.io/ (which also drops the
// per-node kubernetes.io/hostname and the topology labels); the instance
// type is a machine's, not a pool's.
func placementLabel(key, group string) bool {
	switch key {
	case scenarios.PoolLabel:
		return false
	case group:
		return true
	case corev1.LabelInstanceTypeStable:
		return false
	}
	return scenarios.KubeletMaySetLabel(key)
}

// poolTaints are the taints every one of the nodes carries (same key,
// value and effect), leaving out the ones the system sets by itself.
func poolTaints(nodes []*corev1.Node) []scenarios.Taint {
	var out []scenarios.Taint
	for _, t := range nodes[0].Spec.Taints {
		if systemTaint(t.Key) || slices.ContainsFunc(out, func(o scenarios.Taint) bool {
			return o.Key == t.Key && o.Value == t.Value && o.Effect == string(t.Effect)
		}) {
			continue
		}
		common := true
		for _, n := range nodes[1:] {
			if !slices.ContainsFunc(n.Spec.Taints, func(o corev1.Taint) bool {
				return o.Key == t.Key && o.Value == t.Value && o.Effect == t.Effect
			}) {
				common = false
				break
			}
		}
		if common {
			out = append(out, scenarios.Taint{Key: t.Key, Value: t.Value, Effect: string(t.Effect)})
		}
	}
	return out
}

// systemTaint tells whether Kubernetes, the cloud provider or an
// autoscaler sets a taint with this key by itself (a node's condition, its
// initialisation or its removal), not the cluster's owner.
func systemTaint(key string) bool {
	return strings.HasPrefix(key, "node.kubernetes.io/") || slices.Contains(systemTaintKeys(), key)
}

// scenarioPools fits the pools into at most room workers (a kind cluster
// on one machine): each keeps at least one worker and the rest are shared
// in proportion to production's; when there are more pools than room, the
// largest are kept. It returns the pools, their workers and the notes that
// say what was read and what changed.
func (p *Profile) scenarioPools(room int) ([]scenarios.Pool, int, []string) {
	var read []string
	total := 0
	for _, pool := range p.Pools {
		read = append(read, fmt.Sprintf("%s (%s)", pool.Name, plural(pool.Workers, "worker")))
		total += pool.Workers
	}
	notes := []string{"pools read from label " + p.PoolLabel + ": " + strings.Join(read, ", ")}
	if !slices.ContainsFunc(p.Pools, schedulable) {
		notes = append(notes, "every pool is tainted NoSchedule or NoExecute: set canary.pool to place the canary on one of them")
	}
	if total <= room {
		return slices.Clone(p.Pools), total, notes
	}
	kept := slices.Clone(p.Pools)
	if room = max(room, 0); len(kept) > room {
		// The largest pools stay, the earlier among equals, in their order.
		bySize := slices.Clone(kept)
		sort.SliceStable(bySize, func(i, j int) bool { return bySize[i].Workers > bySize[j].Workers })
		var dropped []string
		for _, d := range bySize[room:] {
			dropped = append(dropped, d.Name)
		}
		kept = slices.DeleteFunc(kept, func(pool scenarios.Pool) bool { return slices.Contains(dropped, pool.Name) })
		notes = append(notes, fmt.Sprintf("%s left out, one machine holds %s: %s", plural(len(dropped), "pool"), plural(room, "worker"), strings.Join(dropped, ", ")))
		total = 0
		for _, k := range kept {
			total += k.Workers
		}
	}
	counts := apportion(kept, total, room)
	var scaled []string
	sum := 0
	for i := range kept {
		kept[i].Workers = counts[i]
		sum += counts[i]
		scaled = append(scaled, fmt.Sprintf("%s %d", kept[i].Name, counts[i]))
	}
	if len(kept) > 0 {
		notes = append(notes, "pools scaled down for one machine: "+strings.Join(scaled, ", "))
	}
	return kept, sum, notes
}

// apportion shares room workers among the pools (which hold total workers,
// at least one each; room is at least len(pools)) in proportion to their
// size: each gets at least one and none more than it has.
func apportion(pools []scenarios.Pool, total, room int) []int {
	out := make([]int, len(pools))
	if total <= room {
		for i, p := range pools {
			out[i] = p.Workers
		}
		return out
	}
	share := func(i int) float64 { return float64(pools[i].Workers) * float64(room) / float64(total) }
	sum := 0
	for i := range pools {
		out[i] = max(1, int(share(i)))
		sum += out[i]
	}
	// Too many (the minimum of one lifted small pools): take from the pool
	// most above its share; too few: give to the pool most below it.
	for sum > room {
		best := -1
		for i := range pools {
			if out[i] > 1 && (best < 0 || float64(out[i])-share(i) > float64(out[best])-share(best)) {
				best = i
			}
		}
		out[best]--
		sum--
	}
	for sum < room {
		best := -1
		for i := range pools {
			if out[i] < pools[i].Workers && (best < 0 || share(i)-float64(out[i]) > share(best)-float64(out[best])) {
				best = i
			}
		}
		out[best]++
		sum++
	}
	return out
}

// schedulable tells whether a pod without tolerations may be scheduled on
// the pool's nodes.
func schedulable(pool scenarios.Pool) bool {
	return !slices.ContainsFunc(pool.Taints, func(t scenarios.Taint) bool {
		return t.Effect == string(corev1.TaintEffectNoSchedule) || t.Effect == string(corev1.TaintEffectNoExecute)
	})
}
