// Package kversion reads and compares Kubernetes versions, over
// k8s.io/apimachinery/pkg/util/version: a release as people write it
// (v1.35.4), a version as a cluster or an image reports it (v1.35.4+k3s1,
// v1.35.4-gke.100), the version a check expects (v1.36 for any patch of
// it), how many minor releases lie between two versions, and kubeadm's rule
// for one upgrade hop.
package kversion
