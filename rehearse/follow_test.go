package rehearse

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

func followNode(name, ip string, ready bool) *corev1.Node {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}},
		},
	}
}

// taken returns the list waiting on the set's channel, or nil.
func taken(s *entrySet) []string {
	select {
	case l := <-s.Follow:
		return l
	default:
		return nil
	}
}

// The follower adds a node that joined once it is Ready, retires a deleted
// node at once, keeps a cordoned or NotReady one, and changes nothing while
// the API server is away. Every entry set gets its own port on the nodes.
func TestNodeFollower(t *testing.T) {
	ctx := context.Background()
	cp := followNode("kind-control-plane", "172.18.0.2", true)
	// kubeadm labels control planes so: that is no reason to leave.
	cp.Labels = map[string]string{corev1.LabelNodeExcludeBalancers: ""}
	client := fake.NewClientset(
		cp,
		followNode("kind-worker", "172.18.0.3", true),
		followNode("kind-worker2", "172.18.0.4", true),
	)
	canary, shop := &entrySet{Port: 30080, Follow: make(chan []string, 1)}, &entrySet{Port: 31000, Follow: make(chan []string, 1)}
	initial := []string{"http://172.18.0.2:30080/", "http://172.18.0.3:30080/", "http://172.18.0.4:30080/"}
	rec := timeline.NewRecorder(nil)
	f := newNodeFollower(func() kubernetes.Interface { return client }, rec, initial, canary, shop)

	f.poll(ctx)
	assert.Nil(t, taken(canary), "the nodes the load started with change nothing")
	assert.Empty(t, rec.Events())

	// A new node that is not Ready yet is not sent to.
	_, err := client.CoreV1().Nodes().Create(ctx, followNode("kind-worker3", "172.18.0.5", false), metav1.CreateOptions{})
	require.NoError(t, err)
	f.poll(ctx)
	assert.Nil(t, taken(canary), "a node that is not Ready yet is not an entry point")

	_, err = client.CoreV1().Nodes().UpdateStatus(ctx, followNode("kind-worker3", "172.18.0.5", true), metav1.UpdateOptions{})
	require.NoError(t, err)
	f.poll(ctx)
	assert.Equal(t, []string{"http://172.18.0.2:30080/", "http://172.18.0.3:30080/", "http://172.18.0.4:30080/", "http://172.18.0.5:30080/"}, taken(canary))
	assert.Equal(t, []string{"http://172.18.0.2:31000/", "http://172.18.0.3:31000/", "http://172.18.0.4:31000/", "http://172.18.0.5:31000/"}, taken(shop))

	// Cordoned and NotReady: still measured.
	w := followNode("kind-worker", "172.18.0.3", false)
	w.Spec.Unschedulable = true
	_, err = client.CoreV1().Nodes().Update(ctx, w, metav1.UpdateOptions{})
	require.NoError(t, err)
	f.poll(ctx)
	assert.Nil(t, taken(canary), "a cordoned, NotReady node stays an entry point: the rehearsal measures it")

	// The API server away: nothing changes.
	client.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	f.poll(ctx)
	assert.Nil(t, taken(canary))
	client.ReactionChain = client.ReactionChain[1:]

	// Deleted: retired at once.
	require.NoError(t, client.CoreV1().Nodes().Delete(ctx, "kind-worker", metav1.DeleteOptions{}))
	f.poll(ctx)
	assert.Equal(t, []string{"http://172.18.0.2:30080/", "http://172.18.0.4:30080/", "http://172.18.0.5:30080/"}, taken(canary))

	// Excluded from load balancers (about to be removed): retired too,
	// while it still answers.
	w2 := followNode("kind-worker2", "172.18.0.4", true)
	w2.Labels = map[string]string{corev1.LabelNodeExcludeBalancers: "true"}
	_, err = client.CoreV1().Nodes().Update(ctx, w2, metav1.UpdateOptions{})
	require.NoError(t, err)
	f.poll(ctx)
	assert.Equal(t, []string{"http://172.18.0.2:30080/", "http://172.18.0.5:30080/"}, taken(canary))

	var kinds []string
	for _, e := range rec.Events() {
		assert.Equal(t, timeline.SourceRotation, e.Source)
		kinds = append(kinds, e.Kind+" "+e.Subject)
	}
	assert.Equal(t, []string{"node-joined kind-worker3", "node-gone kind-worker", "node-gone kind-worker2"}, kinds)
}

// A list not yet taken is replaced by the newer one: the health check
// always gets the cluster as it is now.
func TestNodeFollowerLatestListWins(t *testing.T) {
	s := &entrySet{Port: 30080, Follow: make(chan []string, 1)}
	f := &nodeFollower{sets: []*entrySet{s}, nodes: map[string]string{"a": "10.0.0.1"}}
	f.send()
	f.nodes["b"] = "10.0.0.2"
	f.send()
	assert.Equal(t, []string{"http://10.0.0.1:30080/", "http://10.0.0.2:30080/"}, taken(s))
	assert.Nil(t, taken(s))
}

// An entry point the load started with whose node is gone by the first look
// is retired.
func TestNodeFollowerInitialNodeAlreadyGone(t *testing.T) {
	client := fake.NewClientset(followNode("kind-worker", "172.18.0.3", true))
	s := &entrySet{Port: 30080, Follow: make(chan []string, 1)}
	rec := timeline.NewRecorder(nil)
	f := newNodeFollower(func() kubernetes.Interface { return client }, rec, []string{"http://172.18.0.3:30080/", "http://172.18.0.9:30080/"}, s)
	f.poll(context.Background())
	assert.Equal(t, []string{"http://172.18.0.3:30080/"}, taken(s))
	require.Len(t, rec.Events(), 1)
	assert.Equal(t, "node-gone", rec.Events()[0].Kind)
	assert.Equal(t, "172.18.0.9", rec.Events()[0].Subject)
}
