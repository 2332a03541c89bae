package kube

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestReadOnlyRefusesWrites(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"NamespaceList","apiVersion":"v1","items":[]}`))
	}))
	defer srv.Close()
	cfg, audit := ReadOnly(&rest.Config{Host: srv.URL})
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ctx := context.Background()

	_, err = client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refused POST /api/v1/namespaces: this client only reads")
	err = client.CoreV1().Namespaces().Delete(ctx, "x", metav1.DeleteOptions{})
	require.Error(t, err)

	assert.Equal(t, []string{"GET /api/v1/namespaces"}, seen, "writes never reach the server")
	assert.Equal(t, map[string]int{"GET": 1, "POST": 1, "DELETE": 1}, audit.Methods())
	assert.Len(t, audit.Refused(), 2)
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: secret}
contexts:
- name: alpha
  context: {cluster: c, user: u}
- name: beta
  context: {cluster: c, user: u}
current-context: alpha
`), 0o600))
	_, err := Config(kc, "gamma")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no context "gamma"; contexts: alpha, beta`)
	assert.NotContains(t, err.Error(), "secret")

	cfg, err := Config(kc, "beta")
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:1", cfg.Host)

	_, err = Config(filepath.Join(dir, "missing"), "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing")

	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	_, err = Reach(context.Background(), client, cfg.Host, 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "API server https://127.0.0.1:1 does not answer")
}

func TestActingSubresource(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/api/v1/namespaces/d/pods/p/exec", "exec"},
		{"/api/v1/namespaces/d/pods/p/attach", "attach"},
		{"/api/v1/namespaces/d/pods/p/portforward", "portforward"},
		{"/api/v1/namespaces/d/pods/p/proxy", "proxy"},
		{"/api/v1/namespaces/d/pods/p:8080/proxy/drain", "proxy"},
		{"/api/v1/namespaces/d/services/s:80/proxy/", "proxy"},
		{"/api/v1/nodes/n/proxy/metrics", "proxy"},
		{"/api/v1/proxy/namespaces/d/pods/p", "proxy"},
		{"/apis/example.io/v1/namespaces/d/things/t/exec", "exec"},
		{"/apis/example.io/v1/things/t/proxy", "proxy"},
		// Reading: lists, gets, watches, logs, status; names that look
		// like subresources are still names.
		{"/api/v1/namespaces/d/pods", ""},
		{"/api/v1/namespaces/d/pods/exec", ""},
		{"/api/v1/namespaces/exec", ""},
		{"/api/v1/namespaces/proxy/pods/p/log", ""},
		{"/api/v1/namespaces/d/status", ""},
		{"/api/v1/watch/namespaces/d/pods", ""},
		{"/api/v1/nodes/proxy", ""},
		{"/apis/apps/v1/namespaces/d/deployments/x/status", ""},
		{"/apis/apps/v1", ""},
		{"/api", ""},
		{"/version", ""},
		{"/metrics", ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			assert.Equal(t, tc.want, actingSubresource(tc.path))
		})
	}
}

// A GET can act: kubectl exec, attach and port-forward upgrade a GET, and a
// proxy GET reaches whatever listens in a pod, node or service.
func TestReadOnlyRefusesActingSubresources(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"exec"}}`))
	}))
	defer srv.Close()
	cfg, audit := ReadOnly(&rest.Config{Host: srv.URL})
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	rc := client.CoreV1().RESTClient()

	tests := []struct {
		name string
		req  *rest.Request
		want string // part of the error; empty: the request is sent
	}{
		{"exec", rc.Get().Namespace("d").Resource("pods").Name("p").SubResource("exec").Param("command", "sh"), "; exec is not reading"},
		{"attach", rc.Get().Namespace("d").Resource("pods").Name("p").SubResource("attach"), "attach is not reading"},
		{"portforward", rc.Get().Namespace("d").Resource("pods").Name("p").SubResource("portforward"), "portforward is not reading"},
		{"pod proxy", rc.Get().Namespace("d").Resource("pods").Name("p:8080").SubResource("proxy", "drain"), "proxy is not reading"},
		{"node proxy", rc.Get().Resource("nodes").Name("n").SubResource("proxy", "configz"), "proxy is not reading"},
		{"service proxy", rc.Get().Namespace("d").Resource("services").Name("s:80").SubResource("proxy"), "proxy is not reading"},
		{"OPTIONS", rc.Verb(http.MethodOptions).Namespace("d").Resource("pods"), "refused OPTIONS /api/v1/namespaces/d/pods: this client only reads"},
		{"a pod named exec", rc.Get().Namespace("d").Resource("pods").Name("exec"), ""},
		{"logs", rc.Get().Namespace("d").Resource("pods").Name("p").SubResource("log"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.Do(ctx).Error()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			var ro *ErrReadOnly
			assert.ErrorAs(t, err, &ro)
		})
	}
	assert.Equal(t, []string{"GET /api/v1/namespaces/d/pods/exec", "GET /api/v1/namespaces/d/pods/p/log"}, seen, "refused requests never reach the server")
	assert.Len(t, audit.Refused(), 7)
}

func TestParseRequestTimeout(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"30s", 30 * time.Second, ""},
		{"2m", 2 * time.Minute, ""},
		{"5", 5 * time.Second, ""},
		{"0", 0, ""},
		{"-1s", 0, "must not be negative"},
		{"-3", 0, "must not be negative"},
		{"soon", 0, "want a duration such as 30s"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRequestTimeout(tc.in)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				assert.Contains(t, err.Error(), strconv.Quote(tc.in))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// hangingServer is an API server that accepts TLS connections and never
// answers, and the kubeconfig that points to it.
func hangingServer(t *testing.T) (srv *httptest.Server, kubeconfig string) {
	t.Helper()
	release := make(chan struct{})
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: handlers return, then Close
	kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: hang
  cluster: {server: "`+srv.URL+`", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: t}
contexts:
- name: hang
  context: {cluster: hang, user: u}
current-context: hang
`), 0o600))
	return srv, kubeconfig
}

func TestServerVersionDoesNotHang(t *testing.T) {
	srv, kc := hangingServer(t)
	cfg, err := Config(kc, "")
	require.NoError(t, err)
	assert.Equal(t, DefaultRequestTimeout, cfg.Timeout, "a client from Config has a request timeout")

	t.Run("request timeout", func(t *testing.T) {
		cfg := rest.CopyConfig(cfg)
		cfg.Timeout = 300 * time.Millisecond
		client, err := kubernetes.NewForConfig(cfg)
		require.NoError(t, err)
		start := time.Now()
		_, err = ServerVersion(context.Background(), client)
		took := time.Since(start)
		require.Error(t, err)
		assert.Less(t, took, 5*time.Second)
		assert.Contains(t, err.Error(), srv.URL, "the error names the server")
		// client-go ends the request through its own timeout: the http
		// client's, or the request context's deadline, whichever fires first.
		assert.Regexp(t, `Timeout|deadline exceeded`, err.Error())
	})
	t.Run("context cancelled", func(t *testing.T) {
		cfg := rest.CopyConfig(cfg)
		cfg.Timeout = 0 // no request timeout: only the context ends it
		client, err := kubernetes.NewForConfig(cfg)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		_, err = ServerVersion(ctx, client)
		took := time.Since(start)
		require.Error(t, err)
		assert.Less(t, took, 5*time.Second)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Contains(t, err.Error(), srv.URL)

		// Reach says so too, naming the server.
		ctx, cancel = context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		_, err = Reach(ctx, client, cfg.Host, time.Minute)
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Contains(t, err.Error(), "API server "+srv.URL+": stopped waiting")
	})
}
