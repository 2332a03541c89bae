package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/report"
)

type compareOptions struct {
	format string
	out    string
	phase  string
	rules  report.Rules
}

func newCompareCmd(streams Streams) *cobra.Command {
	o := compareOptions{format: "text"}
	cmd := &cobra.Command{
		Use:   "compare BASELINE CANDIDATE",
		Short: "Compare two recordings and judge whether the candidate got worse",
		Long: `Compare a candidate recording with a baseline recording. Each argument is a
run folder written by "rehearse load" or a plain vegeta results file (gob,
JSON or CSV; "-" reads one from stdin), each taken whole as one phase.
Latency distributions are compared with Kolmogorov-Smirnov and Mann-Whitney
tests, the p99 ratio with a bootstrap interval, failure ratios with a test
that is right for sparse counts, and outages by their length.

When both are rehearsals' run folders ("rehearse run"), they are compared
phase by phase: the candidate's upgrade against the baseline's upgrade, after
against after, baseline against baseline (--phase picks one), and the
upgrade steps' durations side by side, matched by name and node role
(worker2, control-plane), since cluster names differ between runs. Text, JSON
and Markdown show the steps; JUnit and HTML the judged phases.

Exit status: 0 pass, 1 fail, 2 bad input, 3 inconclusive, 4 the report could
not be written.`,
		Example: `  rehearse compare runs/before runs/after
  rehearse compare before.bin after.bin -o html --out report.html
  rehearse compare runs/kubeadm-20260501 runs/kubeadm-20260507 --phase upgrade
  vegeta attack ... | vegeta encode | rehearse compare before.bin -`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 2 {
				return badInput(fmt.Errorf("compare takes BASELINE and CANDIDATE, got %d argument(s)", len(args)))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			return runCompare(streams, args[0], args[1], o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.format, "output", "o", o.format, "report format: "+strings.Join(report.FormatNames(), ", "))
	f.StringVar(&o.out, "out", "", "write the report to this file instead of stdout")
	f.StringVar(&o.phase, "phase", "", "judge this phase alone (two rehearsals' run folders)")
	addRuleFlags(cmd, &o.rules)
	return cmd
}

func addRuleFlags(cmd *cobra.Command, r *report.Rules) {
	f := cmd.Flags()
	r.MaxErrorRateIncrease, r.MaxP99Ratio, r.Alpha = report.DefaultMaxErrorRateIncrease, report.DefaultMaxP99Ratio, report.DefaultAlpha
	f.Int64Var(&r.MinSamples, "min-samples", report.DefaultMinSamples, "fewest requests per side for a conclusive verdict")
	f.Var((*finiteFloat)(&r.MaxErrorRateIncrease), "max-error-increase", "largest tolerated rise of the failure ratio (0.001 = 0.1 point)")
	f.Var((*finiteFloat)(&r.MaxP99Ratio), "max-p99-ratio", "largest tolerated candidate/baseline p99 ratio")
	f.DurationVar(&r.MinP99Increase, "min-p99-increase", report.DefaultMinP99Increase, "p99 rises smaller than this never fail")
	f.DurationVar(&r.MaxOutage, "max-outage", report.DefaultMaxOutage, "longest tolerated span of consecutive failures")
	f.Var((*finiteFloat)(&r.Alpha), "alpha", "significance level of the tests")
}

// finiteFloat is a float flag that refuses NaN and the infinities, which
// strconv.ParseFloat reads and no threshold means: a NaN compares false
// with everything and would pass every rule.
type finiteFloat float64

func (f *finiteFloat) String() string { return strconv.FormatFloat(float64(*f), 'g', -1, 64) }

// Type implements pflag.Value.
func (f *finiteFloat) Type() string { return "float" }

// Set implements pflag.Value.
func (f *finiteFloat) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return errors.New("want a finite number")
	}
	*f = finiteFloat(v)
	return nil
}

// reportSettings checks the output format and the rule flags of a command
// that renders a report.
func reportSettings(format string, flags report.Rules) (report.Renderer, report.Rules, error) {
	render, err := report.RendererFor(format)
	if err != nil {
		return nil, flags, badInput(fmt.Errorf("--output: %w", err))
	}
	rules, err := settleRules(flags)
	if err != nil {
		return nil, flags, badInput(fmt.Errorf("--%w", err))
	}
	return render, rules, nil
}

// warnTruncated says on stderr which recordings were cut short and what was lost.
func warnTruncated(streams Streams, ms ...*report.Metrics) {
	for _, m := range ms {
		if m.Read != nil && m.Read.Dropped > 0 {
			fmt.Fprintf(streams.Err, "warning: %s was cut short: %d records read, %d trailing bytes dropped (%s)\n",
				m.Read.Path, m.Read.Records, m.Read.Dropped, m.Read.TailErr)
		}
	}
}

// settleRules turns explicit zero thresholds into zero tolerance.
func settleRules(r report.Rules) (report.Rules, error) {
	if r.MaxErrorRateIncrease == 0 {
		r.ZeroErrorIncrease = true
	}
	if r.MaxOutage == 0 {
		r.ZeroOutage = true
	}
	if err := r.Validate(); err != nil {
		return r, err
	}
	if r.MinP99Increase == 0 {
		r.MinP99Increase = time.Nanosecond
	}
	return r, nil
}

func runCompare(streams Streams, basePath, candPath string, o compareOptions) error {
	render, rules, err := reportSettings(o.format, o.rules)
	if err != nil {
		return err
	}
	if rehearse.IsRunFolder(basePath) && rehearse.IsRunFolder(candPath) {
		return compareRuns(streams, basePath, candPath, o, rules)
	}
	if o.phase != "" {
		return badInput(fmt.Errorf("--phase: picks a phase of two rehearsals' run folders; %s", notRunFolders(basePath, candPath)))
	}
	if basePath == "-" && candPath == "-" {
		return badInput(errors.New("compare: only one of BASELINE and CANDIDATE can be - (stdin)"))
	}
	base, err := loadCompared(streams, basePath, "baseline")
	if err != nil {
		return err
	}
	cand, err := loadCompared(streams, candPath, "candidate")
	if err != nil {
		return err
	}
	warnTruncated(streams, base, cand)
	rep, err := report.Compare(base, cand, rules)
	if err != nil {
		return badInput(err)
	}
	var buf bytes.Buffer
	if err := render(&buf, rep); err != nil {
		return fmt.Errorf("render %s: %w", o.format, err)
	}
	return writeCompared(streams, buf.Bytes(), o, rep.Verdict)
}

// compareRuns judges two rehearsals' run folders phase by phase.
func compareRuns(streams Streams, a, b string, o compareOptions, rules report.Rules) error {
	render, err := report.RunsRendererFor(o.format)
	if err != nil {
		return badInput(fmt.Errorf("--output: %w", err))
	}
	rc, err := report.CompareRuns(a, b, report.RunsOptions{Phase: o.phase, Rules: rules})
	if err != nil {
		if errors.Is(err, report.ErrNoSuchPhase) {
			return badInput(fmt.Errorf("--phase: %w", err))
		}
		return badInput(err)
	}
	warnTruncated(streams, rc.Report.Runs...)
	var buf bytes.Buffer
	if err := render(&buf, rc); err != nil {
		return fmt.Errorf("render %s: %w", o.format, err)
	}
	return writeCompared(streams, buf.Bytes(), o, rc.Report.Verdict)
}

// notRunFolders says which of the paths is not a rehearsal's run folder.
func notRunFolders(paths ...string) string {
	var not []string
	for _, p := range paths {
		if !rehearse.IsRunFolder(p) {
			not = append(not, p)
		}
	}
	if len(not) == 1 {
		return fmt.Sprintf("%s holds no %s", not[0], rehearse.ScenarioFile)
	}
	return fmt.Sprintf("%s hold no %s", strings.Join(not, " and "), rehearse.ScenarioFile)
}

// loadCompared reads one side of a comparison as one phase named what;
// path "-" is a results file on stdin.
func loadCompared(streams Streams, path, what string) (*report.Metrics, error) {
	src := path
	if path == "-" {
		tmp, err := spoolStdin(streams.In)
		if err != nil {
			return nil, fmt.Errorf("%s: read stdin: %w", what, err)
		}
		defer os.Remove(tmp)
		src = tmp
	}
	m, err := report.Load(src, report.LoadOptions{Phase: what})
	if err != nil {
		if path == "-" {
			err = errors.New(strings.ReplaceAll(err.Error(), src, "stdin"))
		}
		return nil, badInput(fmt.Errorf("%s: %w", what, err))
	}
	if path == "-" {
		m.Source = "stdin"
		if m.Read != nil {
			m.Read.Path = "stdin"
		}
	}
	return m, nil
}

// spoolStdin copies stdin into a temporary file, since a gob results file
// is read at random offsets, and returns its path.
func spoolStdin(in io.Reader) (string, error) {
	if in == nil {
		in = strings.NewReader("")
	}
	f, err := os.CreateTemp("", "rehearse-stdin-*.results")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, in)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// writeCompared writes a rendered comparison to --out or stdout and turns
// the verdict into the exit code.
func writeCompared(streams Streams, b []byte, o compareOptions, verdict report.Outcome) error {
	if o.out != "" {
		if err := os.WriteFile(o.out, b, 0o644); err != nil {
			return fmt.Errorf("write the %s report: %w", o.format, err)
		}
		fmt.Fprintf(streams.Err, "%s report written to %s: verdict %s\n", o.format, o.out, verdict)
	} else if _, err := streams.Out.Write(b); err != nil {
		return err
	}
	if code := report.ExitCode(verdict); code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}
