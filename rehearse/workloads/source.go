package workloads

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Source is where an application's manifests are.
type Source struct {
	// Path is a manifest file, a folder of manifest files, or a folder
	// with a kustomization file.
	Path string
	// Namespace is where a namespaced object that names none goes; empty
	// is "default".
	Namespace string
}

// DefaultNamespace is where a namespaced object goes when neither it nor
// its Source names a namespace.
const DefaultNamespace = "default"

// namespace is the namespace objects without one go to.
func (s Source) namespace() string {
	if s.Namespace == "" {
		return DefaultNamespace
	}
	return s.Namespace
}

// kustomizationFiles are the names kustomize reads in a folder.
func kustomizationFiles() []string {
	return []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}
}

// isManifest says whether a folder's file holds manifests, by its extension.
func isManifest(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// Object is one object of the application and where it was read.
type Object struct {
	Object *unstructured.Unstructured
	// Origin names the file, document and line it was read from, e.g.
	// "deploy/web.yaml, document 2 (line 14)".
	Origin string
	// DefaultNamespace is where the object goes when it is namespaced and
	// names no namespace (its Source's Namespace); empty is "default".
	DefaultNamespace string
}

// String names the object the way errors do: "Deployment shop/web", or
// "Namespace shop" for a cluster-scoped one (or one whose namespace is not
// known yet).
func (o Object) String() string {
	return objectRef(o.Object.GetKind(), o.Object.GetNamespace(), o.Object.GetName())
}

func objectRef(kind, ns, name string) string {
	if ns == "" {
		return kind + " " + name
	}
	return kind + " " + ns + "/" + name
}

// Load reads the Source's objects, in the order they are written (a
// kustomization: in the order kustomize emits them).
func Load(src Source) ([]Object, error) {
	if src.Path == "" {
		return nil, errors.New("manifests: no path given")
	}
	st, err := os.Stat(src.Path)
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	var objs []Object
	switch {
	case !st.IsDir():
		objs, err = loadFile(src.Path)
	case kustomization(src.Path) != "":
		objs, err = loadKustomization(src.Path)
	default:
		objs, err = loadFolder(src.Path)
	}
	if err != nil {
		return nil, err
	}
	for i := range objs {
		objs[i].DefaultNamespace = src.namespace()
	}
	if err := checkDuplicates(objs); err != nil {
		return nil, err
	}
	return objs, nil
}

// kustomization returns the kustomization file in dir, or "".
func kustomization(dir string) string {
	for _, name := range kustomizationFiles() {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return name
		}
	}
	return ""
}

func loadFolder(dir string) ([]Object, error) {
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err == nil {
		return nil, fmt.Errorf("manifests: %s is a Helm chart, which is not supported: render it (helm template ... > app.yaml) and give the rendered file", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && isManifest(e.Name()) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("manifests: folder %s has no manifest file (.yaml, .yml or .json) and no kustomization file", dir)
	}
	var objs []Object
	for _, f := range files {
		got, err := loadFile(f)
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

func loadFile(path string) ([]Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	return decode(path, data)
}

func loadKustomization(dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("manifests: kustomize build %s (%s): %w", dir, kustomization(dir), err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("manifests: kustomize build %s: %w", dir, err)
	}
	return decode("kustomize build "+dir, out)
}

// document is one YAML document of a file and the line it starts on.
type document struct {
	index, line int
	data        []byte
}

// splitDocuments cuts a YAML stream at its "---" lines, keeping where each
// document starts.
func splitDocuments(data []byte) []document {
	var docs []document
	var cur bytes.Buffer
	start, line := 1, 0
	flush := func() {
		if len(bytes.TrimSpace(cur.Bytes())) > 0 {
			docs = append(docs, document{index: len(docs) + 1, line: start, data: append([]byte(nil), cur.Bytes()...)})
		}
		cur.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	for sc.Scan() {
		line++
		l := sc.Text()
		if l == "---" || strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "---\t") {
			flush()
			start = line + 1
			continue
		}
		if cur.Len() == 0 && strings.TrimSpace(l) == "" {
			start = line + 1
			continue
		}
		cur.WriteString(l)
		cur.WriteByte('\n')
	}
	flush()
	return docs
}

// decode reads the objects of a multi-document YAML (or JSON) stream read
// from name. A List's items are objects of their own.
func decode(name string, data []byte) ([]Object, error) {
	var objs []Object
	for _, d := range splitDocuments(data) {
		where := fmt.Sprintf("%s, document %d (line %d)", name, d.index, d.line)
		var m map[string]any
		if err := yaml.Unmarshal(d.data, &m); err != nil {
			return nil, fmt.Errorf("manifests: %s: %w", where, err)
		}
		if len(m) == 0 {
			continue // only comments
		}
		u := &unstructured.Unstructured{Object: m}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return nil, fmt.Errorf("manifests: %s: %w", where, err)
			}
			for i := range list.Items {
				o := Object{Object: &list.Items[i], Origin: fmt.Sprintf("%s, item %d", where, i+1)}
				if err := validate(o); err != nil {
					return nil, err
				}
				objs = append(objs, o)
			}
			continue
		}
		o := Object{Object: u, Origin: where}
		if err := validate(o); err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// validate checks what applying an object needs: its apiVersion, kind and
// name.
func validate(o Object) error {
	u := o.Object
	var missing []string
	if u.GetAPIVersion() == "" {
		missing = append(missing, "apiVersion")
	}
	if u.GetKind() == "" {
		missing = append(missing, "kind")
	}
	if u.GetName() == "" {
		missing = append(missing, "metadata.name")
	}
	if len(missing) == 0 {
		return nil
	}
	what := "object"
	if u.GetKind() != "" || u.GetName() != "" {
		what = strings.TrimSpace(o.String())
	}
	msg := fmt.Sprintf("manifests: %s: %s has no %s", o.Origin, what, strings.Join(missing, ", "))
	if u.GetName() == "" && u.GetGenerateName() != "" {
		msg += " (generateName is not supported: server-side apply needs a name)"
	}
	return errors.New(msg)
}

// checkDuplicates refuses two objects of the same kind, namespace and name:
// the second would silently replace the first.
func checkDuplicates(objs []Object) error {
	seen := map[string]string{}
	for _, o := range objs {
		gvk := o.Object.GroupVersionKind()
		k := gvk.Group + "/" + gvk.Kind + "/" + o.Object.GetNamespace() + "/" + o.Object.GetName()
		if first, ok := seen[k]; ok {
			return fmt.Errorf("manifests: %s: %s is also in %s", o.Origin, o, first)
		}
		seen[k] = o.Origin
	}
	return nil
}
