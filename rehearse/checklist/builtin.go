package checklist

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The built-in checklists, by name. Each function returns a fresh list.
var builtins = map[string]func() Checklist{
	"eks":  eks,
	"gke":  gke,
	"kind": kind,
	"kops": kops,
}

// Names returns the names of the built-in checklists, sorted.
func Names() []string { return sortedKeys(builtins) }

// Builtin returns the named built-in checklist.
func Builtin(name string) (Checklist, bool) {
	f, ok := builtins[name]
	if !ok {
		return Checklist{}, false
	}
	return f(), true
}

// Resolve returns the built-in checklist of that name, or else loads the
// file at that path. A name that is neither is an error listing the known
// names.
func Resolve(nameOrPath string) (Checklist, error) {
	if cl, ok := Builtin(nameOrPath); ok {
		return cl, nil
	}
	_, statErr := os.Stat(nameOrPath)
	looksLikePath := strings.ContainsRune(nameOrPath, filepath.Separator) || strings.ContainsRune(nameOrPath, '/') ||
		filepath.Ext(nameOrPath) != ""
	if statErr == nil || (looksLikePath && !errors.Is(statErr, os.ErrNotExist)) {
		return Load(nameOrPath)
	}
	if looksLikePath {
		return Checklist{}, fmt.Errorf("checklist file %s: no such file", nameOrPath)
	}
	return Checklist{}, fmt.Errorf("unknown checklist %q; known: %s (or a path to a file)", nameOrPath, strings.Join(Names(), ", "))
}

func builtin(name string, cs ...Component) Checklist {
	return Checklist{APIVersion: APIVersion, Kind: KindChecklist, Name: name, Components: cs}
}

func staticPod(name string, v VersionPolicy) Component {
	return Component{Name: name, Kind: KindStaticPod, Version: v}
}

// kind is a kind cluster: kubeadm's control plane as static pods, CoreDNS,
// kube-proxy, and kindnet, flannel or Calico as the CNI (Calico's
// kube-controllers are checked where they run).
func kind() Checklist {
	return builtin("kind",
		Component{Name: "coredns", Kind: KindDeployment},
		Component{Name: "kube-proxy", Kind: KindDaemonSet, Version: VersionTarget},
		staticPod("etcd", VersionAny),
		staticPod("kube-apiserver", VersionTarget),
		staticPod("kube-controller-manager", VersionTarget),
		staticPod("kube-scheduler", VersionTarget),
		Component{Name: "kindnet", Kind: KindDaemonSet, AnyOf: "cni"},
		Component{Name: "kube-flannel", Namespace: "kube-flannel", Object: "kube-flannel-ds", Kind: KindDaemonSet, AnyOf: "cni"},
		Component{Name: "calico-node", Kind: KindDaemonSet, AnyOf: "cni"},
		Component{Name: "calico-kube-controllers", Kind: KindDeployment, Optional: true},
		Component{Name: "local-path-provisioner", Namespace: "local-path-storage", Kind: KindDeployment, Optional: true},
	)
}

// kops is a kops cluster: control-plane static pods (etcd per control
// plane, for the main and the events store), kube-proxy as a static pod on
// every node, flannel, kube-dns and dns-controller.
func kops() Checklist {
	proxy := staticPod("kube-proxy", VersionTarget)
	proxy.Nodes = NodesAll
	return builtin("kops",
		Component{Name: "kube-flannel", Object: "kube-flannel-ds", Kind: KindDaemonSet},
		Component{Name: "kube-dns", Kind: KindDeployment},
		Component{Name: "kube-dns-autoscaler", Kind: KindDeployment},
		Component{Name: "dns-controller", Kind: KindDeployment},
		staticPod("etcd-server", VersionAny),
		staticPod("etcd-server-events", VersionAny),
		staticPod("kube-apiserver", VersionTarget),
		staticPod("kube-controller-manager", VersionTarget),
		staticPod("kube-scheduler", VersionTarget),
		proxy,
	)
}

// eks is an EKS cluster: the control plane is hidden; the VPC CNI, CoreDNS
// and kube-proxy run as add-ons.
func eks() Checklist {
	return builtin("eks",
		Component{Name: "aws-node", Kind: KindDaemonSet},
		Component{Name: "coredns", Kind: KindDeployment},
		Component{Name: "kube-proxy", Kind: KindDaemonSet, Version: VersionTarget},
	)
}

// gke is a GKE cluster: the control plane is hidden; kube-dns, and
// kube-proxy as a static pod on every node unless the cluster runs
// Dataplane V2 (anetd) instead; logging, metrics and the disk CSI driver are
// checked when present.
func gke() Checklist {
	proxy := staticPod("kube-proxy", VersionTarget)
	proxy.Nodes = NodesAll
	proxy.AnyOf = "dataplane"
	return builtin("gke",
		Component{Name: "kube-dns", Kind: KindDeployment},
		proxy,
		Component{Name: "anetd", Kind: KindDaemonSet, AnyOf: "dataplane"},
		Component{Name: "kube-dns-autoscaler", Kind: KindDeployment, Optional: true},
		Component{Name: "fluentbit-gke", Kind: KindDaemonSet, Optional: true},
		Component{Name: "gke-metrics-agent", Kind: KindDaemonSet, Optional: true},
		Component{Name: "metrics-server", Object: "metrics-server-v", Kind: KindPodPrefix, Optional: true},
		Component{Name: "pdcsi-node", Kind: KindDaemonSet, Optional: true},
		Component{Name: "konnectivity-agent", Kind: KindDeployment, Optional: true},
	)
}

// sortStrings returns s sorted, for messages.
func sortStrings(s []string) []string {
	sort.Strings(s)
	return s
}
