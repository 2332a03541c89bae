package loadgen_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/report"
)

// hangGuard bounds every wait of these tests. It catches a hang; it is not a
// latency expectation.
const hangGuard = 20 * time.Second

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// runCheck runs hc over rot in the background; the returned stop ends it and
// waits for Run to return.
func runCheck(t *testing.T, hc loadgen.HealthCheck, rot *loadgen.Rotation) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hc.Run(ctx, rot) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(hangGuard):
				t.Error("HealthCheck.Run did not return")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// Outcomes a scripted node gives its health checks.
const (
	pass   = "pass"   // 200
	down   = "503"    // 503
	hangUp = "hangup" // the connection closes without an answer
	slow   = "slow"   // no answer until the check times out
)

// scriptedNode answers its n-th health check with script[n], and past the
// end of the script with its last outcome again. Each round of a
// HealthCheck checks every candidate once and is judged before the next
// round starts, so once reached is closed (the check after the script came
// in) every scripted round has been judged. The scripts below end where a
// repeated last outcome changes nothing.
type scriptedNode struct {
	srv     *httptest.Server
	url     string
	script  []string
	n       atomic.Int64
	reached chan struct{}
	once    sync.Once
}

func newScriptedNode(t *testing.T, script []string) *scriptedNode {
	t.Helper()
	n := &scriptedNode{script: script, reached: make(chan struct{})}
	release := make(chan struct{})
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != loadgen.DefaultHealthPath {
			t.Errorf("health check asked for %q", r.URL.Path)
		}
		i := int(n.n.Add(1) - 1)
		if i >= len(n.script) {
			n.once.Do(func() { close(n.reached) })
			i = len(n.script) - 1
		}
		switch n.script[i] {
		case pass:
			w.WriteHeader(http.StatusOK)
		case down:
			w.WriteHeader(http.StatusServiceUnavailable)
		case hangUp:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		case slow:
			select {
			case <-r.Context().Done():
			case <-release:
			}
		default:
			t.Errorf("unknown outcome %q", n.script[i])
		}
	}))
	t.Cleanup(n.srv.Close)
	t.Cleanup(func() { close(release) }) // runs before the server closes
	n.url = n.srv.URL + "/"
	return n
}

type wantEvent struct {
	Kind, Subject, Message string
}

func TestHealthCheckScripted(t *testing.T) {
	// Each round checks A and B once; the thresholds are the defaults
	// (2 failures out, 2 passes in).
	tests := []struct {
		name    string
		a, b    []string
		timeout time.Duration // of a check; zero: long enough for any answer
		events  []wantEvent   // "A" and "B" in subjects and messages stand for the URLs
		final   []string
	}{
		{
			name:  "steady",
			a:     []string{pass, pass, pass},
			b:     []string{pass, pass, pass},
			final: []string{"A", "B"},
		},
		{
			name:   "two failures take a target out",
			a:      []string{pass, pass, pass},
			b:      []string{pass, down, down},
			events: []wantEvent{{"out", "B", "status 503 x2"}},
			final:  []string{"A"},
		},
		{
			name:  "single failures are not enough",
			a:     []string{pass, pass, pass, pass, pass},
			b:     []string{pass, down, pass, down, pass},
			final: []string{"A", "B"},
		},
		{
			name: "two passes put it back",
			a:    []string{pass, pass, pass, pass, pass},
			b:    []string{down, down, pass, pass, pass},
			events: []wantEvent{
				{"out", "B", "status 503 x2"},
				{"in", "B", "healthy x2"},
			},
			final: []string{"A", "B"},
		},
		{
			name:   "reasons of a streak are kept in order",
			a:      []string{pass, pass},
			b:      []string{hangUp, down},
			events: []wantEvent{{"out", "B", "connection closed x1, status 503 x1"}},
			final:  []string{"A"},
		},
		{
			name:    "timeouts",
			a:       []string{pass, pass},
			b:       []string{slow, slow},
			timeout: time.Second,
			events:  []wantEvent{{"out", "B", "timeout x2"}},
			final:   []string{"A"},
		},
		{
			name: "the last healthy target failing fails open",
			a:    []string{pass, down, down, down},
			b:    []string{down, down, down, down},
			events: []wantEvent{
				{"out", "B", "status 503 x2"},
				{"fail-open", "", "every target fails its health check (A status 503 x2; B status 503 x3); keeping all 2 in rotation"},
				{"in", "B", "fail open, still failing: status 503 x3"},
			},
			final: []string{"A", "B"},
		},
		{
			name: "fail open ends when one target is healthy again",
			a:    []string{down, down, pass, pass},
			b:    []string{down, down, down, down},
			events: []wantEvent{
				{"fail-open", "", "every target fails its health check (A status 503 x2; B status 503 x2); keeping all 2 in rotation"},
				{"fail-open-end", "", "A healthy again; failing targets leave the rotation"},
				{"out", "B", "status 503 x4; fail open ended"},
			},
			final: []string{"A"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newScriptedNode(t, tt.a), newScriptedNode(t, tt.b)
			name := strings.NewReplacer("A", a.url, "B", b.url)
			rot := loadgen.NewRotation(nil)
			rec := timeline.NewRecorder(nil)
			timeout := tt.timeout
			if timeout == 0 {
				timeout = hangGuard
			}
			stop := runCheck(t, loadgen.HealthCheck{
				Candidates: []string{a.url, b.url},
				Interval:   time.Millisecond,
				Timeout:    timeout,
				Emitter:    rec,
			}, rot)
			for _, n := range []*scriptedNode{a, b} {
				select {
				case <-n.reached:
				case <-time.After(hangGuard):
					t.Fatal("the script did not play out")
				}
			}
			stop()

			var got []wantEvent
			for _, e := range rec.Events() {
				assert.Equal(t, timeline.SourceRotation, e.Source)
				assert.False(t, e.Time.IsZero())
				got = append(got, wantEvent{e.Kind, e.Subject, e.Message})
			}
			var want []wantEvent
			for _, e := range tt.events {
				want = append(want, wantEvent{e.Kind, name.Replace(e.Subject), name.Replace(e.Message)})
			}
			assert.Equal(t, want, got)
			var final []string
			for _, f := range tt.final {
				final = append(final, name.Replace(f))
			}
			assert.Equal(t, final, rot.Targets())
		})
	}
}

// node is a canary stand-in on a fixed address that can go down (its
// listener closed: connections are refused) and come back on the same port.
type node struct {
	t    *testing.T
	name string
	addr string
	url  string

	mu  sync.Mutex
	srv *http.Server
}

func newNode(t *testing.T, name string) *node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	n := &node{t: t, name: name, addr: ln.Addr().String()}
	n.url = "http://" + n.addr + "/"
	n.serve(ln)
	t.Cleanup(n.stop)
	return n
}

func (n *node) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Canary-Node", n.name)
		w.Header().Set("X-Canary-Pod", n.name+"-pod")
		_, _ = w.Write([]byte("ok"))
	})}
	n.mu.Lock()
	n.srv = srv
	n.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// stop closes the listener and every connection.
func (n *node) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		_ = n.srv.Close()
		n.srv = nil
	}
}

// start listens again on the same address.
func (n *node) start() {
	n.t.Helper()
	var ln net.Listener
	eventually(n.t, "listening again on "+n.addr, func() bool {
		var err error
		ln, err = net.Listen("tcp", n.addr)
		return err == nil
	})
	n.serve(ln)
}

func eventsOf(rec *timeline.Recorder) []wantEvent {
	var out []wantEvent
	for _, e := range rec.Events() {
		out = append(out, wantEvent{e.Kind, e.Subject, e.Message})
	}
	return out
}

func TestHealthCheckNodeDownAndUp(t *testing.T) {
	a, b := newNode(t, "node-a"), newNode(t, "node-b")
	rot := loadgen.NewRotation(nil)
	rec := timeline.NewRecorder(nil)
	stop := runCheck(t, loadgen.HealthCheck{
		Candidates: []string{a.url, b.url},
		Interval:   5 * time.Millisecond,
		Timeout:    time.Second,
		Emitter:    rec,
	}, rot)
	eventually(t, "both targets in rotation", func() bool { return len(rot.Targets()) == 2 })

	b.stop()
	eventually(t, "b out", func() bool { return len(rec.Events()) == 1 })
	assert.Equal(t, []string{a.url}, rot.Targets())
	out := rec.Events()[0]
	assert.Equal(t, "out", out.Kind)
	assert.Equal(t, b.url, out.Subject)
	// A check in flight when the node went down may end otherwise (reset,
	// closed); the one after it is refused.
	assert.Regexp(t, `(^|, )connection refused x[12]$`, out.Message)

	b.start()
	eventually(t, "b back in", func() bool { return len(rec.Events()) == 2 })
	stop()
	assert.Equal(t, []string{a.url, b.url}, rot.Targets(), "candidate order is kept")
	assert.Equal(t, wantEvent{"in", b.url, "healthy x2"}, eventsOf(rec)[1])
}

func TestHealthCheckValidate(t *testing.T) {
	tests := []struct {
		name string
		hc   loadgen.HealthCheck
		want []string
	}{
		{name: "valid", hc: loadgen.HealthCheck{Candidates: []string{"http://10.0.0.1:30080/"}}},
		{name: "no candidates", hc: loadgen.HealthCheck{}, want: []string{"candidates: at least one"}},
		{
			name: "bad and repeated candidates",
			hc:   loadgen.HealthCheck{Candidates: []string{"ftp://x/", "http://a/", "http://a/"}},
			want: []string{"candidates[0]", `candidates[2]: "http://a/" given twice`},
		},
		{
			name: "every bad field",
			hc: loadgen.HealthCheck{
				Candidates: []string{"http://a/"}, Path: "healthz", Interval: -1, Timeout: -1,
				FallThreshold: -1, RiseThreshold: -1,
			},
			want: []string{"path:", "interval:", "timeout:", "fall threshold:", "rise threshold:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.hc.Validate()
			if len(tt.want) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Error(t, tt.hc.Run(context.Background(), loadgen.NewRotation(nil)))
		})
	}
}

// sent is what the test keeps of one result.
type sent struct {
	url  string
	at   time.Time
	ok   bool
	node string
}

// TestHealthCheckDuringAttack runs real load over two nodes while one of
// them goes down: the health check takes it out of rotation, the load goes
// on against the other node, the change is on the timeline, and the report
// counts requests per node from the canary's X-Canary-Node header.
func TestHealthCheckDuringAttack(t *testing.T) {
	if testing.Short() {
		t.Skip("sends real load for a few seconds")
	}
	a, b := newNode(t, "node-a"), newNode(t, "node-b")
	rot := loadgen.NewRotation([]string{a.url, b.url})
	rec := timeline.NewRecorder(nil)
	stopCheck := runCheck(t, loadgen.HealthCheck{
		Candidates: []string{a.url, b.url},
		Interval:   20 * time.Millisecond,
		Timeout:    time.Second,
		Emitter:    rec,
	}, rot)

	atk, err := loadgen.New(loadgen.Spec{Rotation: rot, Rate: 200, Timeout: 2 * time.Second})
	require.NoError(t, err)
	collector := report.NewCollector(report.CollectorOptions{})
	var mu sync.Mutex
	var results []sent
	snapshot := func() []sent {
		mu.Lock()
		defer mu.Unlock()
		return append([]sent(nil), results...)
	}
	sink := loadgen.SinkFunc(func(r *vegeta.Result) {
		collector.Add(r)
		var node string
		if v := r.Headers["X-Canary-Node"]; len(v) > 0 {
			node = v[0]
		}
		mu.Lock()
		results = append(results, sent{url: r.URL, at: r.Timestamp, ok: report.Succeeded(r.Code, r.Error), node: node})
		mu.Unlock()
	})
	attacked := make(chan struct{})
	var atkErr error
	go func() {
		defer close(attacked)
		_, atkErr = atk.Run(context.Background(), sink)
	}()
	t.Cleanup(func() {
		atk.Stop()
		<-attacked
	})

	countOK := func(url string, after time.Time) int {
		n := 0
		for _, r := range snapshot() {
			if r.url == url && r.ok && r.at.After(after) {
				n++
			}
		}
		return n
	}
	eventually(t, "traffic on both nodes", func() bool {
		return countOK(a.url, time.Time{}) >= 20 && countOK(b.url, time.Time{}) >= 20
	})

	b.stop()
	eventually(t, "node b out of rotation", func() bool { return len(rec.Events()) >= 1 })
	outAt := rec.Events()[0].Time
	eventually(t, "traffic on node a after b left", func() bool { return countOK(a.url, outAt) >= 100 })
	atk.Stop()
	<-attacked
	require.NoError(t, atkErr)
	stopCheck()

	// The rotation and the timeline.
	assert.Equal(t, []string{a.url}, rot.Targets())
	events := rec.Events()
	require.Len(t, events, 1, "%+v", events)
	assert.Equal(t, timeline.SourceRotation, events[0].Source)
	assert.Equal(t, "out", events[0].Kind)
	assert.Equal(t, b.url, events[0].Subject)
	assert.Contains(t, events[0].Message, "connection refused")

	// Every request sent after the event went to node a and succeeded;
	// node a never failed; node b's failures are the requests caught by its
	// going down before the rotation caught up.
	all := snapshot()
	var after, failedB int
	for _, r := range all {
		if r.url == a.url {
			assert.True(t, r.ok, "node a failed a request at %s", r.at)
			assert.Equal(t, "node-a", r.node)
		}
		if r.at.After(outAt) {
			after++
			assert.Equal(t, a.url, r.url, "sent at %s, after b left", r.at)
		}
		if r.url == b.url && !r.ok {
			failedB++
			assert.True(t, r.at.Before(outAt), "node b failure sent at %s, after it left at %s", r.at, outAt)
		}
	}
	assert.GreaterOrEqual(t, after, 100)

	// The report's accounting per node and per target.
	m := collector.Close()
	ph := m.Phase(loadgen.DefaultPhase)
	require.NotNil(t, ph)
	nodes := map[string]report.CountSummary{}
	for _, n := range ph.Nodes {
		nodes[n.Name] = n
	}
	require.Contains(t, nodes, "node-a")
	require.Contains(t, nodes, "node-b")
	assert.Zero(t, nodes["node-a"].Failures)
	assert.Zero(t, nodes["node-b"].Failures, "a refused request carries no node header")
	assert.Greater(t, nodes["node-a"].Requests, nodes["node-b"].Requests)
	targets := map[string]report.CountSummary{}
	for _, tg := range ph.Targets {
		targets[tg.Name] = tg
	}
	assert.Equal(t, int64(failedB), targets[b.url].Failures)
	assert.Equal(t, nodes["node-b"].Requests+int64(failedB), targets[b.url].Requests)
	assert.Equal(t, ph.Requests, int64(len(all)))
}

func TestWarmUp(t *testing.T) {
	var calls atomic.Int32
	// Fails its first four health checks, as a node port not yet routed.
	late := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != loadgen.DefaultHealthPath {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if calls.Add(1) <= 4 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer late.Close()
	require.NoError(t, loadgen.WarmUp(context.Background(), []string{late.URL + "/"}, 10*time.Second))
	assert.Equal(t, int32(7), calls.Load(), "four failures, then three successes in a row")

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer down.Close()
	err := loadgen.WarmUp(context.Background(), []string{late.URL + "/", down.URL + "/"}, 700*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), down.URL)
	assert.Contains(t, err.Error(), "502 Bad Gateway")
}

// With Port set, a candidate is judged by another port of its host (as a
// load balancer checks kube-proxy's health port): the application's port
// failing does not take it out, the health port failing does.
func TestHealthCheckOnAnotherPort(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the application's own answer", http.StatusBadRequest)
	}))
	defer app.Close()
	var healthy atomic.Bool
	healthy.Store(true)
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || !healthy.Load() {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer health.Close()
	hu, err := url.Parse(health.URL)
	require.NoError(t, err)
	port, err := strconv.Atoi(hu.Port())
	require.NoError(t, err)
	other := strings.Replace(app.URL, "127.0.0.1", "127.0.0.2", 1) // a second "node": nothing answers its health port
	rot := loadgen.NewRotation(nil)
	stop := runCheck(t, loadgen.HealthCheck{Candidates: []string{app.URL + "/api", other}, Port: port, Interval: 5 * time.Millisecond, Timeout: time.Second}, rot)
	eventually(t, "the node whose health port answers is in, the other out", func() bool {
		got := rot.Targets()
		return len(got) == 1 && got[0] == app.URL+"/api"
	})
	healthy.Store(false)
	eventually(t, "fail open once every health port fails", func() bool { return len(rot.Targets()) == 2 })
	stop()
	assert.Error(t, loadgen.HealthCheck{Candidates: []string{app.URL}, Port: 70000}.Validate())
}
