package lb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"time"
)

// Balancer serves a Config: it accepts TCP connections on the listener and
// proxies each to one backend, chosen round robin among the healthy ones.
// Apply changes the Config while it runs; Run serves until its context ends.
type Balancer struct {
	log *log.Logger

	mu       sync.Mutex
	cfg      Config
	haveCfg  bool
	ctx      context.Context // Run's context, set by start
	running  bool
	stopped  bool
	ln       net.Listener
	lnFor    string // the Config.Listen ln was bound for
	backends []*backend
	health   healthSpec // what the running health checkers probe
	rr       uint64
	applied  string // description of the Config last logged as applied
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

// healthState is a backend's standing with the health checker.
type healthState int

const (
	unchecked healthState = iota // no check finished yet; not routed to
	healthy
	unhealthy
)

type backend struct {
	addr                string
	state               healthState
	successes, failures int
	stopCheck           context.CancelFunc
	gen                 uint64 // bumped whenever the checker is replaced
}

// NewBalancer returns a Balancer that logs one timestamped line per event
// (listener start, config applied, health transitions, dial failures) to logw.
func NewBalancer(logw io.Writer) *Balancer {
	return &Balancer{
		log:   log.New(logw, "", log.LstdFlags|log.Lmicroseconds|log.LUTC),
		conns: map[net.Conn]struct{}{},
	}
}

// Run serves the Config last given to Apply (and each one given later)
// until ctx ends, then closes the listener and every proxied connection,
// stops the health checks and returns once all its goroutines are done.
// A Balancer runs once.
func (b *Balancer) Run(ctx context.Context) error {
	if err := b.start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	b.stop()
	return nil
}

// Apply makes cfg the Config being served. The listener is rebound only
// when cfg.Listen differs from the current one (or when there is no
// listener yet); backends that stay keep their health state and their
// established connections, backends that go stop being health checked and
// get no new connections, but their established connections go on. The
// error reports a listener that could not be bound; everything else in cfg
// is in effect all the same, and applying the Config again retries the bind.
// Before Run, Apply only records cfg; after Run returns, it has no effect.
func (b *Balancer) Apply(cfg Config) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	cfg.Backends = append([]string(nil), cfg.Backends...)
	b.cfg, b.haveCfg = cfg, true
	if !b.running || b.stopped {
		return nil
	}
	return b.applyLocked()
}

// Addr is the address the listener is bound to, nil without a listener.
func (b *Balancer) Addr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ln == nil {
		return nil
	}
	return b.ln.Addr()
}

func (b *Balancer) logf(format string, args ...any) {
	b.log.Printf(format, args...)
}

// start begins serving; Run and Main call it.
func (b *Balancer) start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running {
		return errors.New("lb: Balancer.Run called more than once")
	}
	b.running, b.ctx = true, ctx
	if b.haveCfg {
		if err := b.applyLocked(); err != nil {
			b.logf("%v", err)
		}
	}
	return nil
}

// stop ends everything start and Apply began and waits for it.
func (b *Balancer) stop() {
	b.mu.Lock()
	b.stopped = true
	if b.ln != nil {
		b.ln.Close()
		b.logf("listener %s closed", b.ln.Addr())
		b.ln = nil
	}
	for _, be := range b.backends {
		stopChecker(be)
	}
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *Balancer) applyLocked() error {
	cfg := b.cfg
	var err error
	if b.ln != nil && b.lnFor != cfg.Listen {
		b.ln.Close()
		b.logf("listener %s closed", b.ln.Addr())
		b.ln = nil
	}
	if b.ln == nil && cfg.Listen != "" {
		ln, lerr := net.Listen("tcp", cfg.Listen)
		if lerr != nil {
			err = fmt.Errorf("listener %s: %w", cfg.Listen, lerr)
		} else {
			b.ln, b.lnFor = ln, cfg.Listen
			b.logf("listening on %s", ln.Addr())
			b.wg.Add(1)
			go b.acceptLoop(ln)
		}
	}
	b.updateBackendsLocked(cfg)
	if d := describe(cfg, b.ln); d != b.applied {
		b.applied = d
		b.logf("config applied: %s", d)
	}
	return err
}

func describe(cfg Config, ln net.Listener) string {
	var s strings.Builder
	switch {
	case cfg.Listen == "":
		s.WriteString("no listener")
	case ln == nil:
		fmt.Fprintf(&s, "listener %s (not bound)", cfg.Listen)
	default:
		fmt.Fprintf(&s, "listener %s", cfg.Listen)
	}
	if cfg.Cluster != "" {
		fmt.Fprintf(&s, ", cluster %s", cfg.Cluster)
	}
	fmt.Fprintf(&s, ", backends [%s], connect timeout %v", strings.Join(cfg.Backends, " "), connectTimeout(cfg))
	h := healthSpecOf(cfg)
	if !h.enabled() {
		s.WriteString(", no health checks (every backend counts as healthy)")
	} else {
		scheme := "http"
		if h.tls {
			scheme = "https"
		}
		fmt.Fprintf(&s, ", health check GET %s %s every %v (timeout %v, unhealthy_threshold %d, healthy_threshold %d)",
			scheme, h.path, h.interval, h.timeout, h.unhealthy, h.healthy)
	}
	return s.String()
}

func connectTimeout(cfg Config) time.Duration {
	if cfg.ConnectTimeout <= 0 {
		return defaultConnectTimeout
	}
	return cfg.ConnectTimeout
}

// updateBackendsLocked brings the backend list in line with cfg, keeping the
// state of backends that stay and restarting the health checkers when how
// they check has changed.
func (b *Balancer) updateBackendsLocked(cfg Config) {
	spec := healthSpecOf(cfg)
	specChanged := spec != b.health
	old := make(map[string]*backend, len(b.backends))
	for _, be := range b.backends {
		old[be.addr] = be
	}
	seen := map[string]bool{}
	var next []*backend
	for _, addr := range cfg.Backends {
		if seen[addr] {
			continue
		}
		seen[addr] = true
		be, kept := old[addr]
		delete(old, addr)
		if !kept {
			be = &backend{addr: addr}
		}
		next = append(next, be)
		if kept && !specChanged {
			continue
		}
		stopChecker(be)
		be.successes, be.failures = 0, 0
		if !spec.enabled() {
			be.state = healthy
			continue
		}
		if !kept || !b.health.enabled() {
			be.state = unchecked
		}
		b.startCheckerLocked(be, spec)
	}
	for _, be := range old {
		stopChecker(be)
	}
	b.backends = next
	b.health = spec
}

func stopChecker(be *backend) {
	if be.stopCheck != nil {
		be.stopCheck()
		be.stopCheck = nil
	}
	be.gen++
}

func (b *Balancer) startCheckerLocked(be *backend, spec healthSpec) {
	ctx, cancel := context.WithCancel(b.ctx)
	be.stopCheck = cancel
	be.gen++
	b.wg.Add(1)
	go func(gen uint64) {
		defer b.wg.Done()
		runChecks(ctx, be.addr, spec, func(err error) { b.record(be, gen, spec, err) })
	}(be.gen)
}

// record applies one health check result of checker generation gen.
func (b *Balancer) record(be *backend, gen uint64, spec healthSpec, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if be.gen != gen || b.stopped {
		return
	}
	if err == nil {
		be.failures = 0
		be.successes++
		if be.state != healthy && be.successes >= spec.healthy {
			be.state = healthy
			b.logf("backend %s healthy (health check passed %d time(s) in a row)", be.addr, be.successes)
		}
		return
	}
	be.successes = 0
	be.failures++
	switch {
	case be.state == unchecked:
		be.state = unhealthy
		b.logf("backend %s unhealthy (first health check failed: %v)", be.addr, err)
	case be.state == healthy && be.failures >= spec.unhealthy:
		be.state = unhealthy
		b.logf("backend %s unhealthy (health check failed %d times in a row, last: %v)", be.addr, be.failures, err)
		if b.healthyCountLocked() == 0 {
			b.logf("no healthy backend left: connections go to all %d backends (panic mode)", len(b.backends))
		}
	}
}

func (b *Balancer) healthyCountLocked() int {
	n := 0
	for _, be := range b.backends {
		if be.state == healthy {
			n++
		}
	}
	return n
}

// candidates returns the backends to try for one connection, in order: the
// healthy ones (all of them when none is) starting at the next round-robin
// position.
func (b *Balancer) candidates() ([]string, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var pool []*backend
	for _, be := range b.backends {
		if be.state == healthy {
			pool = append(pool, be)
		}
	}
	if len(pool) == 0 {
		pool = b.backends
	}
	n := len(pool)
	if n == 0 {
		return nil, 0
	}
	first := int(b.rr % uint64(n))
	b.rr++
	out := make([]string, n)
	for i := range out {
		out[i] = pool[(first+i)%n].addr
	}
	return out, connectTimeout(b.cfg)
}

func (b *Balancer) acceptLoop(ln net.Listener) {
	defer b.wg.Done()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			b.logf("accept on %s: %v (retrying in %v)", ln.Addr(), err, backoff)
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		if !b.track(c) {
			c.Close()
			return
		}
		b.wg.Add(1)
		go b.handle(c)
	}
}

// track registers a connection to be closed when the Balancer stops; false
// means it has stopped already.
func (b *Balancer) track(c net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return false
	}
	b.conns[c] = struct{}{}
	return true
}

func (b *Balancer) untrackClose(c net.Conn) {
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
	c.Close()
}

// handle proxies one accepted connection.
func (b *Balancer) handle(down net.Conn) {
	defer b.wg.Done()
	defer b.untrackClose(down)
	from := down.RemoteAddr()
	cands, timeout := b.candidates()
	if len(cands) == 0 {
		b.logf("connection from %s: no backends, closing it", from)
		return
	}
	d := net.Dialer{Timeout: timeout}
	for _, addr := range cands {
		up, err := d.DialContext(b.ctx, "tcp", addr)
		if err != nil {
			if b.ctx.Err() != nil {
				return
			}
			b.logf("connection from %s: dial backend %s failed: %v", from, addr, err)
			continue
		}
		if !b.track(up) {
			up.Close()
			return
		}
		defer b.untrackClose(up)
		pipe(down, up)
		return
	}
	b.logf("connection from %s: no backend reachable (%d tried), closing it", from, len(cands))
}

// pipe copies bytes both ways until both directions are done. A direction
// that reaches end of file half-closes its destination, so the other
// direction can still finish; one that fails closes both connections.
func pipe(down, up net.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyHalf(up, down)
	}()
	copyHalf(down, up)
	<-done
}

func copyHalf(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		src.Close()
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		return
	}
	dst.Close()
}
