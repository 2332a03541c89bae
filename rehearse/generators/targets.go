package generators

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/canary"
)

// DefaultClusterDomain is the DNS domain of a cluster whose kubelets do
// not say theirs.
const DefaultClusterDomain = "cluster.local"

// PodsTarget makes the canary d's headless Service and returns the URL
// that reaches its pods themselves: the Service's rooted DNS name (the
// cluster's domain and a final dot, so that a lookup is one query, not one
// per search domain), which answers with the Ready pods' addresses. Each
// new connection of a generator looks it up again, so the load follows
// the pods as the upgrade moves them, past kube-proxy.
func PodsTarget(ctx context.Context, client kubernetes.Interface, d *canary.Deployed) (string, error) {
	h, err := canary.ApplyHeadless(ctx, client, d)
	if err != nil {
		return "", err
	}
	if len(h.Spec.Ports) == 0 {
		return "", fmt.Errorf("the canary's Service %s/%s has no port to send to", d.Namespace, d.Name)
	}
	host := fmt.Sprintf("%s.%s.svc.%s.", h.Name, h.Namespace, ClusterDomain(ctx, client))
	return fmt.Sprintf("http://%s/", net.JoinHostPort(host, strconv.Itoa(int(h.Spec.Ports[0].Port)))), nil
}

// ClusterDomain is the DNS domain the cluster's kubelets give their pods
// (clusterDomain of a node's kubelet configuration, read through the API
// server's node proxy; three nodes are asked at most), or
// DefaultClusterDomain when none answers.
func ClusterDomain(ctx context.Context, client kubernetes.Interface) string {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 3})
	if err != nil {
		return DefaultClusterDomain
	}
	for _, n := range nodes.Items {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		raw, err := client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", n.Name, "proxy", "configz").DoRaw(cctx)
		cancel()
		if err != nil {
			continue
		}
		var cz struct {
			Kubelet struct {
				ClusterDomain string `json:"clusterDomain"`
			} `json:"kubeletconfig"`
		}
		if json.Unmarshal(raw, &cz) == nil && cz.Kubelet.ClusterDomain != "" {
			return strings.TrimSuffix(cz.Kubelet.ClusterDomain, ".")
		}
	}
	return DefaultClusterDomain
}
