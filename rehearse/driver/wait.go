package driver

import (
	"context"
	"fmt"
	"io"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/readiness"
)

// Settle waits until the apiserver answers /readyz five times in a row and
// kube-system's DaemonSets and Deployments are rolled out, at most timeout.
func Settle(ctx context.Context, client kubernetes.Interface, timeout time.Duration, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := readiness.WaitForAPIServer(ctx, client, 5, readiness.Options{Interval: time.Second}); err != nil {
		return fmt.Errorf("the apiserver did not answer /readyz steadily within %s: %w", timeout, err)
	}
	fmt.Fprintf(log, "the apiserver answers /readyz steadily\n")
	if err := WaitWorkloadsReady(ctx, client, []string{"kube-system", "kube-flannel"}, 2*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(log, "kube-system is rolled out\n")
	return nil
}

// WaitNodeAt waits until node is Ready with its kubelet at version.
func WaitNodeAt(ctx context.Context, client kubernetes.Interface, node, version string, timeout time.Duration) error {
	err := readiness.WaitFor(ctx, readiness.Options{Interval: time.Second, Timeout: timeout}, func(ctx context.Context) (bool, string, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		kv := n.Status.NodeInfo.KubeletVersion
		if why := readiness.NodeProblem(n); why != "" {
			return false, why + ", kubelet " + kv, nil
		}
		return normalize(kv) == version, "Ready, kubelet " + kv, nil
	})
	if err != nil {
		return fmt.Errorf("node %s not Ready at %s within %s: %w", node, version, timeout, err)
	}
	return nil
}
