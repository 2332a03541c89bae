package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/report"
)

// reportFiles are the files `rehearse report` writes into a run folder.
var reportFiles = map[string]string{
	"json":     "report.json",
	"html":     "report.html",
	"markdown": "report.md",
	"junit":    "junit.xml",
}

type reportOptions struct {
	baseline string
	format   string
	noWrite  bool
	rules    report.Rules
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

Exit status: 0 pass, 1 fail, 2 bad input, 3 inconclusive.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return badInput(fmt.Errorf("report takes one RUN_DIR, got %d argument(s)", len(args)))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
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
	m, err := report.Load(dir, report.LoadOptions{})
	if err != nil {
		return badInput(err)
	}
	warnTruncated(streams, m)
	rep, err := report.JudgeRun(m, o.baseline, rules)
	if err != nil {
		return badInput(err)
	}
	if !o.noWrite {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			if err := writeReports(dir, rep); err != nil {
				return err
			}
			fmt.Fprintf(streams.Err, "reports written to %s: %s\n", dir, strings.Join(sortedValues(reportFiles), ", "))
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

// writeReports renders the report in every file format into dir.
func writeReports(dir string, rep *report.Report) error {
	for format, name := range reportFiles {
		render, err := report.RendererFor(format)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := render(&buf, rep); err != nil {
			return fmt.Errorf("render %s: %w", format, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func sortedValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
