package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is one problem with a scenario, located by file, line and field.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var parts []string
	if e.File != "" {
		loc := e.File
		if e.Line > 0 {
			loc += fmt.Sprintf(":%d", e.Line)
		}
		parts = append(parts, loc)
	}
	if e.Field != "" {
		parts = append(parts, e.Field)
	}
	return strings.Join(append(parts, e.Msg), ": ")
}

// Errors are every problem found in one scenario, in line order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// source remembers where each field of a loaded scenario came from, to
// locate the errors of validation.
type source struct {
	file string
	// recorded is a scenario as a rehearsal ran it: the files it named are
	// not looked for again.
	recorded bool
	root     *yaml.Node
	// sets maps a field path to the --set that gave it.
	sets map[string]string
}

func (src *source) errorf(path, format string, args ...any) *Error {
	e := &Error{File: src.file, Field: path, Msg: fmt.Sprintf(format, args...)}
	for p := path; p != ""; p = parentPath(p) {
		if set, ok := src.sets[p]; ok {
			e.File, e.Line = "--set "+set, 0
			return e
		}
	}
	e.Line = lineOf(src.root, path)
	return e
}

// parentPath is the path that holds p: "load" for "load.rate",
// "load.probes" for "load.probes[1]".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i > 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// A Check is a rule about a whole scenario that this package cannot judge
// itself, such as whether a renderer knows a report format. It returns each
// problem with its Field (the dotted path, e.g. "output.formats[1]") and
// Msg; loading locates it at its file and line.
type Check func(*Scenario) Errors

// Loader loads scenarios and applies its Checks to each after the
// package's own validation. A field keeps the first problem found with it.
// The zero Loader applies none.
type Loader struct {
	Checks []Check
	// Recorded reads a scenario as a rehearsal ran it (a run folder's
	// scenario.yaml): the workloads, image archives and checklist files it
	// named are not looked for again, so a run folder re-reports anywhere.
	Recorded bool
}

// Load reads, defaults and validates the scenario file at path, then applies
// the overrides ("path=value", e.g. "upgrade.target=v1.36.3").
func Load(path string, sets ...string) (*Scenario, error) { return Loader{}.Load(path, sets...) }

// Parse is Load for a document already read; name is used in errors.
func Parse(name string, data []byte, sets ...string) (*Scenario, error) {
	return Loader{}.Parse(name, data, sets...)
}

// Load reads, defaults and validates the scenario file at path, then applies
// the overrides ("path=value", e.g. "upgrade.target=v1.36.3").
func (l Loader) Load(path string, sets ...string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	s, err := l.Parse(path, data, sets...)
	if err != nil {
		return nil, err
	}
	s.resolveRelative(filepath.Dir(path))
	return s, nil
}

// Parse is Load for a document already read; name is used in errors.
func (l Loader) Parse(name string, data []byte, sets ...string) (*Scenario, error) {
	return l.parse(name, data, true, sets...)
}

// Default returns the embedded default scenario, with overrides applied.
func (l Loader) Default(sets ...string) (*Scenario, error) {
	return l.Parse(DefaultName, defaultYAML, sets...)
}

// readDocument reads the one YAML document of a scenario file. A further
// document is an error: it would be ignored otherwise.
func readDocument(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, &Error{File: name, Line: yamlErrorLine(err), Msg: cleanYAMLError(err)}
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &Error{File: name, Line: yamlErrorLine(err), Msg: cleanYAMLError(err)}
		}
		if len(next.Content) > 0 && next.Content[0].Tag != "!!null" {
			return nil, &Error{File: name, Line: next.Content[0].Line, Msg: "a second YAML document: a scenario file holds one Scenario (put each in a file of its own)"}
		}
	}
	return &doc, nil
}

// parse reads one scenario; withProfile allows cluster.fromProfile (a
// profile itself may not name another).
func (l Loader) parse(name string, data []byte, withProfile bool, sets ...string) (*Scenario, error) {
	src := &source{file: name, sets: map[string]string{}, recorded: l.Recorded}
	doc, err := readDocument(name, data)
	if err != nil {
		return nil, err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &Error{File: name, Msg: "empty document: want a Scenario (apiVersion " + APIVersion + ")"}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &Error{File: name, Line: root.Line, Msg: "want a mapping (apiVersion, kind, metadata, cluster, ...)"}
	}
	src.root = root

	var errs Errors
	checkNode(src.file, root, reflect.TypeOf(Scenario{}), "", &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	s := Defaults()
	if ref := nodeAt(root, "cluster.fromProfile"); ref != nil && ref.Value != "" {
		if !withProfile {
			return nil, src.errorf("cluster.fromProfile", "a profile cannot itself name a profile")
		}
		if err := s.applyProfile(src, resolveAgainst(name, ref.Value)); err != nil {
			return nil, err
		}
	}
	if err := root.Decode(s); err != nil {
		return nil, &Error{File: name, Msg: cleanYAMLError(err)}
	}
	for _, set := range sets {
		if err := applySet(s, src, set); err != nil {
			return nil, err
		}
	}
	s.settleDefaults(src)
	errs = s.validate(src)
	seen := map[string]bool{}
	for _, e := range errs {
		seen[e.Field] = true
	}
	for _, check := range l.Checks {
		for _, e := range check(s) {
			if !seen[e.Field] {
				seen[e.Field] = true
				errs = append(errs, src.errorf(e.Field, "%s", e.Msg))
			}
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, errs
	}
	return s, nil
}

// applyProfile lays the cluster shape of a profile written by `rehearse
// profile` under the scenario: the version, nodes, CNI and networking, the
// checklist, the upgrade target and the profile's notes. The scenario's own
// fields, decoded afterwards, override it.
func (s *Scenario) applyProfile(src *source, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return src.errorf("cluster.fromProfile", "%v", err)
	}
	p, err := Loader{}.parse(path, data, false)
	if err != nil {
		return src.errorf("cluster.fromProfile", "the profile is not a valid scenario:\n%v", err)
	}
	if p.Cluster.Provider != ProviderKind {
		return src.errorf("cluster.fromProfile", "%s: the profile's cluster.provider is %q; a profile reproduces a shape on %q", path, p.Cluster.Provider, ProviderKind)
	}
	c := &s.Cluster
	c.KubernetesVersion, c.ControlPlanes, c.Workers = p.Cluster.KubernetesVersion, p.Cluster.ControlPlanes, p.Cluster.Workers
	c.CNI, c.Networking = p.Cluster.CNI, p.Cluster.Networking
	s.Checks.Checklist = p.Checks.Checklist
	s.Upgrade.Target = p.Upgrade.Target
	s.Notes = append(s.Notes, p.Notes...)
	return nil
}

// applySet decodes one "path=value" override onto s, strictly.
func applySet(s *Scenario, src *source, set string) error {
	path, value, ok := strings.Cut(set, "=")
	if !ok || path == "" {
		return &Error{File: "--set " + set, Msg: "want path=value, e.g. upgrade.target=v1.36.3"}
	}
	if path == "cluster.fromProfile" {
		return &Error{File: "--set " + set, Field: path, Msg: "a profile is read before the scenario's own fields: name it in the scenario file"}
	}
	var val yaml.Node
	if err := yaml.Unmarshal([]byte(value), &val); err != nil || len(val.Content) == 0 {
		val = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}}}
	}
	node := val.Content[0]
	keys := strings.Split(path, ".")
	for i := len(keys) - 1; i >= 0; i-- {
		node = &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: keys[i]}, node}}
	}
	var errs Errors
	checkNode("--set "+set, node, reflect.TypeOf(Scenario{}), "", &errs)
	if len(errs) > 0 {
		for _, e := range errs {
			e.Line = 0
		}
		return errs
	}
	if err := node.Decode(s); err != nil {
		return &Error{File: "--set " + set, Msg: cleanYAMLError(err)}
	}
	src.sets[path] = set
	return nil
}

// checkNode walks a YAML node against the Go type it decodes into and
// reports unknown fields and values of the wrong kind, with their paths.
func checkNode(file string, n *yaml.Node, t reflect.Type, path string, errs *Errors) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
		if n == nil {
			return
		}
	}
	if n.Tag == "!!null" {
		return
	}
	if reflect.PointerTo(t).Implements(reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Field: path, Msg: stripLine(err)})
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Field: path, Msg: "want a mapping of " + strings.Join(fieldNames(t), ", ")})
			return
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if seen[k.Value] {
				*errs = append(*errs, &Error{File: file, Line: k.Line, Field: p, Msg: "given twice"})
				continue
			}
			seen[k.Value] = true
			f, ok := fields[k.Value]
			if !ok {
				msg := "unknown field"
				if g := closest(k.Value, fieldNames(t)); g != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", g)
				}
				*errs = append(*errs, &Error{File: file, Line: k.Line, Field: p, Msg: msg + "; known: " + strings.Join(fieldNames(t), ", ")})
				continue
			}
			checkNode(file, v, f.Type, p, errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Field: path, Msg: "want a mapping"})
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkNode(file, n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Field: path, Msg: "want a list"})
			return
		}
		for i, c := range n.Content {
			checkNode(file, c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Field: path, Msg: "want a single " + kindWord(t)})
			return
		}
		v := reflect.New(t)
		if err := n.Decode(v.Interface()); err != nil {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Field: path, Msg: fmt.Sprintf("%q is not a %s", n.Value, kindWord(t))})
		} else if f := v.Elem(); f.CanFloat() && (math.IsNaN(f.Float()) || math.IsInf(f.Float(), 0)) {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Field: path, Msg: fmt.Sprintf("%q is not a finite number", n.Value)})
		}
	}
}

func kindWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "whole number"
	case reflect.Float64, reflect.Float32:
		return "number"
	case reflect.String:
		return "string"
	}
	return t.Kind().String()
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = f
	}
	return out
}

func fieldNames(t reflect.Type) []string {
	var out []string
	for name := range yamlFields(t) {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// closest suggests a known field within edit distance 2 of a typo.
func closest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(s), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// nodeAt is the value node at a dotted path of mapping keys, each with
// optional list indexes ("load.targets[1].share"), or nil.
func nodeAt(root *yaml.Node, path string) *yaml.Node {
	n := root
	for _, step := range strings.Split(path, ".") {
		key, idx := splitIndexes(step)
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		n = next
		for _, j := range idx {
			if n == nil || n.Kind != yaml.SequenceNode || j >= len(n.Content) {
				return nil
			}
			n = n.Content[j]
		}
	}
	return n
}

// splitIndexes splits "targets[1]" into "targets" and [1]; a malformed
// index is dropped.
func splitIndexes(step string) (string, []int) {
	i := strings.IndexByte(step, '[')
	if i < 0 {
		return step, nil
	}
	key, rest := step[:i], step[i:]
	var idx []int
	for strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			break
		}
		j, err := strconv.Atoi(rest[1:end])
		if err != nil || j < 0 {
			break
		}
		idx, rest = append(idx, j), rest[end+1:]
	}
	return key, idx
}

// lineOf finds the line of the key at path, or of the list item it
// indexes (or of its nearest present parent); 0 when nothing of it is in
// the file.
func lineOf(root *yaml.Node, path string) int {
	if root == nil || path == "" {
		return 0
	}
	n, line := root, 0
	for _, step := range strings.Split(path, ".") {
		key, idx := splitIndexes(step)
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line, n, found = n.Content[i].Line, n.Content[i+1], true
				break
			}
		}
		if !found {
			return line
		}
		for _, j := range idx {
			if n.Kind != yaml.SequenceNode || j >= len(n.Content) {
				return line
			}
			n = n.Content[j]
			line = n.Line
		}
	}
	return line
}

func yamlErrorLine(err error) int {
	var line int
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		fmt.Sscanf(msg[i:], "line %d", &line)
	}
	return line
}

func cleanYAMLError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if i := strings.Index(msg, "line "); i == 0 {
		if j := strings.Index(msg, ": "); j > 0 {
			msg = msg[j+2:]
		}
	}
	return strings.ReplaceAll(msg, "\n", " ")
}

func stripLine(err error) string {
	var fe *fieldError
	if errors.As(err, &fe) {
		return fe.msg
	}
	return cleanYAMLError(err)
}

// Marshal writes a scenario as YAML.
func Marshal(s *Scenario) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
