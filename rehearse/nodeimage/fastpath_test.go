package nodeimage

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFastPathCarriesFlannel takes the registry path with a podman that
// records what it is asked: the pulled kindest/node image must get flannel's
// manifest at FlannelManifestPath before it is committed under the node
// image's name, since the cluster provider installs flannel from there.
func TestFastPathCarriesFlannel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: reads flannel's Go module (a download when it is not cached)")
	}
	bin, out := t.TempDir(), t.TempDir()
	script := `#!/bin/sh
echo "$*" >> "` + out + `/calls"
case "$1" in
image) exit 1 ;;                                  # no node image yet
cp) cp "$2" "` + out + `/copied" ;;
esac
exit 0
`
	require.NoError(t, os.WriteFile(filepath.Join(bin, "podman"), []byte(script), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	registry := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized) // what a registry says to anonymous /v2/
	}))
	defer registry.Close()

	var progress bytes.Buffer
	res, err := Build(context.Background(), Options{CacheDir: t.TempDir(), RegistryProbe: registry.URL, Progress: &progress}, "v1.35.4")
	require.NoError(t, err, progress.String())
	assert.Equal(t, "upstream", res.Source)
	assert.Equal(t, UpstreamRecipe(mustVersion(t, "v1.35.4")).Hash(), res.Recipe)

	callsRaw, err := os.ReadFile(filepath.Join(out, "calls"))
	require.NoError(t, err)
	calls := strings.Split(strings.TrimSpace(string(callsRaw)), "\n")
	verbs := make([]string, len(calls))
	for i, c := range calls {
		verbs[i] = strings.Fields(c)[0]
	}
	assert.Equal(t, []string{"image", "pull", "create", "cp", "commit", "rm"}, verbs, "podman calls:\n%s", callsRaw)
	assert.Contains(t, calls[1], "docker.io/kindest/node:v1.35.4")
	assert.True(t, strings.HasSuffix(calls[3], ":"+FlannelManifestPath), calls[3])
	assert.Contains(t, calls[4], "io.rehearse.kubernetes=v1.35.4")

	copied, err := os.ReadFile(filepath.Join(out, "copied"))
	require.NoError(t, err)
	refs, err := ManifestImages(string(copied))
	require.NoError(t, err)
	flannel, plugin, err := flannelImages(refs)
	require.NoError(t, err, "the copied file must be flannel's manifest")
	assert.Contains(t, flannel.Repository, "flannel")
	assert.Contains(t, plugin.Repository, "flannel-cni-plugin")
	assert.Contains(t, string(copied), "kube-flannel-ds", "flannel's DaemonSet")
}

func mustVersion(t *testing.T, s string) Version {
	t.Helper()
	v, err := ParseVersion(s)
	require.NoError(t, err)
	return v
}
