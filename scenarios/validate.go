package scenarios

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/rehearse/rehearse/rehearse/kversion"
)

// Drivers lists the upgrade drivers a scenario may name.
func Drivers() []string {
	return []string{DriverBlueGreen, DriverExec, DriverKubeadm, DriverNone, DriverReplace}
}

// Checklists lists the built-in checklist names.
func Checklists() []string { return []string{"eks", "gke", "kind", "kops"} }

// CNIs lists the CNIs a kind cluster can be built with.
func CNIs() []string { return []string{"calico", "flannel", "kindnet", "none"} }

// ProxyModes lists kube-proxy's modes.
func ProxyModes() []string { return []string{"iptables", "ipvs", "nftables"} }

func oneOf(v string, known []string) bool { return slices.Contains(known, v) }

func (s *Scenario) validate(src *source) Errors {
	var errs Errors
	add := func(path, format string, args ...any) { errs = append(errs, src.errorf(path, format, args...)) }

	// missing locates a required field absent from the file at its parent,
	// or at the document's first line.
	missing := func(path, format string, args ...any) {
		e := src.errorf(path, format, args...)
		if e.Line == 0 && !strings.HasPrefix(e.File, "--set ") && src.root != nil {
			e.Line = src.root.Line
		}
		errs = append(errs, e)
	}
	// apiVersion and kind say what the file is: Defaults fills them in,
	// so their presence is read from the file itself.
	for _, f := range []struct{ path, got, want string }{{"apiVersion", s.APIVersion, APIVersion}, {"kind", s.Kind, Kind}} {
		switch {
		case !present(src, f.path):
			missing(f.path, "missing: a scenario file says %s: %s", f.path, f.want)
		case f.got != f.want:
			add(f.path, "%q: want %s", f.got, f.want)
		}
	}
	const label = "lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
	if name := s.Metadata.Name; name == "" {
		missing("metadata.name", "missing: name the scenario (%s); it names the run folder and the cluster", label)
	} else if len(validation.IsDNS1123Label(name)) > 0 {
		add("metadata.name", "%q is not a DNS-1123 label (%s); it names the run folder and the cluster", name, label)
	}

	c := s.Cluster
	var cur kversion.Version
	var curErr error
	switch c.Provider {
	case ProviderKind:
		cur, curErr = kversion.Parse(c.KubernetesVersion)
		if curErr != nil {
			add("cluster.kubernetesVersion", "%v", curErr)
		}
		nodesOK := true
		switch {
		case c.ControlPlanes < 1:
			add("cluster.controlPlanes", "%d: a cluster needs at least one control plane", c.ControlPlanes)
			nodesOK = false
		case c.ControlPlanes > MaxNodes:
			add("cluster.controlPlanes", "%d: a throwaway cluster on one machine holds at most %d nodes", c.ControlPlanes, MaxNodes)
			nodesOK = false
		}
		switch {
		case c.Workers < 0:
			add("cluster.workers", "%d is negative", c.Workers)
			nodesOK = false
		case c.Workers > MaxNodes:
			add("cluster.workers", "%d: a throwaway cluster on one machine holds at most %d nodes", c.Workers, MaxNodes)
			nodesOK = false
		}
		if nodesOK && c.ControlPlanes+c.Workers > MaxNodes {
			add("cluster.workers", "%d nodes in all: a throwaway cluster on one machine holds at most %d", c.ControlPlanes+c.Workers, MaxNodes)
		}
		if !oneOf(c.CNI, CNIs()) {
			add("cluster.cni", "%q: want one of %s", c.CNI, strings.Join(CNIs(), ", "))
		} else if c.NoCNI() && len(s.Workloads) == 0 {
			add("cluster.cni", "none: the nodes have no pod network until one is installed: list the CNI's manifests under workloads (its images under images)")
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
		if s.Canary.Image == "" && !s.Canary.Disabled {
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
	switch {
	case k.Replicas < 1:
		add("canary.replicas", "%d: the canary needs at least one replica", k.Replicas)
	case k.Replicas > MaxInt32:
		add("canary.replicas", "%d overflows the Deployment's replicas (at most %d)", k.Replicas, MaxInt32)
	}
	validatePDB("canary.pdb", k.PDB, add)
	if k.NodePort != 0 && (k.NodePort < 30000 || k.NodePort > 32767) {
		add("canary.nodePort", "%d is outside the NodePort range 30000-32767 (0 lets Kubernetes choose)", k.NodePort)
	}

	l := s.Load
	switch {
	case l.Rate <= 0:
		add("load.rate", "%v: want a positive number of requests per second", l.Rate)
	case l.Rate > MaxLoadRate:
		add("load.rate", "%v requests per second is more than one machine sends: at most %v", l.Rate, MaxLoadRate)
	}
	probes := len(l.Probes)
	if k.Disabled {
		probes = 0
		if len(l.Targets) == 0 {
			// Located at load.targets, or where the canary was disabled.
			e := src.errorf("load.targets", "the canary is disabled (canary.disabled): name the applications to load")
			if e.Line == 0 && !strings.HasPrefix(e.File, "--set ") {
				e.Line = lineOf(src.root, "canary.disabled")
			}
			errs = append(errs, e)
		}
	}
	seen := map[string]bool{}
	for i, pr := range l.Probes {
		if !oneOf(pr, Probes()) {
			add(fmt.Sprintf("load.probes[%d]", i), "unknown probe kind %q; known: %s", pr, strings.Join(Probes(), ", "))
		} else if seen[pr] {
			add(fmt.Sprintf("load.probes[%d]", i), "%q given twice", pr)
		}
		seen[pr] = true
	}
	switch {
	case k.Disabled:
	case len(l.Probes) == 0:
		add("load.probes", "at least one probe kind (reuse, fresh)")
	case len(l.Targets) == 0 && l.Rate > 0 && l.Rate <= MaxLoadRate && l.Rate/float64(len(l.Probes)) < 1:
		add("load.rate", "%v/s over %d probe kinds is below 1/s each", l.Rate, len(l.Probes))
	}
	s.validateTargets(add, probes)
	s.validatePools(src, add)
	s.validateLedger(add)
	s.validateGenerators(add)
	s.validateWorkloads(src, add)
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
	}{{DriverKubeadm, u.Kubeadm != nil}, {DriverReplace, u.Replace != nil}, {DriverBlueGreen, u.BlueGreen != nil}, {DriverExec, u.Exec != nil}} {
		if d.set && d.name != u.Driver && present(src, "upgrade."+d.name) {
			add("upgrade."+d.name, "settings for driver %s, but the driver is %s", d.name, u.Driver)
		}
	}
	if u.Driver == DriverNone {
		if len(u.Faults) == 0 {
			add("upgrade.driver", "none upgrades nothing: a drill without an upgrade needs upgrade.faults")
		}
		if u.Target != c.KubernetesVersion && c.Provider == ProviderKind {
			add("upgrade.target", "%s: the none driver upgrades nothing, so the target is the cluster's version %s (leave it out)", u.Target, c.KubernetesVersion)
		}
	} else if len(u.Targets) > 0 {
		s.validateHops(add, cur, curErr)
	} else if u.Driver != DriverExec || u.Target != "" {
		target, err := kversion.Parse(u.Target)
		switch {
		case err != nil:
			add("upgrade.target", "%v", err)
		case c.Provider == ProviderKind && curErr == nil:
			if err := kversion.CheckUpgrade(cur, target); err != nil {
				hint := ""
				if strings.Contains(err.Error(), "one minor at a time") {
					hint = "; or give every hop in upgrade.targets (one minor each)"
				}
				add("upgrade.target", "%v%s", err, hint)
			}
		}
	}
	switch {
	case u.AbortAfter < 0:
		add("upgrade.abortAfter", "%d: want a number of workers, or 0 to run the upgrade to its end", u.AbortAfter)
	case u.AbortAfter > 0 && u.Driver != DriverKubeadm && u.Driver != DriverReplace:
		add("upgrade.abortAfter", "the %s driver cannot stop after a number of workers: only kubeadm and replace can", u.Driver)
	case u.AbortAfter > 0 && c.Provider == ProviderKind && u.AbortAfter >= c.Workers:
		add("upgrade.abortAfter", "%d: the cluster has %d workers, so the upgrade would end before it could be aborted", u.AbortAfter, c.Workers)
	}
	s.validateFaults(add)
	if u.Revert && u.Driver != DriverReplace && u.Driver != DriverKubeadm {
		add("upgrade.revert", "the %s driver cannot revert: only kubeadm (it puts back the workers' kubelets) and replace (it replaces the upgraded workers with nodes at the original version) can", u.Driver)
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
		} else if u.Kubeadm.MaxUnavailable > MaxNodes {
			add("upgrade.kubeadm.maxUnavailable", "%d is more than the %d nodes a throwaway cluster holds", u.Kubeadm.MaxUnavailable, MaxNodes)
		}
		if u.Kubeadm.DrainTimeout.Duration <= 0 {
			add("upgrade.kubeadm.drainTimeout", "must be positive")
		}
	case DriverReplace:
		r := u.Replace
		if c.Provider != ProviderKind {
			add("upgrade.driver", "replace makes new nodes with kind's node images: the cluster provider must be kind")
			break
		}
		switch {
		case r.MaxSurge < 0:
			add("upgrade.replace.maxSurge", "%d: want 0 or more", r.MaxSurge)
		case c.Workers > 0 && r.MaxSurge > c.Workers:
			add("upgrade.replace.maxSurge", "%d is more than the %d workers", r.MaxSurge, c.Workers)
		case c.ControlPlanes+c.Workers+r.MaxSurge > MaxNodes:
			add("upgrade.replace.maxSurge", "%d: the cluster would hold %d nodes during the surge, more than the %d a throwaway cluster holds", r.MaxSurge, c.ControlPlanes+c.Workers+r.MaxSurge, MaxNodes)
		}
		switch {
		case r.MaxUnavailable < 0:
			add("upgrade.replace.maxUnavailable", "%d: want 0 or more", r.MaxUnavailable)
		case r.MaxSurge == 0 && r.MaxUnavailable == 0:
			add("upgrade.replace.maxUnavailable", "0 with maxSurge 0: no node could ever be replaced")
		case c.Workers > 0 && r.MaxSurge+r.MaxUnavailable > c.Workers:
			add("upgrade.replace.maxUnavailable", "%d with maxSurge %d is more than the %d workers", r.MaxUnavailable, r.MaxSurge, c.Workers)
		}
		if c.Workers == 0 {
			add("cluster.workers", "0: the replace driver replaces workers; give the cluster at least one")
		}
		if r.NodeInterval.Duration < 0 {
			add("upgrade.replace.nodeInterval", "must not be negative")
		}
		if r.Soak.Duration < 0 {
			add("upgrade.replace.soak", "must not be negative")
		}
		if r.DrainTimeout.Duration <= 0 {
			add("upgrade.replace.drainTimeout", "must be positive")
		}
		if !oneOf(r.Undrainable, []string{UndrainableFail, UndrainableCordon}) {
			add("upgrade.replace.undrainable", "%q: want %s or %s", r.Undrainable, UndrainableFail, UndrainableCordon)
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
	} else if isFileRef(cl) && src.file != "" && !src.recorded {
		if _, err := os.Stat(resolveAgainst(src.file, cl)); err != nil {
			add("checks.checklist", "checklist file %s: %v", cl, err)
		}
	}
	s.Checks.Judge.validate(add)
	if s.Output.Dir == "" {
		add("output.dir", "empty: name the folder that run folders go in")
	}
	return errs
}

// validate keeps the judge's thresholds within what a threshold can mean;
// the judge itself checks them again when a rehearsal loads the scenario.
func (j Judge) validate(add func(path, format string, args ...any)) {
	switch {
	case j.MinSamples < 0:
		add("checks.judge.minSamples", "%d is negative", j.MinSamples)
	case j.MinSamples > MaxMinSamples:
		add("checks.judge.minSamples", "%d is more requests than a phase sends (at most %d: %v/s for %s)", j.MinSamples, MaxMinSamples, MaxLoadRate, MaxDuration)
	}
	if e := j.MaxErrorRateIncrease; e != nil && (*e < 0 || *e > 1) {
		add("checks.judge.maxErrorRateIncrease", "%v is not a fraction between 0 and 1", *e)
	}
	switch r := j.MaxP99Ratio; {
	case r < 0 || (r > 0 && r < 1):
		add("checks.judge.maxP99Ratio", "%v must be at least 1", r)
	case r > MaxP99Ratio:
		add("checks.judge.maxP99Ratio", "%v is above %v: a p99 that much worse is an outage, not a threshold", r, MaxP99Ratio)
	}
	if a := j.Alpha; a < 0 || a >= 1 {
		add("checks.judge.alpha", "%v is not between 0 and 1", a)
	}
}

// validateHops checks upgrade.targets: each hop a legal kubeadm upgrade of
// the one before (one minor at a time), the first of the cluster's
// version, the last equal to upgrade.target; only the in-place drivers go
// hop by hop, and an upgrade of several hops is neither aborted nor
// reverted.
func (s *Scenario) validateHops(add func(path, format string, args ...any), cur kversion.Version, curErr error) {
	u, c := s.Upgrade, s.Cluster
	if u.Driver != DriverKubeadm && u.Driver != DriverReplace {
		add("upgrade.targets", "the %s driver upgrades in one step: only kubeadm and replace go hop by hop", u.Driver)
		return
	}
	prev, prevOK := cur, curErr == nil && c.Provider == ProviderKind
	for i, t := range u.Targets {
		at := "upgrade.targets[" + strconv.Itoa(i) + "]"
		v, err := kversion.Parse(t)
		if err != nil {
			add(at, "%v", err)
			prevOK = false
			continue
		}
		if prevOK {
			if err := kversion.CheckUpgrade(prev, v); err != nil {
				add(at, "%v", err)
			}
		}
		prev, prevOK = v, true
	}
	if last := u.Targets[len(u.Targets)-1]; u.Target != last {
		add("upgrade.target", "%s, but upgrade.targets ends at %s: give the last hop as the target, or leave target out", u.Target, last)
	}
	if u.AbortAfter > 0 {
		add("upgrade.abortAfter", "an upgrade of %d hops is not aborted halfway: give one target", len(u.Targets))
	}
	if u.Revert {
		add("upgrade.revert", "an upgrade of %d hops is not reverted: give one target", len(u.Targets))
	}
}

// validatePDB checks a PodDisruptionBudget's settings at field.
func validatePDB(field string, p PDB, add func(path, format string, args ...any)) {
	switch {
	case p.Disabled && (p.MaxUnavailable != nil || p.MinAvailable != nil):
		add(field, "disabled together with a budget: choose one")
	case p.MaxUnavailable != nil && p.MinAvailable != nil:
		add(field, "maxUnavailable and minAvailable together: a PodDisruptionBudget takes one")
	case p.MaxUnavailable != nil && *p.MaxUnavailable < 0:
		add(field+".maxUnavailable", "%d is negative", *p.MaxUnavailable)
	case p.MaxUnavailable != nil && *p.MaxUnavailable > MaxInt32:
		add(field+".maxUnavailable", "%d overflows the PodDisruptionBudget's maxUnavailable (at most %d)", *p.MaxUnavailable, MaxInt32)
	case p.MinAvailable != nil && *p.MinAvailable < 0:
		add(field+".minAvailable", "%d is negative", *p.MinAvailable)
	case p.MinAvailable != nil && *p.MinAvailable > MaxInt32:
		add(field+".minAvailable", "%d overflows the PodDisruptionBudget's minAvailable (at most %d)", *p.MinAvailable, MaxInt32)
	}
}
