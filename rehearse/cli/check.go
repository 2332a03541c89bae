package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/checklist"
	"github.com/rehearse/rehearse/rehearse/kube"
)

// reachTimeout bounds the first request that shows the API server answers.
const reachTimeout = 10 * time.Second

type checkOptions struct {
	apiFlags
	checklist     string
	expectVersion string
	format        string
	out           string
}

func newCheckCmd(streams Streams) *cobra.Command {
	o := checkOptions{checklist: "kind", format: "text"}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that a cluster's system components are healthy",
		Long: `Check a cluster's kube-system components against a checklist: a built-in one
(` + strings.Join(checklist.Names(), ", ") + `) or a YAML/JSON file of kind Checklist
(apiVersion ` + checklist.APIVersion + `). Every check also covers the nodes
(Ready, and the kubelet at --expect-version), every kube-system pod (none
Pending, crash-looping or not Ready) and every system-critical pod.

The check only reads the cluster (get and list).

Exit status: 0 pass, 1 fail, 2 bad input (unreadable kubeconfig, unknown
context, unreachable API server, unknown checklist, bad checklist file).`,
		Example: `  rehearse check --kubeconfig ~/.cache/rehearse/clusters/demo/kubeconfig
  rehearse check --kubeconfig K --context kind-demo --expect-version v1.36.3
  rehearse check --kubeconfig K --checklist my-checklist.yaml -o junit --out checklist.xml`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 0 {
				return badInput(fmt.Errorf("check takes no arguments, got %q", args))
			}
			return nil
		},
		RunE: func(c *cobra.Command, _ []string) error {
			return runCheck(c.Context(), streams, o)
		},
	}
	f := cmd.Flags()
	o.addAPIFlags(f, "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&o.checklist, "checklist", o.checklist, "built-in checklist ("+strings.Join(checklist.Names(), ", ")+") or a checklist file")
	f.StringVar(&o.expectVersion, "expect-version", "", "Kubernetes version the cluster should run, e.g. v1.36.3")
	f.StringVarP(&o.format, "output", "o", o.format, "output format: "+strings.Join(checklist.FormatNames(), ", "))
	f.StringVar(&o.out, "out", "", "write the result to this file instead of stdout")
	return cmd
}

func runCheck(ctx context.Context, streams Streams, o checkOptions) error {
	render, err := checklist.RendererFor(o.format)
	if err != nil {
		return badInput(fmt.Errorf("--output: %w", err))
	}
	cl, err := checklist.Resolve(o.checklist)
	if err != nil {
		return badInput(fmt.Errorf("--checklist: %w", err))
	}
	opts := checklist.Options{}
	if o.expectVersion != "" {
		if opts.ExpectVersion, err = checklist.NormalizeVersion(o.expectVersion); err != nil {
			return badInput(fmt.Errorf("--expect-version: %w", err))
		}
	}
	client, audit, err := connectReadOnly(ctx, o.apiFlags)
	if err != nil {
		return badInput(err)
	}
	res, err := checklist.Check(ctx, client, cl, opts)
	if refused := audit.Refused(); len(refused) > 0 {
		return fmt.Errorf("check %s: refused to send write requests to the cluster: %s", cl.Name, strings.Join(refused, ", "))
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", cl.Name, err)
	}
	var buf bytes.Buffer
	if err := render(&buf, res); err != nil {
		return fmt.Errorf("render %s: %w", o.format, err)
	}
	if o.out != "" {
		if err := os.WriteFile(o.out, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(streams.Err, "%s result written to %s: %s\n", o.format, o.out, res.Outcome)
	} else if _, err := streams.Out.Write(buf.Bytes()); err != nil {
		return err
	}
	if res.Outcome != checklist.Pass {
		return &ExitError{Code: ExitFail}
	}
	return nil
}

// connect builds a client from a kubeconfig and context, and makes sure the
// API server answers. Every error names the file, the context or the server.
func connect(ctx context.Context, a apiFlags) (kubernetes.Interface, error) {
	client, _, err := dial(ctx, a, false)
	return client, err
}

// connectReadOnly is connect for commands that only read: any request other
// than GET or HEAD, or one that acts (exec, port-forward, proxy), is refused
// before it leaves, and recorded.
func connectReadOnly(ctx context.Context, a apiFlags) (kubernetes.Interface, *kube.Audit, error) {
	return dial(ctx, a, true)
}

func dial(ctx context.Context, a apiFlags, readOnly bool) (kubernetes.Interface, *kube.Audit, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, nil, err
	}
	var audit *kube.Audit
	if readOnly {
		cfg, audit = kube.ReadOnly(cfg)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig %s: %w", a.kubeconfig, err)
	}
	if _, err := kube.Reach(ctx, client, cfg.Host, reachTimeout); err != nil {
		return nil, nil, err
	}
	return client, audit, nil
}
