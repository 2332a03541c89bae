package generators

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
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

// Ingress is the canary's Ingress and the controller that carries it.
type Ingress struct {
	// Namespace and Service name the ingress controller's Service.
	Namespace, Service string
	// Port is the Service's port to send to; 0 picks its port named
	// http, else port 80, else its first.
	Port int
	// ClassName is the Ingress's class ("" for the cluster's default).
	ClassName string
	// Host is the host name the Ingress routes to the canary.
	Host string
}

// ingressReadyTimeout bounds the wait for the ingress controller to have a
// ready endpoint.
const ingressReadyTimeout = 2 * time.Minute

// IngressTarget makes the Ingress that routes in.Host to the canary d and
// returns the URL of the ingress controller's Service (its ClusterIP and
// port) that the generators send to with in.Host as the Host header, once
// the controller has a ready endpoint.
func IngressTarget(ctx context.Context, client kubernetes.Interface, d *canary.Deployed, in Ingress) (string, error) {
	ctl := in.Namespace + "/" + in.Service
	svc, err := client.CoreV1().Services(in.Namespace).Get(ctx, in.Service, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("the ingress controller's Service %s: %w", ctl, err)
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return "", fmt.Errorf("the ingress controller's Service %s has no ClusterIP to send to", ctl)
	}
	port, err := ingressPort(svc, in.Port)
	if err != nil {
		return "", fmt.Errorf("the ingress controller's Service %s: %w", ctl, err)
	}
	if _, err := canary.ApplyIngress(ctx, client, d, in.ClassName, in.Host); err != nil {
		return "", err
	}
	wctx, cancel := context.WithTimeout(ctx, ingressReadyTimeout)
	defer cancel()
	sel := metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + in.Service}
	for {
		eps, err := client.DiscoveryV1().EndpointSlices(in.Namespace).List(wctx, sel)
		if err == nil && readyEndpoint(eps.Items) {
			break
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return "", fmt.Errorf("the ingress controller's Service %s has no ready endpoint after %s", ctl, ingressReadyTimeout)
		case <-time.After(time.Second):
		}
	}
	return fmt.Sprintf("http://%s/", net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(port))), nil
}

// ingressPort picks the controller Service's port: want if it is one of
// them, else (want 0) the port named http, port 80, or the first.
func ingressPort(svc *corev1.Service, want int) (int, error) {
	if len(svc.Spec.Ports) == 0 {
		return 0, errors.New("it has no port")
	}
	var named, eighty int
	for _, p := range svc.Spec.Ports {
		switch {
		case want != 0 && int(p.Port) == want:
			return want, nil
		case p.Name == "http" && named == 0:
			named = int(p.Port)
		case p.Port == 80:
			eighty = 80
		}
	}
	switch {
	case want != 0:
		return 0, fmt.Errorf("it has no port %d", want)
	case named != 0:
		return named, nil
	case eighty != 0:
		return eighty, nil
	}
	return int(svc.Spec.Ports[0].Port), nil
}

func readyEndpoint(slices []discoveryv1.EndpointSlice) bool {
	for _, s := range slices {
		for _, e := range s.Endpoints {
			if len(e.Addresses) > 0 && (e.Conditions.Ready == nil || *e.Conditions.Ready) {
				return true
			}
		}
	}
	return false
}
