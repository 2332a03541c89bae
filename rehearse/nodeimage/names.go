package nodeimage

import (
	"bufio"
	"fmt"
	"regexp"
	"strings"
)

// ImageRef is a parsed image reference: registry.k8s.io/coredns/coredns:v1.13.1
// is Registry "registry.k8s.io", Repository "coredns/coredns", Tag "v1.13.1".
type ImageRef struct {
	Registry   string
	Repository string
	Tag        string
}

// ParseImageRef parses a tagged image reference. Digests are not accepted:
// every image built here is named by tag.
func ParseImageRef(s string) (ImageRef, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, " \t@") {
		return ImageRef{}, fmt.Errorf("image %q: want REGISTRY/REPOSITORY:TAG", s)
	}
	slash := strings.LastIndex(s, "/")
	colon := strings.LastIndex(s, ":")
	if colon <= slash || colon == len(s)-1 {
		return ImageRef{}, fmt.Errorf("image %q: no tag", s)
	}
	name, tag := s[:colon], s[colon+1:]
	first, rest, ok := strings.Cut(name, "/")
	if !ok || !(strings.ContainsAny(first, ".:") || first == "localhost") {
		return ImageRef{}, fmt.Errorf("image %q: no registry host", s)
	}
	if rest == "" {
		return ImageRef{}, fmt.Errorf("image %q: no repository", s)
	}
	return ImageRef{Registry: first, Repository: rest, Tag: tag}, nil
}

// Name is the reference without its tag.
func (r ImageRef) Name() string { return r.Registry + "/" + r.Repository }

// String renders the full reference.
func (r ImageRef) String() string { return r.Name() + ":" + r.Tag }

// Base is the last path element of the repository (coredns for
// coredns/coredns).
func (r ImageRef) Base() string {
	return r.Repository[strings.LastIndex(r.Repository, "/")+1:]
}

// KubeadmImages are the images `kubeadm config images list` names, by role.
type KubeadmImages struct {
	ControlPlane []ImageRef // kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy
	CoreDNS      ImageRef
	Pause        ImageRef
	Etcd         ImageRef
}

// ParseKubeadmImages reads the output of `kubeadm config images list`.
func ParseKubeadmImages(out string) (KubeadmImages, error) {
	var k KubeadmImages
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || !strings.Contains(line, "/") || strings.Contains(line, " ") {
			continue // kubeadm may print warnings
		}
		ref, err := ParseImageRef(line)
		if err != nil {
			return k, err
		}
		switch ref.Base() {
		case "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy":
			k.ControlPlane = append(k.ControlPlane, ref)
		case "coredns":
			k.CoreDNS = ref
		case "pause":
			k.Pause = ref
		case "etcd":
			k.Etcd = ref
		default:
			return k, fmt.Errorf("kubeadm asks for an unknown image %s", ref)
		}
	}
	switch {
	case len(k.ControlPlane) != 4:
		return k, fmt.Errorf("kubeadm image list: want 4 control-plane images, got %d in %q", len(k.ControlPlane), out)
	case k.CoreDNS.Tag == "":
		return k, fmt.Errorf("kubeadm image list: no coredns image in %q", out)
	case k.Pause.Tag == "":
		return k, fmt.Errorf("kubeadm image list: no pause image in %q", out)
	case k.Etcd.Tag == "":
		return k, fmt.Errorf("kubeadm image list: no etcd image in %q", out)
	}
	return k, nil
}

var etcdTag = regexp.MustCompile(`^v?(\d+\.\d+\.\d+)(-\d+)?$`)

// EtcdModuleVersion maps an etcd image tag (3.6.6-0) to the version of
// go.etcd.io/etcd/server/v3 (v3.6.6).
func EtcdModuleVersion(tag string) (string, error) {
	m := etcdTag.FindStringSubmatch(tag)
	if m == nil {
		return "", fmt.Errorf("etcd image tag %q: want X.Y.Z-N", tag)
	}
	return "v" + m[1], nil
}

var semverTag = regexp.MustCompile(`^v?\d+\.\d+\.\d+$`)

// CoreDNSModuleVersion maps a CoreDNS image tag (v1.13.1) to the version of
// github.com/coredns/coredns.
func CoreDNSModuleVersion(tag string) (string, error) {
	if !semverTag.MatchString(tag) {
		return "", fmt.Errorf("coredns image tag %q: want vX.Y.Z", tag)
	}
	return "v" + strings.TrimPrefix(tag, "v"), nil
}

var sandboxImageLine = regexp.MustCompile(`(?m)^\s*sandbox_image\s*=\s*"([^"]+)"`)

// SandboxImage returns containerd's sandbox_image from a config.toml.
func SandboxImage(configTOML string) (ImageRef, error) {
	m := sandboxImageLine.FindStringSubmatch(configTOML)
	if m == nil {
		return ImageRef{}, fmt.Errorf("containerd config: no sandbox_image")
	}
	return ParseImageRef(m[1])
}
