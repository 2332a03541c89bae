package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hangingAPIServer accepts TLS connections and never answers, as an API
// server behind a stuck load balancer does; it returns a kubeconfig that
// points to it.
func hangingAPIServer(t *testing.T) (url, kubeconfig string) {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	return srv.URL, kubeconfig
}

// Every command that talks to an API server gives up on one that never
// answers after --request-timeout, naming it, and stops at once when its
// context ends.
func TestAPICommandsDoNotHang(t *testing.T) {
	url, kc := hangingAPIServer(t)
	commands := [][]string{
		{"plan", "--kubeconfig", kc},
		{"profile", "--kubeconfig", kc},
		{"check", "--kubeconfig", kc},
		{"canary", "deploy", "--kubeconfig", kc},
		{"canary", "delete", "--kubeconfig", kc},
	}
	for _, args := range commands {
		name := strings.Join(args[:len(args)-2], " ")
		t.Run(name+" --request-timeout", func(t *testing.T) {
			start := time.Now()
			r := run(t, context.Background(), append(args, "--request-timeout", "1s")...)
			assert.Less(t, time.Since(start), 8*time.Second, "stderr: %s", r.err)
			assert.Equal(t, ExitBadInput, r.code, "stderr: %s", r.err)
			assert.Contains(t, r.err, url, "the error names the API server")
		})
		t.Run(name+" cancelled", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(300*time.Millisecond, cancel)
			start := time.Now()
			r := run(t, ctx, append(args, "--request-timeout", "0")...)
			assert.Less(t, time.Since(start), 5*time.Second, "stderr: %s", r.err)
			assert.NotEqual(t, 0, r.code)
			assert.Contains(t, r.err, url)
		})
		t.Run(name+" bad --request-timeout", func(t *testing.T) {
			r := run(t, context.Background(), append(args, "--request-timeout", "soon")...)
			assert.Equal(t, ExitBadInput, r.code, "stderr: %s", r.err)
			assert.Contains(t, r.err, `--request-timeout "soon"`)
		})
	}
}
