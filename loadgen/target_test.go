package loadgen

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestSpecValidateUserTargets(t *testing.T) {
	shop := Target{Name: "shop", URLs: []string{"http://127.0.0.1:1"}}
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"only user targets", Spec{UserTargets: []Target{shop}, Rate: 10}, ""},
		{"canary and a target", Spec{Targets: []string{"http://127.0.0.1:2/"}, UserTargets: []Target{shop}, Rate: 10}, ""},
		{"nothing to load", Spec{Rate: 10}, "targets: at least one target URL (or a user target) is required"},
		{"probes without canary targets", Spec{UserTargets: []Target{shop}, Probes: []Probe{ProbeReuse}, Rate: 10}, "probes: canary probe kinds given without canary targets"},
		{"target stream as a canary probe", Spec{Targets: []string{"http://x/"}, Probes: []Probe{"target:shop"}, Rate: 10}, `probes: unknown probe kind "target:shop"`},
		{"bad name", Spec{UserTargets: []Target{{Name: "Shop", URLs: shop.URLs}}, Rate: 10}, `userTargets[0]: name: "Shop" is not a DNS-1123 label`},
		{"duplicate name", Spec{UserTargets: []Target{shop, shop}, Rate: 10}, `userTargets[1]: name: "shop" given twice`},
		{"no URLs", Spec{UserTargets: []Target{{Name: "shop"}}, Rate: 10}, "userTargets[0]: urls: at least one base URL"},
		{"bad URL", Spec{UserTargets: []Target{{Name: "shop", URLs: []string{"ftp://x"}}}, Rate: 10}, `userTargets[0]: urls[0]: "ftp://x": scheme must be http or https`},
		{"bad method", Spec{UserTargets: []Target{{Name: "shop", URLs: shop.URLs, Method: "get"}}, Rate: 10}, `userTargets[0]: method: "get" is not one of`},
		{"relative path", Spec{UserTargets: []Target{{Name: "shop", URLs: shop.URLs, Path: "api"}}, Rate: 10}, `userTargets[0]: path: "api" does not start with '/'`},
		{"bad header name", Spec{UserTargets: []Target{{Name: "shop", URLs: shop.URLs, Headers: map[string]string{"X Tenant": "a"}}}, Rate: 10}, `userTargets[0]: headers: "X Tenant" is not a header name`},
		{"header value with a newline", Spec{UserTargets: []Target{{Name: "shop", URLs: shop.URLs, Headers: map[string]string{"X-Tenant": "a\r\nX-Evil: 1"}}}, Rate: 10}, `userTargets[0]: headers: X-Tenant: the value holds a control character`},
		{"bad status", Spec{UserTargets: []Target{{Name: "shop", URLs: shop.URLs, Expect: Expect{Status: []int{200, 600}}}}, Rate: 10}, "userTargets[0]: expect.status: 600 is not an HTTP status code"},
		{"body of a HEAD", Spec{UserTargets: []Target{{Name: "shop", URLs: shop.URLs, Method: http.MethodHead, Expect: Expect{BodyContains: "ok"}}}, Rate: 10}, "userTargets[0]: expect.bodyContains: a HEAD response has no body"},
		{"negative share", Spec{UserTargets: []Target{{Name: "shop", URLs: shop.URLs, Share: -1}}, Rate: 10}, "userTargets[0]: share: -1 is not a positive weight"},
		{"NaN share", Spec{UserTargets: []Target{{Name: "shop", URLs: shop.URLs, Share: math.NaN()}}, Rate: 10}, "userTargets[0]: share: NaN is not a positive weight"},
		{"infinite share", Spec{UserTargets: []Target{{Name: "shop", URLs: shop.URLs, Share: math.Inf(1)}}, Rate: 10}, "userTargets[0]: share: +Inf is not a positive weight"},
		{"bad probe", Spec{UserTargets: []Target{{Name: "shop", URLs: shop.URLs, Probe: "udp"}}, Rate: 10}, `userTargets[0]: probe: "udp": want reuse or fresh`},
		{"small share below 1/s", Spec{Targets: []string{"http://x/"}, UserTargets: []Target{{Name: "shop", URLs: shop.URLs, Share: 0.1}}, Rate: 10}, "rate: 10/s split by weight over 3 streams leaves target:shop 0.476/s, below 1/s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestProbeNames(t *testing.T) {
	p := TargetProbe("shop")
	assert.Equal(t, Probe("target:shop"), p)
	name, ok := p.Target()
	assert.True(t, ok)
	assert.Equal(t, "shop", name)
	assert.False(t, p.IsCanary())
	_, ok = ProbeReuse.Target()
	assert.False(t, ok)

	phase, probe := SplitAttack(AttackName("after-settle", p))
	assert.Equal(t, "after-settle", phase)
	assert.Equal(t, p, probe)
	assert.Equal(t, "upgrade/target:shop", AttackName("upgrade", p))

	for _, tc := range []struct{ in, want string }{
		{"reuse", ""}, {"fresh", ""}, {"target:shop", ""},
		{"target:Shop", `"Shop" is not a target name`}, {"target:", `"" is not a target name`},
		{"udp", `unknown probe kind "udp"; known: reuse, fresh, target:NAME`},
	} {
		got, err := ParseProbe(tc.in)
		if tc.want == "" {
			require.NoError(t, err, tc.in)
			assert.Equal(t, Probe(tc.in), got)
			continue
		}
		require.Error(t, err, tc.in)
		assert.Contains(t, err.Error(), tc.want)
	}
}

// seenRequest is what a test server saw of one request.
type seenRequest struct {
	method, path, query, host, tenant, contentType, body string
}

// TestUserTargetSendsItsRequest: method, path (joined to each base URL),
// headers (Host as the request's host), body; both base URLs in rotation;
// a spec of only a user target sends nothing else.
func TestUserTargetSendsItsRequest(t *testing.T) {
	var mu sync.Mutex
	var seen []seenRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, seenRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Header.Get("X-Tenant"), r.Header.Get("Content-Type"), string(b)})
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	// Two base URLs of one server: with and without a trailing '/'.
	bases := []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/"}
	atk, err := New(Spec{Rate: 20, UserTargets: []Target{{
		Name: "shop", URLs: bases, Method: http.MethodPost, Path: "/api/items?limit=5",
		Headers: map[string]string{"host": "shop.example", "x-tenant": "acme", "Content-Type": "application/json"},
		Body:    `{"item":"anvil"}`, Probe: ProbeFresh,
	}}})
	require.NoError(t, err)
	const want = 6
	var res []vegeta.Result
	acc := runUntil(t, context.Background(), atk, sinkFunc(func(r *vegeta.Result) {
		if res = append(res, *r); len(res) == want {
			atk.Stop()
		}
	}))
	checkSchedule(t, atk, acc, res)
	require.Len(t, acc.Probes, 1, "only the user target's stream")
	assert.Equal(t, Probe("target:shop"), acc.Probes[0].Probe)
	assert.Equal(t, 20.0, acc.Probes[0].TargetRate)
	urls := map[string]int{}
	for _, r := range res {
		assert.Equal(t, "baseline/target:shop", r.Attack)
		assert.Empty(t, r.Error)
		assert.Equal(t, uint16(http.StatusCreated), r.Code)
		assert.Equal(t, http.MethodPost, r.Method)
		urls[r.URL]++
	}
	assert.Len(t, urls, 2, "both base URLs are in rotation: %v", urls)
	for _, b := range bases {
		assert.Contains(t, urls, strings.TrimRight(b, "/")+"/api/items?limit=5")
	}
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(seen), want)
	for _, s := range seen {
		assert.Equal(t, seenRequest{http.MethodPost, "/api/items", "limit=5", "shop.example", "acme", "application/json", `{"item":"anvil"}`}, s)
	}
}

// TestCanaryHost: with Spec.Host, both canary probes send that Host
// header (an ingress controller's virtual host) to every base URL, and
// a Host that is no header value is refused.
func TestCanaryHost(t *testing.T) {
	var mu sync.Mutex
	hosts := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts[r.Host]++
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	atk, err := New(Spec{Rate: 40, Targets: []string{srv.URL + "/"}, Host: "canary.rehearse.test"})
	require.NoError(t, err)
	const want = 8
	var res []vegeta.Result
	runUntil(t, context.Background(), atk, sinkFunc(func(r *vegeta.Result) {
		if res = append(res, *r); len(res) == want {
			atk.Stop()
		}
	}))
	probes := map[string]int{}
	for _, r := range res {
		assert.Empty(t, r.Error)
		assert.Equal(t, srv.URL+"/", r.URL)
		probes[r.Attack]++
	}
	assert.Len(t, probes, 2, "both probe kinds: %v", probes)
	mu.Lock()
	defer mu.Unlock()
	assert.GreaterOrEqual(t, hosts["canary.rehearse.test"], want)
	assert.Len(t, hosts, 1, "no other Host: %v", hosts)

	_, err = New(Spec{Rate: 40, Targets: []string{srv.URL + "/"}, Host: "a b"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `host: "a b" is not a valid Host header`)
}

// TestUserTargetExpect: a response that breaks the target's expect fails
// with an "expect: " error; one that meets it succeeds, even with a status
// vegeta alone counts as an error.
func TestUserTargetExpect(t *testing.T) {
	far := strings.Repeat("x", 2*MaxBodyBytes) + "needle"
	tooFar := strings.Repeat("x", MaxExpectBodyBytes) + "needle"
	tests := []struct {
		name   string
		status int
		body   string
		expect Expect
		want   string
	}{
		{"any 2xx by default", http.StatusNoContent, "", Expect{}, ""},
		{"5xx without expect keeps vegeta's error", http.StatusServiceUnavailable, "", Expect{}, "503 Service Unavailable"},
		{"status not listed", http.StatusNotFound, "", Expect{Status: []int{200, 204}}, "expect: status 404 not in [200 204]"},
		{"2xx not listed", http.StatusOK, "", Expect{Status: []int{204}}, "expect: status 200 not in [204]"},
		{"listed 404 is a success", http.StatusNotFound, "", Expect{Status: []int{404}}, ""},
		{"body contains", http.StatusOK, "all ok\n", Expect{BodyContains: "ok"}, ""},
		{"body does not contain", http.StatusOK, "nope", Expect{BodyContains: "ok"}, `expect: body does not contain "ok"`},
		{"body checked after the status", http.StatusServiceUnavailable, "ok", Expect{BodyContains: "ok"}, "503 Service Unavailable"},
		{"text past MaxBodyBytes is read", http.StatusOK, far, Expect{BodyContains: "needle"}, ""},
		{"text past MaxExpectBodyBytes is not", http.StatusOK, tooFar, Expect{BodyContains: "needle"}, `expect: body does not contain "needle" (in the first 1048576 bytes, all that is read)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			atk, err := New(Spec{Rate: 20, UserTargets: []Target{{Name: "app", URLs: []string{srv.URL}, Expect: tc.expect}}})
			require.NoError(t, err)
			var res []vegeta.Result
			runUntil(t, context.Background(), atk, sinkFunc(func(r *vegeta.Result) {
				if res = append(res, *r); len(res) == 3 {
					atk.Stop()
				}
			}))
			require.GreaterOrEqual(t, len(res), 3)
			for _, r := range res {
				assert.Equal(t, tc.want, r.Error)
				assert.Equal(t, uint16(tc.status), r.Code)
				assert.Nil(t, r.Body, "bodies are not kept")
			}
			errs := atk.Snapshot().Errors
			if tc.want == "" {
				assert.Zero(t, errs)
			} else {
				assert.Equal(t, int64(len(res)), errs, "expect failures count as errors")
			}
		})
	}
}

// TestRateShares: the canary's probes weigh 1 each, a target its share;
// every stream keeps its own schedule and accounting.
func TestRateShares(t *testing.T) {
	srv := newServer(t, 0)
	const rate, seconds = 120.0, 2
	atk, err := New(Spec{
		Targets: []string{srv.URL}, Rate: rate, Duration: seconds * time.Second,
		UserTargets: []Target{{Name: "heavy", URLs: []string{srv.URL}, Share: 2}, {Name: "light", URLs: []string{srv.URL}, Probe: ProbeFresh}},
	})
	require.NoError(t, err)
	var res []vegeta.Result
	acc := runUntil(t, context.Background(), atk, sinkFunc(func(r *vegeta.Result) { res = append(res, *r) }))
	checkSchedule(t, atk, acc, res)

	// Weights 1 + 1 + 2 + 1 = 5: 24/s, 24/s, 48/s and 24/s.
	wantRate := map[Probe]float64{ProbeReuse: 24, ProbeFresh: 24, "target:heavy": 48, "target:light": 24}
	counts := map[Probe]int{}
	for _, r := range res {
		_, p := SplitAttack(r.Attack)
		counts[p]++
		assert.Empty(t, r.Error)
	}
	require.Len(t, acc.Probes, 4)
	sum := 0.0
	for _, pa := range acc.Probes {
		assert.InDelta(t, wantRate[pa.Probe], pa.TargetRate, 1e-9, pa.Probe)
		sum += pa.TargetRate
		want := wantRate[pa.Probe] * seconds
		assert.InDelta(t, want, float64(pa.Scheduled), 1, "%s scheduled", pa.Probe)
		assert.Equal(t, int(pa.Sent), counts[pa.Probe], pa.Probe)
		// A loaded machine may miss a few; the shares hold within 15%.
		assert.InDelta(t, want, float64(counts[pa.Probe]), 0.15*want, "%s sent", pa.Probe)
	}
	assert.InDelta(t, rate, sum, 1e-9, "the streams' rates add up to the spec's")
	assert.Equal(t, rate, acc.TargetRate)
}

// A target is warm once every base URL answers its own request as expected
// three times in a row; one that never does fails naming the target and the
// last answer.
func TestTargetWarmUp(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 || r.Header.Get("X-Tenant") != "a" {
			http.Error(w, "warming", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"items":[]}`))
	}))
	defer srv.Close()
	tg := Target{Name: "shop", URLs: []string{srv.URL}, Path: "/api/items", Headers: map[string]string{"X-Tenant": "a"},
		Expect: Expect{Status: []int{200}, BodyContains: `"items"`}}
	require.NoError(t, tg.WarmUp(context.Background(), 10*time.Second))
	assert.GreaterOrEqual(t, calls.Load(), int32(5), "two refusals, then three answers in a row")

	tg.Expect.BodyContains = "never there"
	err := tg.WarmUp(context.Background(), time.Second)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "target shop does not answer through "+srv.URL+"/api/items")
	assert.Contains(t, err.Error(), `expect: body does not contain "never there"`)
}

// TestTargetOwnRate runs a target with a rate of its own outside the split
// of Spec.Rate, and a Request builder whose every request differs: the
// server sees the canary probes at their share and the target at its rate,
// each request of the target with its own body.
func TestTargetOwnRate(t *testing.T) {
	var canary, writes atomic.Int64
	bodies := sync.Map{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/put" {
			b, _ := io.ReadAll(r.Body)
			if _, dup := bodies.LoadOrStore(string(b), true); dup {
				http.Error(w, "duplicate", http.StatusConflict)
				return
			}
			writes.Add(1)
			return
		}
		canary.Add(1)
	}))
	defer srv.Close()
	var n atomic.Int64
	spec := Spec{Targets: []string{srv.URL}, Probes: []Probe{ProbeReuse}, Rate: 50, Duration: 2 * time.Second,
		UserTargets: []Target{{Name: "writes", URLs: []string{srv.URL}, Rate: 10, Share: 100,
			Request: func(base string) vegeta.Target {
				v := n.Add(1)
				return vegeta.Target{Method: http.MethodPost, URL: base + "/put#" + string(rune('a'+v%26)), Body: []byte{byte(v), byte(v >> 8)}}
			}}}}
	sts := spec.withDefaults().streams()
	require.Len(t, sts, 2)
	assert.Equal(t, 50.0, sts[0].rate, "the canary keeps all of Spec.Rate: the target's share is unused")
	assert.Equal(t, 10.0, sts[1].rate)
	a, err := New(spec)
	require.NoError(t, err)
	var results []*vegeta.Result
	sink := SinkFunc(func(r *vegeta.Result) {
		if _, p := SplitAttack(r.Attack); p == TargetProbe("writes") {
			c := *r
			results = append(results, &c)
		}
	})
	_, err = a.Run(t.Context(), sink)
	require.NoError(t, err)
	assert.InDelta(t, 20, writes.Load(), 2)
	assert.InDelta(t, 100, canary.Load(), 5)
	for _, r := range results {
		assert.Empty(t, r.Error)
		assert.Contains(t, r.URL, "/put#", "the fragment is recorded")
	}

	bad := spec
	bad.UserTargets = []Target{{Name: "writes", URLs: []string{srv.URL}, Rate: 0.5}}
	assert.ErrorContains(t, bad.Validate(), "userTargets[0]: rate: 0.5 is not a rate of at least 1/s")
}
