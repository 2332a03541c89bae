package report_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/net/html"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/report"
)

// scriptError is an error message that must come out escaped.
const scriptError = `Get "http://canary.rehearse.test/ping": <script>alert("pwned")</script>`

// rehearsalResults synthesises about 60 s of load at 50 requests per second
// over both probes: 20 s of baseline, 20 s of upgrade with a 2 s
// connection-refused outage, 20 s after. Latencies are log-normal around
// 8 ms with a slower upgrade.
func rehearsalResults(start time.Time) []vegeta.Result {
	rng := rand.New(rand.NewPCG(7, 11))
	const rate = 50
	var out []vegeta.Result
	for i := range 60 * rate {
		off := time.Duration(i) * time.Second / rate
		off += time.Duration(rng.IntN(4000)) * time.Microsecond // jitter
		ts := start.Add(off)
		sec := off.Seconds()
		phase := "baseline"
		switch {
		case sec >= 40:
			phase = "after"
		case sec >= 20:
			phase = "upgrade"
		}
		probe := loadgen.ProbeReuse
		if i%2 == 1 {
			probe = loadgen.ProbeFresh
		}
		med := 8.0
		if phase == "upgrade" {
			med = 11
		}
		ms := med * math.Exp(0.35*rng.NormFloat64())
		if rng.Float64() < 0.01 {
			ms *= 6 // tail
		}
		node := "node-a"
		if i%3 == 0 {
			node = "node-b"
		}
		r := vegeta.Result{
			Attack:    loadgen.AttackName(phase, probe),
			Seq:       uint64(i),
			Timestamp: ts,
			Latency:   time.Duration(ms * float64(time.Millisecond)),
			Code:      200,
			URL:       "http://canary.rehearse.test/ping",
			Method:    "GET",
			Headers:   http.Header{"X-Canary-Node": []string{node}},
		}
		switch {
		case phase == "upgrade" && sec >= 28 && sec < 30:
			r.Code, r.Error = 0, "dial tcp 10.96.0.10:80: connect: connection refused"
			r.Latency = time.Duration(300+rng.IntN(700)) * time.Microsecond
			r.Headers = nil
		case phase == "upgrade" && (i == 1650 || i == 1700 || i == 1702):
			r.Code, r.Error = 0, scriptError
			r.Headers = nil
		case phase == "after" && i%400 == 0:
			r.Code, r.Error = 503, "503 Service Unavailable"
		}
		out = append(out, r)
	}
	return out
}

func collect(t testing.TB, results []vegeta.Result, opts report.CollectorOptions) *report.Metrics {
	t.Helper()
	c := report.NewCollector(opts)
	for i := range results {
		c.Add(&results[i])
	}
	return c.Close()
}

// rehearsalReport builds a report of one recording through the collector
// and the judge, with a timeline.
func rehearsalReport(t testing.TB) *report.Report {
	t.Helper()
	start := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	m := collect(t, rehearsalResults(start), report.CollectorOptions{KeepWindows: true})
	m.Source = "runs/2025-03-14T09-26-53"
	r, err := report.JudgeRun(m, "baseline", report.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	r.Timeline = []report.Event{
		{Time: start.Add(20 * time.Second), Source: "rehearse", Kind: "phase", Subject: "upgrade", Message: "phase upgrade in force"},
		{Time: start.Add(27500 * time.Millisecond), Source: "kubectl", Kind: "drain", Subject: "node/node-a", Message: "draining node-a <pods evicted>"},
		{Time: start.Add(40 * time.Second), Source: "rehearse", Kind: "phase", Subject: "after", Message: "phase after in force"},
	}
	return r
}

func renderHTML(t testing.TB, r *report.Report) string {
	t.Helper()
	var buf bytes.Buffer
	if err := report.RenderHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func hasClass(n *html.Node, class string) bool {
	v, _ := attr(n, "class")
	for _, c := range strings.Fields(v) {
		if c == class {
			return true
		}
	}
	return false
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func countElements(n *html.Node, names ...string) int {
	k := 0
	walk(n, func(c *html.Node) {
		if c.Type != html.ElementNode {
			return
		}
		for _, name := range names {
			if c.Data == name {
				k++
			}
		}
	})
	return k
}

// plotsOf returns the plot containers by data-plot name.
func plotsOf(doc *html.Node) map[string][]*html.Node {
	out := map[string][]*html.Node{}
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && hasClass(n, "plot") {
			name, _ := attr(n, "data-plot")
			out[name] = append(out[name], n)
		}
	})
	return out
}

func parseHTML(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("page does not parse: %v", err)
	}
	return doc
}

var externalRef = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9]`)

// checkSelfContained fails on anything that would make the browser fetch:
// scripts, links, URLs in attributes or in the stylesheet. URLs may appear
// only as text (a target in a table).
func checkSelfContained(t *testing.T, doc *html.Node) {
	t.Helper()
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.Data {
		case "script", "link", "iframe", "img", "object", "embed", "image", "use":
			t.Errorf("page has a <%s> element", n.Data)
		case "style":
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if externalRef.MatchString(c.Data) || strings.Contains(c.Data, "@import") || strings.Contains(c.Data, "url(") {
					t.Errorf("stylesheet refers to something outside the page: %q", externalRef.FindString(c.Data))
				}
			}
		}
		for _, a := range n.Attr {
			if strings.Contains(a.Val, "http://") || strings.Contains(a.Val, "https://") || strings.Contains(a.Val, "url(") {
				t.Errorf("<%s %s=%q> refers to something outside the page", n.Data, a.Key, a.Val)
			}
		}
	})
}

func TestRenderHTMLRehearsal(t *testing.T) {
	r := rehearsalReport(t)
	if r.Verdict != report.Fail {
		t.Fatalf("verdict %s, want fail (2 s outage); reasons %q", r.Verdict, r.Reasons)
	}
	page := renderHTML(t, r)
	doc := parseHTML(t, page)

	if !strings.HasPrefix(page, "<!DOCTYPE html>") {
		t.Errorf("page does not start with a doctype: %.40q", page)
	}
	// Verdict, prominently and colour-coded.
	var verdict *html.Node
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "header" && hasClass(n, "verdict") {
			verdict = n
		}
	})
	if verdict == nil || !hasClass(verdict, "fail") {
		t.Fatalf("no header.verdict.fail in page")
	}
	if !strings.Contains(page, `<div class="word">FAIL</div>`) {
		t.Errorf("verdict word missing")
	}
	for _, want := range []string{"phases against baseline", "Generated 20", "outage", "latency-p99", "error-rate", "min-samples",
		"upgrade", "after", "node-a", "node-b", "refused", "connection refused", "Timeline", "node/node-a"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	var shown []string
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "ul" && hasClass(n, "reasons") {
			for li := n.FirstChild; li != nil; li = li.NextSibling {
				if li.Type == html.ElementNode {
					shown = append(shown, textOf(li))
				}
			}
		}
	})
	if strings.Join(shown, "\n") != strings.Join(r.Reasons, "\n") {
		t.Errorf("reasons shown %q, want %q", shown, r.Reasons)
	}

	// Three plots, each an inline SVG with drawn paths.
	plots := plotsOf(doc)
	for _, name := range []string{"latency", "percentiles", "errors"} {
		ps := plots[name]
		if len(ps) != 1 {
			t.Errorf("%d plots named %q, want 1", len(ps), name)
			continue
		}
		if n := countElements(ps[0], "svg"); n != 1 {
			t.Errorf("plot %q holds %d <svg>, want 1", name, n)
		}
		if n := countElements(ps[0], "path", "polyline"); n < 20 {
			t.Errorf("plot %q holds %d paths, want many", name, n)
		}
		if n := countElements(ps[0], "text"); n < 8 {
			t.Errorf("plot %q holds %d texts (axis labels, legend), want more", name, n)
		}
	}
	for _, legend := range []string{"p50 per second", "p99 per second", "baseline: baseline (n=", "candidate: upgrade (n=", "candidate: after (n=", "failed", "sent", "event (see timeline)"} {
		if !strings.Contains(page, legend) {
			t.Errorf("plot legend lacks %q", legend)
		}
	}

	checkSelfContained(t, doc)

	// Every string from the report is escaped.
	if strings.Contains(strings.ToLower(page), "<script") {
		t.Errorf("page holds a raw <script")
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;") {
		t.Errorf("error message with <script> not shown escaped")
	}
	if !strings.Contains(page, "draining node-a &lt;pods evicted&gt;") {
		t.Errorf("event message not shown escaped")
	}
	// The target URL appears, as text.
	if !strings.Contains(page, "http://canary.rehearse.test/ping") {
		t.Errorf("target URL missing from the targets table")
	}
}

// Numeric columns are right-aligned: every cell under a numeric header is.
func TestRenderHTMLNumericColumns(t *testing.T) {
	doc := parseHTML(t, renderHTML(t, rehearsalReport(t)))
	tables := 0
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode || n.Data != "table" {
			return
		}
		tables++
		var numeric []bool
		walk(n, func(c *html.Node) {
			if c.Type == html.ElementNode && c.Data == "th" && c.Parent.Parent.Data == "thead" {
				numeric = append(numeric, hasClass(c, "num"))
			}
		})
		walk(n, func(row *html.Node) {
			if row.Type != html.ElementNode || row.Data != "tr" || row.Parent.Data != "tbody" {
				return
			}
			i := 0
			for td := row.FirstChild; td != nil; td = td.NextSibling {
				if td.Type != html.ElementNode {
					continue
				}
				if i < len(numeric) && numeric[i] != hasClass(td, "num") {
					t.Errorf("column %d of a table: header numeric=%v, cell %q numeric=%v", i, numeric[i], textOf(td), !numeric[i])
				}
				i++
			}
		})
	})
	if tables < 8 {
		t.Errorf("%d tables, want at least 8", tables)
	}
}

func textOf(n *html.Node) string {
	var sb strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			sb.WriteString(c.Data)
		}
	})
	return sb.String()
}

// A comparison of two recordings draws each recording's time series in its
// own plots, and phase names shared by both runs stay apart.
func TestRenderHTMLTwoRuns(t *testing.T) {
	start := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	all := rehearsalResults(start)
	one := report.CollectorOptions{KeepWindows: true, PhaseOf: func(*vegeta.Result) string { return "all" }}
	base := collect(t, all[:1000], one)
	base.Source = "before.bin"
	cand := collect(t, all[1000:2000], one)
	cand.Source = "after.bin"
	r, err := report.Compare(base, cand, report.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	page := renderHTML(t, r)
	doc := parseHTML(t, page)
	plots := plotsOf(doc)
	if len(plots["latency"]) != 2 || len(plots["errors"]) != 2 || len(plots["percentiles"]) != 1 {
		t.Fatalf("plots: %d latency, %d errors, %d percentiles; want 2, 2, 1", len(plots["latency"]), len(plots["errors"]), len(plots["percentiles"]))
	}
	for i, p := range plots["latency"] {
		if run, _ := attr(p, "data-run"); run != string(rune('1'+i)) {
			t.Errorf("latency plot %d has data-run %q", i, run)
		}
		if countElements(p, "path") < 20 {
			t.Errorf("latency plot %d is empty", i)
		}
	}
	for _, want := range []string{"Run 1: before.bin", "Run 2: after.bin", "baseline: all (run 1)", "candidate: all (run 2)"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	checkSelfContained(t, doc)
}

// Degenerate inputs still give a page: a phase in which nothing succeeded
// (no latency sample), no windows kept, a single phase, an empty report.
func TestRenderHTMLDegenerate(t *testing.T) {
	start := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	var results []vegeta.Result
	for i := range 600 {
		r := vegeta.Result{Attack: loadgen.AttackName("baseline", loadgen.ProbeReuse), Timestamp: start.Add(time.Duration(i) * 20 * time.Millisecond),
			Latency: 5 * time.Millisecond, Code: 200, URL: "http://x.test/"}
		if i >= 300 {
			r.Attack = loadgen.AttackName("down", loadgen.ProbeReuse)
			r.Code, r.Error = 0, "dial tcp: connect: connection refused"
		}
		results = append(results, r)
	}
	t.Run("empty sample", func(t *testing.T) {
		m := collect(t, results, report.CollectorOptions{KeepWindows: true})
		r, err := report.JudgeRun(m, "baseline", report.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		page := renderHTML(t, r)
		doc := parseHTML(t, page)
		plots := plotsOf(doc)
		if len(plots["percentiles"]) != 1 || countElements(plots["percentiles"][0], "svg") != 1 {
			t.Fatalf("no distribution plot")
		}
		if !strings.Contains(page, "No latency sample for down") || !strings.Contains(page, "down: no sample") {
			t.Errorf("missing sample not explained")
		}
		if !strings.Contains(page, "Gaps are seconds in which no request succeeded") {
			t.Errorf("latency gap not explained")
		}
	})
	t.Run("no windows", func(t *testing.T) {
		m := collect(t, results, report.CollectorOptions{})
		r, err := report.JudgeRun(m, "baseline", report.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		page := renderHTML(t, r)
		if !strings.Contains(page, "No per-second windows were kept") {
			t.Errorf("missing windows not explained")
		}
		if got := len(plotsOf(parseHTML(t, page))); got != 4 {
			t.Errorf("%d kinds of plot, want the four plot containers (latency, failure rate, requests, percentiles) even without data", got)
		}
	})
	t.Run("only failures", func(t *testing.T) {
		m := collect(t, results[300:], report.CollectorOptions{KeepWindows: true})
		r, err := report.JudgeRun(m, "down", report.Rules{})
		if err != nil {
			t.Fatal(err)
		}
		page := renderHTML(t, r)
		if !strings.Contains(page, "No phase has a latency sample to draw") {
			t.Errorf("empty distribution not explained")
		}
		if !strings.Contains(page, `<div class="word">INCONCLUSIVE</div>`) {
			t.Errorf("single phase should be inconclusive")
		}
	})
	t.Run("empty report", func(t *testing.T) {
		page := renderHTML(t, &report.Report{})
		if !strings.Contains(page, "NO VERDICT") {
			t.Errorf("empty report: %s", page)
		}
		if err := report.RenderHTML(&bytes.Buffer{}, nil); err == nil {
			t.Errorf("nil report: no error")
		}
	})
}

func TestRenderHTMLRegistered(t *testing.T) {
	rnd, err := report.RendererFor("html")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rnd(&buf, rehearsalReport(t)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `data-plot="percentiles"`) {
		t.Errorf("html renderer does not draw plots")
	}
}

// Phase names reach the page both in tables and inside the SVG plots; both
// places escape them.
func TestRenderHTMLEscapesPhaseNames(t *testing.T) {
	start := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	all := rehearsalResults(start)
	for i := range all {
		if strings.HasPrefix(all[i].Attack, "upgrade/") {
			all[i].Attack = strings.Replace(all[i].Attack, "upgrade", `up<b>grade</b>&"`, 1)
		}
	}
	m := collect(t, all, report.CollectorOptions{KeepWindows: true})
	r, err := report.JudgeRun(m, "baseline", report.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	page := renderHTML(t, r)
	if strings.Contains(page, "<b>") {
		t.Errorf("phase name not escaped")
	}
	doc := parseHTML(t, page)
	plots := plotsOf(doc)
	for _, name := range []string{"latency", "errors", "percentiles"} {
		if len(plots[name]) != 1 || !strings.Contains(textOf(plots[name][0]), `up<b>grade</b>&"`) {
			t.Errorf("plot %q does not name the phase in its legend", name)
		}
	}
}
