// Package canary is the canary web server: the small HTTP application that
// rehearse deploys on the throwaway cluster as the target of load while the
// Kubernetes upgrade is rehearsed.
//
// The canary must be well-behaved so that every error the load sees can be
// blamed on the upgrade and never on the canary itself. It therefore owns:
//
//   - the endpoints: "/" answers JSON describing who answered (pod, node,
//     namespace, pod IP, version, server time, uptime, draining) and sets
//     the X-Canary-Pod, X-Canary-Node and X-Canary-Version headers;
//     "/healthz" is the liveness probe and "/readyz" the readiness probe;
//   - optional, explicit misbehaviour for proving that the load detects
//     trouble: a fixed delay plus uniform jitter on "/", and injected 503
//     failures at a configurable rate, optionally starting only after a
//     while;
//   - graceful termination: when asked to stop, the server first drains
//     (readiness turns 503, every response carries "Connection: close" so
//     clients move to other endpoints, serving continues for the drain
//     delay), then shuts down, letting requests in flight complete within a
//     bounded time. On a cluster the pod's preStop hook (GET /drain) starts
//     the drain and returns when it is over, so the kubelet's SIGTERM comes
//     after it and shuts down at once;
//   - the pod identity, read from the environment the downward API fills;
//   - its place on a cluster: Manifests, Deploy and Delete put it there as a
//     Deployment spread over the nodes, a NodePort Service and a
//     PodDisruptionBudget, all labelled as rehearse's.
//
// It does not own flag parsing or the container image (rehearse/nodeimage
// builds it); callers pass a Config (whose Validate errors name the
// corresponding command-line flags) to Serve.
package canary
