package profile

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/rehearse/rehearse/rehearse/kube"
	"github.com/rehearse/rehearse/rehearse/kversion"
	"github.com/rehearse/rehearse/scenarios"
)

// Profile is what was found.
type Profile struct {
	ServerVersion string `json:"serverVersion"`
	// KubernetesVersion is ServerVersion reduced to vMAJOR.MINOR.PATCH.
	KubernetesVersion string `json:"kubernetesVersion"`
	ControlPlanes     int    `json:"controlPlanes"`
	Workers           int    `json:"workers"`
	CNI               string `json:"cni"`
	PodSubnet         string `json:"podSubnet"`
	ServiceSubnet     string `json:"serviceSubnet"`
	KubeProxyMode     string `json:"kubeProxyMode"`
	DNS               string `json:"dns"`
	Flavor            string `json:"flavor"`
	// PoolLabel is the node label whose value names a worker's node group
	// (e.g. eks.amazonaws.com/nodegroup); empty when no worker carries one.
	PoolLabel string `json:"poolLabel,omitempty"`
	// Pools are the workers grouped by PoolLabel, with production's worker
	// counts and the labels and taints all of a pool's nodes share.
	Pools []scenarios.Pool `json:"pools,omitempty"`
	// Sources says where each value came from.
	Sources map[string]string `json:"sources"`
	// Workloads are the user's Deployments, StatefulSets and DaemonSets
	// outside the system namespaces, with the budgets that guard them.
	Workloads []Workload `json:"workloads"`
	// Findings are pre-flight problems for an upgrade of this cluster.
	Findings []Finding `json:"findings"`
	// Notes say what could not be read or reproduced.
	Notes []string `json:"notes"`
}

// Finding is one pre-flight problem.
type Finding struct {
	Kind    string `json:"kind"`
	Object  string `json:"object"`
	Message string `json:"message"`
}

// Finding kinds.
const (
	FindingBlockingPDB      = "blocking-pdb"
	FindingSingleReplicaPDB = "single-replica-behind-pdb"
	FindingDeprecatedAPI    = "deprecated-api"
)

// Discover reads the cluster through client. It only gets, lists and reads
// the apiserver's metrics; give it a client made with kube.ReadOnly to make
// that a guarantee.
func Discover(ctx context.Context, client kubernetes.Interface) (*Profile, error) {
	p := &Profile{Sources: map[string]string{}}
	v, err := kube.ServerVersion(ctx, client)
	if err != nil {
		return nil, err
	}
	p.ServerVersion = v.GitVersion
	p.KubernetesVersion = normalizeVersion(v.GitVersion)
	p.Sources["kubernetesVersion"] = "server version " + v.GitVersion

	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var podCIDRs []string
	for _, n := range nodes.Items {
		if isControlPlane(&n) {
			p.ControlPlanes++
		} else {
			p.Workers++
		}
		podCIDRs = append(podCIDRs, n.Spec.PodCIDRs...)
		if len(n.Spec.PodCIDRs) == 0 && n.Spec.PodCIDR != "" {
			podCIDRs = append(podCIDRs, n.Spec.PodCIDR)
		}
	}
	p.Sources["nodes"] = fmt.Sprintf("%d nodes: %d control-plane, %d workers (node-role labels)", len(nodes.Items), p.ControlPlanes, p.Workers)
	p.readPools(nodes.Items)

	sys, err := client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list kube-system pods: %w", err)
	}
	dss, err := client.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list daemonsets: %w", err)
	}
	deps, err := client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}

	p.CNI, p.Sources["cni"] = detectCNI(dss.Items)
	p.DNS, p.Sources["dns"] = detectDNS(deps.Items)
	p.Flavor, p.Sources["flavor"] = detectFlavor(nodes.Items, dss.Items, deps.Items)

	args := staticPodArgs(sys.Items)
	p.PodSubnet, p.Sources["podSubnet"] = firstOf(
		pick(args["kube-controller-manager"]["cluster-cidr"], "kube-controller-manager --cluster-cidr"),
		pick(kubeProxyConfig(ctx, client)["clusterCIDR"], "kube-proxy configuration clusterCIDR"),
		pick(flannelNetwork(ctx, client), "flannel net-conf.json Network"),
		pick(supernet(podCIDRs), "the nodes' pod CIDRs"),
	)
	p.ServiceSubnet, p.Sources["serviceSubnet"] = firstOf(
		pick(args["kube-apiserver"]["service-cluster-ip-range"], "kube-apiserver --service-cluster-ip-range"),
		pick(serviceCIDRObject(ctx, client), "ServiceCIDR kubernetes"),
		pick(guessServiceSubnet(ctx, client), "guessed from the kubernetes Service's ClusterIP"),
	)
	if strings.HasPrefix(p.Sources["serviceSubnet"], "guessed") {
		p.Notes = append(p.Notes, "service subnet "+p.ServiceSubnet+" is a guess from the kubernetes Service's address (the API server's flags are not visible)")
	}
	p.KubeProxyMode, p.Sources["kubeProxyMode"] = proxyMode(ctx, client, dss.Items)

	var budgets []policyv1.PodDisruptionBudget
	pdbs, pdbErr := client.PolicyV1().PodDisruptionBudgets("").List(ctx, metav1.ListOptions{})
	if pdbErr != nil {
		p.Findings = append(p.Findings, Finding{Kind: FindingBlockingPDB, Object: "PodDisruptionBudgets", Message: "could not list PodDisruptionBudgets: " + pdbErr.Error()})
		p.Notes = append(p.Notes, "workloads: the PodDisruptionBudgets that guard them are not known (they could not be listed)")
	} else {
		budgets = pdbs.Items
		p.Findings = append(p.Findings, pdbFindings(budgets, deps.Items)...)
	}
	var sts []appsv1.StatefulSet
	if list, err := client.AppsV1().StatefulSets("").List(ctx, metav1.ListOptions{}); err != nil {
		p.Notes = append(p.Notes, "workloads: StatefulSets could not be listed: "+firstLine(err.Error()))
	} else {
		sts = list.Items
	}
	p.Workloads = userWorkloads(workloadInput{
		deployments: deps.Items, statefulSets: sts, daemonSets: dss.Items,
		budgets: budgets, budgetsKnown: pdbErr == nil,
		system: systemNamespaces(dss.Items),
	})
	dep, note := deprecatedAPIs(ctx, client)
	p.Findings = append(p.Findings, dep...)
	if note != "" {
		p.Notes = append(p.Notes, note)
	}
	for _, f := range []struct{ name, val string }{{"pod subnet", p.PodSubnet}, {"service subnet", p.ServiceSubnet}} {
		if f.val == "" {
			p.Notes = append(p.Notes, f.name+" could not be read; the scenario keeps the default")
		}
	}
	return p, nil
}

// normalizeVersion is the release a reported version is built from
// (v1.35.4 for v1.35.4-eks-5e0fdde); an unreadable one is kept as it is.
func normalizeVersion(v string) string {
	r, err := kversion.ParseReported(v)
	if err != nil {
		return v
	}
	return r.String()
}

func isControlPlane(n *corev1.Node) bool {
	for _, l := range []string{"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"} {
		if _, ok := n.Labels[l]; ok {
			return true
		}
	}
	return false
}

type choice struct{ val, src string }

func pick(val, src string) choice { return choice{val, src} }

func firstOf(cs ...choice) (string, string) {
	for _, c := range cs {
		if c.val != "" {
			return c.val, c.src
		}
	}
	return "", "not found"
}

// cniDaemonSet is a DaemonSet name fragment that names a CNI.
type cniDaemonSet struct{ match, cni string }

// knownCNIs lists the CNIs found by their DaemonSets, most specific first.
func knownCNIs() []cniDaemonSet {
	return []cniDaemonSet{
		{"canal", "canal"}, {"calico-node", "calico"}, {"cilium", "cilium"}, {"kube-flannel", "flannel"},
		{"flannel", "flannel"}, {"weave-net", "weave"}, {"kindnet", "kindnet"}, {"aws-node", "aws-vpc-cni"},
		{"kube-router", "kube-router"}, {"antrea-agent", "antrea"}, {"netd", "gke-netd"},
	}
}

// detectCNI names the CNI from the DaemonSets that run it.
func detectCNI(dss []appsv1.DaemonSet) (string, string) {
	for _, k := range knownCNIs() {
		for _, ds := range dss {
			if strings.Contains(ds.Name, k.match) {
				return k.cni, fmt.Sprintf("DaemonSet %s/%s", ds.Namespace, ds.Name)
			}
		}
	}
	return "unknown", "no known CNI DaemonSet"
}

func detectDNS(deps []appsv1.Deployment) (string, string) {
	for _, d := range deps {
		if d.Namespace == "kube-system" && d.Name == "coredns" {
			return "coredns", "Deployment kube-system/coredns"
		}
	}
	for _, d := range deps {
		if d.Namespace == "kube-system" && d.Name == "kube-dns" {
			for _, c := range d.Spec.Template.Spec.Containers {
				if strings.Contains(c.Image, "coredns") {
					return "coredns", "Deployment kube-system/kube-dns runs coredns"
				}
			}
			return "kube-dns", "Deployment kube-system/kube-dns"
		}
	}
	return "unknown", "no DNS Deployment in kube-system"
}

func detectFlavor(nodes []corev1.Node, dss []appsv1.DaemonSet, deps []appsv1.Deployment) (string, string) {
	for _, d := range deps {
		if d.Namespace == "kube-system" && d.Name == "dns-controller" {
			return "kops", "Deployment kube-system/dns-controller"
		}
	}
	for _, n := range nodes {
		if _, ok := n.Labels["kops.k8s.io/instancegroup"]; ok {
			return "kops", "node label kops.k8s.io/instancegroup"
		}
		if _, ok := n.Labels["eks.amazonaws.com/nodegroup"]; ok {
			return "eks", "node label eks.amazonaws.com/nodegroup"
		}
		if _, ok := n.Labels["cloud.google.com/gke-nodepool"]; ok {
			return "gke", "node label cloud.google.com/gke-nodepool"
		}
		if strings.HasPrefix(n.Spec.ProviderID, "kind://") {
			return "kind", "node providerID kind://"
		}
	}
	for _, ds := range dss {
		if ds.Name == "aws-node" {
			return "eks", "DaemonSet aws-node"
		}
	}
	return "kind", "no cloud markers: the generic kind checklist"
}

// staticPodArgs collects --flag=value arguments of control-plane static pods
// by component.
func staticPodArgs(pods []corev1.Pod) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, p := range pods {
		comp := p.Labels["component"]
		if comp == "" {
			continue
		}
		if out[comp] == nil {
			out[comp] = map[string]string{}
		}
		for _, c := range p.Spec.Containers {
			for _, a := range append(append([]string{}, c.Command...), c.Args...) {
				if k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "="); ok && strings.HasPrefix(a, "--") {
					out[comp][k] = v
				}
			}
		}
	}
	return out
}

func kubeProxyConfig(ctx context.Context, client kubernetes.Interface) map[string]string {
	out := map[string]string{}
	cm, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-proxy", metav1.GetOptions{})
	if err != nil {
		return out
	}
	var conf struct {
		Mode        string `json:"mode"`
		ClusterCIDR string `json:"clusterCIDR"`
	}
	for _, key := range []string{"config.conf", "config"} {
		if s, ok := cm.Data[key]; ok && yaml.Unmarshal([]byte(s), &conf) == nil {
			out["mode"], out["clusterCIDR"] = conf.Mode, conf.ClusterCIDR
			out["found"] = "yes"
			return out
		}
	}
	return out
}

func proxyMode(ctx context.Context, client kubernetes.Interface, dss []appsv1.DaemonSet) (string, string) {
	if kp := kubeProxyConfig(ctx, client); kp["found"] != "" {
		if kp["mode"] == "" {
			return "iptables", "kube-proxy configuration (mode empty: iptables)"
		}
		return kp["mode"], "kube-proxy configuration mode"
	}
	for _, ds := range dss {
		if ds.Namespace != "kube-system" || !strings.Contains(ds.Name, "kube-proxy") {
			continue
		}
		for _, c := range ds.Spec.Template.Spec.Containers {
			for _, a := range append(append([]string{}, c.Command...), c.Args...) {
				if v, ok := strings.CutPrefix(a, "--proxy-mode="); ok {
					return v, "kube-proxy --proxy-mode"
				}
			}
		}
		return "iptables", "kube-proxy DaemonSet without a mode (iptables)"
	}
	return "iptables", "no kube-proxy found (a CNI may replace it); iptables assumed"
}

func flannelNetwork(ctx context.Context, client kubernetes.Interface) string {
	for _, ns := range []string{"kube-flannel", "kube-system"} {
		cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "kube-flannel-cfg", metav1.GetOptions{})
		if err != nil {
			continue
		}
		var conf struct{ Network string }
		if json.Unmarshal([]byte(cm.Data["net-conf.json"]), &conf) == nil && conf.Network != "" {
			return conf.Network
		}
	}
	return ""
}

// supernet is the smallest prefix holding every given prefix.
func supernet(cidrs []string) string {
	var ps []netip.Prefix
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Addr().Is4() {
			ps = append(ps, p.Masked())
		}
	}
	if len(ps) == 0 {
		return ""
	}
	bits := ps[0].Bits()
	for {
		cand, _ := ps[0].Addr().Prefix(bits)
		all := true
		for _, p := range ps {
			if !cand.Contains(p.Addr()) || p.Bits() < bits {
				all = false
				break
			}
		}
		if all {
			// A /24 per node is usually carved from a /16: do not claim less.
			if cand.Bits() > 16 {
				cand, _ = cand.Addr().Prefix(16)
			}
			return cand.String()
		}
		bits--
		if bits < 8 {
			return ""
		}
	}
}

func serviceCIDRObject(ctx context.Context, client kubernetes.Interface) string {
	sc, err := client.NetworkingV1().ServiceCIDRs().Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil || len(sc.Spec.CIDRs) == 0 {
		return ""
	}
	return sc.Spec.CIDRs[0]
}

func guessServiceSubnet(ctx context.Context, client kubernetes.Interface) string {
	svc, err := client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		return ""
	}
	a, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || !a.Is4() {
		return ""
	}
	p, _ := a.Prefix(16)
	return p.String()
}

func pdbFindings(pdbs []policyv1.PodDisruptionBudget, deps []appsv1.Deployment) []Finding {
	var out []Finding
	for _, pdb := range pdbs {
		obj := pdb.Namespace + "/" + pdb.Name
		if pdb.Status.DisruptionsAllowed == 0 && pdb.Status.ExpectedPods > 0 {
			out = append(out, Finding{Kind: FindingBlockingPDB, Object: "PodDisruptionBudget " + obj,
				Message: fmt.Sprintf("allows 0 disruptions (%d of %d pods healthy, %d needed): draining a node that runs one of its pods will block", pdb.Status.CurrentHealthy, pdb.Status.ExpectedPods, pdb.Status.DesiredHealthy)})
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			continue
		}
		for _, d := range deps {
			if d.Namespace != pdb.Namespace || d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
				continue
			}
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				out = append(out, Finding{Kind: FindingSingleReplicaPDB, Object: "Deployment " + d.Namespace + "/" + d.Name,
					Message: "runs 1 replica behind PodDisruptionBudget " + obj + ": its node cannot be drained without an outage or a blocked drain"})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Object < out[j].Object })
	return out
}

var deprecatedRE = regexp.MustCompile(`^apiserver_requested_deprecated_apis\{(.*)\}\s+1`)

// deprecatedAPIs reads the apiserver's own report of deprecated APIs that
// were requested (the apiserver_requested_deprecated_apis metric).
func deprecatedAPIs(ctx context.Context, client kubernetes.Interface) ([]Finding, string) {
	rc := client.Discovery().RESTClient()
	if rc == nil {
		return nil, "deprecated APIs in use: not known (no REST access to the API server's /metrics)"
	}
	raw, err := rc.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, "deprecated APIs in use: not known (the API server's /metrics could not be read: " + firstLine(err.Error()) + ")"
	}
	var out []Finding
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := deprecatedRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		l := parseLabels(m[1])
		gv := l["group"] + "/" + l["version"]
		if l["group"] == "" {
			gv = l["version"]
		}
		msg := fmt.Sprintf("%s %s was requested", gv, l["resource"])
		if r := l["removed_release"]; r != "" {
			msg += "; removed in " + r
		}
		out = append(out, Finding{Kind: FindingDeprecatedAPI, Object: gv + " " + l["resource"], Message: msg})
	}
	return out, ""
}

func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			out[strings.TrimSpace(k)] = strings.Trim(v, `"`)
		}
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// Scenario turns a profile into a scenario that reproduces the cluster's
// shape on kind, saying in its notes what it could not reproduce.
func (p *Profile) Scenario(name string) *scenarios.Scenario {
	s := scenarios.Defaults()
	s.Metadata = scenarios.Metadata{Name: name, Description: "Reproduces the shape of a profiled cluster (server " + p.ServerVersion + ")."}
	s.Cluster.KubernetesVersion = p.KubernetesVersion
	if v, err := kversion.Parse(p.KubernetesVersion); err == nil {
		s.Upgrade.Target = v.NextMinor().String()
		s.Notes = append(s.Notes, "upgrade.target is the next minor's first release: set the version you plan to upgrade to")
	}
	s.Cluster.ControlPlanes = max(p.ControlPlanes, 1)
	if p.ControlPlanes == 0 {
		s.Notes = append(s.Notes, "no control-plane nodes are visible (a managed control plane): the kind cluster gets one")
	}
	if p.ControlPlanes > 1 {
		s.Notes = append(s.Notes, fmt.Sprintf("%d control-plane nodes are reproduced; kind puts a load balancer in front of them", p.ControlPlanes))
	}
	s.Cluster.Workers = p.Workers
	if len(p.Pools) > 0 {
		var notes []string
		s.Cluster.Pools, s.Cluster.Workers, notes = p.scenarioPools(scenarios.MaxNodes - s.Cluster.ControlPlanes)
		s.Notes = append(s.Notes, notes...)
	} else if s.Cluster.ControlPlanes+s.Cluster.Workers > 10 {
		s.Cluster.Workers = 10 - s.Cluster.ControlPlanes
		s.Notes = append(s.Notes, fmt.Sprintf("%d workers scaled down to %d for one machine", p.Workers, s.Cluster.Workers))
	}
	switch p.CNI {
	case "flannel", "calico":
		s.Cluster.CNI = p.CNI
	case "kindnet":
		s.Cluster.CNI = "flannel"
		s.Notes = append(s.Notes, "CNI kindnet: node images built from source carry no kindnetd, so flannel stands in for it; set cluster.cni: kindnet where kind's published node images can be pulled")
	default:
		s.Cluster.CNI = "flannel"
		s.Notes = append(s.Notes, "CNI "+p.CNI+" cannot be reproduced offline: flannel stands in for it")
	}
	if p.PodSubnet != "" {
		s.Cluster.Networking.PodSubnet = p.PodSubnet
	}
	if p.ServiceSubnet != "" {
		s.Cluster.Networking.ServiceSubnet = p.ServiceSubnet
	}
	s.Cluster.Networking.KubeProxyMode = p.KubeProxyMode
	if p.KubeProxyMode == "ipvs" {
		s.Notes = append(s.Notes, "kube-proxy mode ipvs needs the IP_VS kernel module; where it is absent the rehearsal fails at create: use iptables there")
	}
	s.Cluster.Networking.DNS = p.DNS
	switch p.Flavor {
	case "kind", "kops", "eks", "gke":
		s.Checks.Checklist = "kind"
		if p.Flavor != "kind" {
			s.Notes = append(s.Notes, "production runs the "+p.Flavor+" checklist; the kind rehearsal checks kind's components (use checklist "+p.Flavor+" against the real cluster)")
		}
	}
	for _, f := range p.Findings {
		s.Notes = append(s.Notes, "finding: "+f.Kind+": "+f.Object+": "+f.Message)
	}
	s.Notes = append(s.Notes, p.Notes...)
	return s
}
