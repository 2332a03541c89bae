// Package checklist owns the kube-system checklist: the declarative list of
// system components a cluster must run healthily before, during and after an
// upgrade, the built-in lists for kind, kops, EKS and GKE clusters, loading
// lists from YAML or JSON files, the one-shot Check, the Watch that records
// every transition on the timeline, and the renderers of a result (text,
// JSON, JUnit).
//
// Besides the listed components, every check also covers the nodes (Ready,
// and the kubelet at the expected version when one is given), every pod of
// kube-system (none Pending, crash-looping or not Ready) and every pod of the
// system-cluster-critical and system-node-critical priority classes.
//
// The package only reads the cluster: it uses get, list and watch, nothing
// else.
package checklist
