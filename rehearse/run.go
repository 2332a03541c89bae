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
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/canary"
	"github.com/rehearse/rehearse/rehearse/checklist"
	"github.com/rehearse/rehearse/rehearse/driver"
	"github.com/rehearse/rehearse/rehearse/nodeimage"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

// Phases of a rehearsal, in order.
const (
	PhasePreflight = "preflight"
	PhaseProvision = "provision"
	PhaseCanary    = "canary"
	PhaseBaseline  = "baseline"
	PhaseUpgrade   = "upgrade"
	PhaseAfter     = "after"
	PhaseVerify    = "verify"
	PhaseReport    = "report"
	PhaseTeardown  = "teardown"
)

// Files of a run folder besides the load's results and summary.
const (
	ScenarioFile  = "scenario.yaml"
	PlanFile      = "plan.txt"
	DriverLog     = "driver.log"
	ChecklistFile = "checklist.json"
	RunFile       = "run.json"
	LogsDir       = "cluster-logs"
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

// CanaryImager builds the canary image archive for the running build.
type CanaryImager func(ctx context.Context) (image, archive string, err error)

// Options of a rehearsal. Dependencies left nil are made from the defaults.
type Options struct {
	// Dir is the run folder; empty makes one under the scenario's output dir.
	Dir string
	// Keep leaves the throwaway cluster running.
	Keep bool
	// Progress receives live progress for people (stderr); nil is quiet.
	Progress io.Writer
	// ProgressEvery is how often a live status line is printed.
	ProgressEvery time.Duration
	// Provisioner makes the cluster; required.
	Provisioner Provisioner
	// Canary builds the canary image; nil uses the image preloaded in the
	// node image for this build's version.
	Canary CanaryImager
	// Drivers are the upgrade drivers by name; nil is DefaultDrivers.
	Drivers driver.Registry
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Result is the outcome of a rehearsal.
type Result struct {
	Dir     string         `json:"dir"`
	Verdict report.Outcome `json:"verdict"`
	Reasons []string       `json:"reasons"`
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

// DefaultDrivers are the registered upgrade drivers.
func DefaultDrivers() driver.Registry {
	return driver.Registry{
		scenarios.DriverKubeadm: func(settings any) (driver.Driver, error) {
			s, _ := settings.(*scenarios.KubeadmSettings)
			if s == nil {
				s = &scenarios.KubeadmSettings{}
			}
			return driver.NewKubeadm(driver.KubeadmSettings{MaxUnavailable: s.MaxUnavailable, NodeInterval: s.NodeInterval.Duration, DrainTimeout: s.DrainTimeout.Duration})
		},
		scenarios.DriverBlueGreen: func(settings any) (driver.Driver, error) {
			s, _ := settings.(*scenarios.BlueGreen)
			if s == nil {
				s = &scenarios.BlueGreen{}
			}
			return driver.NewBlueGreen(driver.BlueGreenSettings{Settle: s.Settle.Duration, Rollback: s.Rollback, Namespaces: s.Namespaces})
		},
		scenarios.DriverExec: func(settings any) (driver.Driver, error) {
			s, _ := settings.(*scenarios.Exec)
			if s == nil {
				return nil, errors.New("exec driver: no settings")
			}
			return driver.NewExec(driver.ExecSettings{Command: s.Command, Shell: s.Shell, Timeout: s.Timeout.Duration, Env: s.Env, Dir: s.Dir})
		},
	}
}

// DriverSettings are the scenario settings of the upgrade's driver.
func DriverSettings(u scenarios.Upgrade) any {
	switch u.Driver {
	case scenarios.DriverKubeadm:
		return u.Kubeadm
	case scenarios.DriverExec:
		return u.Exec
	case scenarios.DriverBlueGreen:
		return u.BlueGreen
	}
	return nil
}

// run is one rehearsal's state.
type run struct {
	sc      *scenarios.Scenario
	o       Options
	dir     string
	tl      *timeline.Recorder
	res     *Result
	now     func() time.Time
	mu      sync.Mutex
	current string // the phase in force, for progress
	step    string // the upgrade step in progress
	// restarts are the restart counts when the upgrade ended.
	restarts checklist.Restarts
	// live is the cluster under test and client reaches it; a blue-green
	// swap changes them.
	live   *Cluster
	client kubernetes.Interface
	// clusters are every cluster the rehearsal holds, deleted at teardown.
	clusters []*Cluster
	// canaryArchive is the canary image loaded into the clusters.
	canaryArchive string
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
	if o.Drivers == nil {
		o.Drivers = DefaultDrivers()
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
	r := &run{sc: sc, o: o, now: o.Now, res: &Result{}}
	r.dir = o.Dir
	if r.dir == "" {
		r.dir = filepath.Join(sc.Output.Dir, fmt.Sprintf("%s-%s", sc.Metadata.Name, o.Now().UTC().Format("20060102T150405Z")))
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, &InfraError{Phase: PhasePreflight, Err: err}
	}
	r.res.Dir = r.dir
	if err := r.writeScenario(); err != nil {
		return r.res, &InfraError{Phase: PhasePreflight, Err: err}
	}
	tl, err := timeline.Create(filepath.Join(r.dir, timeline.File))
	if err != nil {
		return r.res, &InfraError{Phase: PhasePreflight, Err: err}
	}
	r.tl = tl
	defer func() {
		err = errors.Join(err, tl.Close(), r.writeRun())
	}()
	return r.res, r.rehearse(ctx)
}

func (r *run) say(format string, args ...any) {
	fmt.Fprintf(r.o.Progress, "rehearse: "+format+"\n", args...)
}

// phase runs one named phase, recording its start, end and outcome.
func (r *run) phase(name string, fn func() error) error {
	r.mu.Lock()
	r.current = name
	r.mu.Unlock()
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
	return os.WriteFile(filepath.Join(r.dir, ScenarioFile), b, 0o644)
}

func (r *run) writeRun() error {
	b, err := json.MarshalIndent(r.res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(r.dir, RunFile), append(b, '\n'), 0o644)
}

func (r *run) rehearse(ctx context.Context) (err error) {
	sc := r.sc
	drv, err := r.o.Drivers.New(sc.Upgrade.Driver, DriverSettings(sc.Upgrade))
	if err != nil {
		return &InfraError{Phase: PhasePreflight, Err: err}
	}
	cl, err := checklist.Resolve(sc.Checks.Checklist)
	if err != nil {
		return &InfraError{Phase: PhasePreflight, Err: err}
	}

	var failed bool
	defer func() {
		if terr := r.teardown(ctx, failed || err != nil || r.res.Verdict == report.Fail); terr != nil {
			r.res.Reasons = append(r.res.Reasons, "teardown failed: "+terr.Error())
			err = errors.Join(err, &InfraError{Phase: PhaseTeardown, Err: terr})
		}
	}()

	name := clusterName(sc.Metadata.Name, r.now())
	var cluster *Cluster
	if err := r.phase(PhaseProvision, func() error {
		var err error
		cluster, err = r.o.Provisioner.Provision(ctx, sc, name)
		if cluster != nil {
			r.addCluster(cluster)
			r.setLive(cluster, nil)
		}
		return err
	}); err != nil {
		failed = true
		return r.stopped(ctx, PhaseProvision, err)
	}
	client, err := clientFor(cluster, sc.Cluster.Context)
	if err != nil {
		failed = true
		return &InfraError{Phase: PhaseProvision, Err: err}
	}
	r.setLive(cluster, client)

	// Preflight on the cluster: the plan must be possible before anything changes.
	env := driver.Env{ClusterName: cluster.Name, Kubeconfig: cluster.Kubeconfig, Client: client, Fleet: fleet{r}}
	if e, ok := r.o.Provisioner.(interface{ EngineInUse() string }); ok {
		env.Engine = e.EngineInUse()
	}
	var plan *driver.Plan
	if err := r.phase(PhasePreflight, func() error {
		var err error
		plan, err = drv.Plan(ctx, env, sc.Upgrade.Target)
		if err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(r.dir, PlanFile))
		if err != nil {
			return err
		}
		defer f.Close()
		return plan.Render(f)
	}); err != nil {
		failed = true
		return r.stopped(ctx, PhasePreflight, err)
	}

	var deployed *canary.Deployed
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
			image, r.canaryArchive = img, archive
		}
		opts := canaryOptions(sc.Canary, image)
		var err error
		deployed, err = canary.Deploy(ctx, client, opts, r.o.Progress)
		return err
	}); err != nil {
		failed = true
		return r.stopped(ctx, PhaseCanary, err)
	}

	r.restarts, _ = checklist.RestartCounts(ctx, client)
	upgradeErr, loadErr := r.underLoad(ctx, drv, env, plan, deployed, client, cl)
	if loadErr != nil {
		failed = true
	}
	if upgradeErr != nil {
		failed = true
	}

	// A blue-green swap leaves another cluster under test.
	client = r.liveClient()
	var final checklist.Result
	var checkErr error
	if ctx.Err() == nil {
		_ = r.phase(PhaseVerify, func() error {
			final, checkErr = checklist.Check(ctx, client, cl, checklist.Options{ExpectVersion: sc.Upgrade.Target, RestartBaseline: r.restarts})
			if checkErr != nil {
				failed = true
				return checkErr
			}
			b, _ := json.MarshalIndent(final, "", "  ")
			if err := os.WriteFile(filepath.Join(r.dir, ChecklistFile), append(b, '\n'), 0o644); err != nil {
				return err
			}
			if final.Outcome != checklist.Pass {
				failed = true
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
		rep.AddCheck(upgradeCheck(sc, r.res.Phases, ctx.Err() != nil))
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
	if loadErr != nil {
		return &InfraError{Phase: PhaseBaseline, Err: loadErr}
	}
	if rerr != nil {
		return &InfraError{Phase: PhaseReport, Err: rerr}
	}
	return nil
}

// teardown collects the clusters' logs when anything failed or the run was
// interrupted, then deletes every throwaway cluster unless asked to keep
// them. Both run with contexts of their own, so an interrupted run still
// cleans up, and a log export that hangs cannot use up the deletion's time.
func (r *run) teardown(ctx context.Context, failed bool) error {
	all := r.allClusters()
	if len(all) == 0 {
		return nil
	}
	if failed || ctx.Err() != nil {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultLogsTimeout)
		_ = r.phase("collect logs", func() error {
			var errs []error
			for i, c := range all {
				dir := filepath.Join(r.dir, LogsDir)
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
	return &InfraError{Phase: phase, Err: err}
}

// upgradeCheck is the upgrade's own outcome, from the upgrade phase as
// recorded: passed when it ended ok (even if the run was interrupted later),
// inconclusive when it was interrupted or never ran to its end.
func upgradeCheck(sc *scenarios.Scenario, phases []PhaseRecord, interrupted bool) report.Check {
	c := report.Check{Name: "upgrade", Outcome: report.Inconclusive, Message: "the upgrade did not run to its end"}
	for _, p := range phases {
		if p.Name != PhaseUpgrade {
			continue
		}
		switch {
		case p.Outcome == "ok":
			c.Outcome, c.Message = report.Pass, fmt.Sprintf("%s upgrade to %s finished", sc.Upgrade.Driver, sc.Upgrade.Target)
		case interrupted:
			c.Message = "interrupted before the upgrade finished"
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
	return c
}

// BuildReport renders the report of a run folder from what it recorded:
// results, timeline and scenario. It works on interrupted runs too.
func BuildReport(dir string, sc *scenarios.Scenario) (*report.Report, error) {
	m, err := report.Load(dir, report.LoadOptions{})
	if err != nil {
		return nil, err
	}
	rep, err := report.JudgeRun(m, PhaseBaseline, sc.Checks.Judge.Rules())
	if err != nil {
		return nil, err
	}
	rep.Title = fmt.Sprintf("%s: %s upgrade to %s", sc.Metadata.Name, sc.Upgrade.Driver, sc.Upgrade.Target)
	evs, err := timeline.Read(filepath.Join(dir, timeline.File))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		rep.Timeline = evs
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
	return fmt.Sprintf("rh-%s-%s", strings.Trim(n, "-"), now.UTC().Format("150405"))
}

func canaryOptions(c scenarios.Canary, image string) canary.DeployOptions {
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
	return o
}
