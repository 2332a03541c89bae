package lb

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kindMove replaces path the way kind does: write path.tmp, then rename it.
func kindMove(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path+".tmp", []byte(content), 0o644))
	require.NoError(t, os.Rename(path+".tmp", path))
}

// kindFiles lays out a load balancer's files as kind's bootstrap command
// leaves them: the bootstrap and empty CDS and LDS files.
func kindFiles(t *testing.T) (dir, boot, cds, lds string) {
	t.Helper()
	dir = t.TempDir()
	boot, cds, lds = filepath.Join(dir, "envoy.yaml"), filepath.Join(dir, "cds.yaml"), filepath.Join(dir, "lds.yaml")
	require.NoError(t, os.WriteFile(boot, []byte(renderBootstrap(t, "kind", "kind-external-load-balancer", cds, lds)), 0o644))
	require.NoError(t, os.WriteFile(cds, []byte("resources: []"), 0o644))
	require.NoError(t, os.WriteFile(lds, []byte("resources: []"), 0o644))
	return dir, boot, cds, lds
}

func TestMainFollowsKindFiles(t *testing.T) {
	a, c := newHTTPSBackend(t, "a"), newHTTPSBackend(t, "b")
	_, boot, cdsPath, ldsPath := kindFiles(t)
	port, err := strconv.Atoi(strings.TrimPrefix(refusedAddr(t), "127.0.0.1:"))
	require.NoError(t, err)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	render := func(tmpl string, backends ...*httpsBackend) string {
		d := kindData{ControlPlanePort: port, BackendServers: map[string]string{}}
		for _, be := range backends {
			d.BackendServers[be.name] = be.addr()
		}
		// kind listens on 0.0.0.0; the test keeps to loopback.
		return strings.Replace(renderKind(t, tmpl, d), `"0.0.0.0"`, `"127.0.0.1"`, 1)
	}

	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-l", "info", "--base-id", "1", "-c", boot}, stdout, stderr, pollInterval)
	}()
	defer func() {
		cancel()
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
	}()

	// Nothing listens until kind writes the real configuration, CDS first.
	time.Sleep(100 * time.Millisecond)
	_, err = net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "listening before LDS names a listener")
	kindMove(t, cdsPath, render("cds.yaml.tmpl", a))
	kindMove(t, ldsPath, render("lds.yaml.tmpl"))
	require.Eventually(t, func() bool { name, err := who(addr); return err == nil && name == "a" }, 3*time.Second, 50*time.Millisecond)

	// A kept-alive connection made now must survive the change of backends.
	kept := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test servers
		MaxConnsPerHost: 1,
	}}
	defer kept.CloseIdleConnections()
	keptWho := func() (name string, reused bool) {
		t.Helper()
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, "https://"+addr+"/who", nil)
		require.NoError(t, err)
		resp, err := kept.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(body), reused
	}
	name, _ := keptWho()
	require.Equal(t, "a", name)

	// kind rewrites CDS with other control planes.
	kindMove(t, cdsPath, render("cds.yaml.tmpl", c))
	require.Eventually(t, func() bool { name, err := who(addr); return err == nil && name == "b" }, 3*time.Second, 50*time.Millisecond)
	assert.Equal(t, map[string]int{"b": 6}, tally(t, addr, 6))
	name, reused := keptWho()
	assert.True(t, reused, "the kept-alive connection was dropped")
	assert.Equal(t, "a", name, "established connection moved off its backend")

	// Content the stand-in cannot use is rejected; the old config stays.
	kindMove(t, cdsPath, "resources: [")
	require.Eventually(t, func() bool { return strings.Contains(stdout.String(), "configuration rejected") }, 3*time.Second, 50*time.Millisecond)
	assert.Equal(t, map[string]int{"b": 2}, tally(t, addr, 2))

	// Both backends: round robin over the two.
	kindMove(t, cdsPath, render("cds.yaml.tmpl", a, c))
	require.Eventually(t, func() bool { return strings.Contains(stdout.String(), "backends ["+a.addr()+" "+c.addr()+"]") }, 3*time.Second, 50*time.Millisecond)
	// a is new to the cluster again: it gets traffic once its first check passes.
	require.Eventually(t, func() bool { name, err := who(addr); return err == nil && name == "a" }, 3*time.Second, 20*time.Millisecond)
	assert.Equal(t, map[string]int{"a": 3, "b": 3}, tally(t, addr, 6))

	cancel()
	select {
	case got := <-code:
		assert.Equal(t, 0, got)
	case <-time.After(3 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	_, err = net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "still listening after shutdown")
	out := stdout.String()
	assert.Contains(t, out, "listening on "+addr)
	assert.Contains(t, out, `node cluster "kind" id "kind-external-load-balancer"`)
	assert.Contains(t, out, "config applied: listener "+addr+", cluster kube_apiservers, backends ["+c.addr()+"], connect timeout 250ms")
	assert.Empty(t, stderr.String())
}

func TestMainFatalErrors(t *testing.T) {
	dir, boot, cds, _ := kindFiles(t)
	ctx := context.Background()
	fail := func(args []string, want ...string) {
		t.Helper()
		var stdout, stderr strings.Builder
		assert.Equal(t, 1, run(ctx, args, &stdout, &stderr, pollInterval), args)
		for _, w := range want {
			assert.Contains(t, stderr.String(), w, args)
		}
	}

	fail(nil, "-c PATH")
	fail([]string{"-c", filepath.Join(dir, "missing.yaml")}, "missing.yaml")

	noCDS := filepath.Join(dir, "nocds.yaml")
	require.NoError(t, os.WriteFile(noCDS, []byte("dynamic_resources:\n  lds_config:\n    path_config_source:\n      path: /x\n"), 0o644))
	fail([]string{"-c", noCDS}, noCDS, "dynamic_resources.cds_config.path_config_source.path")

	require.NoError(t, os.Remove(cds))
	fail([]string{"-c", boot}, boot, "dynamic_resources.cds_config.path_config_source.path", cds)

	var stdout strings.Builder
	assert.Equal(t, 0, run(ctx, []string{"--version"}, &stdout, io.Discard, pollInterval))
	assert.Contains(t, stdout.String(), "envoy version")
}
