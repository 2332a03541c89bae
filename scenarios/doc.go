// Package scenarios defines what a rehearsal rehearses: the cluster to build
// (or reach), the canary, the user's workloads and images, the load (the
// canary's probes and the user's targets) and its phases, the upgrade and
// its driver, the checks and the judge's thresholds, and where output goes.
//
// Files a scenario names (a profile, a checklist file, workloads, image
// archives) are relative to the scenario file's folder; Load rewrites them
// relative to the working folder (joined to the scenario file's folder).
// canary.disabled runs a rehearsal on the user's load.targets alone.
//
// A scenario is one YAML document with apiVersion rehearse.dev/v1alpha1 and
// kind Scenario. Loading is strict: an unknown field, a bad duration, a
// number that is not finite or lies past the limits (MaxLoadRate, MaxNodes,
// MaxInt32, MaxDuration, ...), a name that is not a DNS-1123 label, a second
// document or an impossible combination is an error naming the file, the
// line and the field. Defaults live in one place, Defaults, and are
// documented there. The default scenario is embedded in the binary
// (Default); the folder holds examples.
//
// The package is a leaf: it describes, and imports no renderer, load
// generator or engine. Rules that need them (whether a report format has a
// renderer, whether the judge accepts its thresholds) are given to a Loader
// as Checks by the package that owns them, and located like the rest.
package scenarios
