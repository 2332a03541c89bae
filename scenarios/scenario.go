package scenarios

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// APIVersion and Kind of a scenario document.
const (
	APIVersion = "rehearse.dev/v1alpha1"
	Kind       = "Scenario"
)

// Scenario is one rehearsal's description.
type Scenario struct {
	APIVersion string   `yaml:"apiVersion" json:"apiVersion"`
	Kind       string   `yaml:"kind" json:"kind"`
	Metadata   Metadata `yaml:"metadata" json:"metadata"`
	Cluster    Cluster  `yaml:"cluster" json:"cluster"`
	Canary     Canary   `yaml:"canary" json:"canary"`
	// Workloads are the user's manifests, applied before the load starts.
	Workloads []Workload `yaml:"workloads,omitempty" json:"workloads,omitempty"`
	// Images are loaded into a kind cluster's nodes before the workloads
	// are applied: each an image archive (a path ending in .tar, relative to
	// the scenario file's folder) or the name of an image in the local
	// podman or docker store (see IsImageArchive).
	Images []string `yaml:"images,omitempty" json:"images,omitempty"`
	// Ledger is the stateful canary and its sequenced writes.
	Ledger  Ledger  `yaml:"ledger,omitempty" json:"ledger,omitempty"`
	Load    Traffic `yaml:"load" json:"load"`
	Upgrade Upgrade `yaml:"upgrade" json:"upgrade"`
	Checks  Checks  `yaml:"checks" json:"checks"`
	Output  Output  `yaml:"output" json:"output"`
	// Notes are free-form lines, e.g. what a profile could not reproduce.
	Notes []string `yaml:"notes,omitempty" json:"notes,omitempty"`
}

// Metadata names a scenario.
type Metadata struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
}

// Cluster providers.
const (
	ProviderKind     = "kind"
	ProviderExisting = "existing"
)

// Cluster is the cluster under test: a throwaway kind cluster of a given
// shape, or an existing cluster reached by kubeconfig.
type Cluster struct {
	// Provider is kind (a throwaway cluster) or existing.
	Provider string `yaml:"provider" json:"provider"`
	// Kubeconfig and Context reach an existing cluster.
	Kubeconfig string `yaml:"kubeconfig,omitempty" json:"kubeconfig,omitempty"`
	Context    string `yaml:"context,omitempty" json:"context,omitempty"`
	// FromProfile reads the shape below from a profile written by
	// `rehearse profile` (a scenario file); fields set here override it.
	FromProfile string `yaml:"fromProfile,omitempty" json:"fromProfile,omitempty"`
	// KubernetesVersion is the version the cluster starts at, e.g. v1.35.4.
	KubernetesVersion string `yaml:"kubernetesVersion" json:"kubernetesVersion"`
	ControlPlanes     int    `yaml:"controlPlanes" json:"controlPlanes"`
	Workers           int    `yaml:"workers" json:"workers"`
	// Pools are named groups of the workers, with the labels and taints
	// production gives them; their workers add up to Workers (which
	// defaults to that sum). Every pool's nodes also carry PoolLabel=NAME.
	Pools []Pool `yaml:"pools,omitempty" json:"pools,omitempty"`
	// CNI is calico, flannel, kindnet or none. calico is Calico in VXLAN
	// mode without BGP, its images built from source; kindnet needs kind's
	// published node images (those built from source carry flannel as
	// their default CNI); none leaves the pod network to the workloads.
	CNI        string     `yaml:"cni" json:"cni"`
	Networking Networking `yaml:"networking" json:"networking"`
	// Keep leaves the throwaway cluster running after the rehearsal.
	Keep bool `yaml:"keep,omitempty" json:"keep,omitempty"`
}

// NoCNI says a kind cluster is created without a pod network: the
// scenario's workloads install one, before the canary is deployed.
func (c Cluster) NoCNI() bool { return c.Provider == ProviderKind && c.CNI == "none" }

// PoolLabel is the label every node of a scenario's pool carries, with the
// pool's name as its value.
const PoolLabel = "rehearse.io/pool"

// Pool is a named group of workers, like a cloud node group.
type Pool struct {
	Name    string `yaml:"name" json:"name"`
	Workers int    `yaml:"workers" json:"workers"`
	// Labels are set on each of the pool's nodes (by the kubelet, so not in
	// the kubernetes.io and k8s.io namespaces it may not set, except
	// node.kubernetes.io/ and kubelet.kubernetes.io/).
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// Taints are set on each of the pool's nodes when they join.
	Taints []Taint `yaml:"taints,omitempty" json:"taints,omitempty"`
}

// Taint is a node taint: effect NoSchedule, PreferNoSchedule or NoExecute.
type Taint struct {
	Key    string `yaml:"key" json:"key"`
	Value  string `yaml:"value,omitempty" json:"value,omitempty"`
	Effect string `yaml:"effect" json:"effect"`
}

// Networking is the cluster's network shape.
type Networking struct {
	PodSubnet     string `yaml:"podSubnet" json:"podSubnet"`
	ServiceSubnet string `yaml:"serviceSubnet" json:"serviceSubnet"`
	// KubeProxyMode is iptables, nftables or ipvs.
	KubeProxyMode string `yaml:"kubeProxyMode" json:"kubeProxyMode"`
	// DNS is the DNS provider seen in production (coredns, kube-dns).
	DNS string `yaml:"dns,omitempty" json:"dns,omitempty"`
}

// Canary is rehearse's own application under load.
type Canary struct {
	// Disabled deploys no canary and sends it no load: the rehearsal loads
	// only load.targets, which are then required. load.probes, the canary's
	// probe kinds, are then dropped when loading (each target names its own
	// probe), and the other canary fields are unused.
	Disabled bool `yaml:"disabled,omitempty" json:"disabled,omitempty"`
	// Image is the canary image. Empty: on kind, this build of rehearse,
	// loaded into the nodes; an existing cluster needs an image it can pull
	// (push the rehearse canary image to a registry it reaches).
	Image     string    `yaml:"image,omitempty" json:"image,omitempty"`
	Replicas  int       `yaml:"replicas" json:"replicas"`
	PDB       PDB       `yaml:"pdb" json:"pdb"`
	NodePort  int       `yaml:"nodePort" json:"nodePort"`
	Resources Resources `yaml:"resources" json:"resources"`
	// DrainDelay is how long a canary pod keeps serving, not ready, after
	// SIGTERM (default 5s). 0s makes it stop at once, as a naive
	// application does.
	DrainDelay *Duration `yaml:"drainDelay,omitempty" json:"drainDelay,omitempty"`
	// StartupDelay keeps a new canary pod not ready for this long after it
	// starts, like an application warming its caches (default 0s): a pod
	// moved by a drain then takes that long to serve again.
	StartupDelay Duration `yaml:"startupDelay,omitempty" json:"startupDelay,omitempty"`
	// NodeSelector restricts the canary to matching nodes.
	NodeSelector map[string]string `yaml:"nodeSelector,omitempty" json:"nodeSelector,omitempty"`
	// Pool places the canary on one of cluster.pools: it selects the
	// pool's nodes and tolerates the pool's taints.
	Pool string `yaml:"pool,omitempty" json:"pool,omitempty"`
}

// PDB is the canary's PodDisruptionBudget: at most one of MaxUnavailable and
// MinAvailable, or Disabled.
type PDB struct {
	MaxUnavailable *int `yaml:"maxUnavailable,omitempty" json:"maxUnavailable,omitempty"`
	MinAvailable   *int `yaml:"minAvailable,omitempty" json:"minAvailable,omitempty"`
	Disabled       bool `yaml:"disabled,omitempty" json:"disabled,omitempty"`
}

// Resources are the canary container's requests and limits.
type Resources struct {
	Requests ResourceList `yaml:"requests" json:"requests"`
	Limits   ResourceList `yaml:"limits" json:"limits"`
}

// ResourceList holds Kubernetes quantities, e.g. cpu: 10m, memory: 16Mi.
type ResourceList struct {
	CPU    string `yaml:"cpu,omitempty" json:"cpu,omitempty"`
	Memory string `yaml:"memory,omitempty" json:"memory,omitempty"`
}

// Probe kinds of the load: the load generator sends each over its own
// kind of connection.
const (
	// ProbeReuse sends over keep-alive connections that are reused.
	ProbeReuse = "reuse"
	// ProbeFresh opens a new connection for every request.
	ProbeFresh = "fresh"
)

// Probes lists the probe kinds a scenario may name.
func Probes() []string { return []string{ProbeReuse, ProbeFresh} }

// Traffic is the load and its phases.
type Traffic struct {
	// Rate is the total requests per second over every stream, at most
	// MaxLoadRate. Each canary probe kind weighs 1 and each target its
	// share: a stream's rate is Rate times its weight over the sum of the
	// weights (without targets, Rate split evenly over Probes). Every
	// stream must get at least 1/s.
	Rate float64 `yaml:"rate" json:"rate"`
	// Probes are the canary's probe kinds: reuse (keep-alive), fresh (new
	// connection). Loading empties them when the canary is disabled.
	Probes []string `yaml:"probes" json:"probes"`
	// Targets are the user's applications under load, each a stream of its
	// own beside the canary's probes.
	Targets []Target `yaml:"targets,omitempty" json:"targets,omitempty"`
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// Baseline is how long load runs before the upgrade starts; After how
	// long it runs once the upgrade ended. The upgrade phase lasts as long
	// as the upgrade.
	Baseline Duration `yaml:"baseline" json:"baseline"`
	After    Duration `yaml:"after" json:"after"`
	// Generators say where the load comes from: this machine (local, the
	// default) or generator pods in the cluster (in-cluster).
	Generators Generators `yaml:"generators,omitempty" json:"generators,omitempty"`
}

// Drivers of an upgrade.
const (
	DriverKubeadm   = "kubeadm"
	DriverBlueGreen = "bluegreen"
	DriverExec      = "exec"
	DriverReplace   = "replace"
	// DriverNone upgrades nothing: the rehearsal is a fault drill
	// (upgrade.faults) under load, judged like an upgrade.
	DriverNone = "none"
)

// Upgrade is what is rehearsed.
type Upgrade struct {
	// Driver is kubeadm, replace, bluegreen, exec, or none for a fault
	// drill with no upgrade.
	Driver string `yaml:"driver" json:"driver"`
	// Target is the Kubernetes version to upgrade to.
	Target string `yaml:"target" json:"target"`
	// Targets, when given, are the hops of an upgrade across several
	// minors, one minor at a time (v1.36.3, then v1.37.2), each its own
	// judged phase (upgrade-1, upgrade-2, ...) with the checklist between
	// them; Target is then the last.
	Targets   []string         `yaml:"targets,omitempty" json:"targets,omitempty"`
	Kubeadm   *KubeadmSettings `yaml:"kubeadm,omitempty" json:"kubeadm,omitempty"`
	Replace   *Replace         `yaml:"replace,omitempty" json:"replace,omitempty"`
	BlueGreen *BlueGreen       `yaml:"bluegreen,omitempty" json:"bluegreen,omitempty"`
	Exec      *Exec            `yaml:"exec,omitempty" json:"exec,omitempty"`
	// AbortAfter stops the upgrade once this many workers are upgraded
	// (kubeadm) or replaced (replace), as an operator who halts a rolling
	// update halfway; 0 runs it to its end.
	AbortAfter int `yaml:"abortAfter,omitempty" json:"abortAfter,omitempty"`
	// Revert, after the upgrade (or its abort), brings the workers back
	// to the cluster's version under load, in its own judged phase. The
	// replace driver replaces the upgraded workers with nodes at the
	// original version; the kubeadm driver keeps each worker's kubelet,
	// kubectl, kubeadm and kubelet configuration before upgrading it and
	// puts them back. The control plane stays upgraded (kubeadm upgrade
	// apply is not reversible).
	Revert bool `yaml:"revert,omitempty" json:"revert,omitempty"`
	// Faults are fault drills, each a step of the plan at its point.
	Faults []Fault `yaml:"faults,omitempty" json:"faults,omitempty"`
}

// Hops are the versions the upgrade goes through, in order: Targets, or
// Target alone.
func (u Upgrade) Hops() []string {
	if len(u.Targets) > 0 {
		return u.Targets
	}
	return []string{u.Target}
}

// Undrainable node behaviours of the replace driver.
const (
	// UndrainableFail fails the upgrade on a node whose drain times out.
	UndrainableFail = "fail"
	// UndrainableCordon leaves such a node cordoned, not deleted, and goes
	// on (AKS's undrainableNodeBehavior: Cordon).
	UndrainableCordon = "cordon"
)

// Replace tunes a surge upgrade, as kops, managed node groups and Cluster
// API upgrade nodes: the control planes are upgraded in place (kubeadm),
// then every worker is replaced: a new node at the target joins, the old
// one is cordoned, drained and deleted.
type Replace struct {
	// MaxSurge is how many new nodes are made, and Ready, before their
	// old nodes are retired (default 1).
	MaxSurge int `yaml:"maxSurge" json:"maxSurge"`
	// MaxUnavailable is how many more old nodes are retired at the same
	// time, replaced only once gone (default 0, or 1 when maxSurge is 0).
	// A batch replaces maxSurge+maxUnavailable workers, as GKE's surge
	// upgrade does.
	MaxUnavailable int `yaml:"maxUnavailable" json:"maxUnavailable"`
	// NodeInterval is the wait between batches (kops --node-interval).
	NodeInterval Duration `yaml:"nodeInterval" json:"nodeInterval"`
	// Soak is how long new nodes run Ready before the old ones are
	// drained (GKE and AKS node soak).
	Soak Duration `yaml:"soak" json:"soak"`
	// DrainTimeout is how long a drain may take.
	DrainTimeout Duration `yaml:"drainTimeout" json:"drainTimeout"`
	// Undrainable is what a drain that times out does: fail (default) or
	// cordon (the node stays, cordoned, and the upgrade goes on).
	Undrainable string `yaml:"undrainable" json:"undrainable"`
}

// KubeadmSettings tune an in-place rolling upgrade.
type KubeadmSettings struct {
	// MaxUnavailable is how many nodes are upgraded at once.
	MaxUnavailable int `yaml:"maxUnavailable" json:"maxUnavailable"`
	// NodeInterval is the wait between nodes.
	NodeInterval Duration `yaml:"nodeInterval" json:"nodeInterval"`
	// DrainTimeout fails a node's drain that takes longer.
	DrainTimeout Duration `yaml:"drainTimeout" json:"drainTimeout"`
	// Pools upgrades the workers pool by pool, in this order, each with its
	// own maxUnavailable (default: the one above); workers in no listed
	// pool come last. Empty with cluster.pools: those pools, in order.
	Pools []PoolUpgrade `yaml:"pools,omitempty" json:"pools,omitempty"`
	// PoolLabel is the node label whose value names a node's pool (default
	// rehearse.io/pool; on an existing cluster e.g.
	// eks.amazonaws.com/nodegroup or cloud.google.com/gke-nodepool).
	PoolLabel string `yaml:"poolLabel,omitempty" json:"poolLabel,omitempty"`
}

// PoolUpgrade is how one pool's workers are upgraded.
type PoolUpgrade struct {
	Name string `yaml:"name" json:"name"`
	// MaxUnavailable is how many of the pool's workers are upgraded at
	// once; 0 means upgrade.kubeadm.maxUnavailable.
	MaxUnavailable int `yaml:"maxUnavailable,omitempty" json:"maxUnavailable,omitempty"`
}

// BlueGreen tunes an A/B cluster swap.
type BlueGreen struct {
	// Settle is how long traffic is watched on B after the switch.
	Settle Duration `yaml:"settle" json:"settle"`
	// Rollback rehearses switching back to A and forward again.
	Rollback bool `yaml:"rollback,omitempty" json:"rollback,omitempty"`
	// Namespaces are copied from A to B besides the canary's.
	Namespaces []string `yaml:"namespaces,omitempty" json:"namespaces,omitempty"`
}

// Exec runs a command that performs the upgrade.
type Exec struct {
	// Command is the argv; with Shell it is joined and run by /bin/sh -c.
	Command []string `yaml:"command" json:"command"`
	Shell   bool     `yaml:"shell,omitempty" json:"shell,omitempty"`
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// Env is added to the command's environment, which otherwise is
	// rehearse's own plus KUBECONFIG. It is written into the run folder's
	// scenario.yaml like every field: pass secrets through rehearse's own
	// environment, not here.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	Dir string            `yaml:"dir,omitempty" json:"dir,omitempty"`
}

// Checks are what must hold at the end.
type Checks struct {
	// Checklist is a built-in checklist name (kind, kops, eks, gke) or a file.
	Checklist string `yaml:"checklist" json:"checklist"`
	Judge     Judge  `yaml:"judge" json:"judge"`
}

// Judge overrides the judge's thresholds; zero fields keep the defaults.
type Judge struct {
	MinSamples           int64     `yaml:"minSamples,omitempty" json:"minSamples,omitempty"`
	MaxErrorRateIncrease *float64  `yaml:"maxErrorRateIncrease,omitempty" json:"maxErrorRateIncrease,omitempty"`
	MaxP99Ratio          float64   `yaml:"maxP99Ratio,omitempty" json:"maxP99Ratio,omitempty"`
	MinP99Increase       Duration  `yaml:"minP99Increase,omitempty" json:"minP99Increase,omitempty"`
	MaxOutage            *Duration `yaml:"maxOutage,omitempty" json:"maxOutage,omitempty"`
	Alpha                float64   `yaml:"alpha,omitempty" json:"alpha,omitempty"`
}

// Output says where a run's folder goes and what it holds.
type Output struct {
	// Dir is the parent folder of run folders.
	Dir string `yaml:"dir" json:"dir"`
	// Formats are the report formats written into the run folder.
	Formats []string `yaml:"formats" json:"formats"`
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration struct{ time.Duration }

// UnmarshalYAML parses "30s", "2m", "1h30m".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &fieldError{line: n.Line, msg: "want a duration such as 30s"}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &fieldError{line: n.Line, msg: fmt.Sprintf("%q is not a duration such as 30s or 2m", n.Value)}
	}
	if v < 0 {
		return &fieldError{line: n.Line, msg: fmt.Sprintf("%q is negative", n.Value)}
	}
	if v > MaxDuration {
		return &fieldError{line: n.Line, msg: fmt.Sprintf("%q is longer than %gh: a rehearsal's phases last minutes or hours", n.Value, MaxDuration.Hours())}
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText writes the duration string (JSON).
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// D makes a Duration.
func D(d time.Duration) Duration { return Duration{d} }

// fieldError is a decoding error at a line, before the field path is known.
type fieldError struct {
	line int
	msg  string
}

func (e *fieldError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }
