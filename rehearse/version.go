package rehearse

import "runtime/debug"

// buildVersion is stamped at link time:
// -ldflags "-X github.com/rehearse/rehearse/rehearse.buildVersion=v0.1.0".
var buildVersion string

// Version returns the version of this build: the stamped one, else the
// module version recorded by `go install`, else "dev".
func Version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
