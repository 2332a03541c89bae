package nodeimage

import (
	"fmt"
	"strconv"
	"strings"
)

// Pinned versions of everything that is not derived from the Kubernetes
// version.
const (
	// KindVersion is the sigs.k8s.io/kind module whose base-image files and
	// layout the node image follows.
	KindVersion = "v0.33.0"
	// DebianSuite is the Debian release of the node and of the image bases.
	DebianSuite = "trixie"
	// DebianMirror is where debootstrap fetches packages.
	DebianMirror = "http://deb.debian.org/debian"
	// FlannelVersion is the flannel module (flanneld, install-conf and the
	// manifest).
	FlannelVersion = "v0.28.10"
	// CNIPluginsVersion is the containernetworking/plugins module that still
	// carries the flannel meta-plugin.
	CNIPluginsVersion = "v0.9.1"
	// FlannelCNIVersion is the cniVersion the v0.9.1 flannel plugin speaks.
	FlannelCNIVersion = "0.4.0"
	// ImageRepository is the repository of the node images.
	ImageRepository = "localhost/rehearse/node"
	// CanaryRepository is the repository of the canary image.
	CanaryRepository = "localhost/rehearse/canary"
)

// Image labels.
const (
	LabelRecipe     = "io.rehearse.recipe"
	LabelKubernetes = "io.rehearse.kubernetes"
	LabelSource     = "io.rehearse.source"
	LabelKind       = "io.rehearse.kind"
	LabelCanary     = "io.rehearse.canary"
	// LabelCanaryArchive is the cache key of the archive a canary image was
	// loaded from.
	LabelCanaryArchive = "io.rehearse.canary.archive"
)

// Where things live inside a node image.
const (
	// FlannelManifestPath is the patched flannel manifest, ready to apply.
	FlannelManifestPath = "/kind/manifests/flannel.yaml"
	// ImagesManifestPath lists every image imported into the node's
	// containerd, as JSON.
	ImagesManifestPath = "/kind/rehearse/images.json"
)

// NodePackages are the Debian packages of the node root file system.
var NodePackages = []string{
	"systemd", "systemd-sysv", "dbus", "containerd", "runc", "containernetworking-plugins",
	"iptables", "nftables", "conntrack", "iproute2", "ethtool", "util-linux", "mount", "kmod",
	"libseccomp2", "pigz", "bash", "ca-certificates", "jq", "procps", "socat", "ebtables",
}

// BasePackages are the Debian packages of the base layer shared by the
// images that need a userland (kube-proxy, flannel, the canary).
var BasePackages = []string{
	"iptables", "nftables", "conntrack", "iproute2", "ipset", "kmod", "ca-certificates",
}

// Version is a Kubernetes release version such as v1.35.4.
type Version struct {
	Major, Minor, Patch int
	// Pre is a pre-release suffix without the dash ("rc.1"), if any.
	Pre string
}

// ParseVersion parses "v1.35.4" (the leading v is optional).
func ParseVersion(s string) (Version, error) {
	raw := strings.TrimPrefix(strings.TrimSpace(s), "v")
	core, pre, _ := strings.Cut(raw, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("kubernetes version %q: want vMAJOR.MINOR.PATCH", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || (len(p) > 1 && p[0] == '0') {
			return Version{}, fmt.Errorf("kubernetes version %q: %q is not a number", s, p)
		}
		n[i] = v
	}
	if n[0] != 1 {
		return Version{}, fmt.Errorf("kubernetes version %q: only major version 1 exists", s)
	}
	return Version{Major: n[0], Minor: n[1], Patch: n[2], Pre: pre}, nil
}

// String renders the version with its leading v.
func (v Version) String() string {
	s := fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	return s
}

// StagingVersion is the version of the k8s.io staging modules (k8s.io/api
// and friends) published with this release: v0.MINOR.PATCH.
func (v Version) StagingVersion() string {
	s := fmt.Sprintf("v0.%d.%d", v.Minor, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	return s
}

// NodeImage is the name of the node image of this version.
func (v Version) NodeImage() string { return ImageRepository + ":" + v.String() }
