package driver

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rehearse/rehearse/rehearse/readiness"
)

// podNetworkStep waits, after a new node is Ready, until the pod network
// joins it to the others: a node is Ready as soon as its CNI's
// configuration file is written, which can be seconds before the CNI's
// agent has published the node's pod subnet and the other nodes route to
// it. Until then a packet from another node to a pod on the new node (or
// from the new node to a pod elsewhere) follows the node's default route
// out of the cluster: kube-proxy sends fresh connections there as soon as
// a pod on the new node is Ready, and they time out or are answered by
// whatever lies beyond the default gateway.
const podNetworkStep = "pod network routes to and from it"

// podNetworkReady waits until every other node routes to nu's pod subnet,
// and nu to every other node's, through something other than its default
// gateway (the CNI's device, or the node's address). A cluster whose Nodes
// carry no pod subnet is not checked.
func podNetworkReady(ctx context.Context, env Env, r NodeRunner, nu string, timeout time.Duration) error {
	err := readiness.WaitFor(ctx, readiness.Options{Interval: time.Second, Timeout: timeout}, func(ctx context.Context) (bool, string, error) {
		nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, "", err
		}
		cidr := map[string]string{}
		for _, n := range nodes.Items {
			cidr[n.Name] = n.Spec.PodCIDR
		}
		if cidr[nu] == "" {
			// The node is Ready, so a subnet it has not been given is
			// one the cluster does not give (a CNI with its own
			// address management): nothing to check by.
			return true, nu + " has no pod subnet in its Node: routes not checked", nil
		}
		var missing []string
		for _, n := range nodes.Items {
			if n.Name == nu || n.Spec.PodCIDR == "" {
				continue
			}
			for _, p := range [][2]string{{n.Name, cidr[nu]}, {nu, n.Spec.PodCIDR}} {
				ok, err := routesTo(ctx, r, p[0], p[1])
				if err != nil {
					return false, "", err
				}
				if !ok {
					missing = append(missing, fmt.Sprintf("%s has no route to %s", p[0], p[1]))
				}
			}
		}
		if len(missing) > 0 {
			return false, strings.Join(missing, "; "), nil
		}
		return true, "every node routes to " + nu + "'s pods and back", nil
	})
	if err != nil {
		return fmt.Errorf("the pod network did not reach %s within %s: %w", nu, timeout, err)
	}
	return nil
}

// routesTo says whether node routes subnet's first host other than by its
// default gateway.
func routesTo(ctx context.Context, r NodeRunner, node, subnet string) (bool, error) {
	_, ipnet, err := net.ParseCIDR(subnet)
	if err != nil {
		return false, fmt.Errorf("pod subnet %q: %w", subnet, err)
	}
	ip := ipnet.IP.To16()
	host := make(net.IP, len(ip))
	copy(host, ip)
	host[len(host)-1]++
	def, err := r.Exec(ctx, node, "ip", "-o", "route", "show", "default")
	if err != nil {
		return false, fmt.Errorf("default route of %s: %w", node, err)
	}
	route, err := r.Exec(ctx, node, "ip", "-o", "route", "get", host.String())
	if err != nil {
		// No route at all (unreachable) is no route to the pods either.
		return false, nil
	}
	return !viaDefault(route, def), nil
}

// viaDefault says whether route (ip route get's answer) goes through the
// gateway of def (ip route show default's); a node without a default
// gateway cannot leak.
func viaDefault(route, def string) bool {
	gw := fieldAfter(def, "via")
	return gw != "" && fieldAfter(route, "via") == gw
}

func fieldAfter(s, word string) string {
	f := strings.Fields(s)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == word {
			return f[i+1]
		}
	}
	return ""
}
