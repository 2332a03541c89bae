package driver

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"sigs.k8s.io/yaml"

	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/scenarios"
)

// ReplaceSettings tune the replace driver.
type ReplaceSettings struct {
	// MaxSurge is how many new nodes are made, and Ready, before their
	// old nodes are retired. MaxUnavailable is how many more old nodes
	// are retired at the same time, replaced only after they are gone. A
	// batch replaces MaxSurge+MaxUnavailable workers, as GKE's surge
	// upgrade does: surge, soak, retire the batch, then replace the
	// unavailable ones.
	MaxSurge       int
	MaxUnavailable int
	// NodeInterval is the wait between batches.
	NodeInterval time.Duration
	// Soak is how long a batch's new nodes run Ready before its old nodes
	// are drained.
	Soak time.Duration
	// DrainTimeout bounds each drain.
	DrainTimeout time.Duration
	// CordonUndrainable leaves a node whose drain fails cordoned and in
	// the cluster, and goes on; otherwise the upgrade fails there.
	CordonUndrainable bool
	// ReadyTimeout bounds the wait for a new node to be Ready at the target.
	ReadyTimeout time.Duration
	// TargetImage is the target version's node image, which new nodes run
	// (default: the rehearse node image naming).
	TargetImage string
	// Runner reaches the node containers and the engine (default: the
	// engine binary the Env names, else podman).
	Runner NodeRunner
	// PoolLabel is the node label whose value names a worker's pool: the
	// workers are replaced pool by pool.
	PoolLabel string
	// DeregistrationDelay is the wait between deleting an old Node and
	// removing its container (default DefaultDeregistrationDelay).
	DeregistrationDelay time.Duration
	// AbortAfter stops the upgrade once this many workers are replaced
	// (ErrAborted); 0 never does.
	AbortAfter int
}

// Replace upgrades a kind cluster the way kops, managed node groups and
// Cluster API do: the control planes in place (as the kubeadm driver does),
// then every worker is replaced, pool by pool, in batches: a new node
// container from the target's node image joins with a fresh token and
// becomes Ready at the target, takes over the old node's labels and taints,
// soaks, and the old node is cordoned, drained and deleted (Node object,
// container and volume).
type Replace struct {
	s ReplaceSettings
	k *Kubeadm
}

var (
	_ Driver   = (*Replace)(nil)
	_ Reverter = (*Replace)(nil)
)

func replaceFromScenario(u scenarios.Upgrade) (Driver, error) {
	s := u.Replace
	if s == nil {
		s = &scenarios.Replace{MaxSurge: 1}
	}
	rs := ReplaceSettings{
		MaxSurge: s.MaxSurge, MaxUnavailable: s.MaxUnavailable, NodeInterval: s.NodeInterval.Duration,
		Soak: s.Soak.Duration, DrainTimeout: s.DrainTimeout.Duration, CordonUndrainable: s.Undrainable == scenarios.UndrainableCordon,
		AbortAfter: u.AbortAfter,
	}
	if u.Kubeadm != nil {
		rs.PoolLabel = u.Kubeadm.PoolLabel
	}
	return NewReplace(rs)
}

// NewReplace makes the replace driver.
func NewReplace(s ReplaceSettings) (*Replace, error) {
	if s.MaxSurge < 0 || s.MaxUnavailable < 0 {
		return nil, fmt.Errorf("replace: maxSurge %d and maxUnavailable %d must not be negative", s.MaxSurge, s.MaxUnavailable)
	}
	if s.MaxSurge == 0 && s.MaxUnavailable == 0 {
		return nil, errors.New("replace: maxSurge and maxUnavailable are both 0: no node could be replaced")
	}
	if s.DrainTimeout <= 0 {
		s.DrainTimeout = DefaultDrainTimeout
	}
	if s.ReadyTimeout <= 0 {
		s.ReadyTimeout = DefaultReadyTimeout
	}
	if s.PoolLabel == "" {
		s.PoolLabel = DefaultPoolLabel
	}
	if s.DeregistrationDelay <= 0 {
		s.DeregistrationDelay = DefaultDeregistrationDelay
	}
	k, err := NewKubeadm(KubeadmSettings{DrainTimeout: s.DrainTimeout, ReadyTimeout: s.ReadyTimeout, TargetImage: s.TargetImage, Runner: s.Runner, PoolLabel: s.PoolLabel})
	if err != nil {
		return nil, err
	}
	return &Replace{s: s, k: k}, nil
}

// Plan lists every step: the control plane's in-place upgrade, then each
// worker's surge (new node), soak and retirement (old node).
func (r *Replace) Plan(ctx context.Context, env Env, target string) (*Plan, error) {
	cn, err := r.k.nodesOf(ctx, env, target)
	if err != nil {
		return nil, err
	}
	if len(cn.workers) == 0 {
		return nil, errors.New("replace: the cluster has no worker to replace")
	}
	u := &kubeadmRun{k: r.k, target: target}
	// Every node gets the target's images, old workers too: kubeadm's
	// health check Job and the upgraded DaemonSets (kube-proxy) run on
	// them before they are replaced, and there is no registry.
	all := append(append([]string{}, cn.controlPlanes...), cn.workers...)
	prep, cps := r.k.controlPlaneSteps(u, cn, all)
	rr := &replaceRun{r: r, target: target, image: r.k.targetImage(target), firstCP: firstOf(cn.controlPlanes), facts: map[string]*oldNode{}, kept: map[string]bool{}, ready: map[string]string{}}
	return &Plan{
		Driver: "replace",
		Target: target,
		Root: Group(fmt.Sprintf("replace: control plane in place from %s to %s, then every worker by a new node (%s)", cn.version, target, r.describe()),
			Serial, prep, cps, r.workerSteps(rr, cn, &abortAt{n: r.s.AbortAfter})),
		Finally: u.finally(all),
	}, nil
}

// RevertPlan replaces every worker whose kubelet is not at from with a new
// node at from, as the upgrade replaced them. The control plane stays at
// its version: kubeadm upgrade apply is not reversible.
func (r *Replace) RevertPlan(ctx context.Context, env Env, from string) (*Plan, error) {
	cn, upgraded, err := workersNotAt(ctx, env, r.s.PoolLabel, from)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("revert to %s: replace the %d workers at another version by nodes at %s; the control plane stays as it is (kubeadm upgrade apply is not reversible)", from, len(upgraded), from)
	if len(upgraded) == 0 {
		return &Plan{Driver: "replace", Target: from, Root: Group(name, Serial,
			Action("every worker is at "+from+": nothing to revert", "", func(context.Context, Env) error { return nil }))}, nil
	}
	rr := &replaceRun{r: r, target: from, image: r.k.targetImage(from), firstCP: firstOf(cn.controlPlanes), facts: map[string]*oldNode{}, kept: map[string]bool{}, ready: map[string]string{}}
	workers := r.workerSteps(rr, clusterNodes{workers: upgraded, poolOf: cn.poolOf}, nil)
	return &Plan{Driver: "replace", Target: from, Root: Group(name, Serial, workers)}, nil
}

func (r *Replace) describe() string {
	s := fmt.Sprintf("max surge %d, max unavailable %d", r.s.MaxSurge, r.s.MaxUnavailable)
	if r.s.Soak > 0 {
		s += fmt.Sprintf(", soak %s", r.s.Soak)
	}
	if r.s.NodeInterval > 0 {
		s += fmt.Sprintf(", %s between batches", r.s.NodeInterval)
	}
	return s
}

// batchSize is how many old nodes one batch replaces.
func (r *Replace) batchSize() int {
	return r.s.MaxSurge + r.s.MaxUnavailable
}

// workerSteps replace the workers pool by pool (pools in name order,
// workers in no pool last), each pool in batches, with the abort step
// after the batch that reaches abort's count.
func (r *Replace) workerSteps(rr *replaceRun, cn clusterNodes, abort *abortAt) *Step {
	var pools []string
	members := map[string][]string{}
	for _, n := range cn.workers {
		p := cn.poolOf[n]
		if _, ok := members[p]; !ok && p != "" {
			pools = append(pools, p)
		}
		members[p] = append(members[p], n)
	}
	sort.Strings(pools)
	if len(members[""]) > 0 {
		pools = append(pools, "")
	}
	g := Group("workers", Serial)
	size := r.batchSize()
	for _, p := range pools {
		nodes := members[p]
		for i := 0; i < len(nodes); i += size {
			if len(g.Children) > 0 && r.s.NodeInterval > 0 {
				g.Children = append(g.Children, Action(fmt.Sprintf("node interval %s", r.s.NodeInterval), "", sleep(r.s.NodeInterval)))
			}
			batch := nodes[i:min(i+size, len(nodes))]
			name := "batch " + strings.Join(batch, ", ")
			if p != "" {
				name = "pool " + p + ": " + name
			}
			g.Children = append(g.Children, r.batch(rr, name, batch))
			abort.after(g, len(batch))
		}
	}
	return g
}

// batch replaces olds: new nodes for the first MaxSurge of them (the
// surge), a soak, the retirement of all of them, then new nodes for the
// rest (those MaxUnavailable allowed to go before their replacement).
func (r *Replace) batch(rr *replaceRun, name string, olds []string) *Step {
	surge := Group("surge", Parallel)
	after := Group("replace the retired", Parallel)
	retire := Group("retire", Parallel)
	for i, old := range olds {
		nu := replacementName(old, rr.target)
		g := Group(nu, Serial, rr.surgeSteps(old, nu)...)
		if i < r.s.MaxSurge {
			surge.Children = append(surge.Children, g)
		} else {
			after.Children = append(after.Children, g)
		}
		retire.Children = append(retire.Children, Group(old, Serial, rr.retireSteps(old)...))
	}
	soak := Action(fmt.Sprintf("soak %s", r.s.Soak), "", sleep(r.s.Soak))
	var steps []*Step
	if len(surge.Children) > 0 {
		steps = append(steps, surge)
		if r.s.Soak > 0 {
			steps = append(steps, soak)
		}
	}
	steps = append(steps, retire)
	if len(after.Children) > 0 {
		steps = append(steps, after)
		if len(surge.Children) == 0 && r.s.Soak > 0 {
			steps = append(steps, soak)
		}
	}
	return Group(name, Serial, steps...)
}

// versionSuffix is the version a replacement node's name ends with.
var versionSuffix = regexp.MustCompile(`(-v[0-9]+-[0-9]+-[0-9]+)+$`)

// replacementName names the node that replaces old at target: old's name,
// without the version a replacement's name ends with, and the target
// (worker2-v1-36-3; worker2-v1-36-3 reverted: worker2-v1-35-4), or, past a
// host name's 63 characters, a hash.
func replacementName(old, target string) string {
	name := versionSuffix.ReplaceAllString(old, "") + "-" + strings.ReplaceAll(target, ".", "-")
	if name == old {
		name = old + "-" + strings.ReplaceAll(target, ".", "-")
	}
	if len(name) <= 63 {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	suffix := fmt.Sprintf("-r%08x", h.Sum32())
	return old[:63-len(suffix)] + suffix
}

// replaceRun is what one execution of a replace plan shares between its
// steps: what it learned of each old node before retiring it, and which
// undrainable nodes it left cordoned.
type replaceRun struct {
	r       *Replace
	target  string
	image   string
	firstCP string

	mu    sync.Mutex
	facts map[string]*oldNode
	kept  map[string]bool
	// ready names, per old node, its replacement once Ready at the target.
	ready map[string]string
}

// oldNode is what a new node takes over from the node it replaces, read
// before the old one goes.
type oldNode struct {
	container nodeContainer
	joinConf  string
	labels    map[string]string
	taints    []corev1.Taint
}

// nodeContainer is how a kind node container was made.
type nodeContainer struct {
	cluster, role string
	networks      []string
	// binds are host:container[:ro] bind mounts other than /lib/modules
	// (rehearse's run and owner marks among them).
	binds   []string
	devices []string
}

// nodeInspectFormat prints a node container: cluster and role labels,
// networks, mounts (TYPE|SOURCE|DESTINATION|RW;...), devices, IP addresses.
const nodeInspectFormat = `{{index .Config.Labels "io.x-k8s.kind.cluster"}}` + "\t" +
	`{{index .Config.Labels "io.x-k8s.kind.role"}}` + "\t" +
	`{{range $k, $v := .NetworkSettings.Networks}}{{$k}};{{end}}` + "\t" +
	`{{range .Mounts}}{{.Type}}|{{.Source}}|{{.Destination}}|{{.RW}};{{end}}` + "\t" +
	`{{range .HostConfig.Devices}}{{.PathOnHost}};{{end}}` + "\t" +
	`{{range .NetworkSettings.Networks}}{{.IPAddress}};{{end}}`

// parseNodeContainer reads one line printed with nodeInspectFormat.
func parseNodeContainer(out string) (nodeContainer, string, error) {
	f := strings.Split(strings.TrimRight(out, "\r\n"), "\t")
	if len(f) != 6 {
		return nodeContainer{}, "", fmt.Errorf("unexpected inspect output %q", out)
	}
	c := nodeContainer{cluster: f[0], role: f[1]}
	if c.cluster == "" {
		return nodeContainer{}, "", errors.New("not a kind node container (no io.x-k8s.kind.cluster label)")
	}
	c.networks = fieldsOf(f[2])
	for _, m := range fieldsOf(f[3]) {
		p := strings.Split(m, "|")
		if len(p) != 4 || p[0] != "bind" || p[2] == "/lib/modules" || p[2] == "/var" {
			continue
		}
		b := p[1] + ":" + p[2]
		if p[3] == "false" {
			b += ":ro"
		}
		c.binds = append(c.binds, b)
	}
	c.devices = fieldsOf(f[4])
	ips := fieldsOf(f[5])
	ip := ""
	if len(ips) > 0 {
		ip = ips[0]
	}
	return c, ip, nil
}

func fieldsOf(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ";") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// runArgs are the engine's run arguments of a new node container, as kind
// makes one: privileged, systemd's tmpfs, a volume for /var, the host's
// modules, the cluster's labels, network and marks.
func (c nodeContainer) runArgs(engine, name, varVolume, image string) []string {
	args := []string{"run", "--name", name, "--hostname", name,
		"--label", "io.x-k8s.kind.cluster=" + c.cluster, "--label", "io.x-k8s.kind.role=" + c.role,
		"--privileged", "--tmpfs", "/tmp", "--tmpfs", "/run",
		"--volume", "/lib/modules:/lib/modules:ro",
		"-e", "KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER",
		"--detach", "--tty", "--cgroupns=private",
	}
	if engine == "docker" {
		args = append(args, "--volume", "/var", "-e", "container=docker",
			"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
			"--restart=on-failure:1", "--init=false")
	} else {
		args = append(args, "--volume", varVolume+":/var:suid,exec,dev", "-e", "container=podman")
	}
	for _, n := range c.networks {
		args = append(args, "--net", n)
	}
	for _, d := range c.devices {
		args = append(args, "--device", d)
	}
	for _, b := range c.binds {
		args = append(args, "--volume", b)
	}
	return append(args, image)
}

// learn reads what a new node takes over from old, once, before either
// the surge or the retirement changes anything.
func (rr *replaceRun) learn(ctx context.Context, env Env, old string) (*oldNode, error) {
	rr.mu.Lock()
	f := rr.facts[old]
	rr.mu.Unlock()
	if f != nil {
		return f, nil
	}
	run := rr.r.k.runner(env)
	out, err := run.Engine(ctx, "inspect", "--format", nodeInspectFormat, old)
	if err != nil {
		return nil, fmt.Errorf("inspect node container %s: %w", old, err)
	}
	c, _, err := parseNodeContainer(out)
	if err != nil {
		return nil, fmt.Errorf("node container %s: %w", old, err)
	}
	conf, err := run.Exec(ctx, old, "cat", "/kind/kubeadm.conf")
	if err != nil {
		return nil, fmt.Errorf("read %s's kubeadm configuration: %w", old, err)
	}
	n, err := env.Client.CoreV1().Nodes().Get(ctx, old, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read node %s: %w", old, err)
	}
	f = &oldNode{container: c, joinConf: conf, labels: n.Labels, taints: n.Spec.Taints}
	rr.mu.Lock()
	rr.facts[old] = f
	rr.mu.Unlock()
	return f, nil
}

// surgeSteps make the node nu that replaces old.
func (rr *replaceRun) surgeSteps(old, nu string) []*Step {
	return []*Step{
		Action("create node container from "+rr.image+" to replace "+old, nu, func(ctx context.Context, env Env) error { return rr.create(ctx, env, old, nu) }),
		Action("copy the cluster's images from "+old, nu, func(ctx context.Context, env Env) error { return rr.copyImages(ctx, env, old, nu) }),
		Action("kubeadm join", nu, func(ctx context.Context, env Env) error { return rr.join(ctx, env, old, nu) }),
		Action("ready at "+rr.target, nu, func(ctx context.Context, env Env) error {
			if err := WaitNodeAt(ctx, env.Client, nu, rr.target, rr.r.s.ReadyTimeout); err != nil {
				return err
			}
			rr.mu.Lock()
			rr.ready[old] = nu
			rr.mu.Unlock()
			return nil
		}),
		Action(podNetworkStep, nu, func(ctx context.Context, env Env) error {
			return podNetworkReady(ctx, env, rr.r.k.runner(env), nu, rr.r.s.ReadyTimeout)
		}),
		Action("take over labels and taints of "+old, nu, func(ctx context.Context, env Env) error { return rr.takeOver(ctx, env, old, nu) }),
	}
}

// retireSteps cordon, drain and delete old.
func (rr *replaceRun) retireSteps(old string) []*Step {
	return []*Step{
		Action("cordon", old, func(ctx context.Context, env Env) error {
			if _, err := rr.learn(ctx, env, old); err != nil {
				return err
			}
			return Cordon(ctx, env.Client, old, true)
		}),
		Action("drain", old, func(ctx context.Context, env Env) error { return rr.drain(ctx, env, old) }),
		Action("exclude from load balancers", old, func(ctx context.Context, env Env) error {
			if rr.isKept(old) {
				return nil
			}
			patch := fmt.Sprintf(`{"metadata":{"labels":{%q:"true"}}}`, corev1.LabelNodeExcludeBalancers)
			_, err := env.Client.CoreV1().Nodes().Patch(ctx, old, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
			return err
		}),
		Action(fmt.Sprintf("deregistration delay %s", rr.r.s.DeregistrationDelay), old, func(ctx context.Context, env Env) error {
			if rr.isKept(old) {
				return nil
			}
			return sleep(rr.r.s.DeregistrationDelay)(ctx, env)
		}),
		Action("delete node", old, func(ctx context.Context, env Env) error {
			if rr.isKept(old) {
				return nil
			}
			err := env.Client.CoreV1().Nodes().Delete(ctx, old, metav1.DeleteOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}),
		Action("remove node container", old, func(ctx context.Context, env Env) error { return rr.remove(ctx, env, old) }),
	}
}

// DefaultDeregistrationDelay is how long a drained node stays, labelled
// node.kubernetes.io/exclude-from-external-load-balancers, before its Node
// is deleted and its container removed, as a cloud load balancer's
// deregistration delay: long enough for the load's rotation, which follows
// the Node objects every 2 seconds, to stop sending to it while it still
// answers (once its Node is gone, the CNI drops its routes at once).
const DefaultDeregistrationDelay = 5 * time.Second

func (rr *replaceRun) isKept(old string) bool {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.kept[old]
}

// drain drains old; an undrainable node fails the step, or, when the
// settings say so, stays cordoned and in the cluster.
func (rr *replaceRun) drain(ctx context.Context, env Env, old string) error {
	err := Drain(ctx, env.Client, old, DrainOptions{Timeout: rr.r.s.DrainTimeout}, env.Emit)
	if err == nil || ctx.Err() != nil {
		return err
	}
	emit := env.Emit
	if emit == nil {
		emit = timeline.Discard
	}
	if !rr.r.s.CordonUndrainable {
		rr.mu.Lock()
		nu := rr.ready[old]
		rr.mu.Unlock()
		if nu == "" {
			return err
		}
		// The surge node stays: it is Ready and holds pods by now, and
		// the throwaway cluster goes with it. Say so, on the timeline too.
		msg := fmt.Sprintf("its replacement %s, Ready at %s, stays in the cluster beside it (undrainable: fail)", nu, rr.target)
		emit.Emit(timeline.Event{Time: time.Now(), Source: timeline.SourceDriver, Kind: "surge-left", Subject: nu, Outcome: "kept",
			Message: fmt.Sprintf("%s could not be drained; %s", old, msg)})
		return fmt.Errorf("%w; %s", err, msg)
	}
	rr.mu.Lock()
	rr.kept[old] = true
	rr.mu.Unlock()
	emit.Emit(timeline.Event{Time: time.Now(), Source: timeline.SourceDriver, Kind: "left-cordoned", Subject: old, Outcome: "blocked",
		Message: fmt.Sprintf("%s could not be drained and stays cordoned, not deleted (undrainable: cordon): %v", old, err)})
	fmt.Fprintf(logOf(env), "%s: drain failed, left cordoned: %v\n", old, err)
	return nil
}

// systemdReady is what a kind node's log shows once systemd can run the
// kubelet (kind waits for the same).
var systemdReady = regexp.MustCompile(`Reached target .*Multi-User System.*|detected cgroup v1`)

// create runs nu's container like old's, from the target's node image, and
// waits for its systemd.
func (rr *replaceRun) create(ctx context.Context, env Env, old, nu string) error {
	f, err := rr.learn(ctx, env, old)
	if err != nil {
		return err
	}
	run := rr.r.k.runner(env)
	engine := env.Engine
	if engine == "" {
		engine = "podman"
	}
	vol := ""
	if engine != "docker" {
		out, err := run.Engine(ctx, "volume", "create", "--label", nu+"=true")
		if err != nil {
			return fmt.Errorf("create the /var volume of %s: %w", nu, err)
		}
		vol = strings.TrimSpace(out)
	}
	if _, err := run.Engine(ctx, f.container.runArgs(engine, nu, vol, rr.image)...); err != nil {
		return fmt.Errorf("run node container %s (build the image with: rehearse images build --kubernetes %s): %w", nu, rr.target, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		logs, err := run.Engine(ctx, "logs", nu)
		if err == nil && systemdReady.MatchString(logs) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node container %s: systemd did not start within a minute:\n%s", nu, lastLines(logs, 20))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ownImages are repositories the node images carry themselves: the new
// node has its own at the target.
var ownImages = []string{"registry.k8s.io/", "docker.io/kindest/", "docker.io/flannel/", "ghcr.io/flannel-io/"}

// copyImages copies into nu the images old holds that nu lacks, other
// than the node images' own: the canary's and the workloads' images,
// loaded without a registry, which pods scheduled on nu will need.
func (rr *replaceRun) copyImages(ctx context.Context, env Env, old, nu string) error {
	run := rr.r.k.runner(env)
	list := func(node string) (map[string]bool, error) {
		out, err := run.Exec(ctx, node, "ctr", "--namespace=k8s.io", "images", "list", "-q")
		if err != nil {
			return nil, err
		}
		set := map[string]bool{}
		for _, ref := range strings.Fields(out) {
			set[ref] = true
		}
		return set, nil
	}
	have, err := list(old)
	if err != nil {
		return fmt.Errorf("list %s's images: %w", old, err)
	}
	got, err := list(nu)
	if err != nil {
		return fmt.Errorf("list %s's images: %w", nu, err)
	}
	inUse, err := imagesInUse(ctx, env)
	if err != nil {
		return err
	}
	var want []string
	for ref := range have {
		if got[ref] || strings.HasPrefix(ref, "sha256:") || (hasAnyPrefix(ref, ownImages) && !inUse[ref]) {
			continue
		}
		want = append(want, ref)
	}
	sort.Strings(want)
	if len(want) == 0 {
		return nil
	}
	log := logOf(env)
	fmt.Fprintf(log, "copying %d images from %s to %s: %s\n", len(want), old, nu, strings.Join(want, " "))
	dir, err := os.MkdirTemp("", "rehearse-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tar := "/tmp/rehearse-images.tar"
	if err := rr.r.k.exec(ctx, run, log, old, append([]string{"ctr", "--namespace=k8s.io", "images", "export", tar}, want...)...); err != nil {
		return err
	}
	defer func() { _, _ = run.Exec(context.WithoutCancel(ctx), old, "rm", "-f", tar) }()
	local := filepath.Join(dir, "images.tar")
	if _, err := run.Engine(ctx, "cp", old+":"+tar, local); err != nil {
		return err
	}
	if _, err := run.Engine(ctx, "cp", local, nu+":"+tar); err != nil {
		return err
	}
	if err := rr.r.k.exec(ctx, run, log, nu, "ctr", "--namespace=k8s.io", "images", "import", tar); err != nil {
		return err
	}
	return rr.r.k.exec(ctx, run, log, nu, "rm", "-f", tar)
}

// imagesInUse are the images the cluster's pods run, named as containerd
// names them: a node image's own kind (kube-proxy at the target, after a
// revert to an older node image) is copied when a pod runs it.
func imagesInUse(ctx context.Context, env Env) (map[string]bool, error) {
	pods, err := env.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	out := map[string]bool{}
	for _, p := range pods.Items {
		for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			out[fullImageName(c.Image)] = true
		}
	}
	return out, nil
}

// fullImageName is an image reference as containerd lists it: with its
// registry (docker.io by default, library/ for official images) and tag
// (latest by default).
func fullImageName(ref string) string {
	name, digest, _ := strings.Cut(ref, "@")
	first, _, hasSlash := strings.Cut(name, "/")
	if !hasSlash || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		if !hasSlash {
			name = "library/" + name
		}
		name = "docker.io/" + name
	}
	if digest != "" {
		return name + "@" + digest
	}
	if i := strings.LastIndex(name, ":"); i < 0 || strings.Contains(name[i:], "/") {
		name += ":latest"
	}
	return name
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

var tokenRE = regexp.MustCompile(`[a-z0-9]{6}\.[a-z0-9]{16}`)

// joinFacts are what a new node's join configuration takes from the old
// node's: where the apiserver is, and what the node registers with (its
// pool's labels and taints among them).
type joinFacts struct {
	endpoint   string
	criSocket  string
	nodeLabels string
	providerID string
	taints     []any
}

// parseJoinFacts reads the JoinConfiguration kind wrote into a node's
// /kind/kubeadm.conf (v1beta3, with kubeletExtraArgs a map, or v1beta4,
// with a list of name and value).
func parseJoinFacts(conf string) (joinFacts, error) {
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(conf, -1) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return joinFacts{}, fmt.Errorf("read /kind/kubeadm.conf: %w", err)
		}
		if m["kind"] != "JoinConfiguration" {
			continue
		}
		var f joinFacts
		disc, _ := m["discovery"].(map[string]any)
		bt, _ := disc["bootstrapToken"].(map[string]any)
		f.endpoint, _ = bt["apiServerEndpoint"].(string)
		if f.endpoint == "" {
			return joinFacts{}, errors.New("its JoinConfiguration names no discovery.bootstrapToken.apiServerEndpoint")
		}
		reg, _ := m["nodeRegistration"].(map[string]any)
		f.criSocket, _ = reg["criSocket"].(string)
		f.taints, _ = reg["taints"].([]any)
		switch args := reg["kubeletExtraArgs"].(type) {
		case map[string]any:
			f.nodeLabels, _ = args["node-labels"].(string)
			f.providerID, _ = args["provider-id"].(string)
		case []any:
			for _, a := range args {
				kv, _ := a.(map[string]any)
				v, _ := kv["value"].(string)
				switch kv["name"] {
				case "node-labels":
					f.nodeLabels = v
				case "provider-id":
					f.providerID = v
				}
			}
		}
		return f, nil
	}
	return joinFacts{}, errors.New("no JoinConfiguration in /kind/kubeadm.conf")
}

// joinConfig is the kubeadm join configuration of node nu replacing old:
// old's apiserver endpoint, labels and taints; nu's address and provider
// id; a fresh bootstrap token. It is kubeadm.k8s.io/v1beta4, which kubeadm
// reads since v1.31.
func joinConfig(f joinFacts, old, nu, nuIP, token string) (string, error) {
	providerID := f.providerID
	if prefix, ok := strings.CutSuffix(providerID, "/"+old); ok {
		providerID = prefix + "/" + nu
	} else if providerID != "" {
		return "", fmt.Errorf("provider id %q is not %s's", providerID, old)
	}
	args := []map[string]string{{"name": "node-ip", "value": nuIP}}
	if providerID != "" {
		args = append(args, map[string]string{"name": "provider-id", "value": providerID})
	}
	if f.nodeLabels != "" {
		args = append(args, map[string]string{"name": "node-labels", "value": f.nodeLabels})
	}
	reg := map[string]any{"kubeletExtraArgs": args}
	if f.criSocket != "" {
		reg["criSocket"] = f.criSocket
	}
	if len(f.taints) > 0 {
		reg["taints"] = f.taints
	}
	doc := map[string]any{
		"apiVersion": "kubeadm.k8s.io/v1beta4",
		"kind":       "JoinConfiguration",
		"discovery": map[string]any{"bootstrapToken": map[string]any{
			"apiServerEndpoint": f.endpoint, "token": token, "unsafeSkipCAVerification": true,
		}},
		"nodeRegistration": reg,
		"skipPhases":       []string{"preflight"},
	}
	b, err := yaml.Marshal(doc)
	return string(b), err
}

// join writes nu's join configuration, made from old's with a fresh token
// from the first control plane, and runs kubeadm join.
func (rr *replaceRun) join(ctx context.Context, env Env, old, nu string) error {
	f, err := rr.learn(ctx, env, old)
	if err != nil {
		return err
	}
	run := rr.r.k.runner(env)
	out, err := run.Engine(ctx, "inspect", "--format", nodeInspectFormat, nu)
	if err != nil {
		return fmt.Errorf("inspect node container %s: %w", nu, err)
	}
	_, ip, err := parseNodeContainer(out)
	if err != nil {
		return fmt.Errorf("node container %s: %w", nu, err)
	}
	tok, err := run.Exec(ctx, rr.firstCP, "kubeadm", "token", "create", "--ttl", "1h", "--kubeconfig", "/etc/kubernetes/admin.conf")
	if err != nil {
		return fmt.Errorf("create a bootstrap token on %s: %w", rr.firstCP, err)
	}
	token := tokenRE.FindString(tok)
	if token == "" {
		return fmt.Errorf("kubeadm token create on %s printed no token", rr.firstCP)
	}
	facts, err := parseJoinFacts(f.joinConf)
	if err != nil {
		return fmt.Errorf("%s's /kind/kubeadm.conf: %w", old, err)
	}
	conf, err := joinConfig(facts, old, nu, ip, token)
	if err != nil {
		return fmt.Errorf("%s's join configuration: %w", old, err)
	}
	tmp, err := os.CreateTemp("", "rehearse-join-*.conf")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(conf); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if _, err := run.Exec(ctx, nu, "mkdir", "-p", "/kind"); err != nil {
		return err
	}
	if _, err := run.Engine(ctx, "cp", tmp.Name(), nu+":/kind/kubeadm.conf"); err != nil {
		return err
	}
	return rr.r.k.exec(ctx, run, logOf(env), nu, "kubeadm", "join", "--config", "/kind/kubeadm.conf", "--v=2")
}

// takeOver gives nu old's labels and taints that it did not register with:
// those set through the API (not by the kubelet) and the pool's.
func (rr *replaceRun) takeOver(ctx context.Context, env Env, old, nu string) error {
	f, err := rr.learn(ctx, env, old)
	if err != nil {
		return err
	}
	// The kubelet updates its Node too: read, change and write again on
	// a conflict.
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := env.Client.CoreV1().Nodes().Get(ctx, nu, metav1.GetOptions{})
		if err != nil {
			return err
		}
		labels, taints, changed := takenOver(n.Labels, n.Spec.Taints, f.labels, f.taints)
		if !changed {
			return nil
		}
		n.Labels, n.Spec.Taints = labels, taints
		_, err = env.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
}

// takenOver adds to a new node's labels and taints those of the old node
// it lacks, leaving out what belongs to the old node itself (its host
// name) and the taints the node lifecycle sets (node.kubernetes.io/...).
func takenOver(labels map[string]string, taints []corev1.Taint, oldLabels map[string]string, oldTaints []corev1.Taint) (map[string]string, []corev1.Taint, bool) {
	out := map[string]string{}
	for k, v := range labels {
		out[k] = v
	}
	changed := false
	for k, v := range oldLabels {
		if k == corev1.LabelHostname {
			continue
		}
		if _, ok := out[k]; !ok {
			out[k] = v
			changed = true
		}
	}
	ts := append([]corev1.Taint{}, taints...)
	for _, t := range oldTaints {
		if strings.HasPrefix(t.Key, "node.kubernetes.io/") || strings.HasPrefix(t.Key, "node.cloudprovider.kubernetes.io/") {
			continue
		}
		seen := false
		for _, x := range ts {
			seen = seen || (x.Key == t.Key && x.Effect == t.Effect)
		}
		if !seen {
			t.TimeAdded = nil
			ts = append(ts, t)
			changed = true
		}
	}
	return out, ts, changed
}

// remove deletes old's container and its /var volume; a node left
// cordoned stays.
func (rr *replaceRun) remove(ctx context.Context, env Env, old string) error {
	if rr.isKept(old) {
		fmt.Fprintf(logOf(env), "%s stays, cordoned: its drain did not finish\n", old)
		return nil
	}
	run := rr.r.k.runner(env)
	vols, _ := run.Engine(ctx, "inspect", "--format", `{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}};{{end}}{{end}}`, old)
	if _, err := run.Engine(ctx, "rm", "-f", "-v", old); err != nil {
		return fmt.Errorf("remove node container %s: %w", old, err)
	}
	if v := fieldsOf(vols); len(v) > 0 {
		if _, err := run.Engine(ctx, append([]string{"volume", "rm", "-f"}, v...)...); err != nil {
			return fmt.Errorf("remove %s's volumes: %w", old, err)
		}
	}
	return nil
}
