package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/cluster"
	"github.com/rehearse/rehearse/rehearse/generators"
	"github.com/rehearse/rehearse/rehearse/runfolder"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/report"
)

// TestGateInClusterLoad rehearses in-cluster-load.yaml: the default
// in-place upgrade under 300/s from three generator pods inside the
// cluster, one per node, through the canary's ClusterIP. When worker2's
// drain starts, the generator on worker is killed (its pod deleted at
// once, as a node's OOM killer or a careless kubectl would); its DaemonSet
// makes it again. The rehearsal must pass as the default one does, with no
// failed request; the merged results file must hold every result each
// generator sent; the killed generator's gap must be reported as lost load
// with its window, not as failures; and each generator must be an item of
// the report's load check.
func TestGateInClusterLoad(t *testing.T) {
	testenv.RequireFull(t)
	sc, err := rehearse.ScenarioLoader().Load(filepath.Join("..", "scenarios", "examples", "in-cluster-load.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	killed := make(chan killResult, 1)
	go func() { killed <- killGeneratorAtDrain(ctx, t, "-worker2", generators.App+"-0") }()

	res := rehearseScenario(t, sc)
	cancel()
	kill := <-killed
	if kill.err != nil {
		t.Fatalf("kill a generator mid-upgrade: %v", kill.err)
	}
	t.Logf("killed pod %s at %s", kill.pod, kill.at.Format(time.RFC3339Nano))
	if res.Verdict != report.Pass {
		t.Errorf("in-cluster load: verdict %s (the default upgrade passes from this machine):\n- %s", res.Verdict, strings.Join(res.Reasons, "\n- "))
	}
	noFailedRequest(t, res)

	acc := readAccounting(t, res.Dir)
	if len(acc.Generators) != 3 {
		t.Fatalf("accounting: %d generators, want 3: %+v", len(acc.Generators), acc.Generators)
	}
	var received int64
	for _, g := range acc.Generators {
		t.Logf("generator %s on %s: %.4g/s, scheduled %d, received %d, its pods said %d (%d pods), lost %d in %+v; delay >= %.1f ms",
			g.Name, g.Node, g.TargetRate, g.Scheduled, g.Received, g.Reported, g.ReportedPods, g.LostRequests, g.Lost, g.DelayMs)
		received += g.Received
		if g.Name == generators.App+"-0" {
			// Its first pod was killed and never said what it sent; the
			// pod made again did.
			if g.ReportedPods != 1 || g.Reported >= g.Received {
				t.Errorf("killed generator %s: its second pod should say what it sent (%d), less than all its results (%d)", g.Name, g.Reported, g.Received)
			}
			i := slices.IndexFunc(g.Lost, func(l loadgen.LostLoad) bool {
				return !l.From.After(kill.at) && l.To.After(kill.at)
			})
			if i < 0 {
				t.Errorf("killed generator %s: no lost window around the kill at %s: %+v", g.Name, kill.at.Format(time.RFC3339Nano), g.Lost)
			} else if l := g.Lost[i]; l.Requests <= 0 || !strings.Contains(l.Why, kill.pod) {
				t.Errorf("killed generator %s: lost window %+v: want requests never sent and the killed pod named", g.Name, l)
			}
			continue
		}
		if g.ReportedPods != 1 || g.Reported != g.Received {
			t.Errorf("generator %s: its pod said it sent %d (%d pods), the merge received %d: want them equal", g.Name, g.Reported, g.ReportedPods, g.Received)
		}
		if len(g.Lost) != 0 {
			t.Errorf("generator %s was not killed but lost load: %+v", g.Name, g.Lost)
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
	} else if !strings.Contains(load.Items[0].Message, "lost load") {
		t.Errorf("report: the killed generator's item should say its lost load: %+v", load.Items[0])
	}
	evs, err := timeline.Read(filepath.Join(res.Dir, timeline.File))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(evs, func(e timeline.Event) bool {
		return e.Source == timeline.SourceLoadgen && e.Kind == "lost" && e.Subject == generators.App+"-0"
	}) {
		t.Errorf("timeline: no lost-load event of the killed generator")
	}
}

type killResult struct {
	pod string
	at  time.Time
	err error
}

// killGeneratorAtDrain waits for the rehearsal's cluster and the drain of
// its node ending in nodeSuffix, then deletes generator gen's pod at once.
func killGeneratorAtDrain(ctx context.Context, t *testing.T, nodeSuffix, gen string) killResult {
	var client kubernetes.Interface
	var tlPath string
	for {
		select {
		case <-ctx.Done():
			return killResult{err: errors.New("the rehearsal ended before the drain of *" + nodeSuffix)}
		case <-time.After(2 * time.Second):
		}
		if tlPath == "" {
			ms, _ := filepath.Glob(filepath.Join(runsDir(t), "in-cluster-load-*", timeline.File))
			if len(ms) == 0 {
				continue
			}
			tlPath = ms[len(ms)-1]
		}
		evs, _ := timeline.Read(tlPath)
		if !slices.ContainsFunc(evs, func(e timeline.Event) bool {
			return e.Source == timeline.SourceDriver && e.Kind == "start" && e.Message == "drain" && strings.HasSuffix(e.Subject, nodeSuffix)
		}) {
			continue
		}
		if client == nil {
			kcs, _ := filepath.Glob(filepath.Join(cluster.DefaultStateDir(), "rh-in-cluster-load-*", "kubeconfig"))
			if len(kcs) == 0 {
				return killResult{err: errors.New("no kubeconfig of the rehearsal's cluster")}
			}
			cfg, err := clientcmd.BuildConfigFromFlags("", kcs[len(kcs)-1])
			if err != nil {
				return killResult{err: err}
			}
			if client, err = kubernetes.NewForConfig(cfg); err != nil {
				return killResult{err: err}
			}
		}
		pods, err := client.CoreV1().Pods(generators.DefaultNamespace).List(ctx, metav1.ListOptions{LabelSelector: generators.LabelGenerator + "=" + gen})
		if err != nil || len(pods.Items) == 0 {
			return killResult{err: errors.Join(errors.New("no pod of generator "+gen), err)}
		}
		pod := pods.Items[0].Name
		zero := int64(0)
		at := time.Now()
		err = client.CoreV1().Pods(generators.DefaultNamespace).Delete(ctx, pod, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		return killResult{pod: pod, at: at, err: err}
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
