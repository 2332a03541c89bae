package nodeimage

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"runtime"
)

// recipeRevision changes whenever the way a node image is put together
// changes, so that images built the old way are rebuilt.
const recipeRevision = 2

// partsRevision changes whenever the way a part (binaries, a root file
// system, an image archive) is made changes, so that cached parts made the
// old way are made again.
const partsRevision = 1

// Recipe is every input of a node image build. Two builds with equal recipes
// produce equivalent images.
type Recipe struct {
	Revision       int      `json:"revision"`
	Kubernetes     string   `json:"kubernetes"`
	Go             string   `json:"go"`
	Kind           string   `json:"kind"`
	Debian         string   `json:"debian"`
	NodePackages   []string `json:"nodePackages"`
	BasePackages   []string `json:"basePackages"`
	Flannel        string   `json:"flannel"`
	CNIPlugins     string   `json:"cniPlugins"`
	FlannelCNISpec string   `json:"flannelCNISpec"`
	// Source is "built" for an image built here, "upstream" for a pulled
	// kindest/node image.
	Source string `json:"source"`
}

// NewRecipe is the recipe of building Kubernetes v here with this
// toolchain.
func NewRecipe(v Version) Recipe {
	return Recipe{
		Revision:       recipeRevision,
		Kubernetes:     v.String(),
		Go:             runtime.Version(),
		Kind:           KindVersion,
		Debian:         DebianSuite,
		NodePackages:   NodePackages,
		BasePackages:   BasePackages,
		Flannel:        FlannelVersion,
		CNIPlugins:     CNIPluginsVersion,
		FlannelCNISpec: FlannelCNIVersion,
		Source:         "built",
	}
}

// UpstreamRecipe is the recipe of taking kindest/node:v from a registry.
func UpstreamRecipe(v Version) Recipe {
	return Recipe{Revision: recipeRevision, Kubernetes: v.String(), Kind: KindVersion, Flannel: FlannelVersion, Source: "upstream"}
}

// Hash is a stable short hash of the recipe (16 hex digits).
func (r Recipe) Hash() string {
	return shortHash(r)
}

// component is the cache key of one part of a build (a set of binaries, a
// root file system): the parts of the recipe every build shares, plus the
// part's own name and inputs.
func (r Recipe) component(name, detail string) string {
	return shortHash(struct {
		Revision     int
		Go, Name     string
		Detail       string
		Debian, Kind string
	}{partsRevision, r.Go, name, detail, r.Debian, r.Kind})
}

func shortHash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
