// Package testenv decides whether tests that need real clusters run. They
// are slow (node images take tens of minutes to build cold, clusters minutes
// to create), so `go test -short` skips them and says so. Without -short they
// run: `go test ./e2e` is the upgrade gate, and a gate asked to run on a
// machine that cannot fails with what is missing; it never passes by
// skipping. `make substrate` provisions a machine for them (rehearse doctor
// --fix, rehearse images build).
package testenv

import (
	"os"
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

// FullEnv is the variable that asks for the whole cluster suite: `make
// test-full` sets it; `make test` runs the fast, still real, subset.
const FullEnv = "REHEARSE_TEST_FULL"

// RequireFull runs t only in the whole cluster suite (FullEnv=1, as `make
// test-full` sets it), and skips it otherwise, saying where it runs. It
// implies RequireCluster.
func RequireFull(t testing.TB) {
	t.Helper()
	RequireCluster(t)
	if os.Getenv(FullEnv) != "1" {
		t.Skipf("runs in the whole cluster suite only: make test-full (%s=1); make test keeps to the subset that fits CI's time", FullEnv)
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
