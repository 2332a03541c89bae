// Package workloads applies a platform team's own application to a
// rehearsal cluster and waits until it runs.
//
// Load reads a Source: one manifest file (.yaml, .yml or .json, any number
// of documents), a folder of them (the folder's own manifest files, in name
// order, not its subfolders), or a folder with a kustomization file, built
// with kustomize's krusty on the disk's files (plugins and Helm charts are
// not supported: render a chart with `helm template` and point the Source
// at the output). Every object keeps its origin (file, document and line)
// so errors can name it.
//
// An Applier applies the objects server-side (field manager "rehearse")
// through the dynamic client, mapping kinds with a discovery RESTMapper, in
// dependency order: Namespaces and CustomResourceDefinitions first (waiting
// until each definition is Established, then refreshing the mapper so the
// new kinds map), then identities, configuration, storage claims and
// Services, then workloads, then everything else (custom resources,
// budgets, Ingress, ...). A namespaced object without a namespace goes to
// the Source's namespace, or "default". It then waits until every
// Deployment, StatefulSet and DaemonSet has rolled out and every Job has
// completed (readiness.RolloutProblem); when the wait ends first, its error
// names each object that is not ready and why, with the problem of one of
// its pods (readiness.PodProblem).
//
// Images lists the container images the objects' pod templates use, so a
// kind cluster can be given them before anything waits on a pull that
// cannot happen.
package workloads
