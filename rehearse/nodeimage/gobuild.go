package nodeimage

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// goEnv is the environment of every go command: the shared build cache of
// the cache folder (rebuilds are incremental), module mode that may update a
// generated go.sum, and the local toolchain only.
func (b *build) goEnv(cgo bool) []string {
	c := "0"
	if cgo {
		c = "1"
	}
	return []string{
		"GOCACHE=" + filepath.Join(b.cache, "go-build"),
		"GOFLAGS=-mod=mod -buildvcs=false",
		"GOWORK=off",
		"GOTOOLCHAIN=local",
		// The checksum database answers 404 for calico's pseudo-versions
		// (its release tags are not module versions): they are taken
		// from the proxy as they are.
		"GONOSUMDB=" + CalicoModule + ",github.com/projectcalico/api",
		"CGO_ENABLED=" + c,
		"GOOS=linux",
		"GOARCH=amd64",
	}
}

// writeWrapper (re)writes a generated module's go.mod, keeping its go.sum
// when the go.mod did not change.
func writeWrapper(dir, gomod string, files map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	if string(old) != gomod {
		_ = os.Remove(filepath.Join(dir, "go.sum"))
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
			return err
		}
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// binariesDone reports whether dir holds a finished build for key.
func binariesDone(dir, key string, names ...string) bool {
	got, err := os.ReadFile(filepath.Join(dir, ".done"))
	if err != nil || strings.TrimSpace(string(got)) != key {
		return false
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return false
		}
	}
	return true
}

func markDone(dir, key string) error {
	return os.WriteFile(filepath.Join(dir, ".done"), []byte(key+"\n"), 0o644)
}

// moduleInfo is what `go mod download -json` says about a module.
type moduleInfo struct {
	Path, Version, GoMod, Dir, Error string
	Origin                           struct{ VCS, URL, Hash, Ref string }
}

// downloadModule fetches one module into the module cache.
func (b *build) downloadModule(ctx context.Context, path, version string) (moduleInfo, error) {
	dir := filepath.Join(b.cache, "src", "download")
	if err := writeWrapper(dir, "module rehearse.local/download\n\ngo "+toolchainGo()+"\n", nil); err != nil {
		return moduleInfo{}, err
	}
	out, err := b.run.output(ctx, cmdSpec{Dir: dir, Env: b.goEnv(false)}, b.goBin, "mod", "download", "-json", path+"@"+version)
	var info moduleInfo
	if jerr := json.Unmarshal([]byte(out), &info); jerr == nil && info.Error != "" {
		return info, fmt.Errorf("download %s@%s: %s", path, version, info.Error)
	}
	if err != nil {
		return info, fmt.Errorf("download %s@%s: %w", path, version, err)
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		return info, fmt.Errorf("download %s@%s: %w", path, version, err)
	}
	return info, nil
}

// buildKubernetes compiles every Kubernetes command of the version into
// bin/kubernetes-<version>.
func (b *build) buildKubernetes(ctx context.Context) (string, error) {
	v := b.version
	out := filepath.Join(b.cache, "bin", "kubernetes-"+v.String())
	key := b.recipe.component("kubernetes", v.String())
	if binariesDone(out, key, KubernetesCommands...) {
		b.progress("Kubernetes %s binaries: cached", v)
		return out, nil
	}
	info, err := b.downloadModule(ctx, KubernetesModule, v.String())
	if err != nil {
		return "", err
	}
	kgomod, err := os.ReadFile(info.GoMod)
	if err != nil {
		return "", err
	}
	gomod, err := KubernetesWrapperGoMod(v, kgomod)
	if err != nil {
		return "", err
	}
	src := filepath.Join(b.cache, "src", "kubernetes-"+v.String())
	if err := writeWrapper(src, gomod, nil); err != nil {
		return "", err
	}
	commit := info.Origin.Hash
	if len(commit) != 40 {
		commit = strings.Repeat("0", 40)
	}
	stamp := StampInfo{Version: v, Commit: commit, BuildDate: time.Now()}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	args := []string{"build", "-trimpath", "-ldflags", stamp.LDFlags(), "-o", out + "/"}
	for _, c := range KubernetesCommands {
		args = append(args, KubernetesModule+"/cmd/"+c)
	}
	b.progress("Kubernetes %s: compiling %s (about 10 minutes cold)", v, strings.Join(KubernetesCommands, ", "))
	if err := b.run.run(ctx, cmdSpec{Dir: src, Env: b.goEnv(false)}, b.goBin, args...); err != nil {
		return "", fmt.Errorf("build kubernetes %s: %w", v, err)
	}
	return out, markDone(out, key)
}

// goProgram is one binary built from a generated wrapper module.
type goProgram struct {
	name    string            // cache name, e.g. etcd-v3.6.6
	wrapper WrapperModule     // the generated module
	files   map[string]string // extra files of the wrapper (a main.go)
	targets map[string]string // output file name => package
	ldflags string
	cgo     bool // static cgo build
	tags    []string
}

// buildProgram builds a goProgram into bin/<name> unless it is cached.
func (b *build) buildProgram(ctx context.Context, p goProgram) (string, error) {
	out := filepath.Join(b.cache, "bin", p.name)
	key := b.recipe.component(p.name, p.wrapper.GoMod()+fmt.Sprint(p.files, p.targets, p.ldflags, p.cgo, p.tags))
	names := sortedKeys(p.targets)
	if binariesDone(out, key, names...) {
		b.progress("%s: cached", p.name)
		return out, nil
	}
	src := filepath.Join(b.cache, "src", p.name)
	if err := writeWrapper(src, p.wrapper.GoMod(), p.files); err != nil {
		return "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	b.progress("%s: compiling %s", p.name, strings.Join(names, ", "))
	for _, name := range names {
		args := []string{"build", "-trimpath"}
		ld := "-s -w " + p.ldflags
		if p.cgo {
			ld += " -linkmode external -extldflags -static"
		}
		args = append(args, "-ldflags", strings.TrimSpace(ld))
		if len(p.tags) > 0 {
			args = append(args, "-tags", strings.Join(p.tags, ","))
		}
		args = append(args, "-o", filepath.Join(out, name), p.targets[name])
		if err := b.run.run(ctx, cmdSpec{Dir: src, Env: b.goEnv(p.cgo)}, b.goBin, args...); err != nil {
			return "", fmt.Errorf("build %s: %w", p.name, err)
		}
	}
	return out, markDone(out, key)
}

// pauseMain is the pause binary: it waits for SIGTERM or SIGINT, reaps
// orphans when it is PID 1, and answers -v with a version, as kubeadm's
// upgrade health check expects.
const pauseMain = `// Generated by rehearse: the pod sandbox's pause process.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

var version = "dev"

func main() {
	for _, a := range os.Args[1:] {
		if a == "-v" || a == "--version" {
			fmt.Println("pause.go version: " + version)
			return
		}
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		fmt.Fprintf(os.Stderr, "shutting down, got signal %v\n", s)
		return
	}
}
`

func pauseProgram(tag string) goProgram {
	return goProgram{
		name:    "pause-" + tag,
		wrapper: WrapperModule{Name: "rehearse.local/pause", Go: toolchainGo()},
		files:   map[string]string{"main.go": pauseMain},
		targets: map[string]string{"pause": "."},
		ldflags: "-X main.version=" + tag,
	}
}

func etcdProgram(moduleVersion string) goProgram {
	return goProgram{
		name: "etcd-" + moduleVersion,
		wrapper: WrapperModule{
			Name: "rehearse.local/etcd", Go: toolchainGo(),
			Require: map[string]string{"go.etcd.io/etcd/server/v3": moduleVersion},
		},
		targets: map[string]string{"etcd": "go.etcd.io/etcd/server/v3"},
	}
}

func corednsProgram(moduleVersion string) goProgram {
	return goProgram{
		name: "coredns-" + moduleVersion,
		wrapper: WrapperModule{
			Name: "rehearse.local/coredns", Go: toolchainGo(),
			Require: map[string]string{"github.com/coredns/coredns": moduleVersion},
		},
		targets: map[string]string{"coredns": "github.com/coredns/coredns"},
	}
}

func flannelProgram() goProgram {
	return goProgram{
		name:    "flannel-" + FlannelVersion,
		wrapper: flannelWrapper(),
		targets: map[string]string{
			"flanneld":     "github.com/flannel-io/flannel",
			"install-conf": "github.com/flannel-io/flannel/cmd/install_conf",
		},
		ldflags: "-X github.com/flannel-io/flannel/pkg/version.Version=" + FlannelVersion,
		cgo:     true,
		tags:    []string{"netgo", "osusergo"},
	}
}

func cniPluginProgram() goProgram {
	return goProgram{
		name: "cni-plugins-" + CNIPluginsVersion,
		wrapper: WrapperModule{
			Name: "rehearse.local/cniplugins", Go: toolchainGo(),
			Require: map[string]string{"github.com/containernetworking/plugins": CNIPluginsVersion},
		},
		targets: map[string]string{"flannel": "github.com/containernetworking/plugins/plugins/meta/flannel"},
	}
}
