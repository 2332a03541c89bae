package rehearse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/canary"
	"github.com/rehearse/rehearse/rehearse/driver"
	"github.com/rehearse/rehearse/rehearse/kube"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/scenarios"
)

// clusters are the clusters a rehearsal holds: the live one (the cluster
// under test, and its client) and every other it made, all deleted at
// teardown unless kept. It is the drivers' fleet: a blue-green swap makes
// cluster B through it, with the live cluster's shape and images, and makes
// B live. Every cluster it makes is the rehearsal's, registered before it
// exists, so a creation interrupted half way is still cleaned up.
type clusters struct {
	prov Provisioner
	sc   *scenarios.Scenario
	keep bool
	say  func(format string, args ...any)

	mu     sync.Mutex
	live   *Cluster
	client kubernetes.Interface
	all    []*Cluster
	// canaryArchive is the canary image loaded into the live cluster, loaded
	// into every cluster made later, and so are the scenario's images.
	canaryArchive string
	images        []string
	// workloadNamespaces are the namespaces of the user's workloads.
	workloadNamespaces []string
}

var _ driver.Fleet = (*clusters)(nil)

// Create makes cluster name at version with the scenario's shape and loads
// the canary image the live cluster got.
func (cs *clusters) Create(ctx context.Context, name, version string) (*driver.ClusterRef, error) {
	live, _ := cs.Live()
	if live == nil || !live.Throwaway {
		return nil, fmt.Errorf("cluster %s: a rehearsal makes new clusters only beside a throwaway cluster of its own", name)
	}
	sc := *cs.sc
	sc.Cluster.KubernetesVersion = version
	placeholder := &Cluster{Name: name, Throwaway: true}
	cs.add(placeholder)
	c, err := cs.prov.Provision(ctx, &sc, name)
	if err != nil {
		return nil, err
	}
	cs.replace(placeholder, c)
	if archive := cs.archive(); archive != "" {
		if err := cs.prov.LoadImage(ctx, c, archive); err != nil {
			return nil, fmt.Errorf("load the canary image into %s: %w", name, err)
		}
	}
	if images := cs.scenarioImages(); len(images) > 0 {
		loader, ok := cs.prov.(ImageLoader)
		if !ok {
			return nil, fmt.Errorf("cluster %s: the provider cannot load the scenario's images", name)
		}
		if err := loader.LoadImages(ctx, c, images); err != nil {
			return nil, fmt.Errorf("load the scenario's images into %s: %w", name, err)
		}
	}
	client, err := clientFor(c, "")
	if err != nil {
		return nil, err
	}
	return &driver.ClusterRef{Name: c.Name, Kubeconfig: c.Kubeconfig, Client: client}, nil
}

// Delete removes a cluster the rehearsal made, unless clusters are kept.
func (cs *clusters) Delete(ctx context.Context, name string) error {
	c := cs.find(name)
	if c == nil || !c.Throwaway {
		return fmt.Errorf("cluster %s was not made by this rehearsal: not deleting it", name)
	}
	if cs.keep {
		cs.say("keeping cluster %s (kubeconfig %s)", c.Name, c.Kubeconfig)
		return nil
	}
	if err := cs.prov.Teardown(ctx, c); err != nil {
		return err
	}
	cs.remove(c)
	return nil
}

// SetLive makes c the cluster under test.
func (cs *clusters) SetLive(c *driver.ClusterRef) {
	if found := cs.find(c.Name); found != nil {
		cs.setLive(found, c.Client)
	}
}

// clientFor reaches a cluster through its kubeconfig and context.
func clientFor(c *Cluster, kubeContext string) (kubernetes.Interface, error) {
	cfg, err := kube.Config(c.Kubeconfig, kubeContext)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

func (cs *clusters) add(c *Cluster) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.all = append(cs.all, c)
}

func (cs *clusters) replace(old, c *Cluster) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for i := range cs.all {
		if cs.all[i] == old {
			cs.all[i] = c
		}
	}
}

func (cs *clusters) remove(c *Cluster) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.all = slices.DeleteFunc(cs.all, func(x *Cluster) bool { return x == c })
}

func (cs *clusters) find(name string) *Cluster {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, c := range cs.all {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// List returns the clusters the rehearsal holds, live one first.
func (cs *clusters) List() []*Cluster {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	out := []*Cluster{}
	if cs.live != nil {
		out = append(out, cs.live)
	}
	for _, c := range cs.all {
		if c != cs.live {
			out = append(out, c)
		}
	}
	return out
}

func (cs *clusters) setLive(c *Cluster, client kubernetes.Interface) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.live, cs.client = c, client
}

// Live is the cluster under test and its client.
func (cs *clusters) Live() (*Cluster, kubernetes.Interface) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.live, cs.client
}

func (cs *clusters) setArchive(a string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.canaryArchive = a
}

func (cs *clusters) setImages(images []string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.images = images
}

func (cs *clusters) scenarioImages() []string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.images
}

func (cs *clusters) setWorkloads(namespaces []string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.workloadNamespaces = namespaces
}

func (cs *clusters) archive() string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.canaryArchive
}

// liveTraffic is the load's rotation of entry points kept by a health
// check; a switch replaces the candidates at once, recorded on the timeline.
type liveTraffic struct {
	ctx      context.Context
	rot      *loadgen.Rotation
	emit     timeline.Emitter
	deployed *canary.Deployed
	// workloads are the namespaces of the user's workloads.
	workloads []string

	// follow, when set, brings new entry points as nodes join and leave.
	follow <-chan []string

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

var _ driver.Traffic = (*liveTraffic)(nil)

func newLiveTraffic(ctx context.Context, rot *loadgen.Rotation, emit timeline.Emitter, deployed *canary.Deployed) *liveTraffic {
	return &liveTraffic{ctx: ctx, rot: rot, emit: emit, deployed: deployed}
}

// start health-checks candidates into the rotation.
func (t *liveTraffic) start(candidates []string) {
	ctx, cancel := context.WithCancel(t.ctx)
	done := make(chan struct{})
	hc := loadgen.HealthCheck{Candidates: candidates, Emitter: t.emit, Follow: t.follow}
	go func() {
		defer close(done)
		_ = hc.Run(ctx, t.rot)
	}()
	t.cancel, t.done = cancel, done
}

// stop ends the health check.
func (t *liveTraffic) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cancel != nil {
		t.cancel()
		<-t.done
		t.cancel = nil
	}
}

// Switch sends the load through targets from now on.
func (t *liveTraffic) Switch(targets []string, why string) {
	if t.rot == nil {
		return // no canary: nothing of ours to switch
	}
	t.stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rot.Set(targets)
	t.emit.Emit(timeline.Event{Source: timeline.SourceRotation, Kind: "switch", Message: fmt.Sprintf("%s: %v", why, targets)})
	t.start(targets)
}

// EntryPoints are the canary's node ports on c.
func (t *liveTraffic) EntryPoints(ctx context.Context, c *driver.ClusterRef) ([]string, error) {
	if t.deployed == nil {
		return nil, errors.New("the live traffic has no canary to move (canary.disabled): a blue-green swap moves the canary's traffic")
	}
	d, err := canary.Observe(ctx, c.Client, canary.DeployOptions{Namespace: t.deployed.Namespace, Name: t.deployed.Name})
	if err != nil {
		return nil, err
	}
	targets := d.Targets()
	if len(targets) == 0 {
		return nil, fmt.Errorf("no node of %s reaches the canary", c.Name)
	}
	return targets, nil
}

// Namespaces are the canary's.
func (t *liveTraffic) Namespaces() []string {
	var out []string
	if t.deployed != nil {
		out = append(out, t.deployed.Namespace)
	}
	return append(out, t.workloads...)
}
