package scenarios

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Target is an application of the user's that the rehearsal loads, beside
// the canary or instead of it (canary.disabled). Each target is a stream of
// requests of its own, reported by its name as the probe "target:NAME".
type Target struct {
	// Name names the target's stream: a DNS-1123 label, unique among the
	// targets.
	Name string `yaml:"name" json:"name"`
	// URL is an absolute http(s) URL the target is reached at, from the
	// machine that runs rehearse. Exactly one of URL and Service.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// Service is a NodePort Service in the cluster under test: requests go
	// round-robin to its node port on every node. Exactly one of URL and
	// Service.
	Service *ServiceRef `yaml:"service,omitempty" json:"service,omitempty"`
	// Method is the request method (default GET); see Methods.
	Method string `yaml:"method,omitempty" json:"method,omitempty"`
	// Path, when set, starts with '/' and is appended to the URL (or to each
	// node's address), e.g. /api/items?limit=5.
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Headers are sent with every request; a Host header names the virtual
	// host asked for. Like every field, they are written into the run
	// folder's scenario.yaml: do not put secrets here.
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// Body is sent with every request.
	Body string `yaml:"body,omitempty" json:"body,omitempty"`
	// Expect is what a response must be to count as a success.
	Expect Expect `yaml:"expect,omitempty" json:"expect,omitempty"`
	// Share is the target's weight in the split of load.rate (default
	// DefaultShare, set when loading). Each canary probe kind weighs 1: a
	// stream's rate is load.rate times its weight over the sum of all the
	// weights. With probes [reuse, fresh] and one target of share 2 at
	// rate 100, each probe sends 25/s and the target 50/s. It must be a
	// finite number above 0, and leave every stream at least 1/s.
	Share *float64 `yaml:"share,omitempty" json:"share,omitempty"`
	// Probe is the kind of connection the target's requests go over: reuse
	// (keep-alive, the default) or fresh (a new connection per request).
	Probe string `yaml:"probe,omitempty" json:"probe,omitempty"`
}

// ServiceRef names a Service of the cluster under test and its port.
type ServiceRef struct {
	Namespace string `yaml:"namespace" json:"namespace"`
	Name      string `yaml:"name" json:"name"`
	// Port is the Service port, by number or by name; the Service must
	// give it a node port.
	Port Port `yaml:"port" json:"port"`
}

// Port is a Service port given by number (80) or by name (http).
type Port struct {
	Number int
	Name   string
}

// String writes the number or the name.
func (p Port) String() string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(p.Number)
}

// IsZero tells whether no port was given.
func (p Port) IsZero() bool { return p.Number == 0 && p.Name == "" }

// UnmarshalYAML reads a port number or a port name.
func (p *Port) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &fieldError{line: n.Line, msg: "want a port number such as 80 or a port name such as http"}
	}
	if n.Tag == "!!int" {
		v, err := strconv.Atoi(n.Value)
		if err != nil {
			return &fieldError{line: n.Line, msg: fmt.Sprintf("%q is not a port number (1-65535)", n.Value)}
		}
		*p = Port{Number: v}
		return nil
	}
	*p = Port{Name: n.Value}
	return nil
}

// MarshalYAML writes the number or the name.
func (p Port) MarshalYAML() (any, error) {
	if p.Name != "" {
		return p.Name, nil
	}
	return p.Number, nil
}

// MarshalJSON writes the number or the name.
func (p Port) MarshalJSON() ([]byte, error) {
	if p.Name != "" {
		return json.Marshal(p.Name)
	}
	return json.Marshal(p.Number)
}

// Expect is what a response must be to count as a success; a response
// that breaks it is a failure of its own class, "expect".
type Expect struct {
	// Status lists the status codes of success (100-599); empty means any
	// 2xx or 3xx, as for the canary (redirects are not followed).
	Status []int `yaml:"status,omitempty" json:"status,omitempty"`
	// BodyContains, when set, must appear in the response body (within
	// its first MiB: the load generator reads no further).
	BodyContains string `yaml:"bodyContains,omitempty" json:"bodyContains,omitempty"`
}

// Workload is a set of the user's manifests applied to the cluster before
// the load starts (and, for blue-green, to cluster B).
type Workload struct {
	// Path is a manifest file (.yaml, .yml, .json), a folder of them, or a
	// folder with a kustomization.yaml, relative to the scenario file's
	// folder; loading makes it relative to the working folder, as for
	// every file a scenario names.
	Path string `yaml:"path" json:"path"`
	// Namespace is the namespace of the namespaced objects that name none.
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	// Wait waits for the workload's objects to be ready before the load
	// starts (default true, set when loading).
	Wait *bool `yaml:"wait,omitempty" json:"wait,omitempty"`
	// Timeout bounds the wait (default DefaultWorkloadTimeout; 0s or
	// absent takes the default).
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Waits tells whether the workload is waited for (Wait, default true).
func (w Workload) Waits() bool { return w.Wait == nil || *w.Wait }

// ImageArchiveExt is how the name of an image archive ends in images: an
// entry ending so is a file (e.g. from podman save), any other entry is the
// name of an image in the local podman or docker store.
const ImageArchiveExt = ".tar"

// IsImageArchive tells an image archive path from an image name in images.
func IsImageArchive(image string) bool { return strings.HasSuffix(image, ImageArchiveExt) }

// Methods lists the request methods a target may use.
func Methods() []string {
	return []string{http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodOptions,
		http.MethodPatch, http.MethodPost, http.MethodPut, http.MethodTrace}
}

// settleTargets fills each target's and workload's defaults.
func (s *Scenario) settleTargets() {
	for i := range s.Load.Targets {
		t := &s.Load.Targets[i]
		if t.Method == "" {
			t.Method = DefaultMethod
		}
		if t.Share == nil {
			v := DefaultShare
			t.Share = &v
		}
		if t.Probe == "" {
			t.Probe = DefaultTargetProbe
		}
	}
	for i := range s.Workloads {
		w := &s.Workloads[i]
		if w.Wait == nil {
			v := true
			w.Wait = &v
		}
		if w.Timeout.Duration == 0 {
			w.Timeout = D(DefaultWorkloadTimeout)
		}
	}
}

// validateTargets checks load.targets, and that the streams' split of
// load.rate leaves each at least 1/s; probes is how many canary probe
// kinds share the rate.
func (s *Scenario) validateTargets(add func(path, format string, args ...any), probes int) {
	const label = "lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
	names := map[string]int{}
	weight, weightsOK := float64(probes), true
	for i, t := range s.Load.Targets {
		at := func(f string) string { return fmt.Sprintf("load.targets[%d]%s", i, f) }
		switch prev, dup := names[t.Name]; {
		case t.Name == "":
			add(at(""), "missing: name the target (%s); it names the target's stream in the report", label)
		case len(validation.IsDNS1123Label(t.Name)) > 0:
			add(at(".name"), "%q is not a DNS-1123 label (%s)", t.Name, label)
		case dup:
			add(at(".name"), "%q given twice (also load.targets[%d])", t.Name, prev)
		default:
			names[t.Name] = i
		}
		switch {
		case t.URL != "" && t.Service != nil:
			add(at(""), "url and service together: give one")
		case t.URL == "" && t.Service == nil:
			add(at(""), "missing: give url (an absolute http or https URL) or service {namespace, name, port}")
		case t.URL != "":
			if u, err := url.Parse(t.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(at(".url"), "%q: want an absolute http or https URL such as http://10.0.0.2:8080", t.URL)
			}
		default:
			validateService(t.Service, at(".service"), add)
		}
		if !oneOf(t.Method, Methods()) {
			add(at(".method"), "%q: want one of %s", t.Method, strings.Join(Methods(), ", "))
		}
		switch {
		case t.Path != "" && !strings.HasPrefix(t.Path, "/"):
			add(at(".path"), "%q: want a path starting with '/', such as /healthz", t.Path)
		case strings.ContainsAny(t.Path, " \t\r\n#"):
			add(at(".path"), "%q holds white space or a fragment", t.Path)
		}
		for _, k := range sortedKeys(t.Headers) {
			if len(validation.IsHTTPHeaderName(k)) > 0 {
				add(at(".headers"), "%q is not an HTTP header name", k)
			} else if strings.ContainsAny(t.Headers[k], "\r\n\x00") {
				add(at(".headers."+k), "the value holds a line break or NUL")
			}
		}
		for j, c := range t.Expect.Status {
			if c < 100 || c > 599 {
				add(at(fmt.Sprintf(".expect.status[%d]", j)), "%d is not an HTTP status code (100-599)", c)
			}
		}
		if t.Expect.BodyContains != "" && t.Method == http.MethodHead {
			add(at(".expect.bodyContains"), "a HEAD response has no body")
		}
		if sh := t.Share; sh == nil || !(*sh > 0) || math.IsInf(*sh, 0) {
			weightsOK = false
			if sh != nil {
				add(at(".share"), "%v: want a weight above 0 (a canary probe kind weighs 1)", *sh)
			}
		} else {
			weight += *sh
		}
		if !oneOf(t.Probe, Probes()) {
			add(at(".probe"), "unknown probe kind %q; known: %s", t.Probe, strings.Join(Probes(), ", "))
		}
	}
	// Each stream needs at least 1/s; without targets the probes' own
	// check speaks (validate).
	r := s.Load.Rate
	if len(s.Load.Targets) == 0 || !weightsOK || !(r > 0) || r > MaxLoadRate {
		return
	}
	least, which := r/weight, "each probe kind"
	if probes == 0 {
		least = math.Inf(1)
	}
	for i, t := range s.Load.Targets {
		if v := r * *t.Share / weight; v < least {
			least, which = v, fmt.Sprintf("load.targets[%d] (%s, share %v)", i, t.Name, *t.Share)
		}
	}
	if least < 1 {
		add("load.rate", "%v/s split by weight over %d streams leaves %s %.3g/s, below 1/s: raise the rate or the share", r, probes+len(s.Load.Targets), which, least)
	}
}

func validateService(sv *ServiceRef, at string, add func(path, format string, args ...any)) {
	const label = "lower-case letters, digits and '-', at most 63 characters"
	switch {
	case sv.Namespace == "":
		add(at, "missing: the Service's namespace")
	case len(validation.IsDNS1123Label(sv.Namespace)) > 0:
		add(at+".namespace", "%q is not a namespace name (%s)", sv.Namespace, label)
	}
	switch {
	case sv.Name == "":
		add(at, "missing: the Service's name")
	case len(validation.IsDNS1035Label(sv.Name)) > 0:
		add(at+".name", "%q is not a Service name (%s, starting with a letter)", sv.Name, label)
	}
	switch p := sv.Port; {
	case p.IsZero():
		add(at, "missing: the Service's port, by number (80) or by name (http)")
	case p.Name != "" && len(validation.IsValidPortName(p.Name)) > 0:
		add(at+".port", "%q is not a port name (at most 15 lower-case letters, digits and '-', with a letter)", p.Name)
	case p.Name == "" && (p.Number < 1 || p.Number > 65535):
		add(at+".port", "%d is not a port number (1-65535)", p.Number)
	}
}

// validateWorkloads checks workloads and images; files are looked for
// relative to the scenario file's folder.
func (s *Scenario) validateWorkloads(src *source, add func(path, format string, args ...any)) {
	for i, w := range s.Workloads {
		at := func(f string) string { return fmt.Sprintf("workloads[%d]%s", i, f) }
		if w.Path == "" {
			add(at(""), "missing: path, a manifest file or folder (relative to the scenario's folder)")
		} else if src.file != "" && !src.recorded {
			p := resolveAgainst(src.file, w.Path)
			switch fi, err := os.Stat(p); {
			case err != nil:
				add(at(".path"), "%v", err)
			case fi.Mode().IsRegular() && !isManifestFile(p):
				add(at(".path"), "%s: want a manifest file (.yaml, .yml, .json) or a folder", w.Path)
			case !fi.Mode().IsRegular() && !fi.IsDir():
				add(at(".path"), "%s is neither a file nor a folder", w.Path)
			}
		}
		if w.Namespace != "" && len(validation.IsDNS1123Label(w.Namespace)) > 0 {
			add(at(".namespace"), "%q is not a namespace name (lower-case letters, digits and '-', at most 63 characters)", w.Namespace)
		}
	}
	for i, img := range s.Images {
		at := fmt.Sprintf("images[%d]", i)
		switch {
		case img == "":
			add(at, "empty: an image archive (%s) or the name of an image in the local podman or docker store", ImageArchiveExt)
		case IsImageArchive(img):
			if src.file == "" || src.recorded {
				break
			}
			switch fi, err := os.Stat(resolveAgainst(src.file, img)); {
			case err != nil:
				add(at, "image archive: %v", err)
			case !fi.Mode().IsRegular():
				add(at, "image archive %s is not a file", img)
			}
		default:
			if _, err := name.ParseReference(img); err != nil {
				add(at, "%q is neither an image archive (%s) nor an image name such as localhost/shop:dev: %v", img, ImageArchiveExt, err)
			}
		}
	}
}

func isManifestFile(p string) bool {
	switch filepath.Ext(p) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
