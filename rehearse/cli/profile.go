package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/kube"
	"github.com/rehearse/rehearse/rehearse/profile"
)

type profileOptions struct {
	apiFlags
	out    string
	format string
	name   string
	json   bool
}

func newProfileCmd(streams Streams) *cobra.Command {
	o := profileOptions{}
	cmd := &cobra.Command{
		Use:   "profile --kubeconfig PROD --out FILE",
		Short: "Read a cluster's shape, read-only, into a scenario that reproduces it on kind",
		Long: `Read a production cluster strictly read-only (get, list and watch only: any
other request is refused inside rehearse before it is sent) and write a
scenario that reproduces its shape on kind: server version, control-plane and
worker counts, CNI, pod and service CIDRs, kube-proxy mode, DNS provider and
checklist flavor. Pre-flight findings (PodDisruptionBudgets that allow no
disruption, single-replica Deployments behind a budget, deprecated APIs the
API server saw requested) and whatever cannot be reproduced offline are
written into the scenario's notes.

The Deployments, StatefulSets and DaemonSets seen outside the system
namespaces (kube-* and the CNI's) are listed at the end of the scenario as a
commented workloads: stub, one entry per namespace, each with its replicas,
the PodDisruptionBudgets that select it, its images and whether it blocks or
breaks a node drain (no budget, or a budget that allows 0 disruptions).
Export their manifests into the folders named there and uncomment it.

The scenario's name is --name, which must be a DNS-1123 label, or else the
output file's name made into one (prod_shape.yaml gives prod-shape).`,
		Example: `  rehearse profile --kubeconfig ~/.kube/prod --context prod-eu -o prod.yaml
  rehearse run prod.yaml`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runProfile(c.Context(), streams, o)
		},
	}
	f := cmd.Flags()
	o.addAPIFlags(f, "kubeconfig of the cluster to profile, read-only (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&o.out, "out", "", "scenario file to write (default: print it)")
	f.StringVarP(&o.format, "output", "o", "yaml", "format printed: yaml (the scenario) or json (the raw profile)")
	f.StringVar(&o.name, "name", "", "scenario name, a DNS-1123 label (default: the output file's name, made into one)")
	f.BoolVar(&o.json, "json", false, "print the raw profile as JSON (same as -o json)")
	_ = f.MarkHidden("json")
	return cmd
}

func runProfile(ctx context.Context, streams Streams, o profileOptions) error {
	if o.format != "yaml" && o.format != "json" {
		return badInput(fmt.Errorf("--output %q: want yaml or json", o.format))
	}
	name, err := scenarioName(o.name, o.out)
	if err != nil {
		return badInput(err)
	}
	cfg, err := o.config()
	if err != nil {
		return badInput(err)
	}
	ro, audit := kube.ReadOnly(cfg)
	client, err := kubernetes.NewForConfig(ro)
	if err != nil {
		return badInput(fmt.Errorf("kubeconfig: %w", err))
	}
	if _, err := kube.Reach(ctx, client, cfg.Host, kube.DefaultReachTimeout); err != nil {
		return badInput(err)
	}
	p, err := profile.Discover(ctx, client)
	if refused := audit.Refused(); len(refused) > 0 {
		// Never expected: Discover only reads. Say so loudly if it ever tried.
		return errors.Join(err, fmt.Errorf("profile tried to write and was refused: %s", strings.Join(refused, "; ")))
	}
	if err != nil {
		return err
	}
	if o.json || o.format == "json" {
		enc := json.NewEncoder(streams.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	body, err := p.ScenarioYAML(name)
	if err != nil {
		return err
	}
	var doc bytes.Buffer
	fmt.Fprintf(&doc, "# Written by rehearse profile from %s (server %s).\n", cfg.Host, p.ServerVersion)
	fmt.Fprintf(&doc, "# Read-only: %s. Review the notes before running it.\n", methodsSummary(audit.Methods()))
	doc.Write(body)
	if o.out == "" {
		_, err := streams.Out.Write(doc.Bytes())
		return err
	}
	if err := os.WriteFile(o.out, doc.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(streams.Out, "profile of %s written to %s\n", cfg.Host, o.out)
	fmt.Fprintf(streams.Out, "  version %s, %d control-plane + %d workers, CNI %s, pods %s, services %s, kube-proxy %s, DNS %s, checklist flavor %s\n",
		p.KubernetesVersion, p.ControlPlanes, p.Workers, p.CNI, p.PodSubnet, p.ServiceSubnet, p.KubeProxyMode, p.DNS, p.Flavor)
	risky := 0
	for _, w := range p.Workloads {
		if w.DrainRisk != "" {
			risky++
		}
	}
	fmt.Fprintf(streams.Out, "  %d workloads seen outside the system namespaces (%d with a drain risk), listed commented at the end of the scenario\n", len(p.Workloads), risky)
	for _, f := range p.Findings {
		fmt.Fprintf(streams.Out, "  finding: %s: %s\n", f.Object, f.Message)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(streams.Out, "  note: %s\n", n)
	}
	return nil
}

func methodsSummary(m map[string]int) string {
	var parts []string
	for _, k := range []string{"GET", "HEAD", "OPTIONS"} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s requests", m[k], k))
		}
	}
	if len(parts) == 0 {
		return "no requests"
	}
	return strings.Join(parts, ", ") + ", nothing else"
}

// defaultScenarioName names a profile's scenario when neither --name nor
// --output gives one.
const defaultScenarioName = "profiled"

// scenarioName is the name of the written scenario, which must be a
// DNS-1123 label: --name as given, refused when it is not one; else the
// output file's base name without its extension, made into one.
func scenarioName(flagName, out string) (string, error) {
	if flagName != "" {
		if errs := validation.IsDNS1123Label(flagName); len(errs) > 0 {
			hint := ""
			if s := dnsLabel(flagName); s != "" {
				hint = fmt.Sprintf(" (e.g. %s)", s)
			}
			return "", fmt.Errorf("--name %q: the scenario's name must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters%s", flagName, hint)
		}
		return flagName, nil
	}
	if out == "" {
		return defaultScenarioName, nil
	}
	if s := dnsLabel(strings.TrimSuffix(filepath.Base(out), filepath.Ext(out))); s != "" {
		return s, nil
	}
	return defaultScenarioName, nil
}

// dnsLabel makes s into a DNS-1123 label: lower case, every run of other
// characters than letters and digits one '-', no '-' at either end, at most
// 63 characters; "" when nothing is left.
func dnsLabel(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > validation.DNS1123LabelMaxLength {
		out = strings.TrimRight(out[:validation.DNS1123LabelMaxLength], "-")
	}
	return out
}
