package nodeimage

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// DefaultProbeTimeout bounds the check whether a registry answers.
const DefaultProbeTimeout = 3 * time.Second

// DefaultRegistryProbe is the address asked whether a registry answers.
const DefaultRegistryProbe = "https://registry-1.docker.io/v2/"

// Options configure builds. The zero value builds from source when no
// registry answers, in DefaultCacheDir, silently.
type Options struct {
	// CacheDir holds everything a build keeps; "" means DefaultCacheDir.
	CacheDir string
	// FromSource builds even when a registry could provide kindest/node.
	FromSource bool
	// Progress receives one line per step for people; nil discards them.
	Progress io.Writer
	// Heartbeat is how often a command that runs long (compiling
	// Kubernetes takes minutes) says on Progress that it still runs, with
	// its last line of output; 0 means DefaultHeartbeat, negative never.
	Heartbeat time.Duration
	// Verbose also prints every command a build runs on Progress.
	Verbose bool
	// RegistryProbe is the address whose answer tells a registry is
	// reachable; "" means DefaultRegistryProbe.
	RegistryProbe string
	// ProbeTimeout bounds the probe; 0 means DefaultProbeTimeout.
	ProbeTimeout time.Duration
}

// DefaultHeartbeat is how often a long command of a build says it still runs.
const DefaultHeartbeat = 30 * time.Second

// DefaultCacheDir is ~/.cache/rehearse (XDG_CACHE_HOME respected).
func DefaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = filepath.Join(os.TempDir(), "cache")
	}
	return filepath.Join(dir, "rehearse")
}

// Result describes a finished build.
type Result struct {
	Image      string        `json:"image"`
	Kubernetes string        `json:"kubernetes"`
	Recipe     string        `json:"recipe"`
	Source     string        `json:"source"` // built, upstream
	Cached     bool          `json:"cached"`
	Duration   time.Duration `json:"duration"`
	Log        string        `json:"log"`
	// Images are the images imported into the node's containerd.
	Images []string `json:"images,omitempty"`
}

// build is the state of one build.
type build struct {
	opts     Options
	cache    string
	version  Version
	recipe   Recipe
	run      *runner
	goBin    string
	progress func(format string, args ...any)
}

func newBuild(opts Options, v Version, logFile io.Writer, label string) (*build, error) {
	cache := opts.CacheDir
	if cache == "" {
		cache = DefaultCacheDir()
	}
	cache, err := filepath.Abs(cache)
	if err != nil {
		return nil, err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, serr := os.Stat(goBin); serr != nil {
			return nil, fmt.Errorf("the go command is needed to build from source: %w", err)
		}
	}
	b := &build{opts: opts, cache: cache, version: v, recipe: NewRecipe(v), run: &runner{log: logFile}, goBin: goBin}
	start := time.Now()
	var mu sync.Mutex
	b.progress = func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		b.run.logf("== %s", msg)
		if opts.Progress != nil {
			mu.Lock()
			fmt.Fprintf(opts.Progress, "[%s %6s] %s\n", label, time.Since(start).Round(time.Second), msg)
			mu.Unlock()
		}
	}
	if opts.Progress != nil && opts.Heartbeat >= 0 {
		b.run.beatEvery = opts.Heartbeat
		if b.run.beatEvery == 0 {
			b.run.beatEvery = DefaultHeartbeat
		}
		if opts.Verbose {
			b.run.echo = func(line string) {
				mu.Lock()
				fmt.Fprintf(opts.Progress, "[%s %6s] $ %s\n", label, time.Since(start).Round(time.Second), shorten(line, 160))
				mu.Unlock()
			}
		}
		b.run.heartbeat = func(command string, running time.Duration, last string) {
			msg := fmt.Sprintf("still running after %s: %s", running.Round(time.Second), shorten(command, 80))
			if last != "" {
				msg += " (last output: " + shorten(last, 100) + ")"
			}
			mu.Lock()
			fmt.Fprintf(opts.Progress, "[%s %6s] %s\n", label, time.Since(start).Round(time.Second), msg)
			mu.Unlock()
		}
	}
	return b, nil
}

// Build makes sure the node image of Kubernetes version exists and is
// current: an image with the same recipe is a cache hit; else, unless
// FromSource, kindest/node is pulled when a registry answers; else the image
// is built. ctx cancels the build and removes its temporary container.
func Build(ctx context.Context, opts Options, version string) (res *Result, err error) {
	start := time.Now()
	v, err := ParseVersion(version)
	if err != nil {
		return nil, err
	}
	cache := opts.CacheDir
	if cache == "" {
		cache = DefaultCacheDir()
	}
	logDir := filepath.Join(cache, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, fmt.Sprintf("node-%s-%s.log", v, start.UTC().Format("20060102T150405Z")))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	b, err := newBuild(opts, v, logFile, v.String())
	if err != nil {
		return nil, err
	}
	res = &Result{Image: v.NodeImage(), Kubernetes: v.String(), Log: logPath}
	defer func() {
		res.Duration = time.Since(start)
		if err != nil {
			b.run.logf("build failed: %v", err)
			err = fmt.Errorf("node image %s: %w (log: %s)", v, err, logPath)
		}
	}()

	built := b.recipe.Hash()
	upstream := UpstreamRecipe(v).Hash()
	if labels, ok := b.imageLabels(ctx, res.Image); ok {
		have := labels[LabelRecipe]
		if have == built || (have == upstream && !opts.FromSource) {
			res.Recipe, res.Source, res.Cached = have, labels[LabelSource], true
			b.progress("%s is up to date (recipe %s): nothing to do", res.Image, have)
			return res, nil
		}
		b.progress("%s exists with recipe %q, want %s: rebuilding", res.Image, have, built)
	}
	if !opts.FromSource {
		if ok, err := b.pullUpstream(ctx); err != nil {
			return res, err
		} else if ok {
			res.Recipe, res.Source = upstream, "upstream"
			return res, nil
		}
	}
	res.Recipe, res.Source = built, "built"
	res.Images, err = b.buildFromSource(ctx)
	if err != nil {
		return res, err
	}
	b.progress("%s built in %s", res.Image, time.Since(start).Round(time.Second))
	return res, nil
}

// parts are the outputs of the build steps before the node is assembled.
type parts struct {
	kubeBin    string
	kubeadm    KubeadmImages
	sandbox    ImageRef
	pause      string // folder with pause
	etcd       string
	coredns    string
	flannel    string
	cniPlugin  string
	flannelYML string
	flannelRef ImageRef
	pluginRef  ImageRef
	baseLayer  string
	nodeBase   string // podman image of the node root file system
}

func (b *build) buildFromSource(ctx context.Context) ([]string, error) {
	if err := ensureHost(ctx, b.run, b.progress); err != nil {
		return nil, err
	}
	kind, err := b.downloadModule(ctx, "sigs.k8s.io/kind", KindVersion)
	if err != nil {
		return nil, err
	}
	flannelMod, err := b.downloadModule(ctx, "github.com/flannel-io/flannel", FlannelVersion)
	if err != nil {
		return nil, err
	}
	var p parts
	kindConfig, err := os.ReadFile(filepath.Join(kind.Dir, "images", "base", "files", "etc", "containerd", "config.toml"))
	if err != nil {
		return nil, err
	}
	if p.sandbox, err = SandboxImage(string(kindConfig)); err != nil {
		return nil, err
	}
	rawManifest, err := os.ReadFile(filepath.Join(flannelMod.Dir, "Documentation", "kube-flannel.yml"))
	if err != nil {
		return nil, err
	}
	var refs []ImageRef
	if p.flannelYML, refs, err = PatchFlannelManifest(string(rawManifest), FlannelCNIVersion); err != nil {
		return nil, err
	}
	if p.flannelRef, p.pluginRef, err = flannelImages(refs); err != nil {
		return nil, err
	}

	g, gctx := errgroup.WithContext(ctx)
	// Root file systems: network and dpkg bound, beside the compiles.
	g.Go(func() error {
		var err error
		if p.baseLayer, err = b.baseLayer(gctx); err != nil {
			return err
		}
		p.nodeBase, err = b.nodeBaseImage(gctx, kind.Dir)
		return err
	})
	// Compiles: CPU bound, one after the other.
	g.Go(func() error {
		var err error
		if p.kubeBin, err = b.buildKubernetes(gctx); err != nil {
			return err
		}
		out, err := b.run.output(gctx, cmdSpec{}, filepath.Join(p.kubeBin, "kubeadm"),
			"config", "images", "list", "--kubernetes-version", b.version.String())
		if err != nil {
			return fmt.Errorf("ask kubeadm for its images: %w", err)
		}
		if p.kubeadm, err = ParseKubeadmImages(out); err != nil {
			return err
		}
		b.progress("kubeadm %s wants %s, %s, %s; containerd's sandbox is %s", b.version, p.kubeadm.Etcd, p.kubeadm.CoreDNS, p.kubeadm.Pause, p.sandbox)
		etcdVersion, err := EtcdModuleVersion(p.kubeadm.Etcd.Tag)
		if err != nil {
			return err
		}
		corednsVersion, err := CoreDNSModuleVersion(p.kubeadm.CoreDNS.Tag)
		if err != nil {
			return err
		}
		if p.pause, err = b.buildProgram(gctx, pauseProgram("rehearse")); err != nil {
			return err
		}
		if p.etcd, err = b.buildProgram(gctx, etcdProgram(etcdVersion)); err != nil {
			return err
		}
		if p.coredns, err = b.buildProgram(gctx, corednsProgram(corednsVersion)); err != nil {
			return err
		}
		if p.flannel, err = b.buildProgram(gctx, flannelProgram()); err != nil {
			return err
		}
		p.cniPlugin, err = b.buildProgram(gctx, cniPluginProgram())
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	archives, err := b.writeArchives(ctx, p)
	if err != nil {
		return nil, err
	}
	return b.assemble(ctx, p, archives)
}

// archive is one image archive to import into the node.
type archive struct {
	Ref    string `json:"image"`
	Path   string `json:"-"`
	File   string `json:"archive"`
	Digest string `json:"digest,omitempty"`
}

// imageSpecs are the images of a node: exactly the names kubeadm, containerd
// and the flannel manifest ask for.
func (b *build) imageSpecs(p parts) []imageSpec {
	bin := func(dir, name string) string { return filepath.Join(dir, name) }
	var specs []imageSpec
	for _, ref := range p.kubeadm.ControlPlane {
		cmd := ref.Base()
		s := imageSpec{
			Ref:        ref,
			Files:      []imageFile{{Src: bin(p.kubeBin, cmd), Dst: "/usr/local/bin/" + cmd, Mode: 0o755}},
			Entrypoint: []string{"/usr/local/bin/" + cmd},
		}
		if cmd == "kube-proxy" {
			s.BaseLayer = p.baseLayer
		}
		specs = append(specs, s)
	}
	pauseFile := []imageFile{{Src: bin(p.pause, "pause"), Dst: "/pause", Mode: 0o755}}
	specs = append(specs,
		imageSpec{Ref: p.kubeadm.Etcd, Files: []imageFile{{Src: bin(p.etcd, "etcd"), Dst: "/usr/local/bin/etcd", Mode: 0o755}},
			Entrypoint: []string{"/usr/local/bin/etcd"}},
		imageSpec{Ref: p.kubeadm.CoreDNS, Files: []imageFile{{Src: bin(p.coredns, "coredns"), Dst: "/coredns", Mode: 0o755}},
			Entrypoint: []string{"/coredns"}},
		imageSpec{Ref: p.kubeadm.Pause, Files: pauseFile, Entrypoint: []string{"/pause"}},
	)
	if p.sandbox.String() != p.kubeadm.Pause.String() {
		specs = append(specs, imageSpec{Ref: p.sandbox, Files: pauseFile, Entrypoint: []string{"/pause"}})
	}
	specs = append(specs,
		imageSpec{Ref: p.flannelRef, BaseLayer: p.baseLayer, Files: []imageFile{
			{Src: bin(p.flannel, "flanneld"), Dst: "/opt/bin/flanneld", Mode: 0o755},
			{Src: bin(p.flannel, "install-conf"), Dst: "/opt/bin/install-conf", Mode: 0o755},
		}, Entrypoint: []string{"/opt/bin/flanneld"}},
		imageSpec{Ref: p.pluginRef, BaseLayer: p.baseLayer, Files: []imageFile{
			{Src: bin(p.cniPlugin, "flannel"), Dst: "/flannel", Mode: 0o755},
		}, Cmd: []string{"cp", "-f", "/flannel", "/opt/cni/bin/flannel"}},
	)
	return specs
}

func (b *build) writeArchives(ctx context.Context, p parts) ([]archive, error) {
	dir := filepath.Join(b.cache, "images")
	specs := b.imageSpecs(p)
	b.progress("writing %d image archives", len(specs))
	out := make([]archive, len(specs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for i, s := range specs {
		g.Go(func() error {
			path, err := writeImageArchive(gctx, dir, s)
			if err != nil {
				return err
			}
			out[i] = archive{Ref: s.Ref.String(), Path: path, File: filepath.Base(path)}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// shorten cuts s to n runes with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
