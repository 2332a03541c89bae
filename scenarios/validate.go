package scenarios

import (
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/report"
)

// Drivers lists the upgrade drivers a scenario may name.
func Drivers() []string { return []string{DriverBlueGreen, DriverExec, DriverKubeadm} }

// Checklists lists the built-in checklist names.
func Checklists() []string { return []string{"eks", "gke", "kind", "kops"} }

// CNIs lists the CNIs a kind cluster can be built with.
func CNIs() []string { return []string{"flannel", "kindnet", "none"} }

// ProxyModes lists kube-proxy's modes.
func ProxyModes() []string { return []string{"iptables", "ipvs", "nftables"} }

// Version is a parsed Kubernetes version vMAJOR.MINOR.PATCH.
type Version struct{ Major, Minor, Patch int }

// ParseVersion parses "v1.35.4".
func ParseVersion(s string) (Version, error) {
	var v Version
	rest, ok := strings.CutPrefix(s, "v")
	parts := strings.Split(rest, ".")
	if !ok || len(parts) != 3 {
		return v, fmt.Errorf("%q is not a Kubernetes version like v1.35.4", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("%q is not a Kubernetes version like v1.35.4", s)
		}
		*[]*int{&v.Major, &v.Minor, &v.Patch}[i] = n
	}
	return v, nil
}

// Compare returns -1, 0 or 1.
func (v Version) Compare(o Version) int {
	for _, d := range []int{v.Major - o.Major, v.Minor - o.Minor, v.Patch - o.Patch} {
		if d < 0 {
			return -1
		}
		if d > 0 {
			return 1
		}
	}
	return 0
}

func (v Version) String() string { return fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch) }

// CheckSkew applies kubeadm's rule to an upgrade from cur to target: newer,
// and at most one minor version ahead.
func CheckSkew(cur, target Version) error {
	switch {
	case target.Compare(cur) <= 0:
		return fmt.Errorf("target %s is not newer than the cluster's %s", target, cur)
	case target.Major != cur.Major || target.Minor > cur.Minor+1:
		return fmt.Errorf("target %s is more than one minor version ahead of %s (kubeadm upgrades one minor at a time: go to v%d.%d.x first)", target, cur, cur.Major, cur.Minor+1)
	}
	return nil
}

func oneOf(v string, known []string) bool { return slices.Contains(known, v) }

func (s *Scenario) validate(src *source) Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, src.errorf(path, format, args...)) }

	if s.APIVersion != APIVersion {
		add("apiVersion", "%q: want %s", s.APIVersion, APIVersion)
	}
	if s.Kind != Kind {
		add("kind", "%q: want %s", s.Kind, Kind)
	}

	c := s.Cluster
	var cur Version
	var curErr error
	switch c.Provider {
	case ProviderKind:
		cur, curErr = ParseVersion(c.KubernetesVersion)
		if curErr != nil {
			add("cluster.kubernetesVersion", "%v", curErr)
		}
		if c.ControlPlanes < 1 {
			add("cluster.controlPlanes", "%d: a cluster needs at least one control plane", c.ControlPlanes)
		}
		if c.Workers < 0 {
			add("cluster.workers", "%d is negative", c.Workers)
		}
		if c.ControlPlanes+c.Workers > 10 {
			add("cluster.workers", "%d nodes in all: a throwaway cluster on one machine holds at most 10", c.ControlPlanes+c.Workers)
		}
		if !oneOf(c.CNI, CNIs()) {
			add("cluster.cni", "%q: want one of %s", c.CNI, strings.Join(CNIs(), ", "))
		}
		if c.Kubeconfig != "" {
			add("cluster.kubeconfig", "only for provider existing; a kind cluster makes its own")
		}
	case ProviderExisting:
		if c.Kubeconfig == "" {
			add("cluster.kubeconfig", "provider existing needs the kubeconfig of the cluster under test")
		}
		if s.Upgrade.Driver != DriverExec {
			add("upgrade.driver", "%q cannot upgrade an existing cluster: use exec with the command that upgrades it", s.Upgrade.Driver)
		}
		if s.Canary.Image == "" {
			add("canary.image", "an existing cluster cannot be loaded with images: name a canary image it can pull (push the rehearse canary image to a registry it reaches)")
		}
	default:
		add("cluster.provider", "%q: want kind or existing", c.Provider)
	}
	n := c.Networking
	var pod, svc netip.Prefix
	var err error
	if pod, err = netip.ParsePrefix(n.PodSubnet); err != nil {
		add("cluster.networking.podSubnet", "%q is not a CIDR like 10.244.0.0/16", n.PodSubnet)
	}
	if svc, err = netip.ParsePrefix(n.ServiceSubnet); err != nil {
		add("cluster.networking.serviceSubnet", "%q is not a CIDR like 10.96.0.0/16", n.ServiceSubnet)
	}
	if pod.IsValid() && svc.IsValid() && pod.Overlaps(svc) {
		add("cluster.networking.serviceSubnet", "%s overlaps the pod subnet %s", svc, pod)
	}
	if !oneOf(n.KubeProxyMode, ProxyModes()) {
		add("cluster.networking.kubeProxyMode", "%q: want one of %s", n.KubeProxyMode, strings.Join(ProxyModes(), ", "))
	}

	k := s.Canary
	if k.Replicas < 1 {
		add("canary.replicas", "%d: the canary needs at least one replica", k.Replicas)
	}
	p := k.PDB
	switch {
	case p.Disabled && (p.MaxUnavailable != nil || p.MinAvailable != nil):
		add("canary.pdb", "disabled together with a budget: choose one")
	case p.MaxUnavailable != nil && p.MinAvailable != nil:
		add("canary.pdb", "maxUnavailable and minAvailable together: a PodDisruptionBudget takes one")
	case p.MaxUnavailable != nil && *p.MaxUnavailable < 0:
		add("canary.pdb.maxUnavailable", "%d is negative", *p.MaxUnavailable)
	case p.MinAvailable != nil && *p.MinAvailable < 0:
		add("canary.pdb.minAvailable", "%d is negative", *p.MinAvailable)
	}
	if k.NodePort != 0 && (k.NodePort < 30000 || k.NodePort > 32767) {
		add("canary.nodePort", "%d is outside the NodePort range 30000-32767 (0 lets Kubernetes choose)", k.NodePort)
	}

	l := s.Load
	if l.Rate <= 0 {
		add("load.rate", "%v: want a positive number of requests per second", l.Rate)
	}
	seen := map[string]bool{}
	for i, pr := range l.Probes {
		if _, err := loadgen.ParseProbe(pr); err != nil {
			add(fmt.Sprintf("load.probes[%d]", i), "%v", err)
		} else if seen[pr] {
			add(fmt.Sprintf("load.probes[%d]", i), "%q given twice", pr)
		}
		seen[pr] = true
	}
	if len(l.Probes) == 0 {
		add("load.probes", "at least one probe kind (reuse, fresh)")
	} else if l.Rate > 0 && l.Rate/float64(len(l.Probes)) < 1 {
		add("load.rate", "%v/s over %d probe kinds is below 1/s each", l.Rate, len(l.Probes))
	}
	if l.Timeout.Duration <= 0 {
		add("load.timeout", "must be positive")
	}
	if l.Baseline.Duration <= 0 {
		add("load.baseline", "must be positive: the baseline is what everything is compared with")
	}
	if l.After.Duration <= 0 {
		add("load.after", "must be positive")
	}

	u := s.Upgrade
	if !oneOf(u.Driver, Drivers()) {
		add("upgrade.driver", "unknown driver %q; known: %s", u.Driver, strings.Join(Drivers(), ", "))
	}
	for _, d := range []struct {
		name string
		set  bool
	}{{DriverKubeadm, u.Kubeadm != nil}, {DriverBlueGreen, u.BlueGreen != nil}, {DriverExec, u.Exec != nil}} {
		if d.set && d.name != u.Driver && present(src, "upgrade."+d.name) {
			add("upgrade."+d.name, "settings for driver %s, but the driver is %s", d.name, u.Driver)
		}
	}
	if u.Driver != DriverExec || u.Target != "" {
		target, err := ParseVersion(u.Target)
		switch {
		case err != nil:
			add("upgrade.target", "%v", err)
		case c.Provider == ProviderKind && curErr == nil:
			if err := CheckSkew(cur, target); err != nil {
				add("upgrade.target", "%v", err)
			}
		}
	}
	switch u.Driver {
	case DriverKubeadm:
		if c.Provider != ProviderKind {
			break
		}
		if u.Kubeadm.MaxUnavailable < 1 {
			add("upgrade.kubeadm.maxUnavailable", "%d: at least one node must be upgraded at a time", u.Kubeadm.MaxUnavailable)
		} else if c.Workers > 0 && u.Kubeadm.MaxUnavailable > c.Workers {
			add("upgrade.kubeadm.maxUnavailable", "%d is more than the %d workers", u.Kubeadm.MaxUnavailable, c.Workers)
		}
		if u.Kubeadm.DrainTimeout.Duration <= 0 {
			add("upgrade.kubeadm.drainTimeout", "must be positive")
		}
	case DriverBlueGreen:
		if c.Provider != ProviderKind {
			add("upgrade.driver", "bluegreen builds cluster B with kind: the cluster provider must be kind")
		}
	case DriverExec:
		if len(u.Exec.Command) == 0 {
			add("upgrade.exec.command", "the exec driver needs the command that performs the upgrade")
		}
	}

	if cl := s.Checks.Checklist; cl == "" {
		add("checks.checklist", "empty: name a built-in checklist (%s) or a file", strings.Join(Checklists(), ", "))
	} else if !isFileRef(cl) && !oneOf(cl, Checklists()) {
		add("checks.checklist", "unknown checklist %q; known: %s (or a path to a file)", cl, strings.Join(Checklists(), ", "))
	} else if isFileRef(cl) && src.file != "" {
		if _, err := os.Stat(resolveAgainst(src.file, cl)); err != nil {
			add("checks.checklist", "checklist file %s: %v", cl, err)
		}
	}
	if err := s.Checks.Judge.Rules().Validate(); err != nil {
		// The rules name their field as the scenario does ("maxP99Ratio: ...").
		field, msg, ok := strings.Cut(err.Error(), ": ")
		if _, known := yamlFields(reflect.TypeOf(Judge{}))[field]; ok && known {
			add("checks.judge."+field, "%s", msg)
		} else {
			add("checks.judge", "%v", err)
		}
	}
	for i, f := range s.Output.Formats {
		if _, err := report.RendererFor(f); err != nil {
			add(fmt.Sprintf("output.formats[%d]", i), "%v", err)
		}
	}
	if s.Output.Dir == "" {
		add("output.dir", "empty: name the folder that run folders go in")
	}
	return errs
}
