package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/timeline"
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

// Names of the plan's steps.
const (
	bgCreate   = "create cluster"
	bgCopy     = "copy workloads"
	bgWait     = "wait for workloads and node ports"
	bgSmoke    = "smoke test (pre-live)"
	bgSwitch   = "switch traffic"
	bgSettle   = "settle"
	bgDeleteA  = "delete cluster"
	bgRollback = "rollback rehearsal"
)

// Plan lists the swap's steps; it changes nothing.
func (b *BlueGreen) Plan(ctx context.Context, env Env, target string) (*Plan, error) {
	a := env.ClusterName
	if a == "" {
		return nil, errors.New("bluegreen driver: the live cluster has no name (blue-green needs a cluster the rehearsal made)")
	}
	from := ""
	if env.Shape != nil {
		from = env.Shape.Version
	} else if env.Client != nil {
		v, err := env.Client.Discovery().ServerVersion()
		if err != nil {
			return nil, fmt.Errorf("bluegreen driver: read cluster A's version: %w", err)
		}
		from = v.GitVersion
	}
	g := a + GreenSuffix
	settle := fmt.Sprintf("%s %s", bgSettle, b.s.Settle)
	steps := []*Step{
		Action(bgCreate+" "+g+" at "+target, g),
		Action(bgCopy+" "+a+" → "+g, g),
		Action(bgWait+" on "+g, g),
		Action(bgSmoke+" through "+g+"'s node ports", g),
		Action(bgSwitch+" "+a+" → "+g, g),
		Action(settle+" on "+g, g),
	}
	if b.s.Rollback {
		steps = append(steps, Group(bgRollback, Serial,
			Action(bgSwitch+" "+g+" → "+a, a),
			Action(settle+" on "+a, a),
			Action(bgSwitch+" "+a+" → "+g, g),
			Action(settle+" on "+g, g),
		))
	}
	steps = append(steps, Action(bgDeleteA+" "+a, a))
	title := "blue-green swap to " + target
	if from != "" {
		title = "blue-green swap from " + from + " to " + target
	}
	return &Plan{Driver: "bluegreen", Target: target, Root: Group(title, Serial, steps...)}, nil
}

// Upgrade runs the swap. It needs env.Fleet and env.Traffic.
func (b *BlueGreen) Upgrade(ctx context.Context, env Env, plan *Plan, emit timeline.Emitter) error {
	if env.Fleet == nil || env.Traffic == nil || env.Client == nil {
		return errors.New("bluegreen driver: needs a live cluster, a fleet to make cluster B and the live traffic to switch")
	}
	log := env.Log
	if log == nil {
		log = io.Discard
	}
	a := &ClusterRef{Name: env.ClusterName, Kubeconfig: env.Kubeconfig, Client: env.Client}
	aEntries, err := env.Traffic.EntryPoints(ctx, a)
	if err != nil {
		return fmt.Errorf("entry points of cluster %s: %w", a.Name, err)
	}
	var g *ClusterRef
	var gEntries []string
	switchTo := func(to *ClusterRef, entries []string, from string) func() error {
		return func() error {
			env.Traffic.Switch(entries, fmt.Sprintf("traffic %s → %s", from, to.Name))
			fmt.Fprintf(log, "switched the live traffic from %s to %s: %v\n", from, to.Name, entries)
			return nil
		}
	}
	settle := func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(b.s.Settle):
			return nil
		}
	}
	namespaces := append(append([]string{}, env.Traffic.Namespaces()...), b.s.Namespaces...)

	for _, s := range plan.Leaves() {
		var fn func() error
		switch {
		case strings.HasPrefix(s.Name, bgCreate):
			fn = func() error {
				var err error
				g, err = env.Fleet.Create(ctx, s.Subject, plan.Target)
				return err
			}
		case strings.HasPrefix(s.Name, bgCopy):
			fn = func() error {
				rep, err := CopyWorkloads(ctx, a.Client, g.Client, CopySelection{Namespaces: namespaces, LabelSelector: b.s.LabelSelector})
				for _, c := range rep.Copied {
					fmt.Fprintf(log, "copied %s\n", c)
				}
				for _, c := range rep.Skipped {
					fmt.Fprintf(log, "skipped %s\n", c)
				}
				return err
			}
		case strings.HasPrefix(s.Name, bgWait):
			fn = func() error {
				wctx, cancel := context.WithTimeout(ctx, b.s.ReadyTimeout)
				defer cancel()
				if err := WaitWorkloadsReady(wctx, g.Client, namespaces, time.Second); err != nil {
					return err
				}
				var err error
				if gEntries, err = env.Traffic.EntryPoints(ctx, g); err != nil {
					return err
				}
				// Every node's kube-proxy must route the node port before
				// the smoke test judges B.
				return loadgen.WarmUp(wctx, gEntries, b.s.ReadyTimeout)
			}
		case strings.HasPrefix(s.Name, bgSmoke):
			fn = func() error { return smoke(ctx, gEntries, b.s.SmokeRequests, log) }
		case strings.HasPrefix(s.Name, bgSwitch):
			if s.Subject == a.Name {
				fn = func() error { return switchTo(a, aEntries, g.Name)() }
			} else {
				fn = func() error { return switchTo(g, gEntries, a.Name)() }
			}
		case strings.HasPrefix(s.Name, bgSettle):
			fn = settle
		case strings.HasPrefix(s.Name, bgDeleteA):
			fn = func() error {
				// B is the cluster under test from here on, whatever
				// happens to A.
				env.Fleet.SetLive(g)
				return env.Fleet.Delete(ctx, a.Name)
			}
		default:
			return fmt.Errorf("bluegreen driver: unknown step %q", s.Name)
		}
		if err := s.Run(emit, timeline.SourceDriver, fn); err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	return nil
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
