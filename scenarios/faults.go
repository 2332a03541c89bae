package scenarios

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault kinds: what a fault drill breaks on the nodes it names.
const (
	// FaultEtcdMember stops the etcd member of a control plane (its static
	// pod's manifest is taken away for the fault's duration; with no
	// duration its container is killed and the kubelet restarts it).
	FaultEtcdMember = "etcd-member"
	// FaultAPIServer stops a control plane's kube-apiserver the same way.
	FaultAPIServer = "apiserver"
	// FaultKubelet stops a node's kubelet (killed, and restarted by
	// systemd, with no duration).
	FaultKubelet = "kubelet"
	// FaultNode kills a node's container (a kind cluster's machine
	// lost), and starts it again after the duration.
	FaultNode = "node"
)

// FaultKinds lists the fault kinds.
func FaultKinds() []string {
	return []string{FaultAPIServer, FaultEtcdMember, FaultKubelet, FaultNode}
}

// DefaultHealWithin bounds the wait for a cluster to heal after a fault.
const DefaultHealWithin = 3 * time.Minute

// Fault is a fault drill: a plan step that breaks something on some nodes
// at a chosen point of the upgrade, holds it, ends it, and waits for the
// cluster to heal within a bound. Its point is before the upgrade (neither
// After nor DuringDrain), after a node's upgrade, or during a node's drain.
type Fault struct {
	// Kind is etcd-member, apiserver, kubelet or node.
	Kind string `yaml:"kind" json:"kind"`
	// Nodes the fault hits, by name or, on a kind cluster, by kind's role
	// name (control-plane, control-plane2, worker, worker2, ...).
	Nodes []string `yaml:"nodes" json:"nodes"`
	// After is the node after whose upgrade the fault happens.
	After string `yaml:"after,omitempty" json:"after,omitempty"`
	// DuringDrain is the node during whose drain the fault happens.
	DuringDrain string `yaml:"duringDrain,omitempty" json:"duringDrain,omitempty"`
	// For is how long the fault lasts; 0 kills once and leaves the
	// restart to the kubelet or systemd.
	For Duration `yaml:"for,omitempty" json:"for,omitempty"`
	// HealWithin bounds the wait, once the fault ends, for the cluster to
	// be whole again; 0 means DefaultHealWithin.
	HealWithin Duration `yaml:"healWithin,omitempty" json:"healWithin,omitempty"`
	// Address is, for a node fault, the address the node comes back on:
	// FaultAddressKeep (the default) or FaultAddressNew.
	Address string `yaml:"address,omitempty" json:"address,omitempty"`
}

// A node fault's node comes back on the address it had (a machine
// rebooted), or on whichever the container engine gives it (a machine
// replaced by one on another address).
const (
	FaultAddressKeep = "keep"
	FaultAddressNew  = "new"
)

// KeepsAddress: the fault restarts a node on the address it had.
func (f Fault) KeepsAddress() bool { return f.Kind == FaultNode && f.Address != FaultAddressNew }

// Point says where in the upgrade the fault happens, for plans and errors.
func (f Fault) Point() string {
	switch {
	case f.After != "":
		return "after " + f.After
	case f.DuringDrain != "":
		return "during the drain of " + f.DuringDrain
	}
	return "before the upgrade"
}

// KindRoleNames are the role names of a kind cluster's nodes (the node
// names without the cluster's name): control-plane, control-plane2, ...,
// worker, worker2, ...
func KindRoleNames(controlPlanes, workers int) (cps, ws []string) {
	suffix := func(i int) string {
		if i == 0 {
			return ""
		}
		return strconv.Itoa(i + 1)
	}
	for i := range controlPlanes {
		cps = append(cps, "control-plane"+suffix(i))
	}
	for i := range workers {
		ws = append(ws, "worker"+suffix(i))
	}
	return cps, ws
}

// validateFaults checks upgrade.faults. On a kind cluster the nodes named
// must exist, and etcd and apiserver faults must name control planes.
func (s *Scenario) validateFaults(add func(path, format string, args ...any)) {
	c := s.Cluster
	if len(s.Upgrade.Faults) == 0 {
		return
	}
	kind := c.Provider == ProviderKind
	// Counts past a throwaway cluster's size are reported elsewhere.
	cps, ws := KindRoleNames(min(max(c.ControlPlanes, 0), MaxNodes), min(max(c.Workers, 0), MaxNodes))
	isNode := func(n string) bool { return slices.Contains(cps, n) || slices.Contains(ws, n) }
	if len(s.Upgrade.Faults) > 0 && !kind {
		add("upgrade.faults", "fault drills break a kind cluster's nodes through its container engine; the %s provider's nodes are not reached that way", c.Provider)
		return
	}
	for i, f := range s.Upgrade.Faults {
		at := func(field string) string { return "upgrade.faults[" + strconv.Itoa(i) + "]" + field }
		if !slices.Contains(FaultKinds(), f.Kind) {
			add(at(".kind"), "%q: want one of %s", f.Kind, strings.Join(FaultKinds(), ", "))
		}
		if len(f.Nodes) == 0 {
			add(at(".nodes"), "missing: name the nodes the fault hits")
		}
		seen := map[string]bool{}
		for j, n := range f.Nodes {
			nat := at(".nodes[" + strconv.Itoa(j) + "]")
			switch {
			case n == "":
				add(nat, "empty node name")
			case seen[n]:
				add(nat, "%q given twice", n)
			case kind && !isNode(n):
				add(nat, "%q: the cluster has no such node; its nodes are %s", n, strings.Join(append(slices.Clone(cps), ws...), ", "))
			case kind && (f.Kind == FaultEtcdMember || f.Kind == FaultAPIServer) && !slices.Contains(cps, n):
				add(nat, "%q is not a control plane: a %s fault hits control planes (%s)", n, f.Kind, strings.Join(cps, ", "))
			}
			seen[n] = true
		}
		if f.After != "" && f.DuringDrain != "" {
			add(at(".duringDrain"), "a fault happens at one point: after %q or during the drain of %q, not both", f.After, f.DuringDrain)
		}
		for _, p := range []struct{ field, node string }{{".after", f.After}, {".duringDrain", f.DuringDrain}} {
			if p.node != "" && kind && !isNode(p.node) {
				add(at(p.field), "%q: the cluster has no such node; its nodes are %s", p.node, strings.Join(append(slices.Clone(cps), ws...), ", "))
			}
		}
		if (f.After != "" || f.DuringDrain != "") && s.Upgrade.Driver != DriverKubeadm && s.Upgrade.Driver != DriverReplace {
			add(at(".after"), "the %s driver's plan has no node steps to put a fault after or beside: only kubeadm and replace have; leave after and duringDrain out to break things before the upgrade", s.Upgrade.Driver)
		}
		if f.For.Duration < 0 {
			add(at(".for"), "%s: want a duration, or 0 to kill once", f.For.Duration)
		}
		switch {
		case f.Address == "":
		case f.Kind != FaultNode:
			add(at(".address"), "only a node fault restarts a node; a %s fault leaves its address alone", f.Kind)
		case f.Address != FaultAddressKeep && f.Address != FaultAddressNew:
			add(at(".address"), "%q: want %s (the node comes back on its address) or %s (on whichever the container engine gives)", f.Address, FaultAddressKeep, FaultAddressNew)
		}
		if f.HealWithin.Duration < 0 {
			add(at(".healWithin"), "%s: want a positive duration (0 means %s)", f.HealWithin.Duration, DefaultHealWithin)
		}
		if f.Kind == FaultEtcdMember && kind && c.ControlPlanes < 2 && len(f.Nodes) > 0 {
			// One member is the whole of etcd: stopping it stops the
			// cluster's API, which the drill cannot tell from a failure.
			add(at(".kind"), "an etcd fault needs several control planes (cluster.controlPlanes is %d): stopping the only member stops the API", c.ControlPlanes)
		}
	}
}
