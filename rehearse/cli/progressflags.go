package cli

import (
	"errors"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// plainProgressEvery is how often a progress line is printed when stderr
// is not a terminal (a CI log): whole lines, no carriage returns.
const plainProgressEvery = 10 * time.Second

// progressFlags are --quiet and -v/--verbose, on every command that runs
// long enough to report progress on stderr. Results on stdout are the same
// either way.
type progressFlags struct {
	quiet   bool
	verbose bool
}

// addProgressFlags adds --quiet and -v/--verbose; verbose says what
// --verbose adds for the command.
func (p *progressFlags) addProgressFlags(f *pflag.FlagSet, verbose string) {
	f.BoolVar(&p.quiet, "quiet", false, "no progress on stderr (results and errors still print)")
	f.BoolVarP(&p.verbose, "verbose", "v", false, verbose)
}

// check refuses both at once.
func (p progressFlags) check() error {
	if p.quiet && p.verbose {
		return errors.New("--quiet and --verbose: choose one")
	}
	return nil
}

// progress is where progress goes: w, or nowhere with --quiet.
func (p progressFlags) progress(w io.Writer) io.Writer {
	if p.quiet {
		return io.Discard
	}
	return w
}

// isTerminal tells whether w is a terminal, where progress redraws one line
// in place with carriage returns.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// clearLine is what starts a whole line over a live one on a terminal.
func clearLine(terminal bool) string {
	if terminal {
		return "\r\033[K"
	}
	return ""
}
