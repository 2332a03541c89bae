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
	b, err := newBuild(opts.Options, Version{Major: 1}, io.Discard, "canary")
	if err != nil {
		return nil, err
	}
	if err := ensureHost(ctx, b.run, b.progress); err != nil {
		return nil, err
	}
	ref := mustRef(CanaryImage(opts.Version))
	bin := filepath.Join(b.cache, "bin", "canary")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, err
	}
	exe := filepath.Join(bin, "rehearse")
	if opts.Source != "" {
		b.progress("canary: compiling %s", CanaryModule)
		ld := "-s -w -X " + CanaryModule + "/rehearse.buildVersion=" + opts.Version
		env := append(b.goEnv(false), "GOFLAGS=-mod=readonly -buildvcs=false")
		fresh := exe + ".new"
		if err := b.run.run(ctx, cmdSpec{Dir: opts.Source, Env: env}, b.goBin,
			"build", "-trimpath", "-ldflags", ld, "-o", fresh, "./cmd/rehearse"); err != nil {
			return nil, fmt.Errorf("build canary: %w", err)
		}
		data, err := os.ReadFile(fresh)
		os.Remove(fresh)
		if err != nil {
			return nil, err
		}
		if err := replaceIfChanged(exe, data); err != nil {
			return nil, err
		}
	} else {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(self)
		if err != nil {
			return nil, err
		}
		if err := replaceIfChanged(exe, data); err != nil {
			return nil, err
		}
	}
	base, err := b.baseLayer(ctx)
	if err != nil {
		return nil, err
	}
	spec := imageSpec{
		Ref:        ref,
		BaseLayer:  base,
		Files:      []imageFile{{Src: exe, Dst: "/usr/local/bin/rehearse", Mode: 0o755}},
		Entrypoint: []string{"/usr/local/bin/rehearse", "canary", "serve"},
		Labels:     map[string]string{LabelCanary: opts.Version},
	}
	key, err := spec.archiveKey()
	if err != nil {
		return nil, err
	}
	// The image records the key of its inputs, so an unchanged canary is
	// not loaded again.
	spec.Labels[LabelCanaryArchive] = key
	archive, err := writeImageArchive(ctx, filepath.Join(b.cache, "images"), spec)
	if err != nil {
		return nil, err
	}
	cached := false
	if labels, ok := b.imageLabels(ctx, ref.String()); ok && labels[LabelCanaryArchive] == key {
		b.progress("canary image %s is up to date", ref)
		cached = true
	} else {
		oldID, _ := b.run.output(ctx, cmdSpec{}, Engine, "image", "inspect", "--format", "{{.Id}}", ref.String())
		if err := b.run.run(ctx, cmdSpec{}, Engine, "load", "-q", "-i", archive); err != nil {
			return nil, fmt.Errorf("load canary image: %w", err)
		}
		if oldID = strings.TrimSpace(oldID); oldID != "" {
			// The image this one replaces, unless a container still uses it.
			_ = b.run.run(ctx, cmdSpec{}, Engine, "rmi", oldID)
		}
		b.progress("canary image %s loaded (archive %s)", ref, archive)
	}
	return &CanaryResult{Image: ref.String(), Archive: archive, Duration: time.Since(start), Cached: cached}, nil
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
