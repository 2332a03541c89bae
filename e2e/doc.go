// Package e2e is the upgrade gate: `go test ./e2e` runs rehearsals through
// the library on real kind clusters and fails when a verdict fails, printing
// its reasons. It also holds a negative control that must fail, and a
// rehearsal of an existing pre-production cluster upgraded by a command.
//
// The gate needs a machine that runs kind clusters from the node images of
// the versions it rehearses (`make substrate` provisions one). On a machine
// that cannot, it fails with what `rehearse doctor` says; it never passes by
// skipping. Under -short it skips, saying so.
package e2e
