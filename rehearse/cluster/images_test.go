package cluster

import (
	"archive/tar"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNormalizeImage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nginx", "docker.io/library/nginx:latest"},
		{"nginx:1.27", "docker.io/library/nginx:1.27"},
		{"shop/web:1.2", "docker.io/shop/web:1.2"},
		{"docker.io/shop/web:1.2", "docker.io/shop/web:1.2"},
		{"index.docker.io/library/redis", "docker.io/library/redis:latest"},
		{"localhost/shop/web:1.2", "localhost/shop/web:1.2"},
		{"localhost:5000/web", "localhost:5000/web:latest"},
		{"registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"},
		{"ghcr.io/org/app@sha256:abc", "ghcr.io/org/app@sha256:abc"},
		{"app:1@sha256:abc", "docker.io/library/app@sha256:abc"},
		{"sha256:0123", "sha256:0123"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, NormalizeImage(tt.in))
		})
	}
}

// nodesOf answers the node listing of the provider with the cluster's
// node containers (and another cluster's).
func nodesOf(h *fakeHost) {
	h.commands["podman ps -a --filter label="+KindClusterLabel] = fakeAnswer{out: "id1\nid2\nid3\nid4\n"}
	h.commands["podman inspect --format"] = fakeAnswer{out: "shop-control-plane\tshop\tv1.35.4\tcontrol-plane\trunning\n" +
		"shop-worker\tshop\tv1.35.4\tworker\trunning\n" +
		"shop-external-load-balancer\tshop\t\texternal-load-balancer\trunning\n" +
		"other-control-plane\tother\tv1.35.4\tcontrol-plane\trunning\n"}
}

func TestMissingImages(t *testing.T) {
	h := healthyHost()
	nodesOf(h)
	h.commands["podman exec shop-control-plane ctr --namespace=k8s.io images ls -q"] = fakeAnswer{out: "docker.io/shop/web:1.2\nregistry.k8s.io/pause:3.10\nsha256:0123\n"}
	h.commands["podman exec shop-worker ctr --namespace=k8s.io images ls -q"] = fakeAnswer{out: "docker.io/library/nginx:latest\nregistry.k8s.io/pause:3.10\n"}
	p := &Provider{engine: EnginePodman, host: h, progress: io.Discard}

	got, err := p.MissingImages(context.Background(), "shop", []string{"shop/web:1.2", "nginx", "registry.k8s.io/pause:3.10"})
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{
		"shop-control-plane": {"nginx"},
		"shop-worker":        {"shop/web:1.2"},
	}, got)
	for _, ran := range h.ran {
		assert.NotContains(t, ran, "load-balancer", "the load balancer runs no Kubernetes containerd")
		assert.NotContains(t, ran, "other-control-plane")
	}

	got, err = p.MissingImages(context.Background(), "shop", []string{"registry.k8s.io/pause:3.10"})
	require.NoError(t, err)
	assert.Empty(t, got)

	_, err = p.MissingImages(context.Background(), "gone", []string{"nginx"})
	assert.ErrorIs(t, err, ErrNotFound)

	h.commands["podman exec shop-worker ctr --namespace=k8s.io images ls -q"] = fakeAnswer{err: "ctr: not found"}
	_, err = p.MissingImages(context.Background(), "shop", []string{"nginx"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "list the images of node shop-worker")
}

// savingHost is a fake host whose `save -o PATH` writes a docker-format
// archive naming the image as podman names it.
type savingHost struct {
	*fakeHost
	repoTags []string
}

func (h *savingHost) Run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := h.fakeHost.Run(ctx, name, args...)
	if err == nil && len(args) > 2 && args[0] == "save" && args[1] == "-o" {
		manifest, _ := json.Marshal([]map[string]any{{"Config": "c.json", "RepoTags": h.repoTags, "Layers": []string{}}})
		f, ferr := os.Create(args[2])
		if ferr != nil {
			return "", ferr
		}
		defer f.Close()
		tw := tar.NewWriter(f)
		_ = tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest)), Typeflag: tar.TypeReg})
		_, _ = tw.Write(manifest)
		if cerr := tw.Close(); cerr != nil {
			return "", cerr
		}
	}
	return out, err
}

func TestLoadImages(t *testing.T) {
	type loaded struct{ cluster, archive string }
	tests := []struct {
		name     string
		refs     []string
		repoTags []string
		files    []string
		unknown  []string
		wantErr  string
		// wantLoads counts archives loaded; wantFile is the one archive
		// given as a file, if any.
		wantLoads int
		wantFile  string
		wantRan   []string
		notRan    []string
	}{
		{
			name:      "an archive on disk is loaded as it is",
			refs:      []string{"/images/web.tar"},
			files:     []string{"images/web.tar"},
			wantLoads: 1, wantFile: "/images/web.tar",
			notRan: []string{"podman save", "ctr"},
		},
		{
			name:      "an image of podman's store is saved as a docker archive and loaded",
			refs:      []string{"docker.io/shop/web:1.2"},
			repoTags:  []string{"docker.io/shop/web:1.2"},
			wantLoads: 1,
			wantRan:   []string{"podman save -o ", "--format docker-archive docker.io/shop/web:1.2"},
			notRan:    []string{"images tag"},
		},
		{
			name:      "a locally built image is tagged with the name pods use",
			refs:      []string{"shop/web:1.2"},
			repoTags:  []string{"localhost/shop/web:1.2"},
			wantLoads: 1,
			wantRan: []string{
				"podman exec shop-control-plane ctr --namespace=k8s.io images tag --force localhost/shop/web:1.2 docker.io/shop/web:1.2",
				"podman exec shop-worker ctr --namespace=k8s.io images tag --force localhost/shop/web:1.2 docker.io/shop/web:1.2",
			},
		},
		{
			name:    "an unknown name",
			refs:    []string{"shop/web:1.2"},
			unknown: []string{"shop/web:1.2"},
			wantErr: "cluster shop: load image shop/web:1.2: image shop/web:1.2 is neither a file nor in podman's store",
		},
		{
			name:    "a missing archive",
			refs:    []string{"./web.tar"},
			unknown: []string{"./web.tar"},
			wantErr: "image archive ./web.tar does not exist",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fh := healthyHost()
			nodesOf(fh)
			fh.commands["podman save"] = fakeAnswer{}
			fh.commands["podman exec"] = fakeAnswer{}
			for _, u := range tt.unknown {
				fh.commands[CommandLine("podman", "image", "inspect", "--format", "{{.Id}}", u)] = fakeAnswer{err: "Error: " + u + ": image not known"}
			}
			for _, f := range tt.files {
				fh.files[f] = &fstest.MapFile{Data: []byte("tar"), Mode: fs.FileMode(0o644)}
			}
			h := &savingHost{fakeHost: fh, repoTags: tt.repoTags}
			p := &Provider{engine: EnginePodman, host: h, progress: io.Discard}
			var loads []loaded
			load := func(_ context.Context, cluster, archive string) error {
				_, err := os.Stat(archive)
				if tt.wantFile == "" {
					require.NoError(t, err, "the saved archive exists while it is loaded")
				}
				loads = append(loads, loaded{cluster, archive})
				return nil
			}
			err := p.loadImages(context.Background(), "shop", tt.refs, load)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Empty(t, loads)
				return
			}
			require.NoError(t, err)
			require.Len(t, loads, tt.wantLoads)
			assert.Equal(t, "shop", loads[0].cluster)
			if tt.wantFile != "" {
				assert.Equal(t, tt.wantFile, loads[0].archive)
			} else {
				_, err := os.Stat(loads[0].archive)
				assert.ErrorIs(t, err, os.ErrNotExist, "the saved archive is removed")
			}
			ran := strings.Join(fh.ran, "\n")
			for _, w := range tt.wantRan {
				assert.Contains(t, ran, w)
			}
			for _, n := range tt.notRan {
				assert.NotContains(t, ran, n)
			}
		})
	}
}

func TestArchiveNames(t *testing.T) {
	dir := t.TempDir()
	h := &savingHost{fakeHost: newFakeHost(), repoTags: []string{"localhost/a:1", "localhost/a:latest"}}
	h.commands["podman save"] = fakeAnswer{}
	path := dir + "/a.tar"
	_, err := h.Run(context.Background(), "podman", "save", "-o", path, "a")
	require.NoError(t, err)
	names, err := archiveNames(path)
	require.NoError(t, err)
	assert.Equal(t, []string{"localhost/a:1", "localhost/a:latest"}, names)

	require.NoError(t, os.WriteFile(dir+"/empty.tar", nil, 0o644))
	_, err = archiveNames(dir + "/empty.tar")
	assert.ErrorContains(t, err, "no manifest.json")
}
