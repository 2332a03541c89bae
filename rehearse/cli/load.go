package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/report"
)

type loadOptions struct {
	targets    []string
	rate       float64
	duration   time.Duration
	out        string
	phase      string
	switches   []string
	probes     []string
	timeout    time.Duration
	maxWorkers uint64
	quiet      bool
}

func newLoadCmd(streams Streams) *cobra.Command {
	o := loadOptions{rate: loadgen.DefaultRate, phase: loadgen.DefaultPhase, timeout: loadgen.DefaultTimeout, maxWorkers: loadgen.DefaultMaxWorkers}
	cmd := &cobra.Command{
		Use:   "load --target URL [--target URL ...] --rate N --duration D --out DIR",
		Short: "Send open-loop constant-rate load and record every result",
		Long: `Send open-loop, constant-rate HTTP load to targets in rotation, with two
probe kinds side by side (reused keep-alive connections and a fresh connection
per request), and record every result to DIR/results.bin in vegeta's own
encoding (so "vegeta report" and "vegeta plot" read it) and the statistics to
DIR/summary.json. Requests the generator could not send on schedule are
counted, never hidden. Ctrl-C stops the load; what was recorded is kept.`,
		Example: `  rehearse load --target http://127.0.0.1:8080/ --rate 200 --duration 30s --out runs/before
  rehearse load --target http://10.0.0.1:30080/ --target http://10.0.0.2:30080/ \
      --rate 100 --duration 90s --phase-switch 30s=upgrade --phase-switch 60s=after --out runs/drill`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runLoad(c.Context(), streams, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.targets, "target", nil, "target URL (repeat for a rotation)")
	f.Float64Var(&o.rate, "rate", o.rate, "total requests per second, split over the probe kinds")
	f.DurationVar(&o.duration, "duration", 30*time.Second, "how long to send (0: until Ctrl-C)")
	f.StringVar(&o.out, "out", "", "run folder to write results.bin and summary.json to (required)")
	f.StringVar(&o.phase, "phase", o.phase, "phase name that tags the requests")
	f.StringArrayVar(&o.switches, "phase-switch", nil, "switch phase at an offset, as OFFSET=NAME (e.g. 30s=upgrade); repeatable")
	f.StringSliceVar(&o.probes, "probes", []string{string(loadgen.ProbeReuse), string(loadgen.ProbeFresh)}, "probe kinds: reuse (keep-alive), fresh (new connection per request)")
	f.DurationVar(&o.timeout, "timeout", o.timeout, "timeout of one request")
	f.Uint64Var(&o.maxWorkers, "max-workers", o.maxWorkers, "most concurrent requests per probe kind")
	f.BoolVar(&o.quiet, "quiet", false, "no progress on stderr")
	return cmd
}

type phaseSwitch struct {
	at   time.Duration
	name string
}

func parseSwitches(in []string) ([]phaseSwitch, error) {
	var out []phaseSwitch
	for _, s := range in {
		at, name, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--phase-switch %q: want OFFSET=NAME, e.g. 30s=upgrade", s)
		}
		d, err := time.ParseDuration(at)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("--phase-switch %q: offset %q is not a duration like 30s", s, at)
		}
		out = append(out, phaseSwitch{at: d, name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].at < out[j].at })
	return out, nil
}

func runLoad(ctx context.Context, streams Streams, o loadOptions) error {
	if o.out == "" {
		return badInput(errors.New("--out: a run folder is required"))
	}
	switches, err := parseSwitches(o.switches)
	if err != nil {
		return badInput(err)
	}
	spec := loadgen.Spec{Targets: o.targets, Rate: o.rate, Duration: o.duration, Timeout: o.timeout, MaxWorkers: o.maxWorkers, Phase: o.phase}
	for _, p := range o.probes {
		probe, err := loadgen.ParseProbe(p)
		if err != nil {
			return badInput(fmt.Errorf("--probes: %w", err))
		}
		spec.Probes = append(spec.Probes, probe)
	}
	atk, err := loadgen.New(spec)
	if err != nil {
		// The spec names its fields as the flags do, but for --target.
		msg := err.Error()
		if rest, ok := strings.CutPrefix(msg, "targets"); ok {
			msg = "target" + rest
		}
		return badInput(fmt.Errorf("--%s", msg))
	}
	for _, s := range switches {
		if err := loadgen.Spec.Validate(loadgen.Spec{Targets: []string{"http://x/"}, Phase: s.name}); err != nil {
			return badInput(fmt.Errorf("--phase-switch %s=%s: %w", s.at, s.name, err))
		}
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	rec, err := loadgen.CreateRecorder(filepath.Join(o.out, loadgen.ResultsFile))
	if err != nil {
		return err
	}
	col := report.NewCollector(report.CollectorOptions{ReorderWindow: o.timeout + time.Second})

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		next := 0
		for {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
			}
			for next < len(switches) && time.Since(start) >= switches[next].at {
				_ = atk.SetPhase(switches[next].name)
				next++
			}
			if !o.quiet {
				s := atk.Snapshot()
				fmt.Fprintf(streams.Err, "\r%-10s %6.0fs  sent %-8d errors %-6d late %-6d", s.Phase, s.Elapsed.Seconds(), s.Sent, s.Errors, s.Late)
			}
		}
	}()
	acc, runErr := atk.Run(runCtx, rec, col)
	cancel()
	<-done
	if !o.quiet {
		fmt.Fprintln(streams.Err)
	}
	closeErr := rec.Close()
	m := col.Close()
	m.Source = o.out
	m.Accounting = &acc
	if err := report.WriteSummary(o.out, m); err != nil {
		return errors.Join(runErr, closeErr, err)
	}
	if err := errors.Join(runErr, closeErr); err != nil {
		return err
	}
	if ctx.Err() != nil {
		fmt.Fprintf(streams.Err, "interrupted: %d results kept in %s\n", rec.Count(), o.out)
	}
	return printLoadSummary(streams, o.out, m, acc)
}

func printLoadSummary(streams Streams, out string, m *report.Metrics, acc loadgen.Accounting) error {
	w := streams.Out
	fmt.Fprintf(w, "recorded %d results to %s\n", acc.Sent, filepath.Join(out, loadgen.ResultsFile))
	fmt.Fprintf(w, "rate: target %.1f/s, achieved %.1f/s; scheduled %d, sent %d, missed %d, late %d (max lag %.1f ms)\n",
		acc.TargetRate, acc.AchievedRate, acc.Scheduled, acc.Sent, acc.Missed, acc.Late, acc.MaxLagMs)
	for _, p := range m.Phases {
		fmt.Fprintf(w, "%-10s requests %d, success %.2f%%, p50 %.2f ms, p99 %.2f ms, max %.2f ms, longest outage %.3fs\n",
			p.Name, p.Requests, p.SuccessRatio*100, p.Latency.P50Ms, p.Latency.P99Ms, p.Latency.MaxMs, p.Outages.LongestSeconds)
	}
	return nil
}
