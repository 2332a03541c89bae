package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/kube"
	"github.com/rehearse/rehearse/scenarios"
)

// ClusterRef is a cluster a driver works on or makes.
type ClusterRef struct {
	Name       string
	Kubeconfig string
	Client     kubernetes.Interface
}

// Fleet makes and removes the clusters of a blue-green swap. The
// rehearsal implements it with its provisioner: a new cluster has the live
// cluster's shape and gets the images the live cluster got.
type Fleet interface {
	// Create makes cluster name at version.
	Create(ctx context.Context, name, version string) (*ClusterRef, error)
	// Delete removes a cluster the rehearsal made.
	Delete(ctx context.Context, name string) error
	// SetLive makes c the cluster under test from now on: the after
	// window, the final checklist and the teardown follow it.
	SetLive(c *ClusterRef)
}

// Traffic is the rehearsal's live load: the entry points it goes through.
type Traffic interface {
	// EntryPoints are the URLs that reach the application on c, one per
	// node (its node port).
	EntryPoints(ctx context.Context, c *ClusterRef) ([]string, error)
	// Switch sends the live load through targets from now on, at once.
	Switch(targets []string, why string)
	// Namespaces are the application's namespaces.
	Namespaces() []string
}

// BlueGreenSettings tune an A/B cluster swap.
type BlueGreenSettings struct {
	// Settle is how long the load runs on a cluster after a switch before
	// the next step.
	Settle time.Duration
	// Rollback rehearses switching back to A and forward again to B.
	Rollback bool
	// Namespaces are copied from A to B besides the application's.
	Namespaces []string
	// LabelSelector restricts the copied objects.
	LabelSelector string
	// ReadyTimeout bounds waiting for B's nodes and workloads.
	ReadyTimeout time.Duration
	// SmokeRequests is how many requests each of B's entry points must
	// answer 200 before B goes live.
	SmokeRequests int
}

// Defaults of a blue-green swap.
const (
	DefaultSettle        = 30 * time.Second
	DefaultSmokeRequests = 20
	// GreenSuffix names cluster B after cluster A.
	GreenSuffix = "-b"
)

// BlueGreen swaps the live cluster A for a new cluster B at the target
// version: create B with A's shape, copy A's workloads to B, smoke-test B
// through its own entry points before it takes traffic, switch the live
// load from A's nodes to B's, let it settle, optionally switch back and
// forward again (a rollback rehearsal), then delete A.
type BlueGreen struct{ s BlueGreenSettings }

func blueGreenFromScenario(u scenarios.Upgrade) (Driver, error) {
	s := u.BlueGreen
	if s == nil {
		s = &scenarios.BlueGreen{}
	}
	return NewBlueGreen(BlueGreenSettings{Settle: s.Settle.Duration, Rollback: s.Rollback, Namespaces: s.Namespaces})
}

// NewBlueGreen makes the driver.
func NewBlueGreen(s BlueGreenSettings) (*BlueGreen, error) {
	if s.Settle < 0 || s.ReadyTimeout < 0 || s.SmokeRequests < 0 {
		return nil, errors.New("bluegreen driver: settle, ready timeout and smoke requests must not be negative")
	}
	if s.Settle == 0 {
		s.Settle = DefaultSettle
	}
	if s.ReadyTimeout == 0 {
		s.ReadyTimeout = DefaultReadyTimeout
	}
	if s.SmokeRequests == 0 {
		s.SmokeRequests = DefaultSmokeRequests
	}
	return &BlueGreen{s: s}, nil
}

// Plan lists the swap's steps, each with its action; it changes nothing.
// Running it needs env.Fleet and env.Traffic.
func (b *BlueGreen) Plan(ctx context.Context, env Env, target string) (*Plan, error) {
	a := env.ClusterName
	if a == "" {
		return nil, errors.New("bluegreen driver: the live cluster has no name (blue-green needs a cluster the rehearsal made)")
	}
	from := ""
	if env.Shape != nil {
		from = env.Shape.Version
	} else if env.Client != nil {
		v, err := kube.ServerVersion(ctx, env.Client)
		if err != nil {
			return nil, fmt.Errorf("bluegreen driver: cluster A: %w", err)
		}
		from = v.GitVersion
	}
	s := &swap{b: b, a: a, g: a + GreenSuffix, target: target}
	g := s.g
	settle := fmt.Sprintf("settle %s", b.s.Settle)
	steps := []*Step{
		Action("create cluster "+g+" at "+target, g, s.create),
		Action("copy workloads "+a+" → "+g, g, s.copy),
		Action("wait for workloads and node ports on "+g, g, s.wait),
		Action("smoke test (pre-live) through "+g+"'s node ports", g, s.smoke),
		Action("switch traffic "+a+" → "+g, g, s.toGreen),
		Action(settle+" on "+g, g, sleep(b.s.Settle)),
	}
	if b.s.Rollback {
		steps = append(steps, Group("rollback rehearsal", Serial,
			Action("switch traffic "+g+" → "+a, a, s.toBlue),
			Action(settle+" on "+a, a, sleep(b.s.Settle)),
			Action("switch traffic "+a+" → "+g, g, s.toGreen),
			Action(settle+" on "+g, g, sleep(b.s.Settle)),
		))
	}
	steps = append(steps, Action("delete cluster "+a, a, s.deleteBlue))
	title := "blue-green swap to " + target
	if from != "" {
		title = "blue-green swap from " + from + " to " + target
	}
	return &Plan{Driver: "bluegreen", Target: target, Root: Group(title, Serial, steps...)}, nil
}

// swap is what one execution of a blue-green plan shares between its steps:
// cluster A (blue, live at the start), cluster B (green) once made, and the
// entry points of each.
type swap struct {
	b        *BlueGreen
	a, g     string
	target   string
	blue     *ClusterRef
	green    *ClusterRef
	aEntries []string
	gEntries []string
}

func (s *swap) namespaces(env Env) []string {
	return append(append([]string{}, env.Traffic.Namespaces()...), s.b.s.Namespaces...)
}

// create makes B, after taking note of A's entry points (a rollback
// rehearsal switches back to them).
func (s *swap) create(ctx context.Context, env Env) error {
	if env.Fleet == nil || env.Traffic == nil || env.Client == nil {
		return errors.New("bluegreen driver: needs a live cluster, a fleet to make cluster B and the live traffic to switch")
	}
	s.blue = &ClusterRef{Name: s.a, Kubeconfig: env.Kubeconfig, Client: env.Client}
	var err error
	if s.aEntries, err = env.Traffic.EntryPoints(ctx, s.blue); err != nil {
		return fmt.Errorf("entry points of cluster %s: %w", s.a, err)
	}
	s.green, err = env.Fleet.Create(ctx, s.g, s.target)
	return err
}

func (s *swap) copy(ctx context.Context, env Env) error {
	from, err := copyClients(s.blue)
	if err != nil {
		return err
	}
	to, err := copyClients(s.green)
	if err != nil {
		return err
	}
	rep, err := CopyApplication(ctx, from, to, CopySelection{Namespaces: s.namespaces(env), LabelSelector: s.b.s.LabelSelector})
	log := logOf(env)
	for _, c := range rep.Copied {
		fmt.Fprintf(log, "copied %s\n", c)
	}
	for _, c := range rep.Skipped {
		fmt.Fprintf(log, "skipped %s\n", c)
	}
	return err
}

func (s *swap) wait(ctx context.Context, env Env) error {
	wctx, cancel := context.WithTimeout(ctx, s.b.s.ReadyTimeout)
	defer cancel()
	if err := WaitWorkloadsReady(wctx, s.green.Client, s.namespaces(env), time.Second); err != nil {
		return err
	}
	var err error
	if s.gEntries, err = env.Traffic.EntryPoints(ctx, s.green); err != nil {
		return err
	}
	// Every node's kube-proxy must route the node port before the smoke
	// test judges B.
	return loadgen.WarmUp(wctx, s.gEntries, s.b.s.ReadyTimeout)
}

func (s *swap) smoke(ctx context.Context, env Env) error {
	return smoke(ctx, s.gEntries, s.b.s.SmokeRequests, logOf(env))
}

func (s *swap) toGreen(_ context.Context, env Env) error {
	env.Traffic.Switch(s.gEntries, fmt.Sprintf("traffic %s → %s", s.a, s.g))
	fmt.Fprintf(logOf(env), "switched the live traffic from %s to %s: %v\n", s.a, s.g, s.gEntries)
	return nil
}

func (s *swap) toBlue(_ context.Context, env Env) error {
	env.Traffic.Switch(s.aEntries, fmt.Sprintf("traffic %s → %s", s.g, s.a))
	fmt.Fprintf(logOf(env), "switched the live traffic from %s to %s: %v\n", s.g, s.a, s.aEntries)
	return nil
}

// deleteBlue makes B the cluster under test from here on, whatever happens
// to A, then deletes A.
func (s *swap) deleteBlue(ctx context.Context, env Env) error {
	env.Fleet.SetLive(s.green)
	return env.Fleet.Delete(ctx, s.a)
}

// copyClients reach a cluster for the copy: typed objects and, through the
// dynamic client, custom resources. A cluster known only by its client (a
// test's fake) copies typed objects alone.
func copyClients(c *ClusterRef) (CopyClients, error) {
	cc := CopyClients{Kube: c.Client}
	if c.Kubeconfig == "" {
		return cc, nil
	}
	cfg, err := kube.Config(c.Kubeconfig, "")
	if err != nil {
		return cc, err
	}
	if cc.Dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return cc, err
	}
	return cc, nil
}

// smoke sends n requests through every entry point and wants every one
// answered 200: B must serve before it takes live traffic.
func smoke(ctx context.Context, entries []string, n int, log io.Writer) error {
	if len(entries) == 0 {
		return errors.New("no entry point to smoke-test")
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var errs []error
	for _, u := range entries {
		ok := 0
		var last string
		for range n {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				last = err.Error()
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ok++
			} else {
				last = resp.Status
			}
		}
		fmt.Fprintf(log, "smoke test %s: %d/%d answered 200\n", u, ok, n)
		if ok < n {
			errs = append(errs, fmt.Errorf("%s: %d of %d requests answered 200 (last failure: %s)", u, ok, n, last))
		}
	}
	return errors.Join(errs...)
}
