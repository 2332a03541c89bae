package cluster

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// kindLoadBalancerRole is the role of the container kind puts in front of
// several control planes; it runs no containerd of Kubernetes'.
const kindLoadBalancerRole = "external-load-balancer"

// LoadImages gives every node of the cluster the images, without a
// registry. Each ref is either the path of an image archive (docker or OCI
// format), loaded as LoadImageArchive does, or the name of an image in the
// engine's store, saved to a docker-format archive and loaded the same
// way. An image podman stores under another name than the one given (a
// locally built "shop/web:1.2" is "localhost/shop/web:1.2" there) is also
// tagged in each node with the name the given one means to containerd
// ("docker.io/shop/web:1.2"), so pods that name it find it.
func (p *Provider) LoadImages(ctx context.Context, clusterName string, refs []string) error {
	return p.loadImages(ctx, clusterName, refs, p.LoadImageArchive)
}

// archiveLoader loads an image archive into every node of a cluster.
type archiveLoader func(ctx context.Context, clusterName, archive string) error

func (p *Provider) loadImages(ctx context.Context, clusterName string, refs []string, load archiveLoader) error {
	for _, ref := range refs {
		if err := p.loadImage(ctx, clusterName, ref, load); err != nil {
			return fmt.Errorf("cluster %s: load image %s: %w", clusterName, ref, err)
		}
	}
	return nil
}

func (p *Provider) loadImage(ctx context.Context, clusterName, ref string, load archiveLoader) error {
	if st, err := p.host.Stat(ref); err == nil && !st.IsDir() {
		return load(ctx, clusterName, ref)
	}
	if _, err := p.host.Run(ctx, p.engine, "image", "inspect", "--format", "{{.Id}}", ref); err != nil {
		if looksLikeArchive(ref) {
			return fmt.Errorf("image archive %s does not exist", ref)
		}
		return fmt.Errorf("image %s is neither a file nor in %s's store", ref, p.engine)
	}
	dir, err := os.MkdirTemp("", "rehearse-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	archive := filepath.Join(dir, "image.tar")
	args := []string{"save", "-o", archive}
	if p.engine == EnginePodman {
		// The format `ctr images import` reads with the image's name (an
		// OCI archive of podman's names only the tag).
		args = append(args, "--format", "docker-archive")
	}
	if _, err := p.host.Run(ctx, p.engine, append(args, ref)...); err != nil {
		return fmt.Errorf("save it from %s: %w", p.engine, err)
	}
	names, err := archiveNames(archive)
	if err != nil {
		return fmt.Errorf("read the archive %s saved: %w", p.engine, err)
	}
	if err := load(ctx, clusterName, archive); err != nil {
		return err
	}
	return p.tagAs(ctx, clusterName, names, ref)
}

// looksLikeArchive says whether a ref that is no file was meant as one.
func looksLikeArchive(ref string) bool {
	return strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "./") || strings.HasPrefix(ref, "../") ||
		strings.HasSuffix(ref, ".tar") || strings.HasSuffix(ref, ".tar.gz") || strings.HasSuffix(ref, ".tgz")
}

// tagAs tags the loaded image, in every node, with the name ref means to
// containerd when the archive named it otherwise.
func (p *Provider) tagAs(ctx context.Context, clusterName string, names []string, ref string) error {
	want := NormalizeImage(ref)
	for _, n := range names {
		if NormalizeImage(n) == want {
			return nil
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("the archive %s saved names no image to tag as %s", p.engine, want)
	}
	nodes, err := p.clusterNodes(ctx, clusterName)
	if err != nil {
		return err
	}
	from := NormalizeImage(names[0])
	for _, n := range nodes {
		if _, err := p.host.Run(ctx, p.engine, "exec", n, "ctr", "--namespace=k8s.io", "images", "tag", "--force", from, want); err != nil {
			return fmt.Errorf("tag %s as %s in node %s: %w", from, want, n, err)
		}
	}
	return nil
}

// archiveNames lists the image names a docker-format archive carries (its
// manifest.json's RepoTags).
func archiveNames(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no manifest.json in it")
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimPrefix(h.Name, "./") != "manifest.json" {
			continue
		}
		var manifest []struct{ RepoTags []string }
		if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
			return nil, fmt.Errorf("manifest.json: %w", err)
		}
		var names []string
		for _, m := range manifest {
			names = append(names, m.RepoTags...)
		}
		return names, nil
	}
}

// clusterNodes lists the cluster's node containers (not kind's load
// balancer), sorted.
func (p *Provider) clusterNodes(ctx context.Context, clusterName string) ([]string, error) {
	rows, err := p.nodeRows(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var nodes []string
	for _, r := range rows {
		if r.Cluster == clusterName && r.Role != kindLoadBalancerRole {
			nodes = append(nodes, r.Container)
		}
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("cluster %s: %w", clusterName, ErrNotFound)
	}
	sort.Strings(nodes)
	return nodes, nil
}

// MissingImages says, for each node of the cluster that lacks any, which
// of the images its containerd does not have (in the k8s.io namespace,
// where the kubelet looks), in the order given. Names are compared as
// containerd normalises them (NormalizeImage): "nginx" is
// "docker.io/library/nginx:latest". An empty map means every node has
// every image.
func (p *Provider) MissingImages(ctx context.Context, clusterName string, images []string) (map[string][]string, error) {
	nodes, err := p.clusterNodes(ctx, clusterName)
	if err != nil {
		return nil, err
	}
	missing := map[string][]string{}
	for _, n := range nodes {
		out, err := p.host.Run(ctx, p.engine, "exec", n, "ctr", "--namespace=k8s.io", "images", "ls", "-q")
		if err != nil {
			return nil, fmt.Errorf("list the images of node %s: %w", n, err)
		}
		have := map[string]bool{}
		for _, l := range strings.Split(out, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				have[NormalizeImage(l)] = true
			}
		}
		for _, img := range images {
			if !have[NormalizeImage(img)] {
				missing[n] = append(missing[n], img)
			}
		}
	}
	return missing, nil
}

// NormalizeImage returns an image reference the way containerd names it:
// with a registry ("docker.io" when it names none), Docker Hub's
// "library/" for official images, and the tag "latest" when it has neither
// tag nor digest. A reference with a digest keeps only the digest, as
// containerd does. "sha256:…" image ids are returned as they are.
func NormalizeImage(ref string) string {
	if strings.HasPrefix(ref, "sha256:") {
		return ref
	}
	name, digest, _ := strings.Cut(ref, "@")
	tag := ""
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	domain, rest, found := strings.Cut(name, "/")
	if !found || !(strings.ContainsAny(domain, ".:") || domain == "localhost" || domain != strings.ToLower(domain)) {
		domain, rest = "docker.io", name
	}
	if domain == "index.docker.io" {
		domain = "docker.io"
	}
	if domain == "docker.io" && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	out := domain + "/" + rest
	switch {
	case digest != "":
		return out + "@" + digest
	case tag != "":
		return out + ":" + tag
	}
	return out + ":latest"
}
