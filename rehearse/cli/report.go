package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/report"
)

type reportOptions struct {
	baseline string
	format   string
	noWrite  bool
	export   string
	force    bool
	rules    report.Rules
	// judging are the judging flags given (baseline and rules).
	judging []string
	est     estimateFlags
}

func newReportCmd(streams Streams) *cobra.Command {
	o := reportOptions{baseline: loadgen.DefaultPhase, format: "text"}
	cmd := &cobra.Command{
		Use:   "report RUN_DIR",
		Short: "Judge a run folder's phases against its baseline and render the report",
		Long: `Rebuild a run's report from what its folder recorded (also of an
interrupted run or a results file cut short): every phase is judged against
the baseline phase. The report is written into the folder as report.json,
report.html, report.md and junit.xml, and printed to stdout in --output format.

With --export-vegeta DIR the command judges nothing: it writes one vegeta
results file per phase into DIR (PHASE.bin, the phase as the attack name), so
that "vegeta plot DIR/*.bin" draws one series per phase on the real time
axis. DIR must be new or empty unless --force.

Exit status: 0 pass, 1 fail, 2 bad input, 3 inconclusive, 4 the reports could
not be written into the folder (--no-write prints only).`,
		Example: `  rehearse report runs/kubeadm-20260507-a1b2c3
  rehearse report runs/drill --baseline baseline -o markdown --no-write
  rehearse report runs/drill --export-vegeta runs/drill-plot && vegeta plot runs/drill-plot/*.bin > plot.html`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return badInput(fmt.Errorf("report takes one RUN_DIR, got %d argument(s)", len(args)))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			c.Flags().Visit(func(f *pflag.Flag) {
				switch f.Name {
				case "output", "no-write", "export-vegeta", "force", "nodes", "pools", "max-unavailable":
				default:
					o.judging = append(o.judging, "--"+f.Name)
				}
			})
			if o.export != "" {
				return runExportVegeta(streams, args[0], o)
			}
			if o.force {
				return badInput(errors.New("--force: only with --export-vegeta"))
			}
			return runReport(streams, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.baseline, "baseline", o.baseline, "phase the others are judged against")
	f.StringVarP(&o.format, "output", "o", o.format, "format printed to stdout: "+strings.Join(report.FormatNames(), ", "))
	f.BoolVar(&o.noWrite, "no-write", false, "print only; write no files into the run folder")
	f.StringVar(&o.export, "export-vegeta", "", "write one vegeta results file per phase into this folder and judge nothing")
	o.est.add(f)
	f.BoolVar(&o.force, "force", false, "with --export-vegeta, write into a folder that is not empty, overwriting its phase files")
	addRuleFlags(cmd, &o.rules)
	return cmd
}

func runReport(streams Streams, dir string, o reportOptions) error {
	render, rules, err := reportSettings(o.format, o.rules)
	if err != nil {
		return err
	}
	var rep *report.Report
	if rehearse.IsRunFolder(dir) {
		// A rehearsal's folder: timeline, upgrade and checklist join the
		// verdict, judged with the scenario's thresholds.
		if len(o.judging) > 0 {
			return badInput(fmt.Errorf("%s: a rehearsal's folder is judged against its baseline with the thresholds of its scenario.yaml (checks.judge); %s do not apply", dir, strings.Join(o.judging, ", ")))
		}
		rep, err = rehearse.Rereport(dir)
		if err != nil {
			return badInput(err)
		}
		est, err := o.est.options()
		if err != nil {
			return err
		}
		if est != nil {
			l := rehearse.ScenarioLoader()
			l.Recorded = true
			sc, err := l.Load(filepath.Join(dir, rehearse.ScenarioFile))
			if err != nil {
				return badInput(err)
			}
			if err := rehearse.AddEstimate(rep, sc, *est); err != nil {
				return badInput(fmt.Errorf("--nodes: %w", err))
			}
		}
		warnTruncated(streams, rep.Runs...)
	} else {
		if est, err := o.est.options(); err != nil {
			return err
		} else if est != nil {
			return badInput(fmt.Errorf("--nodes and --pools estimate from a rehearsal's timeline: %s is not a rehearsal's run folder", dir))
		}
		m, err := report.Load(dir, report.LoadOptions{})
		if err != nil {
			return badInput(err)
		}
		warnTruncated(streams, m)
		if rep, err = report.JudgeRun(m, o.baseline, rules); err != nil {
			return badInput(err)
		}
	}
	if !o.noWrite {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			written, err := report.WriteFiles(dir, rep, []string{"json", "html", "markdown", "junit"})
			if err != nil {
				return fmt.Errorf("write the reports into %s (--no-write prints only): %w", dir, err)
			}
			fmt.Fprintf(streams.Err, "reports written: %s\n", strings.Join(written, ", "))
		}
	}
	var buf bytes.Buffer
	if err := render(&buf, rep); err != nil {
		return fmt.Errorf("render %s: %w", o.format, err)
	}
	if _, err := streams.Out.Write(buf.Bytes()); err != nil {
		return err
	}
	if code := report.ExitCode(rep.Verdict); code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

// runExportVegeta splits the recording's results into one vegeta results
// file per phase.
func runExportVegeta(streams Streams, src string, o reportOptions) error {
	if len(o.judging) > 0 {
		return badInput(fmt.Errorf("--export-vegeta judges nothing; %s do not apply", strings.Join(o.judging, ", ")))
	}
	if _, err := loadgen.ResolveResults(src); err != nil {
		return badInput(err)
	}
	exported, err := loadgen.ExportPhases(src, o.export, o.force)
	var srcErr *loadgen.ExportSourceError
	switch {
	case errors.Is(err, loadgen.ErrExportDirNotEmpty):
		return badInput(fmt.Errorf("--export-vegeta: %w; name a new folder, or pass --force to overwrite its phase files", err))
	case errors.As(err, &srcErr):
		return badInput(err)
	}
	for _, e := range exported {
		fmt.Fprintf(streams.Out, "%s\t%d results\t%s\n", e.Phase, e.Results, e.Path)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(streams.Err, "plot the phases on one time axis: vegeta plot %s > plot.html\n", filepath.Join(o.export, "*"+loadgen.ExportExt))
	return nil
}
