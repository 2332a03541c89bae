package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"al.essio.dev/pkg/shellescape"
)

// Host is what the doctor and the provider need from the machine: running a
// command and a few file-system facts. LocalHost is the real one; tests use a
// fake.
type Host interface {
	// Run runs a command and returns its standard output. A failure is a
	// *CommandError carrying the command line and its output.
	Run(ctx context.Context, name string, args ...string) (string, error)
	LookPath(file string) (string, error)
	Stat(path string) (fs.FileInfo, error)
	ReadFile(path string) ([]byte, error)
	WriteFile(path string, data []byte, perm fs.FileMode) error
	MkdirAll(path string, perm fs.FileMode) error
	// FreeBytes is the space available to an unprivileged user on the file
	// system holding path.
	FreeBytes(path string) (uint64, error)
	IsRoot() bool
}

// CommandError is the failure of an external command: its command line, its
// combined output and the underlying error.
type CommandError struct {
	Command string
	Output  string
	Err     error
}

func (e *CommandError) Error() string {
	out := strings.TrimSpace(e.Output)
	if out == "" {
		return fmt.Sprintf("%s: %v", e.Command, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Command, e.Err, out)
}

func (e *CommandError) Unwrap() error { return e.Err }

// CommandLine renders a command the way a shell would read it.
func CommandLine(name string, args ...string) string {
	return shellescape.QuoteCommand(append([]string{name}, args...))
}

// LocalHost is the machine this process runs on.
type LocalHost struct{}

var _ Host = LocalHost{}

// Run implements Host.
func (LocalHost) Run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		out := stderr.String()
		if strings.TrimSpace(out) == "" {
			out = stdout.String()
		}
		return stdout.String(), &CommandError{Command: CommandLine(name, args...), Output: out, Err: err}
	}
	return stdout.String(), nil
}

// LookPath implements Host.
func (LocalHost) LookPath(file string) (string, error) { return exec.LookPath(file) }

// Stat implements Host.
func (LocalHost) Stat(path string) (fs.FileInfo, error) { return os.Stat(path) }

// ReadFile implements Host.
func (LocalHost) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

// WriteFile implements Host.
func (LocalHost) WriteFile(path string, data []byte, perm fs.FileMode) error {
	return os.WriteFile(path, data, perm)
}

// MkdirAll implements Host.
func (LocalHost) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }

// FreeBytes implements Host.
func (LocalHost) FreeBytes(path string) (uint64, error) {
	// Walk up to the nearest existing folder: podman's storage may not
	// exist before podman's first run.
	for {
		var st syscall.Statfs_t
		err := syscall.Statfs(path, &st)
		if err == nil {
			return st.Bavail * uint64(st.Bsize), nil
		}
		if !errors.Is(err, syscall.ENOENT) || path == "/" || path == "" {
			return 0, fmt.Errorf("statfs %s: %w", path, err)
		}
		path = parent(path)
	}
}

// IsRoot implements Host.
func (LocalHost) IsRoot() bool { return os.Geteuid() == 0 }

func parent(path string) string {
	path = strings.TrimRight(path, "/")
	i := strings.LastIndex(path, "/")
	if i <= 0 {
		return "/"
	}
	return path[:i]
}
