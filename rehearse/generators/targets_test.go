package generators

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/rehearse/rehearse/rehearse/canary"
)

func TestIngressPort(t *testing.T) {
	svc := func(ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{Spec: corev1.ServiceSpec{Ports: ports}}
	}
	web := corev1.ServicePort{Name: "web", Port: 8000}
	http := corev1.ServicePort{Name: "http", Port: 8080}
	eighty := corev1.ServicePort{Name: "plain", Port: 80}
	for _, tc := range []struct {
		name string
		svc  *corev1.Service
		want int
		port int
		err  string
	}{
		{"the one asked for", svc(web, http, eighty), 8000, 8000, ""},
		{"named http first", svc(web, eighty, http), 0, 8080, ""},
		{"then 80", svc(web, eighty), 0, 80, ""},
		{"then the first", svc(web), 0, 8000, ""},
		{"asked for and missing", svc(web, http), 9000, 0, "it has no port 9000"},
		{"no port", svc(), 0, 0, "it has no port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ingressPort(tc.svc, tc.want)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.port, got)
		})
	}
}

// IngressTarget makes the canary's Ingress and aims at the controller's
// ClusterIP, but only once the controller has a ready endpoint.
func TestIngressTargetWaitsForTheController(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "canary", Namespace: "rehearse-canary", Labels: canary.Labels("canary")},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.20", Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "traefik", Namespace: "traefik"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.30", Ports: []corev1.ServicePort{{Name: "web", Port: 8000}, {Name: "http", Port: 80}}}},
	)
	d := &canary.Deployed{Namespace: "rehearse-canary", Name: "canary"}
	in := Ingress{Namespace: "traefik", Service: "traefik", ClassName: "traefik", Host: "canary.rehearse.test"}

	notReady := false
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "traefik-abc", Namespace: "traefik", Labels: map[string]string{discoveryv1.LabelServiceName: "traefik"}},
		Endpoints:  []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}, Conditions: discoveryv1.EndpointConditions{Ready: &notReady}}},
	}
	_, err := client.DiscoveryV1().EndpointSlices("traefik").Create(ctx, slice, metav1.CreateOptions{})
	require.NoError(t, err)
	time.AfterFunc(1500*time.Millisecond, func() {
		ready := true
		slice.Endpoints[0].Conditions.Ready = &ready
		_, _ = client.DiscoveryV1().EndpointSlices("traefik").Update(ctx, slice, metav1.UpdateOptions{})
	})
	start := time.Now()
	url, err := IngressTarget(ctx, client, d, in)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "it waited for a ready endpoint")
	assert.Equal(t, "http://10.96.0.30:80/", url)
	ing, err := client.NetworkingV1().Ingresses("rehearse-canary").Get(ctx, "canary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "canary.rehearse.test", ing.Spec.Rules[0].Host)

	_, err = IngressTarget(ctx, client, d, Ingress{Namespace: "traefik", Service: "nginx", Host: "x"})
	require.ErrorContains(t, err, "the ingress controller's Service traefik/nginx")
}
