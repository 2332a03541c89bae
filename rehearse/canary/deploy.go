package canary

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/rehearse/rehearse/rehearse/readiness"
)

// Defaults of DeployOptions, applied to zero-valued fields.
const (
	DefaultNamespace      = "rehearse-canary"
	DefaultName           = "canary"
	DefaultReplicas       = 3
	DefaultMaxUnavailable = 1
	// DefaultNodePort is the Service's port on every node.
	DefaultNodePort = 30080
	// DefaultDeployTimeout bounds waiting for the canary to become available
	// (and, on Delete, to disappear).
	DefaultDeployTimeout = 3 * time.Minute
	// The container's resources.
	DefaultCPURequest    = "10m"
	DefaultMemoryRequest = "16Mi"
	DefaultCPULimit      = "200m"
	DefaultMemoryLimit   = "64Mi"
)

// AllocateNodePort as DeployOptions.NodePort lets the cluster pick the port.
const AllocateNodePort = -1

// The canary's shape on the cluster.
const (
	// Executable is the rehearse binary inside the canary image; the
	// container runs "Executable canary serve" with its flags.
	Executable = "/usr/local/bin/rehearse"
	// ContainerPort is the port the canary listens on inside its pod.
	ContainerPort = 8080
	// ServicePort is the Service's cluster port.
	ServicePort = 80
	// FieldManager owns the fields rehearse applies server-side.
	FieldManager = "rehearse"
)

const (
	// terminationMargin is added to drain delay plus shutdown timeout to
	// make the default termination grace period: the kubelet must never
	// kill a canary that is still shutting down cleanly.
	terminationMargin   = 5 * time.Second
	defaultPollInterval = time.Second
)

// Labels on every object Deploy creates. Delete finds the objects by them.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// AppName is the LabelName value.
	AppName = "rehearse-canary"
	// ManagedBy is the LabelManagedBy value. A namespace carrying it was
	// created by Deploy and is removed by Delete.
	ManagedBy = "rehearse"
)

const (
	labelHostname     = "kubernetes.io/hostname"
	taintControlPlane = "node-role.kubernetes.io/control-plane"
	containerName     = "canary"
	portName          = "http"
	drainPortName     = "drain"
)

// Budget is the canary's PodDisruptionBudget. The zero value is
// MaxUnavailable DefaultMaxUnavailable. At most one of MaxUnavailable and
// MinAvailable may be set; Disabled deploys no budget at all. A budget that
// allows no disruption (MinAvailable >= replicas) blocks every node drain,
// which is a scenario worth rehearsing, so it is not refused.
type Budget struct {
	MaxUnavailable int32
	MinAvailable   int32
	Disabled       bool
}

// DeployOptions describe the canary on the cluster. The zero value, with an
// Image, is a complete deployment: every other zero field takes its default.
type DeployOptions struct {
	// Namespace is created, and labelled as rehearse's, when missing.
	Namespace string
	// Name names the Deployment, Service and PodDisruptionBudget.
	Name string
	// Image is the canary image, required: the rehearse binary at
	// Executable (the node images preload one per rehearse version).
	Image string
	// ImagePullPolicy defaults to Never for images named localhost/...,
	// which exist only where they were loaded and cannot be pulled (a
	// missing one then fails at once with ErrImageNeverPull instead of
	// backing off), and to IfNotPresent for any other image.
	ImagePullPolicy corev1.PullPolicy
	// Replicas is the number of canary pods.
	Replicas int32
	PDB      Budget
	// NodePort is the Service's port on every node: 0 means
	// DefaultNodePort, AllocateNodePort lets the cluster pick one.
	NodePort int32
	// ExternalTrafficPolicy of the Service: Cluster (the default) forwards
	// from any node to any ready pod; Local only to pods on the receiving
	// node, so a node without a ready canary pod refuses the traffic.
	ExternalTrafficPolicy corev1.ServiceExternalTrafficPolicy
	// Resources of the canary container; empty means the Default* requests
	// and limits.
	Resources corev1.ResourceRequirements
	// NodeSelector restricts the nodes the pods may run on.
	NodeSelector map[string]string
	// Tolerations let the pods run on tainted nodes (a node pool's).
	Tolerations []corev1.Toleration
	// NoControlPlane keeps the pods off control-plane nodes. By default they
	// tolerate the control-plane taint, so that on a cluster of one control
	// plane and two workers one pod runs on each of the three nodes and every
	// node's upgrade disrupts a pod.
	NoControlPlane bool
	// DrainDelay is the canary's --drain-delay: how long a stopping pod
	// keeps serving, not ready, before it shuts down. The pod's preStop hook
	// (GET DrainPath) pauses the stop for that long; the SIGTERM that
	// follows shuts down at once. Zero means DefaultDrainDelay.
	DrainDelay time.Duration
	// NoDrainDelay makes the canary stop serving as soon as it is asked to
	// stop, as a naive application does: no preStop hook, no drain. The
	// negative control of a rehearsal (DrainDelay is then ignored).
	NoDrainDelay bool
	// StartupDelay is the canary's --startup-delay: how long a new pod stays
	// not ready after it starts, like an application warming up.
	StartupDelay time.Duration
	// ShutdownTimeout is the canary's --shutdown-timeout. Zero means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// TerminationGracePeriod must exceed DrainDelay + ShutdownTimeout: it
	// covers the preStop pause and the shutdown after it. Zero means their
	// sum plus five seconds.
	TerminationGracePeriod time.Duration
	// Timeout bounds waiting for the canary to become available in Deploy,
	// and for its objects to disappear in Delete.
	Timeout time.Duration

	// StatusEvery repeats an unchanged rollout status on the progress
	// stream this often while Deploy waits; zero says it only when it
	// changes.
	StatusEvery time.Duration
	// pollInterval is how often Deploy and Delete look at the cluster.
	pollInterval time.Duration
}

// PullPolicy is Never for an image named localhost/..., which exists only
// where it was loaded and cannot be pulled (a missing one then fails at
// once with ErrImageNeverPull instead of backing off), else IfNotPresent.
func PullPolicy(image string) corev1.PullPolicy {
	if strings.HasPrefix(image, "localhost/") {
		return corev1.PullNever
	}
	return corev1.PullIfNotPresent
}

func (o DeployOptions) withDefaults() DeployOptions {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.ImagePullPolicy == "" {
		o.ImagePullPolicy = PullPolicy(o.Image)
	}
	if o.Replicas == 0 {
		o.Replicas = DefaultReplicas
	}
	if !o.PDB.Disabled && o.PDB.MaxUnavailable == 0 && o.PDB.MinAvailable == 0 {
		o.PDB.MaxUnavailable = DefaultMaxUnavailable
	}
	if o.NodePort == 0 {
		o.NodePort = DefaultNodePort
	}
	if o.ExternalTrafficPolicy == "" {
		o.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if len(o.Resources.Requests) == 0 && len(o.Resources.Limits) == 0 {
		o.Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(DefaultCPURequest),
				corev1.ResourceMemory: resource.MustParse(DefaultMemoryRequest),
			},
			Limits: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(DefaultCPULimit),
				corev1.ResourceMemory: resource.MustParse(DefaultMemoryLimit),
			},
		}
	}
	if o.NoDrainDelay {
		o.DrainDelay = 0
	} else if o.DrainDelay == 0 {
		o.DrainDelay = DefaultDrainDelay
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.TerminationGracePeriod == 0 {
		o.TerminationGracePeriod = o.DrainDelay + o.ShutdownTimeout + terminationMargin
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultDeployTimeout
	}
	if o.pollInterval == 0 {
		o.pollInterval = defaultPollInterval
	}
	return o
}

// Validate reports every invalid field.
func (o DeployOptions) Validate() error { return o.validate(true) }

// validate checks the options; Delete needs no image.
func (o DeployOptions) validate(needImage bool) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.Namespace != "" {
		for _, msg := range validation.IsDNS1123Label(o.Namespace) {
			add("namespace %q: %s", o.Namespace, msg)
		}
	}
	if o.Name != "" {
		for _, msg := range validation.IsDNS1035Label(o.Name) {
			add("name %q: %s", o.Name, msg)
		}
	}
	if needImage && o.Image == "" {
		add("image: required (the canary image, e.g. localhost/rehearse/canary:v0.1.0)")
	}
	switch o.ImagePullPolicy {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		add("image pull policy %q: want Always, IfNotPresent or Never", o.ImagePullPolicy)
	}
	if o.Replicas < 0 {
		add("replicas %d: must be at least 1", o.Replicas)
	}
	b := o.PDB
	switch {
	case b.MaxUnavailable < 0:
		add("pdb max-unavailable %d: must not be negative", b.MaxUnavailable)
	case b.MinAvailable < 0:
		add("pdb min-available %d: must not be negative", b.MinAvailable)
	case b.Disabled && (b.MaxUnavailable != 0 || b.MinAvailable != 0):
		add("pdb: a disabled budget takes neither max-unavailable nor min-available")
	case b.MaxUnavailable != 0 && b.MinAvailable != 0:
		add("pdb: max-unavailable and min-available exclude each other")
	}
	if o.NodePort != 0 && o.NodePort != AllocateNodePort && (o.NodePort < 1 || o.NodePort > 65535) {
		add("node port %d: must be a port number (0 for the default %d, %d to let the cluster pick)",
			o.NodePort, DefaultNodePort, AllocateNodePort)
	}
	switch o.ExternalTrafficPolicy {
	case "", corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal:
	default:
		add("external traffic policy %q: want Cluster or Local", o.ExternalTrafficPolicy)
	}
	for k, v := range o.NodeSelector {
		for _, msg := range validation.IsQualifiedName(k) {
			add("node selector key %q: %s", k, msg)
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			add("node selector value %q of %q: %s", v, k, msg)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"drain delay", o.DrainDelay},
		{"shutdown timeout", o.ShutdownTimeout},
		{"startup delay", o.StartupDelay},
		{"termination grace period", o.TerminationGracePeriod},
		{"timeout", o.Timeout},
	} {
		if d.v < 0 {
			add("%s %s: must not be negative", d.name, d.v)
		}
	}
	if o.TerminationGracePeriod > 0 {
		d := o.withDefaults()
		if need := d.DrainDelay + d.ShutdownTimeout; d.TerminationGracePeriod <= need {
			add("termination grace period %s: must exceed drain delay %s + shutdown timeout %s, or the kubelet kills the canary while it drains",
				d.TerminationGracePeriod, d.DrainDelay, d.ShutdownTimeout)
		}
	}
	return errors.Join(errs...)
}

// Objects are the Kubernetes objects of one canary, in the order they are
// applied.
type Objects struct {
	Namespace  *corev1.Namespace
	Deployment *appsv1.Deployment
	Service    *corev1.Service
	// PDB is nil when the budget is disabled.
	PDB *policyv1.PodDisruptionBudget
}

// List returns the objects in apply order.
func (o *Objects) List() []runtime.Object {
	l := []runtime.Object{o.Namespace, o.Deployment, o.Service}
	if o.PDB != nil {
		l = append(l, o.PDB)
	}
	return l
}

// Labels returns the labels of every object of the canary named name.
func Labels(name string) map[string]string {
	return map[string]string{LabelName: AppName, LabelInstance: name, LabelManagedBy: ManagedBy}
}

// selectorLabels select the canary's pods. They never change for a given
// name, as a Deployment's selector cannot.
func selectorLabels(name string) map[string]string {
	return map[string]string{LabelName: AppName, LabelInstance: name}
}

// Manifests builds the canary's objects from opts, without touching a
// cluster.
//
// The pods spread over nodes with a hard topology spread constraint
// (maxSkew 1 over kubernetes.io/hostname, DoNotSchedule), so that every
// node carries a canary pod and the upgrade of any node disrupts one. The
// constraint only counts nodes the pod could run on (nodeTaintsPolicy
// Honor): a cordoned or not-ready node is tainted and drops out of the skew,
// so a pod evicted by a drain is rescheduled at once on the remaining nodes
// instead of waiting, Pending, for the drained node to come back, which is
// what would happen if the empty cordoned node still counted. It also only
// counts pods of the same ReplicaSet (matchLabelKeys pod-template-hash), so
// a rolling update spreads the new pods on their own. ScheduleAnyway was not
// chosen: it is only a preference, and a canary crowded onto one node would
// let other nodes' upgrades go untested.
func Manifests(opts DeployOptions) (*Objects, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	lbls := Labels(o.Name)
	sel := selectorLabels(o.Name)

	ns := &corev1.Namespace{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   o.Namespace,
			Labels: map[string]string{LabelName: AppName, LabelManagedBy: ManagedBy},
		},
	}

	var tolerations []corev1.Toleration
	if !o.NoControlPlane {
		tolerations = append(tolerations, corev1.Toleration{
			Key: taintControlPlane, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
		})
	}
	tolerations = append(tolerations, o.Tolerations...)
	var nodeSelector map[string]string
	if len(o.NodeSelector) > 0 {
		nodeSelector = make(map[string]string, len(o.NodeSelector))
		for k, v := range o.NodeSelector {
			nodeSelector[k] = v
		}
	}
	fieldEnv := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path},
		}}
	}
	httpProbe := func(path string, period, timeout, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromString(portName), Scheme: corev1.URISchemeHTTP,
			}},
			PeriodSeconds:    period,
			TimeoutSeconds:   timeout,
			SuccessThreshold: 1,
			FailureThreshold: failures,
		}
	}

	// The preStop hook pauses the container's stop for the drain delay: the
	// kubelet waits for its answer before sending SIGTERM, while the pod,
	// terminating, leaves the Service's endpoints and readiness fails. An
	// httpGet hook works on every Kubernetes version (the native sleep
	// action needs 1.30) and, done by the canary itself, also turns
	// readiness off and asks clients to reconnect. The canary then counts
	// the drain from the hook, so SIGTERM shuts down without waiting again.
	// The kubelet sends the hook from its node, to the drain port, which
	// the Service does not expose: whoever reaches the Service cannot
	// drain a pod. No drain delay, no hook: the negative control stops at
	// once.
	args := []string{
		"--addr", ":" + strconv.Itoa(ContainerPort),
		"--drain-delay", o.DrainDelay.String(),
		"--shutdown-timeout", o.ShutdownTimeout.String(),
	}
	ports := []corev1.ContainerPort{{
		Name: portName, ContainerPort: ContainerPort, Protocol: corev1.ProtocolTCP,
	}}
	var lifecycle *corev1.Lifecycle
	if o.DrainDelay > 0 {
		lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: DrainPath, Port: intstr.FromString(drainPortName), Scheme: corev1.URISchemeHTTP,
			HTTPHeaders: []corev1.HTTPHeader{{Name: HeaderDrain, Value: DrainHeaderValue}},
		}}}
		args = append(args, "--drain-addr", ":"+strconv.Itoa(DrainPort))
		ports = append(ports, corev1.ContainerPort{
			Name: drainPortName, ContainerPort: DrainPort, Protocol: corev1.ProtocolTCP,
		})
	}
	if o.StartupDelay > 0 {
		args = append(args, "--startup-delay", o.StartupDelay.String())
	}
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace, Labels: lbls},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(o.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			// maxUnavailable 0 and maxSurge 1: a new pod is Ready before an
			// old one leaves, so a rollout of the canary itself never lowers
			// the number of pods serving.
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromInt32(1)),
				},
			},
			RevisionHistoryLimit: ptr.To(int32(2)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{
					// The grace period covers the preStop drain and the
					// shutdown after it, with a margin (the kubelet counts
					// the hook's time against it).
					TerminationGracePeriodSeconds: ptr.To(int64(math.Ceil(o.TerminationGracePeriod.Seconds()))),
					AutomountServiceAccountToken:  ptr.To(false),
					EnableServiceLinks:            ptr.To(false),
					NodeSelector:                  nodeSelector,
					Tolerations:                   tolerations,
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew:           1,
						TopologyKey:       labelHostname,
						WhenUnsatisfiable: corev1.DoNotSchedule,
						LabelSelector:     &metav1.LabelSelector{MatchLabels: sel},
						MatchLabelKeys:    []string{appsv1.DefaultDeploymentUniqueLabelKey},
						NodeTaintsPolicy:  ptr.To(corev1.NodeInclusionPolicyHonor),
					}},
					SecurityContext: &corev1.PodSecurityContext{
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            containerName,
						Image:           o.Image,
						ImagePullPolicy: o.ImagePullPolicy,
						// The command is explicit, so the pod does not depend
						// on the image's entrypoint.
						Command: []string{Executable, "canary", "serve"},
						Args:    args,
						Ports:   ports,
						Env: []corev1.EnvVar{
							fieldEnv(EnvPodName, "metadata.name"),
							fieldEnv(EnvNodeName, "spec.nodeName"),
							fieldEnv(EnvPodNamespace, "metadata.namespace"),
							fieldEnv(EnvPodIP, "status.podIP"),
						},
						// Readiness reacts within two to three seconds, well
						// inside the drain delay, yet one slow probe on a
						// busy node does not pull a healthy pod out of the
						// Service. A terminating pod leaves the Service at
						// once anyway while other endpoints are ready.
						ReadinessProbe: httpProbe("/readyz", 1, 2, 2),
						LivenessProbe:  httpProbe("/healthz", 5, 2, 3),
						Lifecycle:      lifecycle,
						Resources:      o.Resources,
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}

	port := corev1.ServicePort{
		Name:       portName,
		Protocol:   corev1.ProtocolTCP,
		Port:       ServicePort,
		TargetPort: intstr.FromString(portName),
	}
	if o.NodePort != AllocateNodePort {
		port.NodePort = o.NodePort
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace, Labels: lbls},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeNodePort,
			Selector:              sel,
			Ports:                 []corev1.ServicePort{port},
			ExternalTrafficPolicy: o.ExternalTrafficPolicy,
		},
	}

	objs := &Objects{Namespace: ns, Deployment: dep, Service: svc}
	if !o.PDB.Disabled {
		pdb := &policyv1.PodDisruptionBudget{
			TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
			ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace, Labels: lbls},
			Spec: policyv1.PodDisruptionBudgetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: sel},
			},
		}
		if o.PDB.MinAvailable > 0 {
			pdb.Spec.MinAvailable = ptr.To(intstr.FromInt32(o.PDB.MinAvailable))
		} else {
			pdb.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(o.PDB.MaxUnavailable))
		}
		objs.PDB = pdb
	}
	return objs, nil
}

// Deployed describes a canary that is up.
type Deployed struct {
	Namespace string
	Name      string
	Image     string
	Replicas  int32
	// NodePort is the Service's port on every node (allocated by the cluster
	// when AllocateNodePort was asked for).
	NodePort              int32
	ExternalTrafficPolicy corev1.ServiceExternalTrafficPolicy
	// Pods are the Ready canary pods, by node then name.
	Pods []PodInfo
	// Nodes are the cluster's nodes, by name.
	Nodes []NodeInfo
}

// PodInfo is one canary pod.
type PodInfo struct {
	Name string
	Node string
	IP   string
}

// NodeInfo is one node of the cluster.
type NodeInfo struct {
	Name       string
	InternalIP string
	// Pods counts the Ready canary pods on the node.
	Pods int
}

// Targets are the URLs that reach the canary through its node port, one per
// node in node order: every node with an internal address under the Cluster
// policy (any node forwards to any ready pod), only nodes with a Ready
// canary pod under Local.
func (d *Deployed) Targets() []string {
	var out []string
	for _, n := range d.Nodes {
		if n.InternalIP == "" {
			continue
		}
		if d.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal && n.Pods == 0 {
			continue
		}
		host := n.InternalIP
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		out = append(out, fmt.Sprintf("http://%s:%d/", host, d.NodePort))
	}
	return out
}

// Deploy creates or updates the canary and waits, at most opts.Timeout,
// until its Deployment is available with every replica updated and Ready.
// The Deployment, Service and PodDisruptionBudget are applied server-side
// (field manager "rehearse"), so deploying again converges on opts. The
// namespace is created, labelled as rehearse's, only when it does not
// exist; an existing namespace is left as it is. Progress for people goes
// to progress, which may be nil.
func Deploy(ctx context.Context, client kubernetes.Interface, opts DeployOptions, progress io.Writer) (*Deployed, error) {
	objs, err := Manifests(opts)
	if err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	if progress == nil {
		progress = io.Discard
	}
	ref := o.Namespace + "/" + o.Name

	created, err := ensureNamespace(ctx, client, objs.Namespace)
	if err != nil {
		return nil, err
	}
	if created {
		fmt.Fprintf(progress, "created namespace %s\n", o.Namespace)
	}
	if err := applyObject(ctx, client, objs.Deployment); err != nil {
		return nil, err
	}
	if objs.PDB != nil {
		if err := applyObject(ctx, client, objs.PDB); err != nil {
			return nil, err
		}
	} else if err := deleteDisabledPDB(ctx, client, o); err != nil {
		return nil, err
	}
	if err := applyObject(ctx, client, objs.Service); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "applied deployment, service and %s for canary %s (%d replicas, image %s)\n",
		pdbWord(objs), ref, o.Replicas, o.Image)

	pods, err := waitAvailable(ctx, client, o, progress)
	if err != nil {
		return nil, err
	}
	return observe(ctx, client, o, pods)
}

// Observe describes a canary already on the cluster (deployed by Deploy or
// copied from another cluster): its node port, its Ready pods and the
// cluster's nodes. Only Namespace and Name of opts are used.
func Observe(ctx context.Context, client kubernetes.Interface, opts DeployOptions) (*Deployed, error) {
	o := opts.withDefaults()
	pods, err := client.CoreV1().Pods(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(selectorLabels(o.Name)).String()})
	if err != nil {
		return nil, fmt.Errorf("canary %s/%s: list pods: %w", o.Namespace, o.Name, err)
	}
	var ready []corev1.Pod
	for _, p := range pods.Items {
		if readiness.PodReady(&p) && p.DeletionTimestamp == nil {
			ready = append(ready, p)
		}
	}
	dep, err := client.AppsV1().Deployments(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("canary %s/%s: get deployment: %w", o.Namespace, o.Name, err)
	}
	if len(dep.Spec.Template.Spec.Containers) > 0 {
		o.Image = dep.Spec.Template.Spec.Containers[0].Image
	}
	if dep.Spec.Replicas != nil {
		o.Replicas = *dep.Spec.Replicas
	}
	return observe(ctx, client, o, ready)
}

func observe(ctx context.Context, client kubernetes.Interface, o DeployOptions, pods []corev1.Pod) (*Deployed, error) {
	ref := o.Namespace + "/" + o.Name
	svc, err := client.CoreV1().Services(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("canary %s: get service: %w", ref, err)
	}
	if len(svc.Spec.Ports) == 0 || svc.Spec.Ports[0].NodePort == 0 {
		return nil, fmt.Errorf("canary %s: service has no node port", ref)
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("canary %s: list nodes: %w", ref, err)
	}
	return describe(o, svc, pods, nodes.Items), nil
}

func pdbWord(objs *Objects) string {
	if objs.PDB == nil {
		return "no disruption budget"
	}
	if m := objs.PDB.Spec.MinAvailable; m != nil {
		return "disruption budget (min available " + m.String() + ")"
	}
	return "disruption budget (max unavailable " + objs.PDB.Spec.MaxUnavailable.String() + ")"
}

func describe(o DeployOptions, svc *corev1.Service, pods []corev1.Pod, nodes []corev1.Node) *Deployed {
	d := &Deployed{
		Namespace:             o.Namespace,
		Name:                  o.Name,
		Image:                 o.Image,
		Replicas:              o.Replicas,
		NodePort:              svc.Spec.Ports[0].NodePort,
		ExternalTrafficPolicy: svc.Spec.ExternalTrafficPolicy,
	}
	perNode := map[string]int{}
	for _, p := range pods {
		d.Pods = append(d.Pods, PodInfo{Name: p.Name, Node: p.Spec.NodeName, IP: p.Status.PodIP})
		perNode[p.Spec.NodeName]++
	}
	sort.Slice(d.Pods, func(i, j int) bool {
		if d.Pods[i].Node != d.Pods[j].Node {
			return d.Pods[i].Node < d.Pods[j].Node
		}
		return d.Pods[i].Name < d.Pods[j].Name
	})
	for _, n := range nodes {
		ni := NodeInfo{Name: n.Name, Pods: perNode[n.Name]}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				ni.InternalIP = a.Address
				break
			}
		}
		d.Nodes = append(d.Nodes, ni)
	}
	sort.Slice(d.Nodes, func(i, j int) bool { return d.Nodes[i].Name < d.Nodes[j].Name })
	return d
}

// ensureNamespace creates ns when it does not exist and reports whether it
// did. An existing namespace is not touched: only a namespace rehearse
// created carries the managed-by label, and only such a one is deleted.
func ensureNamespace(ctx context.Context, client kubernetes.Interface, ns *corev1.Namespace) (bool, error) {
	_, err := client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
	switch {
	case err == nil:
		return false, nil
	case !apierrors.IsNotFound(err):
		return false, fmt.Errorf("get namespace %s: %w", ns.Name, err)
	}
	_, err = client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: FieldManager})
	if apierrors.IsAlreadyExists(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create namespace %s: %w", ns.Name, err)
	}
	return true, nil
}

// applyObject applies obj server-side, taking over any field another
// manager set: the canary is rehearse's own.
func applyObject(ctx context.Context, client kubernetes.Interface, obj runtime.Object) error {
	body, err := applyBody(obj)
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: ptr.To(true)}
	var name, kind string
	switch v := obj.(type) {
	case *appsv1.Deployment:
		name, kind = v.Namespace+"/"+v.Name, "deployment"
		_, err = client.AppsV1().Deployments(v.Namespace).Patch(ctx, v.Name, types.ApplyPatchType, body, opts)
	case *corev1.Service:
		name, kind = v.Namespace+"/"+v.Name, "service"
		_, err = client.CoreV1().Services(v.Namespace).Patch(ctx, v.Name, types.ApplyPatchType, body, opts)
	case *policyv1.PodDisruptionBudget:
		name, kind = v.Namespace+"/"+v.Name, "poddisruptionbudget"
		_, err = client.PolicyV1().PodDisruptionBudgets(v.Namespace).Patch(ctx, v.Name, types.ApplyPatchType, body, opts)
	case *networkingv1.Ingress:
		name, kind = v.Namespace+"/"+v.Name, "ingress"
		_, err = client.NetworkingV1().Ingresses(v.Namespace).Patch(ctx, v.Name, types.ApplyPatchType, body, opts)
	default:
		return fmt.Errorf("apply: unexpected object %T", obj)
	}
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", kind, name, err)
	}
	return nil
}

// applyBody encodes obj as an apply configuration: the typed object's JSON
// without its status, which an apply to the main resource must not claim.
func applyBody(obj runtime.Object) ([]byte, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	return json.Marshal(m)
}

// deleteDisabledPDB removes the budget a previous deployment with a budget
// left, so that --no-pdb on a second deploy means no budget.
func deleteDisabledPDB(ctx context.Context, client kubernetes.Interface, o DeployOptions) error {
	err := client.PolicyV1().PodDisruptionBudgets(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete poddisruptionbudget %s/%s: %w", o.Namespace, o.Name, err)
	}
	return nil
}

// rolloutStatus is what waitAvailable sees in one look.
type rolloutStatus struct {
	done    bool
	summary string
	// stuck explains pods that are not Ready.
	stuck []string
	ready []corev1.Pod
}

func (s rolloutStatus) String() string {
	if len(s.stuck) == 0 {
		return s.summary
	}
	return s.summary + "; " + strings.Join(s.stuck, "; ")
}

// waitAvailable polls until the Deployment has every replica updated,
// Ready and available, with no old pod left, and returns the Ready pods.
// API errors are retried until the timeout.
func waitAvailable(ctx context.Context, client kubernetes.Interface, o DeployOptions, progress io.Writer) ([]corev1.Pod, error) {
	ref := o.Namespace + "/" + o.Name
	var last rolloutStatus
	err := readiness.WaitFor(ctx, readiness.Options{
		Interval:  o.pollInterval,
		Timeout:   o.Timeout,
		Progress:  func(s string) { fmt.Fprintf(progress, "canary %s: %s\n", ref, s) },
		Heartbeat: o.StatusEvery,
	}, func(ctx context.Context) (bool, string, error) {
		st, err := lookRollout(ctx, client, o)
		if err != nil {
			return false, "", err
		}
		last = st
		return st.done, st.String(), nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("canary %s: waiting for availability: %w", ref, ctx.Err())
		}
		return nil, fmt.Errorf("canary %s not available within %s: %w", ref, o.Timeout, err)
	}
	return last.ready, nil
}

func lookRollout(ctx context.Context, client kubernetes.Interface, o DeployOptions) (rolloutStatus, error) {
	dep, err := client.AppsV1().Deployments(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
	if err != nil {
		return rolloutStatus{}, fmt.Errorf("get deployment: %w", err)
	}
	pods, err := client.CoreV1().Pods(o.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(selectorLabels(o.Name)).String(),
	})
	if err != nil {
		return rolloutStatus{}, fmt.Errorf("list pods: %w", err)
	}
	return rollout(dep, pods.Items), nil
}

// rollout judges a Deployment and its pods: rolled out
// (readiness.RolloutProblem) with exactly the desired number of pods, all
// Ready, and none other left running.
func rollout(dep *appsv1.Deployment, pods []corev1.Pod) rolloutStatus {
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	s := dep.Status
	var st rolloutStatus
	var live int
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		live++
		if readiness.PodReady(&p) {
			st.ready = append(st.ready, p)
			continue
		}
		st.stuck = append(st.stuck, p.Name+": "+readiness.PodProblem(&p))
	}
	sort.Strings(st.stuck)
	st.summary = fmt.Sprintf("%d/%d ready, %d updated, %d available, %d pods", len(st.ready), want, s.UpdatedReplicas, s.AvailableReplicas, live)
	st.done = readiness.RolloutProblem(dep) == "" && s.Replicas == want &&
		int32(len(st.ready)) == want && int32(live) == want
	return st
}

// Delete removes the canary's Deployment, Services, PodDisruptionBudget
// and Ingress (found by their labels) and, when rehearse created it, the
// namespace, then waits, at most opts.Timeout, until they are gone. It returns what it
// deleted, as "kind/name". Nothing to delete is not an error.
func Delete(ctx context.Context, client kubernetes.Interface, opts DeployOptions) ([]string, error) {
	if err := opts.validate(false); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	sel := labels.SelectorFromSet(Labels(o.Name)).String()
	list := metav1.ListOptions{LabelSelector: sel}
	del := metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}

	var deleted []string
	var errs []error
	// waits are the lookups of deleted objects whose disappearance is
	// awaited; each returns the Get error.
	var waits []func(context.Context) error

	deps, err := client.AppsV1().Deployments(o.Namespace).List(ctx, list)
	if err != nil {
		errs = append(errs, fmt.Errorf("list deployments in %s: %w", o.Namespace, err))
	} else {
		for _, d := range deps.Items {
			api := client.AppsV1().Deployments(o.Namespace)
			if err := api.Delete(ctx, d.Name, del); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete deployment %s/%s: %w", o.Namespace, d.Name, err))
				continue
			}
			deleted = append(deleted, "deployment/"+d.Name)
			name := d.Name
			waits = append(waits, func(ctx context.Context) error {
				_, err := api.Get(ctx, name, metav1.GetOptions{})
				return err
			})
		}
	}
	svcs, err := client.CoreV1().Services(o.Namespace).List(ctx, list)
	if err != nil {
		errs = append(errs, fmt.Errorf("list services in %s: %w", o.Namespace, err))
	} else {
		for _, s := range svcs.Items {
			if err := client.CoreV1().Services(o.Namespace).Delete(ctx, s.Name, del); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete service %s/%s: %w", o.Namespace, s.Name, err))
				continue
			}
			deleted = append(deleted, "service/"+s.Name)
		}
	}
	pdbs, err := client.PolicyV1().PodDisruptionBudgets(o.Namespace).List(ctx, list)
	if err != nil {
		errs = append(errs, fmt.Errorf("list poddisruptionbudgets in %s: %w", o.Namespace, err))
	} else {
		for _, p := range pdbs.Items {
			if err := client.PolicyV1().PodDisruptionBudgets(o.Namespace).Delete(ctx, p.Name, del); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete poddisruptionbudget %s/%s: %w", o.Namespace, p.Name, err))
				continue
			}
			deleted = append(deleted, "poddisruptionbudget/"+p.Name)
		}
	}

	ings, err := client.NetworkingV1().Ingresses(o.Namespace).List(ctx, list)
	if err != nil {
		errs = append(errs, fmt.Errorf("list ingresses in %s: %w", o.Namespace, err))
	} else {
		for _, in := range ings.Items {
			if err := client.NetworkingV1().Ingresses(o.Namespace).Delete(ctx, in.Name, del); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete ingress %s/%s: %w", o.Namespace, in.Name, err))
				continue
			}
			deleted = append(deleted, "ingress/"+in.Name)
		}
	}

	ns, err := client.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		errs = append(errs, fmt.Errorf("get namespace %s: %w", o.Namespace, err))
	case ns.Labels[LabelManagedBy] == ManagedBy:
		api := client.CoreV1().Namespaces()
		if err := api.Delete(ctx, o.Namespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", o.Namespace, err))
			break
		}
		deleted = append(deleted, "namespace/"+o.Namespace)
		waits = append(waits, func(ctx context.Context) error {
			_, err := api.Get(ctx, o.Namespace, metav1.GetOptions{})
			return err
		})
	}

	// Waiting for the Deployment (deleted in the foreground, so it goes
	// last, after its pods) and the namespace means a new canary can be
	// deployed at once.
	if len(waits) > 0 {
		err := wait.PollUntilContextTimeout(ctx, o.pollInterval, o.Timeout, true, func(ctx context.Context) (bool, error) {
			for _, get := range waits {
				if !apierrors.IsNotFound(get(ctx)) {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("canary %s/%s: still terminating after %s: %w", o.Namespace, o.Name, o.Timeout, err))
		}
	}
	return deleted, errors.Join(errs...)
}
