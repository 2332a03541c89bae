package scenarios

import (
	"math"
	"path/filepath"
	"time"
)

// The defaults of a scenario, in one place. A field absent from a scenario
// file takes the value given here.
const (
	DefaultProvider          = ProviderKind
	DefaultKubernetesVersion = "v1.35.4"
	DefaultTargetVersion     = "v1.36.3"
	DefaultControlPlanes     = 1
	DefaultWorkers           = 2
	DefaultCNI               = "flannel"
	DefaultPodSubnet         = "10.244.0.0/16"
	DefaultServiceSubnet     = "10.96.0.0/16"
	DefaultKubeProxyMode     = "iptables"
	DefaultReplicas          = 3
	DefaultPDBMaxUnavailable = 1
	DefaultNodePort          = 30080
	DefaultLoadRate          = 100.0
	DefaultLoadTimeout       = 10 * time.Second
	DefaultBaseline          = 30 * time.Second
	DefaultAfter             = 30 * time.Second
	DefaultDriver            = DriverKubeadm
	DefaultNodeInterval      = 10 * time.Second
	DefaultDrainTimeout      = 2 * time.Minute
	DefaultSettle            = 30 * time.Second
	DefaultExecTimeout       = 30 * time.Minute
	DefaultChecklist         = "kind"
	DefaultOutputDir         = "runs"
	// DefaultMethod, DefaultShare and DefaultTargetProbe are a load
	// target's method, weight and connection kind when it names none.
	DefaultMethod      = "GET"
	DefaultShare       = 1.0
	DefaultTargetProbe = ProbeReuse
	// DefaultWorkloadTimeout bounds the wait for a workload to be ready.
	DefaultWorkloadTimeout = 5 * time.Minute
)

// The limits of a scenario's numbers. Past them a value is a typo or
// hostile input, never a rehearsal, and loading rejects it before anything
// is built.
const (
	// MaxLoadRate is the highest load.rate, in requests per second over all
	// probe kinds. One machine's load generator sends a few thousand
	// requests per second per core through a cluster's NodePorts; 50,000
	// leaves room for a large machine and stops typos such as 1e308.
	MaxLoadRate = 50_000.0
	// MaxNodes is the most nodes of a kind cluster: every node is a
	// container on this one machine.
	MaxNodes = 10
	// MaxInt32 bounds the counts that feed int32 fields of Kubernetes
	// objects: canary.replicas, canary.pdb.minAvailable and
	// canary.pdb.maxUnavailable.
	MaxInt32 = math.MaxInt32
	// MaxDuration is the longest duration a scenario may give.
	MaxDuration = 7 * 24 * time.Hour
	// MaxP99Ratio is the largest checks.judge.maxP99Ratio: a p99 a
	// thousand times the baseline's is an outage, not a threshold.
	MaxP99Ratio = 1000.0
	// MaxMinSamples is the largest checks.judge.minSamples: more requests
	// than a phase of MaxDuration sends at MaxLoadRate.
	MaxMinSamples = int64(MaxLoadRate) * int64(MaxDuration/time.Second)
)

// DefaultFormats are the report formats a run folder holds.
func DefaultFormats() []string { return []string{"json", "html", "markdown", "junit"} }

// Defaults returns a scenario holding every default: the embedded default
// scenario is exactly this with a name.
func Defaults() *Scenario {
	return &Scenario{
		APIVersion: APIVersion,
		Kind:       Kind,
		Cluster: Cluster{
			Provider:          DefaultProvider,
			KubernetesVersion: DefaultKubernetesVersion,
			ControlPlanes:     DefaultControlPlanes,
			Workers:           DefaultWorkers,
			CNI:               DefaultCNI,
			Networking: Networking{
				PodSubnet:     DefaultPodSubnet,
				ServiceSubnet: DefaultServiceSubnet,
				KubeProxyMode: DefaultKubeProxyMode,
			},
		},
		Canary: Canary{
			Replicas: DefaultReplicas,
			NodePort: DefaultNodePort,
			Resources: Resources{
				Requests: ResourceList{CPU: "10m", Memory: "16Mi"},
				Limits:   ResourceList{CPU: "200m", Memory: "64Mi"},
			},
		},
		Load: Traffic{
			Rate:     DefaultLoadRate,
			Probes:   Probes(),
			Timeout:  D(DefaultLoadTimeout),
			Baseline: D(DefaultBaseline),
			After:    D(DefaultAfter),
		},
		Upgrade: Upgrade{
			Driver: DefaultDriver,
			Target: DefaultTargetVersion,
		},
		Checks: Checks{Checklist: DefaultChecklist},
		Output: Output{Dir: DefaultOutputDir, Formats: DefaultFormats()},
	}
}

// settleDefaults fills what depends on other fields: the PDB when none was
// chosen, the chosen driver's settings, the defaults of each load target
// and workload, and no canary probes when the canary is disabled.
func (s *Scenario) settleDefaults(src *source) {
	s.settleTargets()
	s.settleGenerators()
	if n := len(s.Upgrade.Targets); n > 0 && !present(src, "upgrade.target") {
		s.Upgrade.Target = s.Upgrade.Targets[n-1]
	}
	if s.Canary.Disabled {
		s.Load.Probes = nil
	}
	p := &s.Canary.PDB
	if !p.Disabled && p.MaxUnavailable == nil && p.MinAvailable == nil {
		v := DefaultPDBMaxUnavailable
		p.MaxUnavailable = &v
	}
	switch s.Upgrade.Driver {
	case DriverKubeadm:
		if s.Upgrade.Kubeadm == nil {
			s.Upgrade.Kubeadm = &KubeadmSettings{}
		}
		k := s.Upgrade.Kubeadm
		if k.MaxUnavailable == 0 && !present(src, "upgrade.kubeadm.maxUnavailable") {
			k.MaxUnavailable = 1
		}
		if k.NodeInterval.Duration == 0 && !present(src, "upgrade.kubeadm.nodeInterval") {
			k.NodeInterval = D(DefaultNodeInterval)
		}
		if k.DrainTimeout.Duration == 0 {
			k.DrainTimeout = D(DefaultDrainTimeout)
		}
	case DriverReplace:
		if s.Upgrade.Replace == nil {
			s.Upgrade.Replace = &Replace{}
		}
		r := s.Upgrade.Replace
		if r.MaxSurge == 0 && !present(src, "upgrade.replace.maxSurge") {
			r.MaxSurge = 1
		}
		if r.MaxUnavailable == 0 && r.MaxSurge == 0 && !present(src, "upgrade.replace.maxUnavailable") {
			r.MaxUnavailable = 1
		}
		if r.DrainTimeout.Duration == 0 {
			r.DrainTimeout = D(DefaultDrainTimeout)
		}
		if r.Undrainable == "" {
			r.Undrainable = UndrainableFail
		}
	case DriverBlueGreen:
		if s.Upgrade.BlueGreen == nil {
			s.Upgrade.BlueGreen = &BlueGreen{}
		}
		if s.Upgrade.BlueGreen.Settle.Duration == 0 {
			s.Upgrade.BlueGreen.Settle = D(DefaultSettle)
		}
	case DriverNone:
		if !present(src, "upgrade.target") {
			s.Upgrade.Target = s.Cluster.KubernetesVersion
		}
	case DriverExec:
		if s.Upgrade.Exec == nil {
			s.Upgrade.Exec = &Exec{}
		}
		if s.Upgrade.Exec.Timeout.Duration == 0 {
			s.Upgrade.Exec.Timeout = D(DefaultExecTimeout)
		}
	}
	s.settlePools(src)
}

// present tells whether the file or a --set gave the field at path.
func present(src *source, path string) bool {
	if _, ok := src.sets[path]; ok {
		return true
	}
	return nodeAt(src.root, path) != nil
}

// resolveRelative makes file references relative to the scenario's folder.
func (s *Scenario) resolveRelative(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&s.Cluster.FromProfile)
	if s.Cluster.Provider == ProviderExisting {
		abs(&s.Cluster.Kubeconfig)
	}
	if isFileRef(s.Checks.Checklist) {
		abs(&s.Checks.Checklist)
	}
	for i := range s.Workloads {
		abs(&s.Workloads[i].Path)
	}
	for i := range s.Images {
		if IsImageArchive(s.Images[i]) {
			abs(&s.Images[i])
		}
	}
}

// isFileRef tells a checklist file from a built-in checklist name.
func isFileRef(name string) bool {
	return filepath.Ext(name) == ".yaml" || filepath.Ext(name) == ".yml" || filepath.Ext(name) == ".json" || filepath.Base(name) != name
}

// resolveAgainst resolves ref relative to the folder of file.
func resolveAgainst(file, ref string) string {
	if filepath.IsAbs(ref) || file == "" {
		return ref
	}
	return filepath.Join(filepath.Dir(file), ref)
}
