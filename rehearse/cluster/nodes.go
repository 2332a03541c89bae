package cluster

import (
	"context"
	"fmt"
	"os"

	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
)

// LoadImageArchive imports an image archive (docker or OCI format) into the
// containerd of every node of the cluster, as `kind load image-archive` does.
func (p *Provider) LoadImageArchive(ctx context.Context, name, archive string) error {
	nodes, err := p.kind.ListInternalNodes(name)
	if err != nil {
		return fmt.Errorf("cluster %s: list nodes: %w", name, err)
	}
	if len(nodes) == 0 {
		return fmt.Errorf("cluster %s: no nodes", name)
	}
	for _, n := range nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := os.Open(archive)
		if err != nil {
			return err
		}
		err = nodeutils.LoadImageArchive(n, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("load %s into node %s: %w", archive, n.String(), withOutput(err))
		}
	}
	return nil
}

// ExportLogs writes the cluster's logs (every node's journal, kubelet and
// containerd logs, pod logs) into dir, as `kind export logs` does.
func (p *Provider) ExportLogs(_ context.Context, name, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := p.kind.CollectLogs(name, dir); err != nil {
		return fmt.Errorf("cluster %s: export logs: %w", name, withOutput(err))
	}
	return nil
}
