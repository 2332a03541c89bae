package rehearse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/rehearse/rehearse/rehearse/cluster"
	"github.com/rehearse/rehearse/rehearse/nodeimage"
	"github.com/rehearse/rehearse/scenarios"
)

// Provisioners makes the clusters of scenarios: throwaway kind clusters
// through the cluster provider, or existing clusters by kubeconfig.
type Provisioners struct {
	// Engine is podman or docker; empty detects it.
	Engine string
	// Progress receives progress lines for people.
	Progress io.Writer
	// Verbose passes kind's debug messages on to Progress.
	Verbose bool
	kind    *cluster.Provider
}

var _ Provisioner = (*Provisioners)(nil)

func (p *Provisioners) provider(ctx context.Context) (*cluster.Provider, error) {
	if p.kind != nil {
		return p.kind, nil
	}
	kp, err := cluster.NewProvider(ctx, cluster.Options{Engine: p.Engine, Progress: p.Progress, Verbose: p.Verbose})
	if err != nil {
		return nil, err
	}
	p.kind = kp
	return kp, nil
}

// Provision creates the scenario's kind cluster, or reaches the existing one.
func (p *Provisioners) Provision(ctx context.Context, sc *scenarios.Scenario, name string) (*Cluster, error) {
	c := sc.Cluster
	if c.Provider == scenarios.ProviderExisting {
		return &Cluster{Name: c.Context, Kubeconfig: c.Kubeconfig}, nil
	}
	kp, err := p.provider(ctx)
	if err != nil {
		return nil, err
	}
	created, err := kp.Create(ctx, cluster.Spec{
		Name: name, Kubernetes: c.KubernetesVersion, ControlPlanes: c.ControlPlanes, Workers: c.Workers,
		CNI: c.CNI, PodSubnet: c.Networking.PodSubnet, ServiceSubnet: c.Networking.ServiceSubnet, KubeProxyMode: c.Networking.KubeProxyMode,
		Pools: clusterPools(c.Pools),
	}, cluster.CreateOptions{Throwaway: !c.Keep, LoadBalancer: BuildLoadBalancerImage(p.Progress), Calico: BuildCalico(p.Progress)})
	if err != nil {
		return nil, err
	}
	return &Cluster{Name: created.Name, Kubeconfig: created.Kubeconfig, Throwaway: true}, nil
}

// EngineInUse is the container engine running the kind clusters' nodes, once
// a cluster was made; empty before.
func (p *Provisioners) EngineInUse() string {
	if p.kind == nil {
		return ""
	}
	return p.kind.Engine()
}

// LoadImage loads an image archive into every node of a kind cluster.
func (p *Provisioners) LoadImage(ctx context.Context, c *Cluster, archive string) error {
	if !c.Throwaway {
		return fmt.Errorf("cannot load images into the existing cluster %s: set canary.image to an image it can pull", c.Name)
	}
	kp, err := p.provider(ctx)
	if err != nil {
		return err
	}
	return kp.LoadImageArchive(ctx, c.Name, archive)
}

// ExportLogs writes a kind cluster's logs into dir.
func (p *Provisioners) ExportLogs(ctx context.Context, c *Cluster, dir string) error {
	if !c.Throwaway {
		return nil
	}
	kp, err := p.provider(ctx)
	if err != nil {
		return err
	}
	err = kp.ExportLogs(ctx, c.Name, dir)
	if errors.Is(err, cluster.ErrNotFound) {
		// A cluster whose creation failed was already removed.
		return nil
	}
	return err
}

// Teardown deletes a throwaway cluster.
func (p *Provisioners) Teardown(ctx context.Context, c *Cluster) error {
	if !c.Throwaway {
		return nil
	}
	kp, err := p.provider(ctx)
	if err != nil {
		return err
	}
	if err := kp.Delete(ctx, c.Name); err != nil && !errors.Is(err, cluster.ErrNotFound) {
		return err
	}
	return nil
}

// BuildCanaryImage returns a CanaryImager that packs the running rehearse
// binary as the canary image. Run from a test binary (go test ./e2e), it
// compiles the canary from the module's source instead.
func BuildCanaryImage(progress io.Writer) CanaryImager {
	return func(ctx context.Context) (string, string, error) {
		src, err := canarySource()
		if err != nil {
			return "", "", fmt.Errorf("canary image: %w", err)
		}
		res, err := nodeimage.BuildCanary(ctx, nodeimage.CanaryOptions{Options: nodeimage.Options{Progress: progress}, Version: Version(), Source: src})
		if err != nil {
			return "", "", fmt.Errorf("canary image: %w", err)
		}
		return res.Image, res.Archive, nil
	}
}

// BuildLoadBalancerImage returns what makes the image of the load balancer
// kind puts in front of several control planes: the rehearse binary as
// its envoy (see nodeimage.BuildLoadBalancer), compiled from the module's
// source when run from a test binary, as the canary is.
func BuildLoadBalancerImage(progress io.Writer) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		src, err := canarySource()
		if err != nil {
			return err
		}
		_, err = nodeimage.BuildLoadBalancer(ctx, nodeimage.CanaryOptions{Options: nodeimage.Options{Progress: progress}, Version: Version(), Source: src})
		return err
	}
}

// BuildCalico returns what makes Calico's images (built from source, see
// nodeimage.BuildCalico) and manifest available for a cluster with CNI
// calico.
func BuildCalico(progress io.Writer) func(ctx context.Context) (cluster.CNIAddon, error) {
	return func(ctx context.Context) (cluster.CNIAddon, error) {
		res, err := nodeimage.BuildCalico(ctx, nodeimage.Options{Progress: progress})
		if err != nil {
			return cluster.CNIAddon{}, err
		}
		return cluster.CNIAddon{Images: res.Images, Manifest: res.Manifest}, nil
	}
}

// canarySource is where rehearse's own images are compiled from: "" (the
// running binary) unless it is a test binary, then the module's source.
func canarySource() (string, error) {
	exe, err := os.Executable()
	if err != nil || !strings.HasSuffix(exe, ".test") {
		return "", nil
	}
	wd, _ := os.Getwd()
	src := nodeimage.FindCanarySource(wd)
	if src == "" {
		return "", fmt.Errorf("running from %s, outside the rehearse module's source", exe)
	}
	return src, nil
}

// LoadImages loads image archives and images of the local engine's store
// into every node of a kind cluster.
func (p *Provisioners) LoadImages(ctx context.Context, c *Cluster, refs []string) error {
	if !c.Throwaway {
		return fmt.Errorf("cannot load images into the existing cluster %s: it pulls its own (leave images: empty)", c.Name)
	}
	kp, err := p.provider(ctx)
	if err != nil {
		return err
	}
	return kp.LoadImages(ctx, c.Name, refs)
}

// MissingImages tells, per node of a kind cluster, which of images it lacks.
func (p *Provisioners) MissingImages(ctx context.Context, c *Cluster, images []string) (map[string][]string, error) {
	if !c.Throwaway {
		return nil, nil // an existing cluster pulls what it needs
	}
	kp, err := p.provider(ctx)
	if err != nil {
		return nil, err
	}
	return kp.MissingImages(ctx, c.Name, images)
}

// clusterPools are a scenario's pools as a kind cluster makes them.
func clusterPools(pools []scenarios.Pool) []cluster.Pool {
	var out []cluster.Pool
	for _, p := range pools {
		cp := cluster.Pool{Name: p.Name, Workers: p.Workers, Labels: p.Labels}
		for _, t := range p.Taints {
			cp.Taints = append(cp.Taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
		}
		out = append(out, cp)
	}
	return out
}
