package rehearse

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/canary"
	"github.com/rehearse/rehearse/rehearse/checklist"
	"github.com/rehearse/rehearse/rehearse/driver"
	"github.com/rehearse/rehearse/rehearse/runfolder"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/report"
)

// underLoad runs the baseline, upgrade and after phases with one continuous
// attack going through the canary's node ports. It returns the upgrade's
// load's own error: a failed upgrade is recorded as its phase and judged, a
// failed load generator is an infrastructure failure.
func (r *run) underLoad(ctx context.Context, env driver.Env, plan *driver.Plan,
	deployed *canary.Deployed, client kubernetes.Interface, cl checklist.Checklist) error {
	sc := r.sc
	targets := deployed.Targets()
	if len(targets) == 0 {
		return errors.New("the canary has no node to reach it through")
	}
	if err := r.phase("warm-up", func() error { return loadgen.WarmUp(ctx, targets, warmUpTimeout) }); err != nil {
		return err
	}
	rot := loadgen.NewRotation(targets)
	var probes []loadgen.Probe
	for _, p := range sc.Load.Probes {
		probes = append(probes, loadgen.Probe(p))
	}
	atk, err := loadgen.New(loadgen.Spec{Rotation: rot, Rate: sc.Load.Rate, Probes: probes, Timeout: sc.Load.Timeout.Duration, Phase: PhaseBaseline})
	if err != nil {
		return err
	}
	rec, err := loadgen.CreateRecorder(r.folder.Path(runfolder.Results))
	if err != nil {
		return err
	}
	col := report.NewCollector(report.CollectorOptions{ReorderWindow: sc.Load.Timeout.Duration + time.Second})

	loadCtx, stopLoad := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoad()
	traffic := newLiveTraffic(loadCtx, rot, r.tl, deployed)
	traffic.start(targets)
	defer traffic.stop()
	env.Traffic = traffic

	type outcome struct {
		acc loadgen.Accounting
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		acc, err := atk.Run(loadCtx, rec, col)
		done <- outcome{acc, err}
	}()
	progressDone := make(chan struct{})
	go r.status.progress(loadCtx, r.o.ProgressEvery, atk, progressDone)

	finish := func() error {
		stopLoad()
		out := <-done
		<-progressDone
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
	switchTo := func(phase string) {
		_ = atk.SetPhase(phase)
		r.tl.Emit(timeline.Event{Source: timeline.SourceLoadgen, Kind: "phase", Subject: phase, Message: "requests now tagged " + phase})
	}

	r.tl.Emit(timeline.Event{Source: timeline.SourceLoadgen, Kind: "start", Message: fmt.Sprintf("load %.0f/s over %d targets: %v", sc.Load.Rate, len(targets), targets)})
	if err := r.phase(PhaseBaseline, func() error { return wait(sc.Load.Baseline.Duration) }); err != nil {
		return finish()
	}

	switchTo(PhaseUpgrade)
	log, err := r.folder.Create(DriverLog)
	if err != nil {
		return errors.Join(err, finish())
	}
	defer log.Close()
	env.Log = log
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		_, _ = checklist.Watch(watchCtx, client, cl, checklist.Options{}, r.tl)
	}()
	_ = r.phase(PhaseUpgrade, func() error {
		return plan.Execute(ctx, env, r.status.tracker(r.tl))
	})
	stopWatch()
	<-watchDone
	perr := r.writePlan(plan)
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
	_ = r.phase(PhaseAfter, func() error { return wait(sc.Load.After.Duration) })
	return errors.Join(perr, finish())
}

// warmUpTimeout bounds waiting for every node port to reach the canary.
const warmUpTimeout = 2 * time.Minute
