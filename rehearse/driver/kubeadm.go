package driver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/kube"
	"github.com/rehearse/rehearse/rehearse/kversion"
	"github.com/rehearse/rehearse/scenarios"
)

// KubeadmSettings tune the in-place rolling upgrade.
type KubeadmSettings struct {
	// MaxUnavailable is how many workers are upgraded at once.
	MaxUnavailable int
	// NodeInterval is the wait after a batch of workers before the next.
	NodeInterval time.Duration
	// DrainTimeout fails a drain that has not finished by then.
	DrainTimeout time.Duration
	// ReadyTimeout bounds the wait for a node to be Ready at the target.
	ReadyTimeout time.Duration
	// TargetImage is the node image of the target version, which supplies
	// its binaries and images (default: the rehearse node image naming).
	TargetImage string
	// Runner reaches the node containers (default: the engine binary the
	// Env names, else podman).
	Runner NodeRunner
	// StaticPodQuiet is how long a control-plane node's static pods must
	// stay unchanged and Ready after its kubelet is swapped before the
	// upgrade moves on (default 20s).
	StaticPodQuiet time.Duration
	// Pools upgrades the workers pool by pool, in this order, each with
	// its own MaxUnavailable; workers in no listed pool come last, with
	// MaxUnavailable.
	Pools []PoolSettings
	// PoolLabel is the node label whose value names a node's pool.
	PoolLabel string
	// AbortAfter stops the upgrade once this many workers are upgraded
	// (ErrAborted); 0 never does.
	AbortAfter int
	// Revert keeps each worker's kubelet, kubectl, kubeadm and kubelet
	// configuration before it is upgraded, so that RevertPlan can put them
	// back.
	Revert bool
}

// PoolSettings are how one pool's workers are upgraded.
type PoolSettings struct {
	Name           string
	MaxUnavailable int
}

// Kubeadm upgrades a kind cluster in place the way kubeadm clusters are
// upgraded: kubeadm upgrade apply on the first control plane, kubeadm upgrade
// node on the others, then the workers in batches: cordon, drain, upgrade,
// restart the kubelet, wait Ready at the target, uncordon.
type Kubeadm struct {
	s KubeadmSettings
}

var (
	_ Driver   = (*Kubeadm)(nil)
	_ Reverter = (*Kubeadm)(nil)
)

// Defaults of the kubeadm driver.
const (
	DefaultReadyTimeout   = 5 * time.Minute
	DefaultStaticPodQuiet = 20 * time.Second
	// DefaultPoolLabel names a node's pool on rehearse's kind clusters.
	DefaultPoolLabel = "rehearse.io/pool"
	upgradeDir       = "/tmp/rehearse-upgrade"
)

func kubeadmFromScenario(u scenarios.Upgrade) (Driver, error) {
	s := u.Kubeadm
	if s == nil {
		s = &scenarios.KubeadmSettings{}
	}
	ks := KubeadmSettings{MaxUnavailable: s.MaxUnavailable, NodeInterval: s.NodeInterval.Duration, DrainTimeout: s.DrainTimeout.Duration, PoolLabel: s.PoolLabel, AbortAfter: u.AbortAfter, Revert: u.Revert}
	for _, p := range s.Pools {
		ks.Pools = append(ks.Pools, PoolSettings{Name: p.Name, MaxUnavailable: p.MaxUnavailable})
	}
	return NewKubeadm(ks)
}

// NewKubeadm makes the kubeadm driver.
func NewKubeadm(s KubeadmSettings) (*Kubeadm, error) {
	if s.MaxUnavailable < 1 {
		s.MaxUnavailable = 1
	}
	if s.DrainTimeout <= 0 {
		s.DrainTimeout = DefaultDrainTimeout
	}
	if s.ReadyTimeout <= 0 {
		s.ReadyTimeout = DefaultReadyTimeout
	}
	if s.StaticPodQuiet <= 0 {
		s.StaticPodQuiet = DefaultStaticPodQuiet
	}
	if s.PoolLabel == "" {
		s.PoolLabel = DefaultPoolLabel
	}
	for i := range s.Pools {
		if s.Pools[i].MaxUnavailable < 1 {
			s.Pools[i].MaxUnavailable = s.MaxUnavailable
		}
	}
	return &Kubeadm{s: s}, nil
}

func (k *Kubeadm) targetImage(target string) string {
	if k.s.TargetImage != "" {
		return k.s.TargetImage
	}
	return "localhost/rehearse/node:" + target
}

type clusterNodes struct {
	controlPlanes []string
	workers       []string
	version       string
	// poolOf names the pool of the workers that have one.
	poolOf map[string]string
}

func listNodes(ctx context.Context, client kubernetes.Interface, poolLabel string) (clusterNodes, error) {
	cn := clusterNodes{poolOf: map[string]string{}}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return cn, fmt.Errorf("list nodes: %w", err)
	}
	var oldest kversion.Version
	for i, n := range nodes.Items {
		if _, ok := n.Labels["node-role.kubernetes.io/control-plane"]; ok {
			cn.controlPlanes = append(cn.controlPlanes, n.Name)
		} else {
			cn.workers = append(cn.workers, n.Name)
			if p, ok := n.Labels[poolLabel]; ok && poolLabel != "" {
				cn.poolOf[n.Name] = p
			}
		}
		v, err := kversion.ParseReported(n.Status.NodeInfo.KubeletVersion)
		if err == nil && (i == 0 || v.Compare(oldest) < 0) {
			oldest = v
		}
	}
	sort.Strings(cn.controlPlanes)
	sort.Strings(cn.workers)
	if len(cn.controlPlanes) == 0 {
		return cn, errors.New("no control-plane node (label node-role.kubernetes.io/control-plane): not a kubeadm cluster")
	}
	cn.version = oldest.String()
	return cn, nil
}

// normalize is the release a reported version (v1.35.4+k3s1) is built from.
func normalize(v string) string {
	if r, err := kversion.ParseReported(v); err == nil {
		return r.String()
	}
	return v
}

// Validate checks that target is a legal kubeadm upgrade of the cluster:
// newer, and at most one minor version ahead.
func Validate(ctx context.Context, client kubernetes.Interface, target string) error {
	t, err := kversion.Parse(target)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	sv, err := kube.ServerVersion(ctx, client)
	if err != nil {
		return err
	}
	cur, err := kversion.ParseReported(sv.GitVersion)
	if err != nil {
		return fmt.Errorf("server version: %w", err)
	}
	return kversion.CheckUpgrade(cur, t)
}

// Plan lists every step, before anything changes; it fails on a target the
// cluster cannot be upgraded to. Each step holds its action.
func (k *Kubeadm) Plan(ctx context.Context, env Env, target string) (*Plan, error) {
	cn, err := k.nodesOf(ctx, env, target)
	if err != nil {
		return nil, err
	}
	u := &kubeadmRun{k: k, target: target}
	all := append(append([]string{}, cn.controlPlanes...), cn.workers...)
	prep, cps := k.controlPlaneSteps(u, cn, all)
	workers, err := k.workerSteps(u, cn)
	if err != nil {
		return nil, err
	}
	return &Plan{
		Driver:  "kubeadm",
		Target:  target,
		Root:    Group("kubeadm upgrade from "+cn.version+" to "+target, Serial, prep, cps, workers),
		Finally: u.finally(all),
	}, nil
}

// nodesOf reads the cluster's nodes (or the shape's, before the cluster
// exists) after checking that target is a legal kubeadm upgrade of it.
func (k *Kubeadm) nodesOf(ctx context.Context, env Env, target string) (clusterNodes, error) {
	switch {
	case env.Client != nil:
		if err := Validate(ctx, env.Client, target); err != nil {
			return clusterNodes{}, err
		}
		return listNodes(ctx, env.Client, k.s.PoolLabel)
	case env.Shape != nil:
		t, err := kversion.Parse(target)
		if err != nil {
			return clusterNodes{}, fmt.Errorf("target: %w", err)
		}
		cur, err := kversion.Parse(env.Shape.Version)
		if err != nil {
			return clusterNodes{}, fmt.Errorf("cluster version: %w", err)
		}
		if err := kversion.CheckUpgrade(cur, t); err != nil {
			return clusterNodes{}, err
		}
		return clusterNodes{controlPlanes: env.Shape.ControlPlanes, workers: env.Shape.Workers, version: env.Shape.Version, poolOf: env.Shape.PoolOf}, nil
	default:
		return clusterNodes{}, errors.New("no client for the cluster and no shape to plan from")
	}
}

// controlPlaneSteps stage the target's files and load them into the nodes
// named (prep), and upgrade the control planes in place, one at a time:
// kubeadm upgrade apply on the first, kubeadm upgrade node on the others,
// each drained, its kubelet swapped, its static pods steady and, with
// several control planes, every etcd member healthy under one leader
// before the next (cps); with several, etcd's leadership is moved off each
// before its upgrade begins.
func (k *Kubeadm) controlPlaneSteps(u *kubeadmRun, cn clusterNodes, loadInto []string) (prep, cps *Step) {
	image := k.targetImage(u.target)
	load := Group("load into nodes", Parallel)
	for _, n := range loadInto {
		load.Children = append(load.Children, Action("load "+u.target+" into "+n, n, u.loadInto(n)))
	}
	prep = Group("prepare", Serial,
		Action("stage binaries and images of "+u.target+" from "+image, "", u.stage(firstOf(cn.controlPlanes))),
		load)
	// Production nodes pull the new release from a registry, each on its
	// own cores; here the images come out of a node image and go into
	// every node on the machine the load and the cluster share. Staging
	// runs before the baseline, as an operator pre-pulls before the
	// window, so what the load measures is the upgrade, not the copy.
	prep.BeforeLoad = true

	cps = Group("control plane", Serial)
	for i, n := range cn.controlPlanes {
		var steps []*Step
		if len(cn.controlPlanes) > 1 {
			steps = append(steps, Action(etcdLeaderStep, n, k.etcdLeaderOff(cn.controlPlanes, n)))
		}
		steps = append(steps, Action("upgrade kubeadm", n, u.copyKubeadm(n)))
		if i == 0 {
			steps = append(steps,
				Action("kubeadm upgrade plan", n, u.kubeadm(n, "upgrade", "plan", u.target, "--ignore-preflight-errors=SystemVerification")),
				Action("kubeadm upgrade apply "+u.target, n, u.kubeadm(n, "upgrade", "apply", u.target, "--yes",
					"--ignore-preflight-errors=SystemVerification", "--certificate-renewal=false")),
				Action(settleStep, n, u.settle))
		} else {
			steps = append(steps, Action("kubeadm upgrade node", n, u.upgradeNode(n)))
			if i == len(cn.controlPlanes)-1 {
				// With several control planes kubeadm upgrades the
				// addons (kube-proxy, CoreDNS) only once the last is
				// upgraded: here, not after upgrade apply.
				steps = append(steps, Action(settleStep, n, u.settle))
			}
		}
		pods := &staticPodWatch{node: n}
		steps = append(steps, u.nodeSteps(n, pods)...)
		steps = append(steps, Action(staticPodsStep, n, u.staticPodsSteady(pods)))
		if len(cn.controlPlanes) > 1 {
			// Stacked etcd: the next control plane restarts another
			// member, so this one's must be back, and a leader elected.
			steps = append(steps, Action(etcdStep, n, k.etcdHealthy(cn.controlPlanes)))
		}
		cps.Children = append(cps.Children, Group(n, Serial, append(steps, u.cleanStep(n))...))
	}
	return prep, cps
}

// workerSteps upgrades the workers in batches of MaxUnavailable, or pool
// by pool in the settings' order, each pool with its own MaxUnavailable,
// then the workers in no listed pool.
func (k *Kubeadm) workerSteps(u *kubeadmRun, cn clusterNodes) (*Step, error) {
	abort := &abortAt{n: k.s.AbortAfter}
	if len(k.s.Pools) == 0 {
		return k.batches(u, fmt.Sprintf("workers (%d at a time, %s between)", k.s.MaxUnavailable, k.s.NodeInterval), cn.workers, k.s.MaxUnavailable, abort), nil
	}
	members := map[string][]string{}
	var rest []string
	listed := map[string]bool{}
	for _, p := range k.s.Pools {
		listed[p.Name] = true
	}
	for _, n := range cn.workers {
		if p, ok := cn.poolOf[n]; ok && listed[p] {
			members[p] = append(members[p], n)
		} else {
			rest = append(rest, n)
		}
	}
	workers := Group(fmt.Sprintf("workers, pool by pool (%s between)", k.s.NodeInterval), Serial)
	add := func(g *Step) {
		if len(workers.Children) > 0 && k.s.NodeInterval > 0 {
			workers.Children = append(workers.Children, Action(fmt.Sprintf("node interval %s", k.s.NodeInterval), "", sleep(k.s.NodeInterval)))
		}
		workers.Children = append(workers.Children, g)
	}
	var empty []string
	for _, p := range k.s.Pools {
		if len(members[p.Name]) == 0 {
			empty = append(empty, p.Name)
			continue
		}
		add(k.batches(u, fmt.Sprintf("pool %s (%d at a time)", p.Name, p.MaxUnavailable), members[p.Name], p.MaxUnavailable, abort))
	}
	if len(empty) == len(k.s.Pools) {
		return nil, fmt.Errorf("no worker carries the pool label %s with a value among the pools %s", k.s.PoolLabel, strings.Join(empty, ", "))
	}
	if len(rest) > 0 {
		add(k.batches(u, fmt.Sprintf("workers in no pool (%d at a time)", k.s.MaxUnavailable), rest, k.s.MaxUnavailable, abort))
	}
	return workers, nil
}

// batches upgrades nodes in batches of size, NodeInterval apart, with the
// abort step after the batch that reaches abort's count.
func (k *Kubeadm) batches(u *kubeadmRun, name string, nodes []string, size int, abort *abortAt) *Step {
	g := Group(name, Serial)
	for i := 0; i < len(nodes); i += size {
		if i > 0 && k.s.NodeInterval > 0 {
			g.Children = append(g.Children, Action(fmt.Sprintf("node interval %s", k.s.NodeInterval), "", sleep(k.s.NodeInterval)))
		}
		batch := nodes[i:min(i+size, len(nodes))]
		b := Group("batch "+strings.Join(batch, ", "), Parallel)
		for _, n := range batch {
			var steps []*Step
			if k.s.Revert {
				steps = append(steps, Action("keep the kubelet for the revert", n, u.run(n, "sh", "-c", keepScript)))
			}
			steps = append(steps, Action("upgrade kubeadm", n, u.copyKubeadm(n)), Action("kubeadm upgrade node", n, u.upgradeNode(n)))
			steps = append(steps, u.nodeSteps(n, nil)...)
			b.Children = append(b.Children, Group(n, Serial, append(steps, u.cleanStep(n))...))
		}
		g.Children = append(g.Children, b)
		abort.after(g, len(batch))
	}
	return g
}

// settleStep waits, after kubeadm upgrade apply and, with several control
// planes, after the last one's kubeadm upgrade node (where kubeadm then
// upgrades the addons), for the apiserver to answer steadily and for
// kube-system's DaemonSets and Deployments (kube-proxy, the CNI, DNS) to
// finish rolling out, before any node is drained: a node whose kube-proxy
// is restarting while endpoints move routes to pods that are gone.
const settleStep = "wait for kube-system to settle"

// staticPodsStep waits, after a control-plane node's kubelet is swapped, for
// the new kubelet to have restarted the node's static pods (a new kubelet
// often hashes their specs differently and recreates them all: apiserver,
// etcd, controller manager, scheduler) and for them to be Ready and steady,
// then for kube-system to settle. Until then the apiserver may refuse, or
// answer before its authorizer has synced and forbid even the admin, so no
// further node starts before it.
const staticPodsStep = "control-plane pods steady under the new kubelet"

// kubeadmRun is what one execution of a kubeadm plan shares between its
// steps: the folder the target's files are staged in.
type kubeadmRun struct {
	k      *Kubeadm
	target string
	dir    string // the staging folder
}

// staticPodWatch carries a control-plane node's static pods from before its
// kubelet swap to the step that waits for them after it.
type staticPodWatch struct {
	node   string
	before map[string]staticPod
}

func (k *Kubeadm) runner(env Env) NodeRunner {
	if k.s.Runner != nil {
		return k.s.Runner
	}
	return EngineRunner{Binary: env.Engine}
}

func logOf(env Env) io.Writer {
	if env.Log == nil {
		return io.Discard
	}
	return env.Log
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// sleep waits d, or until ctx ends.
func sleep(d time.Duration) Func {
	return func(ctx context.Context, _ Env) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
}

// stage takes the target's binaries and images out of its node image into a
// folder of the host, with the admin kubeconfig of the first control plane
// (workers' own credentials may not read kubeadm's ConfigMaps).
func (u *kubeadmRun) stage(firstCP string) Func {
	return func(ctx context.Context, env Env) error {
		dir, err := os.MkdirTemp("", "rehearse-stage-")
		if err != nil {
			return err
		}
		u.dir = dir
		if err := u.k.stageTarget(ctx, u.k.runner(env), u.target, dir, logOf(env)); err != nil {
			return err
		}
		if firstCP == "" {
			return nil
		}
		admin, err := u.k.runner(env).Exec(ctx, firstCP, "cat", "/etc/kubernetes/admin.conf")
		if err != nil {
			return fmt.Errorf("read the admin kubeconfig: %w", err)
		}
		return os.WriteFile(filepath.Join(dir, "admin.conf"), []byte(admin), 0o600)
	}
}

func (u *kubeadmRun) loadInto(node string) Func {
	return func(ctx context.Context, env Env) error {
		return u.k.loadInto(ctx, u.k.runner(env), node, u.dir, logOf(env))
	}
}

// finally removes the staging folder; after a failed or interrupted
// upgrade it also takes the staged files, the admin kubeconfig among them,
// off every node (each node removes its own when its upgrade ends well).
func (u *kubeadmRun) finally(nodes []string) func(ctx context.Context, env Env, err error) error {
	return func(ctx context.Context, env Env, err error) error {
		if u.dir != "" {
			_ = os.RemoveAll(u.dir)
		}
		if err == nil {
			return nil
		}
		for _, n := range nodes {
			_, _ = u.k.runner(env).Exec(ctx, n, "rm", "-rf", upgradeDir)
		}
		return nil
	}
}

func (u *kubeadmRun) run(node string, argv ...string) Func {
	return func(ctx context.Context, env Env) error {
		return u.k.exec(ctx, u.k.runner(env), logOf(env), node, argv...)
	}
}

func (u *kubeadmRun) copyKubeadm(node string) Func {
	return u.run(node, "cp", upgradeDir+"/kubeadm", "/usr/bin/kubeadm")
}

func (u *kubeadmRun) kubeadm(node string, args ...string) Func {
	return u.run(node, append([]string{"kubeadm"}, args...)...)
}

// upgradeNode runs kubeadm upgrade node. A node's own credentials may not
// read kubeadm's ConfigMaps on newer releases (the Node authorizer): it uses
// the admin kubeconfig staged with the binaries, removed afterwards. The
// command is idempotent: tried again when the apiserver, still restarting,
// cut it short.
func (u *kubeadmRun) upgradeNode(node string) Func {
	return func(ctx context.Context, env Env) error {
		return u.k.execRetry(ctx, u.k.runner(env), logOf(env), node, "kubeadm", "upgrade", "node", "--kubeconfig", upgradeDir+"/admin.conf",
			"--ignore-preflight-errors=SystemVerification", "--certificate-renewal=false")
	}
}

func (u *kubeadmRun) settle(ctx context.Context, env Env) error {
	return Settle(ctx, env.Client, u.k.s.ReadyTimeout, logOf(env))
}

// nodeSteps drain a node, swap its kubelet and kubectl, and bring it back.
// pods, on a control plane, records its static pods before the swap.
func (u *kubeadmRun) nodeSteps(n string, pods *staticPodWatch) []*Step {
	k := u.k
	swap := func(ctx context.Context, env Env) error {
		if pods != nil {
			var err error
			if pods.before, err = staticPods(ctx, env.Client, n); err != nil {
				return fmt.Errorf("list the static pods of %s: %w", n, err)
			}
		}
		return k.exec(ctx, k.runner(env), logOf(env), n, "sh", "-c", fmt.Sprintf(
			"systemctl stop kubelet && cp %[1]s/kubelet /usr/bin/kubelet && cp %[1]s/kubectl /usr/bin/kubectl && systemctl daemon-reload && systemctl start kubelet", upgradeDir))
	}
	return u.drained(n, Action("upgrade kubelet and kubectl", n, swap))
}

// drained wraps change, a step that restarts n's kubelet at u's target:
// cordon and drain before it, wait Ready at the target and uncordon after.
func (u *kubeadmRun) drained(n string, change *Step) []*Step {
	k := u.k
	return []*Step{
		Action("cordon", n, func(ctx context.Context, env Env) error { return Cordon(ctx, env.Client, n, true) }),
		Action("drain", n, func(ctx context.Context, env Env) error {
			return Drain(ctx, env.Client, n, DrainOptions{Timeout: k.s.DrainTimeout}, env.Emit)
		}),
		change,
		Action("ready at "+u.target, n, func(ctx context.Context, env Env) error {
			return WaitNodeAt(ctx, env.Client, n, u.target, k.s.ReadyTimeout)
		}),
		Action("uncordon", n, func(ctx context.Context, env Env) error { return Cordon(ctx, env.Client, n, false) }),
	}
}

func (u *kubeadmRun) staticPodsSteady(pods *staticPodWatch) Func {
	return func(ctx context.Context, env Env) error {
		if err := WaitStaticPods(ctx, env.Client, pods.node, pods.before, u.k.s.StaticPodQuiet, u.k.s.ReadyTimeout, env.Emit, logOf(env)); err != nil {
			return err
		}
		return Settle(ctx, env.Client, u.k.s.ReadyTimeout, logOf(env))
	}
}

// cleanStep takes the staged files, the admin kubeconfig among them, off a
// node whose upgrade is done.
func (u *kubeadmRun) cleanStep(n string) *Step {
	return Action("remove staged files", n, u.run(n, "rm", "-rf", upgradeDir))
}

func (k *Kubeadm) exec(ctx context.Context, r NodeRunner, log io.Writer, node string, argv ...string) error {
	fmt.Fprintf(log, "$ [%s] %s\n", node, strings.Join(argv, " "))
	out, err := r.Exec(ctx, node, argv...)
	io.WriteString(log, out)
	return err
}

// execAttempts bounds tries of an idempotent command cut short by a
// restarting apiserver.
const execAttempts = 3

// execRetry runs an idempotent command, trying again after a pause when its
// output tells of an apiserver that did not answer.
func (k *Kubeadm) execRetry(ctx context.Context, r NodeRunner, log io.Writer, node string, argv ...string) error {
	var err error
	for attempt := 1; attempt <= execAttempts; attempt++ {
		fmt.Fprintf(log, "$ [%s] %s\n", node, strings.Join(argv, " "))
		var out string
		out, err = r.Exec(ctx, node, argv...)
		io.WriteString(log, out)
		if err == nil || !apiserverFlake(out+err.Error()) || attempt == execAttempts {
			return err
		}
		fmt.Fprintf(log, "the apiserver did not answer; trying again in 10s (attempt %d of %d)\n", attempt+1, execAttempts)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(10 * time.Second):
		}
	}
	return err
}

// apiserverFlake tells command output that failed because the apiserver did
// not answer, not because of what was asked.
func apiserverFlake(out string) bool {
	// "forbidden": the staged admin kubeconfig is bound to cluster-admin, so
	// a refusal is an apiserver whose authorizer has not synced yet.
	for _, s := range []string{"is forbidden", "context deadline exceeded", "unexpected EOF", "connection refused", "connection reset", "TLS handshake timeout", "http2: client connection lost"} {
		if strings.Contains(out, s) {
			return true
		}
	}
	return false
}

// stageTarget takes the target's kubeadm, kubelet and kubectl and every
// image its node image holds out of that image, into dir: a container of the
// image runs containerd just long enough to export the images.
func (k *Kubeadm) stageTarget(ctx context.Context, r NodeRunner, target, dir string, log io.Writer) (err error) {
	image := k.targetImage(target)
	name := fmt.Sprintf("rehearse-stage-%s-%d", strings.ReplaceAll(target, ".", "-"), time.Now().UnixNano()%1e9)
	say := func(format string, args ...any) { fmt.Fprintf(log, format+"\n", args...) }
	say("staging %s from %s in %s", target, image, name)
	if _, err := r.Engine(ctx, "run", "-d", "--privileged", "--name", name, "--entrypoint", "sleep", image, "infinity"); err != nil {
		return fmt.Errorf("start staging container of %s (build it with: rehearse images build --kubernetes %s): %w", image, target, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, rmErr := r.Engine(cctx, "rm", "-f", "-t", "0", name); rmErr != nil && err == nil {
			err = rmErr
		}
	}()
	if _, err := r.Exec(ctx, name, "bash", "-c", `setsid -f containerd >/tmp/containerd.log 2>&1 </dev/null
for i in $(seq 1 120); do ctr version >/dev/null 2>&1 && exit 0; sleep 0.5; done
echo "containerd did not start:"; cat /tmp/containerd.log; exit 1`); err != nil {
		return err
	}
	refs, err := r.Exec(ctx, name, "ctr", "--namespace=k8s.io", "images", "list", "-q")
	if err != nil {
		return err
	}
	var names []string
	for _, ref := range strings.Fields(refs) {
		if !strings.HasPrefix(ref, "sha256:") {
			names = append(names, ref)
		}
	}
	say("exporting %d images: %s", len(names), strings.Join(names, " "))
	if _, err := r.Exec(ctx, name, append([]string{"ctr", "--namespace=k8s.io", "images", "export", "/tmp/images.tar"}, names...)...); err != nil {
		return err
	}
	for _, f := range []string{"/tmp/images.tar", "/usr/bin/kubeadm", "/usr/bin/kubelet", "/usr/bin/kubectl"} {
		if _, err := r.Engine(ctx, "cp", name+":"+f, filepath.Join(dir, filepath.Base(f))); err != nil {
			return err
		}
	}
	return writeJSON(filepath.Join(dir, "images.json"), names)
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// loadInto copies the staged files into a node and imports the images into
// its containerd.
func (k *Kubeadm) loadInto(ctx context.Context, r NodeRunner, node, dir string, log io.Writer) error {
	if _, err := r.Exec(ctx, node, "mkdir", "-p", upgradeDir); err != nil {
		return err
	}
	for _, f := range []string{"images.tar", "kubeadm", "kubelet", "kubectl", "admin.conf"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil && f == "admin.conf" {
			continue
		}
		if _, err := r.Engine(ctx, "cp", filepath.Join(dir, f), node+":"+upgradeDir+"/"+f); err != nil {
			return err
		}
	}
	if err := k.exec(ctx, r, log, node, "ctr", "--namespace=k8s.io", "images", "import", upgradeDir+"/images.tar"); err != nil {
		return err
	}
	return k.exec(ctx, r, log, node, "rm", "-f", upgradeDir+"/images.tar")
}
