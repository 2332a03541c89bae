package canary

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The headless twin selects the same pods on the same ports, has no
// cluster IP or node port, and carries the canary's labels, so that
// Delete, which finds the canary's objects by them, removes it too.
func TestHeadlessServiceTwinsTheCanarysService(t *testing.T) {
	objs, err := Manifests(DeployOptions{Image: "rehearse/canary:dev", Namespace: "shop", Name: "web", NodePort: 30080})
	require.NoError(t, err)
	h := HeadlessService(objs.Service)
	assert.Equal(t, "web-pods", h.Name)
	assert.Equal(t, "shop", h.Namespace)
	assert.Equal(t, corev1.ClusterIPNone, h.Spec.ClusterIP)
	assert.False(t, h.Spec.PublishNotReadyAddresses, "only Ready pods are answered")
	assert.Equal(t, objs.Service.Spec.Selector, h.Spec.Selector)
	require.Len(t, h.Spec.Ports, 1)
	assert.Equal(t, ContainerPort, int(h.Spec.Ports[0].Port), "whoever resolves the name connects to the pods' own port, not the Service's")
	assert.Equal(t, objs.Service.Spec.Ports[0].TargetPort, h.Spec.Ports[0].TargetPort)
	assert.Zero(t, h.Spec.Ports[0].NodePort)
	assert.True(t, labels.SelectorFromSet(Labels("web")).Matches(labels.Set(h.Labels)))
	assert.Equal(t, 30080, int(objs.Service.Spec.Ports[0].NodePort), "the canary's own Service is untouched")
}
