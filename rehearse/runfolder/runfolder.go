// Package runfolder owns the folder one rehearsal writes: its name, its
// permissions and the name of every file in it. A run folder is made new for
// each rehearsal, never shared and never overwritten; `rehearse report`
// rebuilds the report from it alone.
package runfolder

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Files of a run folder.
const (
	// Scenario is the scenario as run.
	Scenario = "scenario.yaml"
	// Plan is the upgrade plan with each step's status and duration.
	Plan = "plan.txt"
	// DriverLog is the output of the commands the upgrade driver ran.
	DriverLog = "driver.log"
	// Checklist is the final kube-system checklist.
	Checklist = "checklist.json"
	// Run is the rehearsal's phases and outcome.
	Run = "run.json"
	// Timeline is every event of the rehearsal, as JSON lines.
	Timeline = "timeline.jsonl"
	// Results is every request's result, in vegeta's encoding.
	Results = "results.bin"
	// Summary is the load's metrics, closed.
	Summary = "summary.json"
	// LedgerReadBacks holds the stateful canary's read-backs, as JSON lines.
	LedgerReadBacks = "ledger-readbacks.jsonl"
	// ClusterLogs is the folder of the clusters' logs after a failure.
	ClusterLogs = "cluster-logs"
)

// Reports are the report files by format.
var reports = map[string]string{
	"json":     "report.json",
	"html":     "report.html",
	"markdown": "report.md",
	"junit":    "junit.xml",
	"text":     "report.txt",
}

// Report is the file name of a report format ("" for an unknown one).
func Report(format string) string { return reports[format] }

// Modes of what a run folder holds: results, driver output and the tail of
// a failed command can carry what only the user may read.
const (
	DirMode  fs.FileMode = 0o700
	FileMode fs.FileMode = 0o600
)

// Folder is one rehearsal's run folder.
type Folder struct{ Dir string }

// Create makes a new run folder under parent, named after the scenario and
// the time, with a random suffix so that two rehearsals started in the same
// second never share one. The folder is made atomically (mkdir, never
// reused) with mode 0700; parent is made if missing.
func Create(parent, name string, now time.Time) (Folder, error) {
	if err := os.MkdirAll(parent, DirMode); err != nil {
		return Folder{}, fmt.Errorf("run folder: %w", err)
	}
	base := fmt.Sprintf("%s-%s", name, now.UTC().Format("20060102T150405Z"))
	for range 10 {
		dir := filepath.Join(parent, base+"-"+Suffix())
		err := os.Mkdir(dir, DirMode)
		if err == nil {
			return Folder{Dir: dir}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return Folder{}, fmt.Errorf("run folder: %w", err)
		}
	}
	return Folder{}, fmt.Errorf("run folder: no free name for %s under %s", base, parent)
}

// Use takes dir as the run folder of a new rehearsal: made if missing
// (0700), refused if it already holds a rehearsal's files unless force.
func Use(dir string, force bool) (Folder, error) {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return Folder{}, fmt.Errorf("run folder: %w", err)
	}
	if !force {
		for _, f := range []string{Timeline, Results, Run, Scenario} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				return Folder{}, fmt.Errorf("run folder %s already holds a rehearsal (%s): choose a new folder, or --force to overwrite it", dir, f)
			}
		}
	}
	return Folder{Dir: dir}, nil
}

// Open is an existing run folder, to read or re-report.
func Open(dir string) (Folder, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return Folder{}, fmt.Errorf("run folder: %w", err)
	}
	if !st.IsDir() {
		return Folder{}, fmt.Errorf("run folder %s: not a folder", dir)
	}
	return Folder{Dir: dir}, nil
}

// Path is the path of a file of the folder.
func (f Folder) Path(name string) string { return filepath.Join(f.Dir, name) }

// Create makes a new file of the folder (0600); it refuses one that exists.
func (f Folder) Create(name string) (*os.File, error) {
	return os.OpenFile(f.Path(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, FileMode)
}

// WriteFile writes a file of the folder (0600) whole, replacing what a
// rehearsal wrote there before (run.json at the end, plan.txt after the
// upgrade): it goes to a temporary file first and is renamed into place, so
// a reader never sees half of it.
func (f Folder) WriteFile(name string, b []byte) error {
	tmp, err := os.CreateTemp(f.Dir, "."+name+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	errs := errors.Join(werr, tmp.Chmod(FileMode), tmp.Close())
	if errs != nil {
		os.Remove(tmp.Name())
		return errs
	}
	if err := os.Rename(tmp.Name(), f.Path(name)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// Suffix is a short random name part (6 hex digits), for run folders and
// cluster names that must not collide.
func Suffix() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
