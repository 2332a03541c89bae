package readiness

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// timeoutErr is a network error that timed out, like a TLS handshake timeout.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "net/http: TLS handshake timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestIsTransient(t *testing.T) {
	dial := func(errno syscall.Errno) error {
		return &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api/v1/nodes",
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}}
	}
	tests := []struct {
		name          string
		err           error
		transient     bool
		duringRestart bool
	}{
		{name: "nil", err: nil},
		{name: "connection refused", err: dial(syscall.ECONNREFUSED), transient: true, duringRestart: true},
		{name: "connection reset", err: dial(syscall.ECONNRESET), transient: true, duringRestart: true},
		{name: "reset while reading a body, as text", err: errors.New("unexpected error when reading response body. Please retry. Original error: read tcp: connection reset by peer"), transient: true, duringRestart: true},
		{name: "cut short", err: fmt.Errorf("list pods: %w", io.ErrUnexpectedEOF), transient: true, duringRestart: true},
		{name: "EOF", err: &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/readyz", Err: io.EOF}, transient: true, duringRestart: true},
		{name: "http2 connection lost", err: errors.New("http2: client connection lost"), transient: true, duringRestart: true},
		{name: "network timeout", err: &url.Error{Op: "Get", URL: "https://127.0.0.1:6443", Err: timeoutErr{}}, transient: true, duringRestart: true},
		{name: "429", err: apierrors.NewTooManyRequests("slow down", 1), transient: true, duringRestart: true},
		{name: "503", err: apierrors.NewServiceUnavailable("restarting"), transient: true, duringRestart: true},
		{name: "504", err: apierrors.NewTimeoutError("took too long", 1), transient: true, duringRestart: true},
		{name: "server timeout", err: apierrors.NewServerTimeout(corev1.Resource("pods"), "list", 1), transient: true, duringRestart: true},
		{name: "500", err: apierrors.NewInternalError(errors.New("etcdserver: leader changed")), transient: true, duringRestart: true},
		{name: "403 only during a restart", err: apierrors.NewForbidden(corev1.Resource("pods"), "", errors.New("RBAC not settled")), duringRestart: true},
		{name: "401 only during a restart", err: apierrors.NewUnauthorized("token not yet valid"), duringRestart: true},
		{name: "404", err: apierrors.NewNotFound(corev1.Resource("nodes"), "n1")},
		{name: "409", err: apierrors.NewConflict(corev1.Resource("nodes"), "n1", errors.New("modified"))},
		{name: "400", err: apierrors.NewBadRequest("bad patch")},
		{name: "something else", err: errors.New("no such host kind-worker9")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.transient, IsTransient(tt.err), "IsTransient")
			assert.Equal(t, tt.duringRestart, IsTransientDuringRestart(tt.err), "IsTransientDuringRestart")
		})
	}
}
