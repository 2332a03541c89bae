package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/canary"
	"github.com/rehearse/rehearse/rehearse/nodeimage"
)

// canaryTarget names the cluster and namespace a canary command acts on.
type canaryTarget struct {
	apiFlags
	timeout time.Duration
}

func (t *canaryTarget) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	t.addAPIFlags(f, "kubeconfig file of the cluster (required)")
	t.addNamespace(f, canary.DefaultNamespace, "namespace of the canary")
	f.DurationVar(&t.timeout, "timeout", canary.DefaultDeployTimeout, "how long to wait for the canary")
}

// check refuses a missing kubeconfig: these commands change a cluster, and
// falling back to $KUBECONFIG or ~/.kube/config could mean someone's real
// cluster rather than a throwaway one.
func (t *canaryTarget) check() error {
	if t.kubeconfig == "" {
		return errors.New("--kubeconfig is required: name the cluster explicitly, e.g. ~/.cache/rehearse/clusters/NAME/kubeconfig")
	}
	if msgs := validation.IsDNS1123Label(t.namespace); len(msgs) > 0 {
		return fmt.Errorf("--namespace %q: %s", t.namespace, strings.Join(msgs, "; "))
	}
	if t.timeout <= 0 {
		return fmt.Errorf("--timeout %s: must be positive", t.timeout)
	}
	return nil
}

type canaryDeployFlags struct {
	canaryTarget
	image                 string
	replicas              int32
	maxUnavailable        int32
	minAvailable          int32
	noPDB                 bool
	nodePort              int32
	nodeSelector          []string
	noControlPlane        bool
	externalTrafficPolicy string
	drainDelay            time.Duration
	startupDelay          time.Duration
	progressFlags
}

func newCanaryDeployCmd(streams Streams) *cobra.Command {
	o := canaryDeployFlags{
		image:                 nodeimage.CanaryImage(rehearse.Version()),
		replicas:              canary.DefaultReplicas,
		maxUnavailable:        canary.DefaultMaxUnavailable,
		nodePort:              canary.DefaultNodePort,
		externalTrafficPolicy: string(corev1.ServiceExternalTrafficPolicyCluster),
		drainDelay:            canary.DefaultDrainDelay,
	}
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Deploy the canary on a cluster and wait until every pod is Ready",
		Long: `Deploy the canary on a cluster: a Deployment spread one pod per node (the
control plane included unless --no-control-plane), a PodDisruptionBudget and a
NodePort Service, all labelled app.kubernetes.io/managed-by=rehearse. The
namespace is created when missing. Deploying again updates the canary in place.

The command waits until the Deployment is available with every replica Ready,
then prints the pods and the node-port URLs to send load to.

Exit status: 0 ready, 2 bad input (flags, kubeconfig, unreachable API server),
4 the canary did not become ready in time or the cluster refused it.`,
		Example: `  rehearse canary deploy --kubeconfig ~/.cache/rehearse/clusters/demo/kubeconfig
  rehearse canary deploy --kubeconfig K --replicas 4 --min-available 3 --node-port 0
  rehearse canary deploy --kubeconfig K --no-pdb --node-selector pool=canary`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts, err := o.options(c.Flags().Changed)
			if err == nil {
				err = o.progressFlags.check()
			}
			if err != nil {
				return badInput(err)
			}
			client, err := connect(c.Context(), o.apiFlags)
			if err != nil {
				return badInput(err)
			}
			if o.verbose {
				opts.StatusEvery = 5 * time.Second
			}
			d, err := canary.Deploy(c.Context(), client, opts, o.progress(streams.Err))
			if err != nil {
				return err
			}
			return printDeployed(streams, d)
		},
	}
	o.canaryTarget.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.image, "image", o.image, "canary image (the node images preload the default)")
	f.Int32Var(&o.replicas, "replicas", o.replicas, "number of canary pods")
	f.Int32Var(&o.maxUnavailable, "max-unavailable", o.maxUnavailable, "disruption budget: pods that may be down at once")
	f.Int32Var(&o.minAvailable, "min-available", 0, "disruption budget: pods that must stay up (instead of --max-unavailable)")
	f.BoolVar(&o.noPDB, "no-pdb", false, "deploy no disruption budget")
	f.Int32Var(&o.nodePort, "node-port", o.nodePort, "the Service's port on every node (0: let the cluster pick)")
	f.StringArrayVar(&o.nodeSelector, "node-selector", nil, "run only on nodes with this label, KEY=VALUE (repeatable)")
	f.BoolVar(&o.noControlPlane, "no-control-plane", false, "keep the pods off control-plane nodes")
	f.StringVar(&o.externalTrafficPolicy, "external-traffic-policy", o.externalTrafficPolicy,
		"Cluster (any node forwards to any pod) or Local (a node forwards only to its own pods)")
	f.DurationVar(&o.drainDelay, "drain-delay", o.drainDelay, "how long a stopping canary keeps serving, not ready")
	o.addProgressFlags(f, "repeat the rollout's status every 5s while waiting (else only when it changes)")
	f.DurationVar(&o.startupDelay, "startup-delay", 0, "how long a new canary pod stays not ready, like an application warming up")
	return cmd
}

// options checks the flags and turns them into deploy options; changed
// tells which flags were given.
func (o canaryDeployFlags) options(changed func(string) bool) (canary.DeployOptions, error) {
	if err := o.canaryTarget.check(); err != nil {
		return canary.DeployOptions{}, err
	}
	var errs []error
	if o.image == "" {
		errs = append(errs, errors.New("--image: must not be empty"))
	}
	if o.replicas < 1 {
		errs = append(errs, fmt.Errorf("--replicas %d: must be at least 1", o.replicas))
	}
	budget := canary.Budget{Disabled: o.noPDB}
	switch {
	case o.noPDB && changed("max-unavailable"):
		errs = append(errs, errors.New("--no-pdb and --max-unavailable exclude each other"))
	case o.noPDB && changed("min-available"):
		errs = append(errs, errors.New("--no-pdb and --min-available exclude each other"))
	case changed("max-unavailable") && changed("min-available"):
		errs = append(errs, errors.New("--max-unavailable and --min-available exclude each other"))
	case o.noPDB:
	case changed("min-available"):
		if o.minAvailable < 1 {
			errs = append(errs, fmt.Errorf("--min-available %d: must be at least 1 (no budget at all: --no-pdb)", o.minAvailable))
		}
		budget.MinAvailable = o.minAvailable
	default:
		if o.maxUnavailable < 1 {
			errs = append(errs, fmt.Errorf("--max-unavailable %d: must be at least 1 (a budget that allows no disruption: --min-available equal to --replicas)", o.maxUnavailable))
		}
		budget.MaxUnavailable = o.maxUnavailable
	}
	nodePort := o.nodePort
	switch {
	case nodePort == 0:
		nodePort = canary.AllocateNodePort
	case nodePort < 1 || nodePort > 65535:
		errs = append(errs, fmt.Errorf("--node-port %d: must be a port number, or 0 to let the cluster pick", o.nodePort))
	}
	selector := map[string]string{}
	for _, kv := range o.nodeSelector {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			errs = append(errs, fmt.Errorf("--node-selector %q: want KEY=VALUE", kv))
			continue
		}
		if msgs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--node-selector %q: %s", kv, strings.Join(msgs, "; ")))
			continue
		}
		if prev, dup := selector[k]; dup && prev != v {
			errs = append(errs, fmt.Errorf("--node-selector %q: %s given twice", kv, k))
			continue
		}
		selector[k] = v
	}
	var policy corev1.ServiceExternalTrafficPolicy
	switch strings.ToLower(o.externalTrafficPolicy) {
	case "cluster":
		policy = corev1.ServiceExternalTrafficPolicyCluster
	case "local":
		policy = corev1.ServiceExternalTrafficPolicyLocal
	default:
		errs = append(errs, fmt.Errorf("--external-traffic-policy %q: want Cluster or Local", o.externalTrafficPolicy))
	}
	if o.drainDelay <= 0 {
		errs = append(errs, fmt.Errorf("--drain-delay %s: must be positive", o.drainDelay))
	}
	if len(errs) > 0 {
		return canary.DeployOptions{}, errors.Join(errs...)
	}
	opts := canary.DeployOptions{
		Namespace:             o.namespace,
		Image:                 o.image,
		Replicas:              o.replicas,
		PDB:                   budget,
		NodePort:              nodePort,
		ExternalTrafficPolicy: policy,
		NodeSelector:          selector,
		NoControlPlane:        o.noControlPlane,
		DrainDelay:            o.drainDelay,
		StartupDelay:          o.startupDelay,
		Timeout:               o.timeout,
	}
	if err := opts.Validate(); err != nil {
		return canary.DeployOptions{}, err
	}
	return opts, nil
}

func printDeployed(streams Streams, d *canary.Deployed) error {
	w := tabwriter.NewWriter(streams.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "canary %s/%s ready: %d/%d pods, image %s, node port %d (%s traffic)\n",
		d.Namespace, d.Name, len(d.Pods), d.Replicas, d.Image, d.NodePort, d.ExternalTrafficPolicy)
	fmt.Fprintln(w, "POD\tNODE\tIP")
	for _, p := range d.Pods {
		fmt.Fprintf(w, "%s\t%s\t%s\n", p.Name, p.Node, p.IP)
	}
	fmt.Fprintln(w, "targets:")
	for _, t := range d.Targets() {
		fmt.Fprintf(w, "  %s\n", t)
	}
	return w.Flush()
}

func newCanaryDeleteCmd(streams Streams) *cobra.Command {
	var o canaryTarget
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete the canary from a cluster",
		Long: `Delete the canary's Deployment, Service and PodDisruptionBudget, found by their
labels, and the namespace when rehearse created it; wait until they are gone.
A namespace rehearse did not create is kept. Nothing to delete is no error.

Exit status: 0 deleted, 2 bad input, 4 the cluster refused or the objects
were still terminating after --timeout.`,
		Example: `  rehearse canary delete --kubeconfig ~/.cache/rehearse/clusters/demo/kubeconfig`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return badInput(err)
			}
			opts := canary.DeployOptions{Namespace: o.namespace, Timeout: o.timeout}
			client, err := connect(c.Context(), o.apiFlags)
			if err != nil {
				return badInput(err)
			}
			deleted, err := canary.Delete(c.Context(), client, opts)
			if len(deleted) > 0 {
				fmt.Fprintf(streams.Out, "deleted %s\n", strings.Join(deleted, ", "))
			} else if err == nil {
				fmt.Fprintf(streams.Out, "no canary in namespace %s\n", o.namespace)
			}
			return err
		},
	}
	o.addFlags(cmd)
	return cmd
}
