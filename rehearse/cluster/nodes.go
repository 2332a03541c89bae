package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kinderrors "sigs.k8s.io/kind/pkg/errors"
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
// containerd logs, pod logs) into dir, as `kind export logs` does. kind's
// collection takes no context: when ctx ends first, ExportLogs returns
// ctx's error and leaves the collection to finish in the background.
func (p *Provider) ExportLogs(ctx context.Context, name, dir string) error {
	nodes, err := p.kind.ListNodes(name)
	if err != nil {
		return fmt.Errorf("cluster %s: export logs: %w", name, err)
	}
	if len(nodes) == 0 {
		return fmt.Errorf("cluster %s: export logs: %w", name, ErrNotFound)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- p.kind.CollectLogs(name, dir) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		return fmt.Errorf("cluster %s: export logs: %w", name, ctx.Err())
	}
	if err != nil {
		var rest []error
		var missing []string
		for _, e := range kinderrors.Errors(err) {
			// The node images carry no crictl: kind's image listing of each
			// node fails while everything else is collected.
			if strings.Contains(e.Error(), "crictl images") {
				missing = append(missing, e.Error())
				continue
			}
			rest = append(rest, e)
		}
		if len(missing) > 0 {
			note := "Image lists (crictl images) are not collected: the node images carry no crictl.\n" + strings.Join(missing, "\n") + "\n"
			if werr := os.WriteFile(filepath.Join(dir, "NOT-COLLECTED.txt"), []byte(note), 0o644); werr != nil {
				rest = append(rest, werr)
			}
		}
		if len(rest) > 0 {
			return fmt.Errorf("cluster %s: export logs: %w", name, withOutput(errors.Join(rest...)))
		}
	}
	return nil
}
