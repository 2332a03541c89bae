package driver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

func pod(ns, name, node string, lbl map[string]string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: lbl}, Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	for _, m := range mods {
		m(p)
	}
	return p
}

// evictions makes the fake clientset honour evictions: a pod selected by a
// budget with no disruptions allowed gets 429, any other is deleted.
func evictions(c *fake.Clientset) {
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "eviction" {
			return false, nil, nil
		}
		ev := a.(k8stesting.CreateAction).GetObject().(*policyv1.Eviction)
		pdbs, _ := c.Tracker().List(policyv1.SchemeGroupVersion.WithResource("poddisruptionbudgets"), policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"), ev.Namespace)
		obj, err := c.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), ev.Namespace, ev.Name)
		if err != nil {
			return true, nil, err
		}
		p := obj.(*corev1.Pod)
		for _, b := range pdbs.(*policyv1.PodDisruptionBudgetList).Items {
			sel, _ := metav1.LabelSelectorAsSelector(b.Spec.Selector)
			if sel.Matches(labelsOf(p)) && b.Status.DisruptionsAllowed == 0 {
				return true, nil, apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
			}
		}
		return true, nil, c.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("pods"), ev.Namespace, ev.Name)
	})
}

func labelsOf(p *corev1.Pod) labels.Set { return labels.Set(p.Labels) }

func TestDrainEvictsButKeepsDaemonSetAndMirrorPods(t *testing.T) {
	c := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}},
		pod("app", "web-1", "w1", map[string]string{"app": "web"}),
		pod("app", "web-2", "w2", map[string]string{"app": "web"}),
		pod("kube-system", "kube-proxy-x", "w1", nil, func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "kube-proxy"}}
		}),
		pod("kube-system", "etcd-w1", "w1", nil, func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} }),
		pod("app", "job-done", "w1", nil, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
	)
	evictions(c)
	ctx := context.Background()
	require.NoError(t, Cordon(ctx, c, "w1", true))
	n, _ := c.CoreV1().Nodes().Get(ctx, "w1", metav1.GetOptions{})
	assert.True(t, n.Spec.Unschedulable)
	require.NoError(t, Drain(ctx, c, "w1", DrainOptions{Timeout: 5 * time.Second, Poll: 10 * time.Millisecond}, timeline.Discard))
	left, _ := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	var names []string
	for _, p := range left.Items {
		names = append(names, p.Name)
	}
	assert.ElementsMatch(t, []string{"web-2", "kube-proxy-x", "etcd-w1", "job-done"}, names)
	require.NoError(t, Cordon(ctx, c, "w1", false))
}

func TestDrainBlockedByBudgetFailsAtTimeoutNamingIt(t *testing.T) {
	one := intstr.FromInt32(1)
	c := fake.NewClientset(
		pod("default", "canary-abc", "w2", map[string]string{"app": "canary"}),
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "canary", Namespace: "default"},
			Spec:   policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "canary"}}},
			Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0}},
	)
	evictions(c)
	rec := timeline.NewRecorder(nil)
	// A fake clock: each read advances 4 s, so the 10 s timeout is hit in a few polls.
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { now = now.Add(4 * time.Second); return now }
	err := Drain(context.Background(), c, "w2", DrainOptions{Timeout: 10 * time.Second, Poll: time.Millisecond, BlockedEvery: 5 * time.Second, Now: clock}, rec)
	require.Error(t, err)
	var be *BlockedError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, []string{"default/canary (minAvailable 1, 0 disruptions allowed)"}, be.Budgets)
	assert.Equal(t, []string{"default/canary-abc"}, be.Pods)
	assert.Contains(t, err.Error(), "drain w2: blocked for 8s by PodDisruptionBudget default/canary (minAvailable 1, 0 disruptions allowed) (pods: default/canary-abc)")
	var blocked int
	for _, e := range rec.Events() {
		if e.Kind == "drain-blocked" {
			blocked++
			assert.Equal(t, "w2", e.Subject)
		}
	}
	assert.GreaterOrEqual(t, blocked, 2, "a blocked drain is reported while it lasts")
}

// A blocked drain says why the budget has no room: the budget's pods that
// are not Ready, where they are and why.
func TestDrainBlockedNamesTheBudgetsUnreadyPods(t *testing.T) {
	maxUn := intstr.FromInt32(1)
	sel := map[string]string{"app": "canary"}
	ready := func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	c := fake.NewClientset(
		pod("default", "canary-a", "w2", sel, ready),
		pod("default", "canary-b", "cp", sel, func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "canary", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull"}}}}
		}),
		pod("default", "canary-c", "", sel, func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available"}}
		}),
		pod("default", "other", "w1", map[string]string{"app": "other"}),
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "canary", Namespace: "default"},
			Spec:   policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &maxUn, Selector: &metav1.LabelSelector{MatchLabels: sel}},
			Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0}},
	)
	evictions(c)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { now = now.Add(4 * time.Second); return now }
	err := Drain(context.Background(), c, "w2", DrainOptions{Timeout: 10 * time.Second, Poll: time.Millisecond, Now: clock}, timeline.Discard)
	var be *BlockedError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, []string{
		"default/canary-b on cp (Pending: container canary ErrImageNeverPull)",
		"default/canary-c on no node (Pending: Unschedulable: 0/3 nodes are available)",
	}, be.Unready)
	assert.Contains(t, err.Error(), "(pods: default/canary-a); not Ready: default/canary-b on cp (Pending: container canary ErrImageNeverPull), default/canary-c on no node")
}

// The apiserver restarts during an upgrade: a cordon that meets a reset
// connection tries again; a lasting error is returned at once.
func TestCordonRetriesTransientErrors(t *testing.T) {
	tests := []struct {
		name      string
		failures  int
		err       error
		wantErr   string
		wantCalls int
	}{
		{name: "reset once", failures: 1, err: errors.New("unexpected error when reading response body. Please retry. Original error: read tcp: connection reset by peer"), wantCalls: 2},
		{name: "refused while RBAC settles", failures: 2, err: apierrors.NewForbidden(corev1.Resource("nodes"), "n1", errors.New("no")), wantCalls: 3},
		{name: "lasting error", failures: 5, err: apierrors.NewNotFound(corev1.Resource("nodes"), "n1"), wantErr: "not found", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
			calls := 0
			c.PrependReactor("patch", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
				calls++
				if calls <= tt.failures {
					return true, nil, tt.err
				}
				return false, nil, nil
			})
			err := Cordon(context.Background(), c, "n1", true)
			assert.Equal(t, tt.wantCalls, calls)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			n, err := c.CoreV1().Nodes().Get(context.Background(), "n1", metav1.GetOptions{})
			require.NoError(t, err)
			assert.True(t, n.Spec.Unschedulable)
		})
	}
}

// A drain whose pod list is refused while the apiserver restarts tries
// again until its deadline.
func TestDrainRetriesTransientListErrors(t *testing.T) {
	c := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	lists := 0
	c.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		lists++
		if lists <= 2 {
			return true, nil, apierrors.NewForbidden(corev1.Resource("pods"), "", errors.New("RBAC not settled"))
		}
		return false, nil, nil
	})
	err := Drain(context.Background(), c, "n1", DrainOptions{Timeout: 5 * time.Second, Poll: 10 * time.Millisecond}, timeline.Discard)
	require.NoError(t, err)
	assert.Equal(t, 3, lists)

	lists = -100 // refused for longer than the drain may take
	err = Drain(context.Background(), c, "n1", DrainOptions{Timeout: 50 * time.Millisecond, Poll: 10 * time.Millisecond}, timeline.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "RBAC not settled")
}

// A drain blocked by a budget stops when its context ends, and says so.
func TestDrainStopsWithContext(t *testing.T) {
	one := intstr.FromInt32(1)
	c := fake.NewClientset(
		pod("default", "canary-abc", "w2", map[string]string{"app": "canary"}),
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "canary", Namespace: "default"},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "canary"}}}},
	)
	evictions(c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := Drain(ctx, c, "w2", DrainOptions{Timeout: time.Minute, Poll: time.Millisecond}, timeline.Discard)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, "drain w2: context deadline exceeded", err.Error())
}
