package kube

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

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
