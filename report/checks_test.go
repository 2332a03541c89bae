package report

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// renderPassing is a rehearsal whose traffic passes: a clean baseline and a
// clean phase after it.
func renderPassing(t *testing.T) *Report {
	t.Helper()
	m := renderMetrics(
		renderPhaseSpec{name: "baseline", seconds: 30, rate: 25, median: 8 * time.Millisecond},
		renderPhaseSpec{name: "after", from: 30 * time.Second, seconds: 30, rate: 25, median: 8 * time.Millisecond},
	)
	m.Source = "runs/rehearsal-2"
	r, err := JudgeRun(m, "baseline", Rules{})
	require.NoError(t, err)
	require.Equal(t, Pass, r.Verdict, "%v", r.Reasons)
	r.Generated = renderGenerated
	return r
}

func upgradePassed() Check {
	return Check{Name: "upgrade", Outcome: Pass, Message: "kubeadm upgrade to v1.31.0 finished"}
}

func checklistFailed() Check {
	return Check{Name: "checklist kind", Outcome: Fail, Message: "kube-proxy: 0/1 ready", Items: []CheckItem{
		{Component: "coredns", Expected: "ready 2/2", Seen: "ready 2/2, v1.11.3", Outcome: Pass},
		{Component: "kube-proxy", Expected: "ready 1/1, v1.31.0", Seen: "ready 0/1, v1.30.4", Outcome: Fail, Message: "0/1 ready"},
		{Component: "node/kind-worker", Expected: "Ready, kubelet v1.31.0", Seen: "Ready, kubelet v1.31.0", Outcome: Pass},
	}}
}

// find finds a test case by classname and name.
func (d junitDoc) find(t *testing.T, class, name string) (suite int, tc junitCaseDoc) {
	t.Helper()
	for i, s := range d.Suites {
		for _, c := range s.Cases {
			if c.ClassName == class && c.Name == name {
				return i, c
			}
		}
	}
	t.Fatalf("no test case %s %q", class, name)
	return 0, junitCaseDoc{}
}

type junitCaseDoc = struct {
	ClassName string   `xml:"classname,attr"`
	Name      string   `xml:"name,attr"`
	Time      *float64 `xml:"time,attr"`
	Failure   *struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	} `xml:"failure"`
	Skipped *struct {
		Message string `xml:"message,attr"`
	} `xml:"skipped"`
	SystemOut string `xml:"system-out"`
}

// junitCounts checks that every suite's and the document's counts are those
// of its cases, and returns the document's failures and skips.
func junitCounts(t *testing.T, doc junitDoc) (failures, skipped int) {
	t.Helper()
	var tests int
	for _, s := range doc.Suites {
		var f, sk int
		for _, c := range s.Cases {
			switch {
			case c.Failure != nil:
				f++
			case c.Skipped != nil:
				sk++
			}
		}
		assert.Equal(t, len(s.Cases), s.Tests, "suite %s tests", s.Name)
		assert.Equal(t, f, s.Failures, "suite %s failures", s.Name)
		assert.Equal(t, sk, s.Skipped, "suite %s skipped", s.Name)
		tests, failures, skipped = tests+s.Tests, failures+f, skipped+sk
	}
	assert.Equal(t, tests, doc.Tests)
	assert.Equal(t, failures, doc.Failures)
	assert.Equal(t, skipped, doc.Skipped)
	return failures, skipped
}

// A rehearsal whose traffic passed but whose checklist failed fails, and
// JUnit says so: the checklist and its failed component are failures.
func TestRenderJUnitFailedChecklist(t *testing.T) {
	r := renderPassing(t)
	r.AddCheck(upgradePassed())
	r.AddCheck(checklistFailed())
	require.Equal(t, Fail, r.Verdict)

	out := renderString(t, RenderJUnit, r)
	assert.NotContains(t, out, "<properties></properties>", "a suite without properties has no properties element")
	doc := junitParse(t, out)
	failures, skipped := junitCounts(t, doc)
	assert.Equal(t, 2, failures, "the checklist and kube-proxy")
	assert.Zero(t, skipped)

	require.Equal(t, "checks", doc.Suites[0].Name)
	assert.Len(t, doc.Suites[0].Cases, 2+3, "two checks and three checklist items")
	_, up := doc.find(t, "rehearse.checks", "upgrade")
	assert.Nil(t, up.Failure)
	assert.Nil(t, up.Skipped)
	assert.Contains(t, up.SystemOut, "finished")
	_, cl := doc.find(t, "rehearse.checks", "checklist kind")
	require.NotNil(t, cl.Failure)
	assert.Equal(t, "kube-proxy: 0/1 ready", cl.Failure.Message)
	_, kp := doc.find(t, "checklist kind", "kube-proxy")
	require.NotNil(t, kp.Failure)
	assert.Equal(t, "fail", kp.Failure.Type)
	assert.Equal(t, "0/1 ready", kp.Failure.Message)
	assert.Contains(t, kp.Failure.Text, "expected ready 1/1, v1.31.0, seen ready 0/1, v1.30.4")
	_, dns := doc.find(t, "checklist kind", "coredns")
	assert.Nil(t, dns.Failure)
	assert.Contains(t, dns.SystemOut, "seen ready 2/2, v1.11.3")
}

// Inconclusive checks and items are skipped with their reason, so a run
// that could not be judged never reads as all green.
func TestRenderJUnitInconclusiveChecks(t *testing.T) {
	r := renderPassing(t)
	r.AddCheck(Check{Name: "upgrade", Outcome: Inconclusive, Message: "interrupted before the upgrade finished"})
	r.AddCheck(Check{Name: "checklist kind", Outcome: Inconclusive, Message: "etcd not seen", Items: []CheckItem{
		{Component: "etcd", Expected: "ready 1/1", Outcome: Inconclusive, Message: "not seen: the API server did not answer"},
	}})
	require.Equal(t, Inconclusive, r.Verdict)

	doc := junitParse(t, renderString(t, RenderJUnit, r))
	failures, skipped := junitCounts(t, doc)
	assert.Zero(t, failures)
	assert.Equal(t, 3, skipped)
	_, up := doc.find(t, "rehearse.checks", "upgrade")
	require.NotNil(t, up.Skipped)
	assert.Equal(t, "interrupted before the upgrade finished", up.Skipped.Message)
	_, etcd := doc.find(t, "checklist kind", "etcd")
	require.NotNil(t, etcd.Skipped)
	assert.Equal(t, "not seen: the API server did not answer", etcd.Skipped.Message)
}

// An item that did not pass counts even when its check says pass.
func TestCheckItemsCountInVerdict(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check Check
		want  Outcome
	}{
		{"all pass", Check{Name: "c", Outcome: Pass, Items: []CheckItem{{Component: "a", Outcome: Pass}}}, Pass},
		{"failed item", Check{Name: "c", Outcome: Pass, Items: []CheckItem{{Component: "a", Outcome: Pass}, {Component: "b", Outcome: Fail, Message: "down"}}}, Fail},
		{"inconclusive item", Check{Name: "c", Outcome: Pass, Items: []CheckItem{{Component: "a", Outcome: Inconclusive, Message: "not seen"}}}, Inconclusive},
		{"fail beats inconclusive", Check{Name: "c", Outcome: Inconclusive, Items: []CheckItem{{Component: "a", Outcome: Fail}}}, Fail},
		{"check fails alone", Check{Name: "c", Outcome: Fail, Message: "could not run"}, Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.check.Overall())
			r := renderPassing(t)
			r.AddCheck(tc.check)
			assert.Equal(t, tc.want, r.Verdict)
			if tc.want != Pass {
				assert.Contains(t, strings.Join(r.Reasons, "\n"), "c "+string(tc.want)+": ")
			}
		})
	}
	r := renderPassing(t)
	r.AddCheck(Check{Name: "checklist kind", Outcome: Pass, Message: "all passed", Items: []CheckItem{{Component: "kube-proxy", Outcome: Fail, Message: "0/1 ready"}}})
	assert.Equal(t, []string{"checklist kind fail: kube-proxy: 0/1 ready"}, r.Reasons)
}

func TestCheckItemsJSON(t *testing.T) {
	r := renderPassing(t)
	r.AddCheck(checklistFailed())
	b, err := json.Marshal(r)
	require.NoError(t, err)
	var back Report
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, r.Checks, back.Checks)
	assert.Contains(t, string(b), `"items":[{"component":"coredns","expected":"ready 2/2","seen":"ready 2/2, v1.11.3","outcome":"pass"}`)
}

// Every human-readable report shows the checks, and a checklist as a table
// of component, expected, seen and verdict.
func TestRenderChecksTables(t *testing.T) {
	r := renderPassing(t)
	r.AddCheck(upgradePassed())
	r.AddCheck(checklistFailed())

	md := renderString(t, RenderMarkdown, r)
	for _, want := range []string{
		"### Checks\n\n| Check | Verdict | Message |\n|---|---|---|\n| upgrade | PASS | kubeadm upgrade to v1.31.0 finished |\n| checklist kind | FAIL | kube-proxy: 0/1 ready |\n",
		"#### checklist kind: **FAIL**\n\n| Component | Expected | Seen | Verdict | Message |\n|---|---|---|---|---|\n",
		"| coredns | ready 2/2 | ready 2/2, v1.11.3 | PASS |   |\n",
		"| kube-proxy | ready 1/1, v1.31.0 | ready 0/1, v1.30.4 | FAIL | 0/1 ready |\n",
		"| node/kind-worker | Ready, kubelet v1.31.0 | Ready, kubelet v1.31.0 | PASS |   |\n",
	} {
		assert.Contains(t, md, want)
	}
	assert.Less(t, strings.Index(md, "### Checks"), strings.Index(md, "### after vs baseline"), "checks come before the comparisons")

	page := renderString(t, RenderHTML, r)
	for _, want := range []string{
		`<section id="checks">`,
		`<tr><td class="mono">upgrade</td><td><span class="badge pass">pass</span></td><td class="msg">kubeadm upgrade to v1.31.0 finished</td></tr>`,
		`<table class="check-items" data-check="checklist kind">`,
		`<th>Component</th><th>Expected</th><th>Seen</th><th>Verdict</th>`,
		`<tr><td class="mono">kube-proxy</td><td>ready 1/1, v1.31.0</td><td>ready 0/1, v1.30.4</td><td><span class="badge fail">fail</span></td><td class="msg">0/1 ready</td></tr>`,
	} {
		assert.Contains(t, page, want)
	}

	txt := renderString(t, RenderText, r)
	assert.Contains(t, txt, "\nChecks:\n  upgrade: PASS  kubeadm upgrade to v1.31.0 finished\n  checklist kind: FAIL  kube-proxy: 0/1 ready\n")
	assert.Regexp(t, `\n    COMPONENT +EXPECTED +SEEN +VERDICT +MESSAGE\n`, txt)
	assert.Regexp(t, `\n    kube-proxy +ready 1/1, v1\.31\.0 +ready 0/1, v1\.30\.4 +FAIL +0/1 ready\n`, txt)

	// Without checks, no section.
	plain := renderPassing(t)
	assert.NotContains(t, renderString(t, RenderMarkdown, plain), "### Checks")
	assert.NotContains(t, renderString(t, RenderHTML, plain), `id="checks"`)
	assert.NotContains(t, renderString(t, RenderText, plain), "Checks:")
}
