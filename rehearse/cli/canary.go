package cli

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/canary"
)

func newCanaryCmd(streams Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "canary",
		Short: "The canary application that load is sent to",
	}
	cmd.AddCommand(newCanaryServeCmd(streams), newCanaryDeployCmd(streams), newCanaryDeleteCmd(streams))
	return cmd
}

func newCanaryServeCmd(streams Streams) *cobra.Command {
	cfg := canary.Config{
		Addr:            canary.DefaultAddr,
		DrainDelay:      canary.DefaultDrainDelay,
		ShutdownTimeout: canary.DefaultShutdownTimeout,
	}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the canary: / names pod, node and version; /healthz; /readyz",
		Long: `Serve the canary web application.

"/" answers JSON naming the pod, node, namespace and version (from the
downward API variables POD_NAME, NODE_NAME, POD_NAMESPACE, POD_IP) and the
server time; /healthz is liveness, /readyz readiness. On SIGTERM, or on a
GET of /drain carrying "X-Canary-Drain: preStop" (the preStop hook of the
canary's Deployment), the canary turns /readyz to 503 and keeps serving for
--drain-delay with "Connection: close"; after SIGTERM it then shuts down
gracefully (without a second wait when the hook already drained it). --delay, --jitter, --fail-rate and --fail-after
inject latency and failures for drills and tests.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg.Version = rehearse.Version()
			cfg.Identity = canary.IdentityFromEnv(os.Getenv)
			cfg.Logger = slog.New(slog.NewTextHandler(streams.Err, nil))
			if err := cfg.Validate(); err != nil {
				return badInput(err)
			}
			return canary.Serve(c.Context(), cfg, nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "address to listen on")
	f.DurationVar(&cfg.Delay, "delay", 0, "latency added to every / answer")
	f.DurationVar(&cfg.Jitter, "jitter", 0, "extra random latency, uniform in [0, jitter)")
	f.Float64Var(&cfg.FailRate, "fail-rate", 0, "fraction of / requests answered 503")
	f.DurationVar(&cfg.FailAfter, "fail-after", 0, "start failing only after this long (all requests when --fail-rate is 0)")
	f.DurationVar(&cfg.DrainDelay, "drain-delay", cfg.DrainDelay, "how long to keep serving, not ready, once the drain starts (SIGTERM or the preStop hook)")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "bound for finishing in-flight requests after the drain")
	f.DurationVar(&cfg.StartupDelay, "startup-delay", 0, "answer /readyz 503 for this long after start, like an application warming up")
	f.Uint64Var(&cfg.Seed, "seed", 0, "seed for injected jitter and failures (0: random)")
	f.StringVar(&cfg.DrainAddr, "drain-addr", "", "listen address of the drain path alone, for the pod's preStop hook; keep it out of every Service")
	return cmd
}
