package rehearse

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rehearse/rehearse/rehearse/checklist"
	"github.com/rehearse/rehearse/report"
)

// IsRunFolder tells whether dir was written by a rehearsal (it holds the
// scenario as run).
func IsRunFolder(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ScenarioFile))
	return err == nil
}

// Rereport rebuilds a rehearsal's report from its run folder alone: the
// results, the timeline, the upgrade's outcome and the final checklist, as
// far as they were recorded (an interrupted run yields what it holds).
// It is judged with the thresholds of the scenario as run.
func Rereport(dir string) (*report.Report, error) {
	l := ScenarioLoader()
	l.Recorded = true
	sc, err := l.Load(filepath.Join(dir, ScenarioFile))
	if err != nil {
		return nil, err
	}
	rep, err := BuildReport(dir, sc)
	if err != nil {
		return nil, err
	}
	var run Result
	if b, err := os.ReadFile(filepath.Join(dir, RunFile)); err == nil {
		if err := json.Unmarshal(b, &run); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, RunFile), err)
		}
	}
	rep.AddCheck(upgradeCheck(sc, run.Phases, run.Interrupted))
	if sc.Upgrade.Revert {
		rep.AddCheck(revertCheck(sc, run.Phases, run.Interrupted))
	}
	b, err := os.ReadFile(filepath.Join(dir, ChecklistFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if run.Interrupted {
			rep.AddCheck(notChecked(sc))
		}
	case err != nil:
		return nil, err
	default:
		var final checklist.Result
		if err := json.Unmarshal(b, &final); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ChecklistFile), err)
		}
		rep.AddCheck(checklistCheck(final, nil))
	}
	return rep, nil
}
