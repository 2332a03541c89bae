package nodeimage

import (
	"context"
	"encoding/json"
	"github.com/rehearse/rehearse/internal/testenv"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestIntegrationBuildNodeImage builds the v1.35.4 node image from source
// (about 25 minutes the first time on 2 cores, seconds when cached in
// REHEARSE_CACHE or ~/.cache/rehearse), then checks every expected image is in
// the node's containerd and that a second build is a cache hit.
func TestIntegrationBuildNodeImage(t *testing.T) {
	// A cold build takes about 25 minutes: it runs with the cluster tests,
	// after make substrate has built (and cached) the images.
	testenv.RequireCluster(t)
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("podman"); err != nil {
			t.Fatal("needs podman, or root to install it (rehearse doctor --fix)")
		}
	}
	const version = "v1.35.4"
	ctx, cancel := context.WithTimeout(t.Context(), 75*time.Minute)
	defer cancel()
	opts := Options{CacheDir: os.Getenv("REHEARSE_CACHE"), FromSource: true, Progress: testWriter{t}}

	res, err := Build(ctx, opts, version)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: source %s, cached %v, %s", res.Image, res.Source, res.Cached, res.Duration.Round(time.Second))

	images, err := List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, im := range images {
		if im.Name == res.Image && im.Kubernetes == version && im.Recipe == res.Recipe && im.Source == "built" {
			found = true
		}
	}
	if !found {
		t.Fatalf("List() = %+v, lacks %s with recipe %s", images, res.Image, res.Recipe)
	}

	podman := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, "podman", append(RuntimeArgs(), args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	var manifest imagesManifest
	if err := json.Unmarshal([]byte(podman("run", "--rm", "--entrypoint", "cat", res.Image, ImagesManifestPath)), &manifest); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(podman("run", "--rm", "--entrypoint", "cat", res.Image, "/kind/version")); got != version {
		t.Errorf("/kind/version = %q, want %s", got, version)
	}
	if flannel := podman("run", "--rm", "--entrypoint", "cat", res.Image, FlannelManifestPath); !strings.Contains(flannel, `"cniVersion": "0.4.0"`) {
		t.Errorf("%s is not patched to cniVersion 0.4.0", FlannelManifestPath)
	}
	want := []string{
		"registry.k8s.io/kube-apiserver:" + version,
		"registry.k8s.io/kube-controller-manager:" + version,
		"registry.k8s.io/kube-scheduler:" + version,
		"registry.k8s.io/kube-proxy:" + version,
		"registry.k8s.io/etcd:3.6.6-0",
		"registry.k8s.io/coredns/coredns:v1.13.1",
		"registry.k8s.io/pause:3.10.1",
		"registry.k8s.io/pause:3.10",
		"ghcr.io/flannel-io/flannel:" + FlannelVersion,
		"ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3",
	}
	recorded := map[string]bool{}
	for _, im := range manifest.Images {
		recorded[im.Ref] = true
	}
	// Start the node's containerd briefly: the images must really be there.
	listed := podman("run", "--rm", "--privileged", "--entrypoint", "bash", res.Image, "-c",
		`setsid -f containerd >/dev/null 2>&1 </dev/null
for i in $(seq 1 60); do ctr version >/dev/null 2>&1 && break; sleep 0.5; done
ctr --namespace=k8s.io images list -q`)
	inContainerd := map[string]bool{}
	for _, l := range strings.Fields(listed) {
		inContainerd[l] = true
	}
	for _, w := range want {
		if !recorded[w] {
			t.Errorf("%s does not record %s", ImagesManifestPath, w)
		}
		if !inContainerd[w] {
			t.Errorf("the node's containerd lacks %s (has %s)", w, strings.Join(strings.Fields(listed), ", "))
		}
	}

	start := time.Now()
	again, err := Build(ctx, opts, version)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cached || again.Recipe != res.Recipe {
		t.Errorf("second build: cached %v, recipe %s; want a cache hit of %s", again.Cached, again.Recipe, res.Recipe)
	}
	t.Logf("second build (a cache hit): %s", time.Since(start).Round(time.Millisecond))
}
