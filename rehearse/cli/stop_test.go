package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStopMessage(t *testing.T) {
	assert.Contains(t, stopMessage([]string{"run", "--keep"}), "deleting the throwaway cluster")
	assert.Contains(t, stopMessage([]string{"-v", "cluster", "create"}), "deleting what was made")
	assert.Empty(t, stopMessage([]string{"canary", "serve", "--addr", ":8080"}), "the canary logs its own drain")
	assert.Equal(t, "stopping (a second signal quits at once)", stopMessage([]string{"load", "--rate", "10"}))
	assert.NotContains(t, stopMessage([]string{"canary", "deploy"}), "cluster")
}

// stopChildEnv makes TestStopSignals run as the child process that the test
// signals: STOP_CHILD=listen, or ignore-hup to start with SIGHUP ignored as
// nohup starts a process.
const stopChildEnv = "REHEARSE_TEST_STOP_CHILD"

// stopChild listens as Main does, says "ready" on stdout, and "stopped" once
// a signal cancelled its context; then it waits for a second signal, and
// exits 0 if none ends it.
func stopChild(mode string) {
	if mode == "ignore-hup" {
		signal.Ignore(syscall.SIGHUP)
	}
	ctx, stop := notifyStop(context.Background(), os.Stderr, []string{"run"})
	defer stop()
	fmt.Println("ready")
	<-ctx.Done()
	fmt.Println("stopped")
	time.Sleep(10 * time.Second)
	os.Exit(0)
}

// The first SIGINT, SIGTERM or SIGHUP (the terminal closing) cancels the
// context, saying what stopping does; a second one ends the process at once.
// A SIGHUP the process was started ignoring (nohup) stays ignored.
func TestStopSignals(t *testing.T) {
	if mode := os.Getenv(stopChildEnv); mode != "" {
		stopChild(mode)
		return
	}
	tests := []struct {
		name    string
		mode    string
		signals []syscall.Signal // sent one after the other before "stopped"
		says    string
		killer  syscall.Signal
	}{
		{"SIGINT", "listen", []syscall.Signal{syscall.SIGINT}, "rehearse: interrupt: stopping: reporting what was recorded and deleting the throwaway cluster", syscall.SIGINT},
		{"SIGTERM", "listen", []syscall.Signal{syscall.SIGTERM}, "rehearse: terminated: stopping", syscall.SIGTERM},
		{"SIGHUP", "listen", []syscall.Signal{syscall.SIGHUP}, "rehearse: hangup: stopping: reporting what was recorded", syscall.SIGHUP},
		{"SIGHUP under nohup", "ignore-hup", []syscall.Signal{syscall.SIGHUP, syscall.SIGINT}, "rehearse: interrupt: stopping", syscall.SIGINT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.mode == "listen" && tc.signals[0] == syscall.SIGHUP && signal.Ignored(syscall.SIGHUP) {
				// A process started with SIGHUP ignored passes that on to
				// every child it starts; "SIGHUP under nohup" shows it.
				t.Skip("this test process was started with SIGHUP ignored (under nohup), so its child cannot receive one")
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestStopSignals$", "-test.count=1")
			cmd.Env = append(os.Environ(), stopChildEnv+"="+tc.mode)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			lines := make(chan string, 4)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			next := func() string {
				t.Helper()
				select {
				case l := <-lines:
					return l
				case <-time.After(10 * time.Second):
					require.FailNow(t, "the child said nothing", "stderr: %s", stderr.String())
					return ""
				}
			}
			require.Equal(t, "ready", next(), stderr.String())
			for _, s := range tc.signals {
				require.NoError(t, cmd.Process.Signal(s))
			}
			require.Equal(t, "stopped", next(), stderr.String())

			require.NoError(t, cmd.Process.Signal(tc.killer))
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var werr error
			select {
			case werr = <-done:
			case <-time.After(5 * time.Second):
				require.FailNow(t, "a second signal did not end the process")
			}
			var ee *exec.ExitError
			require.True(t, errors.As(werr, &ee), "the second signal ends the process: %v\nstderr: %s", werr, stderr.String())
			ws, ok := ee.Sys().(syscall.WaitStatus)
			require.True(t, ok)
			assert.True(t, ws.Signaled(), "ended by a signal, not an exit: %v", werr)
			assert.Equal(t, tc.killer, ws.Signal())
			assert.Contains(t, stderr.String(), tc.says)
			assert.Equal(t, 1, strings.Count(stderr.String(), "rehearse: "), "one stop message: %s", stderr.String())
		})
	}
}
