package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

// Defaults of a HealthCheck.
const (
	// DefaultHealthPath is checked on every candidate. Through a node port
	// the check reaches whichever canary pod the node forwards to, so it
	// answers the question a load balancer asks of a node: does this node
	// forward to a live canary? /healthz answers that and nothing more.
	// /readyz would fail whenever the check happened to land on a pod that
	// is draining, taking a healthy node out for a pod's state, and "/"
	// carries the latency and failures injected for drills, which the load
	// must measure rather than steer around.
	DefaultHealthPath = "/healthz"
	// KubeProxyHealthPort is kube-proxy's health port on every node.
	KubeProxyHealthPort   = 10256
	DefaultHealthInterval = time.Second
	DefaultHealthTimeout  = time.Second
	// DefaultFallThreshold consecutive failed checks take a target out.
	DefaultFallThreshold = 2
	// DefaultRiseThreshold consecutive passed checks put it back.
	DefaultRiseThreshold = 2
	// DefaultJoinRiseThreshold consecutive passed checks let in a node
	// that joined during the load: for some seconds after a node is Ready
	// the CNI's routes between it and the other nodes are still being
	// set, and a request it forwards to a pod elsewhere can hang, so a
	// newly registered target waits longer, as a cloud load balancer's
	// healthy threshold makes a new instance wait.
	DefaultJoinRiseThreshold = 10
)

// Kinds of the rotation's timeline events (source timeline.SourceRotation).
const (
	// RotationOut: the target left the rotation; the message says why.
	RotationOut = "out"
	// RotationIn: the target came back into the rotation.
	RotationIn = "in"
	// RotationFailOpen: every target failed its checks, so all of them are
	// kept in rotation.
	RotationFailOpen = "fail-open"
	// RotationFailOpenEnd: a target is healthy again; failing targets leave.
	RotationFailOpenEnd = "fail-open-end"
	// RotationAdded: a new candidate (a node that joined); it enters the
	// rotation once it passes RiseThreshold checks.
	RotationAdded = "added"
	// RotationRetired: a candidate is gone (its node was deleted); nothing
	// is sent to it from then on.
	RotationRetired = "retired"
)

// HealthCheck keeps a Rotation equal to the candidates that pass their
// health checks, the way a load balancer takes a node out of service and
// puts it back.
//
// Every Interval each candidate is checked with a GET of Path on a new
// connection (keep-alive off, proxies ignored), so that each check crosses
// the node's forwarding path afresh rather than riding a connection pinned
// to one pod. A 2xx or 3xx answer within Timeout passes; anything else
// fails. FallThreshold consecutive failures take a target out,
// RiseThreshold consecutive passes put it back.
//
// When every candidate is failing the rotation fails open: all candidates
// stay in, as a cloud load balancer does when all its targets are
// unhealthy. An empty rotation would turn every request into a failure of
// the load generator itself, while the targets might still answer the
// load; failing open measures what the application really does.
type HealthCheck struct {
	// Candidates are the target URLs, e.g. http://<node IP>:30080/; the
	// rotation keeps their order.
	Candidates []string
	// Path replaces the candidate URL's path (and query) for the check.
	Path string
	// Port, when set, replaces the candidate URL's port for the check: a
	// cloud load balancer in front of a NodePort Service with
	// externalTrafficPolicy Cluster checks kube-proxy's health port
	// (KubeProxyHealthPort, path /healthz) rather than the application.
	Port int
	// Interval is the time between rounds of checks; a round lasts at least
	// until its slowest check ends, at most Timeout.
	Interval time.Duration
	// Timeout bounds one check, connection included.
	Timeout time.Duration
	// FallThreshold consecutive failures take a target out.
	FallThreshold int
	// RiseThreshold consecutive passes put a target back.
	RiseThreshold int
	// Emitter receives a timeline event for every change of the rotation;
	// nil drops them.
	Emitter timeline.Emitter
	// Follow, when set, brings whole new candidate lists as the cluster
	// changes (nodes added and deleted): a candidate that is new starts out
	// of the rotation until it passes JoinRiseThreshold checks, one that
	// is missing is retired at once, the others keep their state.
	Follow <-chan []string
	// JoinRiseThreshold consecutive passes let a new candidate in.
	JoinRiseThreshold int
}

func (h HealthCheck) withDefaults() HealthCheck {
	if h.Path == "" {
		h.Path = DefaultHealthPath
	}
	if h.Interval == 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.Timeout == 0 {
		h.Timeout = DefaultHealthTimeout
	}
	if h.FallThreshold == 0 {
		h.FallThreshold = DefaultFallThreshold
	}
	if h.RiseThreshold == 0 {
		h.RiseThreshold = DefaultRiseThreshold
	}
	if h.JoinRiseThreshold == 0 {
		h.JoinRiseThreshold = DefaultJoinRiseThreshold
	}
	if h.Emitter == nil {
		h.Emitter = timeline.Discard
	}
	return h
}

// Validate reports every invalid field, by its name.
func (h HealthCheck) Validate() error {
	var errs []error
	if len(h.Candidates) == 0 {
		errs = append(errs, errors.New("candidates: at least one target URL is required"))
	}
	seen := map[string]bool{}
	for i, c := range h.Candidates {
		if err := validateTarget(c); err != nil {
			errs = append(errs, fmt.Errorf("candidates[%d]: %w", i, err))
		}
		if seen[c] {
			errs = append(errs, fmt.Errorf("candidates[%d]: %q given twice", i, c))
		}
		seen[c] = true
	}
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		errs = append(errs, fmt.Errorf("path: %q must start with /", h.Path))
	}
	if h.Port < 0 || h.Port > 65535 {
		errs = append(errs, fmt.Errorf("port: %d is not a port number", h.Port))
	}
	if h.Interval < 0 {
		errs = append(errs, fmt.Errorf("interval: %s is negative", h.Interval))
	}
	if h.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %s is negative", h.Timeout))
	}
	if h.FallThreshold < 0 {
		errs = append(errs, fmt.Errorf("fall threshold: %d is negative", h.FallThreshold))
	}
	if h.RiseThreshold < 0 {
		errs = append(errs, fmt.Errorf("rise threshold: %d is negative", h.RiseThreshold))
	}
	return errors.Join(errs...)
}

// Run checks the candidates until ctx ends, keeping rot's targets equal to
// the healthy candidates. It starts with every candidate in rotation
// (replacing whatever rot held) and returns nil when ctx ends, or the
// validation error of h.
func (h HealthCheck) Run(ctx context.Context, rot *Rotation) error {
	if err := h.Validate(); err != nil {
		return err
	}
	h = h.withDefaults()
	checkURLs, err := h.checkURLs(h.Candidates)
	if err != nil {
		return err
	}
	tr := &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		DialContext:       (&net.Dialer{Timeout: h.Timeout}).DialContext,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		Timeout:       h.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	tracker := newHealthTracker(h.Candidates, h.FallThreshold, h.RiseThreshold)
	tracker.joinRise = h.JoinRiseThreshold
	rot.Set(h.Candidates)
	tick := time.NewTicker(h.Interval)
	defer tick.Stop()
	results := make([]checkResult, len(checkURLs))
	for {
		var wg sync.WaitGroup
		for i, u := range checkURLs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = check(ctx, client, u)
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return nil // checks cut short by the end are no verdict
		}
		if members, events, changed := tracker.observe(results); changed {
			rot.Set(members)
			// Stamped after the change: a request sent later than an
			// event's time was routed by the new rotation.
			now := time.Now()
			for _, e := range events {
				e.Time = now
				e.Source = timeline.SourceRotation
				h.Emitter.Emit(e)
			}
		}
		// Until the next round, take in new candidate lists as they come.
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				waiting = false
			case candidates := <-h.Follow:
				urls, err := h.checkURLs(candidates)
				if err != nil {
					h.Emitter.Emit(timeline.Event{Time: time.Now(), Source: timeline.SourceRotation, Kind: "follow-error", Message: err.Error()})
					continue
				}
				members, events, changed := tracker.setCandidates(candidates)
				checkURLs = urls
				results = make([]checkResult, len(checkURLs))
				if changed {
					rot.Set(members)
				}
				now := time.Now()
				for _, e := range events {
					e.Time = now
					e.Source = timeline.SourceRotation
					h.Emitter.Emit(e)
				}
			}
		}
	}
}

// checkURLs are the health check's URLs of candidates, in their order.
func (h HealthCheck) checkURLs(candidates []string) ([]string, error) {
	out := make([]string, len(candidates))
	for i, c := range candidates {
		u, err := url.Parse(c)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("candidate %q is not an absolute URL", c)
		}
		u.Path, u.RawPath, u.RawQuery, u.Fragment = h.Path, "", "", ""
		if h.Port != 0 {
			u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(h.Port))
		}
		out[i] = u.String()
	}
	return out, nil
}

// checkResult is one health check's outcome; reason is empty when it passed.
type checkResult struct {
	ok     bool
	reason string
}

func check(ctx context.Context, client *http.Client, u string) checkResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return checkResult{reason: err.Error()}
	}
	resp, err := client.Do(req)
	if err != nil {
		return checkResult{reason: failureReason(err)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBodyBytes))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return checkResult{reason: fmt.Sprintf("status %d", resp.StatusCode)}
	}
	return checkResult{ok: true}
}

// failureReason names a failed check briefly: "connection refused",
// "connection reset", "connection closed" (no answer before the peer
// closed), "timeout", or the innermost error.
func failureReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// healthTracker turns rounds of check results into the rotation's members
// and the events that describe each change. It is the pure core of Run.
type healthTracker struct {
	fall, rise int
	// joinRise lets in a candidate added by setCandidates (0: rise).
	joinRise int
	targets  []*targetHealth
	member   []bool // in rotation now
	failOpen bool
}

type targetHealth struct {
	url string
	// rise, when set, is this target's own rise threshold (a joined node).
	rise    int
	healthy bool
	passes  int // consecutive passed checks
	fails   int // consecutive failed checks
	// runs are the reasons of the latest failure streak, consecutive equal
	// reasons merged, the most recent last; kept after the streak ends to
	// say why the target was out.
	runs []reasonRun
}

type reasonRun struct {
	reason string
	n      int
}

// maxReasonRuns bounds the reasons kept per streak (the latest ones).
const maxReasonRuns = 3

// riseOf is the target's rise threshold: its own, else the tracker's.
func (th *targetHealth) riseOf(rise int) int {
	if th.rise > 0 {
		return th.rise
	}
	return rise
}

func newHealthTracker(candidates []string, fall, rise int) *healthTracker {
	t := &healthTracker{fall: fall, rise: rise, member: make([]bool, len(candidates))}
	for i, c := range candidates {
		t.targets = append(t.targets, &targetHealth{url: c, healthy: true})
		t.member[i] = true
	}
	return t
}

func (th *targetHealth) record(r checkResult) {
	if r.ok {
		th.passes++
		th.fails = 0
		return
	}
	if th.fails == 0 {
		th.runs = th.runs[:0]
	}
	th.passes = 0
	th.fails++
	if n := len(th.runs); n > 0 && th.runs[n-1].reason == r.reason {
		th.runs[n-1].n++
		return
	}
	th.runs = append(th.runs, reasonRun{reason: r.reason, n: 1})
	if len(th.runs) > maxReasonRuns {
		th.runs = append(th.runs[:0], th.runs[len(th.runs)-maxReasonRuns:]...)
	}
}

// why summarises the latest failure streak: "connection refused x2" or
// "timeout x1, connection refused x1".
func (th *targetHealth) why() string {
	parts := make([]string, len(th.runs))
	for i, r := range th.runs {
		parts[i] = fmt.Sprintf("%s x%d", r.reason, r.n)
	}
	return strings.Join(parts, ", ")
}

// observe takes one round of results, in candidate order, and returns the
// members the rotation must now hold, the events describing the change,
// and whether anything changed.
func (t *healthTracker) observe(results []checkResult) ([]string, []timeline.Event, bool) {
	for i, r := range results {
		th := t.targets[i]
		th.record(r)
		switch {
		case th.healthy && th.fails >= t.fall:
			th.healthy = false
		case !th.healthy && th.passes >= th.riseOf(t.rise):
			th.healthy = true
		}
	}

	want := make([]bool, len(t.targets))
	someHealthy := false
	for i, th := range t.targets {
		want[i] = th.healthy
		someHealthy = someHealthy || th.healthy
	}
	failOpen := !someHealthy
	if failOpen {
		for i := range want {
			want[i] = true
		}
	}

	var events []timeline.Event
	switch {
	case failOpen && !t.failOpen:
		var failing []string
		for _, th := range t.targets {
			failing = append(failing, th.url+" "+th.why())
		}
		events = append(events, timeline.Event{Kind: RotationFailOpen, Message: fmt.Sprintf(
			"every target fails its health check (%s); keeping all %d in rotation",
			strings.Join(failing, "; "), len(t.targets))})
	case !failOpen && t.failOpen:
		var back []string
		for _, th := range t.targets {
			if th.healthy {
				back = append(back, th.url)
			}
		}
		events = append(events, timeline.Event{Kind: RotationFailOpenEnd, Message: fmt.Sprintf(
			"%s healthy again; failing targets leave the rotation", strings.Join(back, ", "))})
	}
	changed := false
	for i, th := range t.targets {
		switch {
		case t.member[i] && !want[i]:
			msg := th.why()
			if t.failOpen {
				msg += "; fail open ended"
			}
			events = append(events, timeline.Event{Kind: RotationOut, Subject: th.url, Message: msg})
			changed = true
		case !t.member[i] && want[i]:
			msg := fmt.Sprintf("healthy x%d", th.passes)
			if failOpen {
				msg = "fail open, still failing: " + th.why()
			}
			events = append(events, timeline.Event{Kind: RotationIn, Subject: th.url, Message: msg})
			changed = true
		}
	}
	t.member = want
	t.failOpen = failOpen
	if !changed && len(events) == 0 {
		return nil, nil, false
	}
	var members []string
	for i, th := range t.targets {
		if want[i] {
			members = append(members, th.url)
		}
	}
	return members, events, true
}

// setCandidates replaces the candidates: new ones start unhealthy and out
// of the rotation, missing ones are retired, the others keep their state
// and membership. It returns the members and events like observe; with no
// member left the rotation fails open to every candidate.
func (t *healthTracker) setCandidates(candidates []string) ([]string, []timeline.Event, bool) {
	old := map[string]int{}
	for i, th := range t.targets {
		old[th.url] = i
	}
	var events []timeline.Event
	changed := false
	targets := make([]*targetHealth, 0, len(candidates))
	member := make([]bool, 0, len(candidates))
	kept := map[string]bool{}
	for _, c := range candidates {
		if kept[c] {
			continue
		}
		kept[c] = true
		if i, ok := old[c]; ok {
			targets = append(targets, t.targets[i])
			member = append(member, t.member[i])
			continue
		}
		th := &targetHealth{url: c, rise: t.joinRise}
		targets = append(targets, th)
		member = append(member, false)
		events = append(events, timeline.Event{Kind: RotationAdded, Subject: c,
			Message: fmt.Sprintf("new candidate: in the rotation after %d passed checks", th.riseOf(t.rise))})
	}
	for i, th := range t.targets {
		if kept[th.url] {
			continue
		}
		events = append(events, timeline.Event{Kind: RotationRetired, Subject: th.url, Message: "gone: nothing is sent to it from now on"})
		if t.member[i] {
			changed = true
		}
	}
	t.targets, t.member = targets, member
	someMember := false
	for _, m := range member {
		someMember = someMember || m
	}
	if !someMember && len(targets) > 0 {
		for i := range t.member {
			t.member[i] = true
		}
		t.failOpen = true
		changed = true
		events = append(events, timeline.Event{Kind: RotationFailOpen, Message: fmt.Sprintf(
			"no candidate in the rotation is left; keeping all %d in rotation until one passes its checks", len(targets))})
	}
	var members []string
	for i, th := range t.targets {
		if t.member[i] {
			members = append(members, th.url)
		}
	}
	return members, events, changed
}

// WarmUp waits until every target answers its health check (GET
// DefaultHealthPath) three times in a row: a Service's node ports take a
// moment to route to new endpoints on every node, and a recording must not
// count that as failures.
func WarmUp(ctx context.Context, targets []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, t := range targets {
		u, err := url.Parse(t)
		if err != nil {
			return err
		}
		u.Path = DefaultHealthPath
		ok, last := 0, ""
		for ok < 3 {
			resp, err := client.Get(u.String())
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok++
				} else {
					ok, last = 0, resp.Status
				}
			} else {
				ok, last = 0, err.Error()
			}
			if ok < 3 {
				select {
				case <-ctx.Done():
					return fmt.Errorf("the canary does not answer through %s within %s (last: %s)", t, timeout, last)
				case <-time.After(200 * time.Millisecond):
				}
			}
		}
	}
	return nil
}
