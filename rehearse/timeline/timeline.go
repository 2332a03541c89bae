// Package timeline records what happened during a rehearsal, in order: phase
// changes, upgrade steps, checklist transitions, rotation changes. The report
// reads it to tie error bursts to their cause. A timeline is stored as JSON
// lines in the run folder (timeline.jsonl).
package timeline

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/rehearse/rehearse/rehearse/runfolder"
)

// File is the timeline's name in a run folder.
const File = runfolder.Timeline

// Sources of events.
const (
	SourcePhase     = "phase"
	SourceDriver    = "driver"
	SourceChecklist = "checklist"
	SourceLoadgen   = "loadgen"
	SourceRotation  = "rotation"
)

// Event is one thing that happened.
type Event struct {
	Time time.Time `json:"time"`
	// Source is who reported it: phase, driver, checklist, loadgen, rotation.
	Source string `json:"source"`
	// Kind is what happened, e.g. "start", "end", "cordon", "drain",
	// "ready", "not-ready", "out", "in".
	Kind string `json:"kind"`
	// Subject is what it happened to: a node, a component, a target.
	Subject string `json:"subject,omitempty"`
	// Outcome, for the end of a step: ok, failed, blocked.
	Outcome string `json:"outcome,omitempty"`
	Message string `json:"message"`
}

// Emitter receives events. Implementations are safe for concurrent use.
type Emitter interface {
	Emit(Event)
}

// EmitterFunc adapts a function to an Emitter.
type EmitterFunc func(Event)

// Emit calls f.
func (f EmitterFunc) Emit(e Event) { f(e) }

// Discard drops every event.
var Discard Emitter = EmitterFunc(func(Event) {})

// Recorder keeps every event in memory and, when it has a writer, appends
// each as a JSON line at once, so a killed run still has its timeline.
type Recorder struct {
	mu     sync.Mutex
	events []Event
	w      io.Writer
	closer io.Closer
	err    error
	now    func() time.Time
}

// NewRecorder records to w (which may be nil: memory only).
func NewRecorder(w io.Writer) *Recorder {
	r := &Recorder{w: w, now: time.Now}
	if c, ok := w.(io.Closer); ok {
		r.closer = c
	}
	return r
}

// Create records to a new file at path, readable by its owner only. A file
// already at path is an error, never overwritten: a run folder is new for
// every run, so an existing timeline is another run's.
func Create(path string) (*Recorder, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("timeline %s already exists (another run's?): a run needs a new folder", path)
		}
		return nil, fmt.Errorf("timeline: %w", err)
	}
	return NewRecorder(f), nil
}

// Emit records an event; a zero Time is set to now.
func (r *Recorder) Emit(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	r.events = append(r.events, e)
	if r.w == nil || r.err != nil {
		return
	}
	b, err := json.Marshal(e)
	if err == nil {
		_, err = r.w.Write(append(b, '\n'))
	}
	if err != nil {
		r.err = fmt.Errorf("timeline: %w", err)
	}
}

// Events returns the events so far, in time order.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Event(nil), r.events...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// Close closes the writer and returns the first write error.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	if r.closer != nil {
		err = r.closer.Close()
	}
	return errors.Join(r.err, err)
}

// Read loads a timeline file. A last line cut short is ignored; any other bad
// line is an error naming the file and line.
func Read(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	var pending error
	for sc.Scan() {
		line++
		if pending != nil {
			return nil, pending
		}
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			pending = fmt.Errorf("%s:%d: %w", path, line, err)
			continue
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}
