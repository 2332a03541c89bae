package driver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/scenarios"
)

func TestFaultsArePlacedInThePlan(t *testing.T) {
	d, err := NewKubeadm(KubeadmSettings{})
	require.NoError(t, err)
	w := WithFaults(d, []scenarios.Fault{
		{Kind: scenarios.FaultKubelet, Nodes: []string{"worker"}},
		{Kind: scenarios.FaultEtcdMember, Nodes: []string{"control-plane3"}, After: "control-plane", For: scenarios.Duration{Duration: 20 * time.Second}},
		{Kind: scenarios.FaultAPIServer, Nodes: []string{"control-plane"}, DuringDrain: "worker2"},
	})
	plan, err := w.Plan(context.Background(), Env{Shape: KindShape("ha", "v1.35.4", 3, 2)}, "v1.36.3")
	require.NoError(t, err)

	first := plan.Root.Children[0]
	assert.Equal(t, "fault kubelet: kill on ha-worker, heal within 3m0s", first.Name, "a fault with no point comes before the upgrade")
	var cp []string
	for _, s := range plan.Root.Children[2].Children {
		cp = append(cp, s.Name)
	}
	assert.Equal(t, []string{"ha-control-plane", "fault etcd-member: stop for 20s on ha-control-plane3, heal within 3m0s", "ha-control-plane2", "ha-control-plane3"}, cp)

	path := findPath(plan.Root, func(s *Step) bool { return s.Name == "drain ha-worker2 under a fault" })
	require.NotNil(t, path, "the drain of worker2 runs beside the fault")
	g := path[len(path)-1]
	assert.Equal(t, Parallel, g.Strategy)
	require.Len(t, g.Children, 2)
	assert.Equal(t, "drain", g.Children[0].Name)
	assert.Equal(t, "ha-worker2", g.Children[0].Subject)
	assert.Equal(t, "fault apiserver: kill on ha-control-plane, heal within 3m0s", g.Children[1].Name)

	// A node the plan does not have is named with its field.
	w = WithFaults(d, []scenarios.Fault{{Kind: scenarios.FaultKubelet, Nodes: []string{"worker"}, After: "worker7"}})
	_, err = w.Plan(context.Background(), Env{Shape: KindShape("ha", "v1.35.4", 3, 2)}, "v1.36.3")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `upgrade.faults[0].after: no node "worker7"`)
}

// etcdCluster plays three etcd members and the node containers they run
// in: taking a member's manifest away stops it, putting it back starts it
// (and its mirror pod, Ready, with a container started now).
type etcdCluster struct {
	mu     sync.Mutex
	down   map[string]bool // endpoint
	epOf   map[string]string
	client *fake.Clientset
	cmds   []string
}

func (e *etcdCluster) post(_ context.Context, endpoint, path string, _, out any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down[endpoint] {
		return errors.New("connection refused")
	}
	up := 0
	for _, ep := range e.epOf {
		if !e.down[ep] {
			up++
		}
	}
	leader := "0"
	if up >= 2 {
		leader = "1"
	}
	var body string
	switch path {
	case "/v3/cluster/member/list":
		if leader == "0" {
			return errors.New("etcdserver: request timed out")
		}
		body = `{"members":[{"ID":"1","name":"cp1"},{"ID":"2","name":"cp2"},{"ID":"3","name":"cp3"}]}`
	case "/v3/maintenance/status":
		id := map[string]string{"10.0.0.1:2379": "1", "10.0.0.2:2379": "2", "10.0.0.3:2379": "3"}[endpoint]
		body = fmt.Sprintf(`{"header":{"member_id":%q},"version":"3.6.5","leader":%q}`, id, leader)
	}
	return json.Unmarshal([]byte(body), out)
}

func (e *etcdCluster) Exec(ctx context.Context, node string, argv ...string) (string, error) {
	e.mu.Lock()
	e.cmds = append(e.cmds, node+": "+strings.Join(argv, " "))
	e.mu.Unlock()
	switch {
	case argv[0] == "mv" && strings.HasSuffix(argv[1], "manifests/etcd.yaml"):
		e.mu.Lock()
		e.down[e.epOf[node]] = true
		e.mu.Unlock()
	case argv[0] == "sh" && strings.Contains(argv[2], "mv /etc/kubernetes/rehearse-fault-etcd.yaml"):
		e.mu.Lock()
		e.down[e.epOf[node]] = false
		e.mu.Unlock()
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "etcd-" + node, Namespace: "kube-system"},
			Status: corev1.PodStatus{
				Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "etcd", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}},
			},
		}
		_ = e.client.CoreV1().Pods("kube-system").Delete(ctx, pod.Name, metav1.DeleteOptions{})
		_, err := e.client.CoreV1().Pods("kube-system").Create(ctx, pod, metav1.CreateOptions{})
		return "", err
	}
	return "", nil
}

func (e *etcdCluster) Engine(context.Context, ...string) (string, error) { return "", nil }

func haCluster() (*fake.Clientset, *etcdCluster) {
	c := fake.NewClientset()
	e := &etcdCluster{down: map[string]bool{}, epOf: map[string]string{}, client: c}
	for i, n := range []string{"ha-control-plane", "ha-control-plane2", "ha-control-plane3"} {
		ip := fmt.Sprintf("10.0.0.%d", i+1)
		e.epOf[n] = ip + ":2379"
		_, _ = c.CoreV1().Nodes().Create(context.Background(), &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}},
			Status: corev1.NodeStatus{
				Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}},
				NodeInfo:  corev1.NodeSystemInfo{KubeletVersion: "v1.35.4"},
			},
		}, metav1.CreateOptions{})
	}
	return c, e
}

func runFault(t *testing.T, f scenarios.Fault) (*etcdCluster, []timeline.Event, error) {
	t.Helper()
	c, e := haCluster()
	w := &Faults{Driver: nopDriver{}, Faults: []scenarios.Fault{f}, Runner: e, Poll: 20 * time.Millisecond,
		etcd: func(context.Context, NodeRunner, string) (etcdAPI, error) { return e, nil }}
	env := Env{Client: c, Log: io.Discard}
	plan, err := w.Plan(context.Background(), env, "v1.36.3")
	require.NoError(t, err)
	rec := timeline.NewRecorder(nil)
	err = plan.Execute(context.Background(), env, rec)
	return e, rec.Events(), err
}

// nopDriver's plan does nothing but hold the faults.
type nopDriver struct{}

func (nopDriver) Plan(context.Context, Env, string) (*Plan, error) {
	return &Plan{Driver: "nop", Root: Group("nothing", Serial, Action("wait", "", func(context.Context, Env) error { return nil }))}, nil
}

func faultEvents(evs []timeline.Event) []string {
	var out []string
	for _, ev := range evs {
		if ev.Kind == "fault" {
			out = append(out, ev.Outcome)
		}
	}
	return out
}

func TestFaultOneEtcdMemberHeals(t *testing.T) {
	e, evs, err := runFault(t, scenarios.Fault{Kind: scenarios.FaultEtcdMember, Nodes: []string{"control-plane3"},
		For: scenarios.Duration{Duration: 100 * time.Millisecond}, HealWithin: scenarios.Duration{Duration: 5 * time.Second}})
	require.NoError(t, err)
	assert.Equal(t, []string{"injected", "healed"}, faultEvents(evs))
	assert.Equal(t, []string{
		"ha-control-plane3: mv /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/rehearse-fault-etcd.yaml",
		"ha-control-plane3: sh -c [ ! -e /etc/kubernetes/rehearse-fault-etcd.yaml ] || mv /etc/kubernetes/rehearse-fault-etcd.yaml /etc/kubernetes/manifests/etcd.yaml",
	}, e.cmds)
	for _, ev := range evs {
		if ev.Outcome == "healed" {
			assert.Contains(t, ev.Message, "etcd: 3 members started, leader cp1; static pods Ready again")
		}
	}
}

func TestFaultTwoEtcdMembersLoseQuorum(t *testing.T) {
	_, evs, err := runFault(t, scenarios.Fault{Kind: scenarios.FaultEtcdMember, Nodes: []string{"control-plane2", "control-plane3"},
		For: scenarios.Duration{Duration: 200 * time.Millisecond}, HealWithin: scenarios.Duration{Duration: 5 * time.Second}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "etcd lost quorum for")
	assert.Contains(t, err.Error(), "(1 of 3 members answered)")
	assert.Equal(t, []string{"injected", "healed", "quorum-lost"}, faultEvents(evs), "it healed, and lost quorum meanwhile")
}

func TestFaultNotHealedWithinItsBound(t *testing.T) {
	c, e := haCluster()
	// The kubelet never brings the pod back: no mirror pod appears.
	w := &Faults{Driver: nopDriver{}, Runner: failingMend{e}, Poll: 20 * time.Millisecond,
		Faults: []scenarios.Fault{{Kind: scenarios.FaultEtcdMember, Nodes: []string{"control-plane2"},
			For: scenarios.Duration{Duration: 50 * time.Millisecond}, HealWithin: scenarios.Duration{Duration: 200 * time.Millisecond}}},
		etcd: func(context.Context, NodeRunner, string) (etcdAPI, error) { return e, nil }}
	env := Env{Client: c, Log: io.Discard}
	plan, err := w.Plan(context.Background(), env, "v1.36.3")
	require.NoError(t, err)
	err = plan.Execute(context.Background(), env, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did not heal within 200ms of the fault's end")
	assert.Contains(t, err.Error(), "10.0.0.2:2379 does not answer")
}

// failingMend plays a node whose etcd stays down when its manifest is back.
type failingMend struct{ *etcdCluster }

func (f failingMend) Exec(ctx context.Context, node string, argv ...string) (string, error) {
	if argv[0] == "sh" {
		return "", nil
	}
	return f.etcdCluster.Exec(ctx, node, argv...)
}

func TestFaultKubeletWaitsForTheLease(t *testing.T) {
	c := fake.NewClientset(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "kind-worker"},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "kind-control-plane", Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}},
	})
	old := metav1.NewMicroTime(time.Now().Add(-time.Minute))
	_, err := c.CoordinationV1().Leases("kube-node-lease").Create(context.Background(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "kind-worker", Namespace: "kube-node-lease"}, Spec: coordinationv1.LeaseSpec{RenewTime: &old},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	nodes := &fakeNodes{client: c}
	w := &Faults{Driver: nopDriver{}, Runner: nodes, Poll: 20 * time.Millisecond,
		Faults: []scenarios.Fault{{Kind: scenarios.FaultKubelet, Nodes: []string{"worker"}, For: scenarios.Duration{Duration: 50 * time.Millisecond}, HealWithin: scenarios.Duration{Duration: 3 * time.Second}}}}
	env := Env{Client: c, Log: io.Discard}
	plan, err := w.Plan(context.Background(), env, "v1.36.3")
	require.NoError(t, err)
	go func() {
		// The restarted kubelet renews its lease a little later.
		time.Sleep(300 * time.Millisecond)
		now := metav1.NewMicroTime(time.Now())
		l, _ := c.CoordinationV1().Leases("kube-node-lease").Get(context.Background(), "kind-worker", metav1.GetOptions{})
		l.Spec.RenewTime = &now
		_, _ = c.CoordinationV1().Leases("kube-node-lease").Update(context.Background(), l, metav1.UpdateOptions{})
	}()
	start := time.Now()
	require.NoError(t, plan.Execute(context.Background(), env, nil))
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "healed only once the lease was renewed")
	assert.Equal(t, []string{"kind-worker: systemctl stop kubelet", "kind-worker: systemctl start kubelet"}, nodes.cmds)
}

// A killed node is healed once it is Ready with its kubelet renewing its
// lease and every pod that was Ready on it before is Ready again: the
// restarts that follow a machine's loss belong to the fault.
func TestFaultNodeWaitsForItsPods(t *testing.T) {
	pod := func(name string, ok bool, started time.Time) *corev1.Pod {
		st := corev1.ConditionFalse
		if ok {
			st = corev1.ConditionTrue
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.PodSpec{NodeName: "kind-worker"},
			Status: corev1.PodStatus{
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: ok,
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}}}},
			}}
	}
	long := time.Now().Add(-time.Hour)
	c := workerBack(t, pod("canary-1", true, long), pod("canary-2", true, long), pod("gone-1", true, long), pod("never-ready", false, long))
	nodes := &fakeNodes{client: c}
	update := func(p *corev1.Pod) {
		_, _ = c.CoreV1().Pods("default").Update(context.Background(), p, metav1.UpdateOptions{})
	}
	lost := &lostNode{fakeNodes: nodes, addr: 3, lose: func() {
		// The machine is gone. One pod is deleted meanwhile; another is
		// marked not Ready. The third still shows Ready from before, as
		// the API does when the node is back before the node controller's
		// grace period ends.
		update(pod("canary-1", false, long))
		_ = c.CoreV1().Pods("default").Delete(context.Background(), "gone-1", metav1.DeleteOptions{})
	}, back: func() {
		// Its kubelet restarts the containers a little after it is up.
		time.Sleep(200 * time.Millisecond)
		update(pod("canary-1", true, time.Now()))
		time.Sleep(200 * time.Millisecond)
		update(pod("canary-2", true, time.Now()))
	}}
	w := &Faults{Driver: nopDriver{}, Runner: lost, Poll: 20 * time.Millisecond,
		Faults: []scenarios.Fault{{Kind: scenarios.FaultNode, Nodes: []string{"worker"}, For: scenarios.Duration{Duration: 50 * time.Millisecond}, HealWithin: scenarios.Duration{Duration: 3 * time.Second}}}}
	env := Env{Client: c, Log: io.Discard}
	plan, err := w.Plan(context.Background(), env, "v1.36.3")
	require.NoError(t, err)
	rec := timeline.NewRecorder(nil)
	start := time.Now()
	require.NoError(t, plan.Execute(context.Background(), env, rec))
	assert.GreaterOrEqual(t, time.Since(start), 400*time.Millisecond,
		"healed only once both its Ready pods were restarted, the one still shown Ready from before the fault too")
	assert.Equal(t, []string{"inspect kind-worker", "kill kind-worker",
		"network disconnect kind kind-worker", "network connect --ip 10.89.0.3 kind kind-worker",
		"start kind-worker", "inspect kind-worker"}, engineCmds(nodes.cmds), "the node comes back on its address")
	var healed string
	for _, ev := range rec.Events() {
		if ev.Kind == "fault" && ev.Outcome == "healed" {
			healed = ev.Message
		}
	}
	assert.Contains(t, healed, "the 3 pods Ready on them before restarted and Ready again", "a pod never Ready before is not waited for")
}

func TestFaultNodeAddress(t *testing.T) {
	for _, tc := range []struct {
		name    string
		address string
		failPin bool
		cmds    []string
		log     string
		err     string
	}{
		{name: "kept by default",
			cmds: []string{"inspect kind-worker", "kill kind-worker", "network disconnect kind kind-worker",
				"network connect --ip 10.89.0.3 kind kind-worker", "start kind-worker", "inspect kind-worker"},
			log: "kind-worker started again on 10.89.0.3 on kind (it was on 10.89.0.3 on kind)"},
		{name: "new", address: scenarios.FaultAddressNew,
			cmds: []string{"inspect kind-worker", "kill kind-worker", "start kind-worker", "inspect kind-worker"},
			log:  "kind-worker started again on 10.89.0.13 on kind (it was on 10.89.0.3 on kind)"},
		{name: "not kept", failPin: true,
			cmds: []string{"inspect kind-worker", "kill kind-worker", "network disconnect kind kind-worker",
				"network connect --ip 10.89.0.3 kind kind-worker", "network connect kind kind-worker", "start kind-worker", "inspect kind-worker"},
			log: "kind-worker started again on 10.89.0.13 on kind",
			err: "keep address 10.89.0.3: IP address 10.89.0.3 is already allocated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := workerBack(t)
			nodes := &fakeNodes{client: c}
			w := &Faults{Driver: nopDriver{}, Runner: &lostNode{fakeNodes: nodes, addr: 3, failPin: tc.failPin}, Poll: 20 * time.Millisecond,
				Faults: []scenarios.Fault{{Kind: scenarios.FaultNode, Nodes: []string{"worker"}, Address: tc.address,
					For: scenarios.Duration{Duration: 10 * time.Millisecond}, HealWithin: scenarios.Duration{Duration: 3 * time.Second}}}}
			var log strings.Builder
			env := Env{Client: c, Log: &log}
			plan, err := w.Plan(context.Background(), env, "v1.36.3")
			require.NoError(t, err)
			err = plan.Execute(context.Background(), env, timeline.NewRecorder(nil))
			if tc.err == "" {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				assert.Contains(t, err.Error(), "came back on 10.89.0.13 on kind, not on its address 10.89.0.3 on kind")
			}
			assert.Equal(t, tc.cmds, engineCmds(nodes.cmds), "the node is started again whatever happens")
			assert.Contains(t, log.String(), tc.log)
		})
	}
}

// workerBack is a 1+1 cluster whose worker is Ready, its kubelet's lease
// renewed (an hour ahead, so after any fault), holding objs.
func workerBack(t *testing.T, objs ...runtime.Object) *fake.Clientset {
	t.Helper()
	c := fake.NewClientset(append([]runtime.Object{&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "kind-worker"},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "kind-control-plane", Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}},
	}}, objs...)...)
	later := metav1.NewMicroTime(time.Now().Add(time.Hour))
	_, err := c.CoordinationV1().Leases("kube-node-lease").Create(context.Background(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "kind-worker", Namespace: "kube-node-lease"}, Spec: coordinationv1.LeaseSpec{RenewTime: &later},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return c
}

// lostNode plays a node container killed and started again, on the
// address the container engine gives it: the next one free, unless its
// network was connected again with one.
type lostNode struct {
	*fakeNodes
	lose, back func()
	addr       int // last octet of its address on the network kind
	static     bool
	failPin    bool // connecting with an address fails
}

func (l *lostNode) Engine(ctx context.Context, args ...string) (string, error) {
	out, err := l.fakeNodes.Engine(ctx, args...)
	switch args[0] {
	case "inspect":
		return fmt.Sprintf("kind|10.89.0.%d|;", l.addr), nil
	case "kill":
		if l.lose != nil {
			l.lose()
		}
	case "start":
		if !l.static {
			l.addr += 10
		}
		if l.back != nil {
			go l.back()
		}
	case "network":
		if args[1] == "connect" && args[2] == "--ip" {
			if l.failPin {
				return "", errors.New("IP address 10.89.0.3 is already allocated")
			}
			_, err := fmt.Sscanf(args[3], "10.89.0.%d", &l.addr)
			l.static = true
			return "", err
		}
	}
	return out, err
}

// engineCmds are the container engine's commands among cmds, an
// inspect's format left out.
func engineCmds(cmds []string) []string {
	var out []string
	for _, c := range cmds {
		if c, ok := strings.CutPrefix(c, "engine: "); ok {
			out = append(out, strings.Replace(c, "inspect --format "+nodeAddrFormat, "inspect", 1))
		}
	}
	return out
}
