package workloads

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/rehearse/rehearse/rehearse/readiness"
)

// Defaults of applying.
const (
	// FieldManager owns the fields rehearse applies.
	FieldManager = "rehearse"
	// DefaultTimeout bounds each wait: for the CustomResourceDefinitions
	// to be Established, and for the workloads to be ready.
	DefaultTimeout = 5 * time.Minute
	// mapRetry bounds waiting for a kind a CustomResourceDefinition just
	// made to appear in discovery.
	mapRetry = 30 * time.Second
	// applyRetry bounds retrying an apply that failed with a transient
	// error.
	applyRetry = 30 * time.Second
)

// Options tune Apply.
type Options struct {
	// Timeout bounds each wait; zero is DefaultTimeout.
	Timeout time.Duration
	// Interval is how often a wait looks; zero is readiness's default.
	Interval time.Duration
	// Progress, when set, is told what the waits see as it changes.
	Progress func(status string)
	// NoWait returns once everything is applied, without waiting for the
	// workloads to be ready.
	NoWait bool
}

// Ref names an applied object.
type Ref struct {
	APIVersion string
	Kind       string
	// Namespace is empty for a cluster-scoped object.
	Namespace string
	Name      string
}

// String is "Kind namespace/name", or "Kind name" when cluster-scoped.
func (r Ref) String() string { return objectRef(r.Kind, r.Namespace, r.Name) }

func (r Ref) groupKind() schema.GroupKind {
	return schema.FromAPIVersionAndKind(r.APIVersion, r.Kind).GroupKind()
}

// Applied lists the objects Apply applied, in the order it applied them.
type Applied []Ref

// Namespaces lists, sorted, the namespaces the applied objects are in and
// the Namespaces applied.
func (a Applied) Namespaces() []string {
	seen := map[string]bool{}
	var out []string
	add := func(ns string) {
		if ns != "" && !seen[ns] {
			seen[ns] = true
			out = append(out, ns)
		}
	}
	for _, r := range a {
		add(r.Namespace)
		if r.groupKind() == (schema.GroupKind{Kind: "Namespace"}) {
			add(r.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Applier applies objects to one cluster.
type Applier struct {
	dyn    dynamic.Interface
	mapper meta.ResettableRESTMapper
}

// NewApplier returns an Applier for the cluster cfg reaches, mapping kinds
// with the cluster's discovery.
func NewApplier(cfg *rest.Config) (*Applier, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	return newApplier(dyn, restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))), nil
}

func newApplier(dyn dynamic.Interface, mapper meta.ResettableRESTMapper) *Applier {
	return &Applier{dyn: dyn, mapper: mapper}
}

// Phases of applying, in order.
const (
	phaseFoundations = iota // Namespaces, CustomResourceDefinitions
	phaseSupport            // identities, RBAC, configuration, storage, Services
	phaseWorkloads          // what makes pods
	phaseRest               // custom resources, budgets, Ingress, ...
)

// phaseOf says when an object of the kind is applied.
func phaseOf(gk schema.GroupKind) int {
	switch gk.Group {
	case "":
		switch gk.Kind {
		case "Namespace":
			return phaseFoundations
		case "ServiceAccount", "ConfigMap", "Secret", "PersistentVolume", "PersistentVolumeClaim",
			"Service", "LimitRange", "ResourceQuota":
			return phaseSupport
		case "Pod", "ReplicationController":
			return phaseWorkloads
		}
	case "apiextensions.k8s.io":
		if gk.Kind == "CustomResourceDefinition" {
			return phaseFoundations
		}
	case "rbac.authorization.k8s.io":
		switch gk.Kind {
		case "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding":
			return phaseSupport
		}
	case "storage.k8s.io":
		if gk.Kind == "StorageClass" {
			return phaseSupport
		}
	case "scheduling.k8s.io":
		if gk.Kind == "PriorityClass" {
			return phaseSupport
		}
	case "apps":
		switch gk.Kind {
		case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet":
			return phaseWorkloads
		}
	case "batch":
		switch gk.Kind {
		case "Job", "CronJob":
			return phaseWorkloads
		}
	}
	return phaseRest
}

// inOrder returns the objects sorted by phase, keeping the written order
// within a phase.
func inOrder(objs []Object) []Object {
	out := slices.Clone(objs)
	slices.SortStableFunc(out, func(a, b Object) int {
		return phaseOf(a.Object.GroupVersionKind().GroupKind()) - phaseOf(b.Object.GroupVersionKind().GroupKind())
	})
	return out
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

func isCRD(gk schema.GroupKind) bool {
	return gk == schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
}

// systemNamespace says whether every cluster has the namespace.
func systemNamespace(ns string) bool {
	switch ns {
	case "default", "kube-system", "kube-public", "kube-node-lease":
		return true
	}
	return false
}

// run is one Apply call's state.
type run struct {
	a       *Applier
	o       Options
	applied Applied
	// namespaces are those applied or known to exist.
	namespaces map[string]bool
	// crds says CustomResourceDefinitions were applied: a kind that does
	// not map yet may appear in discovery shortly.
	crds bool
	// origins say where each applied object was read from.
	origins map[Ref]string
}

// Apply applies the objects server-side in dependency order (see the
// package documentation), creating the namespaces they are in that no
// object declares, then waits until the workloads are ready. Every object
// is attempted; errors name the object and where it was read, and are
// joined. It returns what it applied, also on error.
func (a *Applier) Apply(ctx context.Context, objs []Object, o Options) (Applied, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	r := &run{a: a, o: o, namespaces: map[string]bool{}}
	ordered := inOrder(objs)
	split := slices.IndexFunc(ordered, func(o Object) bool {
		return phaseOf(o.Object.GroupVersionKind().GroupKind()) != phaseFoundations
	})
	if split < 0 {
		split = len(ordered)
	}
	var errs []error
	var crds []Ref
	for _, obj := range ordered[:split] {
		ref, err := r.apply(ctx, obj)
		switch {
		case err != nil:
			errs = append(errs, err)
		case isCRD(ref.groupKind()):
			crds = append(crds, ref)
		}
	}
	if len(crds) > 0 {
		// Later objects may be of the kinds the definitions make.
		if err := r.establish(ctx, crds); err != nil {
			errs = append(errs, err)
		}
	}
	for _, obj := range ordered[split:] {
		if _, err := r.apply(ctx, obj); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return r.applied, fmt.Errorf("apply: %w", errors.Join(errs...))
	}
	if r.o.NoWait {
		return r.applied, nil
	}
	if err := r.waitReady(ctx); err != nil {
		return r.applied, err
	}
	return r.applied, nil
}

// mapping finds how the cluster serves the kind. Once definitions were
// applied, a kind that does not map is looked for again (the mapper is
// reset) until discovery shows it or mapRetry passes.
func (r *run) mapping(ctx context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	var m *meta.RESTMapping
	find := func() error {
		var err error
		m, err = r.a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil && r.crds && meta.IsNoMatchError(err) {
			r.a.mapper.Reset()
		}
		return err
	}
	if !r.crds {
		return m, find()
	}
	err := readiness.Retry(ctx, readiness.Options{Interval: r.o.Interval, Timeout: mapRetry}, meta.IsNoMatchError, find)
	return m, err
}

// apply applies one object, its namespace first when no object declares
// it.
func (r *run) apply(ctx context.Context, o Object) (Ref, error) {
	obj := o.Object.DeepCopy()
	gvk := obj.GroupVersionKind()
	m, err := r.mapping(ctx, gvk)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return Ref{}, fmt.Errorf("%s (%s): the cluster serves no kind %s in %s (is its CustomResourceDefinition applied?): %w",
				o, o.Origin, gvk.Kind, gvk.GroupVersion(), err)
		}
		return Ref{}, fmt.Errorf("%s (%s): %w", o, o.Origin, err)
	}
	ri := dynamic.ResourceInterface(r.a.dyn.Resource(m.Resource))
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			obj.SetNamespace(o.namespace())
		}
		if err := r.ensureNamespace(ctx, obj.GetNamespace()); err != nil {
			return Ref{}, fmt.Errorf("%s (%s): %w", objectRef(gvk.Kind, obj.GetNamespace(), obj.GetName()), o.Origin, err)
		}
		ri = r.a.dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
	} else {
		obj.SetNamespace("")
	}
	ref := Ref{APIVersion: obj.GetAPIVersion(), Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
	err = readiness.Retry(ctx, readiness.Options{Interval: r.o.Interval, Timeout: applyRetry}, nil, func() error {
		_, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
		return err
	})
	if err != nil {
		return Ref{}, fmt.Errorf("%s (%s): apply: %w", ref, o.Origin, err)
	}
	r.applied = append(r.applied, ref)
	if r.origins == nil {
		r.origins = map[Ref]string{}
	}
	r.origins[ref] = o.Origin
	if isCRD(gvk.GroupKind()) {
		r.crds = true
	}
	if gvk.GroupKind() == (schema.GroupKind{Kind: "Namespace"}) {
		r.namespaces[obj.GetName()] = true
	}
	return ref, nil
}

// namespace is where the object goes when it names no namespace.
func (o Object) namespace() string {
	if o.DefaultNamespace == "" {
		return DefaultNamespace
	}
	return o.DefaultNamespace
}

// ensureNamespace applies a Namespace no object declared, once.
func (r *run) ensureNamespace(ctx context.Context, ns string) error {
	if r.namespaces[ns] || systemNamespace(ns) {
		return nil
	}
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion("v1")
	obj.SetKind("Namespace")
	obj.SetName(ns)
	nsGVR := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	err := readiness.Retry(ctx, readiness.Options{Interval: r.o.Interval, Timeout: applyRetry}, nil, func() error {
		_, err := r.a.dyn.Resource(nsGVR).Apply(ctx, ns, obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
		return err
	})
	if err != nil {
		return fmt.Errorf("create its namespace %s: %w", ns, err)
	}
	r.namespaces[ns] = true
	r.applied = append(r.applied, Ref{APIVersion: "v1", Kind: "Namespace", Name: ns})
	return nil
}

// establish waits until every definition is Established, then refreshes
// the mapper so the kinds they make map.
func (r *run) establish(ctx context.Context, crds []Ref) error {
	var problems []string
	err := readiness.WaitFor(ctx, readiness.Options{Interval: r.o.Interval, Timeout: r.o.Timeout, Progress: r.o.Progress},
		func(ctx context.Context) (bool, string, error) {
			problems = problems[:0]
			for _, c := range crds {
				if why := r.crdProblem(ctx, c.Name); why != "" {
					problems = append(problems, c.String()+": "+why)
				}
			}
			return len(problems) == 0, joinProblems(problems), nil
		})
	r.a.mapper.Reset()
	if err != nil {
		return fmt.Errorf("CustomResourceDefinitions not Established after %s:\n  %s: %w", r.o.Timeout, joinLines(problems), waitCause(err))
	}
	return nil
}

// crdProblem says why a definition is not Established yet, or "".
func (r *run) crdProblem(ctx context.Context, name string) string {
	u, err := r.a.dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "get: " + err.Error()
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	why := "not Established"
	for _, c := range conds {
		m, _ := c.(map[string]any)
		typ, _, _ := unstructured.NestedString(m, "type")
		status, _, _ := unstructured.NestedString(m, "status")
		reason, _, _ := unstructured.NestedString(m, "reason")
		msg, _, _ := unstructured.NestedString(m, "message")
		switch {
		case typ == "Established" && status == "True":
			return ""
		case typ == "NamesAccepted" && status == "False":
			why = "names not accepted: " + reason + ": " + msg
		}
	}
	return why
}
