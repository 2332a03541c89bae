package rehearse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/rehearse/rehearse/rehearse/ledger"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/scenarios"
)

// PhaseLedger deploys the stateful canary.
const PhaseLedger = "ledger"

// ledgerRun is the stateful canary of one rehearsal: its writer's load
// target and the read-backs taken after each phase, after each node's
// upgrade step and at the end.
type ledgerRun struct {
	target appTarget
	reader *ledger.Reader
	// static are the entry points found at deploy time; rotation, once the
	// load runs, gives the live ones.
	static   []string
	mu       sync.Mutex
	rotation func() []string
	wg       sync.WaitGroup
}

// deployLedger deploys the store and prepares its writer.
func (r *run) deployLedger(ctx context.Context, client kubernetes.Interface) error {
	l := r.sc.Ledger.WithDefaults()
	return r.phase(PhaseLedger, func() error {
		image := l.Image
		if image == "" {
			var err error
			if image, err = ledger.EtcdImage(ctx, client); err != nil {
				return err
			}
		}
		d, err := ledger.Deploy(ctx, client, ledger.Options{Ledger: l, Image: image}, r.o.Progress)
		if errors.Is(err, ledger.ErrTooFewNodes) {
			return inputError(err)
		}
		if err != nil {
			return err
		}
		ips, err := internalIPs(ctx, client)
		if err != nil {
			return err
		}
		lr := &ledgerRun{}
		for _, ip := range ips {
			lr.static = append(lr.static, "http://"+net.JoinHostPort(ip, strconv.Itoa(int(d.NodePort)))+"/")
		}
		w := &ledger.Writer{}
		lr.target = appTarget{Target: w.Target(lr.static, l.WriteRate), viaNodes: true}
		lr.reader = &ledger.Reader{URLs: lr.urls, Path: r.folder.Path(ledger.ReadBacksFile),
			Client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
		r.ledger = lr
		r.tl.Emit(timeline.Event{Source: timeline.SourceLoadgen, Kind: "ledger", Subject: ledger.Namespace + "/" + ledger.Name,
			Message: fmt.Sprintf("%d etcd members (%s storage, image %s), %v writes/s through %v", l.Members, l.Storage, image, l.WriteRate, lr.static)})
		return nil
	})
}

// urls are the live entry points, then those found at deploy time.
func (lr *ledgerRun) urls() []string {
	lr.mu.Lock()
	rot := lr.rotation
	lr.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	if rot != nil {
		out = rot()
	}
	for _, u := range out {
		seen[u] = true
	}
	for _, u := range lr.static {
		if !seen[u] {
			out = append(out, u)
		}
	}
	return out
}

func (lr *ledgerRun) follow(rotation func() []string) {
	lr.mu.Lock()
	lr.rotation = rotation
	lr.mu.Unlock()
}

// readLater reads the writes back in the background; read-backs are taken
// one at a time, in order.
func (lr *ledgerRun) readLater(ctx context.Context, tl timeline.Emitter, after string) {
	lr.wg.Add(1)
	go func() {
		defer lr.wg.Done()
		lr.read(ctx, tl, after)
	}()
}

func (lr *ledgerRun) read(ctx context.Context, tl timeline.Emitter, after string) ledger.ReadBack {
	rb := lr.reader.Read(ctx, after)
	ev := timeline.Event{Time: rb.Ended, Source: timeline.SourceLoadgen, Kind: "read-back", Subject: after, Outcome: "ok",
		Message: fmt.Sprintf("ledger read back after %s: %d keys in %s", after, rb.Count, rb.Ended.Sub(rb.Started).Round(time.Millisecond))}
	if rb.Error != "" {
		ev.Outcome, ev.Message = "failed", fmt.Sprintf("ledger read-back after %s failed: %s", after, rb.Error)
	}
	tl.Emit(ev)
	return rb
}

// final waits for the background read-backs, then reads back once the load
// has stopped, retrying for a minute while the store does not answer.
func (lr *ledgerRun) final(ctx context.Context, tl timeline.Emitter) {
	lr.wg.Wait()
	deadline := time.Now().Add(time.Minute)
	for {
		rb := lr.read(ctx, tl, ledger.AfterEnd)
		if rb.Error == "" || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// stepEmitter is where the plan's steps go: the timeline, and with a ledger
// a read-back after each node's upgrade (its uncordon, or its deletion when
// it is replaced).
func (r *run) stepEmitter(ctx context.Context) timeline.Emitter {
	if r.ledger == nil {
		return r.tl
	}
	return timeline.EmitterFunc(func(e timeline.Event) {
		r.tl.Emit(e)
		if e.Source == timeline.SourceDriver && e.Kind == "end" && e.Outcome == "ok" && (e.Message == "uncordon" || e.Message == "delete node") {
			r.ledger.readLater(ctx, r.tl, e.Message+" "+e.Subject)
		}
	})
}

// ledgerCheck judges the run folder's ledger, if the scenario has one.
func ledgerCheck(dir string, sc *scenarios.Scenario) (ledger.Summary, bool, error) {
	if !sc.Ledger.Enabled {
		return ledger.Summary{}, false, nil
	}
	s, err := ledger.JudgeDir(dir)
	return s, true, err
}
