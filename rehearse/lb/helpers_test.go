package lb

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/stretchr/testify/require"
)

// syncBuffer is a log destination tests read while the Balancer writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// kindData mirrors kind's loadbalancer.ConfigData, which the templates in
// testdata (copied from kind) are rendered with.
type kindData struct {
	ControlPlanePort int
	BackendServers   map[string]string
	IPv6             bool
}

func renderKind(t *testing.T, name string, data kindData) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	funcs := template.FuncMap{"hostPort": func(addr string) (map[string]string, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		return map[string]string{"host": host, "port": port}, nil
	}}
	tmpl, err := template.New(name).Funcs(funcs).Parse(string(text))
	require.NoError(t, err)
	var out strings.Builder
	require.NoError(t, tmpl.Execute(&out, data))
	return out.String()
}

// renderBootstrap renders kind's bootstrap the way GenerateBootstrapCommand does.
func renderBootstrap(t *testing.T, cluster, id, cds, lds string) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", "bootstrap.yaml.tmpl"))
	require.NoError(t, err)
	return fmt.Sprintf(string(text), cluster, id, cds, lds)
}

// httpsBackend is an apiserver look-alike: /healthz answers 200 while
// healthy and 500 otherwise, /who answers the backend's name.
type httpsBackend struct {
	*httptest.Server
	name     string
	failing  atomic.Bool
	failures atomic.Int32 // failed /healthz answers given
}

func newHTTPSBackend(t *testing.T, name string) *httpsBackend {
	t.Helper()
	be := &httpsBackend{name: name}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if be.failing.Load() {
			be.failures.Add(1)
			http.Error(w, "not ok", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/who", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, name)
	})
	be.Server = httptest.NewUnstartedServer(mux)
	be.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake noise from probes
	be.StartTLS()
	t.Cleanup(be.Close)
	return be
}

func (be *httpsBackend) addr() string { return be.Listener.Addr().String() }

// who asks, over a new connection through the balancer at addr, which
// backend answers.
func who(addr string) (string, error) {
	c := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test servers
			DisableKeepAlives: true,
		},
	}
	resp, err := c.Get("https://" + addr + "/who")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return string(body), nil
}

// tally sends n requests through the balancer and counts the answers.
func tally(t *testing.T, addr string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		name, err := who(addr)
		require.NoError(t, err)
		got[name]++
	}
	return got
}

// tcpBackend greets each connection with its name and a newline, echoes what
// it reads until end of file, then writes "bye\n" and closes.
func tcpBackend(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.WriteString(c, name+"\n")
				_, _ = io.Copy(c, c)
				_, _ = io.WriteString(c, "bye\n")
			}()
		}
	}()
	return ln.Addr().String()
}

// greeting connects to addr and reads the backend's greeting.
func greeting(addr string) (net.Conn, string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, "", err
	}
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return nil, "", err
	}
	return c, strings.TrimSuffix(line, "\n"), nil
}

// refusedAddr is a local address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// startBalancer runs a Balancer with cfg until the test ends. done is closed
// when Run returns, with Run's error in *runErr.
func startBalancer(t *testing.T, cfg Config) (b *Balancer, logs *syncBuffer, cancel context.CancelFunc, done <-chan struct{}, runErr *error) {
	t.Helper()
	logs = &syncBuffer{}
	b = NewBalancer(logs)
	require.NoError(t, b.Apply(cfg))
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	runErr = new(error)
	go func() {
		*runErr = b.Run(ctx)
		close(finished)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(5 * time.Second):
			t.Error("Balancer.Run did not return after cancel")
		}
		if t.Failed() {
			t.Logf("balancer log:\n%s", logs)
		}
	})
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.running && (cfg.Listen == "" || b.ln != nil)
	}, 2*time.Second, 5*time.Millisecond, "balancer not running")
	return b, logs, cancel, finished, runErr
}

func stateOf(b *Balancer, addr string) healthState {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, be := range b.backends {
		if be.addr == addr {
			return be.state
		}
	}
	return -1
}
