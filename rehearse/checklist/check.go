package checklist

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/readiness"
)

// SchemaVersion is the version of Result's JSON form. Within a version
// fields are only added.
const SchemaVersion = 1

// Defaults of Options.
const (
	// DefaultInterval is how often Watch polls.
	DefaultInterval = time.Second
	// DefaultPollTimeout bounds the API requests of one poll.
	DefaultPollTimeout = 10 * time.Second
)

// Options tune a check.
type Options struct {
	// ExpectVersion is the Kubernetes version the cluster should run, e.g.
	// v1.36.3. Empty: versions are reported, not checked.
	ExpectVersion string
	// Interval is how often Watch polls; zero means DefaultInterval.
	Interval time.Duration
	// PollTimeout bounds the API requests of one check; zero means
	// DefaultPollTimeout.
	PollTimeout time.Duration
	// RestartBaseline, when set, holds restart counts taken earlier (see
	// RestartCounts): only restarts since then count against a component's
	// allowed restarts.
	RestartBaseline Restarts
	// WorkerVersion, when set, is the kubelet version expected of the
	// nodes that are not control planes (a rehearsal that reverted its
	// workers); ExpectVersion then holds for the control planes and the
	// components' images.
	WorkerVersion string
}

// kubeletExpected is the kubelet version expected of node n.
func (o Options) kubeletExpected(n *corev1.Node) string {
	if o.WorkerVersion != "" && !isControlPlane(n) {
		return o.WorkerVersion
	}
	return o.ExpectVersion
}

func (o Options) withDefaults() (Options, error) {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.PollTimeout <= 0 {
		o.PollTimeout = DefaultPollTimeout
	}
	if o.WorkerVersion != "" {
		v, err := NormalizeVersion(o.WorkerVersion)
		if err != nil {
			return o, fmt.Errorf("expected worker version: %w", err)
		}
		o.WorkerVersion = v
	}
	if o.ExpectVersion != "" {
		v, err := NormalizeVersion(o.ExpectVersion)
		if err != nil {
			return o, fmt.Errorf("expected version: %w", err)
		}
		o.ExpectVersion = v
	}
	return o, nil
}

// Outcome is an item's or a whole check's outcome.
type Outcome string

// Outcomes.
const (
	Pass Outcome = "pass"
	Fail Outcome = "fail"
)

// Result is the outcome of one check of a cluster.
type Result struct {
	SchemaVersion int       `json:"schemaVersion"`
	Checklist     string    `json:"checklist"`
	ExpectVersion string    `json:"expectVersion,omitempty"`
	Time          time.Time `json:"time"`
	// Outcome is fail when any item failed.
	Outcome Outcome      `json:"outcome"`
	Items   []ItemResult `json:"items"`
}

// Failed returns the items that failed.
func (r Result) Failed() []ItemResult {
	var out []ItemResult
	for _, it := range r.Items {
		if it.Outcome == Fail {
			out = append(out, it)
		}
	}
	return out
}

// Item kinds beside the component kinds.
const (
	ItemNode = "Node"
	ItemPods = "Pods"
)

// Names of the items checked on every cluster besides the listed
// components; each node is an item named NodeItemPrefix + its name.
const (
	NodeItemPrefix   = "node/"
	SystemPodsItem   = "kube-system pods"
	CriticalPodsItem = "critical pods"
)

// ItemResult is the outcome of one item: a listed component, a node, or a
// sweep over pods.
type ItemResult struct {
	// Component names the item: a component's name, node/<name>, or
	// "kube-system pods" and "critical pods".
	Component string `json:"component"`
	// Kind is the component's kind, or Node, or Pods.
	Kind      string  `json:"kind"`
	Namespace string  `json:"namespace,omitempty"`
	Outcome   Outcome `json:"outcome"`
	// Ready is ready/desired, e.g. "2/2"; "-" for an absent optional
	// component.
	Ready string `json:"ready"`
	// Version is the image tags of the component's main container (or, for
	// version: kubelet and for nodes, the kubelet versions), comma-separated.
	Version string `json:"version,omitempty"`
	// Restarts is the sum of the restart counts of a component's
	// containers (since the baseline, when there is one); 0 for nodes and
	// pod sweeps.
	Restarts int32  `json:"restarts"`
	Optional bool   `json:"optional,omitempty"`
	Message  string `json:"message"`
}

// Check reads the cluster once and checks every component of the list, every
// node and the system pods. It only gets and lists. An error means the
// cluster could not be read (or the options are wrong); a failing check is
// a Result with Outcome Fail.
func Check(ctx context.Context, client kubernetes.Interface, cl Checklist, opts Options) (Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Result{}, err
	}
	if err := cl.Validate(); err != nil {
		return Result{}, fmt.Errorf("checklist %s: %w", cl.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.PollTimeout)
	defer cancel()
	snap, err := fetch(ctx, client, cl)
	if err != nil {
		return Result{}, err
	}
	snap.time = time.Now()
	return evaluate(snap, cl, opts).result(), nil
}

// Restarts are container restart counts, by pod UID and container name.
type Restarts map[string]int32

func restartKey(p *corev1.Pod, container string) string { return string(p.UID) + "/" + container }

// RestartCounts reads the restart count of every container of every pod in
// the cluster, to serve as Options.RestartBaseline later.
func RestartCounts(ctx context.Context, client kubernetes.Interface) (Restarts, error) {
	pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, listOptions())
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	out := Restarts{}
	for i := range pods.Items {
		p := &pods.Items[i]
		for _, cs := range allStatuses(p) {
			out[restartKey(p, cs.Name)] = cs.RestartCount
		}
	}
	return out, nil
}

// listOptions let the API server answer from its watch cache.
func listOptions() metav1.ListOptions { return metav1.ListOptions{ResourceVersion: "0"} }

// snapshot is what one check reads from the cluster.
type snapshot struct {
	time        time.Time
	nodes       []corev1.Node
	pods        []corev1.Pod
	deployments map[string]*appsv1.Deployment // by namespace/name
	daemonSets  map[string]*appsv1.DaemonSet
}

// fetch reads the nodes, every pod, and the Deployments and DaemonSets of
// the namespaces the list names.
func fetch(ctx context.Context, client kubernetes.Interface, cl Checklist) (*snapshot, error) {
	s := &snapshot{deployments: map[string]*appsv1.Deployment{}, daemonSets: map[string]*appsv1.DaemonSet{}}
	nodes, err := client.CoreV1().Nodes().List(ctx, listOptions())
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	s.nodes = nodes.Items
	pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, listOptions())
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	s.pods = pods.Items
	deployNS, dsNS := map[string]bool{}, map[string]bool{}
	for _, c := range cl.Components {
		c = c.withDefaults()
		switch c.Kind {
		case KindDeployment:
			deployNS[c.Namespace] = true
		case KindDaemonSet:
			dsNS[c.Namespace] = true
		}
	}
	for _, ns := range sortedKeys(deployNS) {
		list, err := client.AppsV1().Deployments(ns).List(ctx, listOptions())
		if err != nil {
			return nil, fmt.Errorf("list deployments in %s: %w", ns, err)
		}
		for i := range list.Items {
			d := &list.Items[i]
			s.deployments[d.Namespace+"/"+d.Name] = d
		}
	}
	for _, ns := range sortedKeys(dsNS) {
		list, err := client.AppsV1().DaemonSets(ns).List(ctx, listOptions())
		if err != nil {
			return nil, fmt.Errorf("list daemonsets in %s: %w", ns, err)
		}
		for i := range list.Items {
			d := &list.Items[i]
			s.daemonSets[d.Namespace+"/"+d.Name] = d
		}
	}
	return s, nil
}

// item is an ItemResult with what Watch needs to tell transitions apart.
type item struct {
	ItemResult
	readyOK  bool   // readiness alone passes
	readyMsg string // the readiness part of the message
}

// evaluation is one check's items, in order.
type evaluation struct {
	checklist, expect string
	time              time.Time
	items             []item
}

func (e evaluation) result() Result {
	r := Result{SchemaVersion: SchemaVersion, Checklist: e.checklist, ExpectVersion: e.expect, Time: e.time, Outcome: Pass}
	r.Items = make([]ItemResult, 0, len(e.items))
	for _, it := range e.items {
		r.Items = append(r.Items, it.ItemResult)
		if it.Outcome == Fail {
			r.Outcome = Fail
		}
	}
	return r
}

// evaluate checks a snapshot against the list. It is a pure function.
func evaluate(s *snapshot, cl Checklist, opts Options) evaluation {
	e := evaluation{checklist: cl.Name, expect: opts.ExpectVersion, time: s.time}
	v := newView(s)

	comps := make([]Component, len(cl.Components))
	found := make([]componentPods, len(cl.Components))
	groupPresent := map[string][]string{}
	for i, c := range cl.Components {
		comps[i] = c.withDefaults()
		found[i] = v.find(comps[i])
		if found[i].present && comps[i].AnyOf != "" {
			groupPresent[comps[i].AnyOf] = append(groupPresent[comps[i].AnyOf], comps[i].Name)
		}
	}
	for i, c := range comps {
		e.items = append(e.items, checkComponent(c, found[i], groupPresent, cl, v, opts))
	}
	e.items = append(e.items, checkNodes(s.nodes, opts)...)
	e.items = append(e.items, checkPods(SystemPodsItem, "no pods in kube-system", v.inNamespace(metav1.NamespaceSystem)))
	e.items = append(e.items, checkPods(CriticalPodsItem, "no system-critical pods", v.critical()))
	return e
}

// view indexes a snapshot.
type view struct {
	s     *snapshot
	byNS  map[string][]*corev1.Pod
	nodes map[string]*corev1.Node
}

func newView(s *snapshot) *view {
	v := &view{s: s, byNS: map[string][]*corev1.Pod{}, nodes: map[string]*corev1.Node{}}
	for i := range s.pods {
		p := &s.pods[i]
		v.byNS[p.Namespace] = append(v.byNS[p.Namespace], p)
	}
	for i := range s.nodes {
		v.nodes[s.nodes[i].Name] = &s.nodes[i]
	}
	return v
}

// inNamespace returns the pods of a namespace that should be running.
func (v *view) inNamespace(ns string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range v.byNS[ns] {
		if counts(p) {
			out = append(out, p)
		}
	}
	return out
}

// Priority classes of the pods that must always be Ready.
const (
	systemClusterCritical = "system-cluster-critical"
	systemNodeCritical    = "system-node-critical"
)

// critical returns every system-critical pod that should be running.
func (v *view) critical() []*corev1.Pod {
	var out []*corev1.Pod
	for i := range v.s.pods {
		p := &v.s.pods[i]
		pc := p.Spec.PriorityClassName
		if (pc == systemClusterCritical || pc == systemNodeCritical) && counts(p) {
			out = append(out, p)
		}
	}
	return out
}

// counts says whether a pod should be running: not on its way out and not a
// completed Job's pod.
func counts(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	if p.Status.Phase == corev1.PodSucceeded {
		for _, o := range p.OwnerReferences {
			if o.Kind == "Job" {
				return false
			}
		}
	}
	return true
}

// componentPods is what was found of a component.
type componentPods struct {
	present bool
	desired int
	ready   int
	pods    []*corev1.Pod
	// problems say why desired is what it is or why pods are missing.
	problems []string
}

// find locates a component's workload and pods.
func (v *view) find(c Component) componentPods {
	var f componentPods
	switch c.Kind {
	case KindDeployment:
		d := v.s.deployments[c.Namespace+"/"+c.Object]
		if d == nil {
			return f
		}
		f.present = true
		f.desired = 1
		if d.Spec.Replicas != nil {
			f.desired = int(*d.Spec.Replicas)
		}
		if f.desired == 0 {
			f.problems = append(f.problems, "scaled to 0 replicas")
		}
		f.pods = v.selected(c.Namespace, d.Spec.Selector)
	case KindDaemonSet:
		d := v.s.daemonSets[c.Namespace+"/"+c.Object]
		if d == nil {
			return f
		}
		f.present = true
		f.desired = int(d.Status.DesiredNumberScheduled)
		if f.desired == 0 {
			f.problems = append(f.problems, "schedules no pods")
		}
		f.pods = v.selected(c.Namespace, d.Spec.Selector)
	case KindPodPrefix:
		for _, p := range v.inNamespace(c.Namespace) {
			if strings.HasPrefix(p.Name, c.Object) {
				f.pods = append(f.pods, p)
			}
		}
		f.present = len(f.pods) > 0
		f.desired = len(f.pods)
	case KindStaticPod:
		return v.findStatic(c)
	}
	for _, p := range f.pods {
		if readiness.PodReady(p) {
			f.ready++
		}
	}
	return f
}

// selected returns the running pods of a namespace a selector matches.
func (v *view) selected(ns string, sel *metav1.LabelSelector) []*corev1.Pod {
	if sel == nil {
		return nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return nil
	}
	var out []*corev1.Pod
	for _, p := range v.inNamespace(ns) {
		if s.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

// findStatic finds a static pod on each node it should run on.
func (v *view) findStatic(c Component) componentPods {
	var f componentPods
	var want []string
	for i := range v.s.nodes {
		n := &v.s.nodes[i]
		if c.Nodes == NodesAll || isControlPlane(n) {
			want = append(want, n.Name)
		}
	}
	sort.Strings(want)
	f.desired = len(want)
	if f.desired == 0 {
		if c.Nodes == NodesAll {
			f.problems = append(f.problems, "no nodes")
		} else {
			f.problems = append(f.problems, "no control-plane nodes")
		}
	}
	onNode := map[string][]*corev1.Pod{}
	for _, p := range v.inNamespace(c.Namespace) {
		if isStaticPodOf(p, c.Object) {
			f.pods = append(f.pods, p)
			onNode[p.Spec.NodeName] = append(onNode[p.Spec.NodeName], p)
		}
	}
	f.present = len(f.pods) > 0
	var missing []string
	for _, node := range want {
		ps := onNode[node]
		if len(ps) == 0 {
			missing = append(missing, node)
			continue
		}
		for _, p := range ps {
			if readiness.PodReady(p) {
				f.ready++
				break
			}
		}
	}
	if len(missing) > 0 && f.present {
		f.problems = append(f.problems, "no pod on "+listSome(missing))
	}
	return f
}

// isControlPlane says whether a node carries a control-plane role label.
func isControlPlane(n *corev1.Node) bool {
	for _, l := range []string{"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"} {
		if _, ok := n.Labels[l]; ok {
			return true
		}
	}
	return n.Labels["kubernetes.io/role"] == "master"
}

// isStaticPodOf says whether p is a static pod of the component: labelled
// component=<name>, or a mirror pod named <name>-<node>.
func isStaticPodOf(p *corev1.Pod, name string) bool {
	if p.Labels["component"] == name {
		return true
	}
	_, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]
	return mirror && p.Spec.NodeName != "" && p.Name == name+"-"+p.Spec.NodeName
}

// checkComponent turns what was found of a component into its item.
func checkComponent(c Component, f componentPods, groups map[string][]string, cl Checklist, v *view, opts Options) item {
	it := item{ItemResult: ItemResult{Component: c.Name, Kind: string(c.Kind), Namespace: c.Namespace, Optional: c.Optional}}
	if !f.present {
		it.Ready = "-"
		what := describe(c)
		switch {
		case c.Optional:
			it.Outcome, it.readyOK = Pass, true
			it.readyMsg = fmt.Sprintf("%s not present (optional)", what)
		case c.AnyOf != "" && len(groups[c.AnyOf]) > 0:
			it.Outcome, it.readyOK = Pass, true
			it.readyMsg = fmt.Sprintf("%s not present; %s is, in its place (%s)", what, strings.Join(groups[c.AnyOf], ", "), c.AnyOf)
		case c.AnyOf != "":
			it.Outcome = Fail
			it.readyMsg = fmt.Sprintf("%s not found, nor any other %s: %s", what, c.AnyOf, strings.Join(groupMembers(cl, c.AnyOf), ", "))
		default:
			it.Outcome = Fail
			it.readyMsg = fmt.Sprintf("%s not found", what)
			if len(f.problems) > 0 {
				it.readyMsg += ": " + strings.Join(f.problems, "; ")
			}
		}
		it.Message = it.readyMsg
		return it
	}

	minReady := max(f.desired, 1)
	if c.MinReady != nil {
		minReady = *c.MinReady
	}
	it.Ready = fmt.Sprintf("%d/%d", f.ready, f.desired)
	it.readyOK = f.ready >= minReady
	it.readyMsg = fmt.Sprintf("%s %s ready", c.Name, it.Ready)
	if minReady != f.desired {
		it.readyMsg += fmt.Sprintf(" (%d needed)", minReady)
	}
	readyProblems := slices.Clone(f.problems)
	var notReady []string
	for _, p := range f.pods {
		if why := readiness.PodProblem(p); why != "" {
			notReady = append(notReady, p.Name+" ("+why+")")
		}
	}
	if len(notReady) > 0 {
		readyProblems = append(readyProblems, "not ready: "+listSome(notReady))
	}
	if !it.readyOK && len(readyProblems) > 0 {
		it.readyMsg += "; " + strings.Join(readyProblems, "; ")
	}

	var problems []string
	if !it.readyOK {
		problems = append(problems, it.readyMsg)
	}

	// Versions.
	var versions []string
	var wrong []string
	if c.Version == VersionKubelet {
		versions, wrong = kubeletVersions(f.pods, v, opts)
	} else {
		versions, wrong = imageTags(f.pods, c, opts.ExpectVersion)
	}
	it.Version = strings.Join(versions, ",")
	if c.Version != VersionAny && opts.ExpectVersion != "" && len(wrong) > 0 {
		what := "image tag"
		if c.Version == VersionKubelet {
			what = "kubelet"
		}
		want := opts.ExpectVersion
		if c.Version == VersionKubelet && opts.WorkerVersion != "" {
			want = fmt.Sprintf("%s on control planes, %s on workers", opts.ExpectVersion, opts.WorkerVersion)
		}
		problems = append(problems, fmt.Sprintf("%s %s, want %s", what, listSome(wrong), want))
	}

	// Restarts.
	var over []string
	for _, p := range f.pods {
		for _, cs := range allStatuses(p) {
			n := cs.RestartCount
			if base, ok := opts.RestartBaseline[restartKey(p, cs.Name)]; ok {
				n = max(n-base, 0)
			}
			it.Restarts += n
			if int(n) > c.AllowedRestarts {
				over = append(over, fmt.Sprintf("%s/%s %d", p.Name, cs.Name, n))
			}
		}
	}
	if len(over) > 0 {
		problems = append(problems, fmt.Sprintf("restarts above %d: %s", c.AllowedRestarts, listSome(over)))
	}

	if len(problems) == 0 {
		it.Outcome = Pass
		it.Message = it.readyMsg
		if it.Version != "" {
			it.Message += ", " + it.Version
		}
		return it
	}
	it.Outcome = Fail
	if it.readyOK {
		problems = append([]string{it.readyMsg}, problems...)
	}
	it.Message = strings.Join(problems, "; ")
	return it
}

func describe(c Component) string {
	if c.Kind == KindStaticPod || c.Kind == KindPodPrefix {
		return fmt.Sprintf("%s %s (%s pods in %s)", c.Kind, c.Name, c.Object, c.Namespace)
	}
	return fmt.Sprintf("%s %s/%s", c.Kind, c.Namespace, c.Object)
}

func groupMembers(cl Checklist, group string) []string {
	var out []string
	for _, c := range cl.Components {
		if c.AnyOf == group {
			out = append(out, c.Name)
		}
	}
	return out
}

// mainContainer is the container named like the component's object or
// name, or else the first one.
func mainContainer(p *corev1.Pod, c Component) *corev1.Container {
	for i := range p.Spec.Containers {
		if n := p.Spec.Containers[i].Name; n == c.Object || n == c.Name {
			return &p.Spec.Containers[i]
		}
	}
	if len(p.Spec.Containers) > 0 {
		return &p.Spec.Containers[0]
	}
	return nil
}

// imageTag returns an image reference's tag, without a digest.
func imageTag(image string) string {
	image, _, _ = strings.Cut(image, "@")
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		return image[i+1:]
	}
	return "latest"
}

// imageTags returns the distinct tags of the pods' main containers, and
// those that are not the expected version.
func imageTags(pods []*corev1.Pod, c Component, expect string) (tags, wrong []string) {
	seen := map[string]bool{}
	for _, p := range pods {
		mc := mainContainer(p, c)
		if mc == nil {
			continue
		}
		t := imageTag(mc.Image)
		if seen[t] {
			continue
		}
		seen[t] = true
		tags = append(tags, t)
		if expect != "" && !versionMatches(t, expect) {
			wrong = append(wrong, t)
		}
	}
	return sortStrings(tags), sortStrings(wrong)
}

// kubeletVersions returns the distinct kubelet versions of the nodes the
// pods run on, and those that are not the version expected of their node.
func kubeletVersions(pods []*corev1.Pod, v *view, opts Options) (versions, wrong []string) {
	seen, bad := map[string]bool{}, map[string]bool{}
	for _, p := range pods {
		n := v.nodes[p.Spec.NodeName]
		if n == nil {
			continue
		}
		kv := n.Status.NodeInfo.KubeletVersion
		if !seen[kv] {
			seen[kv] = true
			versions = append(versions, kv)
		}
		if expect := opts.kubeletExpected(n); expect != "" && !versionMatches(kv, expect) && !bad[kv] {
			bad[kv] = true
			wrong = append(wrong, kv)
		}
	}
	return sortStrings(versions), sortStrings(wrong)
}

// checkNodes makes one item per node: Ready, and the kubelet at the
// expected version.
func checkNodes(nodes []corev1.Node, opts Options) []item {
	if len(nodes) == 0 {
		return []item{{ItemResult: ItemResult{Component: "nodes", Kind: ItemNode, Outcome: Fail, Ready: "0/0",
			Message: "no nodes"}, readyMsg: "no nodes"}}
	}
	sorted := make([]*corev1.Node, len(nodes))
	for i := range nodes {
		sorted[i] = &nodes[i]
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var out []item
	for _, n := range sorted {
		it := item{ItemResult: ItemResult{Component: NodeItemPrefix + n.Name, Kind: ItemNode,
			Version: n.Status.NodeInfo.KubeletVersion}}
		why := readiness.NodeProblem(n)
		ready := why == ""
		it.readyOK = ready
		if ready {
			it.Ready = "1/1"
			it.readyMsg = fmt.Sprintf("node %s Ready", n.Name)
		} else {
			it.Ready = "0/1"
			it.readyMsg = fmt.Sprintf("node %s %s", n.Name, why)
		}
		if n.Spec.Unschedulable {
			it.readyMsg += ", cordoned"
		}
		var problems []string
		if !ready {
			problems = append(problems, it.readyMsg)
		}
		if expect := opts.kubeletExpected(n); expect != "" && !versionMatches(it.Version, expect) {
			problems = append(problems, fmt.Sprintf("kubelet %s, want %s", orNone(it.Version), expect))
		}
		if len(problems) == 0 {
			it.Outcome = Pass
			it.Message = it.readyMsg + ", kubelet " + orNone(it.Version)
		} else {
			it.Outcome = Fail
			if ready {
				problems = append([]string{it.readyMsg}, problems...)
			}
			it.Message = strings.Join(problems, "; ")
		}
		out = append(out, it)
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// checkPods makes one item of a sweep over pods: every one must be Ready.
func checkPods(name, none string, pods []*corev1.Pod) item {
	it := item{ItemResult: ItemResult{Component: name, Kind: ItemPods}}
	var bad []string
	for _, p := range pods {
		if why := readiness.PodProblem(p); why != "" {
			bad = append(bad, p.Namespace+"/"+p.Name+" ("+why+")")
		}
	}
	sort.Strings(bad)
	it.Ready = fmt.Sprintf("%d/%d", len(pods)-len(bad), len(pods))
	it.readyOK = len(bad) == 0
	switch {
	case len(pods) == 0:
		it.readyMsg = name + ": " + none
	case len(bad) == 0:
		it.readyMsg = fmt.Sprintf("%s %s ready", name, it.Ready)
	default:
		it.readyMsg = fmt.Sprintf("%s %s ready; not ready: %s", name, it.Ready, listSome(bad))
	}
	it.Message = it.readyMsg
	it.Outcome = Pass
	if !it.readyOK {
		it.Outcome = Fail
	}
	return it
}

// allStatuses returns the statuses of a pod's init and regular containers.
func allStatuses(p *corev1.Pod) []corev1.ContainerStatus {
	out := make([]corev1.ContainerStatus, 0, len(p.Status.InitContainerStatuses)+len(p.Status.ContainerStatuses))
	out = append(out, p.Status.InitContainerStatuses...)
	return append(out, p.Status.ContainerStatuses...)
}

// listSome joins up to five names and says how many more there are.
func listSome(names []string) string {
	const most = 5
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:most], ", "), len(names)-most)
}
