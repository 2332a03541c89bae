package lb

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fastHealth is a Config with quick health checks, for tests.
func fastHealth(backends ...string) Config {
	return Config{
		Listen:         "127.0.0.1:0",
		Backends:       backends,
		ConnectTimeout: 250 * time.Millisecond,
		HealthInterval: 50 * time.Millisecond,
		HealthTimeout:  time.Second,
		Unhealthy:      2,
		Healthy:        1,
		HealthPath:     "/healthz",
		HealthTLS:      true,
	}
}

func TestBalancerRoundRobinFollowsHealth(t *testing.T) {
	a, c := newHTTPSBackend(t, "a"), newHTTPSBackend(t, "b")
	b, logs, _, _, _ := startBalancer(t, fastHealth(a.addr(), c.addr()))
	addr := b.Addr().String()
	waitState := func(be *httpsBackend, want healthState) {
		t.Helper()
		require.Eventually(t, func() bool { return stateOf(b, be.addr()) == want }, 3*time.Second, 10*time.Millisecond,
			"backend %s never reached state %d", be.name, want)
	}

	waitState(a, healthy)
	waitState(c, healthy)
	assert.Equal(t, map[string]int{"a": 5, "b": 5}, tally(t, addr, 10), "round robin over two healthy backends")

	a.failing.Store(true)
	waitState(a, unhealthy)
	assert.Equal(t, map[string]int{"b": 10}, tally(t, addr, 10), "an unhealthy backend gets no connections")
	assert.Contains(t, logs.String(), "backend "+a.addr()+" unhealthy (health check failed 2 times in a row")

	a.failing.Store(false)
	waitState(a, healthy)
	assert.Equal(t, map[string]int{"a": 5, "b": 5}, tally(t, addr, 10), "traffic returns to a recovered backend")

	// With no healthy backend, connections go to all of them.
	a.failing.Store(true)
	c.failing.Store(true)
	waitState(a, unhealthy)
	waitState(c, unhealthy)
	assert.Equal(t, map[string]int{"a": 5, "b": 5}, tally(t, addr, 10), "panic mode spreads over all backends")
	assert.Contains(t, logs.String(), "panic mode")
}

func TestBalancerUnhealthyThreshold(t *testing.T) {
	a, c := newHTTPSBackend(t, "a"), newHTTPSBackend(t, "b")
	cfg := fastHealth(a.addr(), c.addr())
	cfg.HealthInterval = 200 * time.Millisecond
	cfg.Unhealthy = 3
	b, _, _, _, _ := startBalancer(t, cfg)
	require.Eventually(t, func() bool { return stateOf(b, a.addr()) == healthy && stateOf(b, c.addr()) == healthy },
		3*time.Second, 10*time.Millisecond)

	// a turns unhealthy on its third failed check in a row, not before:
	// when the state flips, the backend has answered exactly three failures
	// (the next check is an interval away).
	a.failing.Store(true)
	require.Eventually(t, func() bool { return stateOf(b, a.addr()) == unhealthy }, 3*time.Second, 5*time.Millisecond)
	assert.Equal(t, int32(3), a.failures.Load())
	assert.Equal(t, healthy, stateOf(b, c.addr()))
}

func TestBalancerDialFailover(t *testing.T) {
	good := tcpBackend(t, "good")
	dead := refusedAddr(t)
	// No health checks: both backends count as healthy, and the dead one
	// refuses every connection.
	b, logs, _, _, _ := startBalancer(t, Config{Listen: "127.0.0.1:0", Backends: []string{dead, good}})
	addr := b.Addr().String()
	for range 4 {
		c, name, err := greeting(addr)
		require.NoError(t, err)
		c.Close()
		assert.Equal(t, "good", name)
	}
	assert.Contains(t, logs.String(), "dial backend "+dead+" failed")

	// When every backend refuses, the client's connection is closed.
	require.NoError(t, b.Apply(Config{Listen: "127.0.0.1:0", Backends: []string{dead}}))
	c, err := net.DialTimeout("tcp", addr, time.Second)
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	n, err := c.Read(make([]byte, 1))
	assert.Equal(t, 0, n)
	assert.ErrorIs(t, err, io.EOF)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "no backend reachable (1 tried)") },
		time.Second, 10*time.Millisecond)
}

func TestBalancerHalfClose(t *testing.T) {
	be := tcpBackend(t, "echo")
	b, _, _, _, _ := startBalancer(t, Config{Listen: "127.0.0.1:0", Backends: []string{be}})
	c, err := net.DialTimeout("tcp", b.Addr().String(), time.Second)
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "echo\n", line)
	_, err = io.WriteString(c, "hello")
	require.NoError(t, err)
	// The backend answers only once it sees end of file; the answer must
	// still reach a client that has stopped writing.
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, "hellobye\n", string(rest))
}

func TestBalancerApplyKeepsConnections(t *testing.T) {
	one, two := tcpBackend(t, "one"), tcpBackend(t, "two")
	b, logs, _, _, _ := startBalancer(t, Config{Listen: "127.0.0.1:0", Backends: []string{one}})
	first := b.Addr().String()

	c, name, err := greeting(first)
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, "one", name)

	// Same listener, other backends: no rebind, the old connection lives on.
	require.NoError(t, b.Apply(Config{Listen: "127.0.0.1:0", Backends: []string{two}}))
	assert.Equal(t, first, b.Addr().String(), "listener rebound although its address did not change")
	c2, name, err := greeting(first)
	require.NoError(t, err)
	c2.Close()
	assert.Equal(t, "two", name)

	// Another listener address: the old listener closes, the new one serves.
	second := refusedAddr(t)
	require.NoError(t, b.Apply(Config{Listen: second, Backends: []string{two}}))
	assert.Equal(t, second, b.Addr().String())
	_, err = net.DialTimeout("tcp", first, time.Second)
	assert.Error(t, err, "old listener still accepts")
	c3, name, err := greeting(second)
	require.NoError(t, err)
	c3.Close()
	assert.Equal(t, "two", name)

	// The connection made before both changes still reaches backend one.
	_, err = io.WriteString(c, "still here")
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	rest, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.Equal(t, "still herebye\n", string(rest))

	// No listener at all.
	require.NoError(t, b.Apply(Config{Backends: []string{two}}))
	assert.Nil(t, b.Addr())
	_, err = net.DialTimeout("tcp", second, time.Second)
	assert.Error(t, err)

	assert.Contains(t, logs.String(), "listening on "+first)
	assert.Contains(t, logs.String(), "config applied: listener "+second+", backends ["+two+"]")
}

func TestBalancerApplyReportsBindFailure(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	be := tcpBackend(t, "one")
	b, _, _, _, _ := startBalancer(t, Config{Backends: []string{be}})

	err = b.Apply(Config{Listen: taken.Addr().String(), Backends: []string{be}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), taken.Addr().String())
	assert.Nil(t, b.Addr())

	// Applying again once the address is free binds it.
	require.NoError(t, taken.Close())
	require.NoError(t, b.Apply(Config{Listen: taken.Addr().String(), Backends: []string{be}}))
	c, name, err := greeting(taken.Addr().String())
	require.NoError(t, err)
	c.Close()
	assert.Equal(t, "one", name)
}

func TestBalancerStopsOnCancel(t *testing.T) {
	web := newHTTPSBackend(t, "a")
	echo := tcpBackend(t, "echo")
	b, logs, cancel, done, runErr := startBalancer(t, fastHealth(echo))
	// A health-checked web backend too, so a checker is running.
	cfg := fastHealth(echo, web.addr())
	cfg.HealthTLS = true
	require.NoError(t, b.Apply(cfg))
	require.Eventually(t, func() bool { return stateOf(b, web.addr()) == healthy }, 3*time.Second, 10*time.Millisecond)
	addr := b.Addr().String()

	c, err := net.DialTimeout("tcp", addr, time.Second)
	require.NoError(t, err)
	defer c.Close()
	// The echo backend fails its health check (it speaks no HTTP), so
	// connections go to the web backend; this one stays open.
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))

	cancel()
	select {
	case <-done:
		require.NoError(t, *runErr)
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	n, err := c.Read(make([]byte, 1))
	assert.Equal(t, 0, n)
	assert.Error(t, err, "proxied connection still open after cancel")
	_, err = net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "listener still open after cancel")
	assert.Contains(t, logs.String(), "listener "+addr+" closed")
	assert.NoError(t, b.Apply(cfg), "Apply after Run returned has no effect")
	assert.Nil(t, b.Addr())

	// Run is once only.
	assert.Error(t, b.Run(context.Background()))
}
