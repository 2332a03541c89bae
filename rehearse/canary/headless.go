package canary

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// HeadlessName names the canary's headless Service, whose DNS name
// resolves to the addresses of its Ready pods.
func HeadlessName(name string) string { return name + "-pods" }

// HeadlessService is a headless twin of the canary's Service svc: same
// namespace, labels (so Delete removes it with the rest) and selector, its
// ports those the pods listen on, no cluster IP and no node port. Its DNS name answers with the
// Ready pods' addresses, so a client that resolves it on every new
// connection reaches the pods themselves, past kube-proxy.
func HeadlessService(svc *corev1.Service) *corev1.Service {
	h := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: HeadlessName(svc.Name), Namespace: svc.Namespace, Labels: svc.Labels},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: corev1.ClusterIPNone,
			Selector:  svc.Spec.Selector,
		},
	}
	// A client that reaches the pods by their own addresses connects to
	// the port they listen on: the headless Service's port is the
	// container's (the canary's, when the target port is named).
	for _, p := range svc.Spec.Ports {
		port := int32(ContainerPort)
		if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal != 0 {
			port = p.TargetPort.IntVal
		}
		h.Spec.Ports = append(h.Spec.Ports, corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, Port: port, TargetPort: p.TargetPort})
	}
	return h
}

// ApplyHeadless makes (or updates) the headless twin of the canary
// d's Service and returns it.
func ApplyHeadless(ctx context.Context, client kubernetes.Interface, d *Deployed) (*corev1.Service, error) {
	svc, err := client.CoreV1().Services(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("the canary's Service: %w", err)
	}
	h := HeadlessService(svc)
	if err := applyObject(ctx, client, h); err != nil {
		return nil, err
	}
	return h, nil
}
