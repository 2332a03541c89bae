package readiness

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
)

// DefaultInterval is how often a wait looks when Options.Interval is zero.
const DefaultInterval = time.Second

// Options tune a wait.
type Options struct {
	// Interval is how often the wait looks; zero means DefaultInterval.
	Interval time.Duration
	// Timeout bounds the wait; zero waits until ctx ends.
	Timeout time.Duration
	// Progress, when set, is told what the wait sees each time it changes
	// (and again every Heartbeat while it does not).
	Progress func(status string)
	// Heartbeat repeats an unchanged status to Progress; zero never
	// repeats it.
	Heartbeat time.Duration
}

// Condition looks at the cluster once. It says whether the wait is over
// and, either way, what it saw. An error is retried at the next look and
// reported if the wait fails; a condition that wants an error shown as
// progress returns it as its status.
type Condition func(ctx context.Context) (done bool, status string, err error)

// WaitError is a wait that ended before its condition was met.
type WaitError struct {
	// Status is the last status the condition reported.
	Status string
	// LastErr is the condition's error at the last look, if it failed.
	LastErr error
	// Err is why the wait ended: the context's error.
	Err error
}

func (e *WaitError) Error() string {
	msg := e.Status
	if msg == "" {
		msg = "no status seen"
	}
	if e.LastErr != nil {
		msg += "; last error: " + firstLine(e.LastErr.Error())
	}
	return msg + ": " + e.Err.Error()
}

func (e *WaitError) Unwrap() error { return e.Err }

// WaitFor looks at once and then every Options.Interval until cond is done,
// ctx ends or Options.Timeout passes. A wait that ends unmet returns a
// *WaitError, which wraps the context's error.
func WaitFor(ctx context.Context, o Options, cond Condition) error {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	var (
		last    string
		lastErr error
		told    string
		toldAt  time.Time
	)
	look := func(ctx context.Context) (bool, error) {
		done, status, err := cond(ctx)
		lastErr = err
		if status != "" || err == nil {
			last = status
		}
		if err != nil {
			return false, nil
		}
		if o.Progress != nil && status != "" && (status != told || (o.Heartbeat > 0 && time.Since(toldAt) >= o.Heartbeat)) {
			o.Progress(status)
			told, toldAt = status, time.Now()
		}
		return done, nil
	}
	var err error
	if o.Timeout > 0 {
		err = wait.PollUntilContextTimeout(ctx, o.Interval, o.Timeout, true, look)
	} else {
		err = wait.PollUntilContextCancel(ctx, o.Interval, true, look)
	}
	if err != nil {
		return &WaitError{Status: last, LastErr: lastErr, Err: err}
	}
	return nil
}

// WaitForWorkloads waits until every Deployment, StatefulSet and DaemonSet
// in the namespaces has rolled out (see RolloutProblem). When the wait ends
// first, its error names what is not rolled out, with its counts.
func WaitForWorkloads(ctx context.Context, c kubernetes.Interface, namespaces []string, o Options) error {
	return WaitFor(ctx, o, func(ctx context.Context) (bool, string, error) {
		problems, err := WorkloadProblems(ctx, c, namespaces)
		return len(problems) == 0 && err == nil, strings.Join(problems, "; "), err
	})
}

// WaitForAPIServer waits until the API server answers /readyz with "ok"
// steady times in a row, one look per Options.Interval: an API server that
// restarts answers once or twice before it goes away again.
func WaitForAPIServer(ctx context.Context, c kubernetes.Interface, steady int, o Options) error {
	ok := 0
	return WaitFor(ctx, o, func(ctx context.Context) (bool, string, error) {
		body, err := readyz(ctx, c)
		if err != nil {
			ok = 0
			return false, "", err
		}
		if answer := strings.TrimSpace(string(body)); answer != "ok" {
			ok = 0
			return false, "/readyz: " + firstLine(answer), nil
		}
		ok++
		return ok >= steady, fmt.Sprintf("/readyz ok %d of %d times in a row", ok, steady), nil
	})
}

// readyz asks the API server's /readyz; a client with no REST access (a
// fake) is asked its version instead.
func readyz(ctx context.Context, c kubernetes.Interface) ([]byte, error) {
	if rc := c.Discovery().RESTClient(); rc != nil {
		return rc.Get().AbsPath("/readyz").DoRaw(ctx)
	}
	if _, err := discovery.ToServerVersionInterfaceWithContext(c.Discovery()).ServerVersionWithContext(ctx); err != nil {
		return nil, err
	}
	return []byte("ok"), nil
}

// Retry calls fn until it succeeds, fails with an error retriable does not
// accept, or Options.Timeout has passed (then it returns fn's last error),
// once per Options.Interval. A nil retriable is IsTransient.
func Retry(ctx context.Context, o Options, retriable func(error) bool, fn func() error) error {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if retriable == nil {
		retriable = IsTransient
	}
	var lastErr error
	try := func(context.Context) (bool, error) {
		lastErr = fn()
		if lastErr != nil && !retriable(lastErr) {
			return false, lastErr
		}
		return lastErr == nil, nil
	}
	var err error
	if o.Timeout > 0 {
		err = wait.PollUntilContextTimeout(ctx, o.Interval, o.Timeout, true, try)
	} else {
		err = wait.PollUntilContextCancel(ctx, o.Interval, true, try)
	}
	if err != nil && lastErr != nil {
		return lastErr
	}
	return err
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
