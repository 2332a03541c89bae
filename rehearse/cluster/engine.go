package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Container engines kind can run nodes on.
const (
	EnginePodman = "podman"
	EngineDocker = "docker"
)

// Engines lists the engines in order of preference: podman grants a
// privileged container only the capabilities the host has, where Docker
// asks for all of them and fails on hosts whose bounding set is reduced.
func Engines() []string { return []string{EnginePodman, EngineDocker} }

var errNotInstalled = errors.New("not installed")

type noProbeBinaryError struct{ tried []string }

func (e *noProbeBinaryError) Error() string {
	return "no static binary to build the probe image from (tried " + strings.Join(e.tried, ", ") + ")"
}

// probe starts a tiny privileged container on the engine, memoised per
// doctor: nil means the engine can run kind's nodes.
func (d *Doctor) probe(ctx context.Context, engine string) error {
	if err, ok := d.probes[engine]; ok {
		return err
	}
	err := probeEngine(ctx, d.Host, engine, d.Executable)
	if d.probes == nil {
		d.probes = map[string]error{}
	}
	d.probes[engine] = err
	return err
}

// DetectEngine returns the first engine (podman, then Docker) that runs a
// privileged container on this host.
func DetectEngine(ctx context.Context, h Host) (string, error) {
	d := NewDoctor(h, "")
	var errs []error
	for _, e := range Engines() {
		err := d.probe(ctx, e)
		if err == nil {
			return e, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", e, err))
	}
	return "", fmt.Errorf("no container engine runs privileged containers (run rehearse doctor): %w", errors.Join(errs...))
}

func probeEngine(ctx context.Context, h Host, engine, executable string) error {
	if _, err := h.LookPath(engine); err != nil {
		return errNotInstalled
	}
	if engine == EngineDocker {
		if _, err := h.Run(ctx, "docker", "info", "--format", "{{.ServerVersion}}"); err != nil {
			return fmt.Errorf("daemon not reachable: %w", err)
		}
	}
	if _, err := h.Run(ctx, engine, "image", "inspect", "--format", "{{.Id}}", ProbeImage); err != nil {
		if err := importProbeImage(ctx, h, engine, executable); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	_, err := h.Run(ctx, engine, "run", "--rm", "--privileged", "--net", "none", ProbeImage)
	return err
}

// probeBinaries are the static binaries the probe image can be made of,
// with the arguments that make each exit 0 at once.
func probeBinaries(executable string) [][]string {
	bins := [][]string{{"/bin/busybox", "true"}, {"/usr/bin/busybox", "true"}}
	if executable != "" {
		bins = append(bins, []string{executable, "version"})
	}
	return bins
}

func importProbeImage(ctx context.Context, h Host, engine, executable string) error {
	var tried []string
	for _, cand := range probeBinaries(executable) {
		tried = append(tried, cand[0])
		bin, err := h.ReadFile(cand[0])
		if err != nil || !isStaticELF(bin) {
			continue
		}
		// busybox picks its applet by the name it runs under: keep the name.
		base := filepath.Base(cand[0])
		tarball, err := probeTar(base, bin)
		if err != nil {
			return err
		}
		dir, err := os.MkdirTemp("", "rehearse-probe-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "probe.tar")
		if err := h.WriteFile(path, tarball, 0o600); err != nil {
			return err
		}
		cmd := fmt.Sprintf(`CMD [%q, %q]`, "/"+base, cand[1])
		_, err = h.Run(ctx, engine, "import",
			"--change", cmd, "--change", "LABEL "+ProbeLabel+"=true",
			path, ProbeImage)
		return err
	}
	return &noProbeBinaryError{tried: tried}
}

// isStaticELF says the file is an executable ELF without a dynamic loader.
func isStaticELF(b []byte) bool {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return false
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return false
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// probeTar is a root file system holding only the binary, at /name.
func probeTar(name string, bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: name, Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// FindNodeImages lists the engine's images labelled as rehearse node images
// for the Kubernetes version.
func FindNodeImages(ctx context.Context, h Host, engine, kubernetes string) ([]string, error) {
	if _, err := h.LookPath(engine); err != nil {
		return nil, fmt.Errorf("%s is not installed", engine)
	}
	out, err := h.Run(ctx, engine, "images",
		"--filter", "label="+ImageLabel+"="+kubernetes,
		"--format", "{{.Repository}}:{{.Tag}}")
	if err != nil {
		return nil, err
	}
	var images []string
	seen := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.Contains(l, "<none>") || seen[l] {
			continue
		}
		seen[l] = true
		images = append(images, l)
	}
	sort.Strings(images)
	return images, nil
}
