package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rehearse/rehearse/rehearse"
)

// Exit codes shared by every command.
const (
	ExitPass         = 0
	ExitFail         = 1
	ExitBadInput     = 2
	ExitInconclusive = 3
	ExitInfra        = 4
)

// Streams are the standard streams of a command: results go to Out, progress
// and diagnostics for people to Err.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// ExitError carries a process exit code with an error (or none, when the
// command already said everything, as a failing verdict does).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// badInput marks an error as the user's input being wrong (exit 2).
func badInput(err error) error { return &ExitError{Code: ExitBadInput, Err: err} }

// Main runs the command line with the process's arguments, streams and
// signals, prints an error once, and returns the exit code.
//
// The first SIGINT or SIGTERM cancels the command's context, so a rehearsal
// stops, reports what it recorded and deletes its cluster; a second one
// ends the process at once.
func Main() int {
	streams := Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			if msg := stopMessage(os.Args[1:]); msg != "" {
				fmt.Fprintf(streams.Err, "rehearse: %v: %s\n", s, msg)
			}
			cancel()
		case <-done:
			signal.Stop(sigs)
		}
	}()
	err := Run(ctx, streams, os.Args[1:])
	return exitCode(streams.Err, err)
}

// stopMessage is what the first signal says, by command: the canary logs
// its own drain and says nothing here.
func stopMessage(args []string) string {
	cmd := ""
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			cmd = a
			break
		}
	}
	switch cmd {
	case "run":
		return "stopping: reporting what was recorded and deleting the throwaway cluster (a second signal quits at once and leaves it behind)"
	case "cluster":
		return "stopping: deleting what was made (a second signal quits at once and leaves it behind)"
	case "canary":
		if len(args) > 1 && args[1] == "serve" {
			return ""
		}
	}
	return "stopping (a second signal quits at once)"
}

func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return ExitPass
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(stderr, "rehearse: %v\n", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintf(stderr, "rehearse: %v\n", err)
	return ExitInfra
}

// Run executes the command line args (without the program name).
func Run(ctx context.Context, streams Streams, args []string) error {
	root := newRoot(streams)
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	err := root.ExecuteContext(ctx)
	if err != nil {
		var ee *ExitError
		if !errors.As(err, &ee) {
			// cobra's own errors are about the command line itself.
			return badInput(err)
		}
	}
	return err
}

func newRoot(streams Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "rehearse",
		Short: "Rehearse a Kubernetes upgrade and prove with traffic that it does not hurt",
		Long: `rehearse rehearses a Kubernetes upgrade before anyone touches production.
It records traffic against a canary application, compares latency and error
distributions between phases (baseline, during the upgrade, after), and gives
a verdict with its reasons.`,
		Version:       rehearse.Version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newRunCmd(streams),
		newPlanCmd(streams),
		newDoctorCmd(streams),
		newImagesCmd(streams),
		newClusterCmd(streams),
		newCanaryCmd(streams),
		newCheckCmd(streams),
		newProfileCmd(streams),
		newLoadCmd(streams),
		newCompareCmd(streams),
		newReportCmd(streams),
		newVersionCmd(streams),
	)
	return root
}

func newVersionCmd(streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(streams.Out, rehearse.Version())
			return err
		},
	}
}
