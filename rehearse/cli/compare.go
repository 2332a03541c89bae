package cli

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rehearse/rehearse/report"
)

type compareOptions struct {
	format string
	out    string
	rules  report.Rules
}

func newCompareCmd(streams Streams) *cobra.Command {
	o := compareOptions{format: "text"}
	cmd := &cobra.Command{
		Use:   "compare BASELINE CANDIDATE",
		Short: "Compare two recordings and judge whether the candidate got worse",
		Long: `Compare a candidate recording with a baseline recording. Each argument is a
run folder written by "rehearse load" or a plain vegeta results file (gob,
JSON or CSV). Latency distributions are compared with Kolmogorov-Smirnov and
Mann-Whitney tests, the p99 ratio with a bootstrap interval, failure ratios
with a test that is right for sparse counts, and outages by their length.

Exit status: 0 pass, 1 fail, 2 bad input, 3 inconclusive, 4 the report could
not be written.`,
		Example: `  rehearse compare runs/before runs/after
  rehearse compare before.bin after.bin -o html --out report.html`,
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
	base, err := report.Load(basePath, report.LoadOptions{Phase: "baseline"})
	if err != nil {
		return badInput(fmt.Errorf("baseline: %w", err))
	}
	cand, err := report.Load(candPath, report.LoadOptions{Phase: "candidate"})
	if err != nil {
		return badInput(fmt.Errorf("candidate: %w", err))
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
	if o.out != "" {
		if err := os.WriteFile(o.out, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write the %s report: %w", o.format, err)
		}
		fmt.Fprintf(streams.Err, "%s report written to %s: verdict %s\n", o.format, o.out, rep.Verdict)
	} else if _, err := streams.Out.Write(buf.Bytes()); err != nil {
		return err
	}
	if code := report.ExitCode(rep.Verdict); code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}
