package checklist

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

// TestIntegrationChecklistKind checks a real kind cluster made by rehearse.
// It needs the cluster's kubeconfig in REHEARSE_KUBECONFIG (and, to check
// versions too, REHEARSE_EXPECT_VERSION); the e2e gate runs it that way.
func TestIntegrationChecklistKind(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test against a kind cluster: skipped under -short")
	}
	kubeconfig := os.Getenv("REHEARSE_KUBECONFIG")
	if kubeconfig == "" {
		t.Skip("REHEARSE_KUBECONFIG is not set: create a cluster (rehearse cluster create ...) and " +
			"export REHEARSE_KUBECONFIG=<its kubeconfig> to run this test against it")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	opts := Options{ExpectVersion: os.Getenv("REHEARSE_EXPECT_VERSION")}
	cl := mustBuiltin(t, "kind")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Check(ctx, client, cl, opts)
	require.NoError(t, err)
	var text bytes.Buffer
	require.NoError(t, RenderText(&text, r))
	t.Log("\n" + text.String())
	assert.Equal(t, Pass, r.Outcome, "failed: %v", failedNames(r))

	// A quiet cluster watched for a few seconds has no transitions.
	rec := timeline.NewRecorder(nil)
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
	defer wcancel()
	w, err := Watch(wctx, client, cl, opts, rec)
	require.NoError(t, err)
	assert.Equal(t, Pass, w.Outcome)
	assert.Empty(t, rec.Events())
}
