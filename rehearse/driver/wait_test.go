package driver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func TestWaitNodeAt(t *testing.T) {
	node := func(ready corev1.ConditionStatus, reason, kubelet string) *corev1.Node {
		return &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "kind-worker"},
			Status: corev1.NodeStatus{
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: reason}},
				NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: kubelet},
			},
		}
	}
	tests := []struct {
		name    string
		objects []runtime.Object
		wantErr string
	}{
		{name: "ready at the version", objects: []runtime.Object{node(corev1.ConditionTrue, "KubeletReady", "v1.36.3")}},
		{
			name:    "ready at another version",
			objects: []runtime.Object{node(corev1.ConditionTrue, "KubeletReady", "v1.35.1")},
			wantErr: "node kind-worker not Ready at v1.36.3 within 30ms: Ready, kubelet v1.35.1: context deadline exceeded",
		},
		{
			name:    "at the version, not ready",
			objects: []runtime.Object{node(corev1.ConditionFalse, "KubeletNotReady", "v1.36.3")},
			wantErr: "node kind-worker not Ready at v1.36.3 within 30ms: NotReady (KubeletNotReady), kubelet v1.36.3: context deadline exceeded",
		},
		{
			name:    "no such node",
			wantErr: `node kind-worker not Ready at v1.36.3 within 30ms: no status seen; last error: nodes "kind-worker" not found: context deadline exceeded`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WaitNodeAt(context.Background(), fake.NewClientset(tt.objects...), "kind-worker", "v1.36.3", 30*time.Millisecond)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.wantErr)
			assert.True(t, errors.Is(err, context.DeadlineExceeded))
		})
	}
}
