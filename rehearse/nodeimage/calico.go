package nodeimage

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Calico, built from its source in the Go module proxy. Its release tags
// are not Go module versions (the module has no /v3 suffix), so the
// release is named by the pseudo-version of its commit.
const (
	CalicoVersion       = "v3.31.0"
	CalicoModule        = "github.com/projectcalico/calico"
	CalicoModuleVersion = "v0.0.0-20251021213802-b1f3c43f8437"
	// calicoAPIVersion is github.com/projectcalico/api at that release
	// (calico's go.mod replaces it by ./api, which is not in the module).
	calicoAPIVersion = "v0.0.0-20251022175904-f2ab03771208"
	// calicoKubernetesVersion is the k8s.io staging version calico's go.mod
	// pins with replace directives.
	calicoKubernetesVersion = "v0.33.5"
	// calicoPatchRevision changes whenever calicoPatches do.
	calicoPatchRevision = 1
	// CalicoManifestName is the manifest of a VXLAN install with the
	// Kubernetes datastore, as the calico module ships it.
	CalicoManifestName = "manifests/calico-vxlan.yaml"
)

// CalicoImages are the images calico-vxlan.yaml runs; rehearse builds
// stand-ins of these names.
var CalicoImages = []string{
	"quay.io/calico/node:" + CalicoVersion,
	"quay.io/calico/cni:" + CalicoVersion,
	"quay.io/calico/kube-controllers:" + CalicoVersion,
}

// calicoPatch is one exact edit of calico's source: Old must occur exactly
// once in File.
type calicoPatch struct {
	File, Old, New, Why string
}

// calicoPatches are what a build without cgo, by this machine's Go, needs.
var calicoPatches = []calicoPatch{
	{
		File: "cni-plugin/pkg/install/install.go",
		Old:  `	data = strings.ReplaceAll(data, "__KUBERNETES_SERVICE_HOST__", getEnv("KUBERNETES_SERVICE_HOST", ""))` + "\n",
		New: `	if host := getEnv("KUBERNETES_SERVICE_HOST", ""); !strings.Contains(host, ":") {
		data = strings.ReplaceAll(data, "[__KUBERNETES_SERVICE_HOST__]", host)
	}
	data = strings.ReplaceAll(data, "__KUBERNETES_SERVICE_HOST__", getEnv("KUBERNETES_SERVICE_HOST", ""))
`,
		Why: `the CNI kubeconfig's server is https://[HOST]:PORT even for an IPv4 host, which Go 1.26's net/url refuses ("invalid IP-literal"): bracket IPv6 hosts only`,
	},
}

// calicoStubFile is felix's libbpf stand-in for builds without cgo. Its
// calls panic, and Felix in iptables mode still calls some of them to clean
// up BPF state at start; rehearse rewrites every stub that can return an
// error to return one instead (the clean-up logs it and goes on).
const calicoStubFile = "felix/bpf/libbpf/libbpf_stub.go"

// calicoStartScript is calico-node's entrypoint without BGP: the upstream
// image runs these under runit.
const calicoStartScript = `#!/bin/sh
# calico-node for a VXLAN install without BGP: configure the node; keep its
# VXLAN tunnel address allocated; mark the node's network available once
# Felix is ready (a pod's -shutdown marks it unavailable); keep the CNI
# plugin's token fresh; and run Felix.
set -e
calico-node -startup
calico-node -allocate-tunnel-addrs &
calico-node -complete-startup &
calico-node -monitor-token &
exec calico-node -felix
`

// CalicoResult describes the Calico images and manifest.
type CalicoResult struct {
	Images []string `json:"images"`
	// Manifest is calico-vxlan.yaml of CalicoVersion, as the module has it.
	Manifest string        `json:"manifest"`
	Duration time.Duration `json:"duration"`
}

// BuildCalico builds Calico CalicoVersion from source (calico-node, the CNI
// plugin and its installer, kube-controllers; no cgo, so no BPF data plane)
// and loads stand-ins of CalicoImages into podman, each on the image base
// layer, which has the iptables, ipset and iproute2 Felix runs. The
// binaries and archives are cached; a second call takes seconds.
func BuildCalico(ctx context.Context, opts Options) (*CalicoResult, error) {
	start := time.Now()
	b, err := newBuild(opts, Version{Major: 1}, io.Discard, "calico")
	if err != nil {
		return nil, err
	}
	if err := ensureHost(ctx, b.run, b.progress); err != nil {
		return nil, err
	}
	mod, err := b.downloadModule(ctx, CalicoModule, CalicoModuleVersion)
	if err != nil {
		return nil, err
	}
	src, err := b.patchedCalico(mod.Dir)
	if err != nil {
		return nil, err
	}
	manifest, err := os.ReadFile(filepath.Join(mod.Dir, filepath.FromSlash(CalicoManifestName)))
	if err != nil {
		return nil, fmt.Errorf("calico %s: %w", CalicoVersion, err)
	}
	manifestPath := filepath.Join(b.cache, "manifests", "calico-"+CalicoVersion+"-vxlan.yaml")
	if err := os.MkdirAll(filepath.Dir(manifestPath), 0o755); err != nil {
		return nil, err
	}
	if err := replaceIfChanged(manifestPath, manifest); err != nil {
		return nil, err
	}
	bin, err := b.buildProgram(ctx, calicoProgram(src))
	if err != nil {
		return nil, err
	}
	script := filepath.Join(bin, "start-calico")
	if err := replaceIfChanged(script, []byte(calicoStartScript)); err != nil {
		return nil, err
	}
	base, err := b.baseLayer(ctx)
	if err != nil {
		return nil, err
	}
	file := func(name, dst string) imageFile {
		return imageFile{Src: filepath.Join(bin, name), Dst: dst, Mode: 0o755}
	}
	standIn := func(what string) map[string]string {
		return map[string]string{LabelStandIn: what + " of Calico " + CalicoVersion + ", built from source without cgo"}
	}
	specs := []imageSpec{
		{Ref: mustRef(CalicoImages[0]), BaseLayer: base,
			Files:      []imageFile{file("calico-node", "/usr/bin/calico-node"), file("start-calico", "/usr/bin/start-calico")},
			Entrypoint: []string{"/usr/bin/start-calico"}, Labels: standIn("calico-node")},
		{Ref: mustRef(CalicoImages[1]), BaseLayer: base,
			Files: []imageFile{file("install", "/opt/cni/bin/install"), file("calico", "/opt/cni/bin/calico"),
				file("calico", "/opt/cni/bin/calico-ipam")},
			Entrypoint: []string{"/opt/cni/bin/install"}, Labels: standIn("the CNI plugin")},
		{Ref: mustRef(CalicoImages[2]), BaseLayer: base,
			Files:      []imageFile{file("kube-controllers", "/usr/bin/kube-controllers"), file("check-status", "/usr/bin/check-status")},
			Entrypoint: []string{"/usr/bin/kube-controllers"}, User: "999:999", Labels: standIn("kube-controllers")},
	}
	res := &CalicoResult{Manifest: manifestPath}
	for _, s := range specs {
		r, err := b.loadImage(ctx, s, "calico")
		if err != nil {
			return nil, err
		}
		res.Images = append(res.Images, r.Image)
	}
	res.Duration = time.Since(start)
	return res, nil
}

// calicoProgram builds Calico's binaries from src, calico's module with
// calicoPatches applied. A dependency's replace directives do not apply to
// the main module, so the wrapper repeats calico's.
func calicoProgram(src string) goProgram {
	replace := map[string]string{
		CalicoModule:                              src,
		"github.com/projectcalico/api":            "github.com/projectcalico/api " + calicoAPIVersion,
		"github.com/projectcalico/calico/lib/std": "github.com/projectcalico/calico/lib/std " + CalicoModuleVersion,
		"gopkg.in/natefinch/lumberjack.v2":        "gopkg.in/natefinch/lumberjack.v2 v2.0.0",
	}
	for _, m := range []string{
		"api", "apiextensions-apiserver", "apimachinery", "apiserver", "cli-runtime", "client-go",
		"cloud-provider", "cluster-bootstrap", "code-generator", "component-base", "component-helpers",
		"controller-manager", "cri-api", "csi-translation-lib", "endpointslice", "externaljwt",
		"kube-aggregator", "kube-controller-manager", "kube-proxy", "kube-scheduler", "kubectl", "kubelet",
		"metrics", "mount-utils", "pod-security-admission", "sample-apiserver",
	} {
		replace["k8s.io/"+m] = "k8s.io/" + m + " " + calicoKubernetesVersion
	}
	info := CalicoModule + "/pkg/buildinfo"
	return goProgram{
		name: fmt.Sprintf("calico-%s-p%d", CalicoVersion, calicoPatchRevision),
		wrapper: WrapperModule{
			Name: "rehearse.local/calico", Go: toolchainGo(),
			Require: map[string]string{CalicoModule: CalicoModuleVersion},
			Replace: replace,
		},
		targets: map[string]string{
			"calico-node":      CalicoModule + "/node/cmd/calico-node",
			"calico":           CalicoModule + "/cni-plugin/cmd/calico",
			"install":          CalicoModule + "/cni-plugin/cmd/install",
			"kube-controllers": CalicoModule + "/kube-controllers/cmd/kube-controllers",
			"check-status":     CalicoModule + "/kube-controllers/cmd/check-status",
		},
		ldflags: "-X " + info + ".Version=" + CalicoVersion,
	}
}

// patchedCalico copies calico's module (read-only in the module cache) to
// the build cache once and applies calicoPatches and the libbpf stub edit.
func (b *build) patchedCalico(moduleDir string) (string, error) {
	dst := filepath.Join(b.cache, "src", fmt.Sprintf("calico-%s-p%d-source", CalicoVersion, calicoPatchRevision))
	done := filepath.Join(dst, ".rehearse-patched")
	if _, err := os.Stat(done); err == nil {
		return dst, nil
	}
	if err := os.RemoveAll(dst); err != nil {
		return "", err
	}
	b.progress("calico %s: copying its module and patching it (%d edits and the libbpf stubs)", CalicoVersion, len(calicoPatches))
	if err := copyTree(moduleDir, dst); err != nil {
		return "", fmt.Errorf("copy calico's module: %w", err)
	}
	for _, p := range calicoPatches {
		path := filepath.Join(dst, filepath.FromSlash(p.File))
		data, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		if n := strings.Count(string(data), p.Old); n != 1 {
			return "", fmt.Errorf("calico %s: patch of %s (%s) expects its text once, found %d times", CalicoVersion, p.File, p.Why, n)
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(data), p.Old, p.New, 1)), 0o644); err != nil {
			return "", err
		}
	}
	stub := filepath.Join(dst, filepath.FromSlash(calicoStubFile))
	data, err := os.ReadFile(stub)
	if err != nil {
		return "", err
	}
	patched, n, err := ErrorStubs(string(data))
	if err != nil {
		return "", fmt.Errorf("calico %s: %s: %w", CalicoVersion, calicoStubFile, err)
	}
	if n == 0 {
		return "", fmt.Errorf("calico %s: %s: no panicking stub returns an error; the patch no longer fits", CalicoVersion, calicoStubFile)
	}
	if err := os.WriteFile(stub, []byte(patched), 0o644); err != nil {
		return "", err
	}
	return dst, os.WriteFile(done, []byte(fmt.Sprintf("%d\n", calicoPatchRevision)), 0o644)
}

// copyTree copies the regular files and folders of src to dst, writable.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
