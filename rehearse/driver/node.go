package driver

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// NodeRunner runs commands inside a cluster's node containers and moves
// files between them and the host. The engine (podman, docker) is the one
// that runs the nodes.
type NodeRunner interface {
	// Exec runs argv in the node and returns its combined output.
	Exec(ctx context.Context, node string, argv ...string) (string, error)
	// Engine runs the container engine itself (cp, run, rm).
	Engine(ctx context.Context, args ...string) (string, error)
}

// EngineRunner is the NodeRunner of a container engine binary.
type EngineRunner struct {
	// Binary is podman or docker.
	Binary string
}

var _ NodeRunner = EngineRunner{}

// Exec runs argv inside node.
func (e EngineRunner) Exec(ctx context.Context, node string, argv ...string) (string, error) {
	return e.Engine(ctx, append([]string{"exec", node}, argv...)...)
}

// Engine runs the engine with args; a failure carries the command line and
// its output.
func (e EngineRunner) Engine(ctx context.Context, args ...string) (string, error) {
	bin := e.Binary
	if bin == "" {
		bin = "podman"
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", bin, strings.Join(args, " "), err, lastLines(out.String(), 30))
	}
	return out.String(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
