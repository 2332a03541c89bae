// Package testenv decides whether tests that need real clusters run. They
// are slow (node images take tens of minutes to build cold, clusters minutes
// to create), so they run when asked: `make test` asks, after provisioning
// the substrate (rehearse doctor --fix, rehearse images build). Asked to run
// and unable to, they fail; not asked, they skip and say how to ask.
package testenv

import (
	"os"
	"testing"
)

// ClusterEnv is the variable that asks for the cluster tests.
const ClusterEnv = "REHEARSE_CLUSTER_TESTS"

// RequireCluster skips t unless cluster tests were asked for.
func RequireCluster(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: this test needs a real kind cluster")
	}
	if os.Getenv(ClusterEnv) != "1" {
		t.Skipf("cluster tests not asked for: set %s=1 after provisioning the substrate (make test-cluster does both: rehearse doctor --fix, rehearse images build)", ClusterEnv)
	}
}

// ClusterTests tells whether cluster tests were asked for.
func ClusterTests() bool { return os.Getenv(ClusterEnv) == "1" && !testing.Short() }
