package readiness

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestWaitFor(t *testing.T) {
	errRefused := errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
	type look struct {
		done   bool
		status string
		err    error
	}
	tests := []struct {
		name       string
		looks      []look // the last repeats
		timeout    time.Duration
		heartbeat  time.Duration
		wantErr    string
		wantLooks  int // 0: not checked
		wantTold   []string
		toldPrefix bool
	}{
		{name: "done at once", looks: []look{{done: true, status: "3/3"}}, wantLooks: 1, wantTold: []string{"3/3"}},
		{name: "errors are retried", looks: []look{{err: errRefused}, {err: errRefused}, {done: true}}, wantLooks: 3},
		{
			name:     "progress told each change once",
			looks:    []look{{status: "1/3"}, {status: "1/3"}, {status: "2/3"}, {err: errRefused}, {status: "2/3"}, {done: true, status: "3/3"}},
			wantTold: []string{"1/3", "2/3", "3/3"},
		},
		{
			name: "timeout names the last status and error", looks: []look{{status: "1/3"}, {err: errRefused}},
			timeout: 20 * time.Millisecond,
			wantErr: "1/3; last error: dial tcp 127.0.0.1:6443: connect: connection refused: context deadline exceeded",
		},
		{name: "timeout before any status", looks: []look{{err: errRefused}}, timeout: 20 * time.Millisecond,
			wantErr: "no status seen; last error: dial tcp 127.0.0.1:6443: connect: connection refused: context deadline exceeded"},
		{
			name: "heartbeat repeats an unchanged status", looks: []look{{status: "1/3"}},
			timeout: 30 * time.Millisecond, heartbeat: time.Nanosecond,
			wantErr: "1/3: context deadline exceeded", wantTold: []string{"1/3", "1/3"}, toldPrefix: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.timeout == 0 {
				tt.timeout = 5 * time.Second
			}
			n := 0
			var told []string
			err := WaitFor(context.Background(), Options{Interval: time.Millisecond, Timeout: tt.timeout, Heartbeat: tt.heartbeat,
				Progress: func(s string) { told = append(told, s) }},
				func(context.Context) (bool, string, error) {
					l := tt.looks[min(n, len(tt.looks)-1)]
					n++
					return l.done, l.status, l.err
				})
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				var we *WaitError
				require.ErrorAs(t, err, &we)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			} else {
				require.NoError(t, err)
			}
			if tt.wantLooks > 0 {
				assert.Equal(t, tt.wantLooks, n)
			}
			if tt.toldPrefix {
				require.GreaterOrEqual(t, len(told), len(tt.wantTold))
				told = told[:len(tt.wantTold)]
			}
			if tt.wantTold != nil {
				assert.Equal(t, tt.wantTold, told)
			}
		})
	}
}

// A cancelled wait says so, so callers tell it from a timeout.
func TestWaitForStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	err := WaitFor(ctx, Options{Interval: time.Millisecond}, func(context.Context) (bool, string, error) { return false, "waiting", nil })
	require.ErrorIs(t, err, context.Canceled)
	assert.EqualError(t, err, "waiting: context canceled")
}

func TestWaitForAPIServer(t *testing.T) {
	tests := []struct {
		name    string
		refuse  func(look int) bool // whether the API server refuses look n (from 1)
		steady  int
		wantErr string
		looks   int
	}{
		{name: "answers at once", refuse: func(int) bool { return false }, steady: 3, looks: 3},
		{name: "a flap starts the count again", refuse: func(n int) bool { return n == 2 || n == 5 }, steady: 3, looks: 8},
		{name: "never answers", refuse: func(int) bool { return true }, steady: 2,
			wantErr: "no status seen; last error: connection refused: context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset()
			looks := 0
			c.Discovery().(*fakediscovery.FakeDiscovery).PrependReactor("get", "version", func(k8stesting.Action) (bool, runtime.Object, error) {
				looks++
				if tt.refuse(looks) {
					return true, nil, errors.New("connection refused")
				}
				return false, nil, nil
			})
			err := WaitForAPIServer(context.Background(), c, tt.steady, Options{Interval: time.Millisecond, Timeout: 25 * time.Millisecond})
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.looks, looks)
		})
	}
}

func TestRetry(t *testing.T) {
	forbidden := apierrors.NewForbidden(corev1.Resource("nodes"), "n1", errors.New("RBAC not settled"))
	tests := []struct {
		name      string
		errs      []error // per call; then success
		retriable func(error) bool
		wantCalls int
		wantErr   error
	}{
		{name: "succeeds at once", retriable: IsTransient, wantCalls: 1},
		{name: "transient errors are retried", errs: []error{apierrors.NewServiceUnavailable("restarting"), apierrors.NewTooManyRequests("busy", 0)}, retriable: IsTransient, wantCalls: 3},
		{name: "a refusal is not transient by itself", errs: []error{forbidden}, retriable: IsTransient, wantCalls: 1, wantErr: forbidden},
		{name: "a refusal is transient during a restart", errs: []error{forbidden, forbidden}, retriable: IsTransientDuringRestart, wantCalls: 3},
		{name: "time runs out: the last error", errs: repeat(forbidden, 1000), retriable: IsTransientDuringRestart, wantErr: forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := Retry(context.Background(), Options{Interval: time.Millisecond, Timeout: 30 * time.Millisecond}, tt.retriable, func() error {
				calls++
				if calls <= len(tt.errs) {
					return tt.errs[calls-1]
				}
				return nil
			})
			if tt.wantErr != nil {
				assert.Equal(t, tt.wantErr, err)
			} else {
				assert.NoError(t, err)
			}
			if tt.wantCalls > 0 {
				assert.Equal(t, tt.wantCalls, calls)
			}
		})
	}
}

func repeat(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}
