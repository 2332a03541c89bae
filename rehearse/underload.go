package rehearse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/canary"
	"github.com/rehearse/rehearse/rehearse/checklist"
	"github.com/rehearse/rehearse/rehearse/driver"
	"github.com/rehearse/rehearse/rehearse/generators"
	"github.com/rehearse/rehearse/rehearse/kube"
	"github.com/rehearse/rehearse/rehearse/runfolder"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

// underLoad runs the baseline, upgrade and after phases with one continuous
// attack going through the canary's node ports and the user's targets. It
// returns the load's own error: a failed upgrade is recorded as its phase and
// judged, a failed load generator is an infrastructure failure.
func (r *run) underLoad(ctx context.Context, env driver.Env, plan *driver.Plan,
	deployed *canary.Deployed, apps []appTarget, client kubernetes.Interface, cl checklist.Checklist) error {
	sc := r.sc
	var targets []string
	if deployed != nil {
		if targets = deployed.Targets(); len(targets) == 0 {
			return errors.New("the canary has no node to reach it through")
		}
	}
	if err := r.phase("warm-up", func() error {
		if len(targets) > 0 {
			if err := loadgen.WarmUp(ctx, targets, warmUpTimeout); err != nil {
				return err
			}
		}
		for _, a := range apps {
			if err := a.WarmUp(ctx, warmUpTimeout); err != nil {
				return inputError(err)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	spec := loadgen.Spec{Rate: sc.Load.Rate, Timeout: sc.Load.Timeout.Duration, Phase: PhaseBaseline}
	var rot *loadgen.Rotation
	if deployed != nil {
		rot = loadgen.NewRotation(targets)
		spec.Rotation = rot
		for _, p := range sc.Load.Probes {
			spec.Probes = append(spec.Probes, loadgen.Probe(p))
		}
	}
	// The user's targets behind node ports go through a rotation kept by a
	// health check of each node's kube-proxy, as a cloud load balancer in
	// front of a NodePort Service checks its nodes.
	var checks []loadgen.HealthCheck
	var checkRots []*loadgen.Rotation
	for _, a := range apps {
		t := a.Target
		if a.viaNodes {
			t.Rotation = loadgen.NewRotation(a.URLs)
			checks = append(checks, loadgen.HealthCheck{Candidates: a.URLs, Port: loadgen.KubeProxyHealthPort, Emitter: r.tl})
			checkRots = append(checkRots, t.Rotation)
		}
		if r.ledger != nil && t.Name == scenarios.LedgerTarget {
			r.ledger.follow(t.Rotation.Targets)
		}
		spec.UserTargets = append(spec.UserTargets, t)
	}
	atk, err := loadgen.New(spec)
	if err != nil {
		return err
	}
	var src loadSource = atk
	if sc.Load.Generators.InCluster() {
		fleet, err := r.deployGenerators(ctx, client, env.Kubeconfig, deployed, targets)
		if fleet != nil {
			defer r.deleteGenerators(ctx, fleet)
		}
		if err != nil {
			return err
		}
		src = generators.NewRunner(fleet, PhaseBaseline, r.tl)
		if err := sleepCtx(ctx, time.Until(fleet.StartAt)); err != nil {
			return nil
		}
	}
	rec, err := loadgen.CreateRecorder(r.folder.Path(runfolder.Results))
	if err != nil {
		return err
	}
	col := report.NewCollector(report.CollectorOptions{ReorderWindow: sc.Load.Timeout.Duration + time.Second})

	loadCtx, stopLoad := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoad()
	traffic := newLiveTraffic(loadCtx, rot, r.tl, deployed)
	r.clusters.mu.Lock()
	traffic.workloads = r.clusters.workloadNamespaces
	r.clusters.mu.Unlock()
	r.followNodes(loadCtx, deployed, targets, traffic, checks)
	if deployed != nil {
		traffic.start(targets)
	}
	defer traffic.stop()
	env.Traffic = traffic
	for i, hc := range checks {
		hc := hc
		rot := checkRots[i]
		go func() { _ = hc.Run(loadCtx, rot) }()
	}

	type outcome struct {
		acc loadgen.Accounting
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		acc, err := src.Run(loadCtx, rec, col)
		done <- outcome{acc, err}
	}()
	progressDone := make(chan struct{})
	go r.status.progress(loadCtx, r.o.ProgressEvery, src, progressDone)

	finish := func() error {
		stopLoad()
		out := <-done
		<-progressDone
		if r.ledger != nil && ctx.Err() == nil {
			r.ledger.final(ctx, r.tl)
		}
		m := col.Close()
		m.Source = r.dir
		m.Accounting = &out.acc
		return errors.Join(out.err, rec.Close(), report.WriteSummary(r.dir, m))
	}
	wait := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	current := PhaseBaseline
	switchTo := func(phase string) {
		if r.ledger != nil {
			r.ledger.readLater(ctx, r.tl, current)
		}
		current = phase
		_ = src.SetPhase(phase)
		r.tl.Emit(timeline.Event{Source: timeline.SourceLoadgen, Kind: "phase", Subject: phase, Message: "requests now tagged " + phase})
	}

	msg := fmt.Sprintf("load %.0f/s", sc.Load.Rate)
	if g := sc.Load.Generators; g.InCluster() {
		msg += fmt.Sprintf(" from %d generators in the cluster", g.Replicas)
	} else if deployed != nil {
		msg += fmt.Sprintf(" over %d canary entry points: %v", len(targets), targets)
	}
	for _, a := range apps {
		msg += fmt.Sprintf("; target %s through %v", a.Name, a.URLs)
	}
	r.tl.Emit(timeline.Event{Source: timeline.SourceLoadgen, Kind: "start", Message: msg})
	if err := r.phase(PhaseBaseline, func() error {
		r.status.lasts(sc.Load.Baseline.Duration)
		return wait(sc.Load.Baseline.Duration)
	}); err != nil {
		return finish()
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		_, _ = checklist.Watch(watchCtx, client, cl, checklist.Options{}, r.tl)
	}()
	uerr, perr := r.upgradeHops(ctx, env, plan, client, cl, switchTo)
	aborted := errors.Is(uerr, driver.ErrAborted)
	if ctx.Err() == nil && sc.Upgrade.Revert && (uerr == nil || aborted) {
		switchTo(PhaseRevert)
		r.reverted = r.phase(PhaseRevert, func() error {
			start := time.Now()
			if err := r.revert(ctx, env); err != nil {
				return err
			}
			// A revert faster than the judge's minimum samples (one
			// kubelet put back takes seconds) would leave its phase
			// unjudged: the phase stays open under load until it holds
			// them.
			return sleepCtx(ctx, judgedSpan(sc)-time.Since(start))
		}) == nil
	}
	stopWatch()
	<-watchDone
	if ctx.Err() != nil {
		return errors.Join(perr, finish())
	}

	// Restarts during the upgrade are on the timeline; the final check
	// counts only those after it (a component that keeps restarting). A
	// blue-green swap leaves another cluster under test.
	_, client = r.clusters.Live()
	if rs, err := checklist.RestartCounts(ctx, client); err == nil {
		r.restarts = rs
	}
	switchTo(PhaseAfter)
	_ = r.phase(PhaseAfter, func() error {
		r.status.lasts(sc.Load.After.Duration)
		return wait(sc.Load.After.Duration)
	})
	return errors.Join(perr, finish())
}

// loadSource sends the load: one attack from this machine, or generators
// in the cluster.
type loadSource interface {
	Run(ctx context.Context, sinks ...loadgen.Sink) (loadgen.Accounting, error)
	SetPhase(name string) error
	Snapshot() loadgen.Snapshot
}

// PhaseGenerators deploys the in-cluster load generators.
const PhaseGenerators = "generators"

// generatorsStartIn is how long after their DaemonSets are made the
// generators start sending, together: their pods start in seconds, the
// canary image being on every node already.
const generatorsStartIn = 20 * time.Second

// deployGenerators makes the in-cluster generators, aimed at the canary
// through its ClusterIP Service or its node ports.
func (r *run) deployGenerators(ctx context.Context, client kubernetes.Interface, kubeconfig string, deployed *canary.Deployed, nodeTargets []string) (*generators.Fleet, error) {
	sc := r.sc
	g := sc.Load.Generators
	var fleet *generators.Fleet
	err := r.phase(PhaseGenerators, func() error {
		targets, host := nodeTargets, ""
		if g.Via == scenarios.ViaIngress {
			ns, name := g.Ingress.ControllerService()
			t, err := generators.IngressTarget(ctx, client, deployed, generators.Ingress{
				Namespace: ns, Service: name, Port: g.Ingress.Port, ClassName: g.Ingress.ClassName, Host: g.Ingress.Host,
			})
			if err != nil {
				return err
			}
			targets, host = []string{t}, g.Ingress.Host
		}
		if g.Via == scenarios.ViaPods {
			t, err := generators.PodsTarget(ctx, client, deployed)
			if err != nil {
				return err
			}
			targets = []string{t}
		}
		if g.Via == scenarios.ViaService {
			svc, err := client.CoreV1().Services(deployed.Namespace).Get(ctx, deployed.Name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("the canary's Service: %w", err)
			}
			if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
				return fmt.Errorf("the canary's Service %s/%s has no ClusterIP and port to send to", svc.Namespace, svc.Name)
			}
			targets = []string{fmt.Sprintf("http://%s/", net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(svc.Spec.Ports[0].Port))))}
		}
		// The generators' API calls (a list a second, a log stream per
		// pod, more while the apiserver restarts) go through a client of
		// their own, so they never wait behind the driver's, nor it
		// behind them.
		cfg, err := kube.Config(kubeconfig, sc.Cluster.Context)
		if err != nil {
			return err
		}
		cfg.QPS, cfg.Burst = 20, 40
		genClient, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		o := generators.Options{
			Namespace: g.Namespace, Image: deployed.Image, Replicas: g.Replicas, CPU: g.CPU,
			Rate: sc.Load.Rate, Timeout: sc.Load.Timeout.Duration, Probes: sc.Load.Probes, Targets: targets, Host: host,
			NodeSelector: g.NodeSelector, StartIn: generatorsStartIn,
		}
		for _, t := range g.Tolerations {
			o.Tolerations = append(o.Tolerations, corev1.Toleration{Key: t.Key, Operator: corev1.TolerationOperator(t.Operator), Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
		}
		fleet, err = generators.Deploy(ctx, genClient, o)
		if err != nil {
			return err
		}
		var where []string
		for _, gen := range fleet.Generators {
			where = append(where, gen.Name+" on "+gen.Node)
		}
		to := fmt.Sprint(targets)
		if host != "" {
			to += " (Host: " + host + ")"
		}
		r.tl.Emit(timeline.Event{Source: timeline.SourceLoadgen, Kind: "generators",
			Message: fmt.Sprintf("%d generators at %.4g/s each to %s, starting together at %s: %s",
				len(fleet.Generators), sc.Load.Rate/float64(len(fleet.Generators)), to, fleet.StartAt.UTC().Format("15:04:05.000"), strings.Join(where, ", "))})
		return nil
	})
	return fleet, err
}

// deleteGenerators removes what is left of the generators (a cluster
// kept, or not made by rehearse, is left as it was found).
func (r *run) deleteGenerators(ctx context.Context, fleet *generators.Fleet) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = fleet.Stop(dctx)
	_ = fleet.Delete(dctx)
}

// followNodes keeps the node-port entry points (the canary's, and the
// user's targets reached through node ports) equal to the cluster's nodes
// while the upgrade adds and removes them. A blue-green swap moves the
// traffic itself; a canary Service with externalTrafficPolicy Local is
// reached only through the nodes that run its pods, fixed when deployed.
func (r *run) followNodes(ctx context.Context, deployed *canary.Deployed, targets []string, traffic *liveTraffic, checks []loadgen.HealthCheck) {
	if r.sc.Upgrade.Driver == scenarios.DriverBlueGreen {
		return
	}
	var sets []*entrySet
	var initial []string
	if deployed != nil && deployed.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		if s, err := newEntrySet(targets); err == nil {
			traffic.follow = s.Follow
			sets = append(sets, s)
			initial = append(initial, targets...)
		}
	}
	for i := range checks {
		if s, err := newEntrySet(checks[i].Candidates); err == nil {
			checks[i].Follow = s.Follow
			sets = append(sets, s)
			initial = append(initial, checks[i].Candidates...)
		}
	}
	if len(sets) == 0 {
		return
	}
	live := func() kubernetes.Interface {
		_, c := r.clusters.Live()
		return c
	}
	go newNodeFollower(live, r.tl, initial, sets...).run(ctx)
}

// warmUpTimeout bounds waiting for every node port to reach the canary.
const warmUpTimeout = 2 * time.Minute

// judgedSpan is how long a phase must last at the scenario's rate to hold
// the judge's minimum samples, with a fifth to spare.
func judgedSpan(sc *scenarios.Scenario) time.Duration {
	n := JudgeRules(sc.Checks.Judge).MinSamples
	if sc.Load.Rate <= 0 || n <= 0 {
		return 0
	}
	return time.Duration(1.2 * float64(n) / sc.Load.Rate * float64(time.Second))
}

// sleepCtx waits d (nothing when d is not positive), or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// HopPhase is the phase of the i-th hop (from 0) of an upgrade of n hops:
// "upgrade" when there is one, upgrade-1, upgrade-2, ... otherwise.
func HopPhase(i, n int) string {
	if n <= 1 {
		return PhaseUpgrade
	}
	return fmt.Sprintf("%s-%d", PhaseUpgrade, i+1)
}

// IsUpgradePhase tells an upgrade phase (one hop's, or the only one).
func IsUpgradePhase(name string) bool {
	return name == PhaseUpgrade || strings.HasPrefix(name, PhaseUpgrade+"-")
}

// upgradeHops runs the upgrade, hop by hop, each in its own phase under
// load: plan is the first hop's (made at preflight); each later hop is
// planned on the cluster the hop before left, once it is there. Between
// hops the checklist must pass at the hop's version
// (checklist-upgrade-N.json), or the next hop does not start. It returns
// the upgrade's error and the error of writing the plans (plan.txt, then
// plan-upgrade-2.txt, ...).
func (r *run) upgradeHops(ctx context.Context, env driver.Env, plan *driver.Plan, client kubernetes.Interface, cl checklist.Checklist, switchTo func(string)) (uerr, perr error) {
	hops := r.sc.Upgrade.Hops()
	for i, hop := range hops {
		phase := HopPhase(i, len(hops))
		switchTo(phase)
		planFile := PlanFile
		if i > 0 {
			planFile = "plan-" + phase + ".txt"
		}
		uerr = r.phase(phase, func() error {
			if i > 0 {
				next, err := r.drv.Plan(ctx, env, hop)
				plan = next
				if err != nil {
					return fmt.Errorf("plan the hop to %s: %w", hop, err)
				}
				r.status.setSteps(len(plan.Leaves()))
			}
			if err := plan.Execute(ctx, env, r.status.tracker(r.stepEmitter(ctx))); err != nil {
				return err
			}
			if i == len(hops)-1 {
				return nil
			}
			return r.checkHop(ctx, client, cl, phase, hop)
		})
		if plan != nil {
			perr = errors.Join(perr, r.writePlanAs(planFile, plan))
		}
		if uerr != nil || ctx.Err() != nil {
			return uerr, perr
		}
	}
	return nil, perr
}

// checkHop runs the checklist at a hop's version once the hop is done.
func (r *run) checkHop(ctx context.Context, client kubernetes.Interface, cl checklist.Checklist, phase, version string) error {
	res, err := checklist.Check(ctx, client, cl, checklist.Options{ExpectVersion: version})
	if err != nil {
		return fmt.Errorf("checklist at %s: %w", version, err)
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	if err := r.folder.WriteFile("checklist-"+phase+".json", append(b, '\n')); err != nil {
		return err
	}
	outcome := "pass"
	if res.Outcome != checklist.Pass {
		outcome = "fail"
	}
	r.tl.Emit(timeline.Event{Source: timeline.SourceChecklist, Kind: "hop", Subject: version, Outcome: outcome,
		Message: fmt.Sprintf("checklist at %s after %s: %s", version, phase, res.Outcome)})
	if res.Outcome != checklist.Pass {
		var failed []string
		for _, it := range res.Failed() {
			failed = append(failed, it.Component+": "+it.Message)
		}
		return fmt.Errorf("checklist at %s: %d of %d items failed (%s); the next hop does not start", version, len(res.Failed()), len(res.Items), strings.Join(failed, "; "))
	}
	return nil
}

// generatorsCheck judges whether the in-cluster generators sent the load
// the scenario planned: load a lost generator never sent is missing, not
// failed, and past maxShortfall of the plan the rehearsal cannot say what
// the upgrade did to the traffic (inconclusive). Each generator is an item
// with its share, what reached the results and its lost windows.
func generatorsCheck(a loadgen.Accounting, maxShortfall float64) report.Check {
	c := report.Check{Name: "load"}
	var lost, sched, recv, reported int64
	for _, g := range a.Generators {
		lost += g.LostRequests
		sched += g.Scheduled
		recv += g.Received
		reported += g.Reported
		it := report.CheckItem{
			Component: "generator " + g.Name,
			Expected:  fmt.Sprintf("%.4g/s: %d requests", g.TargetRate, g.Scheduled),
			Seen:      fmt.Sprintf("%d results from %s, %d failed", g.Received, g.Node, g.Failed),
			Outcome:   report.Pass,
		}
		if g.ReportedPods > 0 {
			it.Seen += fmt.Sprintf("; its pods said %d sent", g.Reported)
		}
		var ws []string
		for _, l := range g.Lost {
			ws = append(ws, fmt.Sprintf("%.1fs from %s (%d requests; %s)", l.Seconds, l.From.UTC().Format("15:04:05"), l.Requests, l.Why))
		}
		switch {
		case len(ws) > 0 && g.LostRequests > 0:
			it.Message = fmt.Sprintf("lost load, %d requests never sent: %s", g.LostRequests, strings.Join(ws, "; "))
		case len(ws) > 0:
			it.Message = "quiet, then caught up (requests sent late, none lost): " + strings.Join(ws, "; ")
		}
		// Its pods counted more than reached the merge: requests sent
		// whose results were never read back (its log rotated while the
		// stream of it was cut), not requests left unsent.
		if g.ReportedPods > 0 && g.Reported > g.Received {
			if it.Message != "" {
				it.Message += "; "
			}
			it.Message += fmt.Sprintf("%d results sent but not read back from its log (rotated while the stream was cut?)", g.Reported-g.Received)
		}
		c.Items = append(c.Items, it)
	}
	short := a.Shortfall()
	c.Message = fmt.Sprintf("%d generators sent %d results of %d planned; %d requests (%.2f%%) never sent by lost generators, at most %.4g%% allowed",
		len(a.Generators), recv, sched, lost, 100*short, 100*maxShortfall)
	c.Outcome = report.Pass
	if short > maxShortfall {
		c.Outcome = report.Inconclusive
		c.Message = fmt.Sprintf("the load sent fell short of the plan by %.2f%% (%d of %d requests never sent by lost generators), above load.generators.maxShortfall %.4g%%: the traffic does not say what the upgrade did",
			100*short, lost, sched, 100*maxShortfall)
	}
	return c
}
