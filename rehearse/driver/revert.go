package driver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// keptDir holds, on a worker, what its upgrade replaced: the kubelet,
// kubectl and kubeadm binaries and the kubelet's configuration files, as
// an operator keeps the old packages and /var/lib/kubelet to roll back.
const keptDir = "/var/lib/rehearse-revert"

// kubeletFiles are the kubelet's configuration files kubeadm writes on a
// worker (kubeadm upgrade node rewrites them from the cluster's
// kubelet-config of the new version).
var kubeletFiles = []string{"config.yaml", "kubeadm-flags.env", "instance-config.yaml"}

// keepScript copies what a worker's upgrade replaces into keptDir, once:
// a second run (a retried step) keeps the first copy.
var keepScript = fmt.Sprintf(`set -e
d=%[1]s
[ -e $d/kept ] && exit 0
mkdir -p $d/bin $d/kubelet
cp -p /usr/bin/kubelet /usr/bin/kubectl /usr/bin/kubeadm $d/bin/
for f in %[2]s; do [ ! -e /var/lib/kubelet/$f ] || cp -p /var/lib/kubelet/$f $d/kubelet/; done
/usr/bin/kubelet --version > $d/kept`, keptDir, strings.Join(kubeletFiles, " "))

// restoreScript puts back what keepScript kept, the kubelet stopped
// meanwhile; a kubelet configuration file the old version did not have is
// removed. It fails, touching nothing, when nothing was kept or what was
// kept is of another version than want (the first argument).
var restoreScript = fmt.Sprintf(`set -e
d=%[1]s
[ -e $d/kept ] || { echo "nothing kept in $d: the upgrade did not keep this node's kubelet (upgrade.revert was not set when it ran)"; exit 1; }
grep -q "Kubernetes $1\$" $d/kept || { echo "kept kubelet is $(cat $d/kept), not $1"; exit 1; }
systemctl stop kubelet
cp -p $d/bin/kubelet $d/bin/kubectl $d/bin/kubeadm /usr/bin/
for f in %[2]s; do
  if [ -e $d/kubelet/$f ]; then cp -p $d/kubelet/$f /var/lib/kubelet/$f; else rm -f /var/lib/kubelet/$f; fi
done
systemctl daemon-reload
systemctl start kubelet`, keptDir, strings.Join(kubeletFiles, " "))

// workersNotAt reads the cluster's nodes and names the workers whose
// kubelet is not at version: what a revert to version has to bring back.
func workersNotAt(ctx context.Context, env Env, poolLabel, version string) (clusterNodes, []string, error) {
	if env.Client == nil {
		return clusterNodes{}, nil, errors.New("revert: no client for the cluster")
	}
	cn, err := listNodes(ctx, env.Client, poolLabel)
	if err != nil {
		return clusterNodes{}, nil, err
	}
	nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return clusterNodes{}, nil, fmt.Errorf("list nodes: %w", err)
	}
	at := map[string]string{}
	for _, n := range nodes.Items {
		at[n.Name] = normalize(n.Status.NodeInfo.KubeletVersion)
	}
	var out []string
	for _, w := range cn.workers {
		if at[w] != version {
			out = append(out, w)
		}
	}
	return cn, out, nil
}

// RevertPlan puts back, on every worker whose kubelet is not at from, the
// kubelet, kubectl, kubeadm and kubelet configuration it had before the
// upgrade (kept when upgrade.revert is set): in batches of MaxUnavailable,
// each worker cordoned, drained, restored, Ready at from, uncordoned. The
// control planes stay at their version: kubeadm upgrade apply is not
// reversible (etcd's data and the cluster's objects are already migrated).
func (k *Kubeadm) RevertPlan(ctx context.Context, env Env, from string) (*Plan, error) {
	_, upgraded, err := workersNotAt(ctx, env, k.s.PoolLabel, from)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("revert to %s: put back the kubelet of %s on the %d upgraded workers; the control plane stays as it is (kubeadm upgrade apply is not reversible)", from, from, len(upgraded))
	if len(upgraded) == 0 {
		return &Plan{Driver: "kubeadm", Target: from, Root: Group(name, Serial,
			Action("every worker is at "+from+": nothing to revert", "", func(context.Context, Env) error { return nil }))}, nil
	}
	u := &kubeadmRun{k: k, target: from}
	g := Group(name, Serial)
	size := k.s.MaxUnavailable
	for i := 0; i < len(upgraded); i += size {
		batch := upgraded[i:min(i+size, len(upgraded))]
		b := Group("batch "+strings.Join(batch, ", "), Parallel)
		for _, n := range batch {
			steps := u.drained(n, Action("restore the kubelet of "+from, n, u.run(n, "sh", "-c", restoreScript, "restore", from)))
			steps = append(steps, Action("remove the kept kubelet", n, u.run(n, "rm", "-rf", keptDir)))
			b.Children = append(b.Children, Group(n, Serial, steps...))
		}
		g.Children = append(g.Children, b)
	}
	return &Plan{Driver: "kubeadm", Target: from, Root: g}, nil
}
