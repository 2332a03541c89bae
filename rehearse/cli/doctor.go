package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rehearse/rehearse/rehearse/cluster"
)

func newDoctorCmd(streams Streams) *cobra.Command {
	var kubernetes []string
	var fix bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check (and with --fix repair) what kind clusters need on this machine",
		Long: `Check every prerequisite of rehearse's kind clusters, one line per check:
a container engine that really runs privileged containers (kind's nodes are
privileged), podman's rlimits, /lib/modules, free disk, the cgroup version,
kernel features, and with --kubernetes the node image of that version
(repeat --kubernetes for each version: an upgrade needs the start's and the
target's).

With --fix, as root on Debian, the doctor installs what is missing with
apt-get, merges podman's default_ulimits into containers.conf and creates
/lib/modules; otherwise each failing line says the exact fix.

Exit status: 0 when nothing fails (warnings allowed), 4 when something is missing.`,
		Example: `  rehearse doctor
  rehearse doctor --fix --kubernetes v1.35.4
  rehearse doctor --kubernetes v1.35.4 --kubernetes v1.36.3`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			d := cluster.NewDoctor(cluster.LocalHost{}, kubernetes...)
			if fix && !d.Host.IsRoot() {
				fmt.Fprintln(streams.Err, "not root: --fix will only print the fixes")
			}
			results := d.Run(c.Context(), fix, func(r cluster.Result) { cluster.WriteResult(streams.Out, r) })
			if !cluster.Healthy(results) {
				return &ExitError{Code: ExitInfra, Err: fmt.Errorf("doctor: some prerequisites are missing (see FAIL above)")}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&fix, "fix", false, "repair what can be repaired (root, Debian)")
	f.StringArrayVar(&kubernetes, "kubernetes", nil, "also check the node image of this Kubernetes version (e.g. v1.35.4); repeat for several")
	return cmd
}
