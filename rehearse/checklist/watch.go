package checklist

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

// Kinds of the timeline events Watch emits; their source is
// timeline.SourceChecklist and their subject the item's name.
const (
	// EventReady: an item's ready count changed and it has enough ready.
	EventReady = "ready"
	// EventNotReady: an item's ready count changed and it has too few
	// ready, or it is missing.
	EventNotReady = "not-ready"
	// EventVersion: an item's version changed.
	EventVersion = "version"
	// EventRestart: an item's containers restarted.
	EventRestart = "restart"
	// EventRemoved: an item is gone, e.g. a node was deleted.
	EventRemoved = "removed"
	// EventUnreachable and EventReachable: the API server stopped and
	// started answering (its subject is "api-server").
	EventUnreachable = "unreachable"
	EventReachable   = "reachable"
)

// apiServerSubject is the subject of reachability events.
const apiServerSubject = "api-server"

// Watch checks the cluster every Options.Interval until ctx ends and emits a
// timeline event on every transition of an item: its ready count, its
// version, its restarts, and its disappearance. The first check counts as a
// transition from healthy, so it emits only for items that are not ready.
// A check that fails to read the cluster (an API server restarting during an
// upgrade) is skipped, and the outage is an event of its own. Watch returns
// the Result of the last check that read the cluster; an error only when
// none did.
func Watch(ctx context.Context, client kubernetes.Interface, cl Checklist, opts Options, emit timeline.Emitter) (Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Result{}, err
	}
	if err := cl.Validate(); err != nil {
		return Result{}, fmt.Errorf("checklist %s: %w", cl.Name, err)
	}
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	w := &watcher{client: client, cl: cl, opts: opts, emit: emit, now: time.Now}
	return w.run(ctx, t.C)
}

// watcher is one Watch: what it last saw of every item.
type watcher struct {
	client kubernetes.Interface
	cl     Checklist
	opts   Options
	emit   timeline.Emitter
	now    func() time.Time
	// afterPoll, when set, is called after every poll (a test hook).
	afterPoll func()

	last        *Result
	lastErr     error
	unreachable bool
	seen        map[string]memo
}

// memo is what the watcher remembers of an item.
type memo struct {
	ready    string
	readyOK  bool
	version  string // the last version seen, kept while the item has none
	restarts int32
}

func (w *watcher) run(ctx context.Context, ticks <-chan time.Time) (Result, error) {
	w.poll(ctx)
	for {
		select {
		case <-ctx.Done():
			if w.last == nil {
				return Result{}, errors.Join(fmt.Errorf("checklist %s: the cluster was never read", w.cl.Name), w.lastErr, ctx.Err())
			}
			return *w.last, nil
		case <-ticks:
			w.poll(ctx)
		}
	}
}

func (w *watcher) poll(ctx context.Context) {
	if w.afterPoll != nil {
		defer w.afterPoll()
	}
	pctx, cancel := context.WithTimeout(ctx, w.opts.PollTimeout)
	snap, err := fetch(pctx, w.client, w.cl)
	cancel()
	now := w.now()
	if err != nil {
		if ctx.Err() != nil {
			return // ending, not an outage
		}
		w.lastErr = err
		if !w.unreachable {
			w.unreachable = true
			w.send(now, EventUnreachable, apiServerSubject, "API server unreachable: "+err.Error())
		}
		return
	}
	if w.unreachable {
		w.unreachable = false
		w.send(now, EventReachable, apiServerSubject, "API server answers again")
	}
	snap.time = now
	ev := evaluate(snap, w.cl, w.opts)
	w.transitions(now, ev)
	r := ev.result()
	w.last = &r
}

// transitions emits what changed since the last poll and remembers the
// items' state.
func (w *watcher) transitions(now time.Time, ev evaluation) {
	first := w.seen == nil
	next := make(map[string]memo, len(ev.items))
	for _, it := range ev.items {
		m := memo{ready: it.Ready, readyOK: it.readyOK, version: it.Version, restarts: it.Restarts}
		old, ok := w.seen[it.Component]
		switch {
		case !ok && first:
			if !it.readyOK {
				w.send(now, EventNotReady, it.Component, it.readyMsg)
			}
		case !ok:
			w.send(now, readyKind(it.readyOK), it.Component, it.readyMsg)
		default:
			if old.ready != it.Ready || old.readyOK != it.readyOK {
				w.send(now, readyKind(it.readyOK), it.Component, it.readyMsg)
			}
			if it.Version == "" {
				m.version = old.version
			} else if old.version != "" && old.version != it.Version {
				w.send(now, EventVersion, it.Component, fmt.Sprintf("%s version %s -> %s", it.Component, old.version, it.Version))
			}
			if it.Restarts > old.restarts {
				w.send(now, EventRestart, it.Component, fmt.Sprintf("%s restarts %d -> %d", it.Component, old.restarts, it.Restarts))
			}
		}
		next[it.Component] = m
	}
	for _, name := range sortedKeys(w.seen) {
		if _, ok := next[name]; !ok {
			w.send(now, EventRemoved, name, name+" is gone")
		}
	}
	w.seen = next
}

func readyKind(ok bool) string {
	if ok {
		return EventReady
	}
	return EventNotReady
}

func (w *watcher) send(now time.Time, kind, subject, msg string) {
	w.emit.Emit(timeline.Event{Time: now, Source: timeline.SourceChecklist, Kind: kind, Subject: subject, Message: msg})
}
