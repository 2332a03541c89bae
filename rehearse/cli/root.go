package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
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
// The first SIGINT, SIGTERM or SIGHUP (the terminal closing) cancels the
// command's context, so a rehearsal stops, reports what it recorded and
// deletes its cluster; a second one ends the process at once.
func Main() int {
	streams := Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	ctx, stop := notifyStop(context.Background(), streams.Err, os.Args[1:])
	defer stop()
	err := runAs(ctx, streams, displayName(os.Args[0]), os.Args[1:])
	return exitCode(streams.Err, err)
}

// Names the command line presents itself by: as itself, and as a kubectl
// plugin (an executable named kubectl-rehearse on the PATH, which kubectl
// runs for "kubectl rehearse").
const (
	programName = "rehearse"
	pluginName  = "kubectl rehearse"
)

// displayName is the name help and usage show, from the executable's
// name: "kubectl rehearse" when it is installed as a kubectl plugin.
func displayName(arg0 string) string {
	base := strings.TrimSuffix(filepath.Base(arg0), ".exe")
	if base == "kubectl-"+programName {
		return pluginName
	}
	return programName
}

// stopSignals are the signals that stop a command: Ctrl-C, a kill, and the
// terminal closing. One the process was started ignoring (nohup, a
// background job of a script) stays ignored.
func stopSignals() []os.Signal {
	var sigs []os.Signal
	for _, s := range []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP} {
		if !signal.Ignored(s) {
			sigs = append(sigs, s)
		}
	}
	return sigs
}

// notifyStop returns a context that the first of the stop signals cancels,
// after saying on stderr what stopping does for the command of args. From
// then on the signals have their default effect again, so a second one ends
// the process at once. stop releases the signals and the context.
func notifyStop(parent context.Context, stderr io.Writer, args []string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, stopSignals()...)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			if msg := stopMessage(args); msg != "" {
				fmt.Fprintf(stderr, "rehearse: %v: %s\n", s, msg)
			}
			cancel()
		case <-done:
			signal.Stop(sigs)
		}
	}()
	return ctx, func() {
		select {
		case <-done:
		default:
			close(done)
		}
		<-exited
		cancel()
	}
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
	return runAs(ctx, streams, programName, args)
}

// runAs executes args with help and usage naming the program name.
func runAs(ctx context.Context, streams Streams, name string, args []string) error {
	root := newRoot(streams)
	if name != programName {
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: name}
	}
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	err := root.ExecuteContext(ctx)
	if err != nil {
		var ee *ExitError
		if !errors.As(err, &ee) {
			// Handlers' errors all carry an exit code (see
			// infraUnlessMarked): the rest are cobra's own, about the
			// command line itself (flags, arguments, unknown commands).
			return badInput(err)
		}
	}
	return err
}

// infraUnlessMarked makes an error that a handler of cmd or of its
// subcommands returns without an exit code an infrastructure error (exit 4):
// a handler marks the user's input errors with badInput, and anything else
// it meets (a disk that is full, a folder it may not write, a cluster or a
// network that fails) is the machine's failure, not the user's.
func infraUnlessMarked(cmd *cobra.Command) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			err := run(c, args)
			var ee *ExitError
			if err == nil || errors.As(err, &ee) {
				return err
			}
			return &ExitError{Code: ExitInfra, Err: err}
		}
	}
	for _, sub := range cmd.Commands() {
		infraUnlessMarked(sub)
	}
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
	// --version has no shorthand: -v is --verbose wherever a command has
	// one, as in kubectl, where -v is the log level.
	root.Flags().Bool("version", false, "print the version")
	infraUnlessMarked(root)
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
