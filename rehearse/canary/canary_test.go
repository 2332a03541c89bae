package canary

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// running is a canary started with Serve on ":0".
type running struct {
	url    string
	addr   net.Addr
	cancel context.CancelFunc
	done   chan error

	once sync.Once
	err  error
}

// wait returns Serve's result, failing the test if it does not come within
// a generous time (a hang, not a latency measurement).
func (r *running) wait(t *testing.T) error {
	t.Helper()
	r.once.Do(func() {
		select {
		case r.err = <-r.done:
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return")
		}
	})
	return r.err
}

func startServe(t *testing.T, cfg Config) *running {
	t.Helper()
	return startWith(t, func(ctx context.Context, onListen func(net.Addr)) error {
		return Serve(ctx, cfg, onListen)
	})
}

func startWith(t *testing.T, serve func(context.Context, func(net.Addr)) error) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	addrs := make(chan net.Addr, 1)
	go func() { r.done <- serve(ctx, func(a net.Addr) { addrs <- a }) }()
	select {
	case a := <-addrs:
		r.addr = a
		r.url = "http://" + a.String()
	case err := <-r.done:
		cancel()
		t.Fatalf("Serve returned before listening: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("Serve did not start listening")
	}
	t.Cleanup(func() {
		r.cancel()
		_ = r.wait(t)
	})
	return r
}

func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

type reply struct {
	code   int
	header http.Header
	body   string
	close  bool
}

func do(t *testing.T, c *http.Client, method, url string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{code: resp.StatusCode, header: resp.Header, body: string(b), close: resp.Close}
}

// record serves one request through the handler without a socket.
func record(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestIdentityFromEnv(t *testing.T) {
	hostname, err := os.Hostname()
	require.NoError(t, err)

	tests := []struct {
		name string
		env  map[string]string
		want Identity
	}{
		{
			name: "downward API fills everything",
			env: map[string]string{
				"POD_NAME": "canary-7d9f-abcde", "NODE_NAME": "worker-1",
				"POD_NAMESPACE": "rehearse", "POD_IP": "10.244.1.7",
				"HOSTNAME": "ignored",
			},
			want: Identity{Pod: "canary-7d9f-abcde", Node: "worker-1", Namespace: "rehearse", PodIP: "10.244.1.7"},
		},
		{
			name: "pod falls back to HOSTNAME",
			env:  map[string]string{"HOSTNAME": "canary-from-hostname", "NODE_NAME": "worker-2"},
			want: Identity{Pod: "canary-from-hostname", Node: "worker-2"},
		},
		{
			name: "pod falls back to the machine hostname",
			env:  map[string]string{"POD_NAMESPACE": "default"},
			want: Identity{Pod: hostname, Namespace: "default"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := IdentityFromEnv(func(k string) string { return tt.env[k] })
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string // substrings; none means valid
	}{
		{name: "zero config is valid", cfg: Config{}},
		{
			name: "defaults are valid",
			cfg:  Config{Addr: DefaultAddr, DrainDelay: DefaultDrainDelay, ShutdownTimeout: DefaultShutdownTimeout},
		},
		{name: "host and port", cfg: Config{Addr: "127.0.0.1:9090"}},
		{name: "fail rate bounds are inclusive", cfg: Config{FailRate: 1}},
		{name: "addr without port", cfg: Config{Addr: "8080"}, wantErr: []string{`--addr "8080": missing port in address`}},
		{name: "addr with bad port", cfg: Config{Addr: ":http-ish"}, wantErr: []string{`--addr ":http-ish": port "http-ish" must be a number`}},
		{name: "addr port out of range", cfg: Config{Addr: ":70000"}, wantErr: []string{`--addr ":70000": port "70000"`}},
		{name: "negative delay", cfg: Config{Delay: -time.Second}, wantErr: []string{"--delay -1s: must not be negative"}},
		{name: "negative jitter", cfg: Config{Jitter: -time.Millisecond}, wantErr: []string{"--jitter -1ms: must not be negative"}},
		{name: "fail rate above one", cfg: Config{FailRate: 1.5}, wantErr: []string{"--fail-rate 1.5: must be between 0 and 1"}},
		{name: "negative fail rate", cfg: Config{FailRate: -0.1}, wantErr: []string{"--fail-rate -0.1: must be between 0 and 1"}},
		{name: "fail rate NaN", cfg: Config{FailRate: math.NaN()}, wantErr: []string{"--fail-rate NaN: must be between 0 and 1"}},
		{name: "negative fail after", cfg: Config{FailAfter: -time.Second}, wantErr: []string{"--fail-after -1s: must not be negative"}},
		{name: "negative drain delay", cfg: Config{DrainDelay: -time.Second}, wantErr: []string{"--drain-delay -1s: must not be negative"}},
		{name: "negative shutdown timeout", cfg: Config{ShutdownTimeout: -time.Second}, wantErr: []string{"--shutdown-timeout -1s: must not be negative"}},
		{
			name:    "every problem is reported",
			cfg:     Config{Delay: -1, FailRate: 2, DrainDelay: -1},
			wantErr: []string{"--delay", "--fail-rate 2", "--drain-delay"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.wantErr) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestServeRejectsInvalidConfig(t *testing.T) {
	err := Serve(context.Background(), Config{FailRate: 3}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--fail-rate")
}

func TestEndpoints(t *testing.T) {
	id := Identity{Pod: "canary-abc", Node: "worker-1", Namespace: "rehearse", PodIP: "10.0.0.9"}
	r := startServe(t, Config{Addr: "127.0.0.1:0", Version: "v1.2.3", Identity: id})
	c := newClient(t)

	tests := []struct {
		name     string
		method   string
		path     string
		wantCode int
		wantBody string // exact, unless empty
		check    func(t *testing.T, got reply)
	}{
		{
			name: "root answers JSON about the pod", method: http.MethodGet, path: "/", wantCode: http.StatusOK,
			check: func(t *testing.T, got reply) {
				assert.Equal(t, "application/json", got.header.Get("Content-Type"))
				var body struct {
					Pod, Node, Namespace, PodIP, Version, Time string
					UptimeSeconds                              *float64
					Draining                                   *bool
				}
				require.NoError(t, json.Unmarshal([]byte(got.body), &body))
				assert.Equal(t, id.Pod, body.Pod)
				assert.Equal(t, id.Node, body.Node)
				assert.Equal(t, id.Namespace, body.Namespace)
				assert.Equal(t, id.PodIP, body.PodIP)
				assert.Equal(t, "v1.2.3", body.Version)
				ts, err := time.Parse(time.RFC3339Nano, body.Time)
				require.NoError(t, err, "time %q", body.Time)
				assert.WithinDuration(t, time.Now(), ts, time.Minute)
				require.NotNil(t, body.UptimeSeconds)
				assert.GreaterOrEqual(t, *body.UptimeSeconds, 0.0)
				require.NotNil(t, body.Draining)
				assert.False(t, *body.Draining)
				assert.False(t, got.close, "no Connection: close before draining")
			},
		},
		{
			name: "root exposes exactly the documented fields", method: http.MethodGet, path: "/", wantCode: http.StatusOK,
			check: func(t *testing.T, got reply) {
				var m map[string]any
				require.NoError(t, json.Unmarshal([]byte(got.body), &m))
				keys := make([]string, 0, len(m))
				for k := range m {
					keys = append(keys, k)
				}
				assert.ElementsMatch(t, []string{"pod", "node", "namespace", "podIP", "version", "time", "uptimeSeconds", "draining"}, keys)
			},
		},
		{name: "root HEAD has no body", method: http.MethodHead, path: "/", wantCode: http.StatusOK},
		{name: "healthz", method: http.MethodGet, path: "/healthz", wantCode: http.StatusOK, wantBody: "ok"},
		{name: "readyz", method: http.MethodGet, path: "/readyz", wantCode: http.StatusOK, wantBody: "ready"},
		{name: "readyz HEAD", method: http.MethodHead, path: "/readyz", wantCode: http.StatusOK},
		{name: "unknown path", method: http.MethodGet, path: "/nope", wantCode: http.StatusNotFound},
		{name: "query string is ignored", method: http.MethodGet, path: "/?probe=1", wantCode: http.StatusOK},
		{
			name: "POST is not allowed", method: http.MethodPost, path: "/", wantCode: http.StatusMethodNotAllowed,
			check: func(t *testing.T, got reply) { assert.Equal(t, "GET, HEAD", got.header.Get("Allow")) },
		},
		{name: "DELETE on healthz is not allowed", method: http.MethodDelete, path: "/healthz", wantCode: http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, c, tt.method, r.url+tt.path)
			assert.Equal(t, tt.wantCode, got.code)
			assert.Equal(t, id.Pod, got.header.Get("X-Canary-Pod"))
			assert.Equal(t, id.Node, got.header.Get("X-Canary-Node"))
			assert.Equal(t, "v1.2.3", got.header.Get("X-Canary-Version"))
			if tt.method == http.MethodHead {
				assert.Empty(t, got.body)
			}
			if tt.wantBody != "" {
				assert.Equal(t, tt.wantBody, got.body)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestDefaultVersion(t *testing.T) {
	h, _ := Handler(Config{})
	rec := record(h, http.MethodGet, "/")
	assert.Equal(t, DefaultVersion, rec.Header().Get("X-Canary-Version"))
}

func TestDelay(t *testing.T) {
	tests := []struct {
		name   string
		delay  time.Duration
		jitter time.Duration
	}{
		{name: "fixed 50ms", delay: 50 * time.Millisecond},
		{name: "20ms plus jitter", delay: 20 * time.Millisecond, jitter: 30 * time.Millisecond},
		{name: "jitter only", jitter: 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startServe(t, Config{Addr: "127.0.0.1:0", Delay: tt.delay, Jitter: tt.jitter, Seed: 7})
			c := newClient(t)
			for range 3 {
				start := time.Now()
				got := do(t, c, http.MethodGet, r.url+"/")
				elapsed := time.Since(start)
				assert.Equal(t, http.StatusOK, got.code)
				// Lower bound only: a loaded machine may always be slower.
				assert.GreaterOrEqual(t, elapsed, tt.delay)
			}
			// Probes are never delayed by the setting (not timed: just answered).
			assert.Equal(t, http.StatusOK, do(t, c, http.MethodGet, r.url+"/healthz").code)
		})
	}
}

func TestPauseStaysWithinJitter(t *testing.T) {
	tests := []struct {
		name          string
		delay, jitter time.Duration
	}{
		{name: "no delay", delay: 0, jitter: 0},
		{name: "delay only", delay: 40 * time.Millisecond},
		{name: "delay and jitter", delay: 10 * time.Millisecond, jitter: 5 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s := Handler(Config{Delay: tt.delay, Jitter: tt.jitter, Seed: 1})
			var spread bool
			for range 1000 {
				d := s.pause()
				require.GreaterOrEqual(t, d, tt.delay)
				if tt.jitter > 0 {
					require.Less(t, d, tt.delay+tt.jitter)
					spread = spread || d != tt.delay
				} else {
					require.Equal(t, tt.delay, d)
				}
			}
			if tt.jitter > 0 {
				assert.True(t, spread, "jitter should vary the pause")
			}
		})
	}
}

func TestFailRate(t *testing.T) {
	const n = 2000
	tests := []struct {
		name string
		rate float64
	}{
		{name: "never", rate: 0},
		{name: "thirty percent", rate: 0.3},
		{name: "always", rate: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := Handler(Config{FailRate: tt.rate, Seed: 42, Identity: Identity{Pod: "p", Node: "n"}, Version: "v"})
			failed := 0
			for range n {
				rec := record(h, http.MethodGet, "/")
				switch rec.Code {
				case http.StatusOK:
				case http.StatusServiceUnavailable:
					failed++
					assert.JSONEq(t, `{"error":"injected failure"}`, rec.Body.String())
					assert.Equal(t, "p", rec.Header().Get("X-Canary-Pod"))
					assert.Equal(t, "n", rec.Header().Get("X-Canary-Node"))
					assert.Equal(t, "v", rec.Header().Get("X-Canary-Version"))
				default:
					t.Fatalf("unexpected status %d", rec.Code)
				}
			}
			// Five standard deviations of the binomial proportion.
			tol := 5 * math.Sqrt(tt.rate*(1-tt.rate)/n)
			assert.InDelta(t, tt.rate, float64(failed)/n, tol, "failed %d of %d", failed, n)
		})
	}
}

func TestFailuresAreReproducibleWithSeed(t *testing.T) {
	sequence := func(seed uint64) []int {
		h, _ := Handler(Config{FailRate: 0.5, Seed: seed})
		codes := make([]int, 200)
		for i := range codes {
			codes[i] = record(h, http.MethodGet, "/").Code
		}
		return codes
	}
	assert.Equal(t, sequence(99), sequence(99), "same seed, same sequence")
	assert.NotEqual(t, sequence(99), sequence(100), "different seed, different sequence")
}

func TestFailAfter(t *testing.T) {
	tests := []struct {
		name      string
		failAfter time.Duration
		failRate  float64
		elapsed   time.Duration
		wantCode  int
	}{
		{name: "before the time", failAfter: time.Minute, elapsed: 59 * time.Second, wantCode: http.StatusOK},
		{name: "at the time", failAfter: time.Minute, elapsed: time.Minute, wantCode: http.StatusServiceUnavailable},
		{name: "after the time", failAfter: time.Minute, elapsed: 2 * time.Minute, wantCode: http.StatusServiceUnavailable},
		{name: "rate one before the time", failAfter: time.Minute, failRate: 1, elapsed: time.Second, wantCode: http.StatusOK},
		{name: "rate one after the time", failAfter: time.Minute, failRate: 1, elapsed: 61 * time.Second, wantCode: http.StatusServiceUnavailable},
		{name: "no fail after, no rate", elapsed: time.Hour, wantCode: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s := Handler(Config{FailAfter: tt.failAfter, FailRate: tt.failRate})
			s.now = func() time.Time { return s.start.Add(tt.elapsed) }
			for range 20 {
				assert.Equal(t, tt.wantCode, record(s, http.MethodGet, "/").Code)
			}
			assert.Equal(t, http.StatusOK, record(s, http.MethodGet, "/healthz").Code, "probes never fail")
			assert.Equal(t, http.StatusOK, record(s, http.MethodGet, "/readyz").Code, "probes never fail")
		})
	}
}

func TestStartupDelay(t *testing.T) {
	tests := []struct {
		name     string
		delay    time.Duration
		elapsed  time.Duration
		wantCode int
		wantBody string
	}{
		{name: "warming up", delay: 10 * time.Second, elapsed: 9 * time.Second, wantCode: http.StatusServiceUnavailable, wantBody: "starting"},
		{name: "warm", delay: 10 * time.Second, elapsed: 10 * time.Second, wantCode: http.StatusOK, wantBody: "ready"},
		{name: "no delay", elapsed: 0, wantCode: http.StatusOK, wantBody: "ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s := Handler(Config{StartupDelay: tt.delay})
			s.now = func() time.Time { return s.start.Add(tt.elapsed) }
			rec := record(s, http.MethodGet, "/readyz")
			assert.Equal(t, tt.wantCode, rec.Code)
			assert.Contains(t, rec.Body.String(), tt.wantBody)
			assert.Equal(t, http.StatusOK, record(s, http.MethodGet, "/").Code, "a warming canary still answers /")
		})
	}
	assert.ErrorContains(t, Config{StartupDelay: -time.Second}.Validate(), "--startup-delay -1s")
}

func TestFailAfterRealClock(t *testing.T) {
	const failAfter = 300 * time.Millisecond
	r := startServe(t, Config{Addr: "127.0.0.1:0", FailAfter: failAfter})
	c := newClient(t)

	assert.Equal(t, http.StatusOK, do(t, c, http.MethodGet, r.url+"/").code, "before fail-after")
	time.Sleep(failAfter)
	got := do(t, c, http.MethodGet, r.url+"/")
	assert.Equal(t, http.StatusServiceUnavailable, got.code, "after fail-after")
	assert.JSONEq(t, `{"error":"injected failure"}`, got.body)
}

func TestStartDrainWithoutSockets(t *testing.T) {
	h, s := Handler(Config{})
	require.False(t, s.Draining())
	assert.Empty(t, record(h, http.MethodGet, "/").Header().Get("Connection"))

	s.StartDrain()
	s.StartDrain() // idempotent
	require.True(t, s.Draining())

	tests := []struct {
		name     string
		path     string
		wantCode int
		wantBody string
	}{
		{name: "readyz fails", path: "/readyz", wantCode: http.StatusServiceUnavailable, wantBody: "draining"},
		{name: "healthz still ok", path: "/healthz", wantCode: http.StatusOK, wantBody: "ok"},
		{name: "root still answers", path: "/", wantCode: http.StatusOK},
		{name: "unknown path", path: "/nope", wantCode: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := record(h, http.MethodGet, tt.path)
			assert.Equal(t, tt.wantCode, rec.Code)
			assert.Equal(t, "close", rec.Header().Get("Connection"))
			if tt.wantBody != "" {
				assert.Equal(t, tt.wantBody, rec.Body.String())
			}
		})
	}

	var body struct{ Draining bool }
	require.NoError(t, json.Unmarshal(record(h, http.MethodGet, "/").Body.Bytes(), &body))
	assert.True(t, body.Draining)
}

func TestDrain(t *testing.T) {
	const drainDelay = 500 * time.Millisecond
	r := startServe(t, Config{Addr: "127.0.0.1:0", DrainDelay: drainDelay, ShutdownTimeout: 2 * time.Second})
	c := newClient(t)

	got := do(t, c, http.MethodGet, r.url+"/readyz")
	require.Equal(t, http.StatusOK, got.code)
	require.Equal(t, "ready", got.body)

	cancelled := time.Now()
	r.cancel()

	// Readiness flips as soon as the cancellation is seen.
	require.Eventually(t, func() bool {
		return do(t, c, http.MethodGet, r.url+"/readyz").code == http.StatusServiceUnavailable
	}, 5*time.Second, 2*time.Millisecond)
	got = do(t, c, http.MethodGet, r.url+"/readyz")
	assert.Equal(t, "draining", got.body)

	// "/" keeps answering during the drain delay, asking clients to reconnect.
	got = do(t, c, http.MethodGet, r.url+"/")
	assert.Equal(t, http.StatusOK, got.code)
	assert.True(t, got.close, "Connection: close") // Go's client consumes the header into resp.Close
	var body struct{ Draining bool }
	require.NoError(t, json.Unmarshal([]byte(got.body), &body))
	assert.True(t, body.Draining)

	// The connection is really not kept alive: the next request needs a new one.
	var reused []bool
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = append(reused, info.Reused) }}
	for range 2 {
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, r.url+"/", nil)
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	}
	assert.Equal(t, []bool{false, false}, reused)

	// On the wire: the header is sent and the server closes the connection.
	conn, err := net.DialTimeout("tcp", r.addr.String(), 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: canary\r\n\r\n")
	require.NoError(t, err)
	raw, err := io.ReadAll(conn) // returns at EOF, i.e. once the server closed
	require.NoError(t, err)
	assert.Contains(t, string(raw), "HTTP/1.1 200 OK\r\n")
	assert.Contains(t, string(raw), "\r\nConnection: close\r\n")

	// Then the server stops cleanly, not before the drain delay.
	require.NoError(t, r.wait(t))
	assert.GreaterOrEqual(t, time.Since(cancelled), drainDelay)
	_, err = net.DialTimeout("tcp", r.addr.String(), time.Second)
	assert.Error(t, err, "listener should be closed")
}

func TestInFlightRequestCompletesOnShutdown(t *testing.T) {
	_, s := Handler(Config{Addr: "127.0.0.1:0", Delay: 300 * time.Millisecond, ShutdownTimeout: 5 * time.Second})
	r := startWith(t, s.serve)
	c := newClient(t)

	type result struct {
		got reply
		err error
	}
	results := make(chan result, 1)
	go func() {
		resp, err := c.Get(r.url + "/")
		if err != nil {
			results <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		results <- result{got: reply{code: resp.StatusCode, body: string(b), close: resp.Close}, err: err}
	}()

	require.Eventually(t, func() bool { return s.inFlight.Load() == 1 }, 5*time.Second, time.Millisecond)
	r.cancel()

	res := <-results
	require.NoError(t, res.err)
	assert.Equal(t, http.StatusOK, res.got.code)
	assert.True(t, res.got.close, "answered while draining: Connection: close")
	require.NoError(t, r.wait(t))
}

func TestShutdownTimeoutCutsSlowRequests(t *testing.T) {
	_, s := Handler(Config{Addr: "127.0.0.1:0", Delay: time.Minute, ShutdownTimeout: 100 * time.Millisecond})
	r := startWith(t, s.serve)
	c := newClient(t)

	errs := make(chan error, 1)
	go func() {
		resp, err := c.Get(r.url + "/")
		if err == nil {
			resp.Body.Close()
		}
		errs <- err
	}()
	require.Eventually(t, func() bool { return s.inFlight.Load() == 1 }, 5*time.Second, time.Millisecond)
	r.cancel()

	err := r.wait(t)
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "--shutdown-timeout"), err.Error())
	assert.Error(t, <-errs, "the cut request fails")
	assert.Eventually(t, func() bool { return s.inFlight.Load() == 0 }, 5*time.Second, time.Millisecond, "the handler gives up with its connection")
}

// hookCall is a GET of DrainPath, as the kubelet's preStop hook makes it.
type hookCall struct {
	got  reply
	err  error
	took time.Duration
}

func callHook(c *http.Client, url string) <-chan hookCall {
	out := make(chan hookCall, 1)
	go func() {
		start := time.Now()
		req, err := http.NewRequest(http.MethodGet, url+DrainPath, nil)
		if err != nil {
			out <- hookCall{err: err}
			return
		}
		req.Header.Set(HeaderDrain, DrainHeaderValue)
		resp, err := c.Do(req)
		if err != nil {
			out <- hookCall{err: err, took: time.Since(start)}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- hookCall{got: reply{code: resp.StatusCode, header: resp.Header, body: string(b), close: resp.Close}, err: err, took: time.Since(start)}
	}()
	return out
}

// TestPreStopDrain is the preStop hook's server side: the hook drains for
// the drain delay while the pod keeps serving, then SIGTERM (the context's
// end) shuts down at once instead of draining a second time.
func TestPreStopDrain(t *testing.T) {
	const drainDelay = 600 * time.Millisecond
	r := startServe(t, Config{Addr: "127.0.0.1:0", DrainDelay: drainDelay, ShutdownTimeout: 2 * time.Second})
	c := newClient(t)
	require.Equal(t, http.StatusOK, do(t, c, http.MethodGet, r.url+"/readyz").code)

	hookStart := time.Now()
	hook := callHook(newClient(t), r.url)

	// While the hook waits: not ready, still serving, asking to reconnect.
	require.Eventually(t, func() bool {
		return do(t, c, http.MethodGet, r.url+"/readyz").code == http.StatusServiceUnavailable
	}, 5*time.Second, 2*time.Millisecond)
	for range 5 {
		got := do(t, c, http.MethodGet, r.url+"/")
		assert.Equal(t, http.StatusOK, got.code)
		assert.True(t, got.close, "Connection: close while draining")
		var body struct{ Draining bool }
		require.NoError(t, json.Unmarshal([]byte(got.body), &body))
		assert.True(t, body.Draining)
	}
	assert.Equal(t, http.StatusOK, do(t, c, http.MethodGet, r.url+"/healthz").code, "liveness holds during the drain")
	select {
	case h := <-hook:
		t.Fatalf("the hook answered before the drain delay: %+v", h)
	default:
	}

	// The hook answers once the drain delay is over, not much later.
	h := <-hook
	require.NoError(t, h.err)
	assert.Equal(t, http.StatusOK, h.got.code)
	assert.Equal(t, "drained", h.got.body)
	assert.GreaterOrEqual(t, h.took, drainDelay)
	assert.Less(t, h.took, drainDelay+time.Second)
	// Still serving between the hook's answer and SIGTERM.
	assert.Equal(t, http.StatusOK, do(t, c, http.MethodGet, r.url+"/").code)
	assert.Equal(t, http.StatusServiceUnavailable, do(t, c, http.MethodGet, r.url+"/readyz").code)

	// SIGTERM: the drain is done already, so the server stops promptly.
	sigterm := time.Now()
	r.cancel()
	require.NoError(t, r.wait(t))
	assert.Less(t, time.Since(sigterm), drainDelay/2, "no second drain after the preStop hook")
	assert.Less(t, time.Since(hookStart), 2*drainDelay, "one drain in all")
	_, err := net.DialTimeout("tcp", r.addr.String(), time.Second)
	assert.Error(t, err, "listener should be closed")
}

// TestSigtermDuringPreStop: a shutdown signal arriving while the hook still
// waits ends the drain at the same moment as the hook, once.
func TestSigtermDuringPreStop(t *testing.T) {
	const drainDelay = 600 * time.Millisecond
	r := startServe(t, Config{Addr: "127.0.0.1:0", DrainDelay: drainDelay, ShutdownTimeout: 2 * time.Second})
	c := newClient(t)
	hookStart := time.Now()
	hook := callHook(newClient(t), r.url)
	require.Eventually(t, func() bool {
		return do(t, c, http.MethodGet, r.url+"/readyz").code == http.StatusServiceUnavailable
	}, 5*time.Second, 2*time.Millisecond)
	time.Sleep(drainDelay / 3)
	r.cancel()
	require.NoError(t, r.wait(t))
	stopped := time.Since(hookStart)
	assert.GreaterOrEqual(t, stopped, drainDelay, "the drain runs its full delay")
	assert.Less(t, stopped, drainDelay+drainDelay/2, "counted from the hook, not from the signal")
	h := <-hook
	require.NoError(t, h.err)
	assert.Equal(t, http.StatusOK, h.got.code, "the hook in flight completes")
}

// TestPreStopWithoutDrainDelay: with no drain delay (the negative control)
// the hook answers at once, and so does the shutdown.
func TestPreStopWithoutDrainDelay(t *testing.T) {
	r := startServe(t, Config{Addr: "127.0.0.1:0", ShutdownTimeout: 2 * time.Second})
	c := newClient(t)
	h := <-callHook(c, r.url)
	require.NoError(t, h.err)
	assert.Equal(t, http.StatusOK, h.got.code)
	assert.Less(t, h.took, 500*time.Millisecond)
	assert.Equal(t, http.StatusServiceUnavailable, do(t, c, http.MethodGet, r.url+"/readyz").code)
	start := time.Now()
	r.cancel()
	require.NoError(t, r.wait(t))
	assert.Less(t, time.Since(start), 500*time.Millisecond)
}

// TestDrainHookWithoutSockets: the hook's method rules, and a caller that
// gives up ends its wait but not the drain.
func TestDrainHookWithoutSockets(t *testing.T) {
	h, s := Handler(Config{DrainDelay: time.Minute})
	rec := record(h, http.MethodPost, DrainPath)
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.False(t, s.Draining(), "a refused method does not drain")

	rec = record(h, http.MethodGet, DrainPath)
	assert.Equal(t, http.StatusNotFound, rec.Code, "a GET without the hook's header")
	assert.False(t, s.Draining(), "a stray GET does not drain")

	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest(http.MethodGet, DrainPath, nil).WithContext(ctx)
	req.Header.Set(HeaderDrain, DrainHeaderValue)
	req.RemoteAddr = "127.0.0.1:40000" // the pod itself
	rec = httptest.NewRecorder()
	done := make(chan struct{})
	go func() { h.ServeHTTP(rec, req); close(done) }()
	require.Eventually(t, s.Draining, 5*time.Second, time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the hook's handler did not return when its caller went away")
	}
	assert.Empty(t, rec.Body.String(), "nobody to answer")
	assert.True(t, s.Draining(), "the drain goes on")
	assert.Equal(t, http.StatusServiceUnavailable, record(h, http.MethodGet, "/readyz").Code)
}

// TestDrainOnlyFromThePod: through the Service (the NodePort, another pod)
// nobody can drain a canary, even with the hook's header: on the main
// listener DrainPath answers loopback only.
func TestDrainOnlyFromThePod(t *testing.T) {
	tests := []struct {
		remote string
		want   int
	}{
		{"127.0.0.1:40000", http.StatusOK},
		{"127.3.4.5:40000", http.StatusOK},
		{"[::1]:40000", http.StatusOK},
		{"[::ffff:127.0.0.1]:40000", http.StatusOK},
		{"10.244.1.1:40000", http.StatusForbidden}, // a node, SNATed NodePort traffic
		{"192.168.1.20:40000", http.StatusForbidden},
		{"[fd00::1]:40000", http.StatusForbidden},
		{"not-an-address", http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.remote, func(t *testing.T) {
			h, s := Handler(Config{})
			req := httptest.NewRequest(http.MethodGet, DrainPath, nil)
			req.Header.Set(HeaderDrain, DrainHeaderValue)
			req.RemoteAddr = tc.remote
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, tc.want, rec.Code, rec.Body.String())
			assert.Equal(t, tc.want == http.StatusOK, s.Draining())
			assert.Equal(t, http.StatusOK == tc.want, record(h, http.MethodGet, "/readyz").Code == http.StatusServiceUnavailable)
		})
	}
}

// TestDrainListener: the drain listener (the kubelet's preStop hook, from
// its node) drains from any address with the hook's header, and serves
// nothing else; the main listener keeps serving as before.
func TestDrainListener(t *testing.T) {
	_, s := Handler(Config{})
	dh := s.DrainHandler()
	for _, path := range []string{"/", "/healthz", "/readyz", "/nope"} {
		assert.Equal(t, http.StatusNotFound, record(dh, http.MethodGet, path).Code, path)
	}
	assert.Equal(t, http.StatusNotFound, record(dh, http.MethodGet, DrainPath).Code, "no hook header")
	assert.False(t, s.Draining())
	req := httptest.NewRequest(http.MethodGet, DrainPath, nil)
	req.Header.Set(HeaderDrain, DrainHeaderValue)
	req.RemoteAddr = "10.244.1.1:40000"
	rec := httptest.NewRecorder()
	dh.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.True(t, s.Draining())

	// Over sockets: the hook on the drain address, the Service's port
	// refusing the same request from a non-loopback address is covered
	// above; here the drain port does not serve the application.
	drainAddr := freeLocalAddr(t)
	const drainDelay = 300 * time.Millisecond
	r := startServe(t, Config{Addr: "127.0.0.1:0", DrainAddr: drainAddr, DrainDelay: drainDelay, ShutdownTimeout: 2 * time.Second})
	c := newClient(t)
	assert.Equal(t, http.StatusNotFound, do(t, c, http.MethodGet, "http://"+drainAddr+"/").code, "the drain port serves the hook only")
	h := <-callHook(newClient(t), "http://"+drainAddr)
	require.NoError(t, h.err)
	assert.Equal(t, http.StatusOK, h.got.code)
	assert.GreaterOrEqual(t, h.took, drainDelay)
	assert.Equal(t, http.StatusServiceUnavailable, do(t, c, http.MethodGet, r.url+"/readyz").code)
	r.cancel()
	require.NoError(t, r.wait(t))
	_, err := net.DialTimeout("tcp", drainAddr, time.Second)
	assert.Error(t, err, "the drain listener is closed with the server")
}

func TestValidateDrainAddr(t *testing.T) {
	err := Config{DrainAddr: "8081"}.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `--drain-addr "8081"`)
}

func freeLocalAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}
