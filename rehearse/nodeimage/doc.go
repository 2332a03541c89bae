// Package nodeimage builds kind-compatible node images without any container
// registry: every binary comes from the Go module proxy, every userland from
// Debian's packages, and every container image a cluster needs is written as
// an archive and imported into the node's containerd before the node image is
// committed.
//
// A build, for one Kubernetes version:
//
//  1. Kubernetes (kubeadm, kubelet, kubectl, kube-apiserver,
//     kube-controller-manager, kube-scheduler, kube-proxy) is compiled from a
//     generated wrapper module that requires k8s.io/kubernetes and pins every
//     staging module to its published version; the version is stamped with
//     -ldflags -X as the Kubernetes release scripts do.
//  2. The freshly built kubeadm says which etcd, CoreDNS and pause images it
//     wants; those are compiled from their modules at exactly those versions.
//     Flannel and its CNI plugin are compiled too, and the flannel manifest is
//     taken from the flannel module and patched for that plugin.
//  3. Image archives are written without a daemon (go-containerregistry),
//     under exactly the names kubeadm, containerd and the manifest ask for.
//  4. A node root file system is made with debootstrap (cached), laid out as
//     kind's base image is, imported into podman, started with containerd,
//     every archive imported with ctr, and committed as
//     localhost/rehearse/node:<version>.
//
// Inside the node image, /kind/manifests/flannel.yaml is the patched flannel
// manifest, and /kind/manifests/default-cni.yaml the same manifest as kind's
// default CNI (kind templates the cluster's pod subnet into it), so a kind
// cluster without disableDefaultCNI gets flannel. /kind/rehearse/images.json
// lists every image imported into the node's containerd.
//
// When a registry answers (probed with a short timeout) and FromSource is not
// set, kind's published kindest/node image is pulled and labelled instead.
//
// BuildCanary writes the canary image (the rehearse binary, entrypoint
// `rehearse canary serve`) as an archive and loads it into podman; it is not
// part of node images, so a changed canary never rebuilds them: load it into a
// cluster's nodes with kind's image-archive loader.
//
// Every node image carries the labels io.rehearse.kubernetes and
// io.rehearse.recipe (a hash of every input of the build): List finds images
// by label, and a build whose recipe hash matches the existing image's is a
// cache hit that does nothing.
//
// Everything is kept in a cache folder (default ~/.cache/rehearse): Go's build
// cache, the generated modules, debootstrap tarballs, binaries and archives,
// and one log file per build.
package nodeimage
