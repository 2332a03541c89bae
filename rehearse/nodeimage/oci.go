package nodeimage

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// imageFile is one file put into an image.
type imageFile struct {
	Src  string // on the host
	Dst  string // absolute path in the image
	Mode int64
}

// imageSpec describes a container image written as an archive without any
// container engine: an optional base layer (a gzipped root file system
// tarball) and one layer of files.
type imageSpec struct {
	Ref        ImageRef
	BaseLayer  string // .tar.gz, or "" for none
	Files      []imageFile
	Entrypoint []string
	Cmd        []string
	Env        []string
	User       string
	Labels     map[string]string
}

// defaultPath is the PATH of every image.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/bin"

// archiveKey is the cache key of an image archive: the spec plus the size
// and modification time of every input file.
func (s imageSpec) archiveKey() (string, error) {
	type stamp struct {
		Path string
		Size int64
		Mod  time.Time
	}
	var stamps []stamp
	inputs := []string{}
	if s.BaseLayer != "" {
		inputs = append(inputs, s.BaseLayer)
	}
	for _, f := range s.Files {
		inputs = append(inputs, f.Src)
	}
	for _, p := range inputs {
		st, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		stamps = append(stamps, stamp{p, st.Size(), st.ModTime().UTC()})
	}
	return shortHash(struct {
		Rev    int
		Spec   imageSpec
		Stamps []stamp
	}{partsRevision, s, stamps}), nil
}

// archiveName is a file name for an image archive.
func archiveName(ref ImageRef, key string) string {
	n := strings.NewReplacer("/", "_", ":", "_").Replace(ref.Name())
	return fmt.Sprintf("%s_%s_%s.tar", n, ref.Tag, key)
}

// writeImageArchive writes the image as a docker-format archive (the format
// `docker save` writes and `ctr images import` and `podman load` read) at
// out, unless an archive for the same inputs is there already. It returns
// the archive's path.
func writeImageArchive(ctx context.Context, dir string, s imageSpec) (string, error) {
	key, err := s.archiveKey()
	if err != nil {
		return "", fmt.Errorf("image %s: %w", s.Ref, err)
	}
	out := filepath.Join(dir, archiveName(s.Ref, key))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	img := empty.Image
	if s.BaseLayer != "" {
		base, err := tarball.LayerFromFile(s.BaseLayer)
		if err != nil {
			return "", fmt.Errorf("image %s: base layer: %w", s.Ref, err)
		}
		if img, err = mutate.AppendLayers(img, base); err != nil {
			return "", err
		}
	}
	layerTar, err := writeFilesLayer(dir, s.Files)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", s.Ref, err)
	}
	defer os.Remove(layerTar)
	layer, err := tarball.LayerFromFile(layerTar, tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		return "", fmt.Errorf("image %s: %w", s.Ref, err)
	}
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint = s.Entrypoint
	cf.Config.Cmd = s.Cmd
	cf.Config.Env = append([]string{defaultPath}, s.Env...)
	cf.Config.User = s.User
	cf.Config.Labels = s.Labels
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	tag, err := name.NewTag(s.Ref.String(), name.WeakValidation)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", s.Ref, err)
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("image %s: write archive: %w", s.Ref, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	pruneArchives(dir, s.Ref, out)
	return out, nil
}

// pruneArchives removes older archives of the same image.
func pruneArchives(dir string, ref ImageRef, keep string) {
	prefix := strings.TrimSuffix(archiveName(ref, ""), ".tar")
	old, _ := filepath.Glob(filepath.Join(dir, prefix+"*.tar"))
	for _, p := range old {
		rest := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), prefix), ".tar")
		if p != keep && !strings.Contains(rest, "_") {
			os.Remove(p)
		}
	}
}

// writeFilesLayer writes an uncompressed layer tarball holding the files,
// their parent folders (0755) and /tmp (1777), owned by root.
func writeFilesLayer(dir string, files []imageFile) (string, error) {
	f, err := os.CreateTemp(dir, "layer-*.tar")
	if err != nil {
		return "", err
	}
	tw := tar.NewWriter(f)
	epoch := time.Unix(0, 0)
	dirs := map[string]bool{"tmp": true}
	for _, file := range files {
		for d := path.Dir(strings.TrimPrefix(file.Dst, "/")); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	sort.Strings(sorted)
	for _, d := range sorted {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: epoch}); err != nil {
			return "", err
		}
	}
	for _, file := range files {
		if err := addFile(tw, file, epoch); err != nil {
			f.Close()
			os.Remove(f.Name())
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

func addFile(tw *tar.Writer, file imageFile, mod time.Time) error {
	src, err := os.Open(file.Src)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     strings.TrimPrefix(file.Dst, "/"),
		Mode:     file.Mode,
		Size:     st.Size(),
		ModTime:  mod,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(tw, src)
	return err
}

// imageDigest is the digest of an archive's image, for the record.
func imageDigest(archive string, ref ImageRef) (string, error) {
	tag, err := name.NewTag(ref.String(), name.WeakValidation)
	if err != nil {
		return "", err
	}
	img, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		return "", err
	}
	var d v1.Hash
	if d, err = img.Digest(); err != nil {
		return "", err
	}
	return d.String(), nil
}
