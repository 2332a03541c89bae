package nodeimage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"al.essio.dev/pkg/shellescape"
)

// CommandError is the failure of an external command: its command line, the
// tail of its output and the underlying error.
type CommandError struct {
	Command string
	Tail    string
	Err     error
}

func (e *CommandError) Error() string {
	tail := strings.TrimSpace(e.Tail)
	if tail == "" {
		return fmt.Sprintf("%s: %v", e.Command, e.Err)
	}
	return fmt.Sprintf("%s: %v\n%s", e.Command, e.Err, indent(tail, "    "))
}

func (e *CommandError) Unwrap() error { return e.Err }

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// commandLine renders a command the way a shell reads it.
func commandLine(name string, args ...string) string {
	return shellescape.QuoteCommand(append([]string{name}, args...))
}

// tailLines is how much of a failing command's output its error carries.
const tailLines = 30

// runner runs external commands: every command line and its whole output go
// to the build log, a failure carries the tail of the output.
type runner struct {
	mu  sync.Mutex // serialises writes to log
	log io.Writer
	// heartbeat, when set, is called every beatEvery while a command runs
	// longer than that (a compile of Kubernetes takes minutes), with how
	// long it has run and its last line of output.
	heartbeat func(command string, running time.Duration, lastLine string)
	beatEvery time.Duration
	// echo, when set, is told every command line before it runs.
	echo func(line string)
}

// cmdSpec is one command to run.
type cmdSpec struct {
	Dir    string
	Env    []string // added to the process environment
	Stdin  io.Reader
	Stdout io.Writer // if set, stdout goes here instead of the log
}

func (r *runner) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// lockedWriter writes to the shared log under the runner's lock.
type lockedWriter struct{ r *runner }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	return w.r.log.Write(p)
}

// run runs a command to completion. ctx cancels it: the whole process group
// is killed.
func (r *runner) run(ctx context.Context, spec cmdSpec, name string, args ...string) error {
	line := commandLine(name, args...)
	if spec.Dir != "" {
		r.logf("$ (cd %s && %s)", spec.Dir, line)
	} else {
		r.logf("$ %s", line)
	}
	if r.echo != nil {
		r.echo(line)
	}
	tail := &tailBuffer{max: 64 * 1024}
	out := io.MultiWriter(lockedWriter{r}, tail)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = spec.Dir
	if len(spec.Env) > 0 {
		cmd.Env = append(os.Environ(), spec.Env...)
	}
	cmd.Stdin = spec.Stdin
	cmd.Stdout = out
	if spec.Stdout != nil {
		cmd.Stdout = spec.Stdout
	}
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	stopBeat := r.beat(line, start, tail)
	err := cmd.Run()
	stopBeat()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		r.logf("failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
		return &CommandError{Command: line, Tail: tail.lastLines(tailLines), Err: err}
	}
	r.logf("ok in %s", time.Since(start).Round(time.Millisecond))
	return nil
}

// beat calls the heartbeat every beatEvery until the returned stop is called.
func (r *runner) beat(line string, start time.Time, tail *tailBuffer) (stop func()) {
	if r.heartbeat == nil || r.beatEvery <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(r.beatEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				r.heartbeat(line, now.Sub(start), lastLines(strings.TrimSpace(tail.lastLines(1)), 1))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// output runs a command and returns its standard output.
func (r *runner) output(ctx context.Context, spec cmdSpec, name string, args ...string) (string, error) {
	var stdout bytes.Buffer
	spec.Stdout = &stdout
	err := r.run(ctx, spec, name, args...)
	if err != nil {
		var ce *CommandError
		if asCommandError(err, &ce) && strings.TrimSpace(ce.Tail) == "" {
			ce.Tail = lastLines(stdout.String(), tailLines)
		}
	}
	return stdout.String(), err
}

func asCommandError(err error, target **CommandError) bool {
	ce, ok := err.(*CommandError)
	if ok {
		*target = ce
	}
	return ok
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) lastLines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return lastLines(string(t.buf), n)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
