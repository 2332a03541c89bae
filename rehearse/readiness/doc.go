// Package readiness owns the one way rehearse judges and waits for a
// cluster's objects: whether a pod or a node is Ready and, when not, why
// (PodProblem, NodeProblem); whether a Deployment, StatefulSet, DaemonSet or
// Job has finished rolling out (RolloutProblem, after kubectl rollout
// status); waiting for any of it on apimachinery's
// wait.PollUntilContextTimeout (WaitFor, WaitForWorkloads,
// WaitForAPIServer); retrying an API call (Retry); and which API errors are
// worth retrying (IsTransient, IsTransientDuringRestart).
//
// The judgements are pure functions of the objects; only the waits talk to
// the cluster, and they only get and list.
package readiness
