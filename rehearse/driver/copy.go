package driver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	kubescheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/rehearse/rehearse/rehearse/readiness"
)

// Annotations the copy drops because the source cluster's machinery set them.
const (
	lastAppliedAnnotation        = "kubectl.kubernetes.io/last-applied-configuration"
	deploymentRevisionAnnotation = "deployment.kubernetes.io/revision"
	rootCAConfigMap              = "kube-root-ca.crt"
	defaultServiceAccount        = "default"
)

// CopySelection picks what a blue-green swap copies from A to B.
type CopySelection struct {
	// Namespaces are copied whole (the namespace object and the kinds below in it).
	Namespaces []string
	// LabelSelector, when set, restricts the copied objects (not the namespaces) to matching ones.
	LabelSelector string
}

// CopyReport says what was copied and what was left out, and why.
type CopyReport struct {
	Copied  []string // "kind namespace/name", e.g. "Deployment rehearse-canary/canary"
	Skipped []string // "kind namespace/name: reason"
}

// CopyWorkloads recreates on `to` the selected objects of `from`: Namespaces, ConfigMaps, Secrets,
// Services, Ingresses (networking.k8s.io/v1), Deployments, StatefulSets, DaemonSets,
// PodDisruptionBudgets (policy/v1), ServiceAccounts. Custom resources need the dynamic client:
// see CopyCustomResources and CopyApplication.
//
// Server-set fields are stripped (resourceVersion, uid, creationTimestamp, generation, managedFields,
// selfLink, ownerReferences, status, deletionTimestamp; Services lose clusterIP/clusterIPs/healthCheckNodePort
// but keep their nodePorts; Deployments lose the "deployment.kubernetes.io/revision" annotation;
// objects lose the "kubectl.kubernetes.io/last-applied-configuration" annotation). A headless Service
// keeps its clusterIP "None", which is part of its spec rather than an allocation.
//
// Skipped, with a reason in the report: the "kube-root-ca.crt" ConfigMap, Secrets of type
// kubernetes.io/service-account-token, the "default" ServiceAccount.
//
// An object that already exists on `to` is updated (Get then Update with its resourceVersion), so the copy
// can run twice. Namespaces are created first, then ConfigMaps/Secrets/ServiceAccounts, then Services,
// Ingresses, PDBs, then workloads. Ingresses lose their status (the load balancer the source's
// controller reported). Errors name the object; every object is attempted, errors are joined.
// Namespaces are reported as "Namespace name".
func CopyWorkloads(ctx context.Context, from, to kubernetes.Interface, sel CopySelection) (CopyReport, error) {
	if _, err := labels.Parse(sel.LabelSelector); err != nil {
		return CopyReport{}, fmt.Errorf("copy workloads: label selector %q: %w", sel.LabelSelector, err)
	}
	r := &copyRun{from: from, to: to, list: metav1.ListOptions{LabelSelector: sel.LabelSelector}}
	namespaces := uniqueSorted(sel.Namespaces)

	for _, ns := range namespaces {
		copyNamespace(ctx, r, ns)
	}
	for _, kind := range copyOrder() {
		for _, ns := range namespaces {
			kind(ctx, r, ns)
		}
	}
	return r.report, errors.Join(r.errs...)
}

// copyRun carries one CopyWorkloads call's clients, list options and results.
type copyRun struct {
	from, to kubernetes.Interface
	list     metav1.ListOptions
	report   CopyReport
	errs     []error
}

func (r *copyRun) copied(ref string) { r.report.Copied = append(r.report.Copied, ref) }

func (r *copyRun) skipped(ref, reason string) {
	r.report.Skipped = append(r.report.Skipped, ref+": "+reason)
}

func (r *copyRun) fail(err error) { r.errs = append(r.errs, err) }

// copyClient is the part of a typed client the copy writes through.
type copyClient[T metav1.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// copyKind describes how one kind is read from the source, cleaned and written to the target.
type copyKind[T metav1.Object] struct {
	kind string
	// list reads the kind's objects in a namespace of the source.
	list func(ctx context.Context, c kubernetes.Interface, ns string, opts metav1.ListOptions) ([]T, error)
	// client writes the kind in a namespace of the target.
	client func(c kubernetes.Interface, ns string) copyClient[T]
	// skip returns why an object is not copied, or "" to copy it.
	skip func(T) string
	// clean strips the kind's server-set fields, past the common metadata.
	clean func(T)
	// keep carries fields of the object already on the target into the update.
	keep func(obj, existing T)
}

// copyStep copies one kind in one namespace.
type copyStep func(ctx context.Context, r *copyRun, ns string)

// copyOrder lists the namespaced kinds in the order they are created: configuration first, then
// Services and the Ingresses routing to them, then budgets, then the workloads that use all of them.
func copyOrder() []copyStep {
	return []copyStep{
		copyKind[*corev1.ConfigMap]{
			kind: "ConfigMap",
			list: func(ctx context.Context, c kubernetes.Interface, ns string, o metav1.ListOptions) ([]*corev1.ConfigMap, error) {
				l, err := c.CoreV1().ConfigMaps(ns).List(ctx, o)
				if err != nil {
					return nil, err
				}
				return pointersTo(l.Items), nil
			},
			client: func(c kubernetes.Interface, ns string) copyClient[*corev1.ConfigMap] {
				return c.CoreV1().ConfigMaps(ns)
			},
			skip: func(cm *corev1.ConfigMap) string {
				if cm.Name == rootCAConfigMap {
					return "published by the cluster in every namespace"
				}
				return ""
			},
		}.step,
		copyKind[*corev1.Secret]{
			kind: "Secret",
			list: func(ctx context.Context, c kubernetes.Interface, ns string, o metav1.ListOptions) ([]*corev1.Secret, error) {
				l, err := c.CoreV1().Secrets(ns).List(ctx, o)
				if err != nil {
					return nil, err
				}
				return pointersTo(l.Items), nil
			},
			client: func(c kubernetes.Interface, ns string) copyClient[*corev1.Secret] { return c.CoreV1().Secrets(ns) },
			skip: func(s *corev1.Secret) string {
				if s.Type == corev1.SecretTypeServiceAccountToken {
					return "service account token, issued by the target cluster"
				}
				return ""
			},
		}.step,
		copyKind[*corev1.ServiceAccount]{
			kind: "ServiceAccount",
			list: func(ctx context.Context, c kubernetes.Interface, ns string, o metav1.ListOptions) ([]*corev1.ServiceAccount, error) {
				l, err := c.CoreV1().ServiceAccounts(ns).List(ctx, o)
				if err != nil {
					return nil, err
				}
				return pointersTo(l.Items), nil
			},
			client: func(c kubernetes.Interface, ns string) copyClient[*corev1.ServiceAccount] {
				return c.CoreV1().ServiceAccounts(ns)
			},
			skip: func(sa *corev1.ServiceAccount) string {
				if sa.Name == defaultServiceAccount {
					return "created by the cluster in every namespace"
				}
				return ""
			},
		}.step,
		copyKind[*corev1.Service]{
			kind: "Service",
			list: func(ctx context.Context, c kubernetes.Interface, ns string, o metav1.ListOptions) ([]*corev1.Service, error) {
				l, err := c.CoreV1().Services(ns).List(ctx, o)
				if err != nil {
					return nil, err
				}
				return pointersTo(l.Items), nil
			},
			client: func(c kubernetes.Interface, ns string) copyClient[*corev1.Service] { return c.CoreV1().Services(ns) },
			clean:  cleanService,
			keep:   keepServiceAllocations,
		}.step,
		copyKind[*networkingv1.Ingress]{
			kind: "Ingress",
			list: func(ctx context.Context, c kubernetes.Interface, ns string, o metav1.ListOptions) ([]*networkingv1.Ingress, error) {
				l, err := c.NetworkingV1().Ingresses(ns).List(ctx, o)
				if err != nil {
					return nil, err
				}
				return pointersTo(l.Items), nil
			},
			client: func(c kubernetes.Interface, ns string) copyClient[*networkingv1.Ingress] {
				return c.NetworkingV1().Ingresses(ns)
			},
			clean: func(i *networkingv1.Ingress) { i.Status = networkingv1.IngressStatus{} },
		}.step,
		copyKind[*policyv1.PodDisruptionBudget]{
			kind: "PodDisruptionBudget",
			list: func(ctx context.Context, c kubernetes.Interface, ns string, o metav1.ListOptions) ([]*policyv1.PodDisruptionBudget, error) {
				l, err := c.PolicyV1().PodDisruptionBudgets(ns).List(ctx, o)
				if err != nil {
					return nil, err
				}
				return pointersTo(l.Items), nil
			},
			client: func(c kubernetes.Interface, ns string) copyClient[*policyv1.PodDisruptionBudget] {
				return c.PolicyV1().PodDisruptionBudgets(ns)
			},
			clean: func(p *policyv1.PodDisruptionBudget) { p.Status = policyv1.PodDisruptionBudgetStatus{} },
		}.step,
		copyKind[*appsv1.Deployment]{
			kind: "Deployment",
			list: func(ctx context.Context, c kubernetes.Interface, ns string, o metav1.ListOptions) ([]*appsv1.Deployment, error) {
				l, err := c.AppsV1().Deployments(ns).List(ctx, o)
				if err != nil {
					return nil, err
				}
				return pointersTo(l.Items), nil
			},
			client: func(c kubernetes.Interface, ns string) copyClient[*appsv1.Deployment] {
				return c.AppsV1().Deployments(ns)
			},
			clean: func(d *appsv1.Deployment) {
				d.Status = appsv1.DeploymentStatus{}
				dropAnnotation(d, deploymentRevisionAnnotation)
			},
		}.step,
		copyKind[*appsv1.StatefulSet]{
			kind: "StatefulSet",
			list: func(ctx context.Context, c kubernetes.Interface, ns string, o metav1.ListOptions) ([]*appsv1.StatefulSet, error) {
				l, err := c.AppsV1().StatefulSets(ns).List(ctx, o)
				if err != nil {
					return nil, err
				}
				return pointersTo(l.Items), nil
			},
			client: func(c kubernetes.Interface, ns string) copyClient[*appsv1.StatefulSet] {
				return c.AppsV1().StatefulSets(ns)
			},
			clean: func(s *appsv1.StatefulSet) {
				s.Status = appsv1.StatefulSetStatus{}
				for i := range s.Spec.VolumeClaimTemplates {
					s.Spec.VolumeClaimTemplates[i].Status = corev1.PersistentVolumeClaimStatus{}
				}
			},
		}.step,
		copyKind[*appsv1.DaemonSet]{
			kind: "DaemonSet",
			list: func(ctx context.Context, c kubernetes.Interface, ns string, o metav1.ListOptions) ([]*appsv1.DaemonSet, error) {
				l, err := c.AppsV1().DaemonSets(ns).List(ctx, o)
				if err != nil {
					return nil, err
				}
				return pointersTo(l.Items), nil
			},
			client: func(c kubernetes.Interface, ns string) copyClient[*appsv1.DaemonSet] {
				return c.AppsV1().DaemonSets(ns)
			},
			clean: func(d *appsv1.DaemonSet) { d.Status = appsv1.DaemonSetStatus{} },
		}.step,
	}
}

// copyNamespace copies the namespace object itself; the label selector does not apply to it.
func copyNamespace(ctx context.Context, r *copyRun, name string) {
	k := copyKind[*corev1.Namespace]{
		kind:   "Namespace",
		client: func(c kubernetes.Interface, _ string) copyClient[*corev1.Namespace] { return c.CoreV1().Namespaces() },
		clean:  func(n *corev1.Namespace) { n.Status = corev1.NamespaceStatus{} },
	}
	ns, err := r.from.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		r.fail(fmt.Errorf("%s: get from source: %w", objectRef(k.kind, "", name), err))
		return
	}
	k.copyOne(ctx, r, ns)
}

// step lists the kind in ns on the source and copies every object, in name order.
func (k copyKind[T]) step(ctx context.Context, r *copyRun, ns string) {
	objs, err := k.list(ctx, r.from, ns, r.list)
	if err != nil {
		r.fail(fmt.Errorf("list %ss in %s on source: %w", k.kind, ns, err))
		return
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].GetName() < objs[j].GetName() })
	for _, obj := range objs {
		k.copyOne(ctx, r, obj)
	}
}

// copyOne cleans obj and creates it on the target, or updates the object already there.
func (k copyKind[T]) copyOne(ctx context.Context, r *copyRun, obj T) {
	ref := objectRef(k.kind, obj.GetNamespace(), obj.GetName())
	if k.skip != nil {
		if reason := k.skip(obj); reason != "" {
			r.skipped(ref, reason)
			return
		}
	}
	stripServerMeta(obj)
	if k.clean != nil {
		k.clean(obj)
	}

	c := k.client(r.to, obj.GetNamespace())
	existing, err := c.Get(ctx, obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := c.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			r.fail(fmt.Errorf("%s: create on target: %w", ref, err))
			return
		}
	case err != nil:
		r.fail(fmt.Errorf("%s: get from target: %w", ref, err))
		return
	default:
		obj.SetResourceVersion(existing.GetResourceVersion())
		if k.keep != nil {
			k.keep(obj, existing)
		}
		if _, err := c.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
			r.fail(fmt.Errorf("%s: update on target: %w", ref, err))
			return
		}
	}
	r.copied(ref)
}

// stripServerMeta clears the metadata the source's API server and controllers set.
func stripServerMeta(o metav1.Object) {
	o.SetResourceVersion("")
	o.SetUID("")
	o.SetCreationTimestamp(metav1.Time{})
	o.SetGeneration(0)
	o.SetManagedFields(nil)
	o.SetSelfLink("")
	o.SetOwnerReferences(nil)
	o.SetDeletionTimestamp(nil)
	o.SetDeletionGracePeriodSeconds(nil)
	dropAnnotation(o, lastAppliedAnnotation)
}

// dropAnnotation removes key, leaving no empty annotation map behind.
func dropAnnotation(o metav1.Object, key string) {
	a := o.GetAnnotations()
	if _, ok := a[key]; !ok {
		return
	}
	delete(a, key)
	if len(a) == 0 {
		a = nil
	}
	o.SetAnnotations(a)
}

// cleanService drops the addresses the source cluster allocated; node ports are kept so clients
// reaching the Service through a node keep working after the swap. A headless Service keeps "None".
func cleanService(s *corev1.Service) {
	s.Status = corev1.ServiceStatus{}
	s.Spec.HealthCheckNodePort = 0
	if s.Spec.ClusterIP == corev1.ClusterIPNone {
		s.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
		return
	}
	s.Spec.ClusterIP = ""
	s.Spec.ClusterIPs = nil
}

// keepServiceAllocations carries the target's own allocations into an update, as the cluster IP
// cannot change once set.
func keepServiceAllocations(s, existing *corev1.Service) {
	if s.Spec.Type == corev1.ServiceTypeExternalName || s.Spec.ClusterIP != "" {
		return
	}
	s.Spec.ClusterIP = existing.Spec.ClusterIP
	s.Spec.ClusterIPs = existing.Spec.ClusterIPs
	if s.Spec.HealthCheckNodePort == 0 {
		s.Spec.HealthCheckNodePort = existing.Spec.HealthCheckNodePort
	}
}

// objectRef names an object the way reports and errors do: "kind namespace/name", or "kind name"
// for a cluster-scoped object.
func objectRef(kind, ns, name string) string {
	if ns == "" {
		return kind + " " + name
	}
	return kind + " " + ns + "/" + name
}

func pointersTo[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

func uniqueSorted(in []string) []string {
	seen := make(map[string]bool, len(in))
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// WaitWorkloadsReady waits until every Deployment, StatefulSet and DaemonSet in the namespaces on c has
// rolled out (readiness.RolloutProblem), looking every `every` (a non-positive one: every second), and
// returns an error naming what is not ready (with ready/desired counts) when ctx ends.
func WaitWorkloadsReady(ctx context.Context, c kubernetes.Interface, namespaces []string, every time.Duration) error {
	if err := readiness.WaitForWorkloads(ctx, c, uniqueSorted(namespaces), readiness.Options{Interval: every}); err != nil {
		return fmt.Errorf("workloads not ready: %w", err)
	}
	return nil
}

// CopyClients are the clients of one cluster that the copy of custom resources needs: discovery
// (through Kube) finds the kinds a cluster serves, Dynamic reads and writes objects of any kind.
type CopyClients struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
}

// CRDEstablishTimeout bounds waiting for a copied CustomResourceDefinition to be Established on the
// target.
const CRDEstablishTimeout = time.Minute

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// CopyApplication copies the selection the way CopyWorkloads does, then its custom resources (see
// CopyCustomResources). The reports are joined, in that order.
func CopyApplication(ctx context.Context, from, to CopyClients, sel CopySelection) (CopyReport, error) {
	rep, err := CopyWorkloads(ctx, from.Kube, to.Kube, sel)
	if from.Dynamic == nil || to.Dynamic == nil {
		return rep, err // typed objects only
	}
	crs, crErr := CopyCustomResources(ctx, from, to, sel)
	rep.Copied = append(rep.Copied, crs.Copied...)
	rep.Skipped = append(rep.Skipped, crs.Skipped...)
	return rep, errors.Join(err, crErr)
}

// CopyCustomResources recreates on `to` the custom resources in the selected namespaces of `from`:
// the objects of every namespaced kind the source serves (found by discovery, in its group's
// preferred version) whose group is not one of Kubernetes' own. The CustomResourceDefinitions of the
// kinds that have objects to copy are copied first, and waited for until Established.
//
// Objects are cleaned as CopyWorkloads cleans them (server-set metadata, owner references,
// status) and created, or updated when already there. Skipped, with a reason in the report: objects
// a controller owns (it makes them again on the target from their owner), and kinds an aggregated
// API serves rather than a CustomResourceDefinition. Errors name the object; every object is
// attempted, errors are joined. Reported as "Kind namespace/name" and "CustomResourceDefinition name".
func CopyCustomResources(ctx context.Context, from, to CopyClients, sel CopySelection) (CopyReport, error) {
	if _, err := labels.Parse(sel.LabelSelector); err != nil {
		return CopyReport{}, fmt.Errorf("copy custom resources: label selector %q: %w", sel.LabelSelector, err)
	}
	r := &copyRun{list: metav1.ListOptions{LabelSelector: sel.LabelSelector}}
	kinds, err := customKinds(ctx, from.Kube.Discovery())
	if err != nil {
		r.fail(fmt.Errorf("discover the kinds the source serves: %w", err))
	}
	if len(kinds) == 0 {
		return r.report, errors.Join(r.errs...)
	}
	defs, err := from.Dynamic.Resource(crdResource).List(ctx, metav1.ListOptions{})
	if err != nil {
		r.fail(fmt.Errorf("list CustomResourceDefinitions on source: %w", err))
		return r.report, errors.Join(r.errs...)
	}
	byResource := map[schema.GroupResource]*unstructured.Unstructured{}
	for i := range defs.Items {
		d := &defs.Items[i]
		group, _, _ := unstructured.NestedString(d.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(d.Object, "spec", "names", "plural")
		byResource[schema.GroupResource{Group: group, Resource: plural}] = d
	}

	namespaces := uniqueSorted(sel.Namespaces)
	type toCopy struct {
		kind string
		gvr  schema.GroupVersionResource
		objs []unstructured.Unstructured
	}
	var copies []toCopy
	var needed []*unstructured.Unstructured
	for _, k := range kinds {
		def := byResource[k.gvr.GroupResource()]
		if def == nil {
			r.skipped(k.kind+" ("+k.gvr.GroupResource().String()+")", "served by an aggregated API, not by a CustomResourceDefinition")
			continue
		}
		c := toCopy{kind: k.kind, gvr: k.gvr}
		for _, ns := range namespaces {
			l, err := from.Dynamic.Resource(k.gvr).Namespace(ns).List(ctx, r.list)
			if err != nil {
				r.fail(fmt.Errorf("list %s in %s on source: %w", k.gvr.GroupResource(), ns, err))
				continue
			}
			items := l.Items
			sort.Slice(items, func(i, j int) bool { return items[i].GetName() < items[j].GetName() })
			for _, o := range items {
				if owner := metav1.GetControllerOf(&o); owner != nil {
					r.skipped(objectRef(k.kind, o.GetNamespace(), o.GetName()),
						fmt.Sprintf("made by its controller from %s %s", owner.Kind, owner.Name))
					continue
				}
				c.objs = append(c.objs, o)
			}
		}
		if len(c.objs) > 0 {
			copies = append(copies, c)
			needed = append(needed, def)
		}
	}
	if len(copies) == 0 {
		return r.report, errors.Join(r.errs...)
	}

	var defNames []string
	for _, d := range needed {
		if copyUnstructured(ctx, r, to.Dynamic.Resource(crdResource), "CustomResourceDefinition", d) {
			defNames = append(defNames, d.GetName())
		}
	}
	if err := waitEstablished(ctx, to.Dynamic, defNames); err != nil {
		r.fail(fmt.Errorf("copied CustomResourceDefinitions not Established on target: %w", err))
		return r.report, errors.Join(r.errs...)
	}
	for _, c := range copies {
		for i := range c.objs {
			o := &c.objs[i]
			copyUnstructured(ctx, r, to.Dynamic.Resource(c.gvr).Namespace(o.GetNamespace()), c.kind, o)
		}
	}
	return r.report, errors.Join(r.errs...)
}

// customKind is a namespaced kind outside Kubernetes' own groups and the resource that serves it.
type customKind struct {
	kind string
	gvr  schema.GroupVersionResource
}

// customKinds lists, sorted by group and resource, the namespaced kinds the cluster serves in the
// preferred version of groups that are not Kubernetes' own, which the copy can list, create and update.
// Groups whose discovery failed are left out, named in the error.
func customKinds(ctx context.Context, d discovery.DiscoveryInterface) ([]customKind, error) {
	groups, lists, err := discovery.ToDiscoveryInterfaceWithContext(d).ServerGroupsAndResourcesWithContext(ctx)
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, err
	}
	preferred := map[string]string{}
	for _, g := range groups {
		preferred[g.Name] = g.PreferredVersion.GroupVersion
	}
	var out []customKind
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil || builtinGroup(gv.Group) || preferred[gv.Group] != l.GroupVersion {
			continue
		}
		for _, res := range l.APIResources {
			if !res.Namespaced || strings.Contains(res.Name, "/") || !hasVerbs(res.Verbs, "list", "get", "create", "update") {
				continue
			}
			out = append(out, customKind{kind: res.Kind, gvr: gv.WithResource(res.Name)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].gvr.Group != out[j].gvr.Group {
			return out[i].gvr.Group < out[j].gvr.Group
		}
		return out[i].gvr.Resource < out[j].gvr.Resource
	})
	return out, err
}

// builtinGroup says whether Kubernetes itself serves the group: the groups client-go's typed clients
// know (core, apps, batch, networking.k8s.io, ...).
func builtinGroup(group string) bool {
	return kubescheme.Scheme.IsGroupRegistered(group)
}

func hasVerbs(have metav1.Verbs, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// copyUnstructured cleans obj (server-set metadata and status) and creates it through c, or updates
// the object already there. It says whether the object was copied.
func copyUnstructured(ctx context.Context, r *copyRun, c dynamic.ResourceInterface, kind string, obj *unstructured.Unstructured) bool {
	obj = obj.DeepCopy()
	ref := objectRef(kind, obj.GetNamespace(), obj.GetName())
	stripServerMeta(obj)
	unstructured.RemoveNestedField(obj.Object, "status")
	existing, err := c.Get(ctx, obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := c.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			r.fail(fmt.Errorf("%s: create on target: %w", ref, err))
			return false
		}
	case err != nil:
		r.fail(fmt.Errorf("%s: get from target: %w", ref, err))
		return false
	default:
		obj.SetResourceVersion(existing.GetResourceVersion())
		if _, err := c.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
			r.fail(fmt.Errorf("%s: update on target: %w", ref, err))
			return false
		}
	}
	r.copied(ref)
	return true
}

// waitEstablished waits until every named CustomResourceDefinition is Established on c.
func waitEstablished(ctx context.Context, c dynamic.Interface, names []string) error {
	if len(names) == 0 {
		return nil
	}
	return readiness.WaitFor(ctx, readiness.Options{Interval: 250 * time.Millisecond, Timeout: CRDEstablishTimeout},
		func(ctx context.Context) (bool, string, error) {
			var waiting []string
			for _, n := range names {
				d, err := c.Resource(crdResource).Get(ctx, n, metav1.GetOptions{})
				if err != nil {
					return false, "", err
				}
				if !crdEstablished(d) {
					waiting = append(waiting, n)
				}
			}
			return len(waiting) == 0, "not Established: " + strings.Join(waiting, ", "), nil
		})
}

// crdEstablished says whether a CustomResourceDefinition's Established condition is True.
func crdEstablished(d *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(d.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" {
			return m["status"] == "True"
		}
	}
	return false
}
