package readiness

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

const ns = "rehearse-canary"

func deployment(replicas int32, st appsv1.DeploymentStatus) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "canary", Generation: 2},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
		Status:     st,
	}
}

func statefulSet(replicas int32, mod func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db", Generation: 1},
		Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To(replicas)},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: replicas, UpdatedReplicas: replicas,
			ReadyReplicas: replicas, AvailableReplicas: replicas},
	}
	if mod != nil {
		mod(s)
	}
	return s
}

func daemonSet(st appsv1.DaemonSetStatus, mod func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	d := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agent"}, Status: st}
	if mod != nil {
		mod(d)
	}
	return d
}

func TestRolloutProblem(t *testing.T) {
	done := appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}
	tests := []struct {
		name string
		obj  any
		want string
	}{
		{name: "deployment rolled out", obj: deployment(3, done)},
		{name: "deployment short of replicas",
			obj:  deployment(3, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1}),
			want: "Deployment rehearse-canary/canary: ready 1/3, updated 2/3, available 1/3, 1 old replicas"},
		{name: "deployment with old replicas left",
			obj:  deployment(2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 2, ReadyReplicas: 3, AvailableReplicas: 3}),
			want: "Deployment rehearse-canary/canary: ready 3/2, updated 2/2, available 3/2, 1 old replicas"},
		{name: "deployment generation not observed",
			obj:  deployment(1, appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}),
			want: "Deployment rehearse-canary/canary: ready 1/1, updated 1/1, available 1/1, generation 2 not observed (at 1)"},
		{name: "deployment with no replicas field wants one",
			obj:  &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "canary"}},
			want: "Deployment rehearse-canary/canary: ready 0/1, updated 0/1, available 0/1"},
		{name: "deployment past its progress deadline",
			obj: deployment(3, func() appsv1.DeploymentStatus {
				s := done
				s.AvailableReplicas = 2
				s.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}}
				return s
			}()),
			want: "Deployment rehearse-canary/canary: ready 3/3, updated 3/3, available 2/3, progress deadline exceeded"},
		{name: "statefulset rolled out", obj: statefulSet(3, nil)},
		{name: "statefulset not ready",
			obj:  statefulSet(3, func(s *appsv1.StatefulSet) { s.Status.ReadyReplicas, s.Status.AvailableReplicas = 2, 2 }),
			want: "StatefulSet rehearse-canary/db: ready 2/3, updated 3/3, available 2/3"},
		{name: "statefulset revision not yet current",
			obj: statefulSet(3, func(s *appsv1.StatefulSet) {
				s.Status.CurrentRevision, s.Status.UpdateRevision = "db-1", "db-2"
			}),
			want: "StatefulSet rehearse-canary/db: ready 3/3, updated 3/3, available 3/3, revision db-2 not yet current (at db-1)"},
		{name: "statefulset partition: only the ordinals above it",
			obj: statefulSet(3, func(s *appsv1.StatefulSet) {
				s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To(int32(2))}}
				s.Status.UpdatedReplicas = 1
				s.Status.CurrentRevision, s.Status.UpdateRevision = "db-1", "db-2"
			})},
		{name: "statefulset partition not reached",
			obj: statefulSet(3, func(s *appsv1.StatefulSet) {
				s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To(int32(1))}}
				s.Status.UpdatedReplicas = 1
			}),
			want: "StatefulSet rehearse-canary/db: ready 3/3, updated 1/2, available 3/3"},
		{name: "statefulset on delete has no rollout",
			obj: statefulSet(3, func(s *appsv1.StatefulSet) {
				s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
				s.Status.UpdatedReplicas = 0
			})},
		{name: "daemonset rolled out",
			obj: daemonSet(appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberReady: 2, NumberAvailable: 2}, nil)},
		{name: "daemonset not available",
			obj:  daemonSet(appsv1.DaemonSetStatus{DesiredNumberScheduled: 4, UpdatedNumberScheduled: 4, NumberReady: 4, NumberAvailable: 3}, nil),
			want: "DaemonSet rehearse-canary/agent: ready 4/4, updated 4/4, available 3/4"},
		{name: "daemonset on delete has no rollout",
			obj: daemonSet(appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, NumberReady: 2, NumberAvailable: 2}, func(d *appsv1.DaemonSet) {
				d.Spec.UpdateStrategy.Type = appsv1.OnDeleteDaemonSetStrategyType
			})},
		{name: "job complete",
			obj: &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "migrate"}, Status: batchv1.JobStatus{Succeeded: 1,
				Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}}},
		{name: "job running",
			obj:  &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "migrate"}, Spec: batchv1.JobSpec{Completions: ptr.To(int32(3))}, Status: batchv1.JobStatus{Succeeded: 1, Active: 2}},
			want: "Job rehearse-canary/migrate: succeeded 1/3, active 2, failed 0"},
		{name: "job failed",
			obj: &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "migrate"}, Status: batchv1.JobStatus{Failed: 6,
				Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}}}},
			want: "Job rehearse-canary/migrate: failed: BackoffLimitExceeded: Job has reached the specified backoff limit"},
		{name: "an object with no rollout", obj: &corev1.Pod{}, want: "no rollout status for *v1.Pod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, RolloutProblem(tt.obj))
		})
	}
}

func TestWaitForWorkloads(t *testing.T) {
	tests := []struct {
		name    string
		objects []runtime.Object
		wantErr string
	}{
		{name: "nothing to wait for"},
		{name: "all rolled out", objects: []runtime.Object{
			deployment(1, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}),
			statefulSet(2, nil),
			daemonSet(appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberReady: 2, NumberAvailable: 2}, nil),
		}},
		{name: "every kind not rolled out is named", objects: []runtime.Object{
			deployment(1, appsv1.DeploymentStatus{ObservedGeneration: 2}),
			statefulSet(2, func(s *appsv1.StatefulSet) { s.Status.ReadyReplicas = 1 }),
			daemonSet(appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, UpdatedNumberScheduled: 1, NumberReady: 2, NumberAvailable: 2}, nil),
		}, wantErr: "Deployment rehearse-canary/canary: ready 0/1, updated 0/1, available 0/1; " +
			"StatefulSet rehearse-canary/db: ready 1/2, updated 2/2, available 2/2; " +
			"DaemonSet rehearse-canary/agent: ready 2/2, updated 1/2, available 2/2: context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset(tt.objects...)
			err := WaitForWorkloads(context.Background(), c, []string{ns, "kube-system"}, Options{Interval: 5 * time.Millisecond, Timeout: 50 * time.Millisecond})
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.wantErr)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
		})
	}
}

// A namespace that cannot be read keeps the wait going, and its error is
// reported when the wait ends.
func TestWaitForWorkloadsReportsListErrors(t *testing.T) {
	c := fake.NewClientset()
	c.PrependReactor("list", "statefulsets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(appsv1.Resource("statefulsets"), "", errors.New("RBAC not settled"))
	})
	err := WaitForWorkloads(context.Background(), c, []string{ns}, Options{Interval: 5 * time.Millisecond, Timeout: 30 * time.Millisecond})
	var we *WaitError
	require.ErrorAs(t, err, &we)
	assert.Contains(t, err.Error(), "list StatefulSets in rehearse-canary")
	assert.Contains(t, err.Error(), "RBAC not settled")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// The wait returns on the first look that sees the rollout done.
func TestWaitForWorkloadsPollsUntilDone(t *testing.T) {
	dep := deployment(1, appsv1.DeploymentStatus{})
	c := fake.NewClientset(dep)
	lists := 0
	c.PrependReactor("list", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		lists++
		if lists == 3 {
			ready := dep.DeepCopy()
			ready.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
			if err := c.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("deployments"), ready, ns); err != nil {
				return true, nil, err
			}
		}
		return false, nil, nil
	})
	var seen []string
	err := WaitForWorkloads(context.Background(), c, []string{ns}, Options{Interval: time.Millisecond, Timeout: 5 * time.Second,
		Progress: func(s string) { seen = append(seen, s) }})
	require.NoError(t, err)
	assert.Equal(t, 3, lists)
	assert.Equal(t, []string{"Deployment rehearse-canary/canary: ready 0/1, updated 0/1, available 0/1, generation 2 not observed (at 0)"}, seen,
		"progress is told each change once")
}
