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
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultReachTimeout bounds the first request that proves the API server answers.
const DefaultReachTimeout = 10 * time.Second

// DefaultRequestTimeout bounds every request of a client made from Config
// (rest.Config.Timeout), as kubectl's --request-timeout does: an API server
// that accepts connections and never answers fails the request instead of
// hanging the command.
const DefaultRequestTimeout = 30 * time.Second

// Config loads the REST config of kubeconfig (the usual KUBECONFIG rules when
// empty) and context (its current context when empty). Its requests time out
// after DefaultRequestTimeout; set its Timeout to change that.
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
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultRequestTimeout
	}
	return cfg, nil
}

// ParseRequestTimeout reads a --request-timeout value as kubectl does: a
// duration with its unit (30s, 2m) or a number of seconds; 0 means no
// limit.
func ParseRequestTimeout(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("%q: must not be negative", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want a duration such as 30s or 2m, or a number of seconds (0: no limit)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: must not be negative", s)
	}
	return d, nil
}

// ServerVersion asks the API server for its version (GET /version) within
// ctx, unlike client-go's ServerVersion, which knows no context. The error
// names the server.
func ServerVersion(ctx context.Context, client kubernetes.Interface) (*version.Info, error) {
	v, err := discovery.ToServerVersionInterfaceWithContext(client.Discovery()).ServerVersionWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("version of the API server%s: %w", hostOf(client), err)
	}
	return v, nil
}

// hostOf is " at HOST" for a client that reaches a server through REST,
// empty for a fake.
func hostOf(client kubernetes.Interface) string {
	rc := client.Discovery().RESTClient()
	if rc == nil {
		return ""
	}
	if v := reflect.ValueOf(rc); v.Kind() == reflect.Pointer && v.IsNil() {
		return ""
	}
	if u := rc.Get().URL(); u != nil && u.Host != "" {
		return " at " + u.Scheme + "://" + u.Host
	}
	return ""
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
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := discovery.ToServerVersionInterfaceWithContext(client.Discovery()).ServerVersionWithContext(rctx)
	switch {
	case err == nil:
		return v.GitVersion, nil
	case ctx.Err() != nil:
		return "", fmt.Errorf("API server %s: stopped waiting for an answer: %w", host, ctx.Err())
	case errors.Is(rctx.Err(), context.DeadlineExceeded):
		return "", fmt.Errorf("API server %s does not answer within %s", host, timeout)
	}
	return "", fmt.Errorf("API server %s does not answer: %w", host, err)
}

// ReadOnly returns a copy of cfg whose requests can only read: any method
// but GET and HEAD is refused before it leaves the process, and so is a GET
// of a subresource that acts rather than reads (exec, attach, portforward,
// proxy: kubectl exec and port-forward upgrade a GET). Every request is
// counted in the returned Audit.
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
type ErrReadOnly struct {
	Method, Path string
	// Subresource is set when the path, not the method, was refused.
	Subresource string
}

func (e *ErrReadOnly) Error() string {
	if e.Subresource != "" {
		return fmt.Sprintf("refused %s %s: this client only reads (get, list, watch); %s is not reading", e.Method, e.Path, e.Subresource)
	}
	return fmt.Sprintf("refused %s %s: this client only reads (get, list, watch)", e.Method, e.Path)
}

func (r *readOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	sub := actingSubresource(req.URL.Path)
	if (req.Method == http.MethodGet || req.Method == http.MethodHead) && sub == "" {
		r.audit.note(req.Method, req.URL.Path, false)
		return r.next.RoundTrip(req)
	}
	r.audit.note(req.Method, req.URL.Path, true)
	return nil, &ErrReadOnly{Method: req.Method, Path: req.URL.Path, Subresource: sub}
}

// acting are the subresources that act on a pod, node or service even
// through a GET: a command in a container, a stream to it, a tunnel, or a
// request passed on to whatever listens behind it.
var acting = map[string]bool{"exec": true, "attach": true, "portforward": true, "proxy": true}

// actingSubresource names the acting subresource a request path reaches,
// "" for none. It reads the path as the API server does
// (k8s.io/apiserver's RequestInfoFactory): /api/VERSION/... or
// /apis/GROUP/VERSION/..., an optional watch/ prefix, an optional
// namespaces/NS/ prefix (unless it addresses the namespace itself), then
// RESOURCE/NAME/SUBRESOURCE. The long-removed /api/v1/proxy/... form
// counts as proxy.
func actingSubresource(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return "" // /version, /metrics, /healthz, /openapi/...: no resource
	}
	if len(parts) > 0 && parts[0] == "proxy" {
		return "proxy"
	}
	if len(parts) > 0 && parts[0] == "watch" {
		parts = parts[1:]
	}
	if len(parts) > 2 && parts[0] == "namespaces" && parts[2] != "status" && parts[2] != "finalize" {
		parts = parts[2:]
	}
	if len(parts) >= 3 && acting[parts[2]] {
		return parts[2]
	}
	return ""
}
