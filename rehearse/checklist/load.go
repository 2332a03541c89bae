package checklist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// Load reads a checklist from a YAML or JSON file. Every error names the
// file, and where it can the line and the field. A list without a name takes
// the file's base name.
func Load(path string) (Checklist, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Checklist{}, fmt.Errorf("checklist file: %w", err)
	}
	cl, err := Parse(path, data)
	if err != nil {
		return Checklist{}, err
	}
	if cl.Name == "" {
		cl.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return cl, nil
}

// Parse reads a checklist from YAML or JSON data; name (a file name) is
// used in errors. Unknown fields, values of the wrong type and more than one
// document are errors.
func Parse(name string, data []byte) (Checklist, error) {
	var doc yamlv3.Node
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return Checklist{}, fmt.Errorf("%s: empty file, want a %s (apiVersion %s)", name, KindChecklist, APIVersion)
		}
		return Checklist{}, fmt.Errorf("%s: %w", name, err)
	}
	var extra yamlv3.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return Checklist{}, fmt.Errorf("%s: %w", name, err)
		}
		return Checklist{}, &FieldError{File: name, Line: line, Msg: "more than one document; a file holds one checklist"}
	}
	root := &doc
	if root.Kind == yamlv3.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	lines := map[string]int{}
	if err := walk(root, reflect.TypeFor[Checklist](), "", lines); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.File = name
		}
		return Checklist{}, err
	}
	var cl Checklist
	if err := yaml.UnmarshalStrict(data, &cl); err != nil {
		return Checklist{}, fmt.Errorf("%s: %w", name, err)
	}
	if err := cl.Validate(); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.File = name
			fe.Line = lineOf(lines, fe.Path)
		}
		return Checklist{}, err
	}
	return cl, nil
}

// walk checks node against the Go type t (fields by their json names):
// no unknown or repeated fields, and scalars of the right type. It records
// the line of every field it meets by path.
func walk(n *yamlv3.Node, t reflect.Type, path string, lines map[string]int) error {
	for n.Kind == yamlv3.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	lines[path] = n.Line
	if n.Kind == yamlv3.ScalarNode && n.Tag == "!!null" {
		return nil // unset
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	wrong := func(want string) error {
		got := n.Value
		switch n.Kind {
		case yamlv3.MappingNode:
			got = "a mapping"
		case yamlv3.SequenceNode:
			got = "a list"
		default:
			got = fmt.Sprintf("%q", got)
		}
		return &FieldError{Line: n.Line, Path: path, Msg: fmt.Sprintf("want %s, got %s", want, got)}
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yamlv3.MappingNode {
			return wrong("a mapping")
		}
		fields := jsonFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				at := ""
				if path == "" {
					at = " at the top level"
				}
				return &FieldError{Line: k.Line, Path: path, Msg: fmt.Sprintf("unknown field %q%s; known: %s",
					k.Value, at, strings.Join(sortedKeys(fields), ", "))}
			}
			if seen[k.Value] {
				return &FieldError{Line: k.Line, Path: join(path, k.Value), Msg: "repeated field"}
			}
			seen[k.Value] = true
			if err := walk(v, f.Type, join(path, k.Value), lines); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yamlv3.SequenceNode {
			return wrong("a list")
		}
		for i, c := range n.Content {
			if err := walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lines); err != nil {
				return err
			}
		}
	case reflect.String:
		if n.Kind != yamlv3.ScalarNode || n.Tag != "!!str" {
			return wrong("a string")
		}
	case reflect.Int:
		if n.Kind != yamlv3.ScalarNode || n.Tag != "!!int" {
			return wrong("a whole number")
		}
	case reflect.Bool:
		if n.Kind != yamlv3.ScalarNode || n.Tag != "!!bool" {
			return wrong("true or false")
		}
	}
	return nil
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// jsonFields maps a struct's json field names to its fields.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lineOf finds the line of path, or of its nearest recorded parent.
func lineOf(lines map[string]int, path string) int {
	for {
		if l, ok := lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return lines[""]
		}
		path = path[:i]
	}
}
