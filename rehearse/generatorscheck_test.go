package rehearse

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/report"
)

// Lost load within the scenario's allowance passes with each generator an
// item naming its windows; beyond it the load check, and so the verdict,
// is inconclusive, never failed: the requests were not sent, not refused.
func TestGeneratorsCheck(t *testing.T) {
	from := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	acc := loadgen.Accounting{Generators: []loadgen.GeneratorAccounting{
		{Name: "rehearse-load-0", Node: "worker", TargetRate: 100, Scheduled: 60000, Received: 59600, Reported: 30000, ReportedPods: 1,
			Lost:         []loadgen.LostLoad{{From: from, To: from.Add(4 * time.Second), Seconds: 4, Requests: 400, Why: "pod rehearse-load-0-abc deleted"}},
			LostRequests: 400},
		{Name: "rehearse-load-1", Node: "worker2", TargetRate: 100, Scheduled: 60000, Received: 60000, Failed: 12, Reported: 60000, ReportedPods: 1},
	}}
	c := generatorsCheck(acc, 0.05)
	assert.Equal(t, "load", c.Name)
	assert.Equal(t, report.Pass, c.Overall())
	require.Len(t, c.Items, 2)
	assert.Contains(t, c.Items[0].Message, "lost load, 400 requests never sent: 4.0s from 12:00:00 (400 requests; pod rehearse-load-0-abc deleted)")
	assert.Contains(t, c.Items[1].Seen, "60000 results from worker2, 12 failed; its pods said 60000 sent")
	assert.Contains(t, c.Message, "400 requests (0.33%) never sent")
	assert.NotContains(t, c.Items[0].Message, "not read back", "its one end counted less than it sent before")

	// A generator whose pod said it sent more than reached the merge.
	short := acc
	short.Generators = []loadgen.GeneratorAccounting{{Name: "rehearse-load-2", Node: "cp", TargetRate: 100, Scheduled: 60000, Received: 58300, Reported: 60000, ReportedPods: 1,
		Lost: []loadgen.LostLoad{{From: from, To: from.Add(17 * time.Second), Seconds: 17, Requests: 1700, Why: "no results while its pod was running"}}, LostRequests: 1700}}
	c = generatorsCheck(short, 0.05)
	assert.Contains(t, c.Items[0].Message, "1700 results sent but not read back from its log")

	c = generatorsCheck(acc, 0.001)
	assert.Equal(t, report.Inconclusive, c.Overall())
	assert.Contains(t, c.Message, "fell short of the plan by 0.33%")
	assert.Contains(t, c.Message, "load.generators.maxShortfall")
}
