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

	mu    sync.Mutex
	phase string
	step  string
	// steps is the number of the plan's actions; done those that ended.
	steps, done int
}

// newStatus writes to out, redrawing the live line when out is a terminal.
func newStatus(out io.Writer) *status {
	s := &status{out: out}
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
	s.phase = name
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

// progress prints a live status line every so often: phase, elapsed, rate,
// errors so far, the upgrade step in progress.
func (s *status) progress(ctx context.Context, every time.Duration, atk *loadgen.Attack, done chan<- struct{}) {
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
			s.mu.Lock()
			phase, step, done, steps := s.phase, s.step, s.done, s.steps
			s.mu.Unlock()
			line := fmt.Sprintf("%-8s %5.0fs  %6.1f req/s  sent %d  errors %d", phase, snap.Elapsed.Seconds(), rate, snap.Sent, snap.Errors)
			if phase == PhaseUpgrade && step != "" {
				if steps > 0 {
					line += fmt.Sprintf("  step %d of %d: %s", min(done+1, steps), steps, step)
				} else {
					line += "  step: " + step
				}
			}
			if s.terminal {
				fmt.Fprint(s.out, "\r\033[Krehearse: "+line)
				continue
			}
			s.say("%s", line)
		}
	}
}
