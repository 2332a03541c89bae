package rehearse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/canary"
	"github.com/rehearse/rehearse/rehearse/checklist"
	"github.com/rehearse/rehearse/rehearse/driver"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/report"
)

// underLoad runs the baseline, upgrade and after phases with one continuous
// attack going through the canary's node ports. It returns the upgrade's
// error and the load's own error separately: a failed upgrade is judged, a
// failed load generator is an infrastructure failure.
func (r *run) underLoad(ctx context.Context, drv driver.Driver, env driver.Env, plan *driver.Plan,
	deployed *canary.Deployed, client kubernetes.Interface, cl checklist.Checklist) (upgradeErr, loadErr error) {
	sc := r.sc
	targets := deployed.Targets()
	if len(targets) == 0 {
		return nil, errors.New("the canary has no node to reach it through")
	}
	if err := r.phase("warm-up", func() error { return loadgen.WarmUp(ctx, targets, warmUpTimeout) }); err != nil {
		return nil, err
	}
	rot := loadgen.NewRotation(targets)
	var probes []loadgen.Probe
	for _, p := range sc.Load.Probes {
		probes = append(probes, loadgen.Probe(p))
	}
	atk, err := loadgen.New(loadgen.Spec{Rotation: rot, Rate: sc.Load.Rate, Probes: probes, Timeout: sc.Load.Timeout.Duration, Phase: PhaseBaseline})
	if err != nil {
		return nil, err
	}
	rec, err := loadgen.CreateRecorder(filepath.Join(r.dir, loadgen.ResultsFile))
	if err != nil {
		return nil, err
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
	go r.progress(loadCtx, atk, progressDone)

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
		return nil, errors.Join(finish())
	}

	switchTo(PhaseUpgrade)
	log, err := os.Create(filepath.Join(r.dir, DriverLog))
	if err != nil {
		return nil, errors.Join(err, finish())
	}
	defer log.Close()
	env.Log = log
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		_, _ = checklist.Watch(watchCtx, client, cl, checklist.Options{}, r.tl)
	}()
	upgradeErr = r.phase(PhaseUpgrade, func() error {
		return drv.Upgrade(ctx, env, plan, stepTracker{r: r, next: r.tl})
	})
	stopWatch()
	<-watchDone
	if f, err := os.Create(filepath.Join(r.dir, PlanFile)); err == nil {
		_ = plan.Render(f)
		f.Close()
	}
	if ctx.Err() != nil {
		return upgradeErr, finish()
	}

	// Restarts during the upgrade are on the timeline; the final check
	// counts only those after it (a component that keeps restarting). A
	// blue-green swap leaves another cluster under test.
	client = r.liveClient()
	if rs, err := checklist.RestartCounts(ctx, client); err == nil {
		r.restarts = rs
	}
	switchTo(PhaseAfter)
	_ = r.phase(PhaseAfter, func() error { return wait(sc.Load.After.Duration) })
	return upgradeErr, finish()
}

// stepTracker passes events on and remembers the upgrade step in progress
// for the live status line.
type stepTracker struct {
	r    *run
	next timeline.Emitter
}

func (s stepTracker) Emit(e timeline.Event) {
	s.next.Emit(e)
	if e.Source != timeline.SourceDriver {
		return
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	switch e.Kind {
	case "start":
		s.r.step = e.Message
		if e.Subject != "" && e.Subject != e.Message {
			s.r.step = e.Subject + ": " + e.Message
		}
	case "drain-blocked":
		s.r.step = e.Message
	}
}

// progress prints a live status line: phase, elapsed, rate, errors so far,
// the upgrade step in progress.
func (r *run) progress(ctx context.Context, atk *loadgen.Attack, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(r.o.ProgressEvery)
	defer t.Stop()
	var lastSent int64
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s := atk.Snapshot()
			rate := float64(s.Sent-lastSent) / now.Sub(last).Seconds()
			lastSent, last = s.Sent, now
			r.mu.Lock()
			phase, step := r.current, r.step
			r.mu.Unlock()
			line := fmt.Sprintf("%-8s %5.0fs  %6.1f req/s  sent %d  errors %d", phase, s.Elapsed.Seconds(), rate, s.Sent, s.Errors)
			if phase == PhaseUpgrade && step != "" {
				line += "  step: " + step
			}
			r.say("%s", line)
		}
	}
}

// warmUpTimeout bounds waiting for every node port to reach the canary.
const warmUpTimeout = 2 * time.Minute
