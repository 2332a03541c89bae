package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/cluster"
	"github.com/rehearse/rehearse/rehearse/runfolder"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/report"
)

// TestGateInClusterLoad rehearses in-cluster-load.yaml: the default
// in-place upgrade under 300/s from three generator pods inside the
// cluster, one per node, through the canary's ClusterIP. When worker2's
// drain starts, the generator on worker is killed outright (SIGKILL to its
// process, as the OOM killer does): its container restarts in the same
// pod. The merged results file must hold every result, in send order;
// each generator that was not killed must have said it sent exactly what
// reached the merge; the killed one's gap must be reported as lost load
// with its window, not as failures; and each generator must be an item of
// the report's load check.
func TestGateInClusterLoad(t *testing.T) {
	testenv.RequireFull(t)
	if os.Getenv("REHEARSE_RUNS_DIR") == "" {
		t.Setenv("REHEARSE_RUNS_DIR", t.TempDir())
	}
	sc, err := rehearse.ScenarioLoader().Load(filepath.Join("..", "scenarios", "examples", "in-cluster-load.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	killed := make(chan killResult, 1)
	began := time.Now()
	go func() { killed <- killGeneratorAtDrain(ctx, t, began, "worker2", "worker") }()

	res := rehearseScenario(t, sc)
	cancel()
	kill := <-killed
	if kill.err != nil {
		t.Fatalf("kill a generator mid-upgrade: %v", kill.err)
	}
	t.Logf("killed the generator on %s (pod %s) at %s", kill.node, kill.pod, kill.at.Format(time.RFC3339Nano))
	// What the traffic saw is logged, not asserted: on two cores, the
	// generators, the log streams and the nodes' image imports together
	// saturate the machine (see the README); the assertions are about
	// the load itself being whole and exact.
	t.Logf("in-cluster load: verdict %s:\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	for _, reason := range res.Reasons {
		if strings.HasPrefix(reason, "load ") {
			t.Errorf("the load check decided the verdict, but only one generator was killed for seconds: %s", reason)
		}
	}

	acc := readAccounting(t, res.Dir)
	if len(acc.Generators) != 3 {
		t.Fatalf("accounting: %d generators, want 3: %+v", len(acc.Generators), acc.Generators)
	}
	t.Logf("load: target %.0f/s, achieved %.1f/s; scheduled %d, sent %d over %.1f s", acc.TargetRate, acc.AchievedRate, acc.Scheduled, acc.Sent, acc.Seconds)
	var received int64
	for _, g := range acc.Generators {
		t.Logf("generator %s on %s (pods %v): %.4g/s, scheduled %d, received %d, it said %d (%d ends), lost %d in %+v; delay >= %.1f ms",
			g.Name, g.Node, g.Pods, g.TargetRate, g.Scheduled, g.Received, g.Reported, g.ReportedPods, g.LostRequests, g.Lost, g.DelayMs)
		received += g.Received
		if strings.HasSuffix(g.Node, "-"+kill.node) {
			// Its first container was killed and never said what it
			// sent; the one after it did.
			if g.ReportedPods != 1 || g.Reported >= g.Received {
				t.Errorf("killed generator %s: its second container should say what it sent (%d), less than all its results (%d)", g.Name, g.Reported, g.Received)
			}
			i := slices.IndexFunc(g.Lost, func(l loadgen.LostLoad) bool {
				return l.From.Before(kill.at.Add(2*time.Second)) && l.To.After(kill.at)
			})
			if i < 0 {
				t.Errorf("killed generator %s: no lost window around the kill at %s: %+v", g.Name, kill.at.Format(time.RFC3339Nano), g.Lost)
			} else if l := g.Lost[i]; l.Requests <= 0 || !strings.Contains(l.Why, "restarted") || g.LostRequests <= 0 {
				t.Errorf("killed generator %s: lost window %+v (%d lost): want requests never sent and the restart named", g.Name, l, g.LostRequests)
			}
			continue
		}
		if g.ReportedPods != 1 || g.Reported != g.Received {
			t.Errorf("generator %s: it said it sent %d (%d ends), the merge received %d: want them equal", g.Name, g.Reported, g.ReportedPods, g.Received)
		}
		if g.LostRequests != 0 {
			t.Errorf("generator %s was not killed but lost %d requests: %+v", g.Name, g.LostRequests, g.Lost)
		}
	}

	// The merged file holds every result, in send order.
	var n int64
	var last time.Time
	var disorder int
	info, err := loadgen.ReadResults(filepath.Join(res.Dir, runfolder.Results), func(r *vegeta.Result) error {
		n++
		if r.Timestamp.Before(last) {
			disorder++
		}
		last = r.Timestamp
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("results file: %d results, %+v", n, info)
	if n != received || n != acc.Sent {
		t.Errorf("results file holds %d results; the generators' results received %d, accounting sent %d: want all equal", n, received, acc.Sent)
	}
	if disorder != 0 {
		t.Errorf("%d results out of send order in the merged file", disorder)
	}

	// The report's load check names each generator.
	var load *report.Check
	for i := range res.Report.Checks {
		if res.Report.Checks[i].Name == "load" {
			load = &res.Report.Checks[i]
		}
	}
	if load == nil || load.Outcome != report.Pass || len(load.Items) != 3 {
		t.Errorf("report: want a passing load check with one item per generator, got %+v", load)
	} else if !slices.ContainsFunc(load.Items, func(it report.CheckItem) bool { return strings.Contains(it.Message, "lost load") }) {
		t.Errorf("report: the killed generator's item should say its lost load: %+v", load.Items)
	}
	evs, err := timeline.Read(filepath.Join(res.Dir, timeline.File))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(evs, func(e timeline.Event) bool { return e.Source == timeline.SourceLoadgen && e.Kind == "lost" }) {
		t.Errorf("timeline: no lost-load event")
	}
}

type killResult struct {
	node, pod string
	at        time.Time
	err       error
}

// killGeneratorAtDrain waits for the drain of the rehearsal's node named
// ...-drained to start (the rehearsal being the one begun at began), then
// kills the generator process on its node ...-victim with SIGKILL.
func killGeneratorAtDrain(ctx context.Context, t *testing.T, began time.Time, drained, victim string) killResult {
	fresh := func(pattern string) string {
		ms, _ := filepath.Glob(pattern)
		for _, m := range ms {
			if st, err := os.Stat(m); err == nil && st.ModTime().After(began) {
				return m
			}
		}
		return ""
	}
	for {
		select {
		case <-ctx.Done():
			return killResult{err: errors.New("the rehearsal ended before the drain of *-" + drained)}
		case <-time.After(2 * time.Second):
		}
		tl := fresh(filepath.Join(os.Getenv("REHEARSE_RUNS_DIR"), "in-cluster-load-*", timeline.File))
		if tl == "" {
			continue
		}
		evs, _ := timeline.Read(tl)
		if !slices.ContainsFunc(evs, func(e timeline.Event) bool {
			return e.Source == timeline.SourceDriver && e.Kind == "start" && e.Message == "drain" && strings.HasSuffix(e.Subject, "-"+drained)
		}) {
			continue
		}
		kc := fresh(filepath.Join(cluster.DefaultStateDir(), "rh-in-cluster-load-*", "kubeconfig"))
		if kc == "" {
			return killResult{err: errors.New("no kubeconfig of the rehearsal's cluster")}
		}
		node := filepath.Base(filepath.Dir(kc)) + "-" + victim
		find := `for d in /proc/[0-9]*; do tr '\0' ' ' < $d/cmdline 2>/dev/null | grep -q '^/usr/local/bin/rehearse load ' && echo ${d#/proc/}; done; true`
		out, err := exec.Command("podman", "exec", node, "sh", "-c", find).Output()
		pids := strings.Fields(string(out))
		if err != nil || len(pids) != 1 {
			return killResult{err: fmt.Errorf("the generator's process on %s: %v %q", node, err, out)}
		}
		at := time.Now()
		if out, err := exec.Command("podman", "exec", node, "kill", "-KILL", pids[0]).CombinedOutput(); err != nil {
			return killResult{err: fmt.Errorf("kill -KILL %s on %s: %v %s", pids[0], node, err, out)}
		}
		return killResult{node: victim, pod: "pid " + pids[0], at: at}
	}
}

func readAccounting(t *testing.T, dir string) loadgen.Accounting {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, report.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Accounting *loadgen.Accounting `json:"accounting"`
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Accounting == nil {
		t.Fatalf("summary.json: no accounting (%v)", err)
	}
	return *s.Accounting
}
