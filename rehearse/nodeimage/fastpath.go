package nodeimage

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// UpstreamImage is kind's published node image of a version.
func UpstreamImage(v Version) string { return "docker.io/kindest/node:" + v.String() }

// RegistryReachable reports whether a registry answers at url within
// timeout. Any HTTP answer counts (a registry says 401 to anonymous /v2/).
func RegistryReachable(ctx context.Context, url string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// pullUpstream takes kindest/node of the version when a registry answers,
// adds flannel's manifest (the one the source build carries, with flannel's
// upstream images, which a machine with a registry pulls) at
// FlannelManifestPath, and labels it as a node image. ok is false when no
// registry answers or the pull fails (the caller then builds).
func (b *build) pullUpstream(ctx context.Context) (ok bool, err error) {
	url, timeout := b.opts.RegistryProbe, b.opts.ProbeTimeout
	if url == "" {
		url = DefaultRegistryProbe
	}
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	if !RegistryReachable(ctx, url, timeout) {
		b.progress("no registry answers (%s within %s): building from source", url, timeout)
		return false, nil
	}
	up := UpstreamImage(b.version)
	b.progress("a registry answers: pulling %s", up)
	if err := b.run.run(ctx, cmdSpec{}, Engine, "pull", up); err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		b.progress("pull %s failed, building from source: %v", up, err)
		return false, nil
	}
	manifest, err := b.upstreamFlannelManifest(ctx)
	if err != nil {
		return false, err
	}
	name := fmt.Sprintf("rehearse-label-%d", time.Now().UnixNano()%1e9)
	if err := b.run.run(ctx, cmdSpec{}, Engine, "create", "--name", name, up); err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = b.run.run(cctx, cmdSpec{}, Engine, "rm", "-f", name)
	}()
	if err := b.run.run(ctx, cmdSpec{}, Engine, "cp", manifest, name+":"+FlannelManifestPath); err != nil {
		return false, fmt.Errorf("put flannel's manifest into %s: %w", up, err)
	}
	args := []string{"commit", "-q"}
	for _, l := range [][2]string{
		{LabelKubernetes, b.version.String()},
		{LabelRecipe, UpstreamRecipe(b.version).Hash()},
		{LabelSource, "upstream"},
		{LabelKind, KindVersion},
	} {
		args = append(args, "--change", fmt.Sprintf("LABEL %s=%s", l[0], l[1]))
	}
	if err := b.run.run(ctx, cmdSpec{}, Engine, append(args, name, b.version.NodeImage())...); err != nil {
		return false, fmt.Errorf("label %s: %w", up, err)
	}
	b.progress("%s is %s", b.version.NodeImage(), up)
	return true, nil
}

// upstreamFlannelManifest writes flannel's own manifest of FlannelVersion
// (from its Go module) into the build cache and returns the file. kind's
// node images carry no flannel, and the cluster provider installs flannel
// from FlannelManifestPath inside the node.
func (b *build) upstreamFlannelManifest(ctx context.Context) (string, error) {
	mod, err := b.downloadModule(ctx, "github.com/flannel-io/flannel", FlannelVersion)
	if err != nil {
		return "", err
	}
	raw, err := os.ReadFile(filepath.Join(mod.Dir, "Documentation", "kube-flannel.yml"))
	if err != nil {
		return "", fmt.Errorf("flannel manifest: %w", err)
	}
	refs, err := ManifestImages(string(raw))
	if err != nil {
		return "", fmt.Errorf("flannel manifest of %s: %w", FlannelVersion, err)
	}
	if _, _, err := flannelImages(refs); err != nil {
		return "", fmt.Errorf("flannel manifest of %s: %w", FlannelVersion, err)
	}
	path := filepath.Join(b.cache, "manifests", "flannel-"+FlannelVersion+".yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, raw, 0o644)
}
