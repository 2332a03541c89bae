package rehearse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/scenarios"
)

// appTarget is one of the user's load targets, resolved on a cluster: its
// entry points are a URL the scenario gave, or the Service's node port on
// every node.
type appTarget struct {
	loadgen.Target
	// viaNodes tells the entry points are node ports: a load balancer in
	// front of them checks each node's kube-proxy health port.
	viaNodes bool
}

// resolveTargets turns the scenario's load.targets into load targets on the
// cluster client reaches. A Service that is missing, has no such port or is
// not reachable through node ports is named before anything waits.
func resolveTargets(ctx context.Context, client kubernetes.Interface, targets []scenarios.Target) ([]appTarget, error) {
	var out []appTarget
	var nodeIPs []string
	for i, t := range targets {
		lt := loadgen.Target{
			Name: t.Name, Method: t.Method, Path: t.Path, Headers: t.Headers, Body: t.Body,
			Expect: loadgen.Expect{Status: t.Expect.Status, BodyContains: t.Expect.BodyContains},
			Probe:  loadgen.Probe(t.Probe),
		}
		if t.Share != nil {
			lt.Share = *t.Share
		}
		field := fmt.Sprintf("load.targets[%d] (%s)", i, t.Name)
		if t.URL != "" {
			lt.URLs = []string{t.URL}
			out = append(out, appTarget{Target: lt})
			continue
		}
		port, err := nodePort(ctx, client, t.Service)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		if nodeIPs == nil {
			if nodeIPs, err = internalIPs(ctx, client); err != nil {
				return nil, fmt.Errorf("%s: %w", field, err)
			}
		}
		for _, ip := range nodeIPs {
			lt.URLs = append(lt.URLs, "http://"+net.JoinHostPort(ip, strconv.Itoa(int(port)))+"/")
		}
		out = append(out, appTarget{Target: lt, viaNodes: true})
	}
	return out, nil
}

// nodePort is the node port of a Service's port, by number or name.
func nodePort(ctx context.Context, client kubernetes.Interface, ref *scenarios.ServiceRef) (int32, error) {
	svc, err := client.CoreV1().Services(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("service %s/%s not found (is it in the scenario's workloads?)", ref.Namespace, ref.Name)
	}
	if err != nil {
		return 0, fmt.Errorf("service %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	if svc.Spec.Type != corev1.ServiceTypeNodePort && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return 0, fmt.Errorf("service %s/%s is of type %s: rehearse reaches a Service through its node ports (type NodePort or LoadBalancer)", ref.Namespace, ref.Name, svc.Spec.Type)
	}
	var names []string
	for _, p := range svc.Spec.Ports {
		if (ref.Port.Name != "" && p.Name == ref.Port.Name) || (ref.Port.Number != 0 && int(p.Port) == ref.Port.Number) || (ref.Port.IsZero() && len(svc.Spec.Ports) == 1) {
			if p.NodePort == 0 {
				return 0, fmt.Errorf("service %s/%s port %s has no node port", ref.Namespace, ref.Name, ref.Port)
			}
			return p.NodePort, nil
		}
		names = append(names, fmt.Sprintf("%s/%d", p.Name, p.Port))
	}
	return 0, fmt.Errorf("service %s/%s has no port %s (it has %v)", ref.Namespace, ref.Name, ref.Port, names)
}

// internalIPs are the nodes' internal addresses, sorted by node name.
func internalIPs(ctx context.Context, client kubernetes.Interface) ([]string, error) {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	sort.Slice(nodes.Items, func(i, j int) bool { return nodes.Items[i].Name < nodes.Items[j].Name })
	var ips []string
	for _, n := range nodes.Items {
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				ips = append(ips, a.Address)
				break
			}
		}
	}
	if len(ips) == 0 {
		return nil, errors.New("no node has an internal address")
	}
	return ips, nil
}
