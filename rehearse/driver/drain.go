package driver

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/readiness"
	"github.com/rehearse/rehearse/rehearse/timeline"
)

// Drain defaults.
const (
	DefaultDrainTimeout = 2 * time.Minute
	DefaultDrainPoll    = time.Second
	DefaultBlockedEvery = 10 * time.Second
)

// Cordon marks a node unschedulable (or schedulable again).
func Cordon(ctx context.Context, client kubernetes.Interface, node string, unschedulable bool) error {
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"unschedulable": unschedulable}})
	if err := readiness.Retry(ctx, readiness.Options{Interval: time.Second, Timeout: DefaultRetryFor}, readiness.IsTransientDuringRestart, func() error {
		_, err := client.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	}); err != nil {
		verb := "cordon"
		if !unschedulable {
			verb = "uncordon"
		}
		return fmt.Errorf("%s %s: %w", verb, node, err)
	}
	return nil
}

// DrainOptions tune a drain.
type DrainOptions struct {
	// Timeout fails the drain when pods are still on the node after it.
	Timeout time.Duration
	// Poll is how often blocked evictions are retried.
	Poll time.Duration
	// BlockedEvery is how often a blocked drain is reported on the timeline.
	BlockedEvery time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// BlockedError is a drain that PodDisruptionBudgets kept from finishing.
type BlockedError struct {
	Node    string
	For     time.Duration
	Budgets []string // namespace/name of the budgets that refused
	Pods    []string // namespace/name of the pods that could not be evicted
	// Unready names the budgets' pods that are not Ready, where they are
	// and why: what keeps the budget from allowing a disruption.
	Unready []string
}

func (e *BlockedError) Error() string {
	msg := fmt.Sprintf("drain %s: blocked for %s by PodDisruptionBudget %s (pods: %s)",
		e.Node, e.For.Round(time.Second), strings.Join(e.Budgets, ", "), strings.Join(e.Pods, ", "))
	if len(e.Unready) > 0 {
		msg += "; not Ready: " + strings.Join(e.Unready, ", ")
	}
	return msg
}

// Drain evicts every pod from a node through the Eviction API, so
// PodDisruptionBudgets are respected. DaemonSet pods and mirror pods stay;
// pods with emptyDir data are evicted (their data goes). A drain that budgets
// block is reported, naming the budgets and pods and how long, and fails at
// the timeout: it never hangs.
func Drain(ctx context.Context, client kubernetes.Interface, node string, o DrainOptions, emit timeline.Emitter) error {
	if o.Timeout <= 0 {
		o.Timeout = DefaultDrainTimeout
	}
	if o.Poll <= 0 {
		o.Poll = DefaultDrainPoll
	}
	if o.BlockedEvery <= 0 {
		o.BlockedEvery = DefaultBlockedEvery
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &drain{client: client, node: node, o: o, emit: emit, deadline: o.Now().Add(o.Timeout), evicted: map[string]bool{}}
	if err := wait.PollUntilContextCancel(ctx, o.Poll, true, d.look); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("drain %s: %w", node, ctx.Err())
		}
		return err
	}
	return nil
}

// drain is one Drain: what it evicted and since when budgets block it.
type drain struct {
	client       kubernetes.Interface
	node         string
	o            DrainOptions
	emit         timeline.Emitter
	deadline     time.Time
	evicted      map[string]bool
	blockedSince time.Time
	lastReport   time.Time
}

// look evicts the pods left on the node once. It is done when none is
// left, and fails at the deadline, naming the budgets that blocked it or
// the pods left.
func (d *drain) look(ctx context.Context) (bool, error) {
	node := d.node
	pods, err := podsToEvict(ctx, d.client, node)
	switch {
	case err != nil && readiness.IsTransientDuringRestart(err) && d.o.Now().Before(d.deadline):
		// The apiserver restarts during an upgrade: try again.
		return false, nil
	case err != nil:
		return false, fmt.Errorf("drain %s: %w", node, err)
	case len(pods) == 0:
		return true, nil
	}
	blocked := map[string][]string{} // budget -> pods
	var unready []string             // the budgets' pods not Ready, and why
	for _, p := range pods {
		key := p.Namespace + "/" + p.Name
		if d.evicted[key] {
			continue // on its way out
		}
		err := d.client.PolicyV1().Evictions(p.Namespace).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}})
		switch {
		case err == nil, apierrors.IsNotFound(err):
			d.evicted[key] = true
		case apierrors.IsTooManyRequests(err):
			budgets, notReady := budgetsFor(ctx, d.client, &p)
			unready = append(unready, notReady...)
			if len(budgets) == 0 {
				budgets = []string{"(unknown: " + firstLineOf(err.Error()) + ")"}
			}
			for _, b := range budgets {
				blocked[b] = append(blocked[b], key)
			}
		case readiness.IsTransientDuringRestart(err):
			// Tried again at the next look, until the deadline.
		default:
			return false, fmt.Errorf("drain %s: evict %s: %w", node, key, err)
		}
	}
	now := d.o.Now()
	if len(blocked) > 0 {
		if d.blockedSince.IsZero() {
			d.blockedSince = now
		}
		be := blockedErr(node, now.Sub(d.blockedSince), blocked, unready)
		if d.lastReport.IsZero() || now.Sub(d.lastReport) >= d.o.BlockedEvery {
			d.lastReport = now
			d.emit.Emit(timeline.Event{Time: now, Source: timeline.SourceDriver, Kind: "drain-blocked", Subject: node, Outcome: "blocked", Message: be.Error()})
		}
		if !now.Before(d.deadline) {
			return false, be
		}
	} else {
		d.blockedSince = time.Time{}
	}
	if !now.Before(d.deadline) {
		var left []string
		for _, p := range pods {
			left = append(left, p.Namespace+"/"+p.Name)
		}
		return false, fmt.Errorf("drain %s: timed out after %s: pods still on the node: %s", node, d.o.Timeout, strings.Join(left, ", "))
	}
	return false, nil
}

func blockedErr(node string, d time.Duration, blocked map[string][]string, unready []string) *BlockedError {
	be := &BlockedError{Node: node, For: d}
	for _, u := range unready {
		if !slices.Contains(be.Unready, u) {
			be.Unready = append(be.Unready, u)
		}
	}
	sort.Strings(be.Unready)
	seen := map[string]bool{}
	for b, pods := range blocked {
		be.Budgets = append(be.Budgets, b)
		for _, p := range pods {
			if !seen[p] {
				seen[p] = true
				be.Pods = append(be.Pods, p)
			}
		}
	}
	sort.Strings(be.Budgets)
	sort.Strings(be.Pods)
	return be
}

// podsToEvict lists the node's pods a drain must move.
func podsToEvict(ctx context.Context, client kubernetes.Interface, node string) ([]corev1.Pod, error) {
	list, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Spec.NodeName != node {
			continue
		}
		if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
			continue
		}
		if ownedByDaemonSet(&p) {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+out[i].Name < out[j].Namespace+out[j].Name })
	return out, nil
}

func ownedByDaemonSet(p *corev1.Pod) bool {
	for _, o := range p.OwnerReferences {
		if o.Kind == "DaemonSet" {
			return true
		}
	}
	return false
}

// budgetsFor names the PodDisruptionBudgets that select a pod, and the pods
// of those budgets that are not Ready: where they are and why (unscheduled,
// an image that cannot be pulled, a failing probe), which is what keeps a
// budget from allowing a disruption.
func budgetsFor(ctx context.Context, client kubernetes.Interface, p *corev1.Pod) (out, unready []string) {
	pdbs, err := client.PolicyV1().PodDisruptionBudgets(p.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil
	}
	for _, b := range pdbs.Items {
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(p.Labels)) {
			desc := b.Namespace + "/" + b.Name
			switch {
			case b.Spec.MinAvailable != nil:
				desc += " (minAvailable " + b.Spec.MinAvailable.String()
			case b.Spec.MaxUnavailable != nil:
				desc += " (maxUnavailable " + b.Spec.MaxUnavailable.String()
			default:
				desc += " ("
			}
			desc += fmt.Sprintf(", %d disruptions allowed)", b.Status.DisruptionsAllowed)
			out = append(out, desc)
			unready = append(unready, unreadyPods(ctx, client, b.Namespace, sel)...)
		}
	}
	return out, unready
}

// unreadyPods describes the pods sel picks in ns that are not Ready.
func unreadyPods(ctx context.Context, client kubernetes.Interface, ns string, sel labels.Selector) []string {
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil
	}
	var out []string
	for _, q := range pods.Items {
		if q.DeletionTimestamp != nil || q.Status.Phase == corev1.PodSucceeded {
			continue
		}
		why := readiness.PodProblem(&q)
		if why == "" {
			continue
		}
		where := q.Spec.NodeName
		if where == "" {
			where = "no node"
		}
		out = append(out, fmt.Sprintf("%s/%s on %s (%s)", q.Namespace, q.Name, where, why))
	}
	return out
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// DefaultRetryFor bounds retrying an API call that failed for a transient
// reason (readiness.IsTransientDuringRestart).
const DefaultRetryFor = time.Minute
