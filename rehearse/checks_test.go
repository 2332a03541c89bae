package rehearse

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rehearse/rehearse/rehearse/checklist"
	"github.com/rehearse/rehearse/report"
)

// A failed checklist component is a failure of its own in JUnit, the file CI
// systems read, even when the traffic passed.
func TestChecklistComponentsAreJUnitCases(t *testing.T) {
	final := checklist.Result{Checklist: "kind", ExpectVersion: "v1.36.3", Outcome: checklist.Fail, Items: []checklist.ItemResult{
		{Component: "coredns", Outcome: checklist.Pass, Ready: "2/2", Version: "v1.14.2"},
		{Component: "kube-proxy", Outcome: checklist.Fail, Ready: "2/3", Version: "v1.36.3", Restarts: 4, Message: "1 pod not Ready: CrashLoopBackOff"},
	}}
	c := checklistCheck(final, nil)
	assert.Equal(t, report.Fail, c.Outcome)
	require.Len(t, c.Items, 2)
	assert.Equal(t, report.CheckItem{Component: "kube-proxy", Expected: "Ready at v1.36.3, not restarting", Seen: "ready 2/3, v1.36.3, 4 restarts",
		Outcome: report.Fail, Message: "1 pod not Ready: CrashLoopBackOff"}, c.Items[1])

	rep := &report.Report{Verdict: report.Pass}
	rep.AddCheck(c)
	assert.Equal(t, report.Fail, rep.Verdict)
	var b bytes.Buffer
	require.NoError(t, report.RenderJUnit(&b, rep))
	assert.Contains(t, b.String(), `name="kube-proxy"`)
	assert.Regexp(t, `failures="[1-9]`, b.String())
	assert.Contains(t, b.String(), "CrashLoopBackOff")
}
