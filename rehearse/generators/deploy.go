package generators

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/canary"
	"github.com/rehearse/rehearse/rehearse/readiness"
)

// Labels of what Deploy makes.
const (
	// LabelApp is on every generator pod, with the value App.
	LabelApp = "app.kubernetes.io/name"
	App      = "rehearse-load"
	// LabelGenerator names the generator a pod is.
	LabelGenerator = "rehearse.io/generator"
	// Container is the generator's container.
	Container = "load"
	// DefaultNamespace holds the generators unless the scenario names another.
	DefaultNamespace = "rehearse-load"
	// Binary is where the canary image holds rehearse.
	Binary = "/usr/local/bin/rehearse"
)

// Options describe a fleet of in-cluster load generators.
type Options struct {
	Namespace string
	// Image holds the rehearse binary at Binary (the canary image).
	Image    string
	Replicas int
	// Rate is the total over every generator; each sends Rate/Replicas.
	Rate    float64
	Timeout time.Duration
	Probes  []string
	// Targets are the canary URLs each generator rotates over.
	Targets []string
	// Host, when set, is the Host header of every request (an Ingress
	// routing the canary by host name).
	Host string
	// NodeSelector and Tolerations choose the nodes generators may run on;
	// control-plane nodes are tolerated unless a selector excludes them.
	NodeSelector map[string]string
	Tolerations  []corev1.Toleration
	// CPU is each generator's CPU request (default DefaultCPU): a
	// generator starved of CPU by the upgrade's own work measures its own
	// waiting as the target's latency.
	CPU string
	// StartIn is how long after Deploy returns every generator starts
	// sending, all at one instant (StartAt of the fleet).
	StartIn time.Duration
}

// Generator is one of the fleet: a DaemonSet pinned to one node, so that a
// drain (which leaves DaemonSet pods, as kubectl drain --ignore-daemonsets
// does) does not stop the load it measures, and a pod that dies is made
// again in place.
type Generator struct {
	Name string
	Node string
	Rate float64
}

// Fleet is the deployed generators.
type Fleet struct {
	Namespace  string
	Generators []Generator
	// StartAt is when every generator starts sending.
	StartAt time.Time
	Timeout time.Duration
	client  kubernetes.Interface
	made    bool
}

// DefaultCPU is a generator's CPU request unless the scenario gives one.
const DefaultCPU = "500m"

// ReadyTimeout bounds the wait for every generator's pod to run.
const ReadyTimeout = 3 * time.Minute

// Deploy makes the fleet and waits for each generator's pod to run. The
// generators start sending at the fleet's StartAt.
func Deploy(ctx context.Context, client kubernetes.Interface, o Options) (*Fleet, error) {
	if o.Replicas < 1 {
		return nil, fmt.Errorf("generators: %d replicas: want at least one", o.Replicas)
	}
	if o.CPU == "" {
		o.CPU = DefaultCPU
	}
	cpu, err := resource.ParseQuantity(o.CPU)
	if err != nil {
		return nil, fmt.Errorf("generators: cpu %q: %w", o.CPU, err)
	}
	if len(o.Targets) == 0 {
		return nil, errors.New("generators: no target to send to")
	}
	nodes, err := Nodes(ctx, client, o.NodeSelector, o.Tolerations)
	if err != nil {
		return nil, err
	}
	f := &Fleet{Namespace: o.Namespace, Timeout: o.Timeout, client: client}
	if err := f.ensureNamespace(ctx); err != nil {
		return nil, err
	}
	rate := o.Rate / float64(o.Replicas)
	startIn := o.StartIn
	if startIn <= 0 {
		startIn = ReadyTimeout
	}
	f.StartAt = time.Now().Add(startIn).Truncate(time.Millisecond)
	for i := range o.Replicas {
		g := Generator{Name: fmt.Sprintf("%s-%d", App, i), Node: nodes[i%len(nodes)], Rate: rate}
		ds := daemonSet(o, g, f.StartAt, cpu)
		if _, err := client.AppsV1().DaemonSets(o.Namespace).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return f, fmt.Errorf("generator %s already exists in namespace %s (a rehearsal still running, or one killed outright): delete it, or name another load.generators.namespace", g.Name, o.Namespace)
			}
			return f, fmt.Errorf("generator %s: %w", g.Name, err)
		}
		f.Generators = append(f.Generators, g)
	}
	min := intstr.FromInt32(int32(o.Replicas))
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: App, Namespace: o.Namespace, Labels: map[string]string{LabelApp: App}},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: &min,
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{LabelApp: App}},
		},
	}
	if _, err := client.PolicyV1().PodDisruptionBudgets(o.Namespace).Create(ctx, pdb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return f, fmt.Errorf("generators' disruption budget: %w", err)
	}
	return f, f.waitRunning(ctx)
}

// Nodes lists the nodes generators may run on, in the order they are
// filled: workers before control planes, each by name. A node qualifies
// when it matches selector and every NoSchedule or NoExecute taint it has
// is tolerated (control-plane taints always are).
func Nodes(ctx context.Context, client kubernetes.Interface, selector map[string]string, tol []corev1.Toleration) ([]string, error) {
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(selector).String()})
	if err != nil {
		return nil, fmt.Errorf("generators: list nodes: %w", err)
	}
	tol = append(slices.Clone(tol), controlPlaneTolerations()...)
	var workers, planes []string
	for _, n := range list.Items {
		if !tolerates(n.Spec.Taints, tol) {
			continue
		}
		if _, cp := n.Labels["node-role.kubernetes.io/control-plane"]; cp {
			planes = append(planes, n.Name)
		} else {
			workers = append(workers, n.Name)
		}
	}
	slices.Sort(workers)
	slices.Sort(planes)
	out := append(workers, planes...)
	if len(out) == 0 {
		return nil, fmt.Errorf("generators: no node matches nodeSelector %v with the tolerations given", selector)
	}
	return out, nil
}

func tolerates(taints []corev1.Taint, tol []corev1.Toleration) bool {
	for _, t := range taints {
		// DaemonSet pods tolerate the node conditions' taints
		// (not-ready, unreachable, unschedulable, pressure).
		if t.Effect == corev1.TaintEffectPreferNoSchedule || strings.HasPrefix(t.Key, "node.kubernetes.io/") {
			continue
		}
		ok := false
		for _, x := range tol {
			if tolerated(x, t) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// tolerated tells whether toleration x tolerates taint t.
func tolerated(x corev1.Toleration, t corev1.Taint) bool {
	if x.Effect != "" && x.Effect != t.Effect || x.Key != "" && x.Key != t.Key {
		return false
	}
	switch x.Operator {
	case corev1.TolerationOpExists:
		return true
	case corev1.TolerationOpEqual, "":
		return x.Key != "" && x.Value == t.Value
	}
	return false
}

func controlPlaneTolerations() []corev1.Toleration {
	return []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
}

// Command is the generator's command line.
func Command(o Options, rate float64, startAt time.Time) []string {
	cmd := []string{Binary, "load", "--out", "-", "--duration", "0",
		"--rate", strconv.FormatFloat(rate, 'g', -1, 64),
		"--timeout", o.Timeout.String(),
		"--start-at", startAt.UTC().Format(time.RFC3339Nano),
		"--spool", SpoolFile, "--serve", ":" + strconv.Itoa(ResultsPort)}
	if len(o.Probes) > 0 {
		cmd = append(cmd, "--probes", strings.Join(o.Probes, ","))
	}
	for _, t := range o.Targets {
		cmd = append(cmd, "--target", t)
	}
	if o.Host != "" {
		cmd = append(cmd, "--host", o.Host)
	}
	return cmd
}

func daemonSet(o Options, g Generator, startAt time.Time, cpu resource.Quantity) *appsv1.DaemonSet {
	lbl := map[string]string{LabelApp: App, LabelGenerator: g.Name}
	// Stopped, a generator lets its requests in flight end, then serves
	// its spool until it is read to the end.
	grace := int64((o.Timeout+Linger)/time.Second) + 10
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: g.Name, Namespace: o.Namespace, Labels: lbl},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			// Nothing rolls the generators but their own end.
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{
					Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
							MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{g.Node}}},
						}}},
					}},
					Tolerations:                   append(slices.Clone(o.Tolerations), controlPlaneTolerations()...),
					TerminationGracePeriodSeconds: &grace,
					EnableServiceLinks:            new(bool),
					// The spool grows by about 250 bytes a request (90 MB
					// an hour at 100/s); no size limit, as a limit reached
					// would evict the generator mid-rehearsal.
					Volumes: []corev1.Volume{{Name: "spool", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
					Containers: []corev1.Container{{
						Name:            Container,
						Image:           o.Image,
						ImagePullPolicy: canary.PullPolicy(o.Image),
						Command:         Command(o, g.Rate, startAt),
						Ports:           []corev1.ContainerPort{{Name: "results", ContainerPort: ResultsPort}},
						VolumeMounts:    []corev1.VolumeMount{{Name: "spool", MountPath: SpoolDir}},
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU:    cpu,
							corev1.ResourceMemory: resource.MustParse("64Mi"),
						}},
					}},
				},
			},
		},
	}
}

func (f *Fleet) ensureNamespace(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.Namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "rehearse"}}}
	_, err := f.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	switch {
	case err == nil:
		f.made = true
		return nil
	case apierrors.IsAlreadyExists(err):
		return nil
	default:
		return fmt.Errorf("generators' namespace %s: %w", f.Namespace, err)
	}
}

// waitRunning waits until every generator has a pod whose container runs.
func (f *Fleet) waitRunning(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	for {
		pods, err := f.client.CoreV1().Pods(f.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelApp + "=" + App})
		waiting := map[string]bool{}
		for _, g := range f.Generators {
			waiting[g.Name] = true
		}
		why := ""
		if err == nil {
			for _, p := range pods.Items {
				if running(&p) {
					delete(waiting, p.Labels[LabelGenerator])
				} else if w := readiness.PodProblem(&p); w != "" {
					why = fmt.Sprintf("; pod %s: %s", p.Name, w)
				}
			}
			if len(waiting) == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			names := make([]string, 0, len(waiting))
			for n := range waiting {
				names = append(names, n)
			}
			slices.Sort(names)
			return fmt.Errorf("generators %s not running after %s%s", strings.Join(names, ", "), ReadyTimeout, why)
		case <-time.After(time.Second):
		}
	}
}

func running(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && containerRunning(p)
}

// Stop deletes the generators: each pod is sent SIGTERM, stops sending,
// lets its requests in flight end and writes its accounting. The
// namespace goes too when Deploy made it.
func (f *Fleet) Stop(ctx context.Context) error {
	var errs []error
	for _, g := range f.Generators {
		err := f.client.AppsV1().DaemonSets(f.Namespace).Delete(ctx, g.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("generator %s: %w", g.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Delete removes what Deploy made that Stop left: the budget, and the
// namespace when Deploy made it.
func (f *Fleet) Delete(ctx context.Context) error {
	err := f.client.PolicyV1().PodDisruptionBudgets(f.Namespace).Delete(ctx, App, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if f.made {
		err := f.client.CoreV1().Namespaces().Delete(ctx, f.Namespace, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
