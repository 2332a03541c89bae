package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/canary"
	"github.com/rehearse/rehearse/rehearse/generators"
	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/report"
)

// BenchmarkInClusterGenerators measures what three in-cluster generators
// achieve against the canary's ClusterIP on the default 1+2 kind cluster,
// 30 s at each rate of REHEARSE_BENCH_RATES (default 300, 1000, 2000,
// 4000): achieved rate, requests sent and scheduled, failures, p99, and
// the shortest delay of a result back to this machine. It makes its own
// cluster: go test -run XXX -bench InClusterGenerators -benchtime 1x ./e2e
func BenchmarkInClusterGenerators(b *testing.B) {
	requireSubstrate(b, "v1.35.4")
	ctx := context.Background()
	sc, err := rehearse.ScenarioLoader().Load(filepath.Join("..", "scenarios", "examples", "in-cluster-load.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	progress := os.Stderr
	p := &rehearse.Provisioners{Progress: progress}
	c, err := p.Provision(ctx, sc, fmt.Sprintf("rh-bench-gen-%s", time.Now().UTC().Format("150405")))
	if c != nil {
		defer func() { _ = p.Teardown(context.Background(), c) }()
	}
	if err != nil {
		b.Fatal(err)
	}
	img, archive, err := rehearse.BuildCanaryImage(progress)(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.LoadImage(ctx, c, archive); err != nil {
		b.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	dep, err := canary.Deploy(ctx, client, canary.DeployOptions{Image: img, Replicas: 3}, progress)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := client.CoreV1().Services(dep.Namespace).Get(ctx, dep.Name, metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	target := fmt.Sprintf("http://%s/", net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(svc.Spec.Ports[0].Port))))
	rates := []float64{300, 1000, 2000, 4000}
	if s := os.Getenv("REHEARSE_BENCH_RATES"); s != "" {
		rates = nil
		for _, f := range strings.Split(s, ",") {
			r, err := strconv.ParseFloat(f, 64)
			if err != nil {
				b.Fatalf("REHEARSE_BENCH_RATES: %q", f)
			}
			rates = append(rates, r)
		}
	}
	for i := 0; i < b.N; i++ {
		for _, rate := range rates {
			fleet, err := generators.Deploy(ctx, client, generators.Options{
				Namespace: fmt.Sprintf("bench-%d", int(rate)), Image: img, Replicas: 3, Rate: rate,
				Timeout: 10 * time.Second, Probes: []string{"reuse", "fresh"}, Targets: []string{target}, StartIn: 15 * time.Second,
			})
			if err != nil {
				b.Fatal(err)
			}
			time.Sleep(time.Until(fleet.StartAt))
			col := report.NewCollector(report.CollectorOptions{ReorderWindow: 11 * time.Second})
			run, cancel := context.WithTimeout(ctx, 30*time.Second)
			acc, err := generators.NewRunner(fleet, loadgen.DefaultPhase, timeline.EmitterFunc(func(timeline.Event) {})).Run(run, col)
			cancel()
			_ = fleet.Delete(ctx)
			if err != nil {
				b.Fatal(err)
			}
			ph := col.Close().Phase(loadgen.DefaultPhase)
			delay := 0.0
			for _, g := range acc.Generators {
				delay = max(delay, g.DelayMs)
			}
			fmt.Printf("in-cluster generators at %.0f/s: achieved %.1f/s (%.1f%%), sent %d of %d scheduled, %d failed, p50 %.2f ms, p99 %.2f ms; result delay >= %.0f ms\n",
				rate, acc.AchievedRate, 100*acc.AchievedRate/rate, acc.Sent, acc.Scheduled, ph.Failures, ph.Latency.P50Ms, ph.Latency.P99Ms, delay)
			b.ReportMetric(acc.AchievedRate, fmt.Sprintf("achieved/s@%.0f", rate))
		}
	}
}
