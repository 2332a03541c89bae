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

	"github.com/rehearse/rehearse/rehearse/timeline"
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
}

// Kubeadm upgrades a kind cluster in place the way kubeadm clusters are
// upgraded: kubeadm upgrade apply on the first control plane, kubeadm upgrade
// node on the others, then the workers in batches: cordon, drain, upgrade,
// restart the kubelet, wait Ready at the target, uncordon.
type Kubeadm struct {
	s KubeadmSettings
}

var _ Driver = (*Kubeadm)(nil)

// Defaults of the kubeadm driver.
const (
	DefaultReadyTimeout   = 5 * time.Minute
	DefaultStaticPodQuiet = 20 * time.Second
	upgradeDir            = "/tmp/rehearse-upgrade"
)

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
}

func listNodes(ctx context.Context, client kubernetes.Interface) (clusterNodes, error) {
	var cn clusterNodes
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return cn, fmt.Errorf("list nodes: %w", err)
	}
	var oldest scenarios.Version
	for i, n := range nodes.Items {
		if _, ok := n.Labels["node-role.kubernetes.io/control-plane"]; ok {
			cn.controlPlanes = append(cn.controlPlanes, n.Name)
		} else {
			cn.workers = append(cn.workers, n.Name)
		}
		v, err := scenarios.ParseVersion(normalize(n.Status.NodeInfo.KubeletVersion))
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

func normalize(v string) string {
	if i := strings.IndexAny(v, "-+"); i > 0 {
		return v[:i]
	}
	return v
}

// Validate checks that target is a legal kubeadm upgrade of the cluster:
// newer, and at most one minor version ahead.
func Validate(ctx context.Context, client kubernetes.Interface, target string) error {
	t, err := scenarios.ParseVersion(target)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	sv, err := client.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("server version: %w", err)
	}
	cur, err := scenarios.ParseVersion(normalize(sv.GitVersion))
	if err != nil {
		return fmt.Errorf("server version: %w", err)
	}
	return scenarios.CheckSkew(cur, t)
}

// Plan lists every step, before anything changes; it fails on a target the
// cluster cannot be upgraded to.
func (k *Kubeadm) Plan(ctx context.Context, env Env, target string) (*Plan, error) {
	var cn clusterNodes
	switch {
	case env.Client != nil:
		if err := Validate(ctx, env.Client, target); err != nil {
			return nil, err
		}
		var err error
		if cn, err = listNodes(ctx, env.Client); err != nil {
			return nil, err
		}
	case env.Shape != nil:
		t, err := scenarios.ParseVersion(target)
		if err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
		cur, err := scenarios.ParseVersion(env.Shape.Version)
		if err != nil {
			return nil, fmt.Errorf("cluster version: %w", err)
		}
		if err := scenarios.CheckSkew(cur, t); err != nil {
			return nil, err
		}
		cn = clusterNodes{controlPlanes: env.Shape.ControlPlanes, workers: env.Shape.Workers, version: env.Shape.Version}
	default:
		return nil, errors.New("kubeadm driver: no client for the cluster and no shape to plan from")
	}
	image := k.targetImage(target)
	prep := Group("prepare", Serial, Action("stage binaries and images of "+target+" from "+image, ""))
	load := Group("load into nodes", Parallel)
	for _, n := range append(append([]string{}, cn.controlPlanes...), cn.workers...) {
		load.Children = append(load.Children, Action("load "+target+" into "+n, n))
	}
	prep.Children = append(prep.Children, load)

	cps := Group("control plane", Serial)
	for i, n := range cn.controlPlanes {
		first := "kubeadm upgrade node"
		steps := []*Step{Action("upgrade kubeadm", n)}
		if i == 0 {
			steps = append(steps, Action("kubeadm upgrade plan", n))
			first = "kubeadm upgrade apply " + target
		}
		steps = append(steps, Action(first, n))
		if i == 0 {
			steps = append(steps, Action(settleStep, n))
		}
		steps = append(steps, nodeSteps(n, target)...)
		steps = append(steps, Action(staticPodsStep, n))
		cps.Children = append(cps.Children, Group(n, Serial, steps...))
	}
	workers := Group(fmt.Sprintf("workers (%d at a time, %s between)", k.s.MaxUnavailable, k.s.NodeInterval), Serial)
	for i := 0; i < len(cn.workers); i += k.s.MaxUnavailable {
		batch := cn.workers[i:min(i+k.s.MaxUnavailable, len(cn.workers))]
		g := Group("batch "+strings.Join(batch, ", "), Parallel)
		for _, n := range batch {
			steps := []*Step{Action("upgrade kubeadm", n), Action("kubeadm upgrade node", n)}
			g.Children = append(g.Children, Group(n, Serial, append(steps, nodeSteps(n, target)...)...))
		}
		workers.Children = append(workers.Children, g)
	}
	return &Plan{Driver: "kubeadm", Target: target, Root: Group("kubeadm upgrade from "+cn.version+" to "+target, Serial, prep, cps, workers)}, nil
}

// settleStep waits, after kubeadm upgrade apply, for the apiserver to answer
// steadily and for kube-system's DaemonSets and Deployments (kube-proxy, the
// CNI, DNS) to finish rolling out, before any node is drained: a node whose
// kube-proxy is restarting while endpoints move routes to pods that are gone.
const settleStep = "wait for kube-system to settle"

// staticPodsStep waits, after a control-plane node's kubelet is swapped, for
// the new kubelet to have restarted the node's static pods (a new kubelet
// often hashes their specs differently and recreates them all: apiserver,
// etcd, controller manager, scheduler) and for them to be Ready and steady,
// then for kube-system to settle. Until then the apiserver may refuse, or
// answer before its authorizer has synced and forbid even the admin, so no
// further node starts before it.
const staticPodsStep = "control-plane pods steady under the new kubelet"

func nodeSteps(n, target string) []*Step {
	return []*Step{
		Action("cordon", n), Action("drain", n), Action("upgrade kubelet and kubectl", n),
		Action("ready at "+target, n), Action("uncordon", n),
	}
}

// Upgrade runs the plan.
func (k *Kubeadm) Upgrade(ctx context.Context, env Env, plan *Plan, emit timeline.Emitter) (err error) {
	if k.s.Runner == nil {
		engine := env.Engine
		if engine == "" {
			engine = "podman"
		}
		k.s.Runner = EngineRunner{Binary: engine}
	}
	log := env.Log
	if log == nil {
		log = io.Discard
	}
	target := plan.Target
	root := plan.Root
	prep, cps, workers := root.Children[0], root.Children[1], root.Children[2]

	stage, err := os.MkdirTemp("", "rehearse-stage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	if err := prep.Children[0].Run(emit, timeline.SourceDriver, func() error {
		return k.stageTarget(ctx, target, stage, log)
	}); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	if len(cps.Children) > 0 {
		admin, err := k.s.Runner.Exec(ctx, cps.Children[0].Name, "cat", "/etc/kubernetes/admin.conf")
		if err != nil {
			return fmt.Errorf("prepare: read the admin kubeconfig: %w", err)
		}
		if err := os.WriteFile(filepath.Join(stage, "admin.conf"), []byte(admin), 0o600); err != nil {
			return err
		}
	}
	defer func() {
		if err == nil {
			return // each node removed its staged files when it was done
		}
		// A failed or interrupted upgrade still takes the staged files,
		// the admin kubeconfig among them, off every node.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, s := range prep.Children[1].Children {
			_, _ = k.s.Runner.Exec(cctx, s.Subject, "rm", "-rf", upgradeDir)
		}
	}()
	if err := runParallel(prep.Children[1].Children, func(s *Step) error {
		return s.Run(emit, timeline.SourceDriver, func() error { return k.loadInto(ctx, s.Subject, stage, log) })
	}); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	for _, g := range cps.Children {
		if err := k.upgradeNode(ctx, env, g, target, emit, log); err != nil {
			return err
		}
	}
	for i, batch := range workers.Children {
		if err := runParallel(batch.Children, func(g *Step) error {
			return k.upgradeNode(ctx, env, g, target, emit, log)
		}); err != nil {
			return err
		}
		if i < len(workers.Children)-1 && k.s.NodeInterval > 0 {
			emit.Emit(timeline.Event{Source: timeline.SourceDriver, Kind: "wait", Message: fmt.Sprintf("node interval %s", k.s.NodeInterval)})
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(k.s.NodeInterval):
			}
		}
	}
	return nil
}

func runParallel(steps []*Step, fn func(*Step) error) error {
	errs := make(chan error, len(steps))
	for _, s := range steps {
		go func() { errs <- fn(s) }()
	}
	var all []error
	for range steps {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// upgradeNode runs one node's group of steps in order.
func (k *Kubeadm) upgradeNode(ctx context.Context, env Env, g *Step, target string, emit timeline.Emitter, log io.Writer) error {
	node := g.Name
	var before map[string]staticPod // the node's static pods before its kubelet swap
	for _, s := range g.Children {
		var fn func() error
		switch {
		case s.Name == "upgrade kubeadm":
			fn = func() error {
				return k.exec(ctx, log, node, "cp", upgradeDir+"/kubeadm", "/usr/bin/kubeadm")
			}
		case s.Name == "kubeadm upgrade plan":
			fn = func() error {
				return k.exec(ctx, log, node, "kubeadm", "upgrade", "plan", target, "--ignore-preflight-errors=SystemVerification")
			}
		case strings.HasPrefix(s.Name, "kubeadm upgrade apply"):
			fn = func() error {
				return k.exec(ctx, log, node, "kubeadm", "upgrade", "apply", target, "--yes",
					"--ignore-preflight-errors=SystemVerification", "--certificate-renewal=false")
			}
		case s.Name == "kubeadm upgrade node":
			// A node's own credentials may not read kubeadm's ConfigMaps on
			// newer releases (the Node authorizer): use the admin
			// kubeconfig staged with the binaries, removed afterwards. The
			// command is idempotent: tried again when the apiserver, still
			// restarting, cut it short.
			fn = func() error {
				return k.execRetry(ctx, log, node, "kubeadm", "upgrade", "node", "--kubeconfig", upgradeDir+"/admin.conf",
					"--ignore-preflight-errors=SystemVerification", "--certificate-renewal=false")
			}
		case s.Name == settleStep:
			fn = func() error { return Settle(ctx, env.Client, k.s.ReadyTimeout, log) }
		case s.Name == staticPodsStep:
			fn = func() error {
				if err := WaitStaticPods(ctx, env.Client, node, before, k.s.StaticPodQuiet, k.s.ReadyTimeout, emit, log); err != nil {
					return err
				}
				return Settle(ctx, env.Client, k.s.ReadyTimeout, log)
			}
		case s.Name == "cordon":
			fn = func() error { return Cordon(ctx, env.Client, node, true) }
		case s.Name == "drain":
			fn = func() error {
				return Drain(ctx, env.Client, node, DrainOptions{Timeout: k.s.DrainTimeout}, emit)
			}
		case s.Name == "upgrade kubelet and kubectl":
			fn = func() error {
				if hasChild(g, staticPodsStep) {
					var err error
					if before, err = staticPods(ctx, env.Client, node); err != nil {
						return fmt.Errorf("list the static pods of %s: %w", node, err)
					}
				}
				return k.exec(ctx, log, node, "sh", "-c", fmt.Sprintf(
					"systemctl stop kubelet && cp %[1]s/kubelet /usr/bin/kubelet && cp %[1]s/kubectl /usr/bin/kubectl && systemctl daemon-reload && systemctl start kubelet", upgradeDir))
			}
		case strings.HasPrefix(s.Name, "ready at "):
			fn = func() error { return WaitNodeAt(ctx, env.Client, node, target, k.s.ReadyTimeout) }
		case s.Name == "uncordon":
			fn = func() error { return Cordon(ctx, env.Client, node, false) }
		default:
			return fmt.Errorf("kubeadm driver: unknown step %q", s.Name)
		}
		if err := s.Run(emit, timeline.SourceDriver, fn); err != nil {
			return fmt.Errorf("upgrade node %s: %s: %w", node, s.Name, err)
		}
	}
	// The staged files, the admin kubeconfig among them, leave the node.
	return k.exec(ctx, log, node, "rm", "-rf", upgradeDir)
}

func (k *Kubeadm) exec(ctx context.Context, log io.Writer, node string, argv ...string) error {
	fmt.Fprintf(log, "$ [%s] %s\n", node, strings.Join(argv, " "))
	out, err := k.s.Runner.Exec(ctx, node, argv...)
	io.WriteString(log, out)
	return err
}

// execAttempts bounds tries of an idempotent command cut short by a
// restarting apiserver.
const execAttempts = 3

// execRetry runs an idempotent command, trying again after a pause when its
// output tells of an apiserver that did not answer.
func (k *Kubeadm) execRetry(ctx context.Context, log io.Writer, node string, argv ...string) error {
	var err error
	for attempt := 1; attempt <= execAttempts; attempt++ {
		fmt.Fprintf(log, "$ [%s] %s\n", node, strings.Join(argv, " "))
		var out string
		out, err = k.s.Runner.Exec(ctx, node, argv...)
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
func (k *Kubeadm) stageTarget(ctx context.Context, target, dir string, log io.Writer) (err error) {
	image := k.targetImage(target)
	name := fmt.Sprintf("rehearse-stage-%s-%d", strings.ReplaceAll(target, ".", "-"), time.Now().UnixNano()%1e9)
	r := k.s.Runner
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
func (k *Kubeadm) loadInto(ctx context.Context, node, dir string, log io.Writer) error {
	r := k.s.Runner
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
	if err := k.exec(ctx, log, node, "ctr", "--namespace=k8s.io", "images", "import", upgradeDir+"/images.tar"); err != nil {
		return err
	}
	return k.exec(ctx, log, node, "rm", "-f", upgradeDir+"/images.tar")
}
