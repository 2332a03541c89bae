package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rehearse/rehearse/rehearse/cluster"
)

// doctorResult is one check of `doctor -o json|yaml`.
type doctorResult struct {
	Check   string `json:"check"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
	Fixed   bool   `json:"fixed,omitempty"`
	FixErr  string `json:"fixError,omitempty"`
}

// doctorReport is the document of `doctor -o json|yaml`.
type doctorReport struct {
	Healthy bool           `json:"healthy"`
	Checks  []doctorResult `json:"checks"`
}

func newDoctorReport(results []cluster.Result) doctorReport {
	rep := doctorReport{Healthy: cluster.Healthy(results), Checks: []doctorResult{}}
	for _, r := range results {
		dr := doctorResult{Check: r.Check, Status: r.Status.String(), Message: r.Message, Fix: r.Fix, Fixed: r.Fixed}
		if r.FixErr != nil {
			dr.FixErr = r.FixErr.Error()
		}
		rep.Checks = append(rep.Checks, dr)
	}
	return rep
}

func newDoctorCmd(streams Streams) *cobra.Command {
	var kubernetes []string
	var fix bool
	var format string
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
  rehearse doctor -o json
  rehearse doctor --fix --kubernetes v1.35.4
  rehearse doctor --kubernetes v1.35.4 --kubernetes v1.36.3`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := checkOutput(format, dataFormats); err != nil {
				return err
			}
			d := cluster.NewDoctor(cluster.LocalHost{}, kubernetes...)
			if fix && !d.Host.IsRoot() {
				fmt.Fprintln(streams.Err, "not root: --fix will only print the fixes")
			}
			// Text is written line by line as the checks run; JSON and
			// YAML once, when all have.
			show := func(r cluster.Result) { cluster.WriteResult(streams.Out, r) }
			if format != formatText {
				show = func(cluster.Result) {}
			}
			results := d.Run(c.Context(), fix, show)
			if format != formatText {
				if err := writeData(streams.Out, format, newDoctorReport(results), nil); err != nil {
					return err
				}
			}
			if !cluster.Healthy(results) {
				return &ExitError{Code: ExitInfra, Err: fmt.Errorf("doctor: some prerequisites are missing (see FAIL above)")}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&fix, "fix", false, "repair what can be repaired (root, Debian)")
	f.StringArrayVar(&kubernetes, "kubernetes", nil, "also check the node image of this Kubernetes version (e.g. v1.35.4); repeat for several")
	addOutputFlag(f, &format, dataFormats)
	return cmd
}
