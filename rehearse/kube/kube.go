// Package kube builds Kubernetes clients from kubeconfigs for rehearse, with
// clear errors for a missing file, an unknown context or an unreachable API
// server, and a read-only guard that refuses every request that could change
// a cluster the harness did not create.
package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultReachTimeout bounds the first request that proves the API server answers.
const DefaultReachTimeout = 10 * time.Second

// Config loads the REST config of kubeconfig (the usual KUBECONFIG rules when
// empty) and context (its current context when empty).
func Config(kubeconfig, contextName string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", describe(kubeconfig), err)
	}
	var names []string
	for n := range raw.Contexts {
		names = append(names, n)
	}
	sort.Strings(names)
	name := contextName
	if name == "" {
		name = raw.CurrentContext
	}
	switch {
	case len(names) == 0:
		return nil, fmt.Errorf("kubeconfig %s: no contexts; create a cluster (rehearse cluster create) or pass --kubeconfig", describe(kubeconfig))
	case name == "":
		return nil, fmt.Errorf("kubeconfig %s: no current context; pass --context (contexts: %s)", describe(kubeconfig), strings.Join(names, ", "))
	case raw.Contexts[name] == nil:
		return nil, fmt.Errorf("kubeconfig %s: no context %q; contexts: %s", describe(kubeconfig), name, strings.Join(names, ", "))
	}
	cc := clientcmd.NewNonInteractiveClientConfig(*raw, contextName, &clientcmd.ConfigOverrides{}, rules)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", describe(kubeconfig), err)
	}
	return cfg, nil
}

func describe(kubeconfig string) string {
	if kubeconfig == "" {
		return "(default: $KUBECONFIG or ~/.kube/config)"
	}
	return kubeconfig
}

// Reach proves the API server answers, within timeout, and returns its version.
func Reach(ctx context.Context, client kubernetes.Interface, host string, timeout time.Duration) (string, error) {
	if timeout <= 0 {
		timeout = DefaultReachTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := discovery.ToServerVersionInterfaceWithContext(client.Discovery()).ServerVersionWithContext(ctx)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", fmt.Errorf("API server %s does not answer within %s", host, timeout)
		}
		return "", fmt.Errorf("API server %s does not answer: %w", host, err)
	}
	return v.GitVersion, nil
}

// ReadOnly returns a copy of cfg whose requests can only read: any method
// but GET, HEAD and OPTIONS is refused before it leaves the process, and
// every request is counted in the returned Audit.
func ReadOnly(cfg *rest.Config) (*rest.Config, *Audit) {
	out := rest.CopyConfig(cfg)
	audit := &Audit{}
	prev := out.WrapTransport
	out.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if prev != nil {
			rt = prev(rt)
		}
		return &readOnly{next: rt, audit: audit}
	}
	// Watches are GETs; so are lists. Nothing else is needed to read.
	return out, audit
}

// Audit counts the HTTP methods a client used.
type Audit struct {
	mu      sync.Mutex
	methods map[string]int
	refused []string
}

// Methods returns how many requests of each method were sent (or refused).
func (a *Audit) Methods() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]int{}
	for k, v := range a.methods {
		out[k] = v
	}
	return out
}

// Refused lists the requests the guard refused, as "METHOD path".
func (a *Audit) Refused() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.refused...)
}

func (a *Audit) note(method, path string, refused bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.methods == nil {
		a.methods = map[string]int{}
	}
	a.methods[method]++
	if refused {
		a.refused = append(a.refused, method+" "+path)
	}
}

type readOnly struct {
	next  http.RoundTripper
	audit *Audit
}

// ErrReadOnly is returned for a request that could change the cluster.
type ErrReadOnly struct{ Method, Path string }

func (e *ErrReadOnly) Error() string {
	return fmt.Sprintf("refused %s %s: this client only reads (get, list, watch)", e.Method, e.Path)
}

func (r *readOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		r.audit.note(req.Method, req.URL.Path, false)
		return r.next.RoundTrip(req)
	}
	r.audit.note(req.Method, req.URL.Path, true)
	return nil, &ErrReadOnly{Method: req.Method, Path: req.URL.Path}
}
