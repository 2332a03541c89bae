// Package profile reads the shape of a cluster, strictly read-only, and
// writes a scenario that reproduces it on kind: server version, control-plane
// and worker counts, CNI, pod and service CIDRs, kube-proxy mode, DNS
// provider, the checklist flavor and the worker pools (grouped by the
// cloud's node-group label, with the labels and taints each pool's nodes
// share). It also reports pre-flight findings
// (PodDisruptionBudgets that block drains, single-replica Deployments behind
// a budget, deprecated APIs in use), lists the user's workloads outside the
// system namespaces with their budgets, images and drain risk as a commented
// workloads: stub, and says plainly what cannot be reproduced offline.
package profile
