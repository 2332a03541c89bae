package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// TargetProbePrefix starts the stream name of a user target: the results of
// target "shop" carry the probe "target:shop", so that the phase/probe
// grouping of every result, accounting and report sees each target as a
// stream of its own.
const TargetProbePrefix = "target:"

// Defaults of a Target.
const (
	DefaultMethod = http.MethodGet
	// DefaultShare is a target's weight when it gives none: the weight of
	// one canary probe kind.
	DefaultShare = 1.0
	// DefaultTargetProbe is the connection kind of a target that names none.
	DefaultTargetProbe = ProbeReuse
	// MaxExpectBodyBytes is how much of a response body is read for a
	// target whose Expect has BodyContains (other responses are read up to
	// MaxBodyBytes): text that lies further into the body is not seen, and
	// the response fails its expectation.
	MaxExpectBodyBytes = 1 << 20
	// ExpectErrorPrefix starts the error of a response that broke its
	// target's Expect, e.g. "expect: status 404 not in [200 204]".
	ExpectErrorPrefix = "expect: "
)

// Methods lists the HTTP methods a Target may use.
func Methods() []string {
	return []string{http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodOptions,
		http.MethodPatch, http.MethodPost, http.MethodPut, http.MethodTrace}
}

// Target is an application of the user's under load: one stream of requests
// of its own, beside the canary's probes, with its own attacker and pacer at
// its share of the rate. Its results carry the probe TargetProbe(Name).
type Target struct {
	// Name names the stream: a DNS-1123 label, unique among the targets.
	Name string
	// URLs are the base URLs in rotation, round-robin (a Service reached
	// through every node's NodePort gives one per node; a plain URL is
	// one). Ignored when Rotation is set.
	URLs []string
	// Rotation, when set, supplies the base URLs and may change them while
	// the attack runs (see HealthCheck).
	Rotation *Rotation
	// Method is the request method (default GET); see Methods.
	Method string
	// Path, when set, starts with '/' and is appended to each base URL
	// (one '/' between them): base http://10.0.0.2:30180 and path
	// /api/items?limit=5 request http://10.0.0.2:30180/api/items?limit=5.
	Path string
	// Headers are sent with every request. A Host header sets the request's
	// Host (the virtual host asked for), as vegeta does; names are
	// canonicalized ("x-tenant" is sent as X-Tenant).
	Headers map[string]string
	// Body is sent with every request.
	Body string
	// Expect is what a response must be to count as a success.
	Expect Expect
	// Share is the target's weight in the split of Spec.Rate (default
	// DefaultShare). Each canary probe kind weighs 1: a stream's rate is
	// Spec.Rate times its weight over the sum of all the weights. With the
	// probes reuse and fresh and one target of share 2 at rate 100, each
	// probe sends 25/s and the target 50/s.
	Share float64
	// Probe is the kind of connection the target's requests go over: reuse
	// (keep-alive, the default) or fresh (a new connection per request).
	Probe Probe
	// Rate, when positive, is the target's own rate in requests per
	// second, outside the split of Spec.Rate (Share is then unused): a
	// stream whose pace must not depend on the other streams, such as a
	// store's sequenced writes.
	Rate float64
	// Request, when set, builds each request from a base URL in place of
	// Method, Path and Body (Headers are still added), e.g. a write with a
	// sequence number of its own. It is called once per request, from
	// several goroutines at once.
	Request func(base string) vegeta.Target
}

// Expect is what a response must be to count as a success. A response
// that breaks it fails with an error starting with ExpectErrorPrefix.
type Expect struct {
	// Status lists the status codes of success; empty means any 2xx or 3xx
	// (redirects are not followed), as for the canary.
	Status []int
	// BodyContains, when set, must appear within the first
	// MaxExpectBodyBytes of the response body.
	BodyContains string
}

// TargetProbe is the probe (stream name) of the results of target name.
func TargetProbe(name string) Probe { return Probe(TargetProbePrefix + name) }

// Target returns the name of the user target whose stream p is.
func (p Probe) Target() (name string, ok bool) {
	return strings.CutPrefix(string(p), TargetProbePrefix)
}

// IsCanary tells whether p is one of the canary's probe kinds.
func (p Probe) IsCanary() bool { return p == ProbeReuse || p == ProbeFresh }

func (t Target) withDefaults() Target {
	if t.Method == "" {
		t.Method = DefaultMethod
	}
	if t.Share == 0 {
		t.Share = DefaultShare
	}
	if t.Probe == "" {
		t.Probe = DefaultTargetProbe
	}
	return t
}

// validate checks a target with its defaults applied.
func (t Target) validate() error {
	if errs := validation.IsDNS1123Label(t.Name); len(errs) > 0 {
		return fmt.Errorf("name: %q is not a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)", t.Name)
	}
	if t.Rotation == nil {
		if len(t.URLs) == 0 {
			return errors.New("urls: at least one base URL is required")
		}
		for i, u := range t.URLs {
			if err := validateTarget(u); err != nil {
				return fmt.Errorf("urls[%d]: %w", i, err)
			}
		}
	}
	if !slices.Contains(Methods(), t.Method) {
		return fmt.Errorf("method: %q is not one of %s", t.Method, strings.Join(Methods(), ", "))
	}
	if t.Path != "" && !strings.HasPrefix(t.Path, "/") {
		return fmt.Errorf("path: %q does not start with '/'", t.Path)
	}
	if strings.ContainsAny(t.Path, " \t\r\n#") {
		return fmt.Errorf("path: %q holds white space or a fragment", t.Path)
	}
	for k, v := range t.Headers {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("headers: %q is not a header name", k)
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			return fmt.Errorf("headers: %s: the value holds a control character", k)
		}
	}
	for _, c := range t.Expect.Status {
		if c < 100 || c > 599 {
			return fmt.Errorf("expect.status: %d is not an HTTP status code (100-599)", c)
		}
	}
	if t.Expect.BodyContains != "" && t.Method == http.MethodHead {
		return errors.New("expect.bodyContains: a HEAD response has no body")
	}
	if !(t.Share > 0) || math.IsInf(t.Share, 0) {
		return fmt.Errorf("share: %v is not a positive weight", t.Share)
	}
	if t.Rate < 0 || math.IsNaN(t.Rate) || math.IsInf(t.Rate, 0) || (t.Rate > 0 && t.Rate < 1) {
		return fmt.Errorf("rate: %v is not a rate of at least 1/s", t.Rate)
	}
	if !t.Probe.IsCanary() {
		return fmt.Errorf("probe: %q: want %s or %s", t.Probe, ProbeReuse, ProbeFresh)
	}
	return nil
}

// header is the target's headers in canonical form, for vegeta.Target,
// whose Request sets the request's Host from a Host header.
func (t Target) header() http.Header {
	if len(t.Headers) == 0 {
		return nil
	}
	h := make(http.Header, len(t.Headers))
	for k, v := range t.Headers {
		h.Set(k, v)
	}
	return h
}

// targeter walks the target's rotation of base URLs. The header and body
// are shared by every request: vegeta copies the header into each request
// and only reads the body.
func (t Target) targeter(rot *Rotation) vegeta.Targeter {
	header, method, path := t.header(), t.Method, t.Path
	var body []byte
	if t.Body != "" {
		body = []byte(t.Body)
	}
	return rot.targeterWith(func(base string) vegeta.Target {
		if t.Request != nil {
			vt := t.Request(base)
			vt.Header = header
			return vt
		}
		return vegeta.Target{Method: method, URL: joinPath(base, path), Header: header, Body: body}
	})
}

// joinPath appends path (empty, or starting with '/') to a base URL, with
// one '/' between them.
func joinPath(base, path string) string {
	if path == "" {
		return base
	}
	return strings.TrimRight(base, "/") + path
}

// expectation judges a target's responses against its Expect.
type expectation struct {
	status       []int
	bodyContains []byte
	maxBody      int
}

func newExpectation(e Expect, maxBody int) *expectation {
	x := &expectation{status: append([]int(nil), e.Status...), maxBody: maxBody}
	if e.BodyContains != "" {
		x.bodyContains = []byte(e.BodyContains)
	}
	return x
}

// check sets r.Error for a response that breaks the expectation, and
// clears vegeta's error of a status outside 2xx/3xx that Status lists. A
// result without a status code (the request or the reading of its body
// failed) keeps its error: vegeta sets a status code only once the body is
// read, and then its only error is that of a status outside 2xx/3xx.
func (x *expectation) check(r *vegeta.Result) {
	if r.Code == 0 {
		return
	}
	if len(x.status) > 0 {
		if !slices.Contains(x.status, int(r.Code)) {
			r.Error = fmt.Sprintf("%sstatus %d not in %v", ExpectErrorPrefix, r.Code, x.status)
			return
		}
		r.Error = ""
	} else if r.Error != "" {
		return
	}
	if x.bodyContains != nil && !bytes.Contains(r.Body, x.bodyContains) {
		r.Error = fmt.Sprintf("%sbody does not contain %q", ExpectErrorPrefix, x.bodyContains)
		if len(r.Body) >= x.maxBody {
			r.Error += fmt.Sprintf(" (in the first %d bytes, all that is read)", x.maxBody)
		}
	}
}

// WarmUp waits until every base URL of the target answers the target's own
// request, as its Expect wants, three times in a row: a Service's node ports
// take a moment to route to new endpoints on every node, and a recording
// must not count that as failures. The error names the target, the URL and
// the last answer.
func (t Target) WarmUp(ctx context.Context, timeout time.Duration) error {
	t = t.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	x := newExpectation(t.Expect, MaxExpectBodyBytes)
	bases := t.URLs
	if t.Rotation != nil {
		bases = t.Rotation.Targets()
	}
	for _, base := range bases {
		vt := vegeta.Target{Method: t.Method, URL: joinPath(base, t.Path), Header: t.header(), Body: []byte(t.Body)}
		if t.Request != nil {
			vt = t.Request(base)
			vt.Header = t.header()
		}
		ok, last := 0, ""
		err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			msg := t.try(ctx, client, x, vt)
			if ctx.Err() != nil {
				return false, ctx.Err() // the last real answer stays the one named
			}
			if msg != "" {
				ok, last = 0, msg
				return false, nil
			}
			ok++
			return ok == 3, nil
		})
		if err != nil {
			return fmt.Errorf("target %s does not answer through %s within %s (last: %s)", t.Name, vt.URL, timeout, last)
		}
	}
	return nil
}

// try sends the target's request once and returns what was wrong with the
// answer, or "" when it met the expectation.
func (t Target) try(ctx context.Context, client *http.Client, x *expectation, vt vegeta.Target) string {
	req, err := vt.Request()
	if err != nil {
		return err.Error()
	}
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	r := &vegeta.Result{Code: uint16(resp.StatusCode)}
	r.Body, _ = io.ReadAll(io.LimitReader(resp.Body, MaxExpectBodyBytes))
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		r.Error = resp.Status
	}
	x.check(r)
	return r.Error
}
