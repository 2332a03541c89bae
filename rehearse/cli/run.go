package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/cluster"
	"github.com/rehearse/rehearse/rehearse/runfolder"
	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

type runOptions struct {
	keep bool
	out  string
	sets []string
	progressFlags
	engine string
	format string
	est    estimateFlags
	api    apiFlags
}

func newRunCmd(streams Streams) *cobra.Command {
	o := runOptions{format: formatText}
	cmd := &cobra.Command{
		Use:   "run [SCENARIO]",
		Short: "Rehearse an upgrade: cluster, canary, load, upgrade, checks, verdict",
		Long: `Rehearse the upgrade a scenario describes (the embedded default when none is
given: an in-place kubeadm minor upgrade of a 1+2 flannel kind cluster):
provision the cluster, deploy the canary, record a baseline of load through
every node's NodePort, upgrade with the load running, keep the load for the
after window, check kube-system, judge the phases and write the report.

Everything lands in a run folder: the scenario as run, results.bin,
summary.json, timeline.jsonl, plan.txt, driver.log, checklist.json, the
report in JSON, HTML, Markdown and JUnit, and the cluster's logs when
anything failed. Ctrl-C at any phase deletes the cluster (unless --keep) and
keeps and reports what was recorded ("rehearse report RUN_DIR" renders it
again).

Exit status: 0 pass, 1 fail, 2 bad input, 3 inconclusive, 4 infrastructure error.`,
		Example: `  rehearse run
  rehearse run scenarios/examples/kind-bluegreen.yaml --keep
  rehearse run --set upgrade.target=v1.36.3 --set load.rate=200`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return badInput(fmt.Errorf("run takes at most one SCENARIO, got %d", len(args)))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			return runRun(c.Context(), streams, args, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.keep, "keep", false, "keep the throwaway cluster after the rehearsal")
	f.StringVar(&o.out, "out", "", "run folder, new or empty (default: OUTPUT_DIR/NAME-TIME from the scenario)")
	f.StringArrayVar(&o.sets, "set", nil, "override a scenario field, as path=value (e.g. load.rate=200); repeatable")
	o.addProgressFlags(f, "also every upgrade step's start and end, and kind's debug messages")
	f.StringVar(&o.engine, "engine", "", "container engine for kind nodes: podman or docker (default: the first that works)")
	f.StringVarP(&o.format, "output", "o", o.format, "report format printed to stdout: "+strings.Join(report.FormatNames(), ", "))
	o.est.add(f)
	o.api.addKubeconfigFlags(f, "rehearse on this existing cluster (provider existing): the scenario's cluster.kubeconfig")
	return cmd
}

// loadScenario reads SCENARIO (or the embedded default) with overrides.
func loadScenario(args, sets []string) (*scenarios.Scenario, error) {
	if len(args) == 0 {
		return rehearse.ScenarioLoader().Default(sets...)
	}
	return rehearse.ScenarioLoader().Load(args[0], sets...)
}

func runRun(ctx context.Context, streams Streams, args []string, o runOptions) error {
	render, err := report.RendererFor(o.format)
	if err != nil {
		return badInput(fmt.Errorf("--output: %w", err))
	}
	if err := o.progressFlags.check(); err != nil {
		return badInput(err)
	}
	sc, err := loadScenario(args, o.sets)
	if err != nil {
		return badInput(err)
	}
	if o.api.kubeconfig != "" || o.api.context != "" {
		if sc.Cluster.Provider != scenarios.ProviderExisting {
			return badInput(fmt.Errorf("--kubeconfig/--context name an existing cluster to rehearse on, but scenario %q makes a throwaway %s cluster: use a scenario with cluster.provider: existing and upgrade.driver: exec", sc.Metadata.Name, sc.Cluster.Provider))
		}
		sets := o.sets
		if o.api.kubeconfig != "" {
			sets = append(sets, "cluster.kubeconfig="+o.api.kubeconfig)
		}
		if o.api.context != "" {
			sets = append(sets, "cluster.context="+o.api.context)
		}
		if sc, err = loadScenario(args, sets); err != nil {
			return badInput(err)
		}
	}
	est, err := o.est.options()
	if err != nil {
		return err
	}
	if o.engine != "" && !slices.Contains(cluster.Engines(), o.engine) {
		return badInput(fmt.Errorf("--engine: unknown container engine %q; known: %s", o.engine, strings.Join(cluster.Engines(), ", ")))
	}
	if o.out != "" {
		// Checked before any cluster is made: a rehearsal never records
		// over an earlier one.
		if err := checkOutFolder(o.out, false, "name a new folder (rehearse report renders an earlier run again)"); err != nil {
			return err
		}
	}
	progress := o.progress(streams.Err)
	opts := rehearse.Options{
		Dir:         o.out,
		Keep:        o.keep,
		Progress:    progress,
		Verbose:     o.verbose,
		Provisioner: &rehearse.Provisioners{Engine: o.engine, Progress: progress, Verbose: o.verbose},
		Estimate:    est,
	}
	if sc.Cluster.Provider == scenarios.ProviderKind && sc.Canary.Image == "" {
		opts.Canary = rehearse.BuildCanaryImage(progress)
	}
	res, err := rehearse.Run(ctx, sc, opts)
	if res != nil && res.Dir != "" {
		fmt.Fprintf(streams.Err, "run folder: %s\n", res.Dir)
		if html, aerr := filepath.Abs(filepath.Join(res.Dir, runfolder.Report("html"))); aerr == nil {
			if _, serr := os.Stat(html); serr == nil {
				fmt.Fprintf(streams.Err, "report: file://%s\n", html)
			}
		}
	}
	if res != nil && res.Report != nil {
		if rerr := render(streams.Out, res.Report); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	if res != nil && res.Interrupted {
		if _, serr := os.Stat(filepath.Join(res.Dir, loadgen.ResultsFile)); serr == nil {
			fmt.Fprintf(streams.Err, "interrupted: what was recorded is in %s (rehearse report %s)\n", res.Dir, res.Dir)
		} else {
			fmt.Fprintf(streams.Err, "interrupted before any load was recorded: the run's phases are in %s\n", filepath.Join(res.Dir, rehearse.RunFile))
		}
	}
	var input *rehearse.InputError
	if errors.As(err, &input) && (res == nil || !res.Interrupted) {
		return badInput(err)
	}
	var infra *rehearse.InfraError
	if errors.As(err, &infra) || (err != nil && (res == nil || res.Report == nil)) {
		if res != nil && len(res.Reasons) > 0 {
			fmt.Fprintf(streams.Err, "%s\n", strings.Join(res.Reasons, "\n"))
		}
		return &ExitError{Code: ExitInfra, Err: err}
	}
	if err != nil {
		return err
	}
	if code := report.ExitCode(res.Verdict); code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}
