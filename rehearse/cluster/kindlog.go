package cluster

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"sigs.k8s.io/kind/pkg/log"
)

// kindLogger passes kind's user-facing messages (V(0), warnings, errors) to
// a writer as lines; debug levels only when verbose.
type kindLogger struct {
	mu      *sync.Mutex
	w       io.Writer
	verbose bool
}

var _ log.Logger = kindLogger{}

func newKindLogger(w io.Writer, verbose bool) kindLogger {
	return kindLogger{mu: &sync.Mutex{}, w: w, verbose: verbose}
}

func (l kindLogger) line(prefix, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "  kind: %s%s\n", prefix, strings.TrimRight(msg, "\n"))
}

// Warn passes kind's warnings on, except the notice that podman support is
// experimental: podman is chosen on purpose, where Docker cannot work.
func (l kindLogger) Warn(message string) {
	if strings.Contains(message, "enabling experimental podman provider") {
		return
	}
	l.line("warning: ", message)
}
func (l kindLogger) Warnf(format string, args ...any)  { l.Warn(fmt.Sprintf(format, args...)) }
func (l kindLogger) Error(message string)              { l.line("error: ", message) }
func (l kindLogger) Errorf(format string, args ...any) { l.Error(fmt.Sprintf(format, args...)) }
func (l kindLogger) V(level log.Level) log.InfoLogger {
	return kindInfo{l: l, on: level <= 0 || l.verbose}
}

type kindInfo struct {
	l  kindLogger
	on bool
}

func (i kindInfo) Info(message string) {
	if i.on {
		i.l.line("", message)
	}
}
func (i kindInfo) Infof(format string, args ...any) { i.Info(fmt.Sprintf(format, args...)) }
func (i kindInfo) Enabled() bool                    { return i.on }
