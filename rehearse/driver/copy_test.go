package driver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const canaryNS = "rehearse-canary"

// serverMeta is metadata as cluster A's API server returns it.
func serverMeta(ns, name string, lbl map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: ns, Labels: lbl,
		ResourceVersion:   "1234",
		UID:               "0b9e5c1e-aaaa-bbbb-cccc-000000000001",
		Generation:        3,
		CreationTimestamp: metav1.NewTime(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)),
		SelfLink:          "/api/v1/namespaces/" + ns + "/x/" + name,
		ManagedFields:     []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}},
		OwnerReferences:   []metav1.OwnerReference{{APIVersion: "v1", Kind: "Thing", Name: "owner", UID: "0b9e5c1e-aaaa-bbbb-cccc-000000000002"}},
		Annotations: map[string]string{
			lastAppliedAnnotation: `{"kind":"Whatever"}`,
			"rehearse.io/note":    "kept",
		},
	}
}

var canaryLabels = map[string]string{"app": "canary"}

func canaryPodTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: canaryLabels},
		Spec:       corev1.PodSpec{ServiceAccountName: "canary", Containers: []corev1.Container{{Name: "canary", Image: "registry.k8s.io/pause:3.10"}}},
	}
}

// canarySource is cluster A's view of the canary namespace plus an unselected namespace.
func canarySource() []runtime.Object {
	ns := &corev1.Namespace{ObjectMeta: serverMeta("", canaryNS, map[string]string{"rehearse.io/canary": "true"}), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	dep := &appsv1.Deployment{
		ObjectMeta: serverMeta(canaryNS, "canary", canaryLabels),
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: canaryLabels},
			Template: canaryPodTemplate(),
		},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2},
	}
	dep.Annotations[deploymentRevisionAnnotation] = "4"
	svc := &corev1.Service{
		ObjectMeta: serverMeta(canaryNS, "canary", canaryLabels),
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeNodePort,
			Selector:              canaryLabels,
			ClusterIP:             "10.96.12.34",
			ClusterIPs:            []string{"10.96.12.34"},
			HealthCheckNodePort:   31999,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Ports:                 []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080, Protocol: corev1.ProtocolTCP}},
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}}}},
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: serverMeta(canaryNS, "canary", canaryLabels),
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: new(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: canaryLabels}},
		Status:     policyv1.PodDisruptionBudgetStatus{CurrentHealthy: 2, DesiredHealthy: 1, DisruptionsAllowed: 1, ExpectedPods: 2},
	}
	cm := &corev1.ConfigMap{ObjectMeta: serverMeta(canaryNS, "canary-config", canaryLabels), Data: map[string]string{"mode": "steady"}}
	rootCA := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: canaryNS, Name: "kube-root-ca.crt"}, Data: map[string]string{"ca.crt": "PEM"}}
	token := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: canaryNS, Name: "canary-token", Labels: canaryLabels, Annotations: map[string]string{corev1.ServiceAccountNameKey: "canary"}},
		Type:       corev1.SecretTypeServiceAccountToken,
		Data:       map[string][]byte{"token": []byte("a-token")},
	}
	opaque := &corev1.Secret{ObjectMeta: serverMeta(canaryNS, "canary-secret", canaryLabels), Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("hunter2")}}
	defaultSA := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: canaryNS, Name: "default"}}
	canarySA := &corev1.ServiceAccount{ObjectMeta: serverMeta(canaryNS, "canary", canaryLabels)}
	other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}}
	otherCM := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "elsewhere", Name: "not-copied", Labels: canaryLabels}}
	return []runtime.Object{ns, dep, svc, pdb, cm, rootCA, token, opaque, defaultSA, canarySA, other, otherCM}
}

// cleanMeta is the metadata expected on B: A's minus everything the server set.
func cleanMeta(ns, name string, lbl map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: lbl, Annotations: map[string]string{"rehearse.io/note": "kept"}}
}

var wantCanaryCopied = []string{
	"Namespace rehearse-canary",
	"ConfigMap rehearse-canary/canary-config",
	"Secret rehearse-canary/canary-secret",
	"ServiceAccount rehearse-canary/canary",
	"Service rehearse-canary/canary",
	"PodDisruptionBudget rehearse-canary/canary",
	"Deployment rehearse-canary/canary",
}

var wantCanarySkipped = []string{
	"ConfigMap rehearse-canary/kube-root-ca.crt: published by the cluster in every namespace",
	"Secret rehearse-canary/canary-token: service account token, issued by the target cluster",
	"ServiceAccount rehearse-canary/default: created by the cluster in every namespace",
}

// written returns, by "resource namespace/name", the last object c received in a create or update call
// (exactly what the copy sent, before the fake's field manager adds its own metadata), and checks that c
// holds every one of them.
func written(t *testing.T, c *fake.Clientset) map[string]runtime.Object {
	t.Helper()
	out := map[string]runtime.Object{}
	for _, a := range c.Actions() {
		w, ok := a.(interface{ GetObject() runtime.Object })
		if !ok || (a.GetVerb() != "create" && a.GetVerb() != "update") {
			continue
		}
		m := w.GetObject().(metav1.Object)
		key := a.GetResource().Resource + " " + m.GetNamespace() + "/" + m.GetName()
		out[key] = w.GetObject()
		_, err := c.Tracker().Get(a.GetResource(), m.GetNamespace(), m.GetName())
		assert.NoError(t, err, "%s is on the target", key)
	}
	return out
}

// canaryOnTarget is what the copy of canarySource writes to B.
func canaryOnTarget() map[string]runtime.Object {
	return map[string]runtime.Object{
		"namespaces /rehearse-canary": &corev1.Namespace{ObjectMeta: cleanMeta("", canaryNS, map[string]string{"rehearse.io/canary": "true"})},
		"configmaps rehearse-canary/canary-config": &corev1.ConfigMap{
			ObjectMeta: cleanMeta(canaryNS, "canary-config", canaryLabels),
			Data:       map[string]string{"mode": "steady"},
		},
		"secrets rehearse-canary/canary-secret": &corev1.Secret{
			ObjectMeta: cleanMeta(canaryNS, "canary-secret", canaryLabels),
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{"password": []byte("hunter2")},
		},
		"serviceaccounts rehearse-canary/canary": &corev1.ServiceAccount{ObjectMeta: cleanMeta(canaryNS, "canary", canaryLabels)},
		"services rehearse-canary/canary": &corev1.Service{
			ObjectMeta: cleanMeta(canaryNS, "canary", canaryLabels),
			Spec: corev1.ServiceSpec{
				Type:                  corev1.ServiceTypeNodePort,
				Selector:              canaryLabels,
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
				Ports:                 []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080, Protocol: corev1.ProtocolTCP}},
			},
		},
		"poddisruptionbudgets rehearse-canary/canary": &policyv1.PodDisruptionBudget{
			ObjectMeta: cleanMeta(canaryNS, "canary", canaryLabels),
			Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: new(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: canaryLabels}},
		},
		"deployments rehearse-canary/canary": &appsv1.Deployment{
			ObjectMeta: cleanMeta(canaryNS, "canary", canaryLabels),
			Spec: appsv1.DeploymentSpec{
				Replicas: new(int32(2)),
				Selector: &metav1.LabelSelector{MatchLabels: canaryLabels},
				Template: canaryPodTemplate(),
			},
		},
	}
}

// createdResources lists, in order, the resources of the create calls c received.
func createdResources(c *fake.Clientset) []string {
	var out []string
	for _, a := range c.Actions() {
		if a.GetVerb() == "create" {
			out = append(out, a.GetResource().Resource)
		}
	}
	return out
}

func TestCopyWorkloadsCanaryNamespace(t *testing.T) {
	a := fake.NewClientset(canarySource()...)
	b := fake.NewClientset()

	report, err := CopyWorkloads(context.Background(), a, b, CopySelection{Namespaces: []string{canaryNS}})
	require.NoError(t, err)

	assert.Equal(t, wantCanaryCopied, report.Copied)
	assert.Equal(t, wantCanarySkipped, report.Skipped)
	assert.Equal(t, []string{"namespaces", "configmaps", "secrets", "serviceaccounts", "services", "poddisruptionbudgets", "deployments"}, createdResources(b))
	assert.Equal(t, canaryOnTarget(), written(t, b))

	// The source is only read.
	for _, act := range a.Actions() {
		assert.Contains(t, []string{"get", "list"}, act.GetVerb(), "action on source: %v", act)
	}
}

func TestCopyWorkloadsTwiceUpdatesWhatIsThere(t *testing.T) {
	ctx := context.Background()
	a := fake.NewClientset(canarySource()...)
	b := fake.NewClientset()

	_, err := CopyWorkloads(ctx, a, b, CopySelection{Namespaces: []string{canaryNS}})
	require.NoError(t, err)

	// B allocates its own cluster IP and versions its objects; A's config changes.
	svc, err := b.CoreV1().Services(canaryNS).Get(ctx, "canary", metav1.GetOptions{})
	require.NoError(t, err)
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs, svc.ResourceVersion = "10.200.0.7", []string{"10.200.0.7"}, "77"
	_, err = b.CoreV1().Services(canaryNS).Update(ctx, svc, metav1.UpdateOptions{})
	require.NoError(t, err)
	cm, err := b.CoreV1().ConfigMaps(canaryNS).Get(ctx, "canary-config", metav1.GetOptions{})
	require.NoError(t, err)
	cm.ResourceVersion = "42"
	_, err = b.CoreV1().ConfigMaps(canaryNS).Update(ctx, cm, metav1.UpdateOptions{})
	require.NoError(t, err)
	srcCM, err := a.CoreV1().ConfigMaps(canaryNS).Get(ctx, "canary-config", metav1.GetOptions{})
	require.NoError(t, err)
	srcCM.Data["mode"] = "swapped"
	_, err = a.CoreV1().ConfigMaps(canaryNS).Update(ctx, srcCM, metav1.UpdateOptions{})
	require.NoError(t, err)

	updatedVersions := map[string]string{}
	b.PrependReactor("update", "*", func(act k8stesting.Action) (bool, runtime.Object, error) {
		obj := act.(k8stesting.UpdateAction).GetObject().(metav1.Object)
		updatedVersions[act.GetResource().Resource+"/"+obj.GetName()] = obj.GetResourceVersion()
		return false, nil, nil
	})
	b.ClearActions()

	report, err := CopyWorkloads(ctx, a, b, CopySelection{Namespaces: []string{canaryNS}})
	require.NoError(t, err)
	assert.Equal(t, wantCanaryCopied, report.Copied)
	assert.Equal(t, wantCanarySkipped, report.Skipped)
	assert.Empty(t, createdResources(b), "the second copy only updates")
	assert.Equal(t, "42", updatedVersions["configmaps/canary-config"], "update carries the target's resourceVersion")
	assert.Equal(t, "77", updatedVersions["services/canary"])
	assert.Len(t, updatedVersions, len(wantCanaryCopied))

	gotCM, err := b.CoreV1().ConfigMaps(canaryNS).Get(ctx, "canary-config", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"mode": "swapped"}, gotCM.Data)
	gotSvc, err := b.CoreV1().Services(canaryNS).Get(ctx, "canary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "10.200.0.7", gotSvc.Spec.ClusterIP, "the target's own cluster IP is kept")
	assert.Equal(t, []string{"10.200.0.7"}, gotSvc.Spec.ClusterIPs)
	assert.Equal(t, int32(30080), gotSvc.Spec.Ports[0].NodePort)
}

func TestCopyWorkloadsLabelSelector(t *testing.T) {
	source := func() []runtime.Object {
		lbl := func(v string) map[string]string { return map[string]string{"tier": v} }
		return []runtime.Object{
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: canaryNS}},
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: canaryNS, Name: "front-config", Labels: lbl("front")}},
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: canaryNS, Name: "back-config", Labels: lbl("back")}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: canaryNS, Name: "front", Labels: lbl("front")}},
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: canaryNS, Name: "front", Labels: lbl("front")}},
			&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: canaryNS, Name: "back", Labels: lbl("back")}},
			&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: canaryNS, Name: "agent"}},
		}
	}
	tests := []struct {
		name       string
		selector   string
		wantCopied []string
		wantErr    string
	}{
		{
			name:     "no selector copies everything",
			selector: "",
			wantCopied: []string{
				"Namespace rehearse-canary",
				"ConfigMap rehearse-canary/back-config",
				"ConfigMap rehearse-canary/front-config",
				"Service rehearse-canary/front",
				"Deployment rehearse-canary/front",
				"StatefulSet rehearse-canary/back",
				"DaemonSet rehearse-canary/agent",
			},
		},
		{
			name:     "selector keeps matching objects and the namespace",
			selector: "tier=front",
			wantCopied: []string{
				"Namespace rehearse-canary",
				"ConfigMap rehearse-canary/front-config",
				"Service rehearse-canary/front",
				"Deployment rehearse-canary/front",
			},
		},
		{
			name:       "set selector",
			selector:   "tier in (back)",
			wantCopied: []string{"Namespace rehearse-canary", "ConfigMap rehearse-canary/back-config", "StatefulSet rehearse-canary/back"},
		},
		{
			name:     "invalid selector copies nothing",
			selector: "tier in (",
			wantErr:  `copy workloads: label selector "tier in ("`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := fake.NewClientset(source()...)
			b := fake.NewClientset()
			report, err := CopyWorkloads(context.Background(), a, b, CopySelection{Namespaces: []string{canaryNS}, LabelSelector: tt.selector})
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Empty(t, b.Actions())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantCopied, report.Copied)
			assert.Len(t, createdResources(b), len(tt.wantCopied))
		})
	}
}

func TestCopyWorkloadsReportsFailuresAndCopiesTheRest(t *testing.T) {
	a := fake.NewClientset(canarySource()...)
	b := fake.NewClientset()
	b.PrependReactor("create", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("provided port is already allocated")
	})
	b.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("etcdserver: request timed out")
	})

	report, err := CopyWorkloads(context.Background(), a, b, CopySelection{Namespaces: []string{canaryNS}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Service rehearse-canary/canary: create on target: provided port is already allocated")
	assert.Contains(t, err.Error(), "Secret rehearse-canary/canary-secret: get from target: etcdserver: request timed out")
	assert.NotContains(t, err.Error(), "Deployment")

	assert.Equal(t, []string{
		"Namespace rehearse-canary",
		"ConfigMap rehearse-canary/canary-config",
		"ServiceAccount rehearse-canary/canary",
		"PodDisruptionBudget rehearse-canary/canary",
		"Deployment rehearse-canary/canary",
	}, report.Copied)
	assert.Equal(t, wantCanarySkipped, report.Skipped)

	_, err = b.AppsV1().Deployments(canaryNS).Get(context.Background(), "canary", metav1.GetOptions{})
	assert.NoError(t, err, "objects after the failing one are still copied")
	_, err = b.PolicyV1().PodDisruptionBudgets(canaryNS).Get(context.Background(), "canary", metav1.GetOptions{})
	assert.NoError(t, err)
}

func TestCopyWorkloadsMissingNamespaceOnSource(t *testing.T) {
	a := fake.NewClientset(canarySource()...)
	b := fake.NewClientset()

	report, err := CopyWorkloads(context.Background(), a, b, CopySelection{Namespaces: []string{canaryNS, "gone", canaryNS}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Namespace gone: get from source:")
	assert.Equal(t, wantCanaryCopied, report.Copied, "the selected namespace that exists is still copied, once")
}

func TestCopyWorkloadsKeepsHeadlessServiceHeadless(t *testing.T) {
	a := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: canaryNS}},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: canaryNS, Name: "db"},
			Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, ClusterIPs: []string{corev1.ClusterIPNone}, Selector: map[string]string{"app": "db"}},
		},
	)
	b := fake.NewClientset()

	_, err := CopyWorkloads(context.Background(), a, b, CopySelection{Namespaces: []string{canaryNS}})
	require.NoError(t, err)
	svc, err := b.CoreV1().Services(canaryNS).Get(context.Background(), "db", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.ClusterIPNone, svc.Spec.ClusterIP)
	assert.Equal(t, []string{corev1.ClusterIPNone}, svc.Spec.ClusterIPs)
}

func TestWaitWorkloadsReady(t *testing.T) {
	deployment := func(replicas int32, st appsv1.DeploymentStatus) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: canaryNS, Name: "canary", Generation: 2},
			Spec:       appsv1.DeploymentSpec{Replicas: new(replicas)},
			Status:     st,
		}
	}
	tests := []struct {
		name    string
		objects []runtime.Object
		wantErr string
	}{
		{
			name:    "ready deployment",
			objects: []runtime.Object{deployment(3, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3})},
		},
		{
			name:    "nothing to wait for",
			objects: nil,
		},
		{
			name:    "deployment short of replicas",
			objects: []runtime.Object{deployment(3, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1})},
			wantErr: "Deployment rehearse-canary/canary: ready 1/3, updated 2/3, available 1/3",
		},
		{
			name:    "deployment with old replicas left",
			objects: []runtime.Object{deployment(2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 2, ReadyReplicas: 3, AvailableReplicas: 3})},
			wantErr: "Deployment rehearse-canary/canary: ready 3/2, updated 2/2, available 3/2, 1 old replicas",
		},
		{
			name:    "deployment generation not observed",
			objects: []runtime.Object{deployment(1, appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1})},
			wantErr: "Deployment rehearse-canary/canary: ready 1/1, updated 1/1, available 1/1, generation 2 not observed (at 1)",
		},
		{
			name: "statefulset not ready",
			objects: []runtime.Object{&appsv1.StatefulSet{
				ObjectMeta: metav1.ObjectMeta{Namespace: canaryNS, Name: "db"},
				Spec:       appsv1.StatefulSetSpec{Replicas: new(int32(3))},
				Status:     appsv1.StatefulSetStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 2},
			}},
			wantErr: "StatefulSet rehearse-canary/db: ready 2/3, updated 3/3, available 2/3",
		},
		{
			name: "daemonset not ready",
			objects: []runtime.Object{&appsv1.DaemonSet{
				ObjectMeta: metav1.ObjectMeta{Namespace: canaryNS, Name: "agent"},
				Status:     appsv1.DaemonSetStatus{DesiredNumberScheduled: 4, UpdatedNumberScheduled: 4, NumberReady: 4, NumberAvailable: 3},
			}},
			wantErr: "DaemonSet rehearse-canary/agent: ready 4/4, updated 4/4, available 3/4",
		},
		{
			name: "ready statefulset and daemonset",
			objects: []runtime.Object{
				&appsv1.StatefulSet{
					ObjectMeta: metav1.ObjectMeta{Namespace: canaryNS, Name: "db"},
					Spec:       appsv1.StatefulSetSpec{Replicas: new(int32(2))},
					Status:     appsv1.StatefulSetStatus{Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2},
				},
				&appsv1.DaemonSet{
					ObjectMeta: metav1.ObjectMeta{Namespace: canaryNS, Name: "agent"},
					Status:     appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberReady: 2, NumberAvailable: 2},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset(tt.objects...)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()

			err := WaitWorkloadsReady(ctx, c, []string{canaryNS}, 5*time.Millisecond)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
		})
	}
}

func TestWaitWorkloadsReadyPollsUntilReady(t *testing.T) {
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: canaryNS, Name: "canary"},
		Spec:       appsv1.DeploymentSpec{Replicas: new(int32(1))},
	}
	c := fake.NewClientset(dep)
	lists := 0
	c.PrependReactor("list", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		lists++
		if lists == 3 {
			ready := dep.DeepCopy()
			ready.Status = appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
			gvr := appsv1.SchemeGroupVersion.WithResource("deployments")
			if err := c.Tracker().Update(gvr, ready, canaryNS); err != nil {
				return true, nil, err
			}
		}
		return false, nil, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	require.NoError(t, WaitWorkloadsReady(ctx, c, []string{canaryNS}, time.Millisecond))
	assert.Equal(t, 3, lists, "returns on the first poll that sees the rollout done")
}

func TestCopyWorkloadsIngress(t *testing.T) {
	ing := &networkingv1.Ingress{
		ObjectMeta: serverMeta(canaryNS, "canary", canaryLabels),
		Spec: networkingv1.IngressSpec{
			IngressClassName: new("nginx"),
			Rules: []networkingv1.IngressRule{{Host: "shop.example", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: new(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: "canary", Port: networkingv1.ServiceBackendPort{Number: 80}},
				}}},
			}}}},
		},
		Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.9"}}}},
	}
	a := fake.NewClientset(append(canarySource(), ing)...)
	b := fake.NewClientset()

	report, err := CopyWorkloads(context.Background(), a, b, CopySelection{Namespaces: []string{canaryNS}})
	require.NoError(t, err)
	assert.Contains(t, report.Copied, "Ingress rehearse-canary/canary")
	assert.Equal(t, []string{"namespaces", "configmaps", "secrets", "serviceaccounts", "services", "ingresses", "poddisruptionbudgets", "deployments"}, createdResources(b),
		"an Ingress comes after the Services it routes to")
	want := ing.DeepCopy()
	want.ObjectMeta = cleanMeta(canaryNS, "canary", canaryLabels)
	want.Status = networkingv1.IngressStatus{}
	assert.Equal(t, want, written(t, b)["ingresses rehearse-canary/canary"])
}

var (
	widgetsGVR   = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	httpRouteGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
)

// customDiscovery is what cluster A's discovery serves: built-in kinds, a custom kind in two versions
// (v1 preferred) with a status subresource, a cluster-scoped custom kind, a custom kind in a
// *.k8s.io group, and an aggregated API.
func customDiscovery() []*metav1.APIResourceList {
	all := metav1.Verbs{"get", "list", "watch", "create", "update", "patch", "delete"}
	return []*metav1.APIResourceList{
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{{Name: "deployments", Kind: "Deployment", Namespaced: true, Verbs: all}}},
		{GroupVersion: "networking.k8s.io/v1", APIResources: []metav1.APIResource{{Name: "ingresses", Kind: "Ingress", Namespaced: true, Verbs: all}}},
		{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
			{Name: "widgets", Kind: "Widget", Namespaced: true, Verbs: all},
			{Name: "widgets/status", Kind: "Widget", Namespaced: true, Verbs: metav1.Verbs{"get", "update", "patch"}},
			{Name: "gizmos", Kind: "Gizmo", Namespaced: false, Verbs: all},
		}},
		{GroupVersion: "example.com/v1beta1", APIResources: []metav1.APIResource{{Name: "widgets", Kind: "Widget", Namespaced: true, Verbs: all}}},
		{GroupVersion: "gateway.networking.k8s.io/v1", APIResources: []metav1.APIResource{{Name: "httproutes", Kind: "HTTPRoute", Namespaced: true, Verbs: all}}},
		{GroupVersion: "metrics.k8s.io/v1beta1", APIResources: []metav1.APIResource{{Name: "pods", Kind: "PodMetrics", Namespaced: true, Verbs: metav1.Verbs{"get", "list", "create", "update"}}}},
	}
}

func crd(name, group, plural, kind string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": name, "resourceVersion": "9", "uid": "u-" + name, "generation": int64(2)},
		"spec": map[string]any{
			"group": group, "scope": "Namespaced",
			"names":    map[string]any{"plural": plural, "kind": kind},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true}},
		},
		"status": map[string]any{"conditions": []any{map[string]any{"type": "Established", "status": "True"}}},
	}}
	return u
}

func widget(ns, name string, mods ...func(*unstructured.Unstructured)) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{
			"name": name, "namespace": ns, "labels": map[string]any{"app": "canary"},
			"resourceVersion": "5", "uid": "u-" + name, "generation": int64(3),
			"annotations": map[string]any{lastAppliedAnnotation: "{}", "rehearse.io/note": "kept"},
		},
		"spec":   map[string]any{"size": int64(3)},
		"status": map[string]any{"phase": "Ready"},
	}}
	for _, m := range mods {
		m(u)
	}
	return u
}

func newDynamic(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		crdResource:  "CustomResourceDefinitionList",
		widgetsGVR:   "WidgetList",
		httpRouteGVR: "HTTPRouteList",
	}, objs...)
}

// customSource is cluster A with custom resources: one Widget to copy, one its controller made, one
// in an unselected namespace, and no HTTPRoute.
func customSource() CopyClients {
	kube := fake.NewClientset()
	kube.Discovery().(*fakediscovery.FakeDiscovery).Resources = customDiscovery()
	owned := widget(canaryNS, "made", func(u *unstructured.Unstructured) {
		u.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "WidgetSet", Name: "set", UID: "s", Controller: new(true)}})
	})
	return CopyClients{Kube: kube, Dynamic: newDynamic(
		crd("widgets.example.com", "example.com", "widgets", "Widget"),
		crd("httproutes.gateway.networking.k8s.io", "gateway.networking.k8s.io", "httproutes", "HTTPRoute"),
		widget(canaryNS, "gadget"), owned, widget("elsewhere", "other"),
	)}
}

// customTarget is a cluster B whose API server establishes a definition as it is created (and keeps
// its status through an update, as the status subresource does), unless told not to.
func customTarget(establish bool) (CopyClients, *dynamicfake.FakeDynamicClient) {
	dyn := newDynamic()
	for _, verb := range []string{"create", "update"} {
		dyn.PrependReactor(verb, "customresourcedefinitions", func(act k8stesting.Action) (bool, runtime.Object, error) {
			u := act.(interface{ GetObject() runtime.Object }).GetObject().(*unstructured.Unstructured)
			if establish {
				_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"type": "Established", "status": "True"}}, "status", "conditions")
			}
			return false, nil, nil
		})
	}
	return CopyClients{Kube: fake.NewClientset(), Dynamic: dyn}, dyn
}

func TestCopyCustomResources(t *testing.T) {
	ctx := context.Background()
	from := customSource()
	to, dyn := customTarget(true)

	report, err := CopyCustomResources(ctx, from, to, CopySelection{Namespaces: []string{canaryNS}})
	require.NoError(t, err)
	assert.Equal(t, []string{"CustomResourceDefinition widgets.example.com", "Widget rehearse-canary/gadget"}, report.Copied,
		"the definition first; only the definitions of kinds with objects to copy")
	assert.Equal(t, []string{
		"Widget rehearse-canary/made: made by its controller from WidgetSet set",
		"PodMetrics (pods.metrics.k8s.io): served by an aggregated API, not by a CustomResourceDefinition",
	}, report.Skipped)

	got, err := dyn.Resource(widgetsGVR).Namespace(canaryNS).Get(ctx, "gadget", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{
			"name": "gadget", "namespace": canaryNS, "labels": map[string]any{"app": "canary"},
			"annotations": map[string]any{"rehearse.io/note": "kept"},
		},
		"spec": map[string]any{"size": int64(3)},
	}, got.Object, "server-set metadata and status are not copied")
	def, err := dyn.Resource(crdResource).Get(ctx, "widgets.example.com", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, def.GetUID())
	assert.Equal(t, "Namespaced", def.Object["spec"].(map[string]any)["scope"])
	_, err = dyn.Resource(crdResource).Get(ctx, "httproutes.gateway.networking.k8s.io", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no HTTPRoute to copy, no definition copied")
	for _, act := range from.Dynamic.(*dynamicfake.FakeDynamicClient).Actions() {
		assert.Equal(t, "list", act.GetVerb(), "the source is only read: %v", act)
		assert.NotEqual(t, "elsewhere", act.GetNamespace(), "unselected namespaces are not read")
	}

	// A second copy updates what is there.
	dyn.ClearActions()
	report, err = CopyCustomResources(ctx, from, to, CopySelection{Namespaces: []string{canaryNS}})
	require.NoError(t, err)
	assert.Len(t, report.Copied, 2)
	for _, act := range dyn.Actions() {
		assert.NotEqual(t, "create", act.GetVerb(), "%v", act)
	}
}

func TestCopyCustomResourcesLabelSelector(t *testing.T) {
	to, _ := customTarget(true)
	report, err := CopyCustomResources(context.Background(), customSource(), to, CopySelection{Namespaces: []string{canaryNS}, LabelSelector: "app=other"})
	require.NoError(t, err)
	assert.Empty(t, report.Copied, "nothing matches: no definition is needed either")

	_, err = CopyCustomResources(context.Background(), customSource(), to, CopySelection{LabelSelector: "app in (("})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "label selector")
}

func TestCopyCustomResourcesWaitsForEstablished(t *testing.T) {
	to, dyn := customTarget(false)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	report, err := CopyCustomResources(ctx, customSource(), to, CopySelection{Namespaces: []string{canaryNS}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not Established on target")
	assert.Contains(t, err.Error(), "widgets.example.com")
	assert.Equal(t, []string{"CustomResourceDefinition widgets.example.com"}, report.Copied)
	_, gerr := dyn.Resource(widgetsGVR).Namespace(canaryNS).Get(context.Background(), "gadget", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(gerr), "no custom resource before its definition is Established")
}

func TestCopyApplication(t *testing.T) {
	from := customSource()
	from.Kube = fake.NewClientset(canarySource()...)
	from.Kube.Discovery().(*fakediscovery.FakeDiscovery).Resources = customDiscovery()
	to, _ := customTarget(true)
	to.Kube = fake.NewClientset()

	report, err := CopyApplication(context.Background(), from, to, CopySelection{Namespaces: []string{canaryNS}})
	require.NoError(t, err)
	want := append(append([]string{}, wantCanaryCopied...), "CustomResourceDefinition widgets.example.com", "Widget rehearse-canary/gadget")
	assert.Equal(t, want, report.Copied)
	assert.Equal(t, wantCanarySkipped, report.Skipped[:len(wantCanarySkipped)])
}

func TestCustomKindsDiscoveryFailure(t *testing.T) {
	kube := fake.NewClientset()
	kube.PrependReactor("get", "resource", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	kube.Discovery().(*fakediscovery.FakeDiscovery).Resources = customDiscovery()
	to, _ := customTarget(true)
	_, err := CopyCustomResources(context.Background(), CopyClients{Kube: kube, Dynamic: newDynamic()}, to, CopySelection{Namespaces: []string{canaryNS}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "discover the kinds the source serves: connection refused")
}
