package cli

import (
	"bytes"
	"fmt"
	"os"
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
	rules    report.Rules
	// judging are the judging flags given (baseline and rules).
	judging []string
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

Exit status: 0 pass, 1 fail, 2 bad input, 3 inconclusive, 4 the reports could
not be written into the folder (--no-write prints only).`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return badInput(fmt.Errorf("report takes one RUN_DIR, got %d argument(s)", len(args)))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			c.Flags().Visit(func(f *pflag.Flag) {
				if f.Name != "output" && f.Name != "no-write" {
					o.judging = append(o.judging, "--"+f.Name)
				}
			})
			return runReport(streams, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.baseline, "baseline", o.baseline, "phase the others are judged against")
	f.StringVarP(&o.format, "output", "o", o.format, "format printed to stdout: "+strings.Join(report.FormatNames(), ", "))
	f.BoolVar(&o.noWrite, "no-write", false, "print only; write no files into the run folder")
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
		warnTruncated(streams, rep.Runs...)
	} else {
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
