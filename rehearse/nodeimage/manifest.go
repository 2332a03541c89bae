package nodeimage

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	cniVersionField = regexp.MustCompile(`"cniVersion"\s*:\s*"[^"]*"`)
	imageField      = regexp.MustCompile(`(?m)^\s*(?:-\s*)?image:\s*["']?([^"'\s]+)["']?\s*$`)
)

// PatchFlannelManifest rewrites every cniVersion of flannel's manifest (its
// cni-conf.json) to cniVersion, which the flannel CNI plugin built here
// speaks, and returns the patched manifest with the images it names, in
// order of first appearance.
func PatchFlannelManifest(manifest, cniVersion string) (string, []ImageRef, error) {
	if !cniVersionField.MatchString(manifest) {
		return "", nil, fmt.Errorf("flannel manifest: no cniVersion to patch")
	}
	patched := cniVersionField.ReplaceAllString(manifest, fmt.Sprintf(`"cniVersion": %q`, cniVersion))
	refs, err := ManifestImages(patched)
	if err != nil {
		return "", nil, fmt.Errorf("flannel manifest: %w", err)
	}
	if len(refs) == 0 {
		return "", nil, fmt.Errorf("flannel manifest: no images")
	}
	return patched, refs, nil
}

// ManifestImages lists the distinct images a Kubernetes manifest names.
func ManifestImages(manifest string) ([]ImageRef, error) {
	var refs []ImageRef
	seen := map[string]bool{}
	for _, m := range imageField.FindAllStringSubmatch(manifest, -1) {
		if seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		ref, err := ParseImageRef(m[1])
		if err != nil {
			return nil, err
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// flannelImages picks the flanneld and CNI-plugin images out of the
// manifest's images.
func flannelImages(refs []ImageRef) (flannel, plugin ImageRef, err error) {
	for _, r := range refs {
		switch {
		case strings.HasSuffix(r.Repository, "flannel-cni-plugin"):
			plugin = r
		case strings.HasSuffix(r.Repository, "flannel"):
			flannel = r
		}
	}
	if flannel.Tag == "" || plugin.Tag == "" {
		return flannel, plugin, fmt.Errorf("flannel manifest: want a flannel and a flannel-cni-plugin image, got %v", refs)
	}
	return flannel, plugin, nil
}
