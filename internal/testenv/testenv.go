// Package testenv decides whether tests that need real clusters run. They
// are slow (node images take tens of minutes to build cold, clusters minutes
// to create), so `go test -short` skips them and says so. Without -short they
// run: `go test ./e2e` is the upgrade gate, and a gate asked to run on a
// machine that cannot fails with what is missing; it never passes by
// skipping. `make substrate` provisions a machine for them (rehearse doctor
// --fix, rehearse images build).
package testenv

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// RequireCluster skips t under -short, saying why; otherwise t runs.
func RequireCluster(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: this test needs a real kind cluster (make substrate provisions this machine; run without -short)")
	}
}

// BuildRehearse builds the rehearse command into a temporary folder of t and
// returns its path, for tests that run it as its own process, the way a user
// does (signals, exit codes, a writer killed mid-record).
func BuildRehearse(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rehearse")
	start := time.Now()
	out, err := exec.Command("go", "build", "-o", bin, "github.com/rehearse/rehearse/cmd/rehearse").CombinedOutput()
	if err != nil {
		t.Fatalf("go build github.com/rehearse/rehearse/cmd/rehearse: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", bin, time.Since(start).Round(time.Millisecond))
	return bin
}
