package nodeimage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// CanaryModule is the module the canary is built from.
const CanaryModule = "github.com/rehearse/rehearse"

// CanaryOptions configure the canary image build.
type CanaryOptions struct {
	Options
	// Version tags the image and is stamped into the binary.
	Version string
	// Source is the folder of the github.com/rehearse/rehearse module to
	// build the canary from; "" puts the running executable in the image.
	Source string
}

// CanaryResult describes the canary image.
type CanaryResult struct {
	Image string `json:"image"`
	// Archive is the image as a docker-format archive, ready for
	// `kind load image-archive` or ctr import into a node.
	Archive  string        `json:"archive"`
	Duration time.Duration `json:"duration"`
	// Cached is true when podman already held this very image.
	Cached bool `json:"cached"`
}

var badTagChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// CanaryImage is the canary image name of a rehearse version.
func CanaryImage(version string) string {
	tag := badTagChars.ReplaceAllString(version, "-")
	if tag == "" || tag[0] == '.' || tag[0] == '-' {
		tag = "v" + tag
	}
	if len(tag) > 128 {
		tag = tag[:128]
	}
	return CanaryRepository + ":" + tag
}

// FindCanarySource returns the root of the github.com/rehearse/rehearse
// module containing dir, or "" when dir is not inside it.
func FindCanarySource(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			first := strings.SplitN(string(data), "\n", 2)[0]
			if strings.TrimSpace(strings.TrimPrefix(first, "module")) == CanaryModule {
				return d
			}
			return ""
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// BuildCanary writes the canary image (the rehearse binary on the image base
// layer, entrypoint `rehearse canary serve`) as an archive and loads it into
// podman as CanaryImage(Version).
func BuildCanary(ctx context.Context, opts CanaryOptions) (*CanaryResult, error) {
	start := time.Now()
	b, exe, base, err := rehearseLayers(ctx, opts)
	if err != nil {
		return nil, err
	}
	spec := imageSpec{
		Ref:        mustRef(CanaryImage(opts.Version)),
		BaseLayer:  base,
		Files:      []imageFile{{Src: exe, Dst: "/usr/local/bin/rehearse", Mode: 0o755}},
		Entrypoint: []string{"/usr/local/bin/rehearse", "canary", "serve"},
		Labels:     map[string]string{LabelCanary: opts.Version},
	}
	res, err := b.loadImage(ctx, spec, "canary")
	if err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// LoadBalancerImage is the image kind runs in front of the apiservers of a
// cluster with several control planes (sigs.k8s.io/kind's
// loadbalancer.Image, which is internal to kind; rehearse/cluster names it
// too).
const LoadBalancerImage = "docker.io/envoyproxy/envoy:v1.36.2"

// LabelStandIn marks an image rehearse built to stand in for another of
// the same name that it cannot pull (there is no registry): its value names
// what it stands in for.
const LabelStandIn = "io.rehearse.stand-in"

// BuildLoadBalancer makes LoadBalancerImage available offline: the rehearse
// binary as /usr/local/bin/envoy on the image base layer, so kind's
// bootstrap command (bash, then `envoy -c /home/envoy/envoy.yaml`) runs
// rehearse's own TCP balancer, which reads the listener and cluster files
// kind writes (package rehearse/lb). An image of that name that rehearse
// did not build (a real Envoy) is left as it is.
func BuildLoadBalancer(ctx context.Context, opts CanaryOptions) (*CanaryResult, error) {
	start := time.Now()
	r := &runner{log: discard{}}
	if out, err := r.output(ctx, cmdSpec{}, Engine, "image", "inspect", "--format", "{{json .Labels}}", LoadBalancerImage); err == nil &&
		!strings.Contains(out, LabelStandIn) {
		return &CanaryResult{Image: LoadBalancerImage, Cached: true, Duration: time.Since(start)}, nil
	}
	b, exe, base, err := rehearseLayers(ctx, opts)
	if err != nil {
		return nil, err
	}
	spec := imageSpec{
		Ref:       mustRef(LoadBalancerImage),
		BaseLayer: base,
		Files:     []imageFile{{Src: exe, Dst: "/usr/local/bin/envoy", Mode: 0o755}},
		Labels:    map[string]string{LabelStandIn: "envoy: the apiservers' load balancer of kind"},
	}
	res, err := b.loadImage(ctx, spec, "load balancer")
	if err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// rehearseLayers prepares what rehearse's own images are made of: the
// rehearse binary (compiled from opts.Source, else the running one) and the
// image base layer.
func rehearseLayers(ctx context.Context, opts CanaryOptions) (b *build, exe, base string, err error) {
	b, err = newBuild(opts.Options, Version{Major: 1}, io.Discard, "canary")
	if err != nil {
		return nil, "", "", err
	}
	if err := ensureHost(ctx, b.run, b.progress); err != nil {
		return nil, "", "", err
	}
	bin := filepath.Join(b.cache, "bin", "canary")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, "", "", err
	}
	exe = filepath.Join(bin, "rehearse")
	if opts.Source != "" {
		b.progress("canary: compiling %s", CanaryModule)
		ld := "-s -w -X " + CanaryModule + "/rehearse.buildVersion=" + opts.Version
		env := append(b.goEnv(false), "GOFLAGS=-mod=readonly -buildvcs=false")
		fresh := exe + ".new"
		if err := b.run.run(ctx, cmdSpec{Dir: opts.Source, Env: env}, b.goBin,
			"build", "-trimpath", "-ldflags", ld, "-o", fresh, "./cmd/rehearse"); err != nil {
			return nil, "", "", fmt.Errorf("build canary: %w", err)
		}
		data, err := os.ReadFile(fresh)
		os.Remove(fresh)
		if err != nil {
			return nil, "", "", err
		}
		if err := replaceIfChanged(exe, data); err != nil {
			return nil, "", "", err
		}
	} else {
		self, err := os.Executable()
		if err != nil {
			return nil, "", "", err
		}
		data, err := os.ReadFile(self)
		if err != nil {
			return nil, "", "", err
		}
		if err := replaceIfChanged(exe, data); err != nil {
			return nil, "", "", err
		}
	}
	base, err = b.baseLayer(ctx)
	if err != nil {
		return nil, "", "", err
	}
	return b, exe, base, nil
}

// loadImage writes spec as an archive and loads it into the engine, unless
// the engine holds that very image already (the image records the key of
// its inputs); the image it replaces goes, unless a container still uses
// it.
func (b *build) loadImage(ctx context.Context, spec imageSpec, what string) (*CanaryResult, error) {
	key, err := spec.archiveKey()
	if err != nil {
		return nil, err
	}
	spec.Labels[LabelCanaryArchive] = key
	archive, err := writeImageArchive(ctx, filepath.Join(b.cache, "images"), spec)
	if err != nil {
		return nil, err
	}
	ref := spec.Ref.String()
	if labels, ok := b.imageLabels(ctx, ref); ok && labels[LabelCanaryArchive] == key {
		b.progress("%s image %s is up to date", what, ref)
		return &CanaryResult{Image: ref, Archive: archive, Cached: true}, nil
	}
	oldID, _ := b.run.output(ctx, cmdSpec{}, Engine, "image", "inspect", "--format", "{{.Id}}", ref)
	if err := b.run.run(ctx, cmdSpec{}, Engine, "load", "-q", "-i", archive); err != nil {
		return nil, fmt.Errorf("load %s image: %w", what, err)
	}
	if oldID = strings.TrimSpace(oldID); oldID != "" {
		_ = b.run.run(ctx, cmdSpec{}, Engine, "rmi", oldID)
	}
	b.progress("%s image %s loaded (archive %s)", what, ref, archive)
	return &CanaryResult{Image: ref, Archive: archive}, nil
}

// replaceIfChanged writes data to path unless path holds it already, so an
// unchanged binary keeps its modification time (and its archives stay
// cached).
func replaceIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
