package loadgen

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// ExportExt is the extension of the files ExportPhases writes.
const ExportExt = ".bin"

// ErrExportDirNotEmpty is the error, wrapped, of ExportPhases given a
// folder that already holds files, without force.
var ErrExportDirNotEmpty = errors.New("the folder is not empty")

// Exported is one phase's results file written by ExportPhases.
type Exported struct {
	Phase   string
	Path    string
	Results int64
}

// ExportPhases splits the results of src (a results file or run folder)
// into one vegeta results file per phase in dir, PHASE.bin in vegeta's gob
// encoding, with the phase as every result's attack name: `vegeta plot
// dir/*.bin` then draws one series per phase on the real time axis, and
// `vegeta report dir/upgrade.bin` reports one phase. Results keep their
// order within a phase. A result whose attack name has no phase (another
// tool's) goes to "all".
//
// dir is made when missing (ResultsDirMode). A dir that already holds
// anything is refused (ErrExportDirNotEmpty) unless force, which
// overwrites the phases' files. The files written are returned in the
// order their phases first appear; on error, so far.
func ExportPhases(src, dir string, force bool) ([]Exported, error) {
	if err := exportDir(dir, force); err != nil {
		return nil, err
	}
	open := ReplaceRecorder
	if !force {
		open = CreateRecorder
	}
	var out []Exported
	recs := map[string]*Recorder{}
	index := map[string]int{}
	names := map[string]bool{}
	_, rerr := ReadResults(src, func(r *vegeta.Result) error {
		phase, _ := SplitAttack(r.Attack)
		if phase == "" {
			phase = "all"
		}
		rec, ok := recs[phase]
		if !ok {
			name := exportName(phase, names)
			path := filepath.Join(dir, name)
			var err error
			if rec, err = open(path); err != nil {
				return &exportWriteError{fmt.Errorf("export phase %s: %w", phase, err)}
			}
			recs[phase] = rec
			index[phase] = len(out)
			out = append(out, Exported{Phase: phase, Path: path})
		}
		r.Attack = phase
		rec.Add(r)
		out[index[phase]].Results++
		return nil
	})
	var errs []error
	var werr *exportWriteError
	if rerr != nil && !errors.As(rerr, &werr) {
		rerr = &ExportSourceError{Err: rerr}
	}
	if rerr != nil {
		errs = append(errs, rerr)
	}
	for _, e := range out {
		if err := recs[e.Phase].Close(); err != nil {
			errs = append(errs, fmt.Errorf("export phase %s to %s: %w", e.Phase, e.Path, err))
		}
	}
	return out, errors.Join(errs...)
}

// ExportSourceError is the error of ExportPhases when src cannot be read
// as results (the user's input), as against a folder it cannot write.
type ExportSourceError struct{ Err error }

func (e *ExportSourceError) Error() string { return e.Err.Error() }
func (e *ExportSourceError) Unwrap() error { return e.Err }

// exportWriteError marks a failure to write inside the reading callback.
type exportWriteError struct{ error }

func (e *exportWriteError) Unwrap() error { return e.error }

// exportDir makes dir, or checks that it is an empty folder (any folder
// with force).
func exportDir(dir string, force bool) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, ResultsDirMode); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("export: %w", err)
	case !st.IsDir():
		return fmt.Errorf("export to %s: not a folder", dir)
	case force:
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("export to %s: %w (it holds %s)", dir, ErrExportDirNotEmpty, entries[0].Name())
	}
	return nil
}

// exportName is a file name for the phase: characters other than letters,
// digits, '.', '-' and '_' become '_', and a name another phase already
// took gets a number.
func exportName(phase string, taken map[string]bool) string {
	base := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, phase)
	if strings.Trim(base, ".") == "" {
		base = "_" + base
	}
	name := base + ExportExt
	for i := 2; taken[name]; i++ {
		name = fmt.Sprintf("%s-%d%s", base, i, ExportExt)
	}
	taken[name] = true
	return name
}
