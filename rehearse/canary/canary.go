package canary

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults applied by Serve and Handler to zero-valued Config fields, and
// meant as the defaults of the corresponding command-line flags.
const (
	// DefaultAddr is the listen address.
	DefaultAddr = ":8080"
	// DefaultDrainDelay is how long the server keeps serving after shutdown
	// starts, with readiness failing, so that endpoints stop routing to it.
	DefaultDrainDelay = 5 * time.Second
	// DefaultShutdownTimeout bounds the graceful shutdown after the drain.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultVersion is reported when Config.Version is empty.
	DefaultVersion = "unknown"
	// DrainPort is the port of the canary's drain listener in its pod
	// (Config.DrainAddr), which no Service exposes.
	DrainPort = 8081
)

// DrainPath is the endpoint of the canary's preStop hook. A GET of it starts
// the drain (as a shutdown signal does: /readyz answers 503, every response
// carries "Connection: close", serving goes on) and answers 200 only once
// the drain delay has passed since the drain started, so the kubelet, which
// waits for its preStop hook before it sends SIGTERM, pauses the container's
// stop for the drain delay while the endpoint leaves the Service. The
// shutdown signal that follows then waits only for whatever is left of the
// drain delay (nothing, normally) before the graceful shutdown: the drain
// happens once, whichever of the two starts it. An httpGet hook works on
// every Kubernetes version, unlike the native sleep action (1.30+), and
// needs nothing in the image but the canary itself.
//
// Making every pod unready on demand would fake an outage, so DrainPath is
// not served to whoever reaches the canary's Service: on the main listener
// it answers only requests from the pod itself (a loopback address), and
// the kubelet, which sends the hook from its node, reaches it on the drain
// listener (Config.DrainAddr), a port that no Service exposes.
const DrainPath = "/drain"

// HeaderDrain must be present, with the value DrainHeaderValue, on a GET of
// DrainPath: the hook sends it, while a stray GET of DrainPath through the
// Service (a crawler, a typo) gets 404 and cannot take a pod out.
const (
	HeaderDrain      = "X-Canary-Drain"
	DrainHeaderValue = "preStop"
)

// Response headers set on every answer.
const (
	HeaderPod     = "X-Canary-Pod"
	HeaderNode    = "X-Canary-Node"
	HeaderVersion = "X-Canary-Version"
)

// Config configures the canary server. The zero value is usable: Addr and
// ShutdownTimeout fall back to their Default* constants, Version to
// DefaultVersion, and everything else means "off". DrainDelay is taken as
// given (zero means no drain period); callers wanting the default set it to
// DefaultDrainDelay.
type Config struct {
	// Addr is the TCP listen address, "host:port" (":0" picks a free port).
	Addr string
	// DrainAddr, when set, is the listen address of a second listener that
	// serves DrainPath only, to anyone: the kubelet's preStop hook. It must
	// stay out of every Service. Empty: no such listener, and DrainPath
	// answers only the pod itself on Addr.
	DrainAddr string
	// Delay is added to every "/" answer.
	Delay time.Duration
	// Jitter adds a uniform random extra wait in [0, Jitter) to every "/"
	// answer.
	Jitter time.Duration
	// FailRate is the fraction, in [0, 1], of "/" requests answered 503.
	FailRate float64
	// FailAfter delays injected failures until this long after the server
	// started. With FailAfter > 0 and FailRate == 0, every "/" request fails
	// once FailAfter has passed.
	FailAfter time.Duration
	// DrainDelay is how long the server keeps serving after the drain starts
	// (on a GET of DrainPath, or when shutdown starts), with /readyz
	// answering 503 and every response carrying "Connection: close".
	DrainDelay time.Duration
	// ShutdownTimeout bounds the graceful shutdown after the drain delay;
	// requests still running when it expires are cut off.
	ShutdownTimeout time.Duration
	// StartupDelay keeps /readyz answering 503 for this long after the
	// server starts, like an application that warms caches before it takes
	// traffic: a replacement pod then needs that long to join the Service.
	StartupDelay time.Duration
	// Version is the reported application version (the build version).
	Version string
	// Identity describes the pod answering; see IdentityFromEnv.
	Identity Identity
	// Logger receives lifecycle events (listening, drain started, shutdown
	// complete), not individual requests. Nil discards them.
	Logger *slog.Logger
	// Seed seeds the randomness of jitter and failure injection, making it
	// reproducible. Zero picks a random seed.
	Seed uint64
}

// Identity describes where the canary runs.
type Identity struct {
	Pod       string `json:"pod"`
	Node      string `json:"node"`
	Namespace string `json:"namespace"`
	PodIP     string `json:"podIP"`
}

// Environment variables read by IdentityFromEnv, as filled by the Kubernetes
// downward API in the canary's manifest.
const (
	EnvPodName      = "POD_NAME"
	EnvNodeName     = "NODE_NAME"
	EnvPodNamespace = "POD_NAMESPACE"
	EnvPodIP        = "POD_IP"
)

// IdentityFromEnv reads the pod identity through getenv (typically
// os.Getenv). The pod name falls back to $HOSTNAME and then to the
// machine's hostname, which Kubernetes sets to the pod name.
func IdentityFromEnv(getenv func(string) string) Identity {
	id := Identity{
		Pod:       getenv(EnvPodName),
		Node:      getenv(EnvNodeName),
		Namespace: getenv(EnvPodNamespace),
		PodIP:     getenv(EnvPodIP),
	}
	if id.Pod == "" {
		id.Pod = getenv("HOSTNAME")
	}
	if id.Pod == "" {
		if h, err := os.Hostname(); err == nil {
			id.Pod = h
		}
	}
	return id
}

// Validate reports every invalid field, each error naming the command-line
// flag that sets it.
func (c Config) Validate() error {
	var errs []error
	if c.Addr != "" {
		if err := validateAddr(c.Addr); err != nil {
			errs = append(errs, fmt.Errorf("--addr %q: %w", c.Addr, err))
		}
	}
	if c.DrainAddr != "" {
		if err := validateAddr(c.DrainAddr); err != nil {
			errs = append(errs, fmt.Errorf("--drain-addr %q: %w", c.DrainAddr, err))
		}
	}
	nonNegative := func(flag string, d time.Duration) {
		if d < 0 {
			errs = append(errs, fmt.Errorf("--%s %s: must not be negative", flag, d))
		}
	}
	nonNegative("delay", c.Delay)
	nonNegative("jitter", c.Jitter)
	if math.IsNaN(c.FailRate) || c.FailRate < 0 || c.FailRate > 1 {
		errs = append(errs, fmt.Errorf("--fail-rate %v: must be between 0 and 1", c.FailRate))
	}
	nonNegative("fail-after", c.FailAfter)
	nonNegative("drain-delay", c.DrainDelay)
	nonNegative("shutdown-timeout", c.ShutdownTimeout)
	nonNegative("startup-delay", c.StartupDelay)
	return errors.Join(errs...)
}

func validateAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return errors.New(ae.Err + ` (want "host:port" or ":port")`)
		}
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q must be a number between 0 and 65535", port)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64() | 1
	}
	return c
}

// Server is the state behind the canary's handler: start time, drain flag
// and the random source for jitter and failure injection. It is safe for
// concurrent use.
type Server struct {
	cfg      Config
	start    time.Time
	now      func() time.Time
	draining atomic.Bool
	inFlight atomic.Int64 // "/" requests being answered

	drainMu    sync.Mutex
	drainStart time.Time // when the drain started (wall clock); zero before

	mu  sync.Mutex
	rng *rand.Rand
}

// Handler builds the canary's http.Handler for cfg, which should have passed
// Validate, and returns it with the Server state behind it. The start time
// for uptime and FailAfter is the time of this call.
func Handler(cfg Config) (http.Handler, *Server) {
	s := newServer(cfg)
	return s, s
}

// DrainHandler is the handler of the drain listener: DrainPath for anyone
// who sends the hook's header, nothing else.
func (s *Server) DrainHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.route(w, r, true)
	})
}

func newServer(cfg Config) *Server {
	cfg = cfg.withDefaults()
	return &Server{
		cfg:   cfg,
		start: time.Now(),
		now:   time.Now,
		rng:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}
}

// StartDrain switches the server to draining: /readyz answers 503, "/"
// reports draining, and every response carries "Connection: close". It is
// idempotent and cannot be undone.
func (s *Server) StartDrain() { s.startDrain("StartDrain") }

// startDrain starts the drain unless it has started, logging what started
// it, and returns when it started.
func (s *Server) startDrain(by string) time.Time {
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	if s.drainStart.IsZero() {
		s.drainStart = time.Now()
		s.draining.Store(true)
		s.cfg.Logger.Info("drain started", "by", by, "drainDelay", s.cfg.DrainDelay)
	}
	return s.drainStart
}

// drainLeft is how much of the drain delay is still to run, counted from
// the drain's start.
func (s *Server) drainLeft(started time.Time) time.Duration {
	return max(0, s.cfg.DrainDelay-time.Since(started))
}

// waitDrain waits until the drain delay has passed since started, or until
// done is closed; it reports whether the delay passed.
func (s *Server) waitDrain(started time.Time, done <-chan struct{}) bool {
	left := s.drainLeft(started)
	if left == 0 {
		return true
	}
	t := time.NewTimer(left)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}

// Draining reports whether StartDrain has been called.
func (s *Server) Draining() bool { return s.draining.Load() }

// ServeHTTP routes the canary's endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.route(w, r, false)
}

// route serves a request of the main listener or, with drainListener, of
// the drain listener, which serves DrainPath only.
func (s *Server) route(w http.ResponseWriter, r *http.Request, drainListener bool) {
	h := w.Header()
	h.Set(HeaderPod, s.cfg.Identity.Pod)
	h.Set(HeaderNode, s.cfg.Identity.Node)
	h.Set(HeaderVersion, s.cfg.Version)
	h.Set("Cache-Control", "no-store")

	var serve func(http.ResponseWriter, *http.Request)
	switch path := r.URL.Path; {
	case path == DrainPath && drainListener:
		serve = s.serveDrain
	case path == DrainPath:
		serve = s.serveDrainLocal
	case drainListener:
		// The drain listener serves the hook and nothing else.
	case path == "/":
		serve = s.serveRoot
	case path == "/healthz":
		serve = s.serveHealthz
	case path == "/readyz":
		serve = s.serveReadyz
	}
	if serve == nil {
		s.closeIfDraining(h)
		writeText(w, http.StatusNotFound, "not found")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.closeIfDraining(h)
		h.Set("Allow", "GET, HEAD")
		writeText(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	serve(w, r)
}

// fromLoopback says the request came from this machine's (this pod's)
// loopback address.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// closeIfDraining asks the client to close the connection once draining, so
// that its next request opens a new connection, which the cluster routes to
// a ready endpoint. Go's server closes the connection after such a reply.
func (s *Server) closeIfDraining(h http.Header) {
	if s.Draining() {
		h.Set("Connection", "close")
	}
}

type rootAnswer struct {
	Identity
	Version       string  `json:"version"`
	Time          string  `json:"time"`
	UptimeSeconds float64 `json:"uptimeSeconds"`
	Draining      bool    `json:"draining"`
}

func (s *Server) serveRoot(w http.ResponseWriter, r *http.Request) {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)

	fail := s.shouldFail(s.now())
	if d := s.pause(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return // the client went away; nobody is left to answer
		}
	}

	h := w.Header()
	s.closeIfDraining(h)
	if fail {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "injected failure"})
		return
	}
	now := s.now()
	writeJSON(w, http.StatusOK, rootAnswer{
		Identity:      s.cfg.Identity,
		Version:       s.cfg.Version,
		Time:          now.Format(time.RFC3339Nano),
		UptimeSeconds: now.Sub(s.start).Seconds(),
		Draining:      s.Draining(),
	})
}

func (s *Server) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	s.closeIfDraining(w.Header())
	writeText(w, http.StatusOK, "ok")
}

func (s *Server) serveReadyz(w http.ResponseWriter, _ *http.Request) {
	if s.Draining() {
		s.closeIfDraining(w.Header())
		writeText(w, http.StatusServiceUnavailable, "draining")
		return
	}
	if s.now().Sub(s.start) < s.cfg.StartupDelay {
		writeText(w, http.StatusServiceUnavailable, "starting")
		return
	}
	writeText(w, http.StatusOK, "ready")
}

// serveDrain is the preStop hook: it starts the drain and answers once the
// drain delay has passed since the drain started (at once when it has
// already passed, or when the delay is zero). A client giving up ends the
// wait but not the drain.
// serveDrainLocal is DrainPath on the main listener, which the Service
// exposes: only the pod itself may drain through it.
func (s *Server) serveDrainLocal(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(HeaderDrain) != DrainHeaderValue {
		s.closeIfDraining(w.Header())
		writeText(w, http.StatusNotFound, "not found")
		return
	}
	if !fromLoopback(r) {
		s.closeIfDraining(w.Header())
		writeText(w, http.StatusForbidden, "forbidden: on this port "+DrainPath+" answers the pod itself only")
		return
	}
	s.serveDrain(w, r)
}

func (s *Server) serveDrain(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(HeaderDrain) != DrainHeaderValue {
		s.closeIfDraining(w.Header())
		writeText(w, http.StatusNotFound, "not found")
		return
	}
	started := s.startDrain("preStop hook (GET " + DrainPath + ")")
	if !s.waitDrain(started, r.Context().Done()) {
		return // the client went away; nobody is left to answer
	}
	s.closeIfDraining(w.Header())
	writeText(w, http.StatusOK, "drained")
}

// pause returns how long a "/" answer waits: Delay + uniform[0, Jitter).
func (s *Server) pause() time.Duration {
	d := s.cfg.Delay
	if s.cfg.Jitter > 0 {
		s.mu.Lock()
		d += time.Duration(s.rng.Int64N(int64(s.cfg.Jitter)))
		s.mu.Unlock()
	}
	return d
}

// shouldFail decides whether a "/" request arriving at now gets an injected
// failure.
func (s *Server) shouldFail(now time.Time) bool {
	if s.cfg.FailAfter > 0 && now.Sub(s.start) < s.cfg.FailAfter {
		return false
	}
	switch {
	case s.cfg.FailRate > 0:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.rng.Float64() < s.cfg.FailRate
	case s.cfg.FailAfter > 0:
		return true
	default:
		return false
	}
}

func writeText(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // cannot happen for the canary's own types
		writeText(w, http.StatusInternalServerError, "internal error")
		return
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// Serve listens on cfg.Addr and serves the canary until ctx is cancelled,
// then terminates gracefully:
//
//  1. drain: /readyz turns 503 at once and keep-alives are disabled — every
//     response carries "Connection: close" and its connection is closed after
//     it, so clients reconnect and reach other endpoints — while serving
//     continues for cfg.DrainDelay. When a GET of DrainPath (the preStop
//     hook) started the drain earlier, only what is left of the delay is
//     waited: normally nothing, as the kubelet sends SIGTERM once the hook
//     answered;
//  2. shutdown: the listener closes and requests in flight complete, bounded
//     by cfg.ShutdownTimeout, after which remaining connections are cut.
//
// Idle connections are not closed at the start of the drain, which would
// race clients about to reuse them; they get "Connection: close" on their
// next response, or are closed by the shutdown.
//
// onListen, if not nil, is called with the bound address once the server
// accepts connections (so ":0" can be used). Serve returns nil on a clean
// shutdown, and an error if cfg is invalid, listening fails, serving fails,
// or the shutdown timeout expired with requests still running.
func Serve(ctx context.Context, cfg Config, onListen func(net.Addr)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	return newServer(cfg).serve(ctx, onListen)
}

func (s *Server) serve(ctx context.Context, onListen func(net.Addr)) error {
	cfg, log := s.cfg, s.cfg.Logger

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// The drain listener's server shuts down with the main one, so a hook
	// still waiting gets its answer.
	var drainSrv *http.Server
	if cfg.DrainAddr != "" {
		dln, err := lc.Listen(ctx, "tcp", cfg.DrainAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s (--drain-addr): %w", cfg.DrainAddr, err)
		}
		drainSrv = &http.Server{
			Handler:           s.DrainHandler(),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		go func() { _ = drainSrv.Serve(dln) }()
		defer drainSrv.Close() // on every return; after Shutdown, a no-op
		log.Info("drain listener", "addr", dln.Addr().String(), "path", DrainPath)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	log.Info("listening",
		"addr", ln.Addr().String(),
		"pod", cfg.Identity.Pod, "node", cfg.Identity.Node,
		"namespace", cfg.Identity.Namespace, "podIP", cfg.Identity.PodIP,
		"version", cfg.Version,
		"delay", cfg.Delay, "jitter", cfg.Jitter,
		"failRate", cfg.FailRate, "failAfter", cfg.FailAfter,
		"drainDelay", cfg.DrainDelay, "shutdownTimeout", cfg.ShutdownTimeout)
	if onListen != nil {
		onListen(ln.Addr())
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	started := s.startDrain("shutdown signal")
	if left := s.drainLeft(started); left > 0 {
		t := time.NewTimer(left)
		select {
		case <-t.C:
		case err := <-served:
			t.Stop()
			return fmt.Errorf("serve on %s while draining: %w", ln.Addr(), err)
		}
	} else if cfg.DrainDelay > 0 {
		log.Info("drain already done", "drainStarted", started.Format(time.RFC3339Nano))
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		<-served
		log.Warn("shutdown forced", "shutdownTimeout", cfg.ShutdownTimeout, "err", err)
		return fmt.Errorf("graceful shutdown did not finish within %s (--shutdown-timeout): %w",
			cfg.ShutdownTimeout, err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	}
	if drainSrv != nil {
		// A hook still waiting is answered now (the drain is over); one
		// that does not finish is cut by the deferred Close.
		_ = drainSrv.Shutdown(sctx)
	}
	log.Info("shutdown complete")
	return nil
}
