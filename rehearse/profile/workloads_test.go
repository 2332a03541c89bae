package profile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rehearse/rehearse/scenarios"
)

func statefulSet(ns, name string, replicas int32, lbl map[string]string, image string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.StatefulSetSpec{Replicas: &replicas, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: lbl},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image}}}}}}
}

func userDaemonSet(ns, name string, nodes int32, image string) *appsv1.DaemonSet {
	d := ds(ns, name)
	d.Spec.Template.Spec.Containers[0].Image = image
	d.Status.DesiredNumberScheduled = nodes
	return d
}

func budget(ns, name string, minAvailable, maxUnavailable *intstr.IntOrString, allowed int32, lbl map[string]string) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:   policyv1.PodDisruptionBudgetSpec{MinAvailable: minAvailable, MaxUnavailable: maxUnavailable, Selector: &metav1.LabelSelector{MatchLabels: lbl}},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed, ExpectedPods: 3}}
}

// withWorkloads is kindCluster (whose shop/cart runs 1 replica behind a
// budget that allows 0 disruptions) and the user's workloads around it,
// some in system namespaces.
func withWorkloads() []runtime.Object {
	one, half := intstr.FromInt32(1), intstr.FromString("50%")
	web := deploy("shop", "web", 3, map[string]string{"app": "web"}, "registry.example.com/shop/web:1.2")
	web.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "registry.example.com/shop/migrate:1.2"}}
	web.Spec.Template.Spec.Containers = append(web.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar", Image: "registry.example.com/shop/web:1.2"})
	return append(kindCluster(),
		web,
		budget("shop", "web-pdb", nil, &one, 1, map[string]string{"app": "web"}),
		statefulSet("shop", "db", 1, map[string]string{"app": "db"}, "postgres:16"),
		deploy("shop", "old", 0, map[string]string{"app": "old"}, "old:1"),
		deploy("billing", "api", 2, map[string]string{"app": "api"}, "registry.example.com/billing/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
		budget("billing", "other", &half, nil, 1, map[string]string{"app": "other"}),
		userDaemonSet("billing", "log-agent", 3, "fluent/fluent-bit:3.0"),
		// System namespaces: kube-*, the CNI's DaemonSets' and CNI operators'.
		deploy("kube-public", "dashboard", 1, nil, "dashboard:1"),
		deploy("local-net", "weave-helper", 1, nil, "weave-helper:1"),
		userDaemonSet("local-net", "weave-net", 3, "weaveworks/weave-kube:2.8.1"),
		deploy("tigera-operator", "tigera-operator", 1, nil, "quay.io/tigera/operator:v1.36"),
	)
}

func TestDiscoverWorkloads(t *testing.T) {
	c, verbs := client("v1.35.4", withWorkloads()...)
	p, err := Discover(context.Background(), c)
	require.NoError(t, err)
	for _, v := range *verbs {
		assert.Contains(t, []string{"get", "list", "watch"}, v, "profiling must only read")
	}
	assert.Equal(t, "flannel", p.CNI, "the workloads do not change the shape")

	var seen []string
	for _, w := range p.Workloads {
		seen = append(seen, w.Kind+" "+w.Namespace+"/"+w.Name)
	}
	assert.Equal(t, []string{
		"DaemonSet billing/log-agent", "Deployment billing/api",
		"Deployment shop/cart", "Deployment shop/old", "Deployment shop/web", "StatefulSet shop/db",
	}, seen)

	stub := p.WorkloadsStub()
	for _, want := range []string{
		"# Workloads seen in production (read-only); export their manifests into a folder and list it here:\n# workloads:\n",
		"#   - path: manifests/billing\n#     namespace: billing\n",
		"#     # DaemonSet billing/log-agent: on 3 nodes, no PDB; images: fluent/fluent-bit:3.0\n",
		"#     # Deployment billing/api: 2 replicas, no PDB; images: registry.example.com/billing/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef; DRAIN RISK: no PodDisruptionBudget: a drain may evict all its pods at once (an outage)\n",
		"#   - path: manifests/shop\n#     namespace: shop\n",
		"#     # Deployment shop/cart: 1 replica, PDB cart minAvailable 1 (0 disruptions allowed); images: cart:1; DRAIN RISK: PodDisruptionBudget cart allows 0 disruptions: a drain of a node that runs its pods blocks\n",
		"#     # Deployment shop/old: 0 replicas, no PDB; images: old:1\n",
		"#     # Deployment shop/web: 3 replicas, PDB web-pdb maxUnavailable 1 (1 disruption allowed); images: registry.example.com/shop/migrate:1.2, registry.example.com/shop/web:1.2\n",
		"#     # StatefulSet shop/db: 1 replica, no PDB; images: postgres:16; DRAIN RISK: no PodDisruptionBudget: a drain evicts its only pod (an outage until it runs again elsewhere)\n",
		"# images:\n#   - fluent/fluent-bit:3.0\n",
	} {
		assert.Contains(t, stub, want)
	}
	for _, system := range []string{"dashboard", "weave", "tigera", "coredns", "flannel"} {
		assert.NotContains(t, stub, system, "system namespaces are left out")
	}
	assert.Equal(t, 1, strings.Count(stub, "#   - registry.example.com/shop/web:1.2\n"), "each image is listed once:\n%s", stub)

	// As written, the scenario loads and has no workloads: the stub is
	// commented.
	doc, err := p.ScenarioYAML("prod-shape")
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(string(doc), stub))
	dir := t.TempDir()
	path := filepath.Join(dir, "prod-shape.yaml")
	require.NoError(t, os.WriteFile(path, doc, 0o644))
	sc, err := scenarios.Load(path)
	require.NoError(t, err, string(doc))
	assert.Empty(t, sc.Workloads)
	assert.Empty(t, sc.Images)

	// Uncommented, with the manifests exported into the folders it names,
	// it loads too, with one workload per namespace and every image.
	for _, ns := range []string{"billing", "shop"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "manifests", ns), 0o755))
	}
	require.NoError(t, os.WriteFile(path, uncomment(doc), 0o644))
	sc, err = scenarios.Load(path)
	require.NoError(t, err, string(uncomment(doc)))
	require.Len(t, sc.Workloads, 2)
	assert.Equal(t, "billing", sc.Workloads[0].Namespace)
	assert.Equal(t, filepath.Join(dir, "manifests", "shop"), sc.Workloads[1].Path)
	assert.Len(t, sc.Images, 7)
}

// uncomment does what the stub asks of the user: it strips "# " from the
// workloads: and images: entries.
func uncomment(doc []byte) []byte {
	lines := strings.Split(string(doc), "\n")
	for i, l := range lines {
		rest, ok := strings.CutPrefix(l, "# ")
		if ok && (strings.HasPrefix(rest, "workloads:") || strings.HasPrefix(rest, "images:") || strings.HasPrefix(rest, "  ")) {
			lines[i] = rest
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

func TestWorkloadsStubNone(t *testing.T) {
	c, _ := client("v1.35.4", node("kind-control-plane", true, "10.244.0.0/24", "kind://podman/kind/kind-control-plane", nil), ds("kube-flannel", "kube-flannel-ds"))
	p, err := Discover(context.Background(), c)
	require.NoError(t, err)
	assert.Empty(t, p.Workloads)
	assert.Equal(t, "# No workloads (Deployments, StatefulSets, DaemonSets) were seen outside the system namespaces (kube-*, the CNI's).\n", p.WorkloadsStub())
}

// When the budgets cannot be read, the stub says so and claims no drain
// risk; when the StatefulSets cannot, a note says so and the rest is listed.
func TestWorkloadsUnreadable(t *testing.T) {
	c, _ := client("v1.35.4", withWorkloads()...)
	c.PrependReactor("list", "poddisruptionbudgets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("poddisruptionbudgets is forbidden")
	})
	c.PrependReactor("list", "statefulsets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("statefulsets is forbidden")
	})
	p, err := Discover(context.Background(), c)
	require.NoError(t, err)
	stub := p.WorkloadsStub()
	assert.Contains(t, stub, "# Deployment shop/web: 3 replicas, PodDisruptionBudgets not known; images:")
	assert.NotContains(t, stub, "DRAIN RISK")
	assert.NotContains(t, stub, "shop/db")
	notes := strings.Join(p.Notes, "\n")
	assert.Contains(t, notes, "workloads: StatefulSets could not be listed: statefulsets is forbidden")
	assert.Contains(t, notes, "workloads: the PodDisruptionBudgets that guard them are not known")
}

func TestDrainRisk(t *testing.T) {
	allows := func(n int32) []Budget { return []Budget{{Name: "b", DisruptionsAllowed: n}} }
	for _, tc := range []struct {
		name string
		w    Workload
		want string
	}{
		{"budget with room", Workload{Kind: KindDeployment, Replicas: 3, Budgets: allows(1)}, ""},
		{"budget without room", Workload{Kind: KindStatefulSet, Replicas: 3, Budgets: allows(0)}, "PodDisruptionBudget b allows 0 disruptions: a drain of a node that runs its pods blocks"},
		{"one of two budgets without room", Workload{Kind: KindDeployment, Replicas: 3, Budgets: append(allows(1), Budget{Name: "c"})}, "PodDisruptionBudget c allows 0 disruptions: a drain of a node that runs its pods blocks"},
		{"no budget, one replica", Workload{Kind: KindDeployment, Replicas: 1}, "no PodDisruptionBudget: a drain evicts its only pod (an outage until it runs again elsewhere)"},
		{"no budget, replicas", Workload{Kind: KindStatefulSet, Replicas: 2}, "no PodDisruptionBudget: a drain may evict all its pods at once (an outage)"},
		{"scaled to zero", Workload{Kind: KindDeployment, Replicas: 0}, ""},
		{"daemonset: drains leave its pods", Workload{Kind: KindDaemonSet, Replicas: 3, Budgets: allows(0)}, ""},
		{"budgets unknown", Workload{Kind: KindDeployment, Replicas: 1, BudgetsUnknown: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, drainRisk(tc.w)) })
	}
}
