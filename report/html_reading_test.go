package report_test

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/rehearse/rehearse/report"
)

// readingStart is when the recording of readingReport starts.
var readingStart = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// readingReport is a rehearsal as a person reads it: the recording of
// rehearsalResults served by two kind workers, a timeline of the driver's
// steps upgrading them one after the other (the second one's drain fails),
// the 2 s outage during the first worker's kubelet upgrade, a few lone
// failures, and a kube-system checklist with one failed item.
func readingReport(t testing.TB) *report.Report {
	t.Helper()
	results := rehearsalResults(readingStart)
	for i := range results {
		switch results[i].Headers.Get("X-Canary-Node") {
		case "node-a":
			results[i].Headers.Set("X-Canary-Node", "rh-7f3a-worker")
		case "node-b":
			results[i].Headers.Set("X-Canary-Node", "rh-7f3a-worker2")
		}
	}
	m := collect(t, results, report.CollectorOptions{KeepWindows: true})
	m.Source = "runs/2025-03-14T09-26-53"
	r, err := report.JudgeRun(m, "baseline", report.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	at := func(s float64) time.Time { return readingStart.Add(time.Duration(s * float64(time.Second))) }
	events := []report.Event{
		{Time: at(0), Source: "phase", Kind: "start", Subject: "baseline", Message: "baseline"},
		{Time: at(20), Source: "phase", Kind: "start", Subject: "upgrade", Message: "upgrade"},
		{Time: at(20.5), Source: "driver", Kind: "group-start", Message: "workers (1 at a time, 0s between)"},
	}
	step := func(node, name string, from, to float64, failure string) {
		events = append(events, report.Event{Time: at(from), Source: "driver", Kind: "start", Subject: node, Message: name})
		end := report.Event{Time: at(to), Source: "driver", Kind: "end", Subject: node, Outcome: "ok", Message: name}
		if failure != "" {
			end.Outcome, end.Message = "failed", name+": "+failure
		}
		events = append(events, end)
	}
	for _, s := range []struct {
		node, name string
		from, to   float64
		failure    string
	}{
		{"rh-7f3a-worker", "upgrade kubeadm", 21, 22.5, ""},
		{"rh-7f3a-worker", "kubeadm upgrade node", 22.5, 25, ""},
		{"rh-7f3a-worker", "cordon", 25, 25.2, ""},
		{"rh-7f3a-worker", "drain", 25.2, 27.6, ""},
		{"rh-7f3a-worker", "upgrade kubelet and kubectl", 27.6, 31, ""},
		{"rh-7f3a-worker", "ready at v1.36.3", 31, 33.2, ""},
		{"rh-7f3a-worker", "uncordon", 33.2, 33.3, ""},
		{"rh-7f3a-worker", "remove staged files", 33.3, 33.8, ""},
		{"rh-7f3a-worker2", "upgrade kubeadm", 34, 35.2, ""},
		{"rh-7f3a-worker2", "kubeadm upgrade node", 35.2, 37, ""},
		{"rh-7f3a-worker2", "cordon", 37, 37.1, ""},
		{"rh-7f3a-worker2", "drain", 37.1, 39.5, "budget web-pdb allows no eviction"},
	} {
		step(s.node, s.name, s.from, s.to, s.failure)
	}
	events = append(events,
		report.Event{Time: at(39.6), Source: "driver", Kind: "group-end", Outcome: "failed", Message: "workers (1 at a time, 0s between): drain (rh-7f3a-worker2): budget web-pdb allows no eviction"},
		report.Event{Time: at(40), Source: "phase", Kind: "start", Subject: "after", Message: "after"},
	)
	r.SetTimeline(events)
	est, err := report.EstimateUpgrade(events, report.EstimateOptions{Nodes: 20, MaxUnavailable: 2})
	if err != nil {
		t.Fatal(err)
	}
	r.Estimate = est
	r.AddCheck(report.Check{Name: "kube-system checklist", Outcome: report.Pass, Items: []report.CheckItem{
		{Component: "coredns", Expected: "2/2 Ready", Seen: "2/2 Ready", Outcome: report.Pass},
		{Component: "kube-proxy rh-7f3a-worker", Expected: "Ready at v1.36.3", Seen: "Ready at v1.36.3", Outcome: report.Pass},
		{Component: "kube-proxy rh-7f3a-worker2", Expected: "Ready at v1.36.3", Seen: "Ready at v1.35.1", Outcome: report.Fail, Message: "still at v1.35.1: the node was not upgraded"},
	}})
	return r
}

// element returns the first element under n with the tag and, when class
// is not "", the class.
func element(n *html.Node, tag, class string) *html.Node {
	var found *html.Node
	walk(n, func(c *html.Node) {
		if found == nil && c.Type == html.ElementNode && c.Data == tag && (class == "" || hasClass(c, class)) {
			found = c
		}
	})
	return found
}

// rowsOf returns the text of each body row of a table.
func rowsOf(table *html.Node) (rows []*html.Node) {
	walk(table, func(c *html.Node) {
		if c.Type == html.ElementNode && c.Data == "tr" && c.Parent != nil && c.Parent.Data == "tbody" {
			rows = append(rows, c)
		}
	})
	return rows
}

// checkReadingPage checks, on a parsed page (as rendered or as a browser
// built it), what a person reading the rehearsal needs at a glance.
func checkReadingPage(t *testing.T, doc *html.Node) {
	t.Helper()
	plots := plotsOf(doc)
	plot := func(name string) *html.Node {
		t.Helper()
		if len(plots[name]) != 1 {
			t.Errorf("%d plots named %q, want 1", len(plots[name]), name)
			return nil
		}
		p := plots[name][0]
		if countElements(p, "svg") != 1 {
			t.Errorf("plot %q holds no <svg>: %q", name, textOf(p))
		}
		return p
	}
	svgText := func(p *html.Node) string {
		if s := element(p, "svg", ""); s != nil {
			return textOf(s)
		}
		return ""
	}
	wantText := func(name string, p *html.Node, wants ...string) {
		t.Helper()
		got := svgText(p)
		for _, w := range wants {
			if !strings.Contains(got, w) {
				t.Errorf("plot %q does not show %q; its text: %q", name, w, got)
			}
		}
	}

	// The failures on their own axis, in percent, with the rule's limit.
	if p := plot("failure-rate"); p != nil {
		wantText("failure-rate", p, "failed (% of requests", "failure ratio of the phase", "failure-ratio limit", "limit (error-rate rule)")
		if n := countElements(p, "path"); n < 20 {
			t.Errorf("failure-rate plot holds %d paths, want bars and lines", n)
		}
	}
	// Each step a labelled bar, named by step and node.
	if p := plot("steps"); p != nil {
		wantText("steps", p, "upgrade kubeadm worker", "drain worker", "upgrade kubelet and kubectl worker", "drain worker2", "failed step", "incident (see table)")
		if strings.Contains(svgText(p), "rh-7f3a-") {
			t.Errorf("steps plot repeats the nodes' common prefix: %q", svgText(p))
		}
	}
	// The latency plot labels the step marks too, not with bare numbers.
	if p := plot("latency"); p != nil {
		wantText("latency", p, "upgrade kubeadm worker", "step or event (see timeline)")
	}
	// Percentiles on the 1/(1-q) axis, with the p99 limit.
	if p := plot("percentiles"); p != nil {
		wantText("percentiles", p, "90", "99", "99.9", "percentile", "p99 limit", "p99 limit (latency rule)", "baseline: baseline (n=")
	}
	// Requests by node.
	if p := plot("nodes"); p != nil {
		wantText("nodes", p, "rh-7f3a-worker", "rh-7f3a-worker2", "failed", "requests per second")
	}

	// The checklist, its failed item marked (the stylesheet shades rows
	// holding a failed badge).
	items := element(doc, "table", "check-items")
	if items == nil {
		t.Fatalf("no checklist table (table.check-items)")
	}
	var failed []string
	for _, row := range rowsOf(items) {
		if b := element(row, "span", "badge"); b != nil && hasClass(b, "fail") {
			failed = append(failed, textOf(row))
		}
	}
	if len(failed) != 1 || !strings.Contains(failed[0], "kube-proxy rh-7f3a-worker2") || !strings.Contains(failed[0], "still at v1.35.1") {
		t.Errorf("checklist rows marked failed: %q, want the kube-proxy of rh-7f3a-worker2", failed)
	}
	// The incidents, tied to the step that ran.
	incidents := element(doc, "table", "incidents")
	if incidents == nil {
		t.Fatalf("no incidents table (table.incidents)")
	}
	var tied bool
	for _, row := range rowsOf(incidents) {
		tied = tied || strings.Contains(textOf(row), "`upgrade kubelet and kubectl` (rh-7f3a-worker)")
	}
	if !tied {
		t.Errorf("no incident tied to the kubelet upgrade of rh-7f3a-worker: %q", textOf(incidents))
	}
}

func TestRenderHTMLReading(t *testing.T) {
	r := readingReport(t)
	if len(r.Incidents) == 0 {
		t.Fatalf("the fixture has no incident")
	}
	doc := parseHTML(t, renderHTML(t, r))
	checkReadingPage(t, doc)
	checkSelfContained(t, doc)
}

// The estimate for production is a section of its own, formula first,
// and only when one was made.
func TestRenderHTMLEstimate(t *testing.T) {
	r := readingReport(t)
	section := func(doc *html.Node) *html.Node {
		var found *html.Node
		walk(doc, func(n *html.Node) {
			if id, _ := attr(n, "id"); n.Type == html.ElementNode && id == "estimate" {
				found = n
			}
		})
		return found
	}
	est := section(parseHTML(t, renderHTML(t, r)))
	if est == nil {
		t.Fatalf("no section#estimate")
	}
	lines := r.Estimate.Lines()
	if p := element(est, "p", "estimate"); p == nil || textOf(p) != lines[0] {
		t.Errorf("estimate headline %q, want %q", textOf(est), lines[0])
	}
	if n := countElements(est, "li"); n != len(lines)-1 {
		t.Errorf("%d estimate lines listed, want %d", n, len(lines)-1)
	}
	if !strings.Contains(lines[0], "20 nodes, 2 at a time: 10 batches") {
		t.Errorf("estimate headline %q does not read as the fixture's 20 nodes two at a time", lines[0])
	}
	r.Estimate = nil
	if section(parseHTML(t, renderHTML(t, r))) != nil {
		t.Errorf("section#estimate without an estimate")
	}
}
