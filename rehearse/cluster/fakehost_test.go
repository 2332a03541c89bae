package cluster

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing/fstest"
)

// fakeHost answers commands from a table keyed by command-line prefix and
// keeps files in memory.
type fakeHost struct {
	paths    map[string]bool // on PATH
	commands map[string]fakeAnswer
	files    fstest.MapFS
	free     uint64
	root     bool
	ran      []string
}

type fakeAnswer struct {
	out string
	err string // non-empty: the command fails with this output
}

func newFakeHost() *fakeHost {
	return &fakeHost{
		paths:    map[string]bool{},
		commands: map[string]fakeAnswer{},
		files:    fstest.MapFS{},
		free:     100 << 30,
		root:     true,
	}
}

func (h *fakeHost) Run(_ context.Context, name string, args ...string) (string, error) {
	line := CommandLine(name, args...)
	h.ran = append(h.ran, line)
	best := ""
	for prefix := range h.commands {
		if strings.HasPrefix(line, prefix) && len(prefix) > len(best) {
			best = prefix
		}
	}
	a, ok := h.commands[best]
	if !ok {
		return "", &CommandError{Command: line, Output: "fake: unknown command", Err: errors.New("exit status 127")}
	}
	if a.err != "" {
		return "", &CommandError{Command: line, Output: a.err, Err: errors.New("exit status 1")}
	}
	return a.out, nil
}

func (h *fakeHost) LookPath(file string) (string, error) {
	if h.paths[file] {
		return "/usr/bin/" + file, nil
	}
	return "", errors.New(file + ": not found")
}

func key(path string) string { return strings.TrimPrefix(path, "/") }

func (h *fakeHost) Stat(path string) (fs.FileInfo, error) { return h.files.Stat(key(path)) }

func (h *fakeHost) ReadFile(path string) ([]byte, error) {
	b, err := h.files.ReadFile(key(path))
	if err != nil {
		return nil, os.ErrNotExist
	}
	return b, nil
}

func (h *fakeHost) WriteFile(path string, data []byte, perm fs.FileMode) error {
	h.files[key(path)] = &fstest.MapFile{Data: data, Mode: perm}
	return nil
}

func (h *fakeHost) MkdirAll(path string, perm fs.FileMode) error {
	h.files[key(path)] = &fstest.MapFile{Mode: fs.ModeDir | perm}
	return nil
}

func (h *fakeHost) FreeBytes(string) (uint64, error) { return h.free, nil }
func (h *fakeHost) IsRoot() bool                     { return h.root }

// healthyHost is a cgroup v1 machine with podman set up and a node image.
func healthyHost() *fakeHost {
	h := newFakeHost()
	h.paths["podman"] = true
	h.paths["apt-get"] = true
	h.files["lib/modules"] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
	h.files["etc/containers/containers.conf"] = &fstest.MapFile{Data: []byte(
		"[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n")}
	h.files["sys/fs/cgroup/unified/cgroup.controllers"] = &fstest.MapFile{Data: []byte("\n")}
	h.commands["podman version"] = fakeAnswer{out: "4.3.1\n"}
	h.commands["podman info"] = fakeAnswer{out: "runc\n"}
	h.commands["podman image inspect"] = fakeAnswer{out: "sha256:1\n"}
	h.commands["podman run --rm --privileged"] = fakeAnswer{}
	h.commands["podman images --filter label=io.rehearse.kubernetes=v1.35.4"] = fakeAnswer{out: "localhost/rehearse/node:v1.35.4\n"}
	return h
}
