package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindexec "sigs.k8s.io/kind/pkg/exec"

	"github.com/rehearse/rehearse/rehearse/nodeimage"
)

// Defaults of the provider and of creating a cluster.
const (
	DefaultWait = 5 * time.Minute
	// TeardownTimeout bounds deleting a cluster after a failed or
	// interrupted create.
	TeardownTimeout = 3 * time.Minute
	kindNetwork     = "kind"
)

// DefaultStateDir is where kubeconfigs are written:
// $XDG_CACHE_HOME/rehearse/clusters (~/.cache/rehearse/clusters). Without a
// cache folder (no $HOME) it is rehearse-UID/clusters in the shared
// temporary folder, which Create uses only when it is private (see
// privateDir).
func DefaultStateDir() string {
	return defaultStateDir(os.UserCacheDir, os.TempDir(), os.Getuid())
}

func defaultStateDir(cacheDir func() (string, error), tmp string, uid int) string {
	if dir, err := cacheDir(); err == nil {
		return filepath.Join(dir, "rehearse", "clusters")
	}
	return filepath.Join(tmp, fmt.Sprintf("rehearse-%d", uid), "clusters")
}

// privateDir makes dir and its missing parents with mode 0700, then checks
// that dir (and, when dir is under the shared temporary folder tmp, every
// folder between tmp and dir) is a folder, not a symbolic link, owned by
// uid, that no one else may write into: kubeconfigs are credentials, and a
// folder another user made in /tmp could be read or swapped under us.
func privateDir(dir, tmp string, uid int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state folder: %w", err)
	}
	check := []string{dir}
	if rel, err := filepath.Rel(tmp, dir); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
		// Under the shared temporary folder every folder of ours counts,
		// from the first below tmp down to dir.
		check = nil
		for d := dir; d != filepath.Clean(tmp) && d != filepath.Dir(d); d = filepath.Dir(d) {
			check = append(check, d)
		}
	}
	for _, d := range check {
		if err := ownedPrivate(d, uid); err != nil {
			return fmt.Errorf("state folder %s: %w (pass --state-dir, or set $HOME or $XDG_CACHE_HOME)", dir, err)
		}
	}
	return nil
}

// ownedPrivate checks that path is a folder (not a symbolic link) owned by
// uid and not writable by group or others.
func ownedPrivate(path string, uid int) error {
	st, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a folder (%s)", path, st.Mode().Type())
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: owner unknown", path)
	}
	if int(sys.Uid) != uid {
		return fmt.Errorf("%s is owned by uid %d, not by this user (uid %d)", path, sys.Uid, uid)
	}
	if perm := st.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("%s has mode %04o: others may write into it (want 0700)", path, perm)
	}
	return nil
}

// Options configure a Provider.
type Options struct {
	// Engine is podman or docker; empty detects the first that runs
	// privileged containers.
	Engine string
	// Host runs commands; nil is the local host.
	Host Host
	// Progress receives progress lines for people; nil discards them.
	Progress io.Writer
	// StateDir holds each cluster's kubeconfig; empty is DefaultStateDir.
	StateDir string
	// Verbose passes kind's debug messages to Progress.
	Verbose bool
}

// Provider creates, lists and deletes rehearse's kind clusters.
type Provider struct {
	engine   string
	host     Host
	progress io.Writer
	stateDir string
	kind     *kindcluster.Provider
	// run is this provider's random id: the mark of the node containers
	// its Create makes (see markNodes).
	run string
	// proc tells whether a throwaway cluster's owner still runs.
	proc procFS
}

// NewProvider returns a provider on the given or detected engine.
func NewProvider(ctx context.Context, o Options) (*Provider, error) {
	p := &Provider{engine: o.Engine, host: o.Host, progress: o.Progress, stateDir: o.StateDir, run: newRunID(), proc: localProc}
	if p.host == nil {
		p.host = LocalHost{}
	}
	if p.progress == nil {
		p.progress = io.Discard
	}
	if p.stateDir == "" {
		p.stateDir = DefaultStateDir()
	}
	if p.engine == "" {
		e, err := DetectEngine(ctx, p.host)
		if err != nil {
			return nil, err
		}
		p.engine = e
	}
	var engineOpt kindcluster.ProviderOption
	switch p.engine {
	case EnginePodman:
		engineOpt = kindcluster.ProviderWithPodman()
	case EngineDocker:
		engineOpt = kindcluster.ProviderWithDocker()
	default:
		return nil, fmt.Errorf("unknown provider %q; known: %s", p.engine, strings.Join(Engines(), ", "))
	}
	p.kind = kindcluster.NewProvider(engineOpt, kindcluster.ProviderWithLogger(newKindLogger(p.progress, o.Verbose)))
	return p, nil
}

// Engine is the container engine in use.
func (p *Provider) Engine() string { return p.engine }

// RunID is the random id that marks the node containers this provider's
// Create makes (a read-only mount at RunMarkDir/RUNID in each).
func (p *Provider) RunID() string { return p.run }

// KubeconfigPath is where a cluster's kubeconfig is written.
func (p *Provider) KubeconfigPath(name string) string {
	return filepath.Join(p.stateDir, name, "kubeconfig")
}

// CreateOptions tune Create.
type CreateOptions struct {
	// Wait bounds waiting for every node and kube-system pod to be Ready.
	Wait time.Duration
	// Retain keeps a cluster whose creation failed or was interrupted.
	Retain bool
	// Throwaway marks the cluster with this process as its owner (see
	// OwnerMarkDir): the caller deletes it when done, and should this
	// process be killed before it can, Prune deletes the orphan. Leave it
	// false for a cluster meant to outlive this process.
	Throwaway bool
	// LoadBalancer, for a cluster with several control planes, makes the
	// image of the load balancer kind puts in front of the apiservers
	// available (LoadBalancerImage; there is no registry to pull it from).
	// Without it, the image must be in the engine's store already.
	LoadBalancer func(ctx context.Context) error
	// Calico, for CNI calico, makes Calico's images available and says
	// where its manifest is (there is no registry to pull them from). It
	// is required for that CNI.
	Calico func(ctx context.Context) (CNIAddon, error)
}

// LoadBalancerImage is the image of the load balancer kind runs before the
// apiservers of a cluster with several control planes.
const LoadBalancerImage = "docker.io/envoyproxy/envoy:v1.36.2"

// Created describes a cluster Create made.
type Created struct {
	Name       string
	Kubeconfig string
	Steps      []Step
}

// Step is one timed step of creating a cluster.
type Step struct {
	Name     string
	Duration time.Duration
	Err      error
}

func (p *Provider) say(format string, args ...any) {
	fmt.Fprintf(p.progress, format+"\n", args...)
}

// Create creates the cluster and waits until it is Ready (with CNI none,
// until its nodes registered: they are Ready once a CNI is installed, see
// WaitReady). A node image without kindnetd is refused for CNI kindnet
// before anything is made. On failure or
// when ctx is cancelled it deletes what it made, unless o.Retain: only the
// node containers that carry this provider's mark, their volumes, and the
// kubeconfig folder and kind network if it made them. Another run's
// cluster of the same name is never touched.
func (p *Provider) Create(ctx context.Context, s Spec, o CreateOptions) (*Created, error) {
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	cfg, err := KindConfig(s, FactsOf(p.host))
	if err != nil {
		return nil, err
	}
	markNodes(cfg, p.run)
	if o.Throwaway {
		owner, err := p.proc.self()
		if err != nil {
			return nil, err
		}
		markOwner(cfg, owner)
	}
	image := s.NodeImageRef()
	if _, err := p.host.Run(ctx, p.engine, "image", "inspect", "--format", "{{.Id}}", image); err != nil {
		return nil, fmt.Errorf("node image %s not found in %s (rehearse doctor --kubernetes %s; build it: rehearse images build --kubernetes %s): %w",
			image, p.engine, s.Kubernetes, s.Kubernetes, err)
	}
	if s.CNI == CNIKindnet {
		if err := p.kindnetInImage(ctx, image); err != nil {
			return nil, err
		}
	}
	var calico CNIAddon
	if s.CNI == CNICalico {
		if o.Calico == nil {
			return nil, fmt.Errorf("cni calico: no builder of Calico's images was given")
		}
		if calico, err = o.Calico(ctx); err != nil {
			return nil, fmt.Errorf("cni calico: %w", err)
		}
	}
	if s.ControlPlanes > 1 {
		if o.LoadBalancer != nil {
			if err := o.LoadBalancer(ctx); err != nil {
				return nil, fmt.Errorf("the load balancer of %d control planes: %w", s.ControlPlanes, err)
			}
		}
		if _, err := p.host.Run(ctx, p.engine, "image", "inspect", "--format", "{{.Id}}", LoadBalancerImage); err != nil {
			return nil, fmt.Errorf("the load balancer image %s that kind puts in front of %d control planes is not in %s (rehearse images build --load-balancer makes it offline): %w",
				LoadBalancerImage, s.ControlPlanes, p.engine, err)
		}
	}
	if existing, err := p.kind.ListNodes(s.Name); err == nil && len(existing) > 0 {
		return nil, fmt.Errorf("a cluster named %s already exists (%d nodes): delete it first (rehearse cluster delete %s)", s.Name, len(existing), s.Name)
	}
	kubeconfig := p.KubeconfigPath(s.Name)
	if err := privateDir(p.stateDir, os.TempDir(), os.Getuid()); err != nil {
		return nil, err
	}
	made, err := p.beginCreation(ctx, s.Name)
	if err != nil {
		return nil, fmt.Errorf("create cluster %s: %w", s.Name, err)
	}
	switch err := os.Mkdir(filepath.Dir(kubeconfig), 0o700); {
	case err == nil:
		made.dirMade = true
	case !errors.Is(err, fs.ErrExist):
		return nil, err
	}
	created := &Created{Name: s.Name, Kubeconfig: kubeconfig}

	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"create nodes (kind)", func(ctx context.Context) error { return p.kindCreate(ctx, s.Name, cfg, kubeconfig) }},
		{"write kubeconfig", func(context.Context) error { return p.writeKubeconfig(s.Name) }},
	}
	if s.CNI == CNIFlannel {
		steps = append(steps, struct {
			name string
			run  func(context.Context) error
		}{"install flannel", func(ctx context.Context) error { return p.applyFlannel(ctx, s) }})
	}
	if s.CNI == CNICalico {
		steps = append(steps, struct {
			name string
			run  func(context.Context) error
		}{"install calico", func(ctx context.Context) error { return p.installCalico(ctx, s, calico) }})
	}
	wait := struct {
		name string
		run  func(context.Context) error
	}{"wait for Ready", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, o.Wait)
		defer cancel()
		return WaitReady(ctx, kubeconfig, s.ControlPlanes+s.Workers, p.progress)
	}}
	if s.CNI == CNINone {
		// Nodes become Ready once the user's CNI is installed: that is
		// the caller's to do, and to wait for (WaitReady).
		wait.name = "wait for nodes to register (no CNI yet)"
		wait.run = func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, o.Wait)
			defer cancel()
			return WaitRegistered(ctx, kubeconfig, s.ControlPlanes+s.Workers, p.progress)
		}
	}
	steps = append(steps, wait)

	start := time.Now()
	p.say("creating cluster %s: %d control plane(s), %d worker(s), CNI %s, image %s, on %s",
		s.Name, s.ControlPlanes, s.Workers, s.CNI, image, p.engine)
	for _, st := range steps {
		if ctx.Err() != nil {
			err := fmt.Errorf("create cluster %s: interrupted before %s: %w", s.Name, st.name, ctx.Err())
			return created, errors.Join(err, p.teardown(made, o.Retain))
		}
		t0 := time.Now()
		p.say("• %s ...", st.name)
		err := st.run(ctx)
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		created.Steps = append(created.Steps, Step{Name: st.name, Duration: time.Since(t0), Err: err})
		if err != nil {
			err = fmt.Errorf("create cluster %s: %s: %w", s.Name, st.name, err)
			if ctx.Err() != nil {
				err = fmt.Errorf("create cluster %s: interrupted during %s: %w", s.Name, st.name, ctx.Err())
			}
			return created, errors.Join(err, p.teardown(made, o.Retain))
		}
		p.say("• %s: done in %s", st.name, time.Since(t0).Round(100*time.Millisecond))
	}
	state := "Ready"
	if s.CNI == CNINone {
		state = "up, without a pod network,"
	}
	p.say("cluster %s is %s after %s; kubeconfig: %s", s.Name, state, time.Since(start).Round(100*time.Millisecond), kubeconfig)
	return created, nil
}

// kindnetInImage refuses cni kindnet on a node image that lacks kindnetd.
// kind's published node images carry it as their default CNI; images built
// from source carry flannel in that place, because kindnetd is not
// published as a Go module to build it from, and a cluster asked for
// kindnet must not silently get another CNI.
func (p *Provider) kindnetInImage(ctx context.Context, image string) error {
	out, err := p.host.Run(ctx, p.engine, "image", "inspect", "--format", "{{index .Labels \""+nodeimage.LabelSource+"\"}}", image)
	if err != nil {
		return fmt.Errorf("cni kindnet: inspect node image %s: %w", image, err)
	}
	if strings.TrimSpace(out) == "built" {
		return fmt.Errorf("cni kindnet: node image %s was built from source and has no kindnetd "+
			"(it is not published as a Go module to build from); use cni: flannel, or kind's published node image where a registry can be reached", image)
	}
	return nil
}

func (p *Provider) teardown(made *creation, retain bool) error {
	name := made.cluster
	if retain {
		p.say("keeping the half-made cluster %s (--retain); delete it with: rehearse cluster delete %s", name, name)
		return nil
	}
	p.say("deleting the half-made cluster %s", name)
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), TeardownTimeout)
	defer cancel()
	err := p.settle(ctx,
		func(ctx context.Context) error { return p.removeMade(ctx, made) },
		func(ctx context.Context) ([]string, error) { return p.madeLeftovers(ctx, made) })
	if err != nil {
		return fmt.Errorf("teardown: %w", err)
	}
	p.say("deleted the half-made cluster %s in %s", name, time.Since(t0).Round(100*time.Millisecond))
	return nil
}

// kindCreate runs kind's create, which knows no context: when ctx ends the
// node containers it made for this run are removed under it, again every
// second as long as it runs (nodes it was still starting appear later),
// which makes it fail fast, and it is waited for. Volumes and the network
// are left to the teardown, once kind's commands have ended: a volume
// removed before kind's `podman run` of its node would be made again,
// unlabelled.
func (p *Provider) kindCreate(ctx context.Context, name string, cfg *v1alpha4.Cluster, kubeconfig string) error {
	done := make(chan error, 1)
	go func() {
		done <- p.kind.Create(name,
			kindcluster.CreateWithV1Alpha4Config(cfg),
			kindcluster.CreateWithRetain(true), // teardown is ours, for every step
			kindcluster.CreateWithWaitForReady(0),
			kindcluster.CreateWithKubeconfigPath(kubeconfig),
			kindcluster.CreateWithDisplayUsage(false),
			kindcluster.CreateWithDisplaySalutation(false),
		)
	}()
	select {
	case err := <-done:
		return withOutput(err)
	case <-ctx.Done():
		p.say("interrupted: stopping kind's create of %s", name)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), TeardownTimeout)
		defer cancel()
		limit := time.NewTimer(TeardownTimeout)
		defer limit.Stop()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			_ = p.removeMadeContainers(rctx, name)
			select {
			case <-done:
				return ctx.Err()
			case <-limit.C:
				return ctx.Err()
			case <-tick.C:
			}
		}
	}
}

// withOutput adds the output of a failed command inside err (kind's errors
// name the command only).
func withOutput(err error) error {
	if err == nil {
		return nil
	}
	if re := kindexec.RunErrorForError(err); re != nil && len(bytes.TrimSpace(re.Output)) > 0 {
		return fmt.Errorf("%w\n%s", err, tail(string(re.Output), 40))
	}
	return err
}

func tail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > lines {
		ls = append([]string{"..."}, ls[len(ls)-lines:]...)
	}
	return strings.Join(ls, "\n")
}

func (p *Provider) writeKubeconfig(name string) error {
	cfg, err := p.kind.KubeConfig(name, false)
	if err != nil {
		return withOutput(err)
	}
	path := p.KubeconfigPath(name)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return err
	}
	return os.Chmod(path, 0o600) // the file may have existed with other bits
}

func (p *Provider) controlPlane(name string) (nodes.Node, error) {
	all, err := p.kind.ListNodes(name)
	if err != nil {
		return nil, withOutput(err)
	}
	cps, err := nodeutils.ControlPlaneNodes(all)
	if err != nil {
		return nil, err
	}
	if len(cps) == 0 {
		return nil, fmt.Errorf("cluster %s has no control-plane node", name)
	}
	return cps[0], nil
}

// applyFlannel applies the flannel manifest that the node image carries,
// with kubectl inside the first control-plane node.
func (p *Provider) applyFlannel(_ context.Context, s Spec) error {
	cp, err := p.controlPlane(s.Name)
	if err != nil {
		return err
	}
	var manifest bytes.Buffer
	if err := cp.Command("cat", FlannelManifest).SetStdout(&manifest).Run(); err != nil {
		return fmt.Errorf("read %s from node %s (the node image must carry it): %w", FlannelManifest, cp, withOutput(err))
	}
	m, err := flannelForSubnet(manifest.String(), s.PodSubnet)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	cmd := cp.Command("kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "apply", "-f", "-").
		SetStdin(strings.NewReader(m)).SetStdout(&out).SetStderr(&out)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl apply -f %s in node %s: %w: %s", FlannelManifest, cp, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Info describes one rehearse cluster found on the engine.
type Info struct {
	Name       string
	Kubernetes string
	Nodes      []string
	Roles      map[string]int
	States     map[string]int
	// Owner is the process that will delete a throwaway cluster; nil for
	// a cluster made to be kept.
	Owner *Owner
}

// nodeRow is one node container as the engine reports it.
type nodeRow struct {
	Container, Cluster, Kubernetes, Role, State string
	// Owner is the node's owner mark, when it has one.
	Owner *Owner
}

// rehearseClusters groups node containers into clusters, keeping those whose
// nodes carry the rehearse image label, sorted by name.
func rehearseClusters(rows []nodeRow) []Info {
	byName := map[string]*Info{}
	ours := map[string]bool{}
	for _, r := range rows {
		if r.Cluster == "" {
			continue
		}
		in := byName[r.Cluster]
		if in == nil {
			in = &Info{Name: r.Cluster, Roles: map[string]int{}, States: map[string]int{}}
			byName[r.Cluster] = in
		}
		in.Nodes = append(in.Nodes, r.Container)
		in.Roles[r.Role]++
		in.States[r.State]++
		if r.Owner != nil && in.Owner == nil {
			in.Owner = r.Owner
		}
		if r.Kubernetes != "" {
			ours[r.Cluster] = true
			in.Kubernetes = r.Kubernetes
		}
	}
	var out []Info
	for name, in := range byName {
		if ours[name] {
			sort.Strings(in.Nodes)
			out = append(out, *in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func parseNodeRows(out string) []nodeRow {
	var rows []nodeRow
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(l), "\t")
		if len(f) < 5 {
			continue
		}
		r := nodeRow{Container: strings.TrimPrefix(f[0], "/"), Cluster: f[1], Kubernetes: f[2], Role: f[3], State: f[4]}
		if len(f) > 5 {
			if o, ok := ownerOfMounts(strings.Split(f[5], ";")); ok {
				r.Owner = &o
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// nodeRows lists every kind node container on the engine.
func (p *Provider) nodeRows(ctx context.Context) ([]nodeRow, error) {
	out, err := p.host.Run(ctx, p.engine, "ps", "-a", "--filter", "label="+KindClusterLabel, "--format", "{{.ID}}")
	if err != nil {
		return nil, err
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil, nil
	}
	format := fmt.Sprintf(`{{.Name}}	{{index .Config.Labels %q}}	{{index .Config.Labels %q}}	{{index .Config.Labels %q}}	{{.State.Status}}	{{range .Mounts}}{{.Destination}};{{end}}`,
		KindClusterLabel, ImageLabel, KindRoleLabel)
	out, err = p.host.Run(ctx, p.engine, append([]string{"inspect", "--format", format}, ids...)...)
	if err != nil {
		return nil, err
	}
	return parseNodeRows(out), nil
}

// List returns the rehearse clusters on the engine.
func (p *Provider) List(ctx context.Context) ([]Info, error) {
	rows, err := p.nodeRows(ctx)
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	return rehearseClusters(rows), nil
}

// ErrNotFound says no rehearse cluster has the name.
var ErrNotFound = errors.New("no such rehearse cluster")

// Delete deletes a rehearse cluster: its node containers and volumes, its
// kubeconfig, and kind's network when no kind cluster is left on it.
func (p *Provider) Delete(ctx context.Context, name string) error {
	rows, err := p.nodeRows(ctx)
	if err != nil {
		return fmt.Errorf("delete cluster %s: %w", name, err)
	}
	found := false
	for _, c := range rehearseClusters(rows) {
		found = found || c.Name == name
	}
	if !found {
		for _, r := range rows {
			if r.Cluster == name {
				return fmt.Errorf("delete cluster %s: its nodes lack the label %s, so rehearse did not create it: delete it with kind delete cluster --name %s", name, ImageLabel, name)
			}
		}
		// No node container is left, but a create killed outright (SIGKILL,
		// a second Ctrl-C) may have left the volumes kind made for the nodes.
		if left, err := p.Leftovers(ctx, name); err == nil && len(left) > 0 {
			p.say("cluster %s has no node container left; removing what is: %s", name, strings.Join(left, ", "))
			if err := p.deleteCluster(ctx, name); err != nil {
				return fmt.Errorf("delete cluster %s: %w", name, err)
			}
			return nil
		}
		return fmt.Errorf("delete cluster %s: %w", name, ErrNotFound)
	}
	if err := p.deleteCluster(ctx, name); err != nil {
		return fmt.Errorf("delete cluster %s: %w", name, err)
	}
	return nil
}

// deleteCluster deletes whatever kind made for the cluster, without
// checking who made it: its node containers, their volumes (on podman also
// those kind's delete misses, see removeNodeVolumes), its kubeconfig, and
// kind's network when no kind node is left.
func (p *Provider) deleteCluster(ctx context.Context, name string) error {
	var errs []error
	var mounted []string
	if p.engine == EnginePodman {
		mounted = p.nodeVarVolumes(ctx, name)
	}
	if err := p.kind.Delete(name, p.KubeconfigPath(name)); err != nil {
		errs = append(errs, withOutput(err))
	}
	// Docker's node volumes are anonymous: removing the containers with -v,
	// as kind does, removes them.
	if p.engine == EnginePodman {
		if err := p.removeNodeVolumes(ctx, name, mounted); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(filepath.Dir(p.KubeconfigPath(name))); err != nil {
		errs = append(errs, err)
	}
	// kind's network is shared by all kind clusters and never removed by
	// kind; remove it once the last one is gone.
	if rows, err := p.nodeRows(ctx); err == nil && len(rows) == 0 {
		if _, err := p.host.Run(ctx, p.engine, "network", "inspect", kindNetwork); err == nil {
			if _, err := p.host.Run(ctx, p.engine, "network", "rm", kindNetwork); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Kubeconfig returns a rehearse cluster's kubeconfig (to reach it from the
// host).
func (p *Provider) Kubeconfig(ctx context.Context, name string) (string, error) {
	list, err := p.List(ctx)
	if err != nil {
		return "", err
	}
	for _, c := range list {
		if c.Name == name {
			cfg, err := p.kind.KubeConfig(name, false)
			return cfg, withOutput(err)
		}
	}
	return "", fmt.Errorf("kubeconfig of %s: %w", name, ErrNotFound)
}
