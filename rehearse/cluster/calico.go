package cluster

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// CNIAddon is a CNI rehearse installs from images it built: the images every
// node gets and the manifest applied once they have them.
type CNIAddon struct {
	Images   []string
	Manifest string // path of the manifest on this machine
}

// Calico's objects in calico-vxlan.yaml.
const (
	CalicoNodeDaemonSet       = "calico-node"
	CalicoKubeControllers     = "calico-kube-controllers"
	calicoInstallCNIContainer = "install-cni"
)

// calicoForSubnet makes Calico's VXLAN manifest fit a kind cluster built
// offline, and points its IP pool at the cluster's pod subnet:
//   - calico-node: every packet between nodes in VXLAN (Always: kind's nodes
//     share one subnet, so CrossSubnet would never encapsulate), the pool
//     of podSubnet, BPF and XDP off (the binaries have no libbpf); of its
//     init containers only install-cni stays (upgrade-ipam converts
//     host-local allocations a new cluster does not have; ebpf-bootstrap
//     mounts what the BPF data plane needs), with the volumes only they
//     used;
//   - calico-kube-controllers: a writable /status for its health file (the
//     upstream image has that folder; the stand-in's base layer does not).
//
// Every other document is kept byte for byte.
func calicoForSubnet(manifest, podSubnet string) (string, error) {
	if podSubnet == "" {
		podSubnet = FlannelDefaultNetwork
	}
	if p, err := netip.ParsePrefix(podSubnet); err != nil || !p.Addr().Is4() {
		return "", fmt.Errorf("calico: pod subnet %q: want an IPv4 CIDR (the VXLAN manifest runs IPv4 only)", podSubnet)
	}
	docs := strings.Split(manifest, "\n---\n")
	var ds, deploy bool
	for i, doc := range docs {
		kind, name := docKindName(doc)
		switch {
		case kind == "DaemonSet" && name == CalicoNodeDaemonSet:
			out, err := patchCalicoNode(doc, podSubnet)
			if err != nil {
				return "", err
			}
			docs[i], ds = out, true
		case kind == "Deployment" && name == CalicoKubeControllers:
			out, err := patchKubeControllers(doc)
			if err != nil {
				return "", err
			}
			docs[i], deploy = out, true
		}
	}
	if !ds || !deploy {
		return "", fmt.Errorf("calico manifest: want DaemonSet %s and Deployment %s, found DaemonSet %t, Deployment %t",
			CalicoNodeDaemonSet, CalicoKubeControllers, ds, deploy)
	}
	return strings.Join(docs, "\n---\n"), nil
}

// docKindName reads a YAML document's kind and metadata.name.
func docKindName(doc string) (kind, name string) {
	var head struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
		return "", ""
	}
	return head.Kind, head.Metadata.Name
}

func patchCalicoNode(doc, podSubnet string) (string, error) {
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict([]byte(doc), &ds); err != nil {
		return "", fmt.Errorf("calico manifest: DaemonSet %s: %w", CalicoNodeDaemonSet, err)
	}
	spec := &ds.Spec.Template.Spec
	var inits []corev1.Container
	for _, c := range spec.InitContainers {
		if c.Name == calicoInstallCNIContainer {
			inits = append(inits, c)
		}
	}
	if len(inits) != 1 {
		return "", fmt.Errorf("calico manifest: DaemonSet %s has no init container %s", CalicoNodeDaemonSet, calicoInstallCNIContainer)
	}
	spec.InitContainers = inits
	i := containerIndex(spec.Containers, CalicoNodeDaemonSet)
	if i < 0 {
		return "", fmt.Errorf("calico manifest: DaemonSet %s has no container %s", CalicoNodeDaemonSet, CalicoNodeDaemonSet)
	}
	c := &spec.Containers[i]
	for _, e := range []corev1.EnvVar{
		{Name: "CALICO_IPV4POOL_VXLAN", Value: "Always"},
		{Name: "CALICO_IPV6POOL_VXLAN", Value: "Never"},
		{Name: "CALICO_IPV4POOL_CIDR", Value: podSubnet},
		{Name: "FELIX_BPFENABLED", Value: "false"},
		{Name: "FELIX_XDPENABLED", Value: "false"},
	} {
		c.Env = setEnv(c.Env, e)
	}
	used := map[string]bool{}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range cs {
			for _, m := range c.VolumeMounts {
				used[m.Name] = true
			}
		}
	}
	var vols []corev1.Volume
	for _, v := range spec.Volumes {
		if used[v.Name] {
			vols = append(vols, v)
		}
	}
	spec.Volumes = vols
	out, err := yaml.Marshal(&ds)
	return string(out), err
}

func patchKubeControllers(doc string) (string, error) {
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(doc), &d); err != nil {
		return "", fmt.Errorf("calico manifest: Deployment %s: %w", CalicoKubeControllers, err)
	}
	spec := &d.Spec.Template.Spec
	i := containerIndex(spec.Containers, CalicoKubeControllers)
	if i < 0 {
		return "", fmt.Errorf("calico manifest: Deployment %s has no container %s", CalicoKubeControllers, CalicoKubeControllers)
	}
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "status", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	spec.Containers[i].VolumeMounts = append(spec.Containers[i].VolumeMounts, corev1.VolumeMount{Name: "status", MountPath: "/status"})
	out, err := yaml.Marshal(&d)
	return string(out), err
}

func containerIndex(cs []corev1.Container, name string) int {
	for i, c := range cs {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// setEnv sets e in env, in place of a variable of that name.
func setEnv(env []corev1.EnvVar, e corev1.EnvVar) []corev1.EnvVar {
	for i := range env {
		if env[i].Name == e.Name {
			env[i] = e
			return env
		}
	}
	return append(env, e)
}

// installCalico gives every node Calico's images and applies its manifest,
// fitted by calicoForSubnet, server-side (its CRDs are too large for the
// last-applied annotation of a client-side apply).
func (p *Provider) installCalico(ctx context.Context, s Spec, addon CNIAddon) error {
	raw, err := os.ReadFile(addon.Manifest)
	if err != nil {
		return fmt.Errorf("calico manifest: %w", err)
	}
	m, err := calicoForSubnet(string(raw), s.PodSubnet)
	if err != nil {
		return fmt.Errorf("%s: %w", addon.Manifest, err)
	}
	if err := p.LoadImages(ctx, s.Name, addon.Images); err != nil {
		return fmt.Errorf("load calico's images: %w", err)
	}
	cp, err := p.controlPlane(s.Name)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	cmd := cp.Command("kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "apply", "--server-side", "--force-conflicts", "-f", "-").
		SetStdin(strings.NewReader(m)).SetStdout(&out).SetStderr(&out)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl apply -f %s in node %s: %w: %s", addon.Manifest, cp, err, strings.TrimSpace(out.String()))
	}
	return nil
}
