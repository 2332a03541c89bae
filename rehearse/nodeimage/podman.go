package nodeimage

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Engine is the container engine command holding node images.
const Engine = "podman"

// Image is a node image found by its labels.
type Image struct {
	Name       string    `json:"name"`
	ID         string    `json:"id"`
	Kubernetes string    `json:"kubernetes"`
	Recipe     string    `json:"recipe"`
	Source     string    `json:"source"`
	Created    time.Time `json:"created"`
	Size       int64     `json:"size"`
}

// imageLabels returns the labels of an image, or ok false when there is no
// such image.
func (b *build) imageLabels(ctx context.Context, image string) (labels map[string]string, ok bool) {
	out, err := b.run.output(ctx, cmdSpec{}, Engine, "image", "inspect", "--format", "{{json .Labels}}", image)
	if err != nil {
		return nil, false
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &labels); err != nil {
		return nil, false
	}
	return labels, true
}

// List returns the node images carrying the io.rehearse.kubernetes label,
// newest Kubernetes first.
func List(ctx context.Context) ([]Image, error) {
	r := &runner{log: discard{}}
	out, err := r.output(ctx, cmdSpec{}, Engine, "images", "--filter", "label="+LabelKubernetes, "--format", "json")
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var raw []struct {
		ID      string            `json:"Id"`
		Names   []string          `json:"Names"`
		Labels  map[string]string `json:"Labels"`
		Created int64             `json:"Created"`
		Size    int64             `json:"Size"`
	}
	if strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &raw); err != nil {
			return nil, fmt.Errorf("list images: %w", err)
		}
	}
	var images []Image
	for _, r := range raw {
		for _, n := range r.Names {
			if !strings.HasPrefix(n, ImageRepository+":") {
				continue
			}
			images = append(images, Image{
				Name: n, ID: shortID(r.ID), Kubernetes: r.Labels[LabelKubernetes],
				Recipe: r.Labels[LabelRecipe], Source: r.Labels[LabelSource],
				Created: time.Unix(r.Created, 0), Size: r.Size,
			})
		}
	}
	sort.Slice(images, func(i, j int) bool {
		vi, erri := ParseVersion(images[i].Kubernetes)
		vj, errj := ParseVersion(images[j].Kubernetes)
		if erri != nil || errj != nil {
			return images[i].Name < images[j].Name
		}
		return vi.Minor > vj.Minor || (vi.Minor == vj.Minor && vi.Patch > vj.Patch)
	})
	return images, nil
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
