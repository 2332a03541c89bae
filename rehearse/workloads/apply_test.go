package workloads

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeMapper maps the built-in kinds at once and the kinds of `later` only
// after a Reset, as a discovery mapper does for kinds a
// CustomResourceDefinition made.
type fakeMapper struct {
	*meta.DefaultRESTMapper
	later  []schema.GroupVersionKind
	resets int
}

func newFakeMapper(later ...schema.GroupVersionKind) *fakeMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for _, k := range []struct {
		gvk   schema.GroupVersionKind
		scope meta.RESTScope
	}{
		{schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot},
		{schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace},
		{schema.GroupVersionKind{Version: "v1", Kind: "Service"}, meta.RESTScopeNamespace},
		{schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, meta.RESTScopeNamespace},
		{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace},
		{schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}, meta.RESTScopeNamespace},
		{schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, meta.RESTScopeRoot},
		{schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}, meta.RESTScopeRoot},
	} {
		m.Add(k.gvk, k.scope)
	}
	return &fakeMapper{DefaultRESTMapper: m, later: later}
}

func (m *fakeMapper) Reset() {
	m.resets++
	for _, gvk := range m.later {
		m.Add(gvk, meta.RESTScopeNamespace)
	}
	m.later = nil
}

// fakeCluster is a dynamic fake whose server-side apply creates or
// replaces the object (the fake's own apply needs the object to exist),
// recording every apply in order.
type fakeCluster struct {
	*dynamicfake.FakeDynamicClient
	applies []k8stesting.PatchActionImpl
	// onApply may change an object as the cluster would (status).
	onApply func(*unstructured.Unstructured)
}

func newFakeCluster(objs ...runtime.Object) *fakeCluster {
	c := &fakeCluster{FakeDynamicClient: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{
			{Version: "v1", Resource: "pods"}:                             "PodList",
			{Group: "apps", Version: "v1", Resource: "deployments"}:       "DeploymentList",
			{Group: "example.com", Version: "v1", Resource: "widgets"}:    "WidgetList",
			{Group: "apiextensions.k8s.io", Version: "v1", Resource: "x"}: "XList",
		}, objs...)}
	c.PrependReactor("patch", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		pa, ok := action.(k8stesting.PatchActionImpl)
		if !ok || pa.GetPatchType() != types.ApplyPatchType {
			return false, nil, nil
		}
		c.applies = append(c.applies, pa)
		obj := &unstructured.Unstructured{}
		if err := json.Unmarshal(pa.GetPatch(), &obj.Object); err != nil {
			return true, nil, err
		}
		if c.onApply != nil {
			c.onApply(obj)
		}
		gvr, ns := pa.GetResource(), pa.GetNamespace()
		var err error
		if _, gerr := c.Tracker().Get(gvr, ns, pa.GetName()); apierrors.IsNotFound(gerr) {
			err = c.Tracker().Create(gvr, obj, ns)
		} else {
			err = c.Tracker().Update(gvr, obj, ns)
		}
		return true, obj, err
	})
	return c
}

// applied lists "resource namespace/name" of each apply, in order.
func (c *fakeCluster) applied() []string {
	out := make([]string, len(c.applies))
	for i, a := range c.applies {
		out[i] = objectRef(a.GetResource().Resource, a.GetNamespace(), a.GetName())
	}
	return out
}

// established marks applied definitions Established and workloads rolled
// out, as a healthy cluster soon would.
func established(u *unstructured.Unstructured) {
	switch u.GetKind() {
	case "CustomResourceDefinition":
		_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"type": "Established", "status": "True"}}, "status", "conditions")
	case "Deployment":
		_ = unstructured.SetNestedMap(u.Object, map[string]any{
			"replicas": int64(1), "updatedReplicas": int64(1), "readyReplicas": int64(1), "availableReplicas": int64(1),
		}, "status")
	}
}

func obj(apiVersion, kind, ns, name string, fields map[string]any) Object {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	for k, v := range fields {
		u.Object[k] = v
	}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetName(name)
	u.SetNamespace(ns)
	return Object{Object: u, Origin: "app.yaml, document 1 (line 1)"}
}

func deployment(ns, name string) Object {
	return obj("apps/v1", "Deployment", ns, name, map[string]any{"spec": map[string]any{
		"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
		"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"app": name}},
			"spec":     map[string]any{"containers": []any{map[string]any{"name": name, "image": "shop/" + name + ":1.2"}}},
		},
	}})
}

var widgetGVK = schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}

func fastOptions() Options {
	return Options{Timeout: 300 * time.Millisecond, Interval: 20 * time.Millisecond}
}

func TestApplyOrderAndNamespaces(t *testing.T) {
	c := newFakeCluster()
	c.onApply = established
	mapper := newFakeMapper(widgetGVK)
	objs := []Object{
		obj("example.com/v1", "Widget", "", "gadget", nil),
		deployment("", "web"),
		obj("rbac.authorization.k8s.io/v1", "ClusterRole", "shop", "reader", nil),
		obj("v1", "Service", "", "web", nil),
		obj("v1", "ConfigMap", "other", "settings", nil),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com", nil),
		obj("v1", "Namespace", "", "shop", nil),
	}
	for i := range objs {
		objs[i].DefaultNamespace = "shop"
	}
	objs[4].DefaultNamespace = "" // not used: it names its namespace

	applied, err := newApplier(c, mapper).Apply(context.Background(), objs, fastOptions())
	require.NoError(t, err)
	assert.Equal(t, []string{
		"customresourcedefinitions widgets.example.com", // foundations keep their written order
		"namespaces shop",
		"clusterroles reader", // cluster-scoped: its namespace dropped
		"services shop/web",
		"namespaces other", // declared by no object: made first
		"configmaps other/settings",
		"deployments shop/web",
		"widgets shop/gadget", // maps only after the mapper was reset
	}, c.applied())
	for _, a := range c.applies {
		assert.Equal(t, FieldManager, a.PatchOptions.FieldManager)
		assert.True(t, *a.PatchOptions.Force)
	}
	assert.Equal(t, 1, mapper.resets)
	want := Applied{
		{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition", Name: "widgets.example.com"},
		{APIVersion: "v1", Kind: "Namespace", Name: "shop"},
		{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: "reader"},
		{APIVersion: "v1", Kind: "Service", Namespace: "shop", Name: "web"},
		{APIVersion: "v1", Kind: "Namespace", Name: "other"},
		{APIVersion: "v1", Kind: "ConfigMap", Namespace: "other", Name: "settings"},
		{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"},
		{APIVersion: "example.com/v1", Kind: "Widget", Namespace: "shop", Name: "gadget"},
	}
	assert.Equal(t, want, applied)
	assert.Equal(t, []string{"other", "shop"}, applied.Namespaces())
	// The caller's objects are left as they were.
	assert.Empty(t, objs[1].Object.GetNamespace())
}

func TestApplyDefaultNamespace(t *testing.T) {
	c := newFakeCluster()
	applied, err := newApplier(c, newFakeMapper()).Apply(context.Background(),
		[]Object{obj("v1", "ConfigMap", "", "settings", nil)}, fastOptions())
	require.NoError(t, err)
	// "default" exists in every cluster: no Namespace is applied for it.
	assert.Equal(t, []string{"configmaps default/settings"}, c.applied())
	assert.Equal(t, Applied{{APIVersion: "v1", Kind: "ConfigMap", Namespace: "default", Name: "settings"}}, applied)
}

func TestApplyUnknownKind(t *testing.T) {
	c := newFakeCluster()
	_, err := newApplier(c, newFakeMapper()).Apply(context.Background(), []Object{
		obj("example.com/v1", "Widget", "shop", "gadget", nil),
		obj("v1", "ConfigMap", "shop", "settings", nil),
	}, fastOptions())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Widget shop/gadget (app.yaml, document 1 (line 1)): the cluster serves no kind Widget in example.com/v1")
	// Every object is attempted.
	assert.Equal(t, []string{"namespaces shop", "configmaps shop/settings"}, c.applied())
}

func TestApplyCRDNotEstablished(t *testing.T) {
	c := newFakeCluster()
	c.onApply = func(u *unstructured.Unstructured) {
		if u.GetKind() == "CustomResourceDefinition" {
			_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{
				"type": "NamesAccepted", "status": "False", "reason": "ListKindConflict", "message": "WidgetList is taken",
			}}, "status", "conditions")
		}
	}
	_, err := newApplier(c, newFakeMapper()).Apply(context.Background(), []Object{
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com", nil),
	}, fastOptions())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CustomResourceDefinitions not Established after 300ms")
	assert.Contains(t, err.Error(), "CustomResourceDefinition widgets.example.com: names not accepted: ListKindConflict: WidgetList is taken")
}

func pod(ns, name, app, node string, status map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{"app": app}},
		"spec":     map[string]any{"nodeName": node, "containers": []any{map[string]any{"name": app, "image": "shop/" + app}}},
		"status":   status,
	}}
	return u
}

func TestApplyWaitNamesWhatIsNotReady(t *testing.T) {
	stuck := pod("shop", "web-abc", "web", "worker2", map[string]any{
		"phase": "Pending",
		"containerStatuses": []any{map[string]any{
			"name": "web", "state": map[string]any{"waiting": map[string]any{
				"reason": "ErrImageNeverPull", "message": `Container image "shop/web:1.2" is not present with pull policy of Never`,
			}},
		}},
	})
	healthy := pod("shop", "web-aaa", "web", "worker", map[string]any{
		"phase": "Running", "conditions": []any{map[string]any{"type": "Ready", "status": "True"}},
	})
	c := newFakeCluster(stuck, healthy)
	var progress []string
	o := fastOptions()
	o.Progress = func(s string) { progress = append(progress, s) }
	applied, err := newApplier(c, newFakeMapper()).Apply(context.Background(), []Object{deployment("shop", "web"), deployment("shop", "api")}, o)
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "2 of 2 workloads not ready after 300ms")
	assert.Contains(t, msg, "Deployment shop/web (app.yaml, document 1 (line 1)): ready 0/1, updated 0/1, available 0/1: pod web-abc on worker2: Pending: container web ErrImageNeverPull: Container image \"shop/web:1.2\" is not present")
	assert.Contains(t, msg, "Deployment shop/api (app.yaml, document 1 (line 1)): ready 0/1, updated 0/1, available 0/1: no pods")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Len(t, applied, 3, "the namespace and both Deployments were applied")
	require.NotEmpty(t, progress)
	assert.Contains(t, progress[0], "Deployment shop/web")
}

func TestApplyWaitsUntilReady(t *testing.T) {
	c := newFakeCluster()
	looks := 0
	c.PrependReactor("get", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		looks++
		if looks < 3 {
			return false, nil, nil // as applied: no status yet
		}
		u, err := c.Tracker().Get(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, "shop", "web")
		if err != nil {
			return true, nil, err
		}
		d := u.(*unstructured.Unstructured).DeepCopy()
		established(d)
		return true, d, nil
	})
	o := fastOptions()
	o.Timeout = 5 * time.Second
	_, err := newApplier(c, newFakeMapper()).Apply(context.Background(), []Object{deployment("shop", "web")}, o)
	require.NoError(t, err)
	assert.Equal(t, 3, looks)
}

func TestPhaseOf(t *testing.T) {
	tests := []struct {
		gk   schema.GroupKind
		want int
	}{
		{schema.GroupKind{Kind: "Namespace"}, phaseFoundations},
		{schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}, phaseFoundations},
		{schema.GroupKind{Kind: "ServiceAccount"}, phaseSupport},
		{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}, phaseSupport},
		{schema.GroupKind{Kind: "Secret"}, phaseSupport},
		{schema.GroupKind{Kind: "PersistentVolumeClaim"}, phaseSupport},
		{schema.GroupKind{Kind: "Service"}, phaseSupport},
		{schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, phaseWorkloads},
		{schema.GroupKind{Group: "batch", Kind: "CronJob"}, phaseWorkloads},
		{schema.GroupKind{Kind: "Pod"}, phaseWorkloads},
		{schema.GroupKind{Group: "policy", Kind: "PodDisruptionBudget"}, phaseRest},
		{schema.GroupKind{Group: "networking.k8s.io", Kind: "Ingress"}, phaseRest},
		{schema.GroupKind{Group: "example.com", Kind: "Service"}, phaseRest},
		{schema.GroupKind{Group: "example.com", Kind: "Widget"}, phaseRest},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s.%s", tt.gk.Kind, tt.gk.Group), func(t *testing.T) {
			assert.Equal(t, tt.want, phaseOf(tt.gk))
		})
	}
}

func TestInOrderIsStable(t *testing.T) {
	objs := []Object{
		deployment("", "b"), obj("v1", "Secret", "", "s", nil), deployment("", "a"),
		obj("v1", "Namespace", "", "n", nil), obj("v1", "ConfigMap", "", "c", nil),
	}
	assert.Equal(t, []string{"Namespace n", "Secret s", "ConfigMap c", "Deployment b", "Deployment a"}, names(inOrder(objs)))
}
