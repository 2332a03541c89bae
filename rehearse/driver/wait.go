package driver

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Settle waits until the apiserver answers /readyz five times in a row and
// kube-system's DaemonSets and Deployments are rolled out, at most timeout.
func Settle(ctx context.Context, client kubernetes.Interface, timeout time.Duration, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ok, last := 0, ""
	for ok < 5 {
		body, err := readyz(ctx, client)
		if err == nil && strings.TrimSpace(string(body)) == "ok" {
			ok++
		} else {
			ok = 0
			if err != nil {
				last = err.Error()
			} else {
				last = string(body)
			}
		}
		if ok < 5 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("the apiserver did not answer /readyz steadily within %s (last: %s)", timeout, firstLineOf(last))
			case <-time.After(time.Second):
			}
		}
	}
	fmt.Fprintf(log, "the apiserver answers /readyz steadily\n")
	if err := WaitWorkloadsReady(ctx, client, []string{"kube-system", "kube-flannel"}, 2*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(log, "kube-system is rolled out\n")
	return nil
}

// readyz asks the apiserver's /readyz; a client with no REST access (a
// fake) is asked its version instead.
func readyz(ctx context.Context, client kubernetes.Interface) ([]byte, error) {
	if rc := client.Discovery().RESTClient(); rc != nil {
		return rc.Get().AbsPath("/readyz").DoRaw(ctx)
	}
	if _, err := client.Discovery().ServerVersion(); err != nil {
		return nil, err
	}
	return []byte("ok"), nil
}

// WaitNodeAt waits until node is Ready with its kubelet at version.
func WaitNodeAt(ctx context.Context, client kubernetes.Interface, node, version string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err == nil {
			ready := false
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready = true
				}
			}
			kv := normalize(n.Status.NodeInfo.KubeletVersion)
			if ready && kv == version {
				return nil
			}
			last = fmt.Sprintf("ready=%v kubelet %s", ready, n.Status.NodeInfo.KubeletVersion)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not Ready at %s within %s (last seen: %s)", node, version, timeout, last)
		case <-time.After(time.Second):
		}
	}
}
