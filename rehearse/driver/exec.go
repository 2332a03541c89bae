package driver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rehearse/rehearse/rehearse/timeline"
	"github.com/rehearse/rehearse/scenarios"
)

// StepMarker starts a line that marks a timeline step in an exec driver's
// output: "::rehearse-step NAME".
const StepMarker = "::rehearse-step "

// ExecSettings configure the exec driver.
type ExecSettings struct {
	// Command is the argv. With Shell, it is joined with spaces and run by
	// /bin/sh -c.
	Command []string
	Shell   bool
	Timeout time.Duration
	Env     map[string]string
	Dir     string
}

// Exec upgrades a cluster by running a command (kops rolling-update,
// eksctl, terraform, a script) with KUBECONFIG pointing at it.
type Exec struct {
	s ExecSettings
}

var _ Driver = (*Exec)(nil)

func execFromScenario(u scenarios.Upgrade) (Driver, error) {
	s := u.Exec
	if s == nil {
		return nil, errors.New("exec driver: upgrade.exec: missing (the command to run)")
	}
	return NewExec(ExecSettings{Command: s.Command, Shell: s.Shell, Timeout: s.Timeout.Duration, Env: s.Env, Dir: s.Dir})
}

// NewExec makes the exec driver.
func NewExec(s ExecSettings) (*Exec, error) {
	if len(s.Command) == 0 {
		return nil, errors.New("exec driver: command: empty")
	}
	if s.Timeout <= 0 {
		s.Timeout = 30 * time.Minute
	}
	return &Exec{s: s}, nil
}

func (e *Exec) argv() []string {
	if e.s.Shell {
		return []string{"/bin/sh", "-c", strings.Join(e.s.Command, " ")}
	}
	return e.s.Command
}

// Plan is one step: the command. Steps it marks appear under it as it runs.
func (e *Exec) Plan(ctx context.Context, env Env, target string) (*Plan, error) {
	run := Action("run "+strings.Join(e.argv(), " "), "", nil)
	run.Do = func(ctx context.Context, env Env) error { return e.run(ctx, env, run, target) }
	return &Plan{Driver: "exec", Target: target, Root: Group("exec", Serial, run)}, nil
}

// run runs the command; each "::rehearse-step NAME" line on its stdout
// ends the previous marked step and starts NAME, under step, on the
// timeline. Its environment is rehearse's, with KUBECONFIG, and, when
// known, REHEARSE_TARGET (the target version), REHEARSE_CLUSTER (the
// cluster's name: kind's, or the kubeconfig context's) and REHEARSE_ENGINE (the engine running its nodes), then
// the settings' Env.
func (e *Exec) run(ctx context.Context, env Env, step *Step, target string) error {
	ctx, cancel := context.WithTimeout(ctx, e.s.Timeout)
	defer cancel()
	argv := e.argv()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = e.s.Dir
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig)
	for k, v := range map[string]string{"REHEARSE_TARGET": target, "REHEARSE_CLUSTER": env.ClusterName, "REHEARSE_ENGINE": env.Engine} {
		if v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	keys := make([]string, 0, len(e.s.Env))
	for k := range e.s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+e.s.Env[k])
	}
	// The command and everything it starts get SIGTERM on timeout or Ctrl-C,
	// then SIGKILL after a grace period.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second

	var tail tailBuffer
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	logw := &syncWriter{w: logOf(env)}
	cmd.Stderr = io.MultiWriter(logw, &tail)
	emit := env.Emit
	if emit == nil {
		emit = timeline.Discard
	}

	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", strings.Join(argv, " "), err)
	}
	var marked *Step
	endMarked := func(st Status) {
		if marked == nil {
			return
		}
		marked.finish(st)
		emit.Emit(timeline.Event{Time: marked.Ended, Source: timeline.SourceDriver, Kind: "end", Subject: marked.Name, Outcome: outcomeOf(st), Message: marked.Name})
		marked = nil
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(logw, line)
		tail.Write([]byte(line + "\n"))
		if name, ok := strings.CutPrefix(line, StepMarker); ok {
			endMarked(Done)
			marked = step.observe(strings.TrimSpace(name))
			emit.Emit(timeline.Event{Time: marked.Started, Source: timeline.SourceDriver, Kind: "start", Subject: marked.Name, Message: marked.Name})
		}
	}
	if err := sc.Err(); err != nil {
		// A line too long to scan: keep the rest of the output in the log
		// (no more step markers are read) so the command never blocks on
		// a full pipe.
		fmt.Fprintf(logw, "rehearse: reading the output for step markers stopped: %v\n", err)
		_, _ = io.Copy(io.MultiWriter(logw, &tail), stdout)
	}
	werr := cmd.Wait()
	switch {
	case werr == nil:
		endMarked(Done)
		return nil
	case ctx.Err() == context.DeadlineExceeded:
		endMarked(Failed)
		return fmt.Errorf("timed out after %s; last output:\n%s", e.s.Timeout, tail.String())
	default:
		endMarked(Failed)
		return fmt.Errorf("%w; last output:\n%s", werr, tail.String())
	}
}

func outcomeOf(st Status) string {
	if st == Done {
		return "ok"
	}
	return "failed"
}

// syncWriter serialises writes of stdout and stderr lines into one log.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// tailBuffer keeps the last lines of output for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const tailBytes = 4096

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if t.buf.Len() > 2*tailBytes {
		b := t.buf.Bytes()[t.buf.Len()-tailBytes:]
		t.buf = *bytes.NewBuffer(append([]byte(nil), b...))
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf.Bytes()
	if len(b) > tailBytes {
		b = b[len(b)-tailBytes:]
	}
	return strings.TrimRight(string(b), "\n")
}
