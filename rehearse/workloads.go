package rehearse

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/cluster"
	"github.com/rehearse/rehearse/rehearse/kube"
	"github.com/rehearse/rehearse/rehearse/workloads"
)

// ImageLoader is a Provisioner that can put images into its clusters' nodes
// without a registry, and tell which ones a node lacks.
type ImageLoader interface {
	LoadImages(ctx context.Context, c *Cluster, refs []string) error
	MissingImages(ctx context.Context, c *Cluster, images []string) (map[string][]string, error)
}

// applyWorkloads loads the scenario's images into the cluster's nodes and
// applies its workloads (server-side, in dependency order), waiting for them
// to be ready. An image a workload needs that no node has is named before
// anything waits for it.
func (r *run) applyWorkloads(ctx context.Context, c *Cluster, client kubernetes.Interface) error {
	sc := r.sc
	if len(sc.Images) == 0 && len(sc.Workloads) == 0 {
		return nil
	}
	loader, _ := r.o.Provisioner.(ImageLoader)
	if len(sc.Images) > 0 {
		if err := r.phase(PhaseImages, func() error {
			if loader == nil {
				return errors.New("images: this cluster provider cannot load images into nodes")
			}
			return loader.LoadImages(ctx, c, sc.Images)
		}); err != nil {
			return err
		}
		r.clusters.setImages(sc.Images)
	}
	if len(sc.Workloads) == 0 {
		return nil
	}
	return r.phase(PhaseWorkloads, func() error {
		var objs []workloads.Object
		for i, w := range sc.Workloads {
			o, err := workloads.Load(workloads.Source{Path: w.Path, Namespace: w.Namespace})
			if err != nil {
				return inputError(fmt.Errorf("workloads[%d]: %w", i, err))
			}
			objs = append(objs, o...)
		}
		if loader != nil {
			missing, err := loader.MissingImages(ctx, c, workloads.Images(objs))
			if err != nil {
				return err
			}
			if err := missingImagesError(missing); err != nil {
				return inputError(err)
			}
		}
		cfg, err := kube.Config(c.Kubeconfig, sc.Cluster.Context)
		if err != nil {
			return err
		}
		applier, err := workloads.NewApplier(cfg)
		if err != nil {
			return err
		}
		timeout, wait := time.Duration(0), false
		for _, w := range sc.Workloads {
			timeout = max(timeout, w.Timeout.Duration)
			wait = wait || w.Waits()
		}
		opts := workloads.Options{Timeout: timeout, Progress: func(s string) { r.say("workloads: %s", s) }}
		opts.NoWait = !wait
		applied, err := applier.Apply(ctx, objs, opts)
		for _, a := range applied {
			r.say("applied %s", a)
		}
		r.clusters.setWorkloads(applied.Namespaces())
		var notReady *workloads.NotReadyError
		if errors.As(err, &notReady) {
			return inputError(err)
		}
		if err == nil && sc.Cluster.NoCNI() && c.Throwaway {
			err = r.waitPodNetwork(ctx, c)
		}
		return err
	})
}

// waitPodNetwork waits, on a cluster created without a CNI, for every node
// and kube-system pod to be Ready on the pod network the workloads
// installed. Nodes that stay NotReady mean the workloads brought none.
func (r *run) waitPodNetwork(ctx context.Context, c *Cluster) error {
	nodes := r.sc.Cluster.ControlPlanes + r.sc.Cluster.Workers
	r.say("workloads: cluster.cni is none: waiting for %d nodes to be Ready on the pod network the workloads installed", nodes)
	t0 := r.now()
	wctx, cancel := context.WithTimeout(ctx, cluster.DefaultWait)
	defer cancel()
	err := cluster.WaitReady(wctx, c.Kubeconfig, nodes, r.o.Progress)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return inputError(fmt.Errorf("cluster.cni: none: the cluster is not Ready %s after the workloads were applied; they must install a pod network (a CNI's DaemonSet and its configuration): %w",
			cluster.DefaultWait, err))
	}
	r.say("workloads: every node Ready on the installed pod network after %s", r.now().Sub(t0).Round(100*time.Millisecond))
	return nil
}

// missingImagesError names every image a workload references that a node
// lacks (there is no registry to pull it from).
func missingImagesError(missing map[string][]string) error {
	if len(missing) == 0 {
		return nil
	}
	byImage := map[string][]string{}
	for node, imgs := range missing {
		for _, img := range imgs {
			byImage[img] = append(byImage[img], node)
		}
	}
	var lines []string
	for img, nodes := range byImage {
		sort.Strings(nodes)
		lines = append(lines, fmt.Sprintf("image %s is on no registry and missing on %s: list it under images: (an archive, or a name in the local store)", img, strings.Join(nodes, ", ")))
	}
	sort.Strings(lines)
	return errors.New(strings.Join(lines, "\n"))
}
