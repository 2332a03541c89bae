package scenarios

import (
	"path/filepath"
	"time"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/report"
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
	DefaultBaseline          = 30 * time.Second
	DefaultAfter             = 30 * time.Second
	DefaultDriver            = DriverKubeadm
	DefaultNodeInterval      = 10 * time.Second
	DefaultDrainTimeout      = 2 * time.Minute
	DefaultSettle            = 30 * time.Second
	DefaultExecTimeout       = 30 * time.Minute
	DefaultChecklist         = "kind"
	DefaultOutputDir         = "runs"
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
			Probes:   []string{string(loadgen.ProbeReuse), string(loadgen.ProbeFresh)},
			Timeout:  D(loadgen.DefaultTimeout),
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
// chosen, and the chosen driver's settings.
func (s *Scenario) settleDefaults(src *source) {
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
	case DriverBlueGreen:
		if s.Upgrade.BlueGreen == nil {
			s.Upgrade.BlueGreen = &BlueGreen{}
		}
		if s.Upgrade.BlueGreen.Settle.Duration == 0 {
			s.Upgrade.BlueGreen.Settle = D(DefaultSettle)
		}
	case DriverExec:
		if s.Upgrade.Exec == nil {
			s.Upgrade.Exec = &Exec{}
		}
		if s.Upgrade.Exec.Timeout.Duration == 0 {
			s.Upgrade.Exec.Timeout = D(DefaultExecTimeout)
		}
	}
}

// present tells whether the file or a --set gave the field at path.
func present(src *source, path string) bool {
	if _, ok := src.sets[path]; ok {
		return true
	}
	return nodeAt(src.root, path) != nil
}

// Rules turns the judge settings into the report's rules.
func (j Judge) Rules() report.Rules {
	r := report.Rules{MinSamples: j.MinSamples, MaxP99Ratio: j.MaxP99Ratio, MinP99Increase: j.MinP99Increase.Duration, Alpha: j.Alpha}
	if j.MaxErrorRateIncrease != nil {
		r.MaxErrorRateIncrease = *j.MaxErrorRateIncrease
		r.ZeroErrorIncrease = *j.MaxErrorRateIncrease == 0
	}
	if j.MaxOutage != nil {
		r.MaxOutage = j.MaxOutage.Duration
		r.ZeroOutage = j.MaxOutage.Duration == 0
	}
	return r.WithDefaults()
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
