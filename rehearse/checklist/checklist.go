package checklist

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/rehearse/rehearse/rehearse/kversion"
)

// The apiVersion and kind of a checklist file.
const (
	APIVersion    = "rehearse.dev/v1alpha1"
	KindChecklist = "Checklist"
)

// DefaultNamespace is a component's namespace when it names none.
const DefaultNamespace = "kube-system"

// Checklist is a named list of system components to check.
type Checklist struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Name names the list in results, e.g. "kind" or a file's base name.
	Name       string      `json:"name,omitempty"`
	Components []Component `json:"components"`
}

// Kind is how a component runs, and so how its pods are found.
type Kind string

// The kinds of components.
const (
	// KindDeployment is a Deployment named Object; its pods are those its
	// selector matches.
	KindDeployment Kind = "Deployment"
	// KindDaemonSet is a DaemonSet named Object.
	KindDaemonSet Kind = "DaemonSet"
	// KindStaticPod is a static pod on each control-plane node (or each
	// node, with Nodes: all): a mirror pod named <Object>-<node> or labelled
	// component=<Object>.
	KindStaticPod Kind = "StaticPod"
	// KindPodPrefix is every pod whose name starts with Object.
	KindPodPrefix Kind = "PodPrefix"
)

// Kinds returns the component kinds, for help and errors.
func Kinds() []Kind { return []Kind{KindDaemonSet, KindDeployment, KindPodPrefix, KindStaticPod} }

// VersionPolicy says what the expected version applies to.
type VersionPolicy string

// Version policies.
const (
	// VersionAny never checks the version; it is still reported.
	VersionAny VersionPolicy = "any"
	// VersionTarget wants the image tag of the component's main container
	// to be the expected version (as for control-plane static pods and
	// kube-proxy).
	VersionTarget VersionPolicy = "target"
	// VersionKubelet wants the kubelet of every node running the
	// component's pods to be at the expected version.
	VersionKubelet VersionPolicy = "kubelet"
)

// StaticPod node sets.
const (
	NodesControlPlane = "control-plane"
	NodesAll          = "all"
)

// Component is one system component to check.
type Component struct {
	// Name names the component in results and timeline events.
	Name string `json:"name"`
	// Namespace defaults to kube-system.
	Namespace string `json:"namespace,omitempty"`
	Kind      Kind   `json:"kind"`
	// Object is the workload's name, the static pod's component name or the
	// pod-name prefix. It defaults to Name.
	Object string `json:"object,omitempty"`
	// MinReady is how many pods must be Ready. The default is all desired:
	// the Deployment's replicas, the DaemonSet's desired pods, one per
	// control-plane node (or node) for a static pod, every matching pod for
	// a prefix; and at least one.
	MinReady *int `json:"minReady,omitempty"`
	// Version is any (the default), target or kubelet.
	Version VersionPolicy `json:"version,omitempty"`
	// AllowedRestarts is the highest restart count a container may have.
	AllowedRestarts int `json:"allowedRestarts,omitempty"`
	// Optional components pass when absent; present, they are checked.
	Optional bool `json:"optional,omitempty"`
	// AnyOf names a group of alternatives (e.g. the CNI): at least one
	// member must be present; the absent ones pass as optional.
	AnyOf string `json:"anyOf,omitempty"`
	// Nodes is, for a static pod, where it runs: control-plane (the
	// default) or all.
	Nodes string `json:"nodes,omitempty"`
}

// withDefaults returns c with its defaults filled in.
func (c Component) withDefaults() Component {
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Object == "" {
		c.Object = c.Name
	}
	if c.Version == "" {
		c.Version = VersionAny
	}
	if c.Kind == KindStaticPod && c.Nodes == "" {
		c.Nodes = NodesControlPlane
	}
	return c
}

// Validate checks the list. Errors name the component and the field.
func (cl Checklist) Validate() error {
	if err := want("apiVersion", cl.APIVersion, APIVersion); err != nil {
		return err
	}
	if err := want("kind", cl.Kind, KindChecklist); err != nil {
		return err
	}
	seen := map[string]int{}
	for i, c := range cl.Components {
		path := fmt.Sprintf("components[%d]", i)
		if err := c.validate(path); err != nil {
			return err
		}
		if j, ok := seen[c.Name]; ok {
			return &FieldError{Path: path + ".name", Msg: fmt.Sprintf("%q is taken by components[%d]", c.Name, j)}
		}
		seen[c.Name] = i
	}
	return nil
}

func want(field, got, want string) error {
	switch got {
	case want:
		return nil
	case "":
		return &FieldError{Path: field, Msg: fmt.Sprintf("is missing, want %q", want)}
	}
	return &FieldError{Path: field, Msg: fmt.Sprintf("is %q, want %q", got, want)}
}

var (
	dnsName   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	podPrefix = regexp.MustCompile(`^[a-z0-9][-a-z0-9.]*$`)
)

func (c Component) validate(path string) error {
	bad := func(field, msg string, args ...any) error {
		return &FieldError{Path: path + "." + field, Msg: fmt.Sprintf(msg, args...)}
	}
	if c.Name == "" {
		return bad("name", "is required")
	}
	switch c.Kind {
	case KindDeployment, KindDaemonSet, KindStaticPod, KindPodPrefix:
	case "":
		return bad("kind", "is required (one of %s)", joinKinds())
	default:
		return bad("kind", "%q is not one of %s", c.Kind, joinKinds())
	}
	if c.Namespace != "" && !dnsName.MatchString(c.Namespace) {
		return bad("namespace", "%q is not a namespace name", c.Namespace)
	}
	obj, field, hint := c.Object, "object", ""
	if obj == "" {
		obj, field, hint = c.Name, "name", " (set object to the one to look for)"
	}
	switch {
	case c.Kind == KindPodPrefix && !podPrefix.MatchString(obj):
		return bad(field, "%q is not a pod-name prefix%s", obj, hint)
	case c.Kind != KindPodPrefix && !dnsName.MatchString(obj):
		return bad(field, "%q is not an object name%s", obj, hint)
	}
	switch c.Version {
	case "", VersionAny, VersionTarget, VersionKubelet:
	default:
		return bad("version", "%q is not one of any, kubelet, target", c.Version)
	}
	if c.MinReady != nil && *c.MinReady < 0 {
		return bad("minReady", "is %d, must not be negative", *c.MinReady)
	}
	if c.AllowedRestarts < 0 {
		return bad("allowedRestarts", "is %d, must not be negative", c.AllowedRestarts)
	}
	switch {
	case c.Nodes == "":
	case c.Kind != KindStaticPod:
		return bad("nodes", "applies to kind StaticPod only")
	case c.Nodes != NodesControlPlane && c.Nodes != NodesAll:
		return bad("nodes", "%q is not one of %s, %s", c.Nodes, NodesAll, NodesControlPlane)
	}
	return nil
}

func joinKinds() string {
	var s []string
	for _, k := range Kinds() {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

// FieldError is a bad field of a checklist. Loading a file adds the file
// name and the line.
type FieldError struct {
	File string
	Line int
	// Path is the field's path, e.g. components[2].minReady.
	Path string
	Msg  string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// NormalizeVersion checks a Kubernetes version such as v1.36.3, 1.36.3 or
// v1.36 and returns it with a leading "v".
func NormalizeVersion(s string) (string, error) {
	e, err := kversion.ParseExpected(s)
	if err != nil {
		return "", err
	}
	return e.String(), nil
}

// versionMatches says whether actual (an image tag or a kubelet version)
// is the expected version. Vendor builds carry a suffix (v1.29.0-eks-5e0fdde,
// v1.29.1-gke.1589018, v1.29.0-minimal-eksbuild.1): they match the plain
// version. An expected major.minor (v1.36) matches any patch release.
func versionMatches(actual, expected string) bool {
	e, err := kversion.ParseExpected(expected)
	return err == nil && e.Matches(actual)
}
