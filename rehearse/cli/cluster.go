package cli

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/cluster"
)

type clusterOptions struct {
	engine string
	// provider is --provider, the deprecated name of --engine.
	provider string
	stateDir string
	verbose  bool
	quiet    bool
}

func (o clusterOptions) newProvider(c *cobra.Command, streams Streams) (*cluster.Provider, error) {
	engine, err := o.engineName(c, streams)
	if err != nil {
		return nil, err
	}
	p, err := cluster.NewProvider(c.Context(), cluster.Options{
		Engine: engine, Progress: progressFlags{quiet: o.quiet}.progress(streams.Err), StateDir: o.stateDir, Verbose: o.verbose,
	})
	if err != nil {
		return nil, &ExitError{Code: ExitInfra, Err: err}
	}
	return p, nil
}

// engineName is --engine, or the deprecated --provider with a warning;
// an unknown engine, or both flags naming different ones, is bad input.
func (o clusterOptions) engineName(c *cobra.Command, streams Streams) (string, error) {
	engine := o.engine
	if c.Flags().Changed("provider") {
		fmt.Fprintln(streams.Err, "warning: --provider is deprecated; use --engine")
		if c.Flags().Changed("engine") && o.engine != o.provider {
			return "", badInput(fmt.Errorf("--engine %s and --provider %s disagree (--provider is the deprecated name of --engine)", o.engine, o.provider))
		}
		engine = o.provider
	}
	if o.quiet && o.verbose {
		return "", badInput(errors.New("--quiet and --verbose: choose one"))
	}
	if engine != "" && !contains(cluster.Engines(), engine) {
		return "", badInput(fmt.Errorf("--engine: unknown container engine %q; known: %s", engine, strings.Join(cluster.Engines(), ", ")))
	}
	return engine, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func newClusterCmd(streams Streams) *cobra.Command {
	o := &clusterOptions{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Create, list and delete throwaway kind clusters",
		Long: `Create, list and delete throwaway kind clusters on podman or Docker, from
rehearse's offline node images. The engine is the first that runs privileged
containers (podman, then Docker) unless --engine names one.

Clusters are found by label, with no state file: kind's cluster label on every
node container, and rehearse's io.rehearse.kubernetes label that node
containers inherit from rehearse's node images.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.engine, "engine", "", "container engine: "+strings.Join(cluster.Engines(), ", ")+" (default: the first that runs privileged containers)")
	pf.StringVar(&o.provider, "provider", "", "deprecated: use --engine")
	_ = pf.MarkHidden("provider")
	pf.StringVar(&o.stateDir, "state-dir", cluster.DefaultStateDir(), "folder of the clusters' kubeconfigs")
	pf.BoolVarP(&o.verbose, "verbose", "v", false, "show kind's debug messages")
	pf.BoolVar(&o.quiet, "quiet", false, "no progress on stderr (results and errors still print)")
	cmd.AddCommand(
		newClusterCreateCmd(streams, o),
		newClusterDeleteCmd(streams, o),
		newClusterListCmd(streams, o),
		newClusterPruneCmd(streams, o),
		newClusterKubeconfigCmd(streams, o),
	)
	return cmd
}

func newClusterCreateCmd(streams Streams, o *clusterOptions) *cobra.Command {
	s := cluster.Spec{
		ControlPlanes: cluster.DefaultControlPlanes,
		Workers:       cluster.DefaultWorkers,
		CNI:           cluster.DefaultCNI,
	}
	co := cluster.CreateOptions{Wait: cluster.DefaultWait}
	var printConfig bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a kind cluster and wait until every node and kube-system pod is Ready",
		Long: `Create a kind cluster from a rehearse node image (default
` + cluster.DefaultImageRepository + `:VERSION), install the CNI, and wait until every
node and every kube-system pod is Ready. Progress goes to stderr; the path of
the kubeconfig (mode 0600) to stdout. On failure or Ctrl-C the half-made
cluster is deleted unless --retain.`,
		Example: `  rehearse cluster create --name drill --kubernetes v1.35.4
  rehearse cluster create --name big --kubernetes v1.35.4 --workers 3 --kube-proxy-mode nftables`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if s.Name == "" {
				return badInput(errors.New("cluster create needs --name"))
			}
			if s.Kubernetes == "" && s.Image == "" {
				return badInput(errors.New("cluster create needs --kubernetes (or --image)"))
			}
			cfg, err := cluster.KindConfig(s, cluster.FactsOf(cluster.LocalHost{}))
			if err != nil {
				return badInput(err)
			}
			if printConfig {
				out, err := yaml.Marshal(cfg)
				if err != nil {
					return err
				}
				_, err = streams.Out.Write(out)
				return err
			}
			p, err := o.newProvider(c, streams)
			if err != nil {
				return err
			}
			co.LoadBalancer = rehearse.BuildLoadBalancerImage(streams.Err)
			co.Calico = rehearse.BuildCalico(streams.Err)
			created, err := p.Create(c.Context(), s, co)
			if err != nil {
				return &ExitError{Code: ExitInfra, Err: err}
			}
			_, err = fmt.Fprintln(streams.Out, created.Kubeconfig)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&s.Name, "name", "", "cluster name (node containers are NAME-control-plane, NAME-worker, ...)")
	f.StringVar(&s.Kubernetes, "kubernetes", "", "Kubernetes version of the node image, e.g. v1.35.4")
	f.StringVar(&s.Image, "image", "", "node image (default "+cluster.DefaultImageRepository+":VERSION)")
	f.IntVar(&s.ControlPlanes, "control-planes", s.ControlPlanes, "number of control-plane nodes")
	f.IntVar(&s.Workers, "workers", s.Workers, "number of worker nodes")
	f.StringVar(&s.CNI, "cni", s.CNI, "CNI: "+strings.Join(cluster.CNINames(), ", "))
	f.StringVar(&s.PodSubnet, "pod-subnet", "", "pod CIDR (default kind's 10.244.0.0/16)")
	f.StringVar(&s.ServiceSubnet, "service-subnet", "", "service CIDR (default kind's 10.96.0.0/16)")
	f.StringVar(&s.KubeProxyMode, "kube-proxy-mode", "", "kube-proxy mode: "+strings.Join(cluster.ProxyModeNames(), ", ")+" (default iptables)")
	f.DurationVar(&co.Wait, "wait", co.Wait, "how long to wait for every node and kube-system pod to be Ready")
	f.BoolVar(&co.Retain, "retain", false, "keep the cluster when creation fails or is interrupted")
	f.BoolVar(&printConfig, "print-config", false, "print the kind configuration this machine would get and create nothing (the CNI is installed after kind creates the nodes)")
	return cmd
}

func newClusterDeleteCmd(streams Streams, o *clusterOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete rehearse clusters: node containers, volumes and kubeconfig",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return badInput(errors.New("cluster delete takes the NAME of at least one cluster"))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			p, err := o.newProvider(c, streams)
			if err != nil {
				return err
			}
			var errs []error
			for _, name := range args {
				t0 := time.Now()
				if err := p.Delete(c.Context(), name); err != nil {
					if errors.Is(err, cluster.ErrNotFound) {
						err = badInput(err)
					}
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(streams.Err, "deleted cluster %s in %s\n", name, time.Since(t0).Round(100*time.Millisecond))
			}
			if err := errors.Join(errs...); err != nil {
				var ee *ExitError
				if len(errs) == 1 && errors.As(errs[0], &ee) {
					return ee
				}
				return &ExitError{Code: ExitInfra, Err: err}
			}
			return nil
		},
	}
}

// clusterListItem is one cluster of `cluster list -o json|yaml`.
type clusterListItem struct {
	Name       string         `json:"name"`
	Kubernetes string         `json:"kubernetes"`
	Nodes      []string       `json:"nodes"`
	Roles      map[string]int `json:"roles"`
	States     map[string]int `json:"states"`
	Kubeconfig string         `json:"kubeconfig"`
	// Owner is the process that will delete a throwaway cluster and
	// whether it runs; empty for a cluster made to be kept.
	Owner string `json:"owner,omitempty"`
}

func newClusterListCmd(streams Streams, o *clusterOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List rehearse clusters",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := checkOutput(format, dataFormats); err != nil {
				return err
			}
			p, err := o.newProvider(c, streams)
			if err != nil {
				return err
			}
			list, err := p.List(c.Context())
			if err != nil {
				return &ExitError{Code: ExitInfra, Err: err}
			}
			items := make([]clusterListItem, len(list))
			for i, in := range list {
				items[i] = clusterListItem{Name: in.Name, Kubernetes: in.Kubernetes, Nodes: in.Nodes, Roles: in.Roles, States: in.States, Kubeconfig: p.KubeconfigPath(in.Name)}
				if state, ok := p.OwnerState(in); ok {
					items[i].Owner = fmt.Sprintf("%s (%s)", in.Owner, state)
				}
			}
			return writeData(streams.Out, format, items, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tKUBERNETES\tNODES\tSTATE\tOWNER\tKUBECONFIG")
				for _, in := range items {
					owner := in.Owner
					if owner == "" {
						owner = "kept"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.Name, in.Kubernetes, countsOf(in.Roles), countsOf(in.States), owner, in.Kubeconfig)
				}
				return tw.Flush()
			})
		},
	}
	addOutputFlag(cmd.Flags(), &format, dataFormats)
	return cmd
}

func newClusterPruneCmd(streams Streams, o *clusterOptions) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Delete throwaway clusters whose rehearsal was killed before it could delete them",
		Long: `Delete the orphaned throwaway clusters: those a rehearsal or a test made
to delete when done, whose process is gone (killed outright, say by SIGKILL or
a machine's reboot, so it could not clean up). Each throwaway cluster's nodes
carry a mark naming the process that made it (pid, start time, boot); a
cluster whose process still runs, or runs in another pid namespace, is left
alone. Clusters made to be kept (rehearse cluster create, rehearse run --keep)
carry no mark and are never pruned. Prints each cluster deleted.`,
		Example: `  rehearse cluster list              # the OWNER column says who holds each cluster
  rehearse cluster prune --dry-run   # name the orphans, delete nothing
  rehearse cluster prune`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := o.newProvider(c, streams)
			if err != nil {
				return err
			}
			orphans, err := p.Orphans(c.Context())
			if err != nil {
				return &ExitError{Code: ExitInfra, Err: err}
			}
			var errs []error
			for _, or := range orphans {
				if dryRun {
					fmt.Fprintf(streams.Out, "would delete cluster %s (made by %s, which is gone)\n", or.Name, or.Owner)
					continue
				}
				t0 := time.Now()
				if err := p.Delete(c.Context(), or.Name); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(streams.Out, "deleted cluster %s (made by %s, which is gone) in %s\n", or.Name, or.Owner, time.Since(t0).Round(100*time.Millisecond))
			}
			if len(orphans) == 0 {
				fmt.Fprintln(streams.Err, "no orphaned throwaway cluster")
			}
			if err := errors.Join(errs...); err != nil {
				return &ExitError{Code: ExitInfra, Err: err}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "name the clusters prune would delete, and delete nothing")
	return cmd
}

func countsOf(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

func newClusterKubeconfigCmd(streams Streams, o *clusterOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "kubeconfig NAME",
		Short: "Print a rehearse cluster's kubeconfig",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return badInput(fmt.Errorf("cluster kubeconfig takes one NAME, got %d argument(s)", len(args)))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			p, err := o.newProvider(c, streams)
			if err != nil {
				return err
			}
			cfg, err := p.Kubeconfig(c.Context(), args[0])
			if errors.Is(err, cluster.ErrNotFound) {
				return badInput(err)
			}
			if err != nil {
				return &ExitError{Code: ExitInfra, Err: err}
			}
			_, err = fmt.Fprint(streams.Out, cfg)
			return err
		},
	}
}
