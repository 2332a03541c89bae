package workloads

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// names lists "Kind namespace/name" of each object, in order.
func names(objs []Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.String()
	}
	return out
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name      string
		src       Source
		want      []string
		namespace string
	}{
		{
			name: "one file, two documents",
			src:  Source{Path: "testdata/app/10-config.yaml", Namespace: "shop"},
			want: []string{"ConfigMap web-config", "Service web"}, namespace: "shop",
		},
		{
			name: "folder: its manifest files in name order, a List's items, no subfolder",
			src:  Source{Path: "testdata/app"},
			want: []string{"ConfigMap web-config", "Service web", "Deployment web", "ServiceAccount web", "PodDisruptionBudget web"},
			// No namespace given: "default".
			namespace: "default",
		},
		{
			name:      "kustomization with a name prefix and a namespace",
			src:       Source{Path: "testdata/kustomize", Namespace: "ignored"},
			want:      []string{"Service shop/staging-web", "Deployment shop/staging-web"},
			namespace: "ignored",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Load(tt.src)
			require.NoError(t, err)
			assert.Equal(t, tt.want, names(objs))
			for _, o := range objs {
				assert.Equal(t, tt.namespace, o.DefaultNamespace, o.String())
				assert.NotEmpty(t, o.Origin)
			}
		})
	}
}

func TestLoadOrigins(t *testing.T) {
	objs, err := Load(Source{Path: "testdata/app"})
	require.NoError(t, err)
	assert.Equal(t, "testdata/app/10-config.yaml, document 1 (line 1)", objs[0].Origin)
	assert.Equal(t, "testdata/app/10-config.yaml, document 2 (line 9)", objs[1].Origin)
	assert.Equal(t, "testdata/app/30-list.json, document 1 (line 1), item 2", objs[4].Origin)
}

func TestLoadKustomizationKeepsSpecs(t *testing.T) {
	objs, err := Load(Source{Path: "testdata/kustomize"})
	require.NoError(t, err)
	require.Len(t, objs, 2)
	assert.Equal(t, "shop", objs[1].Object.GetNamespace())
	assert.Equal(t, []string{"shop/web:1.2"}, Images(objs))
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	noKind := write(t, dir, "nokind.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n# the second\napiVersion: v1\nmetadata:\n  name: b\n")
	badYAML := write(t, dir, "bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [a\n")
	generate := write(t, dir, "gen.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  generateName: web-\n")
	dup := write(t, dir, "dup.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n")
	empty := t.TempDir()
	write(t, empty, "notes.txt", "nothing here")
	badKust := t.TempDir()
	write(t, badKust, "kustomization.yaml", "resources:\n- missing.yaml\n")

	tests := []struct {
		name string
		src  Source
		want []string
	}{
		{"no path", Source{}, []string{"no path given"}},
		{"missing file", Source{Path: filepath.Join(dir, "nope.yaml")}, []string{"nope.yaml"}},
		{"document without kind", Source{Path: noKind}, []string{"nokind.yaml, document 2 (line 6)", "b has no kind"}},
		{"bad YAML", Source{Path: badYAML}, []string{"bad.yaml, document 1 (line 1)"}},
		{"generateName", Source{Path: generate}, []string{"gen.yaml", "Pod has no metadata.name", "generateName is not supported"}},
		{"duplicate", Source{Path: dup}, []string{"dup.yaml, document 2 (line 6): ConfigMap a is also in", "dup.yaml, document 1 (line 1)"}},
		{"folder without manifests", Source{Path: empty}, []string{"has no manifest file"}},
		{"Helm chart", Source{Path: "testdata/chart"}, []string{"testdata/chart is a Helm chart, which is not supported", "helm template"}},
		{"kustomization with a missing resource", Source{Path: badKust}, []string{"kustomize build " + badKust, "kustomization.yaml", "missing.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.src)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestSplitDocuments(t *testing.T) {
	docs := splitDocuments([]byte("---\n\n# lead\na: 1\n--- # next\n\nb: 2\n---\n---\n   \nc: 3"))
	require.Len(t, docs, 3)
	assert.Equal(t, []int{1, 2, 3}, []int{docs[0].index, docs[1].index, docs[2].index})
	assert.Equal(t, []int{3, 7, 11}, []int{docs[0].line, docs[1].line, docs[2].line})
	assert.Equal(t, "c: 3\n", string(docs[2].data))
}

func TestImages(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "all.yaml", `apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 0 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: c, image: shop/report:2}]
---
apiVersion: v1
kind: Pod
metadata: {name: debug}
spec:
  initContainers: [{name: i, image: busybox}]
  containers: [{name: c, image: busybox}, {name: d, image: shop/web:1.2}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  template:
    spec:
      containers: [{name: db, image: postgres:17}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-a-pod}
data: {image: nope}
`)
	objs, err := Load(Source{Path: p})
	require.NoError(t, err)
	objs = append(objs, must(Load(Source{Path: "testdata/app"}))...)
	assert.Equal(t, []string{"busybox", "postgres:17", "shop/migrate:1.2", "shop/report:2", "shop/web:1.2"}, Images(objs))
	assert.Empty(t, Images(nil))
}

func must(objs []Object, err error) []Object {
	if err != nil {
		panic(err)
	}
	return objs
}
