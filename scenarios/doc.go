// Package scenarios defines what a rehearsal rehearses: the cluster to build
// (or reach), the canary, the load and its phases, the upgrade and its
// driver, the checks and the judge's thresholds, and where output goes.
//
// A scenario is a YAML document with apiVersion rehearse.dev/v1alpha1 and
// kind Scenario. Loading is strict: an unknown field, a bad duration or an
// impossible combination is an error naming the file, the line and the field.
// Defaults live in one place, Defaults, and are documented there. The default
// scenario is embedded in the binary (Default); the folder holds examples.
package scenarios
