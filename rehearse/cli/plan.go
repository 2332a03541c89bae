package cli

import (
	"context"
	"fmt"

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
	plan, err := drv.Plan(ctx, env, sc.Upgrade.Target)
	if err != nil {
		return badInput(err)
	}
	return writeData(streams.Out, o.format, plan, plan.Render)
}
