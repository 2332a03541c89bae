package generators

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/timeline"
)

type countSink struct {
	mu  sync.Mutex
	got []vegeta.Result
}

func (c *countSink) Add(r *vegeta.Result) { c.mu.Lock(); c.got = append(c.got, *r); c.mu.Unlock() }

// A Runner against an API server that cannot reach the pod's spool (its
// proxy times out) and cuts the first log stream after ten lines (as a
// kubelet restarting does): the log is read instead, and it resumes with
// sinceTime, every result reaches the sinks exactly once and in order,
// the phase switch tags them, and Run returns after its context ends.
func TestRunnerResumesACutStreamAndMergesOnce(t *testing.T) {
	start := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	lines := logLines(t, start, 20)
	var mu sync.Mutex
	var queries []string
	f := fakeFleet(t, start, func() corev1.Pod { return generatorPod(0) }, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		n := len(queries)
		mu.Unlock()
		if n == 1 {
			for _, l := range lines[:10] {
				fmt.Fprint(w, l)
			}
			return // cut
		}
		for _, l := range lines {
			fmt.Fprint(w, l)
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	var events []timeline.Event
	var emu sync.Mutex
	r := NewRunner(f, "baseline", timeline.EmitterFunc(func(e timeline.Event) { emu.Lock(); events = append(events, e); emu.Unlock() }))
	r.Drain = 2 * time.Second
	r.SpoolPoll, r.SpoolGiveUp = 10*time.Millisecond, 0
	mid := start.Add(500 * time.Millisecond)
	r.phases = append(r.phases, loadgen.PhaseSwitch{Name: "upgrade", At: mid})
	acc, sink := runFor(t, r, 3*time.Second)
	require.Len(t, sink.got, 20, "each result once")
	for i, res := range sink.got {
		assert.Equal(t, uint64(i), res.Seq, "in send order")
		want := "baseline/reuse"
		if !res.Timestamp.Before(mid) {
			want = "upgrade/reuse"
		}
		assert.Equal(t, want, res.Attack)
	}
	require.GreaterOrEqual(t, len(queries), 2)
	assert.NotContains(t, queries[0], "sinceTime")
	assert.Contains(t, queries[1], "sinceTime=", "resumed where the cut stream stopped")
	require.Len(t, acc.Generators, 1)
	assert.Equal(t, int64(20), acc.Generators[0].Received)
	assert.Equal(t, []string{"rehearse-load-0-abc"}, acc.Generators[0].Pods)
	emu.Lock()
	defer emu.Unlock()
	said := ""
	for _, e := range events {
		said += e.Message + "\n"
	}
	assert.Contains(t, said, "pod rehearse-load-0-abc's spool not reachable through the API's pod proxy for 0s (")
	assert.Contains(t, said, "): its log is read instead")
}

// A generator's container that restarts while its log stream is cut: the
// lines its first container wrote after the cut are read from the
// previous container's log, then the new container's are followed. Every
// result reaches the sinks once and in order; without the previous log,
// the five written between the cut and the restart would be missing.
func TestRunnerReadsThePreviousContainerAfterARestartDuringACut(t *testing.T) {
	start := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	lines := logLines(t, start, 20)
	var mu sync.Mutex
	var queries []string
	restarted := false
	pod := func() corev1.Pod {
		mu.Lock()
		defer mu.Unlock()
		if restarted {
			return generatorPod(1)
		}
		return generatorPod(0)
	}
	f := fakeFleet(t, start, pod, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		n := len(queries)
		// The first stream is cut after ten lines; the container
		// writes five more and restarts before the next request.
		if n == 1 {
			restarted = true
		}
		mu.Unlock()
		switch {
		case n == 1:
			for _, l := range lines[:10] {
				fmt.Fprint(w, l)
			}
		case r.URL.Query().Get("previous") == "true":
			for _, l := range lines[:15] {
				fmt.Fprint(w, l)
			}
		default:
			for _, l := range lines[15:] {
				fmt.Fprint(w, l)
			}
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	})
	r := NewRunner(f, "baseline", timeline.EmitterFunc(func(timeline.Event) {}))
	r.Drain = 2 * time.Second
	r.SpoolPoll, r.SpoolGiveUp = 10*time.Millisecond, 0
	_, sink := runFor(t, r, 3*time.Second)
	require.Len(t, sink.got, 20, "each result once: %v", queries)
	for i, res := range sink.got {
		assert.Equal(t, uint64(i), res.Seq, "in send order")
	}
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(queries), 3)
	assert.Contains(t, queries[1], "previous=true")
	assert.Contains(t, queries[1], "sinceTime=")
	assert.NotContains(t, queries[2], "previous=true")
}

// runFor runs r for d and returns its accounting and what reached its
// sink; Run must return within 12 s of its context's end.
func runFor(t *testing.T, r *Runner, d time.Duration) (loadgen.Accounting, *countSink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	sink := &countSink{}
	done := make(chan loadgen.Accounting, 1)
	go func() { acc, _ := r.Run(ctx, sink); done <- acc }()
	select {
	case acc := <-done:
		return acc, sink
	case <-time.After(d + 12*time.Second):
		t.Fatal("Run did not return 12 s after its context ended")
	}
	return loadgen.Accounting{}, nil
}

// logLines are n results of one generator, 50 ms apart from start, as its
// log shows them: each behind the kubelet's timestamp, 2 ms after it ended.
func logLines(t *testing.T, start time.Time, n int) []string {
	t.Helper()
	var buf bytes.Buffer
	enc := vegeta.NewJSONEncoder(&buf)
	var lines []string
	for i := range n {
		ts := start.Add(time.Duration(i) * 50 * time.Millisecond)
		buf.Reset()
		require.NoError(t, enc(&vegeta.Result{Attack: "baseline/reuse", Seq: uint64(i), Code: 200, Timestamp: ts, Latency: time.Millisecond}))
		lines = append(lines, ts.Add(2*time.Millisecond).UTC().Format("2006-01-02T15:04:05.000000000Z07:00")+" "+buf.String())
	}
	return lines
}

// generatorPod is generator rehearse-load-0's running pod, its container
// restarted restarts times.
func generatorPod(restarts int32) corev1.Pod {
	return corev1.Pod{
		TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: "rehearse-load-0-abc", Namespace: "ns", UID: "u1", Labels: map[string]string{LabelApp: App, LabelGenerator: "rehearse-load-0"}},
		Spec:       corev1.PodSpec{NodeName: "n1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: Container, RestartCount: restarts, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}
}

// fakeFleet is a one-generator fleet started at start behind an API server
// that serves pod() for its pod and logs for its log.
// With proxy, the pod proxy's requests go to it; without, they fail as
// an apiserver that cannot reach the pods' network answers.
func fakeFleet(t *testing.T, start time.Time, pod func() corev1.Pod, logs http.HandlerFunc, proxy ...http.Handler) *Fleet {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.Contains(r.URL.Path, "/proxy/"):
			if len(proxy) == 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
				_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Failure",
					Message: "error trying to reach service: dial tcp 10.244.1.5:9090: i/o timeout", Reason: metav1.StatusReasonServiceUnavailable, Code: 503})
				return
			}
			if want := fmt.Sprintf("/api/v1/namespaces/ns/pods/http:rehearse-load-0-abc:%d/proxy%s", ResultsPort, ResultsPath); r.URL.Path != want {
				t.Errorf("proxy path %s, want %s", r.URL.Path, want)
			}
			r.URL.Path = ResultsPath
			proxy[0].ServeHTTP(w, r)
		case strings.HasSuffix(r.URL.Path, "/log"):
			w.Header().Set("Content-Type", "text/plain")
			logs(w, r)
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/pods"):
			_ = json.NewEncoder(w).Encode(corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, Items: []corev1.Pod{pod()}})
		case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/pods/"):
			_ = json.NewEncoder(w).Encode(pod())
		case r.Method == http.MethodDelete:
			_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Success"})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	return &Fleet{Namespace: "ns", Generators: []Generator{{Name: "rehearse-load-0", Node: "n1", Rate: 20}}, StartAt: start, Timeout: time.Second, client: client}
}
