package kversion

import (
	"fmt"
	"math"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
)

// Version is a Kubernetes version. The zero value is v0.0.0. Compare
// versions with Compare, not ==.
type Version struct{ v *version.Version }

// Parse reads a Kubernetes release as people write it: "v1.35.4", with the
// leading v and without a pre-release or build suffix.
func Parse(s string) (Version, error) {
	v, err := version.ParseSemantic(s)
	if err != nil || !strings.HasPrefix(s, "v") || strings.TrimSpace(s) != s || v.PreRelease() != "" || v.BuildMetadata() != "" {
		return Version{}, fmt.Errorf("%q is not a Kubernetes version like v1.35.4", s)
	}
	return Version{v}, nil
}

// ParseSemantic reads a Kubernetes version with the leading v and an
// optional pre-release or build suffix: "v1.36.0", "v1.36.0-rc.1".
func ParseSemantic(s string) (Version, error) {
	v, err := version.ParseSemantic(s)
	if err != nil || !strings.HasPrefix(s, "v") || strings.TrimSpace(s) != s {
		return Version{}, fmt.Errorf("%q is not a Kubernetes version like v1.35.4 or v1.36.0-rc.1", s)
	}
	return Version{v}, nil
}

// ParseReported reads a version as a cluster, a kubelet or an image tag
// reports it, and returns the release it is built from: the leading v is
// optional and a vendor or pre-release suffix is dropped ("v1.35.4+k3s1",
// "v1.35.4-gke.100" and "1.35.4" are all v1.35.4).
func ParseReported(s string) (Version, error) {
	rel := strings.TrimPrefix(s, "v")
	if i := strings.IndexAny(rel, "-+"); i >= 0 {
		rel = rel[:i]
	}
	v, err := version.ParseSemantic(rel)
	if err != nil || strings.TrimSpace(s) != s {
		return Version{}, fmt.Errorf("%q is not a Kubernetes version like v1.35.4 (with or without a vendor suffix)", s)
	}
	return Version{v}, nil
}

// MustParse is Parse for versions known to be right; it panics otherwise.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

func (v Version) sem() *version.Version {
	if v.v == nil {
		return version.MustParseSemantic("0.0.0")
	}
	return v.v
}

// Major is the major release number.
func (v Version) Major() uint { return v.sem().Major() }

// Minor is the minor release number.
func (v Version) Minor() uint { return v.sem().Minor() }

// Patch is the patch release number.
func (v Version) Patch() uint { return v.sem().Patch() }

// PreRelease is the pre-release suffix without its "-" ("rc.1"), or "".
func (v Version) PreRelease() string { return v.sem().PreRelease() }

// BuildMetadata is the build suffix without its "+" ("k3s1"), or "".
func (v Version) BuildMetadata() string { return v.sem().BuildMetadata() }

// String writes the version with its leading v: "v1.35.4".
func (v Version) String() string { return "v" + v.sem().String() }

// Compare returns -1, 0 or 1 as v is older than, the same as or newer than
// o (a pre-release is older than its release).
func (v Version) Compare(o Version) int {
	a, b := v.sem(), o.sem()
	switch {
	case a.LessThan(b):
		return -1
	case b.LessThan(a):
		return 1
	}
	return 0
}

// Release is v without its pre-release or build suffix.
func (v Version) Release() Version {
	return Version{version.MustParseSemantic(fmt.Sprintf("%d.%d.%d", v.Major(), v.Minor(), v.Patch()))}
}

// NextMinor is the first release of the next minor version: v1.36.0 after
// v1.35.4.
func (v Version) NextMinor() Version {
	return Version{version.MustParseSemantic(fmt.Sprintf("%d.%d.0", v.Major(), v.Minor()+1))}
}

// Minors is how many minor releases to is ahead of from (negative when it
// is behind). Minor releases do not count across major versions: then ok is
// false.
func Minors(from, to Version) (n int, ok bool) {
	if from.Major() != to.Major() {
		return 0, false
	}
	a, b := from.Minor(), to.Minor()
	if b >= a {
		return clamp(b - a), true
	}
	return -clamp(a - b), true
}

func clamp(u uint) int {
	if u > math.MaxInt {
		return math.MaxInt
	}
	return int(u)
}

// CheckUpgrade applies kubeadm's rule to one upgrade hop from cur to
// target: the target is newer, and at most one minor version ahead.
func CheckUpgrade(cur, target Version) error {
	if target.Compare(cur) <= 0 {
		return fmt.Errorf("target %s is not newer than the cluster's %s", target, cur)
	}
	if n, ok := Minors(cur, target); !ok || n > 1 {
		return fmt.Errorf("target %s is more than one minor version ahead of %s (kubeadm upgrades one minor at a time: go to v%d.%d.x first)", target, cur, cur.Major(), cur.Minor()+1)
	}
	return nil
}

// Expected is the version a check expects to see. A release (v1.36.3)
// matches that release with any vendor suffix (v1.36.3-eks-5e0fdde,
// v1.36.3+k3s1); a release line (v1.36) matches any patch of it; a
// pre-release or build (v1.36.0-rc.1) matches only itself.
type Expected struct {
	text string
	v    Version
	line bool
}

// ParseExpected reads an expected version: v1.36.3, 1.36.3, v1.36 or
// v1.36.0-rc.1.
func ParseExpected(s string) (Expected, error) {
	text := "v" + strings.TrimPrefix(s, "v")
	if v, err := ParseSemantic(text); err == nil && strings.TrimSpace(s) == s {
		return Expected{text: text, v: v}, nil
	}
	if mm, err := version.ParseGeneric(text); err == nil && len(mm.Components()) == 2 && text == "v"+mm.String() {
		return Expected{text: text, v: Version{version.MustParseSemantic(fmt.Sprintf("%d.%d.0", mm.Major(), mm.Minor()))}, line: true}, nil
	}
	return Expected{}, fmt.Errorf("%q is not a Kubernetes version such as v1.36.3", s)
}

// String is the expected version with its leading v.
func (e Expected) String() string { return e.text }

// Matches says whether actual (an image tag, a kubelet version) is the
// expected version.
func (e Expected) Matches(actual string) bool {
	if e.text == "" || actual == "" {
		return false
	}
	if "v"+strings.TrimPrefix(actual, "v") == e.text {
		return true
	}
	if e.v.PreRelease() != "" || e.v.BuildMetadata() != "" {
		// A pre-release or build was asked for: only that one matches.
		return false
	}
	a, err := ParseReported(actual)
	if err != nil {
		return false
	}
	if e.line {
		return a.Major() == e.v.Major() && a.Minor() == e.v.Minor()
	}
	return a.Compare(e.v) == 0
}
