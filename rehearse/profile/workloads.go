package profile

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/rehearse/rehearse/scenarios"
)

// Workload is one of the user's Deployments, StatefulSets or DaemonSets
// seen in the profiled cluster.
type Workload struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Replicas is the desired replica count; for a DaemonSet, the number
	// of nodes it is meant to run on.
	Replicas int32 `json:"replicas"`
	// Budgets are the PodDisruptionBudgets whose selector matches the
	// workload's pod template.
	Budgets []Budget `json:"budgets,omitempty"`
	// BudgetsUnknown is set when the budgets could not be listed.
	BudgetsUnknown bool `json:"budgetsUnknown,omitempty"`
	// Images are the images of its containers and init containers.
	Images []string `json:"images"`
	// DrainRisk says why draining a node that runs its pods blocks or
	// causes an outage; empty when it does neither.
	DrainRisk string `json:"drainRisk,omitempty"`
}

// Budget is a PodDisruptionBudget as a workload sees it.
type Budget struct {
	Name           string `json:"name"`
	MinAvailable   string `json:"minAvailable,omitempty"`
	MaxUnavailable string `json:"maxUnavailable,omitempty"`
	// DisruptionsAllowed is the budget's current status.
	DisruptionsAllowed int32 `json:"disruptionsAllowed"`
}

// Workload kinds.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
)

// cniOperatorNamespaces hold a CNI's operator or API server rather than
// its DaemonSet; they are system namespaces too.
func cniOperatorNamespaces() []string {
	return []string{"tigera-operator", "calico-system", "calico-apiserver", "cilium-secrets"}
}

// systemNamespaces are the namespaces the profile does not list workloads
// from beyond the kube-* ones: those of the CNI's DaemonSets and of known
// CNI operators.
func systemNamespaces(dss []appsv1.DaemonSet) map[string]bool {
	out := map[string]bool{}
	for _, ns := range cniOperatorNamespaces() {
		out[ns] = true
	}
	for _, ds := range dss {
		for _, k := range knownCNIs() {
			if strings.Contains(ds.Name, k.match) {
				out[ds.Namespace] = true
			}
		}
	}
	return out
}

func isSystemNamespace(ns string, system map[string]bool) bool {
	return strings.HasPrefix(ns, "kube-") || system[ns]
}

// workloadInput is what userWorkloads reads.
type workloadInput struct {
	deployments  []appsv1.Deployment
	statefulSets []appsv1.StatefulSet
	daemonSets   []appsv1.DaemonSet
	budgets      []policyv1.PodDisruptionBudget
	budgetsKnown bool
	// system are namespaces to leave out beside kube-*.
	system map[string]bool
}

// userWorkloads lists the workloads outside the system namespaces, sorted
// by namespace, kind and name, each with its budgets and drain risk.
func userWorkloads(in workloadInput) []Workload {
	var out []Workload
	add := func(kind string, meta metav1.ObjectMeta, replicas int32, tmpl corev1.PodTemplateSpec) {
		if isSystemNamespace(meta.Namespace, in.system) {
			return
		}
		w := Workload{Kind: kind, Namespace: meta.Namespace, Name: meta.Name, Replicas: replicas,
			Images: images(tmpl.Spec), BudgetsUnknown: !in.budgetsKnown}
		w.Budgets = budgetsFor(meta.Namespace, tmpl.Labels, in.budgets)
		w.DrainRisk = drainRisk(w)
		out = append(out, w)
	}
	for _, d := range in.deployments {
		add(KindDeployment, d.ObjectMeta, replicasOf(d.Spec.Replicas), d.Spec.Template)
	}
	for _, s := range in.statefulSets {
		add(KindStatefulSet, s.ObjectMeta, replicasOf(s.Spec.Replicas), s.Spec.Template)
	}
	for _, d := range in.daemonSets {
		add(KindDaemonSet, d.ObjectMeta, d.Status.DesiredNumberScheduled, d.Spec.Template)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
	return out
}

// replicasOf is a Deployment's or StatefulSet's replica count (1 when unset,
// as the API server defaults it).
func replicasOf(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// images lists a pod's init and main container images, each once.
func images(spec corev1.PodSpec) []string {
	var out []string
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range cs {
			if c.Image != "" && !slices.Contains(out, c.Image) {
				out = append(out, c.Image)
			}
		}
	}
	return out
}

// budgetsFor are the budgets in ns that select pods labelled podLabels. A
// budget with an empty selector selects every pod of its namespace, one
// without a selector none (policy/v1).
func budgetsFor(ns string, podLabels map[string]string, pdbs []policyv1.PodDisruptionBudget) []Budget {
	var out []Budget
	for _, pdb := range pdbs {
		if pdb.Namespace != ns {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(podLabels)) {
			continue
		}
		b := Budget{Name: pdb.Name, DisruptionsAllowed: pdb.Status.DisruptionsAllowed}
		if v := pdb.Spec.MinAvailable; v != nil {
			b.MinAvailable = v.String()
		}
		if v := pdb.Spec.MaxUnavailable; v != nil {
			b.MaxUnavailable = v.String()
		}
		out = append(out, b)
	}
	return out
}

// drainRisk says why draining a node that runs w's pods blocks or breaks
// it, or "" when it does neither. A drain leaves DaemonSet pods alone, and
// a workload scaled to zero has no pods to evict.
func drainRisk(w Workload) string {
	if w.Kind == KindDaemonSet || w.Replicas == 0 || w.BudgetsUnknown {
		return ""
	}
	for _, b := range w.Budgets {
		if b.DisruptionsAllowed == 0 {
			return "PodDisruptionBudget " + b.Name + " allows 0 disruptions: a drain of a node that runs its pods blocks"
		}
	}
	if len(w.Budgets) > 0 {
		return ""
	}
	if w.Replicas == 1 {
		return "no PodDisruptionBudget: a drain evicts its only pod (an outage until it runs again elsewhere)"
	}
	return "no PodDisruptionBudget: a drain may evict all its pods at once (an outage)"
}

// describe is one line about w: kind, name, replicas, budgets, images and
// drain risk.
func (w Workload) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s/%s: ", w.Kind, w.Namespace, w.Name)
	if w.Kind == KindDaemonSet {
		fmt.Fprintf(&b, "on %s", plural(int(w.Replicas), "node"))
	} else {
		b.WriteString(plural(int(w.Replicas), "replica"))
	}
	switch {
	case w.BudgetsUnknown:
		b.WriteString(", PodDisruptionBudgets not known")
	case len(w.Budgets) == 0:
		b.WriteString(", no PDB")
	}
	for _, pdb := range w.Budgets {
		fmt.Fprintf(&b, ", PDB %s", pdb.Name)
		if pdb.MinAvailable != "" {
			fmt.Fprintf(&b, " minAvailable %s", pdb.MinAvailable)
		}
		if pdb.MaxUnavailable != "" {
			fmt.Fprintf(&b, " maxUnavailable %s", pdb.MaxUnavailable)
		}
		fmt.Fprintf(&b, " (%s allowed)", plural(int(pdb.DisruptionsAllowed), "disruption"))
	}
	if len(w.Images) > 0 {
		fmt.Fprintf(&b, "; images: %s", strings.Join(w.Images, ", "))
	}
	if w.DrainRisk != "" {
		fmt.Fprintf(&b, "; DRAIN RISK: %s", w.DrainRisk)
	}
	return b.String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// WorkloadsStub is the workloads seen, as commented scenario YAML: a
// workloads entry per namespace, each workload described under it, and
// the images they run. Commented, so the scenario loads as written; the
// user exports the manifests and uncomments the entries.
func (p *Profile) WorkloadsStub() string {
	var b strings.Builder
	if len(p.Workloads) == 0 {
		b.WriteString("# No workloads (Deployments, StatefulSets, DaemonSets) were seen outside the system namespaces (kube-*, the CNI's).\n")
		return b.String()
	}
	b.WriteString("# Workloads seen in production (read-only); export their manifests into a folder and list it here:\n")
	b.WriteString("# workloads:\n")
	ns := ""
	var imgs []string
	for _, w := range p.Workloads {
		if w.Namespace != ns {
			ns = w.Namespace
			fmt.Fprintf(&b, "#   - path: manifests/%s\n#     namespace: %s\n", ns, ns)
		}
		fmt.Fprintf(&b, "#     # %s\n", w.describe())
		for _, img := range w.Images {
			if !slices.Contains(imgs, img) {
				imgs = append(imgs, img)
			}
		}
	}
	if len(imgs) > 0 {
		b.WriteString("# If the kind nodes cannot pull these images, pull or save them locally and list them here:\n")
		b.WriteString("# images:\n")
		for _, img := range imgs {
			fmt.Fprintf(&b, "#   - %s\n", img)
		}
	}
	return b.String()
}

// ScenarioYAML is the scenario that reproduces the profiled cluster's shape
// (Scenario), followed by the commented stub of the workloads seen
// (WorkloadsStub).
func (p *Profile) ScenarioYAML(name string) ([]byte, error) {
	body, err := scenarios.Marshal(p.Scenario(name))
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", name, err)
	}
	return append(body, p.WorkloadsStub()...), nil
}
