// Package rehearse rehearses a Kubernetes upgrade on a throwaway cluster and
// proves with traffic that the upgrade does not hurt the applications running
// on it. This package holds what every part shares (the build version); the
// parts live below it and beside it: loadgen records traffic, report judges
// it, rehearse/canary is the application under load, rehearse/cli the
// command line.
package rehearse
