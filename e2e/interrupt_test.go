package e2e

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/cluster"
	"github.com/rehearse/rehearse/scenarios"
)

// TestIntegrationInterruptDuringUpgrade runs the rehearse binary on the
// default scenario and sends it SIGTERM while the upgrade runs, as CI does
// when a job is cancelled. The rehearsal must delete its cluster, end
// without a pass (inconclusive, or fail if the traffic already failed a
// rule), and leave a run folder that `rehearse report` renders.
func TestIntegrationInterruptDuringUpgrade(t *testing.T) {
	testenv.RequireCluster(t)
	requireSubstrate(t, scenarios.DefaultKubernetesVersion, scenarios.DefaultTargetVersion)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	bin := testenv.BuildRehearse(t)
	p, err := cluster.NewProvider(ctx, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]bool{}
	listed, err := p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range listed {
		before[c.Name] = true
	}

	dir := filepath.Join(runsDir(t), "interrupted-"+time.Now().UTC().Format("20060102T150405Z"))
	cmd := exec.CommandContext(ctx, bin, "run", "--out", dir, "--set", "load.baseline=10s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	upgrading := make(chan struct{})
	var lines []string
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			lines = append(lines, line)
			if !signalled && strings.HasPrefix(line, "rehearse: "+rehearse.PhaseUpgrade+" ...") {
				signalled = true
				close(upgrading)
			}
		}
	}()
	var name string
	select {
	case <-upgrading:
	case <-scanned:
		_ = cmd.Wait()
		t.Fatalf("the rehearsal ended before its upgrade began:\n%s", strings.Join(lines, "\n"))
	case <-ctx.Done():
		t.Fatal("no upgrade phase within the time limit")
	}
	listed, err = p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range listed {
		if !before[c.Name] && strings.HasPrefix(c.Name, "rh-") {
			name = c.Name
		}
	}
	if name == "" {
		t.Fatalf("no new cluster while the upgrade runs; clusters: %+v", listed)
	}
	// Into the upgrade's first steps, then the signal.
	time.Sleep(20 * time.Second)
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-scanned
	err = cmd.Wait()
	t.Logf("rehearse exited %v, %s after SIGTERM; stderr:\n%s", err, time.Since(sent).Round(time.Second), strings.Join(lines, "\n"))
	var exit *exec.ExitError
	if !errors.As(err, &exit) || (exit.ExitCode() != 3 && exit.ExitCode() != 1) {
		t.Errorf("want exit 3 (inconclusive: interrupted) or 1 (a rule failed before), got %v", err)
	}

	listed, err = p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range listed {
		if c.Name == name {
			t.Errorf("cluster %s is still there after the interrupted rehearsal", name)
			_ = p.Delete(context.Background(), name)
		}
	}

	// What was recorded is reported again from the folder alone.
	for _, f := range []string{"results.bin", "timeline.jsonl", rehearse.RunFile, rehearse.ScenarioFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("run folder: %v", err)
		}
	}
	rep := exec.CommandContext(ctx, bin, "report", dir)
	out, err := rep.CombinedOutput()
	t.Logf("rehearse report %s: %v\n%s", dir, err, out)
	if !errors.As(err, &exit) || (exit.ExitCode() != 3 && exit.ExitCode() != 1) {
		t.Errorf("rehearse report: want exit 3 or 1, as the run, got %v", err)
	}
	for _, want := range []string{"interrupted before the upgrade finished", "baseline", "upgrade"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rehearse report does not say %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
		t.Errorf("rehearse report wrote no HTML report: %v", err)
	}
}
