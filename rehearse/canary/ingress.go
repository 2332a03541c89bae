package canary

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Ingress routes host to the canary's Service svc (every path, to its
// first port), in class className ("" for the cluster's default class),
// with svc's labels so that Delete removes it with the rest.
func Ingress(svc *corev1.Service, className, host string) *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	in := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Labels: svc.Labels},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: svc.Name, Port: networkingv1.ServiceBackendPort{Number: svc.Spec.Ports[0].Port},
				}},
			}}}},
		}}},
	}
	if className != "" {
		in.Spec.IngressClassName = &className
	}
	return in
}

// ApplyIngress makes (or updates) the Ingress that routes host to the
// canary d's Service and returns it.
func ApplyIngress(ctx context.Context, client kubernetes.Interface, d *Deployed, className, host string) (*networkingv1.Ingress, error) {
	svc, err := client.CoreV1().Services(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("the canary's Service: %w", err)
	}
	if len(svc.Spec.Ports) == 0 {
		return nil, fmt.Errorf("the canary's Service %s/%s has no port to route to", svc.Namespace, svc.Name)
	}
	in := Ingress(svc, className, host)
	if err := applyObject(ctx, client, in); err != nil {
		return nil, err
	}
	return in, nil
}
