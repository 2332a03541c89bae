package rehearse

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/canary"
	"github.com/rehearse/rehearse/rehearse/driver"
	"github.com/rehearse/rehearse/rehearse/kube"
	"github.com/rehearse/rehearse/rehearse/timeline"
)

// fleet lets a driver make and remove clusters through the rehearsal's
// provisioner (a blue-green swap's cluster B). Every cluster it makes is the
// rehearsal's: deleted at teardown unless kept, even when the swap fails
// half way.
type fleet struct{ r *run }

var _ driver.Fleet = fleet{}

// Create makes cluster name at version with the scenario's shape and loads
// the canary image the live cluster got.
func (f fleet) Create(ctx context.Context, name, version string) (*driver.ClusterRef, error) {
	r := f.r
	live := r.liveCluster()
	if live == nil || !live.Throwaway {
		return nil, fmt.Errorf("cluster %s: a rehearsal makes new clusters only beside a throwaway cluster of its own", name)
	}
	sc := *r.sc
	sc.Cluster.KubernetesVersion = version
	// Registered before it exists: an interrupted or failed creation is
	// still cleaned up at teardown.
	placeholder := &Cluster{Name: name, Throwaway: true}
	r.addCluster(placeholder)
	c, err := r.o.Provisioner.Provision(ctx, &sc, name)
	if err != nil {
		return nil, err
	}
	r.replaceCluster(placeholder, c)
	if r.canaryArchive != "" {
		if err := r.o.Provisioner.LoadImage(ctx, c, r.canaryArchive); err != nil {
			return nil, fmt.Errorf("load the canary image into %s: %w", name, err)
		}
	}
	client, err := clientFor(c, "")
	if err != nil {
		return nil, err
	}
	return &driver.ClusterRef{Name: c.Name, Kubeconfig: c.Kubeconfig, Client: client}, nil
}

// Delete removes a cluster the rehearsal made, unless clusters are kept.
func (f fleet) Delete(ctx context.Context, name string) error {
	r := f.r
	c := r.findCluster(name)
	if c == nil || !c.Throwaway {
		return fmt.Errorf("cluster %s was not made by this rehearsal: not deleting it", name)
	}
	if r.o.Keep || r.sc.Cluster.Keep {
		r.say("keeping cluster %s (kubeconfig %s)", c.Name, c.Kubeconfig)
		return nil
	}
	if err := r.o.Provisioner.Teardown(ctx, c); err != nil {
		return err
	}
	r.removeCluster(c)
	return nil
}

// SetLive makes c the cluster under test.
func (f fleet) SetLive(c *driver.ClusterRef) {
	r := f.r
	if found := r.findCluster(c.Name); found != nil {
		r.setLive(found, c.Client)
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

func (r *run) addCluster(c *Cluster) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clusters = append(r.clusters, c)
}

func (r *run) replaceCluster(old, c *Cluster) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.clusters {
		if r.clusters[i] == old {
			r.clusters[i] = c
		}
	}
}

func (r *run) removeCluster(c *Cluster) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.clusters {
		if r.clusters[i] == c {
			r.clusters = append(r.clusters[:i], r.clusters[i+1:]...)
			return
		}
	}
}

func (r *run) findCluster(name string) *Cluster {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// allClusters returns the clusters the rehearsal holds, live one first.
func (r *run) allClusters() []*Cluster {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []*Cluster{}
	if r.live != nil {
		out = append(out, r.live)
	}
	for _, c := range r.clusters {
		if c != r.live {
			out = append(out, c)
		}
	}
	return out
}

func (r *run) setLive(c *Cluster, client kubernetes.Interface) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live, r.client = c, client
}

func (r *run) liveCluster() *Cluster {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live
}

func (r *run) liveClient() kubernetes.Interface {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.client
}

// liveTraffic is the load's rotation of entry points kept by a health
// check; a switch replaces the candidates at once, recorded on the timeline.
type liveTraffic struct {
	ctx      context.Context
	rot      *loadgen.Rotation
	emit     timeline.Emitter
	deployed *canary.Deployed

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
	hc := loadgen.HealthCheck{Candidates: candidates, Emitter: t.emit}
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
	t.stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rot.Set(targets)
	t.emit.Emit(timeline.Event{Source: timeline.SourceRotation, Kind: "switch", Message: fmt.Sprintf("%s: %v", why, targets)})
	t.start(targets)
}

// EntryPoints are the canary's node ports on c.
func (t *liveTraffic) EntryPoints(ctx context.Context, c *driver.ClusterRef) ([]string, error) {
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
func (t *liveTraffic) Namespaces() []string { return []string{t.deployed.Namespace} }
