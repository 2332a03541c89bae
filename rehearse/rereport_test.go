package rehearse

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

// interruptedFolder writes the folder of a rehearsal interrupted during its
// after window: clean traffic in every phase, the upgrade phase ended ok,
// no final checklist.
func interruptedFolder(t *testing.T, upgradeOutcome string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, ScenarioFile), scenarios.DefaultYAML(), 0o644))
	rec, err := loadgen.CreateRecorder(filepath.Join(dir, loadgen.ResultsFile))
	require.NoError(t, err)
	start := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	i := 0
	for _, phase := range []string{PhaseBaseline, PhaseUpgrade, PhaseAfter} {
		for range 1000 {
			probe := loadgen.ProbeReuse
			if i%2 == 1 {
				probe = loadgen.ProbeFresh
			}
			rec.Add(&vegeta.Result{Attack: loadgen.AttackName(phase, probe), Seq: uint64(i), Code: 200, URL: "http://x/",
				Timestamp: start.Add(time.Duration(i) * 10 * time.Millisecond), Latency: time.Millisecond + time.Duration(i%7)*100*time.Microsecond})
			i++
		}
	}
	require.NoError(t, rec.Close())
	run := Result{Interrupted: true, Phases: []PhaseRecord{{Name: PhaseUpgrade, Outcome: upgradeOutcome}}}
	b, err := json.Marshal(run)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, RunFile), b, 0o644))
	return dir
}

// An interrupted rehearsal never passes: its final checklist did not run,
// even when the upgrade had finished and the traffic was clean.
func TestRereportInterruptedAfterTheUpgradeIsInconclusive(t *testing.T) {
	rep, err := Rereport(interruptedFolder(t, "ok"))
	require.NoError(t, err)
	assert.Equal(t, report.Inconclusive, rep.Verdict, "%v", rep.Reasons)
	var names []string
	for _, c := range rep.Checks {
		names = append(names, string(c.Outcome)+" "+c.Name+": "+c.Message)
	}
	assert.Contains(t, names, "pass upgrade: kubeadm upgrade to v1.36.3 finished")
	assert.Contains(t, names, "inconclusive checklist kind: not run: the rehearsal was interrupted before the final check")
}

func TestRereportInterruptedUpgrade(t *testing.T) {
	rep, err := Rereport(interruptedFolder(t, "failed"))
	require.NoError(t, err)
	assert.Equal(t, report.Inconclusive, rep.Verdict, "%v", rep.Reasons)
	assert.Contains(t, rep.Reasons, "upgrade inconclusive: interrupted before the upgrade finished")
}
