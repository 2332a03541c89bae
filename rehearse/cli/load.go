package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/generators"
	"github.com/rehearse/rehearse/report"
)

type loadOptions struct {
	targets    []string
	host       string
	rate       rateFlag
	duration   time.Duration
	out        string
	phase      string
	switches   []string
	probes     []string
	timeout    time.Duration
	maxWorkers uint64
	startAt    string
	spool      string
	serve      string
	progressFlags
	force bool
}

func newLoadCmd(streams Streams) *cobra.Command {
	o := loadOptions{rate: rateFlag(loadgen.DefaultRate), phase: loadgen.DefaultPhase, timeout: loadgen.DefaultTimeout, maxWorkers: loadgen.DefaultMaxWorkers}
	cmd := &cobra.Command{
		Use:   "load --target URL [--target URL ...] --rate N --duration D --out DIR",
		Short: "Send open-loop constant-rate load and record every result",
		Long: `Send open-loop, constant-rate HTTP load to targets in rotation, with two
probe kinds side by side (reused keep-alive connections and a fresh connection
per request), and record every result to DIR/results.bin in vegeta's own
encoding (so "vegeta report" and "vegeta plot" read it) and the statistics to
DIR/summary.json. Requests the generator could not send on schedule are
counted, never hidden. DIR must be new or empty unless --force; what the
command creates only its owner may read (results can name hosts and carry
answers).

Ctrl-C (or SIGTERM, or the terminal closing) stops the load; what was
recorded is kept, and the command says it was interrupted and exits 3.

Exit status: 0 the load ran its --duration (or until Ctrl-C with
--duration 0), 2 bad input, 3 interrupted, 4 the results could not be
written or another failure of the machine.`,
		Example: `  rehearse load --target http://127.0.0.1:8080/ --rate 200 --duration 30s --out runs/before
  rehearse load --target http://10.0.0.1:30080/ --target http://10.0.0.2:30080/ \
      --rate 100/1s --duration 90s --phase-switch 30s=upgrade --phase-switch 60s=after --out runs/drill`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runLoad(c.Context(), streams, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.targets, "target", nil, "target URL (repeat for a rotation)")
	f.StringVar(&o.host, "host", "", "Host header of every request (the virtual host an ingress controller routes), e.g. canary.rehearse.test")
	f.Var(&o.rate, "rate", "total requests per second, split over the probe kinds, as N or N/DURATION (e.g. 100 or 100/1s, as vegeta spells it)")
	f.DurationVar(&o.duration, "duration", 30*time.Second, "how long to send (0: until Ctrl-C)")
	f.StringVar(&o.out, "out", "", "run folder to write results.bin and summary.json to (required); - streams every result as a line of vegeta's JSON to standard output, then the accounting, as an in-cluster generator does")
	f.StringVar(&o.phase, "phase", o.phase, "phase name that tags the requests")
	f.StringArrayVar(&o.switches, "phase-switch", nil, "switch phase at an offset, as OFFSET=NAME (e.g. 30s=upgrade); repeatable")
	f.StringSliceVar(&o.probes, "probes", []string{string(loadgen.ProbeReuse), string(loadgen.ProbeFresh)}, "probe kinds: reuse (keep-alive), fresh (new connection per request)")
	f.DurationVar(&o.timeout, "timeout", o.timeout, "timeout of one request")
	f.Uint64Var(&o.maxWorkers, "max-workers", o.maxWorkers, "most concurrent requests per probe kind")
	o.addProgressFlags(f, "a progress line every second even when stderr is not a terminal (else every 10s), and each phase switch")
	f.StringVar(&o.startAt, "start-at", "", "start sending at this instant (RFC 3339, e.g. 2026-12-02T12:00:00Z), as generators started together do; a past instant starts at once")
	f.BoolVar(&o.force, "force", false, "write into a run folder that is not empty, overwriting its results")
	f.StringVar(&o.spool, "spool", "", "with --out -: also keep every line in this file (appended to, so a restarted generator continues it), each prefixed with the instant it was written")
	f.StringVar(&o.serve, "serve", "", "with --spool: serve the spool on this address (e.g. :9090) at "+generators.ResultsPath+"?from=BYTE, and once the accounting is written keep serving until it was read to the end (at most "+generators.Linger.String()+")")
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
	if err := o.progressFlags.check(); err != nil {
		return badInput(err)
	}
	switches, err := parseSwitches(o.switches)
	if err != nil {
		return badInput(err)
	}
	// A zero rate would be the default rate to loadgen: refuse it here.
	if rate := float64(o.rate); !(rate > 0) {
		return badInput(fmt.Errorf("--rate: %v: want a positive number of requests per second", rate))
	}
	spec := loadgen.Spec{Targets: o.targets, Host: o.host, Rate: float64(o.rate), Duration: o.duration, Timeout: o.timeout, MaxWorkers: o.maxWorkers, Phase: o.phase}
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
	if (o.spool != "" || o.serve != "") && o.out != "-" {
		return badInput(errors.New("--spool and --serve: only with --out -"))
	}
	if o.serve != "" && o.spool == "" {
		return badInput(errors.New("--serve: needs --spool, the file it serves"))
	}
	if o.startAt != "" {
		at, err := time.Parse(time.RFC3339Nano, o.startAt)
		if err != nil {
			return badInput(fmt.Errorf("--start-at %q: want an instant in RFC 3339, e.g. 2026-12-02T12:00:00Z", o.startAt))
		}
		select {
		case <-ctx.Done():
			return &ExitError{Code: ExitInconclusive, Err: errors.New("interrupted before --start-at: nothing was sent")}
		case <-time.After(time.Until(at)):
		}
	}
	if o.out == "-" {
		return streamLoad(ctx, streams, atk, o.spool, o.serve)
	}
	rec, err := createResults(o.out, o.force)
	if err != nil {
		return err
	}
	col := report.NewCollector(report.CollectorOptions{ReorderWindow: o.timeout + time.Second})

	terminal := isTerminal(streams.Err)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		next := 0
		var lastLine time.Time
		for {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
			}
			for next < len(switches) && time.Since(start) >= switches[next].at {
				_ = atk.SetPhase(switches[next].name)
				if o.verbose {
					fmt.Fprintf(streams.Err, "%sphase %s from %s\n", clearLine(terminal), switches[next].name, switches[next].at)
				}
				next++
			}
			if o.quiet {
				continue
			}
			s := atk.Snapshot()
			line := fmt.Sprintf("%-10s %6.0fs  sent %-8d errors %-6d late %-6d", s.Phase, s.Elapsed.Seconds(), s.Sent, s.Errors, s.Late)
			switch {
			case terminal:
				fmt.Fprint(streams.Err, "\r"+line)
			case o.verbose || time.Since(lastLine) >= plainProgressEvery:
				fmt.Fprintln(streams.Err, strings.TrimRight(line, " "))
				lastLine = time.Now()
			}
		}
	}()
	acc, runErr := atk.Run(runCtx, rec, col)
	// With --duration 0 the load runs until it is stopped: that is its end.
	interrupted := ctx.Err() != nil && o.duration > 0
	cancel()
	<-done
	if !o.quiet && terminal {
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
	if err := printLoadSummary(streams, o.out, m, acc); err != nil {
		return err
	}
	if interrupted {
		return &ExitError{Code: ExitInconclusive, Err: fmt.Errorf("interrupted after %.1fs of --duration %s: the %d results recorded are kept in %s",
			acc.Seconds, o.duration, rec.Count(), o.out)}
	}
	return nil
}

// streamLoad is `rehearse load --out -`, an in-cluster generator: every
// result as a line of vegeta's JSON on standard output, flushed at least
// every second, until the duration ends or the process is stopped
// (SIGTERM, as when its pod is deleted); then one line with the accounting.
// With a spool every line also goes to the spool file, served on addr
// until it has been read to its end.
func streamLoad(ctx context.Context, streams Streams, atk *loadgen.Attack, spoolPath, addr string) error {
	out := streams.Out
	var spool *generators.Spool
	if spoolPath != "" {
		var err error
		if spool, err = generators.OpenSpool(spoolPath); err != nil {
			return err
		}
		defer spool.Close()
		out = io.MultiWriter(streams.Out, spool)
		if addr != "" {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("--serve %s: %w", addr, err)
			}
			srv := &http.Server{Handler: spool, ReadHeaderTimeout: 10 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			defer srv.Close()
		}
	}
	rec := loadgen.NewJSONRecorder(out).FlushEvery(loadgen.FlushInterval)
	acc, runErr := atk.Run(ctx, rec)
	if err := errors.Join(runErr, rec.Stop()); err != nil {
		return err
	}
	b, err := json.Marshal(loadgen.StreamEnd{Accounting: acc})
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := streams.Out.Write(b); err != nil {
		return err
	}
	if spool != nil {
		if err := spool.WriteEnd(b); err != nil {
			return err
		}
		if addr != "" {
			spool.WaitRead(generators.Linger)
		}
	}
	return nil
}

// createResults makes the run folder out (mode loadgen.ResultsDirMode) and
// its results file. A folder that is not empty is refused unless force, so
// that no earlier run is overwritten by accident.
func createResults(out string, force bool) (*loadgen.Recorder, error) {
	path := filepath.Join(out, loadgen.ResultsFile)
	if err := checkOutFolder(out, force, "name a new folder, or pass --force to overwrite its results"); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, loadgen.ResultsDirMode); err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	if force {
		return loadgen.ReplaceRecorder(path)
	}
	rec, err := loadgen.CreateRecorder(path)
	if errors.Is(err, fs.ErrExist) {
		// Another writer made it since the folder was found empty.
		return nil, badInput(fmt.Errorf("--out %s: %s appeared meanwhile; pass --force to overwrite it", out, loadgen.ResultsFile))
	}
	return rec, err
}

// checkOutFolder refuses an --out that is a file, or, unless force, a folder
// that is not empty, saying hint; a folder that does not exist yet is fine.
func checkOutFolder(out string, force bool, hint string) error {
	st, err := os.Stat(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("run folder: %w", err)
	case !st.IsDir():
		return badInput(fmt.Errorf("--out %s: not a folder", out))
	case force:
		return nil
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return fmt.Errorf("run folder: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	names := make([]string, 0, 4)
	for _, e := range entries[:min(len(entries), 3)] {
		names = append(names, e.Name())
	}
	if len(entries) > 3 {
		names = append(names, "...")
	}
	return badInput(fmt.Errorf("--out %s: the folder is not empty (%s); %s", out, strings.Join(names, ", "), hint))
}

// rateFlag is --rate in requests per second, given as N or, as vegeta
// spells it, N/DURATION (100/1s, 5/100ms, 30/m).
type rateFlag float64

func (r *rateFlag) String() string { return strconv.FormatFloat(float64(*r), 'g', -1, 64) }

// Type implements pflag.Value.
func (r *rateFlag) Type() string { return "rate" }

// Set implements pflag.Value.
func (r *rateFlag) Set(s string) error {
	v, err := parseRate(s)
	if err != nil {
		return err
	}
	*r = rateFlag(v)
	return nil
}

// parseRate reads N or N/DURATION as requests per second. N must be a
// finite number; its sign is checked with the other settings.
func parseRate(s string) (float64, error) {
	freq, per, hasPer := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(freq, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, errors.New("want a finite number of requests, as N per second or N/DURATION (e.g. 100 or 100/1s)")
	}
	if !hasPer {
		return n, nil
	}
	if per != "" && (per[0] < '0' || per[0] > '9') {
		per = "1" + per // 100/s, as vegeta reads it
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q after the slash is not a positive duration like 1s", per)
	}
	return n / d.Seconds(), nil
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
