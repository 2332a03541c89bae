package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/rehearse/rehearse/scenarios"
)

// Names of the store's objects.
const (
	Namespace = "rehearse-ledger"
	// Name names the StatefulSet, its headless Service (the members' peer
	// names), its PodDisruptionBudget and its pods (ledger-0, ...).
	Name = "ledger"
	// ClientService is the NodePort Service the writer reaches.
	ClientService = "ledger-client"
	// StorageClass binds each member's claim to a volume on the node the
	// member is scheduled to.
	StorageClass = "rehearse-ledger"
	// HostDir is the folder on each node that holds the members' data.
	HostDir    = "/var/lib/rehearse-ledger"
	clientPort = 2379
	peerPort   = 2380
	labelApp   = "app.kubernetes.io/name"
	labelPart  = "app.kubernetes.io/part-of"
	taintCP    = "node-role.kubernetes.io/control-plane"
	hostname   = "kubernetes.io/hostname"
)

// ErrTooFewNodes is the error of a store with more members than nodes to
// put them on.
var ErrTooFewNodes = errors.New("too few nodes")

// Options shape the store.
type Options struct {
	// Ledger is the scenario's ledger, its defaults filled in.
	Ledger scenarios.Ledger
	// Image runs etcd as its entrypoint.
	Image string
	// ReadyTimeout bounds the wait for every member to be Ready.
	ReadyTimeout time.Duration
}

// Deployed is the store on a cluster.
type Deployed struct {
	// NodePort is the client Service's node port.
	NodePort int32
	// Nodes are the nodes that hold a member's volume (persistent storage).
	Nodes []string
}

// EtcdImage returns the image of the cluster's own etcd, which a kubeadm
// cluster runs as a static pod on each control plane: it is on those nodes
// without a registry, and on the others once loaded.
func EtcdImage(ctx context.Context, client kubernetes.Interface) (string, error) {
	pods, err := client.CoreV1().Pods(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{LabelSelector: "component=etcd"})
	if err != nil {
		return "", fmt.Errorf("find the cluster's etcd image: %w", err)
	}
	for _, p := range pods.Items {
		for _, c := range p.Spec.Containers {
			if c.Name == "etcd" {
				return c.Image, nil
			}
		}
	}
	return "", errors.New("find the cluster's etcd image: no etcd pod in kube-system (an external etcd?); set ledger.image")
}

// peerURL is a member's peer address through the headless Service.
func peerURL(i int) string {
	return fmt.Sprintf("http://%s-%d.%s.%s.svc:%d", Name, i, Name, Namespace, peerPort)
}

// Objects are the store's objects: the StorageClass and a volume per node
// (persistent storage only), the headless and client Services, the
// PodDisruptionBudget (unless disabled) and the StatefulSet.
type Objects struct {
	StorageClass *storagev1.StorageClass
	Volumes      []*corev1.PersistentVolume
	Headless     *corev1.Service
	Client       *corev1.Service
	PDB          *policyv1.PodDisruptionBudget
	StatefulSet  *appsv1.StatefulSet
}

// Manifests builds the store's objects for the given nodes.
func Manifests(o Options, nodes []string) Objects {
	l := o.Ledger.WithDefaults()
	labels := map[string]string{labelApp: Name, labelPart: "rehearse"}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: labels}
	}
	var objs Objects
	var initial []string
	for i := 0; i < l.Members; i++ {
		initial = append(initial, fmt.Sprintf("%s-%d=%s", Name, i, peerURL(i)))
	}
	container := corev1.Container{
		Name:  "etcd",
		Image: o.Image,
		Args: []string{
			"--name=$(POD_NAME)",
			"--data-dir=/var/lib/ledger/data",
			fmt.Sprintf("--listen-client-urls=http://0.0.0.0:%d", clientPort),
			fmt.Sprintf("--listen-peer-urls=http://0.0.0.0:%d", peerPort),
			fmt.Sprintf("--advertise-client-urls=http://$(POD_NAME).%s.%s.svc:%d", Name, Namespace, clientPort),
			fmt.Sprintf("--initial-advertise-peer-urls=http://$(POD_NAME).%s.%s.svc:%d", Name, Namespace, peerPort),
			"--initial-cluster=" + strings.Join(initial, ","),
			"--initial-cluster-state=new",
			"--initial-cluster-token=rehearse-ledger",
		},
		Env: []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
		Ports: []corev1.ContainerPort{
			{Name: "client", ContainerPort: clientPort},
			{Name: "peer", ContainerPort: peerPort},
		},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromInt32(clientPort)}},
			PeriodSeconds: 2, FailureThreshold: 2, TimeoutSeconds: 2,
		},
		// The image holds etcd alone: the pause before SIGTERM, while the
		// endpoints drop the member, is the kubelet's own sleep.
		Lifecycle:    &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 3}}},
		VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/ledger"}},
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
		}},
	}
	pod := corev1.PodSpec{
		Containers:                    []corev1.Container{container},
		TerminationGracePeriodSeconds: ptr.To[int64](30),
		Tolerations:                   []corev1.Toleration{{Key: taintCP, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
		Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelApp: Name}},
				TopologyKey:   hostname,
			}},
		}},
	}
	ss := &appsv1.StatefulSet{
		ObjectMeta: meta(Name),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(int32(l.Members)),
			ServiceName:         Name,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{labelApp: Name}},
			Template:            corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		},
	}
	if l.Storage == scenarios.LedgerEphemeral {
		ss.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	} else {
		objs.StorageClass = &storagev1.StorageClass{
			ObjectMeta:        metav1.ObjectMeta{Name: StorageClass, Labels: labels},
			Provisioner:       "kubernetes.io/no-provisioner",
			VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
			ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimRetain),
		}
		for i, n := range nodes {
			objs.Volumes = append(objs.Volumes, &corev1.PersistentVolume{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", StorageClass, i), Labels: labels},
				Spec: corev1.PersistentVolumeSpec{
					Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
					AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
					StorageClassName:              StorageClass,
					PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
						Path: fmt.Sprintf("%s/%d", HostDir, i), Type: ptr.To(corev1.HostPathDirectoryOrCreate),
					}},
					NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
						MatchExpressions: []corev1.NodeSelectorRequirement{{Key: hostname, Operator: corev1.NodeSelectorOpIn, Values: []string{n}}},
					}}}},
				},
			})
		}
		ss.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: labels},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: ptr.To(StorageClass),
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}}
	}
	selector := map[string]string{labelApp: Name}
	objs.Headless = &corev1.Service{
		ObjectMeta: meta(Name),
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone, Selector: selector, PublishNotReadyAddresses: true,
			Ports: []corev1.ServicePort{{Name: "peer", Port: peerPort}, {Name: "client", Port: clientPort}},
		},
	}
	objs.Client = &corev1.Service{
		ObjectMeta: meta(ClientService),
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, Selector: selector,
			Ports: []corev1.ServicePort{{Name: "client", Port: clientPort, TargetPort: intstr.FromInt32(clientPort)}},
		},
	}
	if p := l.PDB; !p.Disabled {
		pdb := &policyv1.PodDisruptionBudget{ObjectMeta: meta(Name), Spec: policyv1.PodDisruptionBudgetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selector},
		}}
		if p.MinAvailable != nil {
			pdb.Spec.MinAvailable = ptr.To(intstr.FromInt(*p.MinAvailable))
		} else if p.MaxUnavailable != nil {
			pdb.Spec.MaxUnavailable = ptr.To(intstr.FromInt(*p.MaxUnavailable))
		}
		objs.PDB = pdb
	}
	objs.StatefulSet = ss
	return objs
}

// placeable lists the nodes a member may run on: Ready, schedulable, with
// no taint but the control plane's NoSchedule.
func placeable(ctx context.Context, client kubernetes.Interface) ([]string, error) {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var out []string
next:
	for _, n := range nodes.Items {
		if n.Spec.Unschedulable {
			continue
		}
		for _, t := range n.Spec.Taints {
			if !(t.Key == taintCP && t.Effect == corev1.TaintEffectNoSchedule) {
				continue next
			}
		}
		out = append(out, n.Name)
	}
	sort.Strings(out)
	return out, nil
}

// Deploy creates the store and waits until every member is Ready, naming
// the members that are not and why when the wait ends.
func Deploy(ctx context.Context, client kubernetes.Interface, o Options, progress io.Writer) (*Deployed, error) {
	if progress == nil {
		progress = io.Discard
	}
	l := o.Ledger.WithDefaults()
	nodes, err := placeable(ctx, client)
	if err != nil {
		return nil, err
	}
	if len(nodes) < l.Members {
		return nil, fmt.Errorf("%w: ledger.members: %d members need as many nodes without taints (one member per node); the cluster has %d: %v", ErrTooFewNodes, l.Members, len(nodes), nodes)
	}
	objs := Manifests(o, nodes)
	create := func(kind, name string, err error) error {
		if err != nil {
			return fmt.Errorf("create %s %s: %w", kind, name, err)
		}
		return nil
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace, Labels: map[string]string{labelPart: "rehearse"}}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, create("namespace", Namespace, err)
	}
	if sc := objs.StorageClass; sc != nil {
		_, err := client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
		if err := create("storageclass", sc.Name, err); err != nil {
			return nil, err
		}
	}
	for _, pv := range objs.Volumes {
		_, err := client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
		if err := create("persistentvolume", pv.Name, err); err != nil {
			return nil, err
		}
	}
	for _, svc := range []*corev1.Service{objs.Headless, objs.Client} {
		_, err := client.CoreV1().Services(Namespace).Create(ctx, svc, metav1.CreateOptions{})
		if err := create("service", Namespace+"/"+svc.Name, err); err != nil {
			return nil, err
		}
	}
	if objs.PDB != nil {
		_, err := client.PolicyV1().PodDisruptionBudgets(Namespace).Create(ctx, objs.PDB, metav1.CreateOptions{})
		if err := create("poddisruptionbudget", Namespace+"/"+Name, err); err != nil {
			return nil, err
		}
	}
	_, err = client.AppsV1().StatefulSets(Namespace).Create(ctx, objs.StatefulSet, metav1.CreateOptions{})
	if err := create("statefulset", Namespace+"/"+Name, err); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "created ledger %s/%s: %d etcd members (%s storage, image %s)\n", Namespace, Name, l.Members, l.Storage, o.Image)

	timeout := o.ReadyTimeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	last := ""
	err = wait.PollUntilContextTimeout(ctx, 2*time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		ss, err := client.AppsV1().StatefulSets(Namespace).Get(ctx, Name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if ss.Status.ReadyReplicas == int32(l.Members) {
			return true, nil
		}
		msg := fmt.Sprintf("ledger %s/%s: %d/%d members ready", Namespace, Name, ss.Status.ReadyReplicas, l.Members)
		if why := notReady(ctx, client); why != "" {
			msg += "; " + why
		}
		if msg != last {
			fmt.Fprintln(progress, msg)
		}
		last = msg
		return false, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("ledger %s/%s not ready within %s: %s", Namespace, Name, timeout, last)
	}
	svc, err := client.CoreV1().Services(Namespace).Get(ctx, ClientService, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("service %s/%s: %w", Namespace, ClientService, err)
	}
	fmt.Fprintf(progress, "ledger %s/%s: %d/%d members ready\n", Namespace, Name, l.Members, l.Members)
	return &Deployed{NodePort: svc.Spec.Ports[0].NodePort, Nodes: nodes}, nil
}

// notReady says why the members that are not Ready are not.
func notReady(ctx context.Context, client kubernetes.Interface) string {
	pods, err := client.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: labelApp + "=" + Name})
	if err != nil {
		return ""
	}
	var out []string
	for _, p := range pods.Items {
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if ready {
			continue
		}
		why := string(p.Status.Phase)
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue && c.Message != "" {
				why += ": " + c.Message
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			switch {
			case cs.State.Waiting != nil:
				why += ": " + cs.State.Waiting.Reason
				if cs.State.Waiting.Message != "" {
					why += " (" + cs.State.Waiting.Message + ")"
				}
			case cs.State.Running != nil:
				why += ": running, not ready"
			}
			if cs.RestartCount > 0 {
				why += fmt.Sprintf(", %d restarts", cs.RestartCount)
			}
		}
		out = append(out, p.Name+": "+why)
	}
	return strings.Join(out, "; ")
}
