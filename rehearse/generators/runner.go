package generators

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/timeline"
)

// Runner follows a fleet's generators while they send: every pod's
// results come back through the API (the pod's spool, read by offset
// through the pod proxy; or, when the proxy cannot reach the pod, its log,
// followed, and resumed where it broke off when the stream is cut, as when
// the pod's node's kubelet restarts), are merged by time into the sinks,
// and are tagged with the phase in force when each request was sent.
type Runner struct {
	fleet *Fleet
	emit  timeline.Emitter
	// Drain bounds how long after the stop the generators' last results
	// are waited for.
	Drain time.Duration
	// SpoolPoll is how often a generator's spool is read; SpoolGiveUp how
	// long the API's pod proxy may fail, the generator running, before its
	// log is read instead (an apiserver that cannot reach the pods'
	// network).
	SpoolPoll, SpoolGiveUp time.Duration

	// pmu guards phases, read by the merge while mu is held.
	pmu    sync.Mutex
	phases []loadgen.PhaseSwitch
	// mu guards the merge.
	mu    sync.Mutex
	merge *Merge
}

// NewRunner follows fleet, reporting what happens to its pods to emit.
// phase is the phase in force at the start.
func NewRunner(fleet *Fleet, phase string, emit timeline.Emitter) *Runner {
	return &Runner{
		fleet: fleet,
		emit:  emit,
		Drain: fleet.Timeout + Linger + 15*time.Second,
		// Half a second keeps the merge's bound (the timeout and two
		// flushes) well ahead of what is read.
		SpoolPoll:   500 * time.Millisecond,
		SpoolGiveUp: 30 * time.Second,
		phases:      []loadgen.PhaseSwitch{{Name: phase, At: fleet.StartAt}},
	}
}

// SetPhase tags the requests sent from now on with name.
func (r *Runner) SetPhase(name string) error {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	r.phases = append(r.phases, loadgen.PhaseSwitch{Name: name, At: time.Now()})
	return nil
}

func (r *Runner) phaseAt(t time.Time) string {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	i := sort.Search(len(r.phases), func(i int) bool { return r.phases[i].At.After(t) })
	if i == 0 {
		return r.phases[0].Name
	}
	return r.phases[i-1].Name
}

// Snapshot is the results merged so far.
func (r *Runner) Snapshot() loadgen.Snapshot {
	r.pmu.Lock()
	s := loadgen.Snapshot{Phase: r.phases[len(r.phases)-1].Name, Elapsed: max(0, time.Since(r.fleet.StartAt))}
	r.pmu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.merge != nil {
		s.Sent, s.Errors = r.merge.Out, r.merge.Errors
	}
	return s
}

type line struct {
	gen     int
	res     *vegeta.Result
	end     *loadgen.Accounting
	written time.Time
	arrived time.Time
}

type streamEvent struct {
	gen   int
	delta int
}

// podNote is what was seen of a generator's pods: text at an instant, or
// a pod of it (pod set).
type podNote struct {
	gen  int
	at   time.Time
	text string
	pod  string
}

// Run follows the generators until ctx ends, then stops them, waits up
// to Drain for their last results, and returns the accounting: the
// fleet's schedule from its StartAt to the stop, and each generator's
// share, received and lost load.
func (r *Runner) Run(ctx context.Context, sinks ...loadgen.Sink) (loadgen.Accounting, error) {
	f := r.fleet
	m := NewMerge(f.Generators, MergeOptions{Bound: f.Timeout + 2*loadgen.FlushInterval, Start: f.StartAt, PhaseAt: r.phaseAt}, sinks...)
	r.mu.Lock()
	r.merge = m
	r.mu.Unlock()

	lines := make(chan line, 4096)
	streams := make(chan streamEvent, 64)
	notes := make(chan podNote, 64)
	// Followers outlive ctx by the drain.
	followCtx, stopFollow := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFollow()
	var followers sync.WaitGroup
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		r.watch(watchCtx, followCtx, &followers, lines, streams, notes)
	}()

	var stopAt time.Time
	drained := make(chan struct{})
	var stopErr error
	go func() {
		<-ctx.Done()
		stopWatch()
		<-watchDone
		r.mu.Lock()
		stopAt = time.Now()
		r.mu.Unlock()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		stopErr = f.Stop(sctx)
		cancel()
		done := make(chan struct{})
		go func() { followers.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(r.Drain):
			stopFollow()
			<-done
		}
		close(drained)
	}()

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case l := <-lines:
			r.take(m, l)
		case s := <-streams:
			r.mu.Lock()
			m.Streaming(s.gen, s.delta)
			r.mu.Unlock()
		case n := <-notes:
			r.mu.Lock()
			m.Note(n.gen, n.at, n.text, n.pod)
			r.mu.Unlock()
		case now := <-tick.C:
			r.mu.Lock()
			m.Release(now)
			r.mu.Unlock()
		case <-drained:
			break loop
		}
	}
	// What the followers sent before they ended.
	for {
		select {
		case l := <-lines:
			r.take(m, l)
			continue
		case n := <-notes:
			r.mu.Lock()
			m.Note(n.gen, n.at, n.text, n.pod)
			r.mu.Unlock()
			continue
		default:
		}
		break
	}
	r.mu.Lock()
	end := stopAt
	gens := m.Close(end)
	r.mu.Unlock()
	for i := range gens {
		gens[i].Node = f.Generators[i].Node
	}
	acc := r.accounting(end, gens)
	for _, g := range gens {
		for _, l := range g.Lost {
			r.emit.Emit(timeline.Event{Time: l.From, Source: timeline.SourceLoadgen, Kind: "lost", Subject: g.Name, Message: describeLost(g.Name, l)})
		}
	}
	if m.Reordered > 0 {
		r.emit.Emit(timeline.Event{Source: timeline.SourceLoadgen, Kind: "reordered",
			Message: fmt.Sprintf("%d results came later than the merge's bound of %s and are out of send order in the results", m.Reordered, f.Timeout+2*loadgen.FlushInterval)})
	}
	// The generators' DaemonSets not deleted is said, not fatal: the
	// results are whole, and the fleet's deletion is tried again.
	if stopErr != nil {
		r.emit.Emit(timeline.Event{Source: timeline.SourceLoadgen, Kind: "stop", Outcome: "failed", Message: "stopping the generators: " + stopErr.Error()})
	}
	return acc, nil
}

func (r *Runner) take(m *Merge, l line) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l.end != nil {
		m.Reported(l.gen, *l.end)
		return
	}
	m.Add(l.gen, l.res, l.written, l.arrived)
}

func (r *Runner) accounting(end time.Time, gens []loadgen.GeneratorAccounting) loadgen.Accounting {
	r.pmu.Lock()
	phases := append([]loadgen.PhaseSwitch(nil), r.phases...)
	r.pmu.Unlock()
	ran := end.Sub(r.fleet.StartAt)
	acc := loadgen.Accounting{
		Started: r.fleet.StartAt, Ended: time.Now(), Seconds: ran.Seconds(),
		Phases: phases, Generators: gens,
	}
	for _, g := range gens {
		acc.TargetRate += g.TargetRate
		acc.Scheduled += g.Scheduled
		acc.Sent += g.Received
	}
	acc.Missed = max(0, acc.Scheduled-acc.Sent)
	if ran > 0 {
		acc.AchievedRate = float64(acc.Sent) / ran.Seconds()
	}
	return acc
}

// watch lists the generators' pods every second until ctx ends, starting
// a follower for each new one and noting what becomes of each.
func (r *Runner) watch(ctx, followCtx context.Context, wg *sync.WaitGroup, lines chan<- line, streams chan<- streamEvent, notes chan<- podNote) {
	f := r.fleet
	index := map[string]int{}
	for i, g := range f.Generators {
		index[g.Name] = i
	}
	seen := map[types.UID]*corev1.Pod{}
	restarts := map[types.UID]int32{}
	for {
		pods, err := f.client.CoreV1().Pods(f.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelApp + "=" + App})
		if err == nil {
			now := map[types.UID]bool{}
			for i := range pods.Items {
				p := &pods.Items[i]
				gi, ok := index[p.Labels[LabelGenerator]]
				if !ok {
					continue
				}
				now[p.UID] = true
				if _, ok := seen[p.UID]; !ok {
					seen[p.UID] = p
					r.noteOf(gi, notes, fmt.Sprintf("pod %s on %s", p.Name, p.Spec.NodeName))
					notes <- podNote{gen: gi, pod: p.Name}
					streams <- streamEvent{gi, +1}
					wg.Add(1)
					go func(p corev1.Pod) {
						defer wg.Done()
						if r.followSpool(followCtx, gi, p, lines, streams) {
							r.follow(followCtx, gi, p, lines, streams)
						}
					}(*p)
				}
				for _, s := range p.Status.ContainerStatuses {
					if s.Name == Container && s.RestartCount > restarts[p.UID] {
						restarts[p.UID] = s.RestartCount
						r.noteOf(gi, notes, fmt.Sprintf("pod %s's generator restarted (%d)", p.Name, s.RestartCount))
					}
				}
				if p.DeletionTimestamp != nil && seen[p.UID].DeletionTimestamp == nil {
					seen[p.UID] = p
					r.noteOf(gi, notes, fmt.Sprintf("pod %s deleted", p.Name))
				}
			}
			for uid, p := range seen {
				if !now[uid] && p.Name != "" {
					r.noteOf(index[p.Labels[LabelGenerator]], notes, fmt.Sprintf("pod %s gone", p.Name))
					seen[uid] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &metav1.Time{}}}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (r *Runner) noteOf(gi int, notes chan<- podNote, text string) {
	at := time.Now()
	notes <- podNote{gen: gi, at: at, text: text}
	r.emit.Emit(timeline.Event{Time: at, Source: timeline.SourceLoadgen, Kind: "generator", Subject: r.fleet.Generators[gi].Name, Message: text})
}

// follow reads pod p's log until the generator ends (its accounting line,
// or the pod gone), resuming after the last line read whenever the stream
// is cut, first from the previous container's log when the container
// restarted meanwhile. While it may still bring results it holds the merge back (the
// watcher counted it before it started); it stops holding while the pod's
// generator is not running (a pod that cannot start holds nothing back)
// and when it ends. An apiserver away holds: the pod may be running.
func (r *Runner) follow(ctx context.Context, gi int, p corev1.Pod, out chan<- line, streams chan<- streamEvent) {
	pods := r.fleet.client.CoreV1().Pods(p.Namespace)
	hold := newHolder(gi, streams).hold
	defer hold(false)
	var last time.Time
	said := ""
	// opened counts the restarts of the generator's container when its
	// log was last opened; cur is the pod as last seen.
	opened, cur := int32(0), &p
	for ctx.Err() == nil {
		since := func() *metav1.Time {
			if last.IsZero() {
				return nil
			}
			t := metav1.NewTime(last.Truncate(time.Second))
			return &t
		}
		// The container restarted since its log was opened (while the
		// stream was cut, or before the pod was first seen): what the
		// one before wrote after the last line read is in its previous
		// log, which the kubelet keeps until the next restart.
		if rc := restartCount(cur); rc > opened {
			popts := &corev1.PodLogOptions{Container: Container, Previous: true, Timestamps: true, SinceTime: since()}
			if prev, err := pods.GetLogs(p.Name, popts).Stream(ctx); err == nil {
				readLog(prev, gi, &last, out)
				prev.Close()
			}
			opened = rc
		}
		opts := &corev1.PodLogOptions{Container: Container, Follow: true, Timestamps: true, SinceTime: since()}
		ended := false
		stream, err := pods.GetLogs(p.Name, opts).Stream(ctx)
		if err == nil {
			hold(true)
			ended = readLog(stream, gi, &last, out)
			stream.Close()
		} else if ctx.Err() == nil && err.Error() != said {
			said = err.Error()
			r.emit.Emit(timeline.Event{Source: timeline.SourceLoadgen, Kind: "generator", Subject: r.fleet.Generators[gi].Name,
				Message: fmt.Sprintf("pod %s's results: %v (trying again every second)", p.Name, err)})
		}
		got, err := pods.Get(ctx, p.Name, metav1.GetOptions{})
		if err == nil {
			cur = got
		}
		switch {
		case apierrors.IsNotFound(err):
			return
		case err != nil:
			// The apiserver away: the pod may still be sending.
		case cur.UID != p.UID || cur.Status.Phase == corev1.PodSucceeded || cur.Status.Phase == corev1.PodFailed:
			return
		case cur.DeletionTimestamp != nil && (ended || !containerRunning(cur)):
			// Stopped: its accounting read, or its container gone.
			return
		case !containerRunning(cur):
			// Restarting: its next container's lines come after the last read.
			hold(false)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// followSpool reads pod p's spool through the API's pod proxy, by byte
// offset, until the generator's accounting is read or the pod is gone:
// exact whatever the kubelet does with the container's log, and across
// the container's restarts (the spool is on the pod's emptyDir). It holds
// the merge back as follow does. It returns true, still holding, when the
// proxy never answered for SpoolGiveUp while the generator ran: the
// caller then follows the pod's log instead.
func (r *Runner) followSpool(ctx context.Context, gi int, p corev1.Pod, out chan<- line, streams chan<- streamEvent) (useLog bool) {
	pods := r.fleet.client.CoreV1().Pods(p.Namespace)
	name := r.fleet.Generators[gi].Name
	hold := newHolder(gi, streams).hold
	defer func() {
		if useLog {
			hold(true)
			return
		}
		hold(false)
	}()
	var off int64
	var last time.Time
	dec := newLineDecoder()
	dec.ordered = true
	answered := false
	var failing time.Time // since when the proxy fails, the generator running
	said := ""
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		body, err := pods.ProxyGet("http", p.Name, strconv.Itoa(ResultsPort), ResultsPath, map[string]string{"from": strconv.FormatInt(off, 10)}).DoRaw(rctx)
		cancel()
		if err == nil {
			answered, failing, said = true, time.Time{}, ""
			hold(true)
			for {
				i := bytes.IndexByte(body, '\n')
				if i < 0 {
					break
				}
				off += int64(i + 1)
				if dec.handle(body[:i+1], gi, &last, out) {
					return false
				}
				body = body[i+1:]
			}
		} else if ctx.Err() == nil && err.Error() != said {
			said = err.Error()
			r.emit.Emit(timeline.Event{Source: timeline.SourceLoadgen, Kind: "generator", Subject: name,
				Message: fmt.Sprintf("pod %s's spool: %v (trying again every %s)", p.Name, err, r.SpoolPoll)})
		}
		got, gerr := pods.Get(ctx, p.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(gerr):
			return false
		case gerr != nil:
			// The apiserver away: the pod may still be sending.
		case got.UID != p.UID || got.Status.Phase == corev1.PodSucceeded || got.Status.Phase == corev1.PodFailed:
			return false
		case got.DeletionTimestamp != nil && !containerRunning(got):
			// Stopped, and its container gone with what it did not serve.
			return false
		case !containerRunning(got):
			// Restarting: the next container appends to the same spool.
			hold(false)
			failing = time.Time{}
		case err != nil && !answered:
			if failing.IsZero() {
				failing = time.Now()
			} else if time.Since(failing) >= r.SpoolGiveUp {
				r.emit.Emit(timeline.Event{Source: timeline.SourceLoadgen, Kind: "generator", Subject: name,
					Message: fmt.Sprintf("pod %s's spool not reachable through the API's pod proxy for %s (%v): its log is read instead", p.Name, r.SpoolGiveUp, err)})
				return true
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(r.SpoolPoll):
		}
	}
	return false
}

// holder tells the merge whether a follower may still bring results; the
// watcher counted the follower holding before it started.
type holder struct {
	gi      int
	streams chan<- streamEvent
	holding bool
}

func newHolder(gi int, streams chan<- streamEvent) *holder {
	return &holder{gi: gi, streams: streams, holding: true}
}

func (h *holder) hold(on bool) {
	if on == h.holding {
		return
	}
	h.holding = on
	delta := -1
	if on {
		delta = 1
	}
	h.streams <- streamEvent{h.gi, delta}
}

// restartCount is how many times pod p's generator container restarted.
func restartCount(p *corev1.Pod) int32 {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == Container {
			return s.RestartCount
		}
	}
	return 0
}

// containerRunning tells whether pod p's generator container runs, the
// pod being deleted or not.
func containerRunning(p *corev1.Pod) bool {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == Container && s.State.Running != nil {
			return true
		}
	}
	return false
}

// readLog reads one log stream of lines "TIME CONTENT" (kubelet's
// timestamps), skipping those at or before *last. It tells whether the
// generator's accounting, its last line, was read.
func readLog(rd io.Reader, gi int, last *time.Time, out chan<- line) bool {
	br := bufio.NewReaderSize(rd, 64<<10)
	dec := newLineDecoder()
	for {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 && b[len(b)-1] == '\n' {
			if end := dec.handle(b, gi, last, out); end {
				return true
			}
		}
		if err != nil {
			return false
		}
	}
}

// lineDecoder decodes results one line at a time with one vegeta JSON
// decoder, fed each line as it comes.
type lineDecoder struct {
	feed *lineFeed
	dec  vegeta.Decoder
	// ordered lines are read once each (a spool, by offset): lines
	// written at the same instant are all taken. A log resumed from a
	// time repeats lines, which are told apart by their time.
	ordered bool
}

type lineFeed struct{ b []byte }

func (f *lineFeed) Read(p []byte) (int, error) {
	if len(f.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, f.b)
	f.b = f.b[n:]
	return n, nil
}

func newLineDecoder() *lineDecoder {
	f := &lineFeed{}
	return &lineDecoder{feed: f, dec: vegeta.NewJSONDecoder(f)}
}

func (d *lineDecoder) handle(b []byte, gi int, last *time.Time, out chan<- line) bool {
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		return false
	}
	written, err := time.Parse(time.RFC3339Nano, string(b[:sp]))
	if err != nil || !d.ordered && !written.After(*last) {
		return false
	}
	*last = written
	rest := b[sp+1:]
	l := line{gen: gi, written: written, arrived: time.Now()}
	if bytes.HasPrefix(rest, []byte(loadgen.StreamAccountingKey)) {
		var end loadgen.StreamEnd
		if json.Unmarshal(rest, &end) != nil {
			return false
		}
		l.end = &end.Accounting
		out <- l
		return true
	}
	var res vegeta.Result
	d.feed.b = rest
	if d.dec(&res) != nil {
		return false
	}
	l.res = &res
	out <- l
	return false
}
