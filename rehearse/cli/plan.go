package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rehearse/rehearse/rehearse/driver"
	"github.com/rehearse/rehearse/scenarios"
)

type planOptions struct {
	apiFlags
	sets   []string
	format string
}

func newPlanCmd(streams Streams) *cobra.Command {
	o := planOptions{}
	cmd := &cobra.Command{
		Use:   "plan [SCENARIO]",
		Short: "Show the upgrade's steps as a tree before anything runs",
		Long: `Show the steps the scenario's upgrade driver would take, as a tree with each
group's strategy (serial or parallel) and each step's status. For a kind
scenario the plan is made from the scenario's shape, before any cluster
exists; with --kubeconfig it is made from a live cluster (read-only).
-o json or yaml prints the same tree as a document.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return badInput(fmt.Errorf("plan takes at most one SCENARIO, got %d", len(args)))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			return runPlan(c.Context(), streams, args, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.sets, "set", nil, "override a scenario field, as path=value; repeatable")
	o.addAPIFlags(f, "plan against this live cluster (read-only) instead of the scenario's shape")
	addOutputFlag(f, &o.format, dataFormats)
	return cmd
}

func runPlan(ctx context.Context, streams Streams, args []string, o planOptions) error {
	if err := checkOutput(o.format, dataFormats); err != nil {
		return err
	}
	sc, err := loadScenario(args, o.sets)
	if err != nil {
		return badInput(err)
	}
	drv, err := driver.Drivers().New(sc.Upgrade)
	if err != nil {
		return badInput(err)
	}
	env := driver.Env{}
	switch {
	case o.kubeconfig != "" || o.context != "":
		client, _, err := connectReadOnly(ctx, o.apiFlags)
		if err != nil {
			return badInput(err)
		}
		env.Client, env.Kubeconfig = client, o.kubeconfig
	case sc.Cluster.Provider == scenarios.ProviderKind:
		var pools []driver.PoolSize
		for _, p := range sc.Cluster.Pools {
			pools = append(pools, driver.PoolSize{Name: p.Name, Workers: p.Workers})
		}
		env.Shape = driver.KindShape("CLUSTER", sc.Cluster.KubernetesVersion, sc.Cluster.ControlPlanes, sc.Cluster.Workers).WithPools(pools)
		env.ClusterName = "CLUSTER"
	default:
		env.Kubeconfig = sc.Cluster.Kubeconfig
	}
	// An upgrade of several hops is one plan per hop, each from the
	// version the hop before leaves (planned from the shape, or, against a
	// live cluster, only the first: the others depend on it).
	hops := sc.Upgrade.Hops()
	if env.Shape == nil {
		hops = hops[:1]
	}
	var plans []*driver.Plan
	for i, hop := range hops {
		if i > 0 {
			shape := *env.Shape
			shape.Version = hops[i-1]
			env.Shape = &shape
		}
		plan, err := drv.Plan(ctx, env, hop)
		if err != nil {
			return badInput(err)
		}
		plans = append(plans, plan)
	}
	if len(plans) == 1 {
		return writeData(streams.Out, o.format, plans[0], plans[0].Render)
	}
	return writeData(streams.Out, o.format, plans, func(w io.Writer) error {
		fmt.Fprintf(w, "%s upgrade to %s in %d hops: %s\n", sc.Upgrade.Driver, sc.Upgrade.Target, len(hops), strings.Join(hops, ", "))
		for i, p := range plans {
			fmt.Fprintf(w, "\nhop %d of %d (phase upgrade-%d):\n", i+1, len(plans), i+1)
			if err := p.Render(w); err != nil {
				return err
			}
		}
		return nil
	})
}
