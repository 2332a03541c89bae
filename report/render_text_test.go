package report

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
)

// The -update flag rewrites the golden files under testdata. It is
// registered only if no other test file of the package registered it.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata")
	}
}

func renderUpdate() bool {
	f := flag.Lookup("update")
	if f == nil {
		return false
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	b, _ := g.Get().(bool)
	return b
}

// renderGolden compares got with testdata/render/name, or rewrites the file
// under -update.
func renderGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "render", name)
	if renderUpdate() {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file missing: run go test ./report/ -run Render -update")
	assert.Equal(t, string(want), string(got), "output differs from %s; rerun with -update if the change is intended", path)
}

var (
	renderStart     = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	renderGenerated = time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)
)

const renderRefused = `Get "http://canary.example/a": dial tcp 10.96.0.10:80: connect: connection refused`

// renderPhaseSpec describes one synthetic phase of a rehearsal.
type renderPhaseSpec struct {
	name      string
	from      time.Duration // offset of the phase from renderStart
	seconds   int
	rate      int           // requests per second per probe
	median    time.Duration // latency median
	fail503   int           // every n-th reuse request answers 503 (0: none)
	outageAt  time.Duration // fresh connections refused from here (offset in phase)
	outageFor time.Duration
	drainB    time.Duration // node-b serves nothing until this offset in phase
	timeouts  int           // this many reuse requests time out, spread over the phase
	single    bool          // one target and one node only
}

// renderFeed feeds a phase's results to c, as the load generator would:
// both probes interleaved, two targets, the serving node in X-Canary-Node.
func renderFeed(c *Collector, s renderPhaseSpec, rng *rand.Rand) {
	interval := time.Second / time.Duration(s.rate)
	n := s.seconds * s.rate
	for i := range n {
		for _, probe := range loadgen.Probes() {
			off := time.Duration(i) * interval
			if probe == loadgen.ProbeFresh {
				off += interval / 2
			}
			node := "node-a"
			if i%2 == 1 && off >= s.drainB && !s.single {
				node = "node-b"
			}
			target := "http://canary.example/a"
			if i%3 == 2 && !s.single {
				target = "http://canary.example/b"
			}
			lat := time.Duration(float64(s.median) * math.Exp(rng.NormFloat64()*0.25))
			r := vegeta.Result{
				Attack:    loadgen.AttackName(s.name, probe),
				Seq:       uint64(i),
				Timestamp: renderStart.Add(s.from + off),
				Latency:   lat,
				Code:      200,
				URL:       target,
				Method:    "GET",
				Headers:   map[string][]string{"X-Canary-Node": {node}},
			}
			switch {
			case probe == loadgen.ProbeFresh && s.outageFor > 0 && off >= s.outageAt && off < s.outageAt+s.outageFor:
				r.Code, r.Error, r.Latency, r.Headers = 0, renderRefused, 300*time.Microsecond, nil
			case probe == loadgen.ProbeReuse && s.fail503 > 0 && i%s.fail503 == s.fail503/2:
				r.Code, r.Error = 503, "503 Service Unavailable"
			case probe == loadgen.ProbeReuse && s.timeouts > 0 && i%(n/s.timeouts) == n/s.timeouts/3:
				r.Code, r.Error, r.Latency, r.Headers = 0, "Get \"http://canary.example/a\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)", 10*time.Second, nil
			}
			c.Add(&r)
		}
	}
}

// renderMetrics records phases through a Collector.
func renderMetrics(specs ...renderPhaseSpec) *Metrics {
	c := NewCollector(CollectorOptions{KeepWindows: true})
	rng := rand.New(rand.NewPCG(7, 11))
	for _, s := range specs {
		renderFeed(c, s, rng)
	}
	return c.Close()
}

// renderRehearsal is a rehearsal with three phases: a clean baseline, an
// upgrade with 503s and a refused-connection outage, and a clean phase
// after it. The upgrade fails; the phase after passes.
func renderRehearsal(t *testing.T) *Report {
	t.Helper()
	m := renderMetrics(
		renderPhaseSpec{name: "baseline", seconds: 30, rate: 25, median: 8 * time.Millisecond, fail503: 500},
		renderPhaseSpec{name: "upgrade", from: 30 * time.Second, seconds: 30, rate: 25, median: 9 * time.Millisecond,
			fail503: 50, outageAt: 10 * time.Second, outageFor: 2500 * time.Millisecond, drainB: 15 * time.Second},
		renderPhaseSpec{name: "after", from: 60 * time.Second, seconds: 30, rate: 25, median: 8 * time.Millisecond, timeouts: 2},
	)
	m.Source = "runs/rehearsal-1"
	r, err := JudgeRun(m, "baseline", Rules{})
	require.NoError(t, err)
	r.Generated = renderGenerated
	return r
}

// renderWithLoad adds what reading a run folder adds: the load generator's
// accounting and a results file cut short.
func renderWithLoad(r *Report) *Report {
	m := r.Runs[0]
	m.Read = &loadgen.ReadInfo{Path: "runs/rehearsal-1/results.bin", Format: "gob", Records: 4500, Bytes: 612345, Dropped: 37, TailErr: "unexpected EOF"}
	m.Accounting = &loadgen.Accounting{
		Started: renderStart, Ended: renderStart.Add(90 * time.Second), Seconds: 90,
		TargetRate: 50, AchievedRate: 49.97, Scheduled: 4500, Sent: 4497, Missed: 3, Late: 12, LateToleranceMs: 10, MaxLagMs: 23.4,
		Probes: []loadgen.ProbeAccounting{
			{Probe: loadgen.ProbeReuse, TargetRate: 25, AchievedRate: 25, Scheduled: 2250, Sent: 2250, Late: 4, MaxLagMs: 11.2},
			{Probe: loadgen.ProbeFresh, TargetRate: 25, AchievedRate: 24.97, Scheduled: 2250, Sent: 2247, Missed: 3, Late: 8, MaxLagMs: 23.4},
		},
	}
	return r
}

// renderSmall is a rehearsal with too little data to judge.
func renderSmall(t *testing.T) *Report {
	t.Helper()
	m := renderMetrics(
		renderPhaseSpec{name: "baseline", seconds: 4, rate: 10, median: 5 * time.Millisecond, single: true},
		renderPhaseSpec{name: "upgrade", from: 4 * time.Second, seconds: 4, rate: 10, median: 5 * time.Millisecond, single: true},
	)
	r, err := JudgeRun(m, "baseline", Rules{})
	require.NoError(t, err)
	r.Generated = renderGenerated
	return r
}

func renderString(t *testing.T, render Renderer, r *Report) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, render(&buf, r))
	return buf.String()
}

func TestRenderTextGolden(t *testing.T) {
	r := renderWithLoad(renderRehearsal(t))
	require.Equal(t, Fail, r.Verdict)
	out := renderString(t, RenderText, r)
	renderGolden(t, "rehearsal.txt", []byte(out))
	// The same report renders the same way every time.
	assert.Equal(t, out, renderString(t, RenderText, r))
}

func TestRenderTextContent(t *testing.T) {
	r := renderRehearsal(t)
	out := renderString(t, RenderText, r)
	lines := strings.Split(out, "\n")
	assert.Equal(t, "VERDICT: FAIL  phases against baseline", lines[0])
	assert.NotContains(t, out, "\x1b[", "no colour codes")
	assert.NotContains(t, out, "\t", "tables are padded with spaces")

	for _, reason := range r.Reasons {
		assert.Contains(t, out, "  - "+reason)
	}
	assert.Contains(t, out, "Comparison upgrade vs baseline: FAIL")
	assert.Contains(t, out, "Comparison after vs baseline: PASS")
	for _, rule := range []string{RuleMinSamples, RuleErrorRate, RuleLatency, RuleOutage} {
		assert.Equal(t, 2, strings.Count(out, "\n  "+rule+" "), "rule %s once per comparison", rule)
	}

	up := r.Runs[0].Phase("upgrade")
	require.NotNil(t, up)
	row := textRow(t, out, "upgrade ")
	assert.Equal(t, fmt.Sprint(up.Requests), row[1])
	assert.Equal(t, txtNum(up.Rate), row[2])
	assert.Equal(t, fmt.Sprint(up.Failures), row[4])
	assert.Equal(t, fmt.Sprintf("refused=%d", up.Classes[ClassRefused]), row[5])
	assert.Equal(t, fmt.Sprintf("5xx=%d", up.Classes[Class5xx]), row[6])
	assert.Equal(t, txtNum(up.Latency.P50Ms), row[7])
	assert.Equal(t, txtNum(up.Latency.MaxMs), row[11])
	assert.Equal(t, txtNum(up.Outages.LongestSeconds), row[13])
	assert.InDelta(t, 2.5, up.Outages.LongestSeconds, 0.05)
	after := textRow(t, out, "after ")
	assert.Equal(t, "timeout=2", after[5])

	// Probe rows follow their phase; targets and nodes are listed since
	// each phase saw two.
	assert.Contains(t, out, "\n    fresh ")
	assert.Contains(t, out, "\n    reuse ")
	assert.Contains(t, out, "  PHASE     TARGET")
	assert.Contains(t, out, "http://canary.example/b")
	assert.Contains(t, out, "  PHASE     NODE")
	assert.Regexp(t, `\n  upgrade\s+node-b\s+\d+`, out)

	// Without accounting or a cut file there is no load table or warning.
	assert.NotContains(t, out, "WARNING")
	assert.NotContains(t, out, "LOAD")
}

// textRow returns the whitespace-separated fields of the first line that
// starts with two spaces and prefix.
func textRow(t *testing.T, out, prefix string) []string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  "+prefix) {
			return strings.Fields(l)
		}
	}
	t.Fatalf("no line starting with %q in:\n%s", prefix, out)
	return nil
}

func TestRenderTextLoadAndTruncation(t *testing.T) {
	r := renderWithLoad(renderRehearsal(t))
	out := renderString(t, RenderText, r)
	assert.Contains(t, out, "  WARNING: results file runs/rehearsal-1/results.bin was cut short: 37 trailing bytes")
	assert.Contains(t, out, "unexpected EOF")
	assert.Regexp(t, `\n  total\s+50\.0\s+50\.0\s+4500\s+4497\s+3\s+12\s+23\.4\n`, out)
	assert.Regexp(t, `\n  fresh\s+25\.0\s+25\.0\s+2250\s+2247\s+3\s+8\s+23\.4\n`, out)
	assert.Contains(t, out, "late: sent more than 10 ms behind schedule")
}

func TestRenderTextInconclusiveAndEmpty(t *testing.T) {
	out := renderString(t, RenderText, renderSmall(t))
	assert.True(t, strings.HasPrefix(out, "VERDICT: INCONCLUSIVE  phases against baseline\n"), out)
	assert.Contains(t, out, "too little data")
	// One node and one target per phase: no count tables.
	assert.NotContains(t, out, "NODE")
	assert.NotContains(t, out, "TARGET")

	m := renderMetrics(renderPhaseSpec{name: "baseline", seconds: 2, rate: 5, median: time.Millisecond})
	r, err := JudgeRun(m, "baseline", Rules{})
	require.NoError(t, err)
	out = renderString(t, RenderText, r)
	assert.True(t, strings.HasPrefix(out, "VERDICT: INCONCLUSIVE"), out)
	assert.Contains(t, out, "nothing to compare")
	assert.NotContains(t, out, "Comparison")

	out = renderString(t, RenderText, &Report{})
	assert.True(t, strings.HasPrefix(out, "VERDICT: UNKNOWN"), out)
}

func TestRenderTextSanitisesCells(t *testing.T) {
	r := renderSmall(t)
	r.Comparisons[0].Rules[0].Message = "line one\nline\ttwo"
	out := renderString(t, RenderText, r)
	assert.Contains(t, out, "line one line two")
	assert.NotContains(t, out, "\t")
}

func TestRenderNumberFormats(t *testing.T) {
	assert.Equal(t, "0", txtNum(0))
	assert.Equal(t, "0.0012", txtNum(0.00123))
	assert.Equal(t, "8.25", txtNum(8.2512))
	assert.Equal(t, "12.3", txtNum(12.34))
	assert.Equal(t, "1234", txtNum(1234.4))
	assert.Equal(t, "-", txtNum(math.NaN()))
	assert.Equal(t, "100.00%", txtPercent(1, 0))
	assert.Equal(t, "99.99%", txtPercent(0.99999, 1))
	assert.Equal(t, "99.86%", txtPercent(0.99867, 2))
	assert.Equal(t, "+4.67 pts", txtRuleValue(RuleErrorRate, 0.0467, "ratio"))
	assert.Equal(t, "0.1 pts", txtRuleThreshold(RuleErrorRate, 0.001, "ratio"))
	assert.Equal(t, "1.5x", txtRuleThreshold(RuleLatency, 1.5, "ratio"))
	assert.Equal(t, "2.5 s", txtRuleValue(RuleOutage, 2.5, "seconds"))
	assert.Equal(t, "1500 requests", txtRuleValue(RuleMinSamples, 1500, "requests"))
	assert.Equal(t, "3 widgets", txtRuleValue("other", 3, "widgets"))
	assert.Equal(t, "refused=3 5xx=2 weird=1", txtClasses(map[string]int64{Class5xx: 2, "weird": 1, ClassRefused: 3, ClassReset: 0}))
	assert.Equal(t, "-", txtClasses(nil))
}

// failWriter fails every write after the first n bytes.
type renderFailWriter struct{ n int }

func (f *renderFailWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, errors.New("disk full")
	}
	f.n -= len(p)
	return len(p), nil
}

func TestRenderWriteErrors(t *testing.T) {
	r := renderWithLoad(renderRehearsal(t))
	for name, render := range map[string]Renderer{"text": RenderText, "markdown": RenderMarkdown, "junit": RenderJUnit} {
		for _, n := range []int{0, 100, 5000} {
			err := render(&renderFailWriter{n: n}, r)
			assert.EqualError(t, err, "disk full", "%s after %d bytes", name, n)
		}
	}
}

func TestRenderFormatsRegistered(t *testing.T) {
	r := renderSmall(t)
	for _, name := range []string{"text", "markdown", "junit"} {
		render, err := RendererFor(name)
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, render(&buf, r), name)
		assert.NotEmpty(t, buf.String(), name)
	}
}
