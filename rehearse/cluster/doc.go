// Package cluster owns the throwaway Kubernetes clusters a rehearsal runs on:
// the doctor that checks (and on request fixes) every prerequisite of the
// machine, and the kind cluster provider on podman or Docker.
//
// Nothing is kept in a state file. kind labels every node container with its
// cluster's name (io.x-k8s.kind.cluster), and every node image built by
// rehearse carries the label io.rehearse.kubernetes, which a container
// inherits from its image: a cluster is rehearse's when its node containers
// carry both labels. List and Delete find clusters by those labels alone.
package cluster
