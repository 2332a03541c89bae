package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rehearse/rehearse/internal/testenv"
)

// TestIntegrationInterruptClusterCreate runs `rehearse cluster create` and
// sends it SIGINT (Ctrl-C) at two points: as soon as the first node
// container appears (kind is still making volumes and containers), and
// later, while the cluster is being waited for. Either way the command must
// fail, and leave no container, no volume, no kubeconfig and no kind network
// (when no other kind cluster uses it).
func TestIntegrationInterruptClusterCreate(t *testing.T) {
	testenv.RequireCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	host := LocalHost{}

	bin := testenv.BuildRehearse(t)
	p, err := NewProvider(ctx, Options{Progress: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := host.Run(ctx, p.Engine(), "image", "inspect", "--format", "{{.Id}}", NodeImage(itKubernetes)); err != nil {
		t.Fatalf("node image of %s missing (rehearse images build --kubernetes %s): %v", itKubernetes, itKubernetes, err)
	}

	tests := []struct {
		name string
		// at returns once it is time to interrupt, or with an error.
		at func(ctx context.Context, name string, lines *lineLog) error
	}{
		{"first node container appears", func(ctx context.Context, name string, lines *lineLog) error {
			for {
				if cs, err := p.clusterContainers(ctx, name); err == nil && len(cs) > 0 {
					return nil
				}
				select {
				case <-lines.done:
					return errors.New("the create ended before any node container appeared")
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(100 * time.Millisecond):
				}
			}
		}},
		{"waiting for Ready", func(ctx context.Context, _ string, lines *lineLog) error {
			if err := lines.waitFor(ctx, "• wait for Ready ..."); err != nil {
				return err
			}
			time.Sleep(3 * time.Second)
			return nil
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("rehearse-int%d-%d", i+1, time.Now().Unix()%100000)
			stateDir := t.TempDir()
			volumesBefore := volumeNames(ctx, t, p)
			t.Cleanup(func() {
				if left, _ := p.Leftovers(context.Background(), name); len(left) > 0 {
					_ = p.deleteSettled(context.Background(), name)
				}
			})

			cmd := exec.CommandContext(ctx, bin, "cluster", "create", "--name", name,
				"--kubernetes", itKubernetes, "--workers", "1", "--state-dir", stateDir)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := newLineLog()
			go lines.scan(stderr)

			if err := tc.at(ctx, name, lines); err != nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("%v; stderr:\n%s", err, lines)
			}
			at := time.Since(start)
			left, _ := p.Leftovers(ctx, name)
			sent := time.Now()
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() {
				<-lines.done
				exited <- cmd.Wait()
			}()
			select {
			case err = <-exited:
			case <-time.After(TeardownTimeout + time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("rehearse cluster create did not end within %s of SIGINT; stderr:\n%s", TeardownTimeout+time.Minute, lines)
			}
			t.Logf("FIGURE interrupt %q: SIGINT %s after the start (then: %s), exit %v %s after it; stderr:\n%s",
				tc.name, at.Round(100*time.Millisecond), strings.Join(left, ", "), err, time.Since(sent).Round(100*time.Millisecond), lines)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 4 {
				t.Errorf("want exit 4 (infrastructure error: interrupted), got %v", err)
			}
			if out := lines.String(); !strings.Contains(out, "interrupted") || !strings.Contains(out, "deleted the half-made cluster "+name) {
				t.Errorf("stderr does not say the create was interrupted and the cluster deleted")
			}

			assertNoLeftovers(ctx, t, p, name, filepath.Join(stateDir, name), volumesBefore)
			if entries, err := os.ReadDir(stateDir); err != nil || len(entries) > 0 {
				t.Errorf("state folder %s not empty: %v %v", stateDir, entries, err)
			}
		})
	}
}

// lineLog collects a command's output lines and tells when one appears.
type lineLog struct {
	mu    sync.Mutex
	lines []string
	added chan struct{} // closed and replaced on each line
	done  chan struct{} // closed at the end of the output
}

func newLineLog() *lineLog {
	return &lineLog{added: make(chan struct{}), done: make(chan struct{})}
}

func (l *lineLog) scan(r io.Reader) {
	defer close(l.done)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		close(l.added)
		l.added = make(chan struct{})
		l.mu.Unlock()
	}
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// waitFor returns once a line containing s was written.
func (l *lineLog) waitFor(ctx context.Context, s string) error {
	for {
		l.mu.Lock()
		for _, line := range l.lines {
			if strings.Contains(line, s) {
				l.mu.Unlock()
				return nil
			}
		}
		added := l.added
		l.mu.Unlock()
		select {
		case <-added:
		case <-l.done:
			if strings.Contains(l.String(), s) {
				return nil
			}
			return fmt.Errorf("the output ended without %q", s)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// TestIntegrationDeleteLeftVolumes makes, on the real podman, what an
// interrupted kind create can leave: a node's labelled volume with no
// container (kind was stopped between `podman volume create` and `podman
// run`) and a node container whose /var volume carries no label (podman
// made it again). Deleting the cluster removes both, and no volume of
// another cluster or of anybody else.
func TestIntegrationDeleteLeftVolumes(t *testing.T) {
	testenv.RequireCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	host := LocalHost{}
	if _, err := host.LookPath(EnginePodman); err != nil {
		t.Skip("podman only: Docker's node volumes are anonymous")
	}
	p, err := NewProvider(ctx, Options{Engine: EnginePodman, StateDir: t.TempDir(), Progress: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("rehearse-vol-%d", time.Now().Unix()%100000)
	var made []string
	mk := func(args ...string) string {
		t.Helper()
		out, err := host.Run(ctx, EnginePodman, args...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	t.Cleanup(func() {
		_, _ = host.Run(context.Background(), EnginePodman, "rm", "-f", name+"-control-plane")
		_, _ = host.Run(context.Background(), EnginePodman, append([]string{"volume", "rm", "-f"}, made...)...)
	})
	orphan := mk("volume", "create", "--label", name+"-worker=true")
	unlabelled := mk("volume", "create")
	other := mk("volume", "create", "--label", name+"-worker-control-plane=true") // cluster NAME-worker's
	loose := mk("volume", "create", "--label", name+"-worker=true", "--label", "keep=yes")
	made = append(made, orphan, unlabelled, other, loose)
	mk("create", "--name", name+"-control-plane", "--label", KindClusterLabel+"="+name,
		"-v", unlabelled+":/var", NodeImage(itKubernetes))
	if left, err := p.Leftovers(ctx, name); err != nil || len(left) != 2 {
		t.Errorf("leftovers before deleting: %v %v; want the container and the labelled volume", left, err)
	}

	if err := p.deleteCluster(ctx, name); err != nil {
		t.Errorf("delete: %v", err)
	}
	have := volumeNames(ctx, t, p)
	for _, v := range []string{orphan, unlabelled} {
		if have[v] {
			t.Errorf("volume %s of %s left", v, name)
		}
	}
	for _, v := range []string{other, loose} {
		if !have[v] {
			t.Errorf("volume %s, not %s's, was removed", v, name)
		}
	}
	if left, err := p.Leftovers(ctx, name); err != nil || len(left) > 0 {
		t.Errorf("leftovers after deleting: %v %v", left, err)
	}

	// A create killed outright leaves volumes and no container: `rehearse
	// cluster delete NAME` still removes them, then says not found.
	killed := mk("volume", "create", "--label", name+"-control-plane=true")
	made = append(made, killed)
	if err := p.Delete(ctx, name); err != nil {
		t.Errorf("delete of a cluster with only volumes left: %v", err)
	}
	if volumeNames(ctx, t, p)[killed] {
		t.Errorf("volume %s of %s left after rehearse cluster delete", killed, name)
	}
	if err := p.Delete(ctx, name); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want %v", err, ErrNotFound)
	}
}
