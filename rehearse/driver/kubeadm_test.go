package driver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

func kindNode(name string, cp bool, v string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
		Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: v},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	if cp {
		n.Labels["node-role.kubernetes.io/control-plane"] = ""
	}
	return n
}

func kindClient(v string) *fake.Clientset {
	c := fake.NewClientset(kindNode("kind-control-plane", true, v), kindNode("kind-worker", false, v), kindNode("kind-worker2", false, v))
	c.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: v}
	return c
}

func TestKubeadmPlanTree(t *testing.T) {
	d, err := NewKubeadm(KubeadmSettings{MaxUnavailable: 1, NodeInterval: 10e9})
	require.NoError(t, err)
	plan, err := d.Plan(context.Background(), Env{Client: kindClient("v1.35.4")}, "v1.36.3")
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, plan.Render(&b))
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"[ ] kubeadm upgrade from v1.35.4 to v1.36.3  [serial]",
		"stage binaries and images of v1.36.3 from localhost/rehearse/node:v1.36.3",
		"load into nodes  [parallel]",
		"kind-control-plane  [serial]",
		"kubeadm upgrade apply v1.36.3 (kind-control-plane)",
		"workers (1 at a time, 10s between)  [serial]",
		"batch kind-worker  [parallel]",
		"kubeadm upgrade node (kind-worker2)",
		"drain (kind-worker2)",
		"ready at v1.36.3 (kind-worker2)",
	} {
		assert.Contains(t, out, want)
	}
}

func TestKubeadmRejectsBadTargetsBeforeAnything(t *testing.T) {
	d, _ := NewKubeadm(KubeadmSettings{})
	for _, tc := range []struct{ target, want string }{
		{"v1.34.4", "target v1.34.4 is not newer than the cluster's v1.35.4"},
		{"v1.35.4", "is not newer"},
		{"v1.37.0", "more than one minor version ahead of v1.35.4"},
		{"latest", `"latest" is not a Kubernetes version`},
	} {
		t.Run(tc.target, func(t *testing.T) {
			_, err := d.Plan(context.Background(), Env{Client: kindClient("v1.35.4")}, tc.target)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// fakeNodes plays the node containers: it records commands and, when a
// node's kubelet is swapped, reports the node at the new version.
type fakeNodes struct {
	mu     sync.Mutex
	cmds   []string
	client *fake.Clientset
	target string
}

func (f *fakeNodes) Exec(ctx context.Context, node string, argv ...string) (string, error) {
	f.mu.Lock()
	f.cmds = append(f.cmds, node+": "+strings.Join(argv, " "))
	f.mu.Unlock()
	line := strings.Join(argv, " ")
	switch {
	case strings.Contains(line, "images list -q"):
		return "registry.k8s.io/kube-apiserver:v1.36.3\nsha256:abc\nregistry.k8s.io/pause:3.10.2\n", nil
	case strings.Contains(line, "cp /tmp/rehearse-upgrade/kubelet"):
		n, err := f.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		n.Status.NodeInfo.KubeletVersion = f.target
		_, err = f.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return "", err
	}
	return "", nil
}

func (f *fakeNodes) Engine(ctx context.Context, args ...string) (string, error) {
	f.mu.Lock()
	f.cmds = append(f.cmds, "engine: "+strings.Join(args, " "))
	f.mu.Unlock()
	if args[0] == "cp" && !strings.Contains(args[1], ":") {
		return "", nil
	}
	if args[0] == "cp" {
		// Copying out of the staging container: make the file.
		return "", os.WriteFile(args[2], []byte("x"), 0o644)
	}
	return "", nil
}

func TestKubeadmUpgradeOrder(t *testing.T) {
	c := kindClient("v1.35.4")
	nodes := &fakeNodes{client: c, target: "v1.36.3"}
	d, _ := NewKubeadm(KubeadmSettings{Runner: nodes, ReadyTimeout: 5e9})
	var log bytes.Buffer
	env := Env{Client: c, Log: &log}
	plan, err := d.Plan(context.Background(), env, "v1.36.3")
	require.NoError(t, err)
	rec := timeline.NewRecorder(nil)
	require.NoError(t, d.Upgrade(context.Background(), env, plan, rec))

	for _, n := range []string{"kind-control-plane", "kind-worker", "kind-worker2"} {
		got, _ := c.CoreV1().Nodes().Get(context.Background(), n, metav1.GetOptions{})
		assert.Equal(t, "v1.36.3", got.Status.NodeInfo.KubeletVersion)
		assert.False(t, got.Spec.Unschedulable, "%s uncordoned", n)
	}
	// Per worker, the timeline shows cordon, drain, upgrade, ready and uncordon in order.
	for _, n := range []string{"kind-worker", "kind-worker2"} {
		var seq []string
		for _, e := range rec.Events() {
			if e.Subject == n && e.Kind == "start" {
				seq = append(seq, e.Message)
			}
		}
		assert.Equal(t, []string{"load v1.36.3 into " + n, "upgrade kubeadm", "kubeadm upgrade node", "cordon", "drain", "upgrade kubelet and kubectl", "ready at v1.36.3", "uncordon"}, seq, n)
	}
	joined := strings.Join(nodes.cmds, "\n")
	assert.Contains(t, joined, "kind-control-plane: kubeadm upgrade apply v1.36.3 --yes --ignore-preflight-errors=SystemVerification")
	assert.Contains(t, joined, "kind-worker: kubeadm upgrade node")
	assert.Contains(t, joined, "images export /tmp/images.tar registry.k8s.io/kube-apiserver:v1.36.3 registry.k8s.io/pause:3.10.2")
	apply := strings.Index(joined, "kubeadm upgrade apply")
	workerNode := strings.Index(joined, "kind-worker: kubeadm upgrade node")
	assert.Less(t, apply, workerNode, "the control plane goes first")
	for _, s := range plan.Leaves() {
		st, msg := s.State()
		assert.Equal(t, Done, st, fmt.Sprintf("%s %s %s", s.Subject, s.Name, msg))
	}
}
