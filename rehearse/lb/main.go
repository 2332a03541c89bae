package lb

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// pollInterval is how often Main rereads the LDS and CDS files.
const pollInterval = 500 * time.Millisecond

// Main is the stand-in's `envoy` program. args are the command-line
// arguments without the program name, as Envoy takes them: the bootstrap
// comes from -c PATH or --config-path PATH (also -c=PATH, --config-path=PATH);
// --version prints a version line; every other flag is accepted and ignored
// together with its value (-l info, --log-level debug, --base-id 1,
// --concurrency 2, ...).
//
// Main reads the bootstrap, then serves the LDS and CDS files it names,
// rereading them every 500 ms and applying any change, until SIGTERM or
// SIGINT (exit status 0). A missing -c, an unreadable bootstrap, a bootstrap
// naming no CDS or LDS file, or a CDS or LDS file missing at start are fatal
// (a message on stderr, exit status 1), as they are for Envoy. CDS or LDS
// content it cannot use is logged and the previous configuration kept. Log
// lines go to stdout.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return run(ctx, args, stdout, stderr, pollInterval)
}

type options struct {
	configPath string
	version    bool
}

func parseArgs(args []string) (options, error) {
	var o options
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			return o, fmt.Errorf("unexpected argument %q", a)
		}
		if a == "--" {
			if i+1 < len(args) {
				return o, fmt.Errorf("unexpected argument %q", args[i+1])
			}
			break
		}
		name, val, hasVal := strings.Cut(a, "=")
		switch name {
		case "-c", "--config-path":
			if !hasVal {
				if i+1 >= len(args) {
					return o, fmt.Errorf("%s needs a value", name)
				}
				i++
				val = args[i]
			}
			if val == "" {
				return o, fmt.Errorf("%s needs a value", name)
			}
			o.configPath = val
		case "--version":
			o.version = true
		default:
			// Envoy takes no positional arguments, so a word after a
			// flag is that flag's value.
			if !hasVal && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
			}
		}
	}
	if o.configPath == "" && !o.version {
		return o, fmt.Errorf("no bootstrap: give -c PATH or --config-path PATH")
	}
	return o, nil
}

// run is Main with the end of the program given as ctx.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, poll time.Duration) int {
	fatal := func(err error) int {
		fmt.Fprintf(stderr, "envoy: %v\n", err)
		return 1
	}
	o, err := parseArgs(args)
	if err != nil {
		return fatal(err)
	}
	if o.version {
		fmt.Fprintln(stdout, "envoy version: rehearse stand-in (TCP proxy with HTTP health checks, reads kind's bootstrap, LDS and CDS files)")
		return 0
	}
	data, err := os.ReadFile(o.configPath)
	if err != nil {
		return fatal(fmt.Errorf("bootstrap: %w", err))
	}
	boot, err := parseBootstrap(o.configPath, data)
	if err != nil {
		return fatal(err)
	}
	w := &watcher{
		files: [2]watchedFile{
			{role: "lds", field: "dynamic_resources.lds_config.path_config_source.path", path: boot.ldsPath},
			{role: "cds", field: "dynamic_resources.cds_config.path_config_source.path", path: boot.cdsPath},
		},
	}
	for _, f := range w.files {
		if _, err := os.Stat(f.path); err != nil {
			return fatal(fmt.Errorf("bootstrap %s: %s: %s file: %w", o.configPath, f.field, f.role, err))
		}
	}

	b := NewBalancer(stdout)
	w.b = b
	if err := b.start(ctx); err != nil {
		return fatal(err)
	}
	defer b.stop()
	b.logf("bootstrap %s: node cluster %q id %q, lds %s, cds %s", o.configPath, boot.nodeCluster, boot.nodeID, boot.ldsPath, boot.cdsPath)
	w.poll()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			b.logf("shutting down")
			return 0
		case <-t.C:
			w.poll()
		}
	}
}

type watchedFile struct {
	role, field, path string
}

// watcher feeds the content of the LDS and CDS files to a Balancer.
type watcher struct {
	b        *Balancer
	files    [2]watchedFile // lds, cds
	seen     [2][]byte      // content last parsed
	haveSeen bool
	cfg      Config // last Config parsed
	retry    bool   // the last Apply failed; apply cfg again
	readErr  string // last read error logged, not to repeat it every poll
	applyErr string // likewise for Apply
}

// poll rereads both files and applies their content when it changed, or
// retries the last Config when applying it failed.
func (w *watcher) poll() {
	var now [2][]byte
	for i, f := range w.files {
		data, err := os.ReadFile(f.path)
		if err != nil {
			if msg := err.Error(); msg != w.readErr {
				w.readErr = msg
				w.b.logf("%s file: %v (keeping the previous configuration)", f.role, err)
			}
			return
		}
		now[i] = data
	}
	w.readErr = ""
	if w.haveSeen && bytes.Equal(now[0], w.seen[0]) && bytes.Equal(now[1], w.seen[1]) {
		if w.retry {
			w.apply()
		}
		return
	}
	w.seen, w.haveSeen = now, true
	cfg, err := ParseFiles(now[0], now[1])
	if err != nil {
		w.b.logf("configuration rejected, keeping the previous one: %v", err)
		return
	}
	w.cfg = cfg
	w.applyErr = ""
	w.apply()
}

func (w *watcher) apply() {
	err := w.b.Apply(w.cfg)
	w.retry = err != nil
	if err == nil {
		w.applyErr = ""
		return
	}
	if msg := err.Error(); msg != w.applyErr {
		w.applyErr = msg
		w.b.logf("%v (retrying)", err)
	}
}
