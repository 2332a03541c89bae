package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rehearse/rehearse/rehearse/readiness"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/scenarios"
)

// Faults wraps a driver so that its plans carry fault drills: each fault a
// step at its point (before the upgrade, after a node's upgrade, or beside
// a node's drain) that breaks something on some nodes, holds it, ends it
// and waits, within a bound, for the cluster to heal. An etcd fault that
// costs the cluster its quorum fails its step, and so the rehearsal: a
// production cluster without quorum cannot write.
type Faults struct {
	Driver
	Faults []scenarios.Fault
	// Runner reaches the nodes; nil is the env's container engine.
	Runner NodeRunner
	// Poll is how often health is sampled; 0 means a second.
	Poll time.Duration
	// etcd makes the client of the cluster's etcd (tests replace it).
	etcd func(ctx context.Context, r NodeRunner, node string) (etcdAPI, error)
}

// WithFaults returns d with faults in its plans, or d itself when there
// are none.
func WithFaults(d Driver, faults []scenarios.Fault) Driver {
	if len(faults) == 0 {
		return d
	}
	return &Faults{Driver: d, Faults: faults}
}

// RevertPlan is the wrapped driver's, when it can revert.
func (w *Faults) RevertPlan(ctx context.Context, env Env, from string) (*Plan, error) {
	rv, ok := w.Driver.(Reverter)
	if !ok {
		return nil, errors.New("this driver cannot revert")
	}
	return rv.RevertPlan(ctx, env, from)
}

// Plan is the wrapped driver's plan with a step per fault at its point.
func (w *Faults) Plan(ctx context.Context, env Env, target string) (*Plan, error) {
	p, err := w.Driver.Plan(ctx, env, target)
	if err != nil {
		return nil, err
	}
	var cps, all []string
	switch {
	case env.Client != nil:
		cn, err := listNodes(ctx, env.Client, "")
		if err != nil {
			return nil, err
		}
		cps, all = cn.controlPlanes, append(append([]string{}, cn.controlPlanes...), cn.workers...)
	case env.Shape != nil:
		cps, all = env.Shape.ControlPlanes, append(append([]string{}, env.Shape.ControlPlanes...), env.Shape.Workers...)
	default:
		return nil, errors.New("no client for the cluster and no shape to plan its faults from")
	}
	before := 0 // faults before the upgrade keep the scenario's order
	for i, f := range w.Faults {
		field := fmt.Sprintf("upgrade.faults[%d]", i)
		var nodes []string
		for j, n := range f.Nodes {
			full, err := resolveNode(n, all)
			if err != nil {
				return nil, fmt.Errorf("%s.nodes[%d]: %w", field, j, err)
			}
			nodes = append(nodes, full)
		}
		step := Action(faultName(f, nodes), strings.Join(nodes, ", "), w.fault(f, nodes, cps))
		switch {
		case f.After != "":
			node, err := resolveNode(f.After, all)
			if err != nil {
				return nil, fmt.Errorf("%s.after: %w", field, err)
			}
			if !insertAfter(p.Root, node, step) {
				return nil, fmt.Errorf("%s.after: the plan does not upgrade %s, so nothing comes after it", field, node)
			}
		case f.DuringDrain != "":
			node, err := resolveNode(f.DuringDrain, all)
			if err != nil {
				return nil, fmt.Errorf("%s.duringDrain: %w", field, err)
			}
			if !besideDrain(p.Root, node, step) {
				return nil, fmt.Errorf("%s.duringDrain: the plan does not drain %s", field, node)
			}
		default:
			p.Root.Children = append(p.Root.Children[:before], append([]*Step{step}, p.Root.Children[before:]...)...)
			before++
		}
	}
	return p, nil
}

// resolveNode finds a node by its name or, on a kind cluster, by its role
// name (control-plane2 is NAME-control-plane2).
func resolveNode(name string, nodes []string) (string, error) {
	for _, n := range nodes {
		if n == name {
			return n, nil
		}
	}
	for _, n := range nodes {
		if strings.HasSuffix(n, "-"+name) {
			return n, nil
		}
	}
	return "", fmt.Errorf("no node %q in the cluster (nodes: %s)", name, strings.Join(nodes, ", "))
}

func faultName(f scenarios.Fault, nodes []string) string {
	what := "kill"
	if f.For.Duration > 0 {
		what = "stop for " + f.For.Duration.String()
	}
	return fmt.Sprintf("fault %s: %s on %s, heal within %s", f.Kind, what, strings.Join(nodes, ", "), healWithin(f))
}

func healWithin(f scenarios.Fault) time.Duration {
	if f.HealWithin.Duration > 0 {
		return f.HealWithin.Duration
	}
	return scenarios.DefaultHealWithin
}

// insertAfter puts step after the group that upgrades node, in the nearest
// serial group holding it (after a whole parallel batch, when the node is
// upgraded in one). It reports whether node's group was found.
func insertAfter(root *Step, node string, step *Step) bool {
	path := findPath(root, func(s *Step) bool { return s.Do == nil && s.Name == node })
	if path == nil {
		return false
	}
	for i := len(path) - 1; i > 0; i-- {
		parent, child := path[i-1], path[i]
		if parent.Strategy == Parallel {
			continue
		}
		for j, c := range parent.Children {
			if c == child {
				parent.Children = append(parent.Children[:j+1], append([]*Step{step}, parent.Children[j+1:]...)...)
				return true
			}
		}
	}
	return false
}

// besideDrain runs step beside node's drain: the drain becomes a parallel
// group of the drain and the fault.
func besideDrain(root *Step, node string, step *Step) bool {
	path := findPath(root, func(s *Step) bool { return s.Do != nil && s.Name == "drain" && s.Subject == node })
	if len(path) < 2 {
		return false
	}
	parent, drain := path[len(path)-2], path[len(path)-1]
	for j, c := range parent.Children {
		if c == drain {
			parent.Children[j] = Group("drain "+node+" under a fault", Parallel, drain, step)
			return true
		}
	}
	return false
}

// findPath is the path from root to the first step match accepts.
func findPath(root *Step, match func(*Step) bool) []*Step {
	if match(root) {
		return []*Step{root}
	}
	for _, c := range root.Children {
		if p := findPath(c, match); p != nil {
			return append([]*Step{root}, p...)
		}
	}
	return nil
}

// faultRun is one fault while it runs.
type faultRun struct {
	w     *Faults
	f     scenarios.Fault
	nodes []string
	cps   []string
	env   Env
	r     NodeRunner
	log   io.Writer
	etcd  etcdAPI
	eps   []string
	began time.Time
	ended time.Time // when the fault was taken away
	// readyBefore are, for a node fault, the pods Ready on each node
	// before it was killed: the node has healed once they are Ready again.
	readyBefore map[string][]string
	// addrs are, for a node fault, each killed node container's
	// addresses before it was killed.
	addrs  map[string][]nodeAddr
	lost   time.Duration
	minUp  int
	detail string
}

// fault is the action of a fault step: break, hold, mend, wait for heal.
func (w *Faults) fault(f scenarios.Fault, nodes, cps []string) Func {
	return func(ctx context.Context, env Env) error {
		fr := &faultRun{w: w, f: f, nodes: nodes, cps: cps, env: env, r: w.Runner, log: logOf(env), minUp: len(cps)}
		if fr.r == nil {
			fr.r = EngineRunner{Binary: env.Engine}
		}
		if f.Kind == scenarios.FaultEtcdMember || len(cps) > 1 {
			if err := fr.connectEtcd(ctx); err != nil {
				return err
			}
		}
		return fr.run(ctx)
	}
}

func (w *Faults) poll() time.Duration {
	if w.Poll > 0 {
		return w.Poll
	}
	return time.Second
}

// connectEtcd reads etcd's client certificate from a control plane the
// fault leaves alone, and the members' endpoints, before anything breaks.
func (fr *faultRun) connectEtcd(ctx context.Context) error {
	eps, err := controlPlaneEndpoints(ctx, fr.env.Client, fr.cps)
	if err != nil {
		return err
	}
	from := fr.cps[0]
	for _, c := range fr.cps {
		if !slices.Contains(fr.nodes, c) {
			from = c
			break
		}
	}
	mk := fr.w.etcd
	if mk == nil {
		mk = etcdClient
	}
	api, err := mk(ctx, fr.r, from)
	if err != nil {
		return err
	}
	fr.etcd, fr.eps = api, eps
	return nil
}

func (fr *faultRun) emit(outcome, msg string) {
	fmt.Fprintln(fr.log, msg)
	if fr.env.Emit != nil {
		fr.env.Emit.Emit(timeline.Event{Time: time.Now(), Source: timeline.SourceDriver, Kind: "fault",
			Subject: strings.Join(fr.nodes, ", "), Outcome: outcome, Message: msg})
	}
}

func (fr *faultRun) run(ctx context.Context) error {
	f := fr.f
	fr.began = time.Now()
	if f.Kind == scenarios.FaultNode {
		fr.readyBefore = fr.readyPods(ctx)
	}
	if err := fr.inject(ctx); err != nil {
		// Whatever was broken is mended before the error is told.
		return errors.Join(fmt.Errorf("inject: %w", err), fr.mend(ctx))
	}
	fr.emit("injected", fmt.Sprintf("fault %s on %s (%s), %s", f.Kind, strings.Join(fr.nodes, ", "), f.Point(), holdWord(f)))
	holdErr := fr.hold(ctx, f.For.Duration)
	mendErr := fr.mend(ctx)
	fr.ended = time.Now()
	if err := errors.Join(holdErr, mendErr); err != nil {
		return err
	}
	healed := fr.waitHealed(ctx)
	var errs []error
	if fr.lost > 0 {
		errs = append(errs, fmt.Errorf("etcd lost quorum for %s (%d of %d members answered): the cluster's API could not write",
			fr.lost.Round(100*time.Millisecond), fr.minUp, len(fr.cps)))
	}
	if healed != nil {
		fr.emit("not-healed", fmt.Sprintf("fault %s on %s: not healed within %s of its end: %v", f.Kind, strings.Join(fr.nodes, ", "), healWithin(f), healed))
		errs = append(errs, fmt.Errorf("the cluster did not heal within %s of the fault's end: %w", healWithin(f), healed))
	} else {
		fr.emit("healed", fmt.Sprintf("fault %s on %s: healed %s after it ended, %s after it began: %s", f.Kind, strings.Join(fr.nodes, ", "),
			time.Since(fr.ended).Round(100*time.Millisecond), time.Since(fr.began).Round(100*time.Millisecond), fr.detail))
	}
	if fr.lost > 0 {
		fr.emit("quorum-lost", errs[0].Error())
	}
	return errors.Join(errs...)
}

func holdWord(f scenarios.Fault) string {
	if f.For.Duration > 0 {
		return "held for " + f.For.Duration.String()
	}
	return "killed once"
}

// manifest is the static pod manifest a control-plane fault takes away,
// and where it is kept meanwhile.
func manifest(kind string) (name, at, kept string) {
	name = "etcd"
	if kind == scenarios.FaultAPIServer {
		name = "kube-apiserver"
	}
	return name, "/etc/kubernetes/manifests/" + name + ".yaml", "/etc/kubernetes/rehearse-fault-" + name + ".yaml"
}

// inject breaks what the fault names on each of its nodes.
func (fr *faultRun) inject(ctx context.Context) error {
	hold := fr.f.For.Duration > 0
	for _, n := range fr.nodes {
		var err error
		switch fr.f.Kind {
		case scenarios.FaultEtcdMember, scenarios.FaultAPIServer:
			name, at, kept := manifest(fr.f.Kind)
			if hold {
				_, err = fr.r.Exec(ctx, n, "mv", at, kept)
			} else {
				// The node's processes include its containers': the
				// process is killed as a crash would, and the kubelet
				// restarts its container.
				_, err = fr.r.Exec(ctx, n, "sh", "-c", fmt.Sprintf("pkill -KILL -x %s || { echo no running %s process; exit 1; }", name, name))
			}
		case scenarios.FaultKubelet:
			if hold {
				_, err = fr.r.Exec(ctx, n, "systemctl", "stop", "kubelet")
			} else {
				_, err = fr.r.Exec(ctx, n, "systemctl", "kill", "--signal=SIGKILL", "kubelet")
			}
		case scenarios.FaultNode:
			var addrs []nodeAddr
			if addrs, err = readNodeAddrs(ctx, fr.r, n); err == nil {
				if _, err = fr.r.Engine(ctx, "kill", n); err == nil {
					if fr.addrs == nil {
						fr.addrs = map[string][]nodeAddr{}
					}
					fr.addrs[n] = addrs
				}
			}
		default:
			err = fmt.Errorf("unknown fault kind %q", fr.f.Kind)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	return nil
}

// mend takes the fault away (puts the manifest back, starts the kubelet or
// the node), with a context of its own so an interrupted drill still
// leaves the cluster whole. A fault killed once needs no mending, except a
// killed node, which is started again.
func (fr *faultRun) mend(ctx context.Context) error {
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	hold := fr.f.For.Duration > 0
	var errs []error
	for _, n := range fr.nodes {
		var err error
		switch fr.f.Kind {
		case scenarios.FaultEtcdMember, scenarios.FaultAPIServer:
			if hold {
				_, at, kept := manifest(fr.f.Kind)
				_, err = fr.r.Exec(mctx, n, "sh", "-c", fmt.Sprintf("[ ! -e %s ] || mv %s %s", kept, kept, at))
			}
		case scenarios.FaultKubelet:
			if hold {
				_, err = fr.r.Exec(mctx, n, "systemctl", "start", "kubelet")
			}
		case scenarios.FaultNode:
			err = fr.restartNode(mctx, n)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("end the fault on %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// nodeAddr is a node container's address on one of its networks.
type nodeAddr struct{ network, ip, ip6 string }

func (a nodeAddr) String() string {
	return strings.Join(slices.DeleteFunc([]string{a.ip, a.ip6}, func(s string) bool { return s == "" }), " and ")
}

// nodeAddrFormat prints a container's networks and its addresses on them.
const nodeAddrFormat = `{{range $k, $v := .NetworkSettings.Networks}}{{$k}}|{{$v.IPAddress}}|{{$v.GlobalIPv6Address}};{{end}}`

// readNodeAddrs reads a node container's addresses, network by network.
func readNodeAddrs(ctx context.Context, r NodeRunner, node string) ([]nodeAddr, error) {
	out, err := r.Engine(ctx, "inspect", "--format", nodeAddrFormat, node)
	if err != nil {
		return nil, fmt.Errorf("read its addresses: %w", err)
	}
	var addrs []nodeAddr
	for _, f := range fieldsOf(out) {
		p := strings.Split(f, "|")
		if len(p) != 3 {
			return nil, fmt.Errorf("read its addresses: unexpected inspect output %q", out)
		}
		if p[1] != "" || p[2] != "" {
			addrs = append(addrs, nodeAddr{network: p[0], ip: p[1], ip6: p[2]})
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("read its addresses: it has none on any network (%q)", strings.TrimSpace(out))
	}
	return addrs, nil
}

func addrsString(addrs []nodeAddr) string {
	var out []string
	for _, a := range addrs {
		out = append(out, a.String()+" on "+a.network)
	}
	return strings.Join(out, ", ")
}

// restartNode starts a killed node container again. A machine rebooted
// keeps its address, while the container engine would give a restarted
// container whichever is free next: unless the fault asks for a new one,
// each network is connected again with the address the node had. The
// node is started whatever happens, so the cluster is whole again.
func (fr *faultRun) restartNode(ctx context.Context, n string) error {
	if fr.addrs[n] == nil {
		// Its kill failed, or its addresses could not be read before.
		_, err := fr.r.Engine(ctx, "start", n)
		return err
	}
	var errs []error
	if fr.f.KeepsAddress() {
		for _, a := range fr.addrs[n] {
			if _, err := fr.r.Engine(ctx, "network", "disconnect", a.network, n); err != nil {
				errs = append(errs, fmt.Errorf("keep address %s: %w", a, err))
				continue
			}
			args := []string{"network", "connect"}
			if a.ip != "" {
				args = append(args, "--ip", a.ip)
			}
			if a.ip6 != "" {
				args = append(args, "--ip6", a.ip6)
			}
			if _, err := fr.r.Engine(ctx, append(args, a.network, n)...); err != nil {
				errs = append(errs, fmt.Errorf("keep address %s: %w", a, err))
				// Still on the network, on whichever address is free.
				if _, err := fr.r.Engine(ctx, "network", "connect", a.network, n); err != nil {
					errs = append(errs, fmt.Errorf("connect to %s again: %w", a.network, err))
				}
			}
		}
	}
	if _, err := fr.r.Engine(ctx, "start", n); err != nil {
		return errors.Join(append(errs, err)...)
	}
	now, err := readNodeAddrs(ctx, fr.r, n)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	was, is := addrsString(fr.addrs[n]), addrsString(now)
	fmt.Fprintf(fr.log, "fault node: %s started again on %s (it was on %s)\n", n, is, was)
	if fr.f.KeepsAddress() && is != was {
		errs = append(errs, fmt.Errorf("came back on %s, not on its address %s", is, was))
	}
	return errors.Join(errs...)
}

// hold keeps the fault for d, sampling etcd's quorum meanwhile.
func (fr *faultRun) hold(ctx context.Context, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		fr.sampleQuorum(ctx)
		left := time.Until(end)
		if left <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(left, fr.w.poll())):
		}
	}
}

// sampleQuorum counts the etcd members that answer and whether one of them
// reports a leader; a majority answering with a leader is quorum. Time
// without it adds to fr.lost (counted in whole polls).
func (fr *faultRun) sampleQuorum(ctx context.Context) bool {
	if fr.etcd == nil {
		return true
	}
	up, leader := 0, false
	for _, ep := range fr.eps {
		var st struct {
			Leader string `json:"leader"`
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := fr.etcd.post(sctx, ep, "/v3/maintenance/status", nil, &st)
		cancel()
		if err == nil {
			up++
			if st.Leader != "" && st.Leader != "0" {
				leader = true
			}
		}
	}
	fr.minUp = min(fr.minUp, up)
	ok := up > len(fr.eps)/2 && leader
	if !ok {
		fr.lost += fr.w.poll()
	}
	return ok
}

// waitHealed waits, within the fault's bound, for what it broke to be
// whole: every etcd member started and answering under one leader, the
// control plane's static pod Ready and restarted since the fault, the
// node Ready with its kubelet renewing its lease since the fault ended.
func (fr *faultRun) waitHealed(ctx context.Context) error {
	deadline := time.Now().Add(healWithin(fr.f))
	for {
		qok := fr.sampleQuorum(ctx)
		ok, detail := fr.healthy(ctx)
		fr.detail = detail
		if ok && qok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New(detail)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(fr.w.poll()):
		}
	}
}

func (fr *faultRun) healthy(ctx context.Context) (bool, string) {
	var parts []string
	if fr.etcd != nil {
		h, err := checkEtcd(ctx, fr.etcd, fr.eps, len(fr.cps))
		if err != nil {
			return false, "etcd: " + err.Error()
		}
		parts = append(parts, "etcd: "+h.String())
	}
	switch fr.f.Kind {
	case scenarios.FaultEtcdMember, scenarios.FaultAPIServer:
		name, _, _ := manifest(fr.f.Kind)
		for _, n := range fr.nodes {
			if ok, why := fr.staticPodBack(ctx, name, n); !ok {
				return false, why
			}
		}
		parts = append(parts, "static pods Ready again")
	case scenarios.FaultKubelet, scenarios.FaultNode:
		for _, n := range fr.nodes {
			if ok, why := fr.nodeBack(ctx, n); !ok {
				return false, why
			}
		}
		parts = append(parts, "nodes Ready, kubelets renewing their leases")
		if fr.f.Kind == scenarios.FaultNode {
			back := 0
			for _, n := range fr.nodes {
				ok, why := fr.podsBack(ctx, n)
				if !ok {
					return false, why
				}
				back += len(fr.readyBefore[n])
			}
			parts = append(parts, fmt.Sprintf("the %d pods Ready on them before restarted and Ready again", back))
		}
	}
	return true, strings.Join(parts, "; ")
}

// readyPods names the pods Ready on each of the fault's nodes. A node
// whose pods cannot be listed gets none: its heal is then judged by the
// node alone.
func (fr *faultRun) readyPods(ctx context.Context) map[string][]string {
	out := map[string][]string{}
	for _, n := range fr.nodes {
		pods, err := fr.env.Client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + n})
		if err != nil {
			fmt.Fprintf(fr.log, "fault %s: pods on %s not listed, its heal waits for the node only: %v\n", fr.f.Kind, n, err)
			continue
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Spec.NodeName == n && p.DeletionTimestamp == nil && readiness.PodReady(p) {
				out[n] = append(out[n], p.Namespace+"/"+p.Name)
			}
		}
	}
	return out
}

// podsBack: every pod that was Ready on the node before the fault is Ready
// again, its containers restarted by the node's kubelet since the fault
// began, or is gone. A node that came back with its pods still starting
// has not healed yet: their restarts belong to the fault, not to whatever
// runs after it. Ready alone is not enough: a node back within the node
// controller's grace period (50 s) never had its pods marked not Ready,
// so until its kubelet restarts them the API still shows them Ready from
// before the fault.
func (fr *faultRun) podsBack(ctx context.Context, node string) (bool, string) {
	var waiting []string
	for _, key := range fr.readyBefore[node] {
		ns, name, _ := strings.Cut(key, "/")
		p, err := fr.env.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return false, fmt.Sprintf("pod %s: %v", key, err)
		case p.Spec.NodeName == node && p.DeletionTimestamp == nil && !(readiness.PodReady(p) && fr.startedSince(p)):
			waiting = append(waiting, key)
		}
	}
	if len(waiting) > 0 {
		return false, fmt.Sprintf("node %s is back; %d of its pods not restarted and Ready again: %s", node, len(waiting), strings.Join(waiting, ", "))
	}
	return true, ""
}

// staticPodBack: the mirror pod of the node's static pod name is Ready,
// its container started after the fault began.
func (fr *faultRun) staticPodBack(ctx context.Context, name, node string) (bool, string) {
	pod, err := fr.env.Client.CoreV1().Pods("kube-system").Get(ctx, name+"-"+node, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Sprintf("%s on %s: %v", name, node, err)
	}
	ready := false
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	if !ready {
		return false, fmt.Sprintf("%s on %s not Ready", name, node)
	}
	if !fr.startedSince(pod) {
		return false, fmt.Sprintf("%s on %s: its container has not started since the fault", name, node)
	}
	return true, ""
}

// startedSince: every container of the pod is running, started since the
// fault began (the API keeps start times to the second).
func (fr *faultRun) startedSince(p *corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil || cs.State.Running.StartedAt.Time.Before(fr.began.Truncate(time.Second)) {
			return false
		}
	}
	return true
}

// nodeBack: the node is Ready and its kubelet renewed its lease after the
// fault ended.
func (fr *faultRun) nodeBack(ctx context.Context, node string) (bool, string) {
	n, err := fr.env.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Sprintf("node %s: %v", node, err)
	}
	ready := false
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	if !ready {
		return false, fmt.Sprintf("node %s not Ready", node)
	}
	lease, err := fr.env.Client.CoordinationV1().Leases("kube-node-lease").Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Sprintf("lease of node %s: %v", node, err)
	}
	if lease.Spec.RenewTime == nil || lease.Spec.RenewTime.Time.Before(fr.ended) {
		return false, fmt.Sprintf("node %s: its kubelet has not renewed its lease since the fault ended", node)
	}
	return true, ""
}
