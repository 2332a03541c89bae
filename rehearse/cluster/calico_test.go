package cluster

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// calicoManifest has the shape of calico-vxlan.yaml's documents that
// calicoForSubnet edits, between others it must keep byte for byte.
const calicoManifest = `kind: ConfigMap
apiVersion: v1
metadata:
  name: calico-config
  namespace: kube-system
data:
  calico_backend: "vxlan"
---
kind: DaemonSet
apiVersion: apps/v1
metadata:
  name: calico-node
  namespace: kube-system
spec:
  selector:
    matchLabels: {k8s-app: calico-node}
  template:
    metadata:
      labels: {k8s-app: calico-node}
    spec:
      initContainers:
        - name: upgrade-ipam
          image: quay.io/calico/cni:v3.31.0
          volumeMounts:
            - {mountPath: /var/lib/cni/networks, name: host-local-net-dir}
            - {mountPath: /host/opt/cni/bin, name: cni-bin-dir}
        - name: install-cni
          image: quay.io/calico/cni:v3.31.0
          volumeMounts:
            - {mountPath: /host/opt/cni/bin, name: cni-bin-dir}
        - name: ebpf-bootstrap
          image: quay.io/calico/node:v3.31.0
          volumeMounts:
            - {mountPath: /nodeproc, name: nodeproc}
      containers:
        - name: calico-node
          image: quay.io/calico/node:v3.31.0
          env:
            - {name: CALICO_IPV4POOL_VXLAN, value: CrossSubnet}
            - {name: FELIX_HEALTHENABLED, value: "true"}
          volumeMounts:
            - {mountPath: /var/run/calico, name: var-run-calico}
      volumes:
        - {name: var-run-calico, hostPath: {path: /var/run/calico}}
        - {name: cni-bin-dir, hostPath: {path: /opt/cni/bin}}
        - {name: host-local-net-dir, hostPath: {path: /var/lib/cni/networks}}
        - {name: nodeproc, hostPath: {path: /proc}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: calico-kube-controllers
  namespace: kube-system
spec:
  selector:
    matchLabels: {k8s-app: calico-kube-controllers}
  template:
    metadata:
      labels: {k8s-app: calico-kube-controllers}
    spec:
      containers:
        - name: calico-kube-controllers
          image: quay.io/calico/kube-controllers:v3.31.0`

func TestCalicoForSubnet(t *testing.T) {
	out, err := calicoForSubnet(calicoManifest, "10.100.0.0/16")
	require.NoError(t, err)
	docs := strings.Split(out, "\n---\n")
	require.Len(t, docs, 3)
	assert.Equal(t, strings.Split(calicoManifest, "\n---\n")[0], docs[0], "other documents are kept byte for byte")

	var ds appsv1.DaemonSet
	require.NoError(t, yaml.Unmarshal([]byte(docs[1]), &ds))
	spec := ds.Spec.Template.Spec
	require.Len(t, spec.InitContainers, 1)
	assert.Equal(t, "install-cni", spec.InitContainers[0].Name)
	env := map[string]string{}
	for _, e := range spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	assert.Equal(t, map[string]string{
		"CALICO_IPV4POOL_VXLAN": "Always", "CALICO_IPV6POOL_VXLAN": "Never", "CALICO_IPV4POOL_CIDR": "10.100.0.0/16",
		"FELIX_BPFENABLED": "false", "FELIX_XDPENABLED": "false", "FELIX_HEALTHENABLED": "true",
	}, env)
	var vols []string
	for _, v := range spec.Volumes {
		vols = append(vols, v.Name)
	}
	assert.Equal(t, []string{"var-run-calico", "cni-bin-dir"}, vols, "the volumes only the dropped init containers used go")

	var d appsv1.Deployment
	require.NoError(t, yaml.Unmarshal([]byte(docs[2]), &d))
	assert.Contains(t, d.Spec.Template.Spec.Volumes, corev1.Volume{Name: "status", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	assert.Contains(t, d.Spec.Template.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "status", MountPath: "/status"})

	def, err := calicoForSubnet(calicoManifest, "")
	require.NoError(t, err)
	assert.Contains(t, def, "value: "+FlannelDefaultNetwork, "kind's default pod subnet when none is set")

	_, err = calicoForSubnet(calicoManifest, "fd00::/48")
	assert.EqualError(t, err, `calico: pod subnet "fd00::/48": want an IPv4 CIDR (the VXLAN manifest runs IPv4 only)`)
	_, err = calicoForSubnet(strings.Split(calicoManifest, "\n---\n")[0], "10.100.0.0/16")
	assert.EqualError(t, err, "calico manifest: want DaemonSet calico-node and Deployment calico-kube-controllers, found DaemonSet false, Deployment false")
}
