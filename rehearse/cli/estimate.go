package cli

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/rehearse/rehearse/report"
)

// estimateFlags ask for an estimate of production's upgrade from the
// rehearsal's measured steps.
type estimateFlags struct {
	nodes          int
	pools          map[string]int
	maxUnavailable int
}

func (e *estimateFlags) add(f *pflag.FlagSet) {
	f.IntVar(&e.nodes, "nodes", 0, "production's worker count: estimate how long its upgrade takes from the steps the rehearsal measured")
	f.StringToIntVar(&e.pools, "pools", nil, "production's workers per pool, upgraded one pool after another (e.g. general=30,gpu=4)")
	f.IntVar(&e.maxUnavailable, "max-unavailable", 0, "workers upgraded at once in production (default: the scenario's upgrade.kubeadm.maxUnavailable)")
}

// options are the estimate's options, nil when none was asked for.
func (e *estimateFlags) options() (*report.EstimateOptions, error) {
	if e.nodes < 0 {
		return nil, badInput(fmt.Errorf("--nodes: %d is negative", e.nodes))
	}
	if e.maxUnavailable < 0 {
		return nil, badInput(fmt.Errorf("--max-unavailable: %d is negative", e.maxUnavailable))
	}
	for p, n := range e.pools {
		if n <= 0 {
			return nil, badInput(fmt.Errorf("--pools: pool %s has %d workers", p, n))
		}
	}
	if e.nodes == 0 && len(e.pools) == 0 {
		if e.maxUnavailable != 0 {
			return nil, badInput(fmt.Errorf("--max-unavailable goes with --nodes or --pools"))
		}
		return nil, nil
	}
	return &report.EstimateOptions{Nodes: e.nodes, Pools: e.pools, MaxUnavailable: e.maxUnavailable}, nil
}
