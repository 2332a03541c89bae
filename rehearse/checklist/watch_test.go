package checklist

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/rehearse/rehearse/rehearse/timeline"
)

var (
	podsGVR  = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	nodesGVR = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
)

// stepper drives a watcher one poll at a time with a fake clock.
type stepper struct {
	t      *testing.T
	ticks  chan time.Time
	polled chan struct{}
	mu     sync.Mutex
	clock  time.Time
	rec    *timeline.Recorder
	seen   int
	done   chan struct{}
	result Result
	err    error
	cancel context.CancelFunc
}

func startWatch(t *testing.T, client *fake.Clientset, cl Checklist, opts Options) *stepper {
	t.Helper()
	opts, err := opts.withDefaults()
	require.NoError(t, err)
	s := &stepper{t: t, ticks: make(chan time.Time), polled: make(chan struct{}, 1),
		clock: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), rec: timeline.NewRecorder(nil), done: make(chan struct{})}
	w := &watcher{client: client, cl: cl, opts: opts, emit: s.rec,
		now: func() time.Time {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.clock
		},
		afterPoll: func() { s.polled <- struct{}{} },
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		s.result, s.err = w.run(ctx, s.ticks)
	}()
	<-s.polled // the first poll runs at once
	return s
}

// step advances the clock by a second, polls once, and returns the events
// that poll emitted.
func (s *stepper) step() []timeline.Event {
	s.mu.Lock()
	s.clock = s.clock.Add(time.Second)
	now := s.clock
	s.mu.Unlock()
	s.ticks <- now
	<-s.polled
	return s.newEvents()
}

func (s *stepper) newEvents() []timeline.Event {
	all := s.rec.Events()
	out := all[s.seen:]
	s.seen = len(all)
	return out
}

func (s *stepper) stop() (Result, error) {
	s.cancel()
	<-s.done
	return s.result, s.err
}

type ev struct{ kind, subject, message string }

func brief(events []timeline.Event) []ev {
	var out []ev
	for _, e := range events {
		out = append(out, ev{e.Kind, e.Subject, e.Message})
	}
	return out
}

func update(t *testing.T, c *fake.Clientset, gvr schema.GroupVersionResource, obj runtime.Object, ns string) {
	t.Helper()
	require.NoError(t, c.Tracker().Update(gvr, obj, ns))
}

func TestWatchTransitions(t *testing.T) {
	f := kindFixture()
	client := f.client()
	s := startWatch(t, client, mustBuiltin(t, "kind"), Options{})
	assert.Empty(t, s.newEvents(), "a healthy cluster at the start is no transition")
	assert.Empty(t, s.step(), "nothing changed")

	// A coredns pod stops being ready.
	dns := f.pod("coredns-7d764666f9-a").DeepCopy()
	notReady(dns, "", 0)
	update(t, client, podsGVR, dns, "kube-system")
	assert.Equal(t, []ev{
		{"not-ready", "coredns", "coredns 1/2 ready; not ready: coredns-7d764666f9-a (not ready)"},
		{"not-ready", "kube-system pods", "kube-system pods 8/9 ready; not ready: kube-system/coredns-7d764666f9-a (not ready)"},
		{"not-ready", "critical pods", "critical pods 11/12 ready; not ready: kube-system/coredns-7d764666f9-a (not ready)"},
	}, brief(s.step()))
	assert.Empty(t, s.step(), "still the same: no event")

	// It comes back after a restart.
	dns = f.pod("coredns-7d764666f9-a").DeepCopy()
	dns.Status.ContainerStatuses[0].RestartCount = 1
	update(t, client, podsGVR, dns, "kube-system")
	assert.Equal(t, []ev{
		{"ready", "coredns", "coredns 2/2 ready"},
		{"restart", "coredns", "coredns restarts 0 -> 1"},
		{"ready", "kube-system pods", "kube-system pods 9/9 ready"},
		{"ready", "critical pods", "critical pods 12/12 ready"},
	}, brief(s.step()))

	// The API server is upgraded: its image changes.
	api := f.pod("kube-apiserver-kind-control-plane").DeepCopy()
	api.Spec.Containers[0].Image = "registry.k8s.io/kube-apiserver:v1.36.3"
	update(t, client, podsGVR, api, "kube-system")
	events := s.step()
	assert.Equal(t, []ev{{"version", "kube-apiserver", "kube-apiserver version v1.35.4 -> v1.36.3"}}, brief(events))
	require.Len(t, events, 1)
	assert.Equal(t, timeline.SourceChecklist, events[0].Source)
	assert.Equal(t, time.Date(2026, 11, 21, 10, 0, 5, 0, time.UTC), events[0].Time)

	// The API server stops answering for two polls, then answers again.
	var down atomic.Bool
	client.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		if down.Load() {
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
	down.Store(true)
	assert.Equal(t, []ev{{"unreachable", "api-server", "API server unreachable: list nodes: connection refused"}}, brief(s.step()))
	assert.Empty(t, s.step())
	down.Store(false)
	assert.Equal(t, []ev{{"reachable", "api-server", "API server answers again"}}, brief(s.step()))

	// A worker's kubelet goes away, then the node is deleted.
	n := f.node("kind-worker").DeepCopy()
	n.Status.Conditions[0] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status."}
	update(t, client, nodesGVR, n, "")
	assert.Equal(t, []ev{{"not-ready", "node/kind-worker", "node kind-worker NotReady (NodeStatusUnknown: Kubelet stopped posting node status.)"}}, brief(s.step()))
	require.NoError(t, client.Tracker().Delete(nodesGVR, "", "kind-worker2"))
	assert.Equal(t, []ev{{"removed", "node/kind-worker2", "node/kind-worker2 is gone"}}, brief(s.step()))

	r, err := s.stop()
	require.NoError(t, err)
	assert.Equal(t, Fail, r.Outcome)
	// coredns restarted once, and allows none.
	assert.Equal(t, []string{"coredns", "node/kind-worker"}, failedNames(r))
	assert.Equal(t, time.Date(2026, 11, 21, 10, 0, 10, 0, time.UTC), r.Time)
}

func TestWatchStartsBroken(t *testing.T) {
	f := kindFixture()
	f.deployment("coredns").Spec.Replicas = ptr(int32(0))
	f.removePods("coredns-")
	s := startWatch(t, f.client(), mustBuiltin(t, "kind"), Options{})
	assert.Equal(t, []ev{{"not-ready", "coredns", "coredns 0/0 ready (1 needed); scaled to 0 replicas"}}, brief(s.newEvents()))
	assert.Empty(t, s.step())
	r, err := s.stop()
	require.NoError(t, err)
	assert.Equal(t, []string{"coredns"}, failedNames(r))
}

func TestWatchNeverReached(t *testing.T) {
	client := kindFixture().client()
	client.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	s := startWatch(t, client, mustBuiltin(t, "kind"), Options{})
	assert.Len(t, s.newEvents(), 1)
	_, err := s.stop()
	assert.ErrorContains(t, err, "checklist kind: the cluster was never read")
	assert.ErrorContains(t, err, "connection refused")
}

func TestWatchRealTicker(t *testing.T) {
	f := kindFixture()
	client := f.client()
	rec := timeline.NewRecorder(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type out struct {
		r   Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		r, err := Watch(ctx, client, mustBuiltin(t, "kind"), Options{Interval: 20 * time.Millisecond}, rec)
		done <- out{r, err}
	}()
	n := f.node("kind-worker").DeepCopy()
	n.Status.Conditions[0].Status = corev1.ConditionFalse
	require.NoError(t, client.Tracker().Update(nodesGVR, n, ""))
	require.Eventually(t, func() bool { return len(rec.Events()) > 0 }, 10*time.Second, 10*time.Millisecond)
	cancel()
	o := <-done
	require.NoError(t, o.err)
	assert.Equal(t, []string{"node/kind-worker"}, failedNames(o.r))
	events := rec.Events()
	require.Len(t, events, 1)
	assert.Equal(t, "not-ready", events[0].Kind)
	assert.Equal(t, "node/kind-worker", events[0].Subject)
}

// TestReadOnly records every verb Check, Watch and RestartCounts use.
func TestReadOnly(t *testing.T) {
	client := kindFixture().client()
	var mu sync.Mutex
	verbs := map[string]int{}
	client.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		verbs[a.GetVerb()+" "+a.GetResource().Resource]++
		return false, nil, nil
	})
	cl := mustBuiltin(t, "kind")
	_, err := Check(context.Background(), client, cl, Options{ExpectVersion: "v1.35.4"})
	require.NoError(t, err)
	base, err := RestartCounts(context.Background(), client)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = Watch(ctx, client, cl, Options{Interval: 10 * time.Millisecond, RestartBaseline: base}, timeline.Discard)
	require.NoError(t, err)

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, verbs)
	for key := range verbs {
		verb, _, _ := strings.Cut(key, " ")
		assert.Contains(t, []string{"get", "list", "watch"}, verb, "a call that is not read-only: %s", key)
	}
	assert.Contains(t, verbs, "list pods")
	assert.Contains(t, verbs, "list nodes")
	assert.Contains(t, verbs, "list deployments")
	assert.Contains(t, verbs, "list daemonsets")
}
