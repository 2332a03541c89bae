package checklist

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const goodYAML = `apiVersion: rehearse.dev/v1alpha1
kind: Checklist
components:
  - name: coredns
    kind: Deployment
    minReady: 1
  - name: kube-apiserver
    kind: StaticPod
    version: target
    allowedRestarts: 1
  - name: cilium
    namespace: cilium
    kind: DaemonSet
    optional: true
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func TestLoad(t *testing.T) {
	path := writeFile(t, "my-cluster.yaml", goodYAML)
	cl, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, Checklist{APIVersion: APIVersion, Kind: KindChecklist, Name: "my-cluster", Components: []Component{
		{Name: "coredns", Kind: KindDeployment, MinReady: ptr(1)},
		{Name: "kube-apiserver", Kind: KindStaticPod, Version: VersionTarget, AllowedRestarts: 1},
		{Name: "cilium", Namespace: "cilium", Kind: KindDaemonSet, Optional: true},
	}}, cl)

	json := `{
  "apiVersion": "rehearse.dev/v1alpha1",
  "kind": "Checklist",
  "name": "from-json",
  "components": [{"name": "coredns", "kind": "Deployment"}]
}`
	cl, err = Load(writeFile(t, "list.json", json))
	require.NoError(t, err)
	assert.Equal(t, "from-json", cl.Name)
	assert.Equal(t, []Component{{Name: "coredns", Kind: KindDeployment}}, cl.Components)
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, file, content, want string
	}{
		{
			name: "unknown field in a component",
			file: "bad.yaml",
			content: `apiVersion: rehearse.dev/v1alpha1
kind: Checklist
components:
  - name: coredns
    kind: Deployment
  - name: kube-proxy
    kind: DaemonSet
    minReadyy: 2
`,
			want: `bad.yaml:8: components[1]: unknown field "minReadyy"; known: allowedRestarts, anyOf, kind, minReady, name, namespace, nodes, object, optional, version`,
		},
		{
			name:    "unknown field at the top level",
			file:    "top.yaml",
			content: "apiVersion: rehearse.dev/v1alpha1\nkind: Checklist\nitems: []\n",
			want:    `top.yaml:3: unknown field "items" at the top level; known: apiVersion, components, kind, name`,
		},
		{
			name: "unknown field in JSON",
			file: "bad.json",
			content: `{
  "apiVersion": "rehearse.dev/v1alpha1",
  "kind": "Checklist",
  "components": [
    {"name": "coredns", "kind": "Deployment", "replicas": 2}
  ]
}`,
			want: `bad.json:5: components[0]: unknown field "replicas"`,
		},
		{
			name:    "wrong type",
			file:    "type.yaml",
			content: "apiVersion: rehearse.dev/v1alpha1\nkind: Checklist\ncomponents:\n  - name: coredns\n    kind: Deployment\n    minReady: two\n",
			want:    `type.yaml:6: components[0].minReady: want a whole number, got "two"`,
		},
		{
			name:    "a mapping for the list",
			file:    "list.yaml",
			content: "apiVersion: rehearse.dev/v1alpha1\nkind: Checklist\ncomponents:\n  coredns: Deployment\n",
			want:    `list.yaml:4: components: want a list, got a mapping`,
		},
		{
			name:    "repeated field",
			file:    "rep.yaml",
			content: "apiVersion: rehearse.dev/v1alpha1\nkind: Checklist\ncomponents:\n  - name: coredns\n    kind: Deployment\n    kind: DaemonSet\n",
			want:    `rep.yaml:6: components[0].kind: repeated field`,
		},
		{
			name:    "wrong apiVersion",
			file:    "api.yaml",
			content: "apiVersion: rehearse.dev/v1\nkind: Checklist\ncomponents: []\n",
			want:    `api.yaml:1: apiVersion: is "rehearse.dev/v1", want "rehearse.dev/v1alpha1"`,
		},
		{
			name:    "missing kind",
			file:    "kind.yaml",
			content: "apiVersion: rehearse.dev/v1alpha1\ncomponents: []\n",
			want:    `kind.yaml:1: kind: is missing, want "Checklist"`,
		},
		{
			name:    "bad component kind",
			file:    "ck.yaml",
			content: "apiVersion: rehearse.dev/v1alpha1\nkind: Checklist\ncomponents:\n  - name: coredns\n    kind: ReplicaSet\n",
			want:    `ck.yaml:5: components[0].kind: "ReplicaSet" is not one of DaemonSet, Deployment, PodPrefix, StaticPod`,
		},
		{
			name:    "missing component name",
			file:    "nm.yaml",
			content: "apiVersion: rehearse.dev/v1alpha1\nkind: Checklist\ncomponents:\n  - kind: Deployment\n",
			want:    `nm.yaml:4: components[0].name: is required`,
		},
		{
			name:    "duplicate component",
			file:    "dup.yaml",
			content: "apiVersion: rehearse.dev/v1alpha1\nkind: Checklist\ncomponents:\n  - {name: a, kind: Deployment}\n  - {name: a, kind: DaemonSet}\n",
			want:    `dup.yaml:5: components[1].name: "a" is taken by components[0]`,
		},
		{
			name:    "nodes on a Deployment",
			file:    "nodes.yaml",
			content: "apiVersion: rehearse.dev/v1alpha1\nkind: Checklist\ncomponents:\n  - name: a\n    kind: Deployment\n    nodes: all\n",
			want:    `nodes.yaml:6: components[0].nodes: applies to kind StaticPod only`,
		},
		{
			name:    "bad version policy",
			file:    "ver.yaml",
			content: "apiVersion: rehearse.dev/v1alpha1\nkind: Checklist\ncomponents:\n  - name: a\n    kind: Deployment\n    version: v1.36.3\n",
			want:    `ver.yaml:6: components[0].version: "v1.36.3" is not one of any, kubelet, target`,
		},
		{
			name:    "two documents",
			file:    "two.yaml",
			content: "apiVersion: rehearse.dev/v1alpha1\nkind: Checklist\n---\napiVersion: rehearse.dev/v1alpha1\nkind: Checklist\n",
			want:    `two.yaml:3: more than one document; a file holds one checklist`,
		},
		{
			name:    "empty",
			file:    "empty.yaml",
			content: "",
			want:    `empty.yaml: empty file, want a Checklist (apiVersion rehearse.dev/v1alpha1)`,
		},
		{
			name:    "not YAML",
			file:    "syntax.yaml",
			content: "apiVersion: [\n",
			want:    `syntax.yaml: yaml: line 1: did not find expected node content`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.file, []byte(tc.content))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestResolve(t *testing.T) {
	cl, err := Resolve("kind")
	require.NoError(t, err)
	assert.Equal(t, "kind", cl.Name)

	_, err = Resolve("x")
	assert.EqualError(t, err, `unknown checklist "x"; known: eks, gke, kind, kops (or a path to a file)`)

	_, err = Resolve("missing/list.yaml")
	assert.EqualError(t, err, "checklist file missing/list.yaml: no such file")

	path := writeFile(t, "mine.yaml", goodYAML)
	cl, err = Resolve(path)
	require.NoError(t, err)
	assert.Equal(t, "mine", cl.Name)

	bad := writeFile(t, "bad.yaml", "apiVersion: rehearse.dev/v1alpha1\nkind: Checklist\nextra: 1\n")
	_, err = Resolve(bad)
	assert.ErrorContains(t, err, bad+`:3: unknown field "extra"`)
}
