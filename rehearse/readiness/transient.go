package readiness

import (
	"errors"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// IsTransient says whether an API call that failed with err is worth
// trying again: the API server could not be reached or cut the answer
// short (connection refused or reset, a lost HTTP/2 connection, an
// unexpected EOF, a network timeout), or it answered that it is
// overloaded, timing out or unavailable (429, 503, 504, a server timeout),
// or failed inside (500: etcd changing leader while the control plane is
// replaced).
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) {
		return true
	}
	return utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsHTTP2ConnectionLost(err) ||
		utilnet.IsProbableEOF(err) || utilnet.IsTimeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// IsTransientDuringRestart is IsTransient for calls made while the control
// plane restarts (kubeadm upgrade apply and the steps right after it), and
// also accepts 403 Forbidden and 401 Unauthorized: an API server that just
// restarted refuses even the cluster admin for a moment, until its
// authorizer has synced the RBAC bindings kubeadm reapplies (seen as a pod
// list forbidden to kubernetes-admin right after the apply). Callers bound
// their retries, so a lasting refusal is still reported.
func IsTransientDuringRestart(err error) bool {
	return IsTransient(err) || apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)
}
