package rehearse

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/timeline"
)

// status is what a person watching a rehearsal sees on stderr: lines of
// progress, the phase in force and the upgrade step in progress.
type status struct {
	out io.Writer
	// terminal redraws one live status line in place (carriage return)
	// instead of printing a line every tick.
	terminal bool
	// verbose prints every upgrade step's start and end as a line;
	// started holds the start of the steps in progress.
	verbose bool
	started map[string]time.Time

	mu    sync.Mutex
	phase string
	step  string
	// phaseStart is when the phase began; phaseFor how long it lasts when
	// that is known (baseline, after), zero otherwise.
	phaseStart time.Time
	phaseFor   time.Duration
	// steps is the number of the plan's actions; done those that ended.
	steps, done int
}

// newStatus writes to out, redrawing the live line when out is a terminal.
func newStatus(out io.Writer, verbose bool) *status {
	s := &status{out: out, verbose: verbose}
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		s.terminal = true
	}
	return s
}

func (s *status) say(format string, args ...any) {
	if s.terminal {
		fmt.Fprint(s.out, "\r\033[K") // over the live line, redrawn at the next tick
	}
	fmt.Fprintf(s.out, "rehearse: "+format+"\n", args...)
}

// setSteps tells how many actions the upgrade plan has.
func (s *status) setSteps(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps, s.done = n, 0
}

func (s *status) setPhase(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase, s.phaseStart, s.phaseFor = name, time.Now(), 0
}

// lasts tells how long the phase in force lasts, so that the live line can
// say how much of it is left.
func (s *status) lasts(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phaseFor = d
}

func (s *status) get() (phase, step string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.phase, s.step
}

// tracker passes events on to next and remembers the upgrade step in
// progress for the live status line.
func (s *status) tracker(next timeline.Emitter) timeline.Emitter {
	return stepTracker{s: s, next: next}
}

type stepTracker struct {
	s    *status
	next timeline.Emitter
}

func (t stepTracker) Emit(e timeline.Event) {
	t.next.Emit(e)
	if e.Source != timeline.SourceDriver {
		return
	}
	if t.s.verbose {
		t.s.sayStep(e)
	}
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	switch e.Kind {
	case "end":
		t.s.done++
	case "start":
		t.s.step = e.Message
		if e.Subject != "" && e.Subject != e.Message {
			t.s.step = e.Subject + ": " + e.Message
		}
	case "drain-blocked":
		t.s.step = e.Message
	}
}

// sayStep prints a driver event as a line: a step's start, its end with
// outcome and how long it took, a group's start and end, anything else by
// its kind.
func (s *status) sayStep(e timeline.Event) {
	what := e.Message
	if e.Subject != "" && e.Subject != e.Message {
		what = e.Subject + ": " + e.Message
	}
	key := e.Subject + "\x00" + e.Message
	s.mu.Lock()
	if s.started == nil {
		s.started = map[string]time.Time{}
	}
	began, ok := s.started[key]
	switch e.Kind {
	case "start", "group-start":
		s.started[key] = e.Time
	case "end", "group-end":
		delete(s.started, key)
	}
	s.mu.Unlock()
	switch e.Kind {
	case "start", "group-start":
		s.say("step %s: started", what)
	case "end", "group-end":
		line := fmt.Sprintf("step %s: %s", what, e.Outcome)
		if ok && !e.Time.IsZero() && !began.IsZero() {
			line += " in " + e.Time.Sub(began).Round(100*time.Millisecond).String()
		}
		s.say("%s", line)
	default:
		s.say("%s: %s", e.Kind, what)
	}
}

// progress prints a live status line every so often: phase, elapsed, rate,
// errors so far, the upgrade step in progress.
func (s *status) progress(ctx context.Context, every time.Duration, atk interface{ Snapshot() loadgen.Snapshot }, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	var lastSent int64
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			snap := atk.Snapshot()
			rate := float64(snap.Sent-lastSent) / now.Sub(last).Seconds()
			lastSent, last = snap.Sent, now
			line := s.line(snap, rate, now)
			if s.terminal {
				fmt.Fprint(s.out, "\r\033[Krehearse: "+line)
				continue
			}
			s.say("%s", line)
		}
	}
}

// line is the live status: phase, elapsed, rate, requests and errors so
// far, the time left in a phase of known length, and during the upgrade the
// step in progress as "step k of N".
func (s *status) line(snap loadgen.Snapshot, rate float64, now time.Time) string {
	s.mu.Lock()
	phase, step, done, steps := s.phase, s.step, s.done, s.steps
	start, length := s.phaseStart, s.phaseFor
	s.mu.Unlock()
	line := fmt.Sprintf("%-8s %5.0fs  %6.1f req/s  sent %d  errors %d", phase, snap.Elapsed.Seconds(), rate, snap.Sent, snap.Errors)
	if length > 0 && !start.IsZero() {
		left := max(length-now.Sub(start), 0)
		line += fmt.Sprintf("  %s left", left.Round(time.Second))
	}
	if IsUpgradePhase(phase) && step != "" {
		if steps > 0 {
			line += fmt.Sprintf("  step %d of %d: %s", min(done+1, steps), steps, step)
		} else {
			line += "  step: " + step
		}
	}
	return line
}
