// Package e2e is the upgrade gate: `go test ./e2e` runs rehearsals through
// the library on real kind clusters and fails when a verdict fails, printing
// its reasons. It also holds a negative control that must fail, and a
// rehearsal of an existing pre-production cluster upgraded by a command.
//
// The gate runs when asked (REHEARSE_CLUSTER_TESTS=1, as `make test-cluster`
// sets after provisioning the substrate). Asked to run on a machine that
// cannot, it fails with what `rehearse doctor` says; under -short it skips,
// saying so.
package e2e
