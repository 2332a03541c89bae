package cluster

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	"github.com/rehearse/rehearse/rehearse/kversion"
)

// Names shared with the node-image builder and with kind.
const (
	// ImageLabel carries the Kubernetes version of a rehearse node image;
	// node containers inherit it from their image.
	ImageLabel = "io.rehearse.kubernetes"
	// DefaultImageRepository is where the node-image builder puts its images.
	DefaultImageRepository = "localhost/rehearse/node"
	// KindClusterLabel is kind's label on every node container: the
	// cluster's name.
	KindClusterLabel = "io.x-k8s.kind.cluster"
	// KindRoleLabel is kind's label on every node container: its role.
	KindRoleLabel = "io.x-k8s.kind.role"
	// FlannelManifest is the flannel manifest inside a rehearse node image.
	FlannelManifest = "/kind/manifests/flannel.yaml"
	// FlannelDefaultNetwork is the pod network flannel's manifest names.
	FlannelDefaultNetwork = "10.244.0.0/16"
)

// NodeImage is the default node image for a Kubernetes version.
func NodeImage(kubernetes string) string { return DefaultImageRepository + ":" + kubernetes }

// CNI plugins a cluster can start with.
const (
	CNICalico  = "calico"
	CNIFlannel = "flannel"
	CNIKindnet = "kindnet"
	CNINone    = "none"
)

// CNINames lists the CNI choices, sorted.
func CNINames() []string { return []string{CNICalico, CNIFlannel, CNIKindnet, CNINone} }

// ProxyModeNames lists kube-proxy's modes, sorted.
func ProxyModeNames() []string {
	return []string{string(v1alpha4.IPTablesProxyMode), string(v1alpha4.IPVSProxyMode), string(v1alpha4.NFTablesProxyMode)}
}

// Defaults of a cluster spec.
const (
	DefaultControlPlanes = 1
	DefaultWorkers       = 2
	DefaultCNI           = CNIFlannel
)

// Spec describes a cluster to create.
type Spec struct {
	Name       string
	Kubernetes string
	// Image is the node image; empty means NodeImage(Kubernetes).
	Image         string
	ControlPlanes int
	Workers       int
	CNI           string
	PodSubnet     string
	ServiceSubnet string
	// KubeProxyMode is iptables, ipvs or nftables; empty is kind's default.
	KubeProxyMode string
	// Pools split the workers into named groups, in order: kind names the
	// workers -worker, -worker2, ... and the first pool takes the first
	// ones. Their workers must add up to Workers.
	Pools []Pool
}

// PoolLabel is the label each node of a pool carries, valued its name.
const PoolLabel = "rehearse.io/pool"

// Pool is a named group of workers with labels and taints.
type Pool struct {
	Name    string
	Workers int
	Labels  map[string]string
	Taints  []corev1.Taint
}

// HostFacts are what the cluster's configuration depends on in the host.
type HostFacts struct {
	CgroupV1 bool
	IPVS     bool
}

// FactsOf reads the host's facts.
func FactsOf(h Host) HostFacts {
	return HostFacts{CgroupV1: !CgroupV2(h), IPVS: KernelHasIPVS(h)}
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// isNodeImageVersion tells whether v can tag a node image: a release or a
// pre-release (v1.36.0-rc.1), with no build suffix ('+' is not allowed in
// an image tag).
func isNodeImageVersion(v string) bool {
	k, err := kversion.ParseSemantic(v)
	return err == nil && k.BuildMetadata() == ""
}

// ContainerLogMaxSize is the size at which the kubelets of the clusters
// rehearse makes rotate a container's log (the kubelet's default is
// 10Mi). An in-cluster load generator writes its results to its log, about
// 40 KB/s at 100/s; the kubelet serves only the newest file, so a rotation
// while rehearse's stream of that log is cut (the apiserver restarting)
// would lose what the rotated file holds after the cut. At this size a
// generator at 100/s rotates every 40 minutes or so.
const ContainerLogMaxSize = "100Mi"

// kubeletPatch is the kubelets' configuration: the container log
// rotation size and, on a cgroup v1 host, what lets kubelet 1.35+ run
// there.
func kubeletPatch(cgroupV1 bool) string {
	p := "kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\ncontainerLogMaxSize: " + ContainerLogMaxSize + "\n"
	if cgroupV1 {
		p += "failCgroupV1: false\n"
	}
	return p
}

// Validate checks the spec on its own.
func (s Spec) Validate() error {
	if !nameRE.MatchString(s.Name) || len(s.Name) > 50 {
		return fmt.Errorf("cluster name %q: want lower-case letters, digits and '-', at most 50", s.Name)
	}
	if s.Image == "" && !isNodeImageVersion(s.Kubernetes) {
		return fmt.Errorf("kubernetes version %q: want vMAJOR.MINOR.PATCH (or give --image)", s.Kubernetes)
	}
	if s.ControlPlanes < 1 {
		return fmt.Errorf("control planes: want at least 1, got %d", s.ControlPlanes)
	}
	if s.Workers < 0 {
		return fmt.Errorf("workers: want 0 or more, got %d", s.Workers)
	}
	if !contains(CNINames(), s.CNI) {
		return fmt.Errorf("unknown CNI %q; known: %s", s.CNI, strings.Join(CNINames(), ", "))
	}
	if s.KubeProxyMode != "" && !contains(ProxyModeNames(), s.KubeProxyMode) {
		return fmt.Errorf("unknown kube-proxy mode %q; known: %s", s.KubeProxyMode, strings.Join(ProxyModeNames(), ", "))
	}
	for flag, cidr := range map[string]string{"pod subnet": s.PodSubnet, "service subnet": s.ServiceSubnet} {
		if cidr == "" {
			continue
		}
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			return fmt.Errorf("%s %q: not a CIDR", flag, cidr)
		}
	}
	if len(s.Pools) > 0 {
		sum := 0
		for _, p := range s.Pools {
			if p.Workers < 1 {
				return fmt.Errorf("pool %s: want at least 1 worker, got %d", p.Name, p.Workers)
			}
			sum += p.Workers
		}
		if sum != s.Workers {
			return fmt.Errorf("pools hold %d workers, but the cluster has %d", sum, s.Workers)
		}
	}
	if s.PodSubnet != "" && s.ServiceSubnet != "" {
		_, a, _ := net.ParseCIDR(s.PodSubnet)
		_, b, _ := net.ParseCIDR(s.ServiceSubnet)
		if a.Contains(b.IP) || b.Contains(a.IP) {
			return fmt.Errorf("pod subnet %s and service subnet %s overlap", s.PodSubnet, s.ServiceSubnet)
		}
	}
	return nil
}

// NodeImageRef is the node image the spec runs.
func (s Spec) NodeImageRef() string {
	if s.Image != "" {
		return s.Image
	}
	return NodeImage(s.Kubernetes)
}

// KindConfig turns a spec into kind's cluster configuration for this host.
func KindConfig(s Spec, facts HostFacts) (*v1alpha4.Cluster, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.KubeProxyMode == string(v1alpha4.IPVSProxyMode) && !facts.IPVS {
		return nil, fmt.Errorf("kube-proxy mode ipvs needs IP_VS in the host's kernel, which this kernel lacks; use iptables or nftables")
	}
	cfg := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     s.Name,
	}
	image := s.NodeImageRef()
	for i := 0; i < s.ControlPlanes; i++ {
		cfg.Nodes = append(cfg.Nodes, v1alpha4.Node{Role: v1alpha4.ControlPlaneRole, Image: image})
	}
	if len(s.Pools) == 0 {
		for i := 0; i < s.Workers; i++ {
			cfg.Nodes = append(cfg.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole, Image: image})
		}
	}
	for _, p := range s.Pools {
		labels := map[string]string{PoolLabel: p.Name}
		for k, v := range p.Labels {
			labels[k] = v
		}
		var patches []string
		if len(p.Taints) > 0 {
			patch, err := joinTaintsPatch(p.Taints)
			if err != nil {
				return nil, fmt.Errorf("pool %s: %w", p.Name, err)
			}
			patches = append(patches, patch)
		}
		for i := 0; i < p.Workers; i++ {
			cfg.Nodes = append(cfg.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole, Image: image, Labels: labels, KubeadmConfigPatches: patches})
		}
	}
	cfg.Networking.PodSubnet = s.PodSubnet
	cfg.Networking.ServiceSubnet = s.ServiceSubnet
	cfg.Networking.KubeProxyMode = v1alpha4.ProxyMode(s.KubeProxyMode)
	cfg.Networking.DisableDefaultCNI = s.CNI != CNIKindnet
	cfg.KubeadmConfigPatches = append(cfg.KubeadmConfigPatches, kubeletPatch(facts.CgroupV1))
	return cfg, nil
}

// joinTaintsPatch is the kubeadm JoinConfiguration patch that registers a
// node with taints (kind's node labels go through the kubelet; taints
// through kubeadm's nodeRegistration).
func joinTaintsPatch(taints []corev1.Taint) (string, error) {
	type nodeRegistration struct {
		Taints []corev1.Taint `json:"taints"`
	}
	patch := struct {
		Kind             string           `json:"kind"`
		NodeRegistration nodeRegistration `json:"nodeRegistration"`
	}{Kind: "JoinConfiguration", NodeRegistration: nodeRegistration{Taints: taints}}
	b, err := yaml.Marshal(patch)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// flannelForSubnet points flannel's network at the cluster's pod subnet.
func flannelForSubnet(manifest, podSubnet string) (string, error) {
	if podSubnet == "" || podSubnet == FlannelDefaultNetwork {
		return manifest, nil
	}
	old := `"Network": "` + FlannelDefaultNetwork + `"`
	if !strings.Contains(manifest, old) {
		return "", fmt.Errorf("flannel manifest has no %s to replace with the pod subnet %s", old, podSubnet)
	}
	return strings.ReplaceAll(manifest, old, `"Network": "`+podSubnet+`"`), nil
}

func contains(list []string, s string) bool {
	i := sort.SearchStrings(list, s)
	return i < len(list) && list[i] == s
}
