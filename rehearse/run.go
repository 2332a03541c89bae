package rehearse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/canary"
	"github.com/rehearse/rehearse/rehearse/checklist"
	"github.com/rehearse/rehearse/rehearse/driver"
	"github.com/rehearse/rehearse/rehearse/nodeimage"
	"github.com/rehearse/rehearse/rehearse/runfolder"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

// Phases of a rehearsal, in order.
const (
	PhasePreflight = "preflight"
	PhaseProvision = "provision"
	PhaseCanary    = "canary"
	PhaseImages    = "images"
	PhaseWorkloads = "workloads"
	PhaseTargets   = "targets"
	// PhaseStage runs the plan's steps that come before the load (the
	// kubeadm driver copies the new release onto the nodes), with no
	// load running.
	PhaseStage    = "stage"
	PhaseBaseline = "baseline"
	PhaseUpgrade  = "upgrade"
	PhaseAfter    = "after"
	// PhaseRevert brings the workers back to the original version after
	// the upgrade (upgrade.revert), under load, judged like the others.
	PhaseRevert   = report.RevertPhase
	PhaseVerify   = "verify"
	PhaseReport   = "report"
	PhaseTeardown = "teardown"
)

// Files of a run folder besides the load's results and summary; the
// runfolder package owns every name.
const (
	ScenarioFile = runfolder.Scenario
	PlanFile     = runfolder.Plan
	// RevertPlanFile is the revert's plan with each step's status.
	RevertPlanFile = "plan-revert.txt"
	DriverLog      = runfolder.DriverLog
	ChecklistFile  = runfolder.Checklist
	RunFile        = runfolder.Run
	LogsDir        = runfolder.ClusterLogs
)

// DefaultTeardownTimeout bounds deleting the throwaway cluster.
const DefaultTeardownTimeout = 3 * time.Minute

// DefaultLogsTimeout bounds exporting the clusters' logs after a failure.
const DefaultLogsTimeout = 2 * time.Minute

// Cluster is a cluster under test, made by a Provisioner.
type Cluster struct {
	Name       string
	Kubeconfig string
	// Throwaway clusters are deleted at teardown unless kept.
	Throwaway bool
}

// Provisioner makes and removes the cluster under test. The kind provider
// is the real one; tests may use another.
type Provisioner interface {
	// Provision makes (or reaches) the cluster of the scenario.
	Provision(ctx context.Context, sc *scenarios.Scenario, name string) (*Cluster, error)
	// LoadImage makes an image archive available on every node.
	LoadImage(ctx context.Context, c *Cluster, archive string) error
	// ExportLogs writes the cluster's logs into dir.
	ExportLogs(ctx context.Context, c *Cluster, dir string) error
	// Teardown deletes a throwaway cluster.
	Teardown(ctx context.Context, c *Cluster) error
}

// EngineReporter is a Provisioner that can tell which container engine
// (podman, docker) runs its clusters' nodes; drivers that work inside the
// nodes use the same one.
type EngineReporter interface {
	EngineInUse() string
}

// CanaryImager builds the canary image archive for the running build.
type CanaryImager func(ctx context.Context) (image, archive string, err error)

// Options of a rehearsal. Dependencies left nil are made from the defaults.
type Options struct {
	// Dir is the run folder; empty makes a new one under the scenario's
	// output dir. A Dir that already holds a rehearsal is refused unless
	// Force.
	Dir   string
	Force bool
	// Keep leaves the throwaway cluster running.
	Keep bool
	// Progress receives live progress for people (stderr); nil is quiet.
	Progress io.Writer
	// ProgressEvery is how often a live status line is printed.
	ProgressEvery time.Duration
	// Verbose also prints every upgrade step's start and end.
	Verbose bool
	// Provisioner makes the cluster; required.
	Provisioner Provisioner
	// Canary builds the canary image; nil uses the image preloaded in the
	// node image for this build's version.
	Canary CanaryImager
	// Drivers are the upgrade drivers by name; nil is driver.Drivers().
	Drivers driver.Registry
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Estimate, when set, estimates how long production's upgrade will
	// take (its node count) from the steps the rehearsal measured.
	Estimate *report.EstimateOptions
}

// Result is the outcome of a rehearsal.
type Result struct {
	Dir     string         `json:"dir"`
	Verdict report.Outcome `json:"verdict"`
	// Cluster names the cluster the rehearsal made or reached first (with
	// --keep, the one left running).
	Cluster string   `json:"cluster,omitempty"`
	Reasons []string `json:"reasons"`
	// Interrupted tells the rehearsal was stopped (Ctrl-C) before the end.
	Interrupted bool `json:"interrupted,omitempty"`
	// Phases are the phases that ran, with their outcome.
	Phases []PhaseRecord  `json:"phases"`
	Report *report.Report `json:"-"`
}

// PhaseRecord is one phase's start, end and outcome.
type PhaseRecord struct {
	Name    string    `json:"name"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Outcome string    `json:"outcome"`
	Error   string    `json:"error,omitempty"`
}

// InfraError is a failure of the rehearsal's machinery (the cluster could not
// be made, the canary not deployed), not a verdict on the upgrade.
type InfraError struct {
	Phase string
	Err   error
}

func (e *InfraError) Error() string { return e.Phase + ": " + e.Err.Error() }
func (e *InfraError) Unwrap() error { return e.Err }

// InputError is a scenario that asks for what the cluster cannot give, found
// only once the cluster exists: an image no node has, a workload that never
// becomes ready, a Service that is not there, a target that does not answer
// as the scenario expects before anything is upgraded. Like a scenario that
// does not validate, it is the user's to fix, not a verdict and not the
// machinery's failure.
type InputError struct {
	Err error
}

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// inputError marks err, when not nil, as the scenario's.
func inputError(err error) error {
	if err == nil {
		return nil
	}
	return &InputError{Err: err}
}

// run is one rehearsal's state.
type run struct {
	sc     *scenarios.Scenario
	o      Options
	folder runfolder.Folder
	dir    string
	tl     *timeline.Recorder
	res    *Result
	now    func() time.Time
	status *status
	// clusters are the live cluster and every other the rehearsal holds.
	clusters *clusters
	// restarts are the restart counts when the upgrade ended.
	restarts checklist.Restarts
	// drv is the scenario's driver.
	drv driver.Driver
	// reverted says the revert phase ran to its end.
	reverted bool
	// ledger is the stateful canary, if the scenario has one.
	ledger *ledgerRun
}

// Run rehearses the scenario: preflight, provision, canary, baseline,
// upgrade under load, after, verify, report, teardown. Teardown always
// runs, with its own context, unless Keep. What was recorded stays in the run
// folder even when the rehearsal is interrupted, and the report is rendered
// from it. The error is an *InfraError when the machinery failed; the
// verdict is in the Result.
func Run(ctx context.Context, sc *scenarios.Scenario, o Options) (res *Result, err error) {
	if o.Provisioner == nil {
		return nil, errors.New("rehearse: no cluster provisioner")
	}
	if err := CheckScenario(sc); err != nil {
		return nil, err
	}
	if o.Keep && !sc.Cluster.Keep {
		// The provisioner marks a cluster to be kept as one no orphan
		// pruning may take (cluster.CreateOptions.Throwaway).
		kept := *sc
		kept.Cluster.Keep = true
		sc = &kept
	}
	if o.Drivers == nil {
		o.Drivers = driver.Drivers()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	r := &run{sc: sc, o: o, now: o.Now, res: &Result{}, status: newStatus(o.Progress, o.Verbose)}
	r.clusters = &clusters{prov: o.Provisioner, sc: sc, keep: sc.Cluster.Keep, say: r.say}
	if o.Dir != "" {
		r.folder, err = runfolder.Use(o.Dir, o.Force)
	} else {
		r.folder, err = runfolder.Create(sc.Output.Dir, sc.Metadata.Name, o.Now())
	}
	if err != nil {
		return nil, &InfraError{Phase: PhasePreflight, Err: err}
	}
	r.dir = r.folder.Dir
	r.res.Dir = r.dir
	if err := r.writeScenario(); err != nil {
		return r.res, &InfraError{Phase: PhasePreflight, Err: err}
	}
	tl, err := timeline.Create(r.folder.Path(runfolder.Timeline))
	if err != nil {
		return r.res, &InfraError{Phase: PhasePreflight, Err: err}
	}
	r.tl = tl
	defer func() {
		err = errors.Join(err, tl.Close(), r.writeRun())
	}()
	return r.res, r.rehearse(ctx)
}

func (r *run) say(format string, args ...any) { r.status.say(format, args...) }

// phase runs one named phase, recording its start, end and outcome.
func (r *run) phase(name string, fn func() error) error {
	r.status.setPhase(name)
	rec := PhaseRecord{Name: name, Start: r.now()}
	r.tl.Emit(timeline.Event{Time: rec.Start, Source: timeline.SourcePhase, Kind: "start", Subject: name, Message: name})
	r.say("%s ...", name)
	err := fn()
	rec.End = r.now()
	rec.Outcome = "ok"
	if err != nil {
		rec.Outcome, rec.Error = "failed", err.Error()
	}
	r.tl.Emit(timeline.Event{Time: rec.End, Source: timeline.SourcePhase, Kind: "end", Subject: name, Outcome: rec.Outcome, Message: name})
	r.res.Phases = append(r.res.Phases, rec)
	if err != nil {
		r.say("%s failed after %s: %v", name, rec.End.Sub(rec.Start).Round(time.Second), err)
	} else {
		r.say("%s done in %s", name, rec.End.Sub(rec.Start).Round(100*time.Millisecond))
	}
	return err
}

// writeScenario writes the scenario as run. A profile's shape is already in
// it, so the copy stands alone: re-reporting never needs the profile file.
func (r *run) writeScenario() error {
	sc := *r.sc
	if sc.Cluster.FromProfile != "" {
		sc.Notes = append(append([]string(nil), sc.Notes...), "cluster shape read from the profile "+sc.Cluster.FromProfile)
		sc.Cluster.FromProfile = ""
	}
	b, err := scenarios.Marshal(&sc)
	if err != nil {
		return err
	}
	return r.folder.WriteFile(ScenarioFile, b)
}

func (r *run) writeRun() error {
	b, err := json.MarshalIndent(r.res, "", "  ")
	if err != nil {
		return err
	}
	return r.folder.WriteFile(RunFile, append(b, '\n'))
}

func (r *run) rehearse(ctx context.Context) (err error) {
	sc := r.sc
	drv, err := r.o.Drivers.New(sc.Upgrade)
	if err != nil {
		return &InfraError{Phase: PhasePreflight, Err: err}
	}
	cl, err := checklist.Resolve(sc.Checks.Checklist)
	if err != nil {
		return &InfraError{Phase: PhasePreflight, Err: err}
	}
	defer func() {
		if terr := r.teardown(ctx, err != nil || r.failed() || r.res.Verdict == report.Fail || requestFailed(r.res.Report)); terr != nil {
			r.res.Reasons = append(r.res.Reasons, "teardown failed: "+terr.Error())
			err = errors.Join(err, &InfraError{Phase: PhaseTeardown, Err: terr})
		}
	}()

	var cluster *Cluster
	var client kubernetes.Interface
	if err := r.phase(PhaseProvision, func() error {
		var err error
		cluster, err = r.o.Provisioner.Provision(ctx, sc, clusterName(sc.Metadata.Name, r.now()))
		if cluster == nil {
			return err
		}
		r.res.Cluster = cluster.Name
		r.clusters.add(cluster)
		r.clusters.setLive(cluster, nil)
		if err != nil {
			return err
		}
		if client, err = clientFor(cluster, sc.Cluster.Context); err != nil {
			return err
		}
		r.clusters.setLive(cluster, client)
		return nil
	}); err != nil {
		return r.stopped(ctx, PhaseProvision, err)
	}

	// Preflight on the cluster: the plan must be possible before anything changes.
	env := driver.Env{ClusterName: cluster.Name, Kubeconfig: cluster.Kubeconfig, Client: client, Fleet: r.clusters}
	if e, ok := r.o.Provisioner.(EngineReporter); ok {
		env.Engine = e.EngineInUse()
	}
	r.drv = drv
	var plan *driver.Plan
	if err := r.phase(PhasePreflight, func() error {
		var err error
		if plan, err = drv.Plan(ctx, env, sc.Upgrade.Hops()[0]); err != nil {
			return err
		}
		r.status.setSteps(len(plan.Leaves()))
		return r.writePlan(plan)
	}); err != nil {
		return r.stopped(ctx, PhasePreflight, err)
	}

	// A cluster made without a CNI gets its pod network from the
	// workloads: they go first, and every node is Ready before the canary.
	if sc.Cluster.NoCNI() {
		if err := r.applyWorkloads(ctx, cluster, client); err != nil {
			return r.stopped(ctx, PhaseWorkloads, err)
		}
	}
	var deployed *canary.Deployed
	if !sc.Canary.Disabled {
		if err := r.phase(PhaseCanary, func() error {
			image := sc.Canary.Image
			if image == "" && r.o.Canary != nil {
				img, archive, err := r.o.Canary(ctx)
				if err != nil {
					return err
				}
				if err := r.o.Provisioner.LoadImage(ctx, cluster, archive); err != nil {
					return err
				}
				image = img
				r.clusters.setArchive(archive)
			}
			opts, err := canaryOptions(sc.Canary, image)
			if err == nil {
				placeOnPool(&opts, sc.Cluster, sc.Canary.Pool)
			}
			if err != nil {
				return err
			}
			deployed, err = canary.Deploy(ctx, client, opts, r.o.Progress)
			return err
		}); err != nil {
			return r.stopped(ctx, PhaseCanary, err)
		}
	}
	if !sc.Cluster.NoCNI() {
		if err := r.applyWorkloads(ctx, cluster, client); err != nil {
			return r.stopped(ctx, PhaseWorkloads, err)
		}
	}
	var apps []appTarget
	if sc.Ledger.Enabled {
		if err := r.deployLedger(ctx, client); err != nil {
			return r.stopped(ctx, PhaseLedger, err)
		}
	}
	if len(sc.Load.Targets) > 0 {
		if err := r.phase(PhaseTargets, func() error {
			var err error
			apps, err = resolveTargets(ctx, client, sc.Load.Targets)
			return inputError(err)
		}); err != nil {
			return r.stopped(ctx, PhaseTargets, err)
		}
	}
	if r.ledger != nil {
		apps = append(apps, r.ledger.target)
	}

	log, err := r.folder.Create(DriverLog)
	if err != nil {
		return r.stopped(ctx, PhaseStage, err)
	}
	defer log.Close()
	env.Log = log
	if plan.HasStage() {
		defer func() { _ = plan.Release(context.WithoutCancel(ctx), env) }()
		if err := r.phase(PhaseStage, func() error {
			return plan.Stage(ctx, env, r.status.tracker(r.stepEmitter(ctx)))
		}); err != nil {
			return r.stopped(ctx, PhaseStage, err)
		}
	}

	r.restarts, _ = checklist.RestartCounts(ctx, client)
	loadErr := r.underLoad(ctx, env, plan, deployed, apps, client, cl)

	// A blue-green swap leaves another cluster under test.
	_, client = r.clusters.Live()
	var final checklist.Result
	var checkErr error
	if ctx.Err() == nil {
		_ = r.phase(PhaseVerify, func() error {
			opts := checklist.Options{ExpectVersion: sc.Upgrade.Target, RestartBaseline: r.restarts}
			if r.reverted {
				opts.WorkerVersion = sc.Cluster.KubernetesVersion
			}
			final, checkErr = checklist.Check(ctx, client, cl, opts)
			if checkErr != nil {
				return checkErr
			}
			b, _ := json.MarshalIndent(final, "", "  ")
			if err := r.folder.WriteFile(ChecklistFile, append(b, '\n')); err != nil {
				return err
			}
			if final.Outcome != checklist.Pass {
				return fmt.Errorf("%d of %d checklist items failed", len(final.Failed()), len(final.Items))
			}
			return nil
		})
	}

	rerr := r.phase(PhaseReport, func() error {
		rep, err := BuildReport(r.dir, sc)
		if err != nil {
			return err
		}
		if r.o.Estimate != nil {
			// A failed estimate does not spoil the rehearsal: it is said
			// and the report goes without it.
			if err := AddEstimate(rep, sc, *r.o.Estimate); err != nil {
				r.say("no estimate of production's upgrade: %v", err)
			}
		}
		rep.AddCheck(upgradeCheck(sc, r.res.Phases, ctx.Err() != nil))
		if sc.Upgrade.Revert {
			rep.AddCheck(revertCheck(sc, r.res.Phases, ctx.Err() != nil))
		}
		if ctx.Err() == nil {
			rep.AddCheck(checklistCheck(final, checkErr))
		} else {
			rep.AddCheck(notChecked(sc))
		}
		r.res.Report = rep
		r.res.Verdict, r.res.Reasons = rep.Verdict, append(r.res.Reasons, rep.Reasons...)
		_, err = report.WriteFiles(r.dir, rep, sc.Output.Formats)
		return err
	})
	if ctx.Err() != nil {
		r.res.Interrupted = true
		return nil
	}
	var in *InputError
	if errors.As(loadErr, &in) {
		return loadErr
	}
	if loadErr != nil {
		return &InfraError{Phase: PhaseBaseline, Err: loadErr}
	}
	if rerr != nil {
		return &InfraError{Phase: PhaseReport, Err: rerr}
	}
	return nil
}

// failed tells whether any phase of the rehearsal failed so far.
func (r *run) failed() bool {
	for _, p := range r.res.Phases {
		if p.Outcome == "failed" {
			return true
		}
	}
	return false
}

// writePlan writes the plan as it stands: every step's status and, once it
// ran, its duration.
func (r *run) writePlan(plan *driver.Plan) error {
	return r.writePlanAs(PlanFile, plan)
}

func (r *run) writePlanAs(file string, plan *driver.Plan) error {
	var b strings.Builder
	if err := plan.Render(&b); err != nil {
		return err
	}
	return r.folder.WriteFile(file, []byte(b.String()))
}

// revert runs the driver's revert plan: the workers back at the cluster's
// original version.
func (r *run) revert(ctx context.Context, env driver.Env) error {
	rv, ok := r.drv.(driver.Reverter)
	if !ok {
		return fmt.Errorf("the %s driver cannot revert", r.sc.Upgrade.Driver)
	}
	plan, err := rv.RevertPlan(ctx, env, r.sc.Cluster.KubernetesVersion)
	if err != nil {
		return err
	}
	r.status.setSteps(len(plan.Leaves()))
	err = plan.Execute(ctx, env, r.status.tracker(r.stepEmitter(ctx)))
	return errors.Join(err, r.writePlanAs(RevertPlanFile, plan))
}

// requestFailed: a request of the recording failed. A verdict can pass
// with a few failures within its allowances; the cluster's logs are what
// explains them.
func requestFailed(rep *report.Report) bool {
	if rep == nil {
		return false
	}
	for _, m := range rep.Runs {
		for _, p := range m.Phases {
			if p.Failures > 0 {
				return true
			}
		}
	}
	return false
}

// teardown collects the clusters' logs when anything failed or the run was
// interrupted, then deletes every throwaway cluster unless asked to keep
// them. Both run with contexts of their own, so an interrupted run still
// cleans up, and a log export that hangs cannot use up the deletion's time.
func (r *run) teardown(ctx context.Context, failed bool) error {
	all := r.clusters.List()
	if len(all) == 0 {
		return nil
	}
	if failed || ctx.Err() != nil {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultLogsTimeout)
		_ = r.phase("collect logs", func() error {
			var errs []error
			for i, c := range all {
				dir := r.folder.Path(LogsDir)
				if i > 0 {
					dir = filepath.Join(dir, c.Name)
				}
				errs = append(errs, r.o.Provisioner.ExportLogs(lctx, c, dir))
			}
			return errors.Join(errs...)
		})
		cancel()
	}
	var throwaway []*Cluster
	for _, c := range all {
		if c.Throwaway {
			throwaway = append(throwaway, c)
		}
	}
	if len(throwaway) == 0 {
		return nil
	}
	if r.o.Keep || r.sc.Cluster.Keep {
		for _, c := range throwaway {
			r.say("keeping cluster %s (kubeconfig %s)", c.Name, c.Kubeconfig)
		}
		return nil
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultTeardownTimeout)
	defer cancel()
	return r.phase(PhaseTeardown, func() error {
		var errs []error
		for _, c := range throwaway {
			errs = append(errs, r.o.Provisioner.Teardown(tctx, c))
		}
		return errors.Join(errs...)
	})
}

// stopped turns a phase failure into the run's error; an interruption is
// not an infrastructure failure but is reported as one (nothing was judged).
func (r *run) stopped(ctx context.Context, phase string, err error) error {
	if ctx.Err() != nil {
		r.res.Interrupted = true
		r.res.Verdict = report.Inconclusive
		r.res.Reasons = append(r.res.Reasons, "interrupted during "+phase)
	}
	var in *InputError
	if ctx.Err() == nil && errors.As(err, &in) {
		return &InputError{Err: fmt.Errorf("%s: %w", phase, err)}
	}
	return &InfraError{Phase: phase, Err: err}
}

// upgradeCheck is the upgrade's own outcome, from the upgrade phase as
// recorded: passed when it ended ok (even if the run was interrupted later),
// inconclusive when it was interrupted or never ran to its end.
func upgradeCheck(sc *scenarios.Scenario, phases []PhaseRecord, interrupted bool) report.Check {
	c := report.Check{Name: "upgrade", Outcome: report.Inconclusive, Message: "the upgrade did not run to its end"}
	hops := sc.Upgrade.Hops()
	done := 0
	for _, p := range phases {
		if !IsUpgradePhase(p.Name) {
			continue
		}
		switch {
		case p.Outcome == "ok":
			done++
			continue
		case sc.Upgrade.AbortAfter > 0 && strings.Contains(p.Error, driver.ErrAborted.Error()):
			c.Outcome, c.Message = report.Pass, fmt.Sprintf("%s upgrade to %s aborted after %d workers, as the scenario asked", sc.Upgrade.Driver, sc.Upgrade.Target, sc.Upgrade.AbortAfter)
		case interrupted:
			c.Message = "interrupted before the upgrade finished"
		case len(hops) > 1:
			c.Outcome, c.Message = report.Fail, fmt.Sprintf("%s (hop to %s): %s", p.Name, hopOf(hops, p.Name), p.Error)
		default:
			c.Outcome, c.Message = report.Fail, p.Error
		}
		return c
	}
	switch {
	case done < len(hops):
	case sc.Upgrade.Driver == scenarios.DriverNone:
		c.Outcome, c.Message = report.Pass, fmt.Sprintf("%d fault drills at %s healed (no upgrade)", len(sc.Upgrade.Faults), sc.Upgrade.Target)
	case len(hops) > 1:
		c.Outcome, c.Message = report.Pass, fmt.Sprintf("%s upgrade to %s finished in %d hops (%s)", sc.Upgrade.Driver, sc.Upgrade.Target, len(hops), strings.Join(hops, ", "))
	default:
		c.Outcome, c.Message = report.Pass, fmt.Sprintf("%s upgrade to %s finished", sc.Upgrade.Driver, sc.Upgrade.Target)
	}
	return c
}

// hopOf is the version an upgrade phase's hop goes to.
func hopOf(hops []string, phase string) string {
	for i, h := range hops {
		if HopPhase(i, len(hops)) == phase {
			return h
		}
	}
	return "?"
}

// revertCheck is the revert's own outcome, from its phase as recorded.
func revertCheck(sc *scenarios.Scenario, phases []PhaseRecord, interrupted bool) report.Check {
	c := report.Check{Name: "revert", Outcome: report.Fail, Message: "the revert did not run: the upgrade failed before it"}
	if interrupted {
		c.Outcome, c.Message = report.Inconclusive, "interrupted before the revert finished"
	}
	for _, p := range phases {
		if p.Name != PhaseRevert {
			continue
		}
		switch {
		case p.Outcome == "ok":
			c.Outcome, c.Message = report.Pass, fmt.Sprintf("workers back at %s (the control plane stays at %s: kubeadm upgrade apply is not reversible)", sc.Cluster.KubernetesVersion, sc.Upgrade.Target)
		case interrupted:
		default:
			c.Outcome, c.Message = report.Fail, p.Error
		}
	}
	return c
}

// notChecked is the final checklist of a rehearsal interrupted before it:
// never a pass, whatever the traffic showed.
func notChecked(sc *scenarios.Scenario) report.Check {
	return report.Check{Name: "checklist " + sc.Checks.Checklist, Outcome: report.Inconclusive, Message: "not run: the rehearsal was interrupted before the final check"}
}

func checklistCheck(final checklist.Result, err error) report.Check {
	c := report.Check{Name: "checklist " + final.Checklist}
	switch {
	case err != nil:
		c.Outcome, c.Message = report.Fail, "the final check could not run: "+err.Error()
	case final.Outcome == checklist.Pass:
		c.Outcome, c.Message = report.Pass, fmt.Sprintf("all %d items passed at %s", len(final.Items), final.ExpectVersion)
	default:
		var parts []string
		for _, it := range final.Failed() {
			parts = append(parts, it.Component+": "+it.Message)
		}
		c.Outcome, c.Message = report.Fail, strings.Join(parts, "; ")
	}
	if err != nil {
		return c
	}
	// Each component is a check of its own in every report (a JUnit test
	// case each): what was expected, what was seen, and the verdict.
	for _, it := range final.Items {
		expected := "Ready, not restarting"
		if final.ExpectVersion != "" && it.Version != "" {
			expected = "Ready at " + final.ExpectVersion + ", not restarting"
		}
		if it.Optional {
			expected += " (optional)"
		}
		seen := "ready " + it.Ready
		if it.Version != "" {
			seen += ", " + it.Version
		}
		seen += fmt.Sprintf(", %d restarts", it.Restarts)
		outcome := report.Pass
		if it.Outcome == checklist.Fail {
			outcome = report.Fail
		}
		c.Items = append(c.Items, report.CheckItem{Component: it.Component, Expected: expected, Seen: seen, Outcome: outcome, Message: it.Message})
	}
	return c
}

// AddEstimate estimates from the rehearsal's timeline how long production's
// upgrade will take; MaxUnavailable defaults to the scenario's.
func AddEstimate(rep *report.Report, sc *scenarios.Scenario, o report.EstimateOptions) error {
	switch {
	case o.MaxUnavailable != 0:
	case sc.Upgrade.Kubeadm != nil:
		o.MaxUnavailable = sc.Upgrade.Kubeadm.MaxUnavailable
	case sc.Upgrade.Replace != nil:
		// A batch replaces maxSurge+maxUnavailable workers.
		o.MaxUnavailable = sc.Upgrade.Replace.MaxSurge + sc.Upgrade.Replace.MaxUnavailable
	}
	e, err := report.EstimateUpgrade(rep.Timeline, o)
	if err != nil {
		return err
	}
	rep.Estimate = e
	return nil
}

// BuildReport renders the report of a run folder from what it recorded:
// results, timeline and scenario. It works on interrupted runs too.
func BuildReport(dir string, sc *scenarios.Scenario) (*report.Report, error) {
	m, err := report.Load(dir, report.LoadOptions{})
	if err != nil {
		return nil, err
	}
	rep, err := report.JudgeRun(m, PhaseBaseline, JudgeRules(sc.Checks.Judge))
	if err != nil {
		return nil, err
	}
	if s, ok, err := ledgerCheck(dir, sc); err != nil {
		return nil, err
	} else if ok {
		rep.AddCheck(s.Check())
	}
	if a := m.Accounting; a != nil && len(a.Generators) > 0 {
		rep.AddCheck(generatorsCheck(*a, sc.Load.Generators.Shortfall()))
	}
	rep.Title = fmt.Sprintf("%s: %s upgrade to %s", sc.Metadata.Name, sc.Upgrade.Driver, sc.Upgrade.Target)
	if sc.Upgrade.Driver == scenarios.DriverNone {
		rep.Title = fmt.Sprintf("%s: fault drills at %s, no upgrade", sc.Metadata.Name, sc.Upgrade.Target)
	}
	evs, err := timeline.Read(filepath.Join(dir, timeline.File))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		rep.SetTimeline(evs)
	}
	return rep, nil
}

func clusterName(scenario string, now time.Time) string {
	n := strings.ToLower(scenario)
	n = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, n)
	if len(n) > 20 {
		n = n[:20]
	}
	// The random part keeps two rehearsals of one scenario started in the
	// same second from sharing a cluster name, and so from ever touching
	// each other's nodes.
	return fmt.Sprintf("rh-%s-%s-%s", strings.Trim(n, "-"), now.UTC().Format("150405"), runfolder.Suffix())
}

// resourceList turns a scenario's cpu and memory into Kubernetes quantities.
func resourceList(field string, l scenarios.ResourceList) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	for name, v := range map[corev1.ResourceName]string{corev1.ResourceCPU: l.CPU, corev1.ResourceMemory: l.Memory} {
		if v == "" {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %q is not a quantity such as 10m or 16Mi", field, name, v)
		}
		out[name] = q
	}
	return out, nil
}

// placeOnPool puts the canary on the pool's nodes: their pool label
// selected, their taints tolerated.
func placeOnPool(o *canary.DeployOptions, c scenarios.Cluster, pool string) {
	p := c.PoolOf(pool)
	if p == nil {
		return
	}
	sel := map[string]string{scenarios.PoolLabel: p.Name}
	for k, v := range o.NodeSelector {
		sel[k] = v
	}
	o.NodeSelector = sel
	o.NoControlPlane = true
	for _, t := range p.Taints {
		o.Tolerations = append(o.Tolerations, corev1.Toleration{
			Key: t.Key, Operator: corev1.TolerationOpEqual, Value: t.Value, Effect: corev1.TaintEffect(t.Effect),
		})
	}
}

func canaryOptions(c scenarios.Canary, image string) (canary.DeployOptions, error) {
	o := canary.DeployOptions{
		Image:        image,
		Replicas:     int32(c.Replicas),
		NodePort:     int32(c.NodePort),
		NodeSelector: c.NodeSelector,
	}
	if image == "" {
		o.Image = nodeimage.CanaryImage(Version())
	}
	o.StartupDelay = c.StartupDelay.Duration
	if c.DrainDelay != nil {
		o.DrainDelay = c.DrainDelay.Duration
		o.NoDrainDelay = c.DrainDelay.Duration == 0
	}
	if c.NodePort == 0 {
		o.NodePort = canary.AllocateNodePort
	}
	switch {
	case c.PDB.Disabled:
		o.PDB.Disabled = true
	case c.PDB.MinAvailable != nil:
		o.PDB.MinAvailable = int32(*c.PDB.MinAvailable)
	case c.PDB.MaxUnavailable != nil:
		o.PDB.MaxUnavailable = int32(*c.PDB.MaxUnavailable)
	}
	// The scenario's requests and limits, as written; none keeps the
	// canary's defaults.
	var err error
	if o.Resources.Requests, err = resourceList("canary.resources.requests", c.Resources.Requests); err != nil {
		return o, err
	}
	if o.Resources.Limits, err = resourceList("canary.resources.limits", c.Resources.Limits); err != nil {
		return o, err
	}
	return o, nil
}
