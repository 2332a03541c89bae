package driver

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestViaDefault(t *testing.T) {
	def := "default via 10.89.0.1 dev eth0 proto static"
	for _, tc := range []struct {
		route string
		leaks bool
	}{
		{"10.244.3.1 via 10.244.3.0 dev flannel.1 src 10.244.0.0 uid 0 \\    cache", false}, // flannel VXLAN
		{"10.244.3.1 via 10.89.0.43 dev eth0 src 10.89.0.41 uid 0", false},                  // kindnet, host-gw: the node itself
		{"10.244.3.1 dev cni0 src 10.244.3.1 uid 0", false},                                 // the node's own subnet
		{"10.244.3.1 via 10.89.0.1 dev eth0 src 10.89.0.41 uid 0", true},                    // out of the cluster
	} {
		assert.Equal(t, tc.leaks, viaDefault(tc.route, def), tc.route)
	}
	assert.False(t, viaDefault("10.244.3.1 via 10.89.0.1 dev eth0", ""), "no default gateway, nothing to leak to")
}

// routeNodes answers ip route for each node: a leak to the default gateway
// until the pod network is up.
type routeNodes struct {
	fakeNodes
	mu sync.Mutex
	up bool
}

func (r *routeNodes) Exec(ctx context.Context, node string, argv ...string) (string, error) {
	line := strings.Join(argv, " ")
	switch {
	case line == "ip -o route show default":
		return "default via 10.89.0.1 dev eth0", nil
	case strings.HasPrefix(line, "ip -o route get "):
		r.mu.Lock()
		defer r.mu.Unlock()
		if !r.up {
			return argv[len(argv)-1] + " via 10.89.0.1 dev eth0 src 10.89.0.40", nil
		}
		return argv[len(argv)-1] + " via 10.244.3.0 dev flannel.1", nil
	}
	return r.fakeNodes.Exec(ctx, node, argv...)
}

func TestPodNetworkReadyWaitsForRoutes(t *testing.T) {
	c := kindClient("v1.36.3")
	for i, n := range []string{"kind-control-plane", "kind-worker", "kind-worker2"} {
		node, err := c.CoreV1().Nodes().Get(context.Background(), n, metav1.GetOptions{})
		require.NoError(t, err)
		node.Spec.PodCIDR = "10.244." + string(rune('0'+i)) + ".0/24"
		_, err = c.CoreV1().Nodes().Update(context.Background(), node, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	r := &routeNodes{fakeNodes: fakeNodes{client: c}}
	env := Env{Client: c}
	err := podNetworkReady(context.Background(), env, r, "kind-worker2", 1500*time.Millisecond)
	require.Error(t, err, "traffic to the new node's pods would leave the cluster")
	assert.Contains(t, err.Error(), "kind-control-plane has no route to 10.244.2.0/24")
	assert.Contains(t, err.Error(), "kind-worker2 has no route to 10.244.0.0/24")

	go func() {
		time.Sleep(1500 * time.Millisecond)
		r.mu.Lock()
		r.up = true
		r.mu.Unlock()
	}()
	require.NoError(t, podNetworkReady(context.Background(), env, r, "kind-worker2", 10*time.Second))
}
