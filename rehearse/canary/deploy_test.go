package canary

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

const testImage = "localhost/rehearse/canary:v0.1.0"

func TestManifestsDefaults(t *testing.T) {
	objs, err := Manifests(DeployOptions{Image: testImage})
	require.NoError(t, err)
	want := map[string]string{LabelName: AppName, LabelInstance: DefaultName, LabelManagedBy: ManagedBy}
	sel := map[string]string{LabelName: AppName, LabelInstance: DefaultName}

	ns := objs.Namespace
	assert.Equal(t, DefaultNamespace, ns.Name)
	assert.Equal(t, ManagedBy, ns.Labels[LabelManagedBy])

	d := objs.Deployment
	assert.Equal(t, "apps/v1", d.APIVersion)
	assert.Equal(t, "Deployment", d.Kind)
	assert.Equal(t, DefaultNamespace, d.Namespace)
	assert.Equal(t, DefaultName, d.Name)
	assert.Equal(t, want, d.Labels)
	assert.Equal(t, int32(3), *d.Spec.Replicas)
	assert.Equal(t, sel, d.Spec.Selector.MatchLabels)
	assert.Equal(t, want, d.Spec.Template.Labels)
	assert.Equal(t, intstr.FromInt32(0), *d.Spec.Strategy.RollingUpdate.MaxUnavailable)
	assert.Equal(t, intstr.FromInt32(1), *d.Spec.Strategy.RollingUpdate.MaxSurge)

	pod := d.Spec.Template.Spec
	// 5s drain + 10s shutdown + 5s margin.
	assert.Equal(t, int64(20), *pod.TerminationGracePeriodSeconds)
	assert.Equal(t, []corev1.Toleration{{
		Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
	}}, pod.Tolerations)
	assert.Nil(t, pod.NodeSelector)
	require.Len(t, pod.TopologySpreadConstraints, 1)
	tsc := pod.TopologySpreadConstraints[0]
	assert.Equal(t, int32(1), tsc.MaxSkew)
	assert.Equal(t, "kubernetes.io/hostname", tsc.TopologyKey)
	assert.Equal(t, corev1.DoNotSchedule, tsc.WhenUnsatisfiable)
	assert.Equal(t, sel, tsc.LabelSelector.MatchLabels)
	assert.Equal(t, []string{"pod-template-hash"}, tsc.MatchLabelKeys)
	assert.Equal(t, corev1.NodeInclusionPolicyHonor, *tsc.NodeTaintsPolicy)

	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Equal(t, testImage, c.Image)
	assert.Equal(t, corev1.PullNever, c.ImagePullPolicy, "preloaded images are never pulled")
	assert.Equal(t, []string{"/usr/local/bin/rehearse", "canary", "serve"}, c.Command)
	assert.Equal(t, []string{"--addr", ":8080", "--drain-delay", "5s", "--shutdown-timeout", "10s", "--drain-addr", ":8081"}, c.Args)
	// The preStop hook pauses the stop for the drain delay, through the
	// canary itself (works on every Kubernetes version, unlike the sleep
	// action); the grace period covers it and the shutdown after it.
	require.NotNil(t, c.Lifecycle)
	require.NotNil(t, c.Lifecycle.PreStop)
	assert.Nil(t, c.Lifecycle.PostStart)
	// The hook goes to the drain port, which the Service does not expose.
	assert.Equal(t, &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: "/drain", Port: intstr.FromString("drain"), Scheme: corev1.URISchemeHTTP,
		HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Canary-Drain", Value: "preStop"}},
	}}, c.Lifecycle.PreStop)
	assert.Greater(t, time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second, DefaultDrainDelay+DefaultShutdownTimeout)
	require.Len(t, c.Ports, 2)
	assert.Equal(t, corev1.ContainerPort{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}, c.Ports[0])
	assert.Equal(t, corev1.ContainerPort{Name: "drain", ContainerPort: 8081, Protocol: corev1.ProtocolTCP}, c.Ports[1])
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.ValueFrom.FieldRef.FieldPath
	}
	assert.Equal(t, map[string]string{
		"POD_NAME": "metadata.name", "NODE_NAME": "spec.nodeName",
		"POD_NAMESPACE": "metadata.namespace", "POD_IP": "status.podIP",
	}, env)
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	assert.Equal(t, int32(1), c.ReadinessProbe.PeriodSeconds)
	assert.Equal(t, int32(2), c.ReadinessProbe.FailureThreshold)
	assert.Equal(t, int32(2), c.ReadinessProbe.TimeoutSeconds)
	// Readiness must fail well inside the drain delay.
	assert.Less(t, time.Duration(c.ReadinessProbe.PeriodSeconds*c.ReadinessProbe.FailureThreshold+c.ReadinessProbe.TimeoutSeconds)*time.Second, DefaultDrainDelay)
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	assert.True(t, c.Resources.Requests.Cpu().Equal(resource.MustParse("10m")))
	assert.True(t, c.Resources.Requests.Memory().Equal(resource.MustParse("16Mi")))
	assert.True(t, c.Resources.Limits.Cpu().Equal(resource.MustParse("200m")))
	assert.True(t, c.Resources.Limits.Memory().Equal(resource.MustParse("64Mi")))

	s := objs.Service
	assert.Equal(t, want, s.Labels)
	assert.Equal(t, corev1.ServiceTypeNodePort, s.Spec.Type)
	assert.Equal(t, sel, s.Spec.Selector)
	assert.Equal(t, corev1.ServiceExternalTrafficPolicyCluster, s.Spec.ExternalTrafficPolicy)
	require.Len(t, s.Spec.Ports, 1)
	assert.Equal(t, int32(30080), s.Spec.Ports[0].NodePort)
	assert.Equal(t, intstr.FromString("http"), s.Spec.Ports[0].TargetPort)

	require.NotNil(t, objs.PDB)
	assert.Equal(t, want, objs.PDB.Labels)
	assert.Equal(t, sel, objs.PDB.Spec.Selector.MatchLabels)
	assert.Equal(t, intstr.FromInt32(1), *objs.PDB.Spec.MaxUnavailable)
	assert.Nil(t, objs.PDB.Spec.MinAvailable)

	assert.Len(t, objs.List(), 4)
}

func TestManifestsVariants(t *testing.T) {
	tests := []struct {
		name  string
		opts  DeployOptions
		check func(t *testing.T, o *Objects)
	}{
		{
			name: "max unavailable",
			opts: DeployOptions{PDB: Budget{MaxUnavailable: 2}},
			check: func(t *testing.T, o *Objects) {
				assert.Equal(t, intstr.FromInt32(2), *o.PDB.Spec.MaxUnavailable)
				assert.Nil(t, o.PDB.Spec.MinAvailable)
			},
		},
		{
			name: "min available",
			opts: DeployOptions{PDB: Budget{MinAvailable: 2}},
			check: func(t *testing.T, o *Objects) {
				assert.Equal(t, intstr.FromInt32(2), *o.PDB.Spec.MinAvailable)
				assert.Nil(t, o.PDB.Spec.MaxUnavailable)
			},
		},
		{
			name: "no budget",
			opts: DeployOptions{PDB: Budget{Disabled: true}},
			check: func(t *testing.T, o *Objects) {
				assert.Nil(t, o.PDB)
				assert.Len(t, o.List(), 3)
			},
		},
		{
			name: "allocated node port",
			opts: DeployOptions{NodePort: AllocateNodePort},
			check: func(t *testing.T, o *Objects) {
				assert.Zero(t, o.Service.Spec.Ports[0].NodePort)
			},
		},
		{
			name: "chosen node port",
			opts: DeployOptions{NodePort: 31000},
			check: func(t *testing.T, o *Objects) {
				assert.Equal(t, int32(31000), o.Service.Spec.Ports[0].NodePort)
			},
		},
		{
			name: "local traffic",
			opts: DeployOptions{ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal},
			check: func(t *testing.T, o *Objects) {
				assert.Equal(t, corev1.ServiceExternalTrafficPolicyLocal, o.Service.Spec.ExternalTrafficPolicy)
			},
		},
		{
			name: "node selector without control plane",
			opts: DeployOptions{NodeSelector: map[string]string{"pool": "canary"}, NoControlPlane: true},
			check: func(t *testing.T, o *Objects) {
				pod := o.Deployment.Spec.Template.Spec
				assert.Equal(t, map[string]string{"pool": "canary"}, pod.NodeSelector)
				assert.Empty(t, pod.Tolerations)
			},
		},
		{
			name: "a tainted pool's tolerations",
			opts: DeployOptions{NodeSelector: map[string]string{"rehearse.io/pool": "gpu"}, NoControlPlane: true,
				Tolerations: []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}},
			check: func(t *testing.T, o *Objects) {
				pod := o.Deployment.Spec.Template.Spec
				assert.Equal(t, map[string]string{"rehearse.io/pool": "gpu"}, pod.NodeSelector)
				assert.Equal(t, []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}, pod.Tolerations)
			},
		},
		{
			name: "names and replicas",
			opts: DeployOptions{Namespace: "drill", Name: "web", Replicas: 5},
			check: func(t *testing.T, o *Objects) {
				assert.Equal(t, "drill", o.Namespace.Name)
				for _, m := range []metav1.Object{o.Deployment, o.Service, o.PDB} {
					assert.Equal(t, "drill", m.GetNamespace())
					assert.Equal(t, "web", m.GetName())
					assert.Equal(t, "web", m.GetLabels()[LabelInstance])
				}
				assert.Equal(t, int32(5), *o.Deployment.Spec.Replicas)
				assert.Equal(t, "web", o.Service.Spec.Selector[LabelInstance])
			},
		},
		{
			name: "image from a registry",
			opts: DeployOptions{Image: "registry.example/canary:v1"},
			check: func(t *testing.T, o *Objects) {
				assert.Equal(t, corev1.PullIfNotPresent, o.Deployment.Spec.Template.Spec.Containers[0].ImagePullPolicy)
			},
		},
		{
			name: "drain and grace period",
			opts: DeployOptions{DrainDelay: 2 * time.Second, ShutdownTimeout: 3 * time.Second, TerminationGracePeriod: 7500 * time.Millisecond},
			check: func(t *testing.T, o *Objects) {
				pod := o.Deployment.Spec.Template.Spec
				assert.Equal(t, int64(8), *pod.TerminationGracePeriodSeconds, "rounded up")
				assert.Contains(t, pod.Containers[0].Args, "2s")
				assert.Contains(t, pod.Containers[0].Args, "3s")
			},
		},
		{
			name: "no drain delay, no preStop",
			opts: DeployOptions{NoDrainDelay: true, DrainDelay: 7 * time.Second},
			check: func(t *testing.T, o *Objects) {
				pod := o.Deployment.Spec.Template.Spec
				assert.Nil(t, pod.Containers[0].Lifecycle, "the negative control stops at once")
				assert.NotContains(t, pod.Containers[0].Args, "--drain-addr", "no hook, no drain listener")
				assert.Len(t, pod.Containers[0].Ports, 1)
				assert.Contains(t, pod.Containers[0].Args, "0s")
				assert.Equal(t, int64(15), *pod.TerminationGracePeriodSeconds, "10s shutdown + 5s margin")
			},
		},
		{
			name: "custom drain delay keeps the hook",
			opts: DeployOptions{DrainDelay: 12 * time.Second},
			check: func(t *testing.T, o *Objects) {
				c := o.Deployment.Spec.Template.Spec.Containers[0]
				require.NotNil(t, c.Lifecycle)
				assert.Equal(t, DrainPath, c.Lifecycle.PreStop.HTTPGet.Path)
				assert.Equal(t, []corev1.HTTPHeader{{Name: HeaderDrain, Value: DrainHeaderValue}}, c.Lifecycle.PreStop.HTTPGet.HTTPHeaders)
				assert.Contains(t, c.Args, "12s")
				assert.Equal(t, int64(27), *o.Deployment.Spec.Template.Spec.TerminationGracePeriodSeconds, "12s drain + 10s shutdown + 5s margin")
			},
		},
		{
			name: "custom resources",
			opts: DeployOptions{Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")},
			}},
			check: func(t *testing.T, o *Objects) {
				r := o.Deployment.Spec.Template.Spec.Containers[0].Resources
				assert.True(t, r.Requests.Cpu().Equal(resource.MustParse("50m")))
				assert.Empty(t, r.Limits)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opts.Image == "" {
				tt.opts.Image = testImage
			}
			objs, err := Manifests(tt.opts)
			require.NoError(t, err)
			tt.check(t, objs)
		})
	}
}

func TestDeployOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    DeployOptions
		wantErr []string // substrings; none means valid
	}{
		{name: "image only", opts: DeployOptions{Image: testImage}},
		{name: "no image", opts: DeployOptions{}, wantErr: []string{"image: required"}},
		{name: "negative replicas", opts: DeployOptions{Image: testImage, Replicas: -1}, wantErr: []string{"replicas -1"}},
		{name: "bad namespace", opts: DeployOptions{Image: testImage, Namespace: "Not_OK"}, wantErr: []string{`namespace "Not_OK"`}},
		{name: "bad name", opts: DeployOptions{Image: testImage, Name: "1abc"}, wantErr: []string{`name "1abc"`}},
		{
			name:    "both budgets",
			opts:    DeployOptions{Image: testImage, PDB: Budget{MaxUnavailable: 1, MinAvailable: 1}},
			wantErr: []string{"exclude each other"},
		},
		{
			name:    "disabled budget with a value",
			opts:    DeployOptions{Image: testImage, PDB: Budget{Disabled: true, MaxUnavailable: 1}},
			wantErr: []string{"disabled budget takes neither"},
		},
		{name: "negative budget", opts: DeployOptions{Image: testImage, PDB: Budget{MinAvailable: -1}}, wantErr: []string{"min-available -1"}},
		{name: "node port out of range", opts: DeployOptions{Image: testImage, NodePort: 70000}, wantErr: []string{"node port 70000"}},
		{name: "traffic policy", opts: DeployOptions{Image: testImage, ExternalTrafficPolicy: "Nearest"}, wantErr: []string{`"Nearest"`}},
		{name: "pull policy", opts: DeployOptions{Image: testImage, ImagePullPolicy: "Sometimes"}, wantErr: []string{`"Sometimes"`}},
		{
			name:    "node selector",
			opts:    DeployOptions{Image: testImage, NodeSelector: map[string]string{"bad key!": "v", "k": "bad value!"}},
			wantErr: []string{`node selector key "bad key!"`, `node selector value "bad value!"`},
		},
		{
			name:    "grace period shorter than the drain",
			opts:    DeployOptions{Image: testImage, TerminationGracePeriod: 10 * time.Second},
			wantErr: []string{"termination grace period 10s: must exceed drain delay 5s + shutdown timeout 10s"},
		},
		{
			name: "grace period just longer than the drain",
			opts: DeployOptions{Image: testImage, TerminationGracePeriod: 16 * time.Second},
		},
		{
			name:    "every problem is reported",
			opts:    DeployOptions{Replicas: -2, Timeout: -time.Second},
			wantErr: []string{"image: required", "replicas -2", "timeout -1s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if len(tt.wantErr) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.wantErr {
				assert.Contains(t, err.Error(), w)
			}
			_, merr := Manifests(tt.opts)
			assert.Error(t, merr)
		})
	}
}

// testNode is a Ready node with an internal address.
func testNode(name, ip string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeHostName, Address: name},
			{Type: corev1.NodeInternalIP, Address: ip},
		}},
	}
}

func kindNodes() []*corev1.Node {
	return []*corev1.Node{
		testNode("kind-control-plane", "10.89.0.2"),
		testNode("kind-worker", "10.89.0.3"),
		testNode("kind-worker2", "10.89.0.4"),
	}
}

func newFakeClient(nodes ...*corev1.Node) *fake.Clientset {
	c := fake.NewClientset()
	for _, n := range nodes {
		if _, err := c.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
			panic(err)
		}
	}
	return c
}

// controller plays the Deployment controller, scheduler and kubelet of a
// fake cluster: once the canary's Deployment appears it starts one Ready pod
// per replica, round-robin over the nodes, and reports the Deployment
// available. It stops with ctx.
type controller struct {
	client kubernetes.Interface
	ns     string
	name   string
	nodes  []string
	wg     sync.WaitGroup
}

func startController(ctx context.Context, t *testing.T, c kubernetes.Interface, ns, name string, nodes []string) *controller {
	t.Helper()
	ctl := &controller{client: c, ns: ns, name: name, nodes: nodes}
	ctl.wg.Add(1)
	go func() {
		defer ctl.wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := ctl.step(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("fake controller: %v", err)
				return
			}
		}
	}()
	t.Cleanup(ctl.wg.Wait)
	return ctl
}

func (ctl *controller) step(ctx context.Context) error {
	deps := ctl.client.AppsV1().Deployments(ctl.ns)
	d, err := deps.Get(ctx, ctl.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	want := *d.Spec.Replicas
	if d.Status.ReadyReplicas == want && d.Status.Replicas == want {
		return nil
	}
	pods := ctl.client.CoreV1().Pods(ctl.ns)
	for i := range want {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name:      fmt.Sprintf("%s-abc12-%d", ctl.name, i),
				Namespace: ctl.ns,
				Labels:    d.Spec.Template.Labels,
			},
			Spec: corev1.PodSpec{NodeName: ctl.nodes[int(i)%len(ctl.nodes)]},
			Status: corev1.PodStatus{
				Phase: corev1.PodRunning,
				PodIP: fmt.Sprintf("10.244.%d.%d", int(i)%len(ctl.nodes), 10+i),
				Conditions: []corev1.PodCondition{
					{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
					{Type: corev1.PodReady, Status: corev1.ConditionTrue},
				},
			},
		}
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           want, UpdatedReplicas: want, ReadyReplicas: want, AvailableReplicas: want,
	}
	_, err = deps.UpdateStatus(ctx, d, metav1.UpdateOptions{})
	return err
}

func fastOptions(o DeployOptions) DeployOptions {
	if o.Image == "" {
		o.Image = testImage
	}
	o.pollInterval = 5 * time.Millisecond
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second // a hang guard, not a measurement
	}
	return o
}

func TestDeployWaitsForReadyPods(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := newFakeClient(kindNodes()...)
	startController(ctx, t, client, DefaultNamespace, DefaultName, []string{"kind-control-plane", "kind-worker", "kind-worker2"})

	var progress bytes.Buffer
	got, err := Deploy(ctx, client, fastOptions(DeployOptions{}), &progress)
	require.NoError(t, err)

	assert.Equal(t, DefaultNamespace, got.Namespace)
	assert.Equal(t, DefaultName, got.Name)
	assert.Equal(t, int32(3), got.Replicas)
	assert.Equal(t, int32(DefaultNodePort), got.NodePort)
	assert.Equal(t, []PodInfo{
		{Name: "canary-abc12-0", Node: "kind-control-plane", IP: "10.244.0.10"},
		{Name: "canary-abc12-1", Node: "kind-worker", IP: "10.244.1.11"},
		{Name: "canary-abc12-2", Node: "kind-worker2", IP: "10.244.2.12"},
	}, got.Pods)
	assert.Equal(t, []NodeInfo{
		{Name: "kind-control-plane", InternalIP: "10.89.0.2", Pods: 1},
		{Name: "kind-worker", InternalIP: "10.89.0.3", Pods: 1},
		{Name: "kind-worker2", InternalIP: "10.89.0.4", Pods: 1},
	}, got.Nodes)
	assert.Equal(t, []string{"http://10.89.0.2:30080/", "http://10.89.0.3:30080/", "http://10.89.0.4:30080/"}, got.Targets())
	assert.Contains(t, progress.String(), "created namespace rehearse-canary")
	assert.Contains(t, progress.String(), "3/3 ready")

	ns, err := client.CoreV1().Namespaces().Get(ctx, DefaultNamespace, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, ManagedBy, ns.Labels[LabelManagedBy])
	d, err := client.AppsV1().Deployments(DefaultNamespace).Get(ctx, DefaultName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, testImage, d.Spec.Template.Spec.Containers[0].Image)
	assert.Equal(t, Labels(DefaultName), d.Labels)
	svc, err := client.CoreV1().Services(DefaultNamespace).Get(ctx, DefaultName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(30080), svc.Spec.Ports[0].NodePort)
	pdb, err := client.PolicyV1().PodDisruptionBudgets(DefaultNamespace).Get(ctx, DefaultName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, intstr.FromInt32(1), *pdb.Spec.MaxUnavailable)

	// Deploying again converges on the new options: the budget goes away.
	_, err = Deploy(ctx, client, fastOptions(DeployOptions{PDB: Budget{Disabled: true}, NodePort: 31111}), nil)
	require.NoError(t, err)
	_, err = client.PolicyV1().PodDisruptionBudgets(DefaultNamespace).Get(ctx, DefaultName, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "budget deleted, got %v", err)
	svc, err = client.CoreV1().Services(DefaultNamespace).Get(ctx, DefaultName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(31111), svc.Spec.Ports[0].NodePort)
}

func TestDeployLocalTrafficTargetsOnlyNodesWithPods(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := newFakeClient(kindNodes()...)
	startController(ctx, t, client, "drill", "web", []string{"kind-worker", "kind-worker2"})

	got, err := Deploy(ctx, client, fastOptions(DeployOptions{
		Namespace: "drill", Name: "web", Replicas: 2, NoControlPlane: true,
		ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
	}), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"http://10.89.0.3:30080/", "http://10.89.0.4:30080/"}, got.Targets())
}

func TestDeployTimesOutWithTheReason(t *testing.T) {
	ctx := context.Background()
	client := newFakeClient(kindNodes()...)
	// A pod the scheduler cannot place, and one whose image is missing.
	for _, p := range []*corev1.Pod{
		{
			ObjectMeta: metav1.ObjectMeta{Name: "canary-x-1", Namespace: DefaultNamespace, Labels: Labels(DefaultName)},
			Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
				Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
				Message: "0/3 nodes are available: 3 node(s) didn't match pod topology spread constraints.",
			}}},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "canary-x-2", Namespace: DefaultNamespace, Labels: Labels(DefaultName)},
			Spec:       corev1.PodSpec{NodeName: "kind-worker"},
			Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
				Name: "canary",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: "ErrImageNeverPull", Message: `Container image "localhost/rehearse/canary:v0.1.0" is not present with pull policy of Never`,
				}},
			}}},
		},
	} {
		_, err := client.CoreV1().Pods(DefaultNamespace).Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
	}

	var progress bytes.Buffer
	_, err := Deploy(ctx, client, fastOptions(DeployOptions{Timeout: 100 * time.Millisecond}), &progress)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "canary rehearse-canary/canary not available within 100ms")
	assert.Contains(t, err.Error(), "0/3 ready")
	assert.Contains(t, err.Error(), "canary-x-1: Pending: 0/3 nodes are available")
	assert.Contains(t, err.Error(), `canary-x-2: Pending: container canary ErrImageNeverPull: Container image "localhost/rehearse/canary:v0.1.0" is not present`)
	assert.Contains(t, progress.String(), "ErrImageNeverPull")
}

func TestDeployStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	client := newFakeClient(kindNodes()...)
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	_, err := Deploy(ctx, client, fastOptions(DeployOptions{}), nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestDeployRejectsInvalidOptions(t *testing.T) {
	client := newFakeClient()
	_, err := Deploy(context.Background(), client, DeployOptions{Replicas: -1}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "image: required")
	nss, err := client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, nss.Items, "nothing created")
}

func TestDeleteRemovesWhatDeployCreated(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := newFakeClient(kindNodes()...)
	startController(ctx, t, client, DefaultNamespace, DefaultName, []string{"kind-worker"})
	d, err := Deploy(ctx, client, fastOptions(DeployOptions{}), nil)
	require.NoError(t, err)
	cancel()
	// The Ingress in-cluster generators send through routes its host to
	// the canary's Service port, in the class asked for.
	_, err = ApplyIngress(context.Background(), client, d, "traefik", "canary.rehearse.test")
	require.NoError(t, err)
	in, err := client.NetworkingV1().Ingresses(DefaultNamespace).Get(context.Background(), DefaultName, metav1.GetOptions{})
	require.NoError(t, err)
	require.NotNil(t, in.Spec.IngressClassName)
	assert.Equal(t, "traefik", *in.Spec.IngressClassName)
	require.Len(t, in.Spec.Rules, 1)
	rule := in.Spec.Rules[0]
	assert.Equal(t, "canary.rehearse.test", rule.Host)
	require.Len(t, rule.HTTP.Paths, 1)
	assert.Equal(t, "/", rule.HTTP.Paths[0].Path)
	assert.Equal(t, DefaultName, rule.HTTP.Paths[0].Backend.Service.Name)
	assert.Equal(t, int32(ServicePort), rule.HTTP.Paths[0].Backend.Service.Port.Number)

	deleted, err := Delete(context.Background(), client, fastOptions(DeployOptions{}))
	require.NoError(t, err)
	assert.Equal(t, []string{
		"deployment/canary", "service/canary", "poddisruptionbudget/canary", "ingress/canary", "namespace/rehearse-canary",
	}, deleted)
	_, err = client.CoreV1().Namespaces().Get(context.Background(), DefaultNamespace, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "namespace gone, got %v", err)

	// Nothing left is not an error.
	deleted, err = Delete(context.Background(), client, fastOptions(DeployOptions{}))
	require.NoError(t, err)
	assert.Empty(t, deleted)
}

func TestDeleteKeepsAForeignNamespaceAndOtherObjects(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := newFakeClient(kindNodes()...)
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: map[string]string{"owner": "team"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	// Something else lives in the namespace, and so does another canary.
	_, err = client.CoreV1().Services("team").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: "team", Labels: map[string]string{"app": "theirs"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = client.CoreV1().Services("team").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "team", Labels: Labels("other")},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	startController(ctx, t, client, "team", DefaultName, []string{"kind-worker"})
	var progress bytes.Buffer
	_, err = Deploy(ctx, client, fastOptions(DeployOptions{Namespace: "team"}), &progress)
	require.NoError(t, err)
	assert.NotContains(t, progress.String(), "created namespace")
	ns, err := client.CoreV1().Namespaces().Get(ctx, "team", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"owner": "team"}, ns.Labels, "an existing namespace is not relabelled")
	cancel()

	deleted, err := Delete(context.Background(), client, fastOptions(DeployOptions{Namespace: "team"}))
	require.NoError(t, err)
	assert.Equal(t, []string{"deployment/canary", "service/canary", "poddisruptionbudget/canary"}, deleted)
	for _, name := range []string{"theirs", "other"} {
		_, err = client.CoreV1().Services("team").Get(context.Background(), name, metav1.GetOptions{})
		assert.NoError(t, err, "service %s kept", name)
	}
	_, err = client.CoreV1().Namespaces().Get(context.Background(), "team", metav1.GetOptions{})
	assert.NoError(t, err, "namespace kept")
}

func TestRollout(t *testing.T) {
	ready := func(name string, del bool) corev1.Pod {
		p := corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionTrue},
			}},
		}
		if del {
			p.DeletionTimestamp = ptr.To(metav1.Now())
		}
		return p
	}
	crashing := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "c"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name:                 "canary",
			RestartCount:         3,
			State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}},
		}}},
	}
	dep := func(gen, observed int64, replicas, updated, ready, available int32) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(int32(2))},
			Status: appsv1.DeploymentStatus{
				ObservedGeneration: observed, Replicas: replicas, UpdatedReplicas: updated,
				ReadyReplicas: ready, AvailableReplicas: available,
			},
		}
	}
	tests := []struct {
		name      string
		dep       *appsv1.Deployment
		pods      []corev1.Pod
		done      bool
		wantStuck string
	}{
		{name: "all ready", dep: dep(2, 2, 2, 2, 2, 2), pods: []corev1.Pod{ready("a", false), ready("b", false)}, done: true},
		{name: "terminating pods do not count", dep: dep(2, 2, 2, 2, 2, 2), pods: []corev1.Pod{ready("a", false), ready("b", false), ready("old", true)}, done: true},
		{name: "status not observed yet", dep: dep(3, 2, 2, 2, 2, 2), pods: []corev1.Pod{ready("a", false), ready("b", false)}},
		{name: "old pod still there", dep: dep(2, 2, 3, 2, 3, 3), pods: []corev1.Pod{ready("a", false), ready("b", false), ready("old", false)}},
		{name: "one pod crashing", dep: dep(2, 2, 2, 2, 1, 1), pods: []corev1.Pod{ready("a", false), crashing}, wantStuck: "c: not ready: container canary restarted 3 times, last exit 2 (Error)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := rollout(tt.dep, tt.pods)
			assert.Equal(t, tt.done, st.done, st.String())
			if tt.wantStuck != "" {
				assert.Contains(t, st.String(), tt.wantStuck)
			}
		})
	}
}
