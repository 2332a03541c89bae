package report

import (
	"math"
	"testing"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

func TestNodePrefixAndStepLabel(t *testing.T) {
	driver := func(subjects ...string) []Event {
		var out []Event
		for _, s := range subjects {
			out = append(out, Event{Source: "driver", Kind: "start", Subject: s, Message: "drain"})
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		events   []Event
		prefix   string
		step     string
		subject  string
		wantStep string
	}{
		{"kind nodes", driver("rh-7f3a-control-plane", "rh-7f3a-worker", "rh-7f3a-worker2"), "rh-7f3a-", "drain", "rh-7f3a-worker2", "drain worker2"},
		{"one node keeps its name", driver("rh-7f3a-worker"), "", "drain", "rh-7f3a-worker", "drain rh-7f3a-worker"},
		{"prefix cut at a separator", driver("nodeA", "nodeB"), "", "cordon", "nodeA", "cordon nodeA"},
		{"a node that is the prefix", driver("kind-", "kind-worker"), "", "cordon", "kind-worker", "cordon kind-worker"},
		{"other sources do not count", append(driver("a-x"), Event{Source: "checklist", Subject: "a-y"}), "", "drain", "a-x", "drain a-x"},
		{"name holding the node", driver("rh-1-worker", "rh-1-worker2"), "rh-1-", "load v1.36.3 into rh-1-worker2", "rh-1-worker2", "load v1.36.3 into worker2"},
		{"no subject", driver("rh-1-worker", "rh-1-worker2"), "rh-1-", "stage binaries", "", "stage binaries"},
		{"long label cut", nil, "", "wait for kube-system to settle and then some more", "", "wait for kube-system to settle and …"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := nodePrefix(tc.events)
			if got != tc.prefix {
				t.Errorf("nodePrefix = %q, want %q", got, tc.prefix)
			}
			b := &htmlBuilder{nodePrefix: got}
			if l := b.stepLabel(tc.step, tc.subject); l != tc.wantStep {
				t.Errorf("stepLabel(%q, %q) = %q, want %q", tc.step, tc.subject, l, tc.wantStep)
			}
		})
	}
}

// Steps share a lane only when neither the bar nor the label of one
// reaches the other's start.
func TestPlaceSteps(t *testing.T) {
	origin := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return origin.Add(time.Duration(s * float64(time.Second))) }
	const secPerPt = 0.1 // a 60-point label takes 6 s
	steps := []htmlStep{
		{label: "cordon worker", start: at(10), end: at(10.1)},
		{label: "drain worker", start: at(10.1), end: at(14)},
		{label: "upgrade kubelet worker", start: at(14), end: at(30)},
		{label: "uncordon worker", start: at(60), end: at(60.1)},
		{label: "still running", start: at(80)},
		{label: "before the recording", start: at(-30), end: at(-20)},
	}
	placed, lanes := placeSteps(steps, origin, 0, 100, secPerPt)
	if len(placed) != 5 {
		t.Fatalf("placed %d steps, want 5 (one ended before the recording): %+v", len(placed), placed)
	}
	if lanes != 3 {
		t.Errorf("%d lanes, want 3 (cordon, drain and the kubelet upgrade start within one label's width)", lanes)
	}
	if placed[3].lane != 0 {
		t.Errorf("uncordon in lane %d, want 0: the lane is free by then", placed[3].lane)
	}
	if placed[4].x1 != 100 {
		t.Errorf("a step that never ended reaches %g, want the end of the recording", placed[4].x1)
	}
	ts := stepTextStyle()
	for i, a := range placed {
		for _, b := range placed[i+1:] {
			if a.lane != b.lane {
				continue
			}
			aEnd := max(a.x1, a.x0+ts.Width(a.label).Points()*secPerPt)
			if b.x0 < aEnd {
				t.Errorf("%q (%g–%g s) and %q (from %g s) overlap in lane %d", a.label, a.x0, aEnd, b.label, b.x0, a.lane)
			}
		}
	}
}

// A few failures stand out on the failure-ratio plot: the shortest bar is
// a tenth of its height or more, beside an outage or alone.
func TestFailRatePlotShowsFewFailures(t *testing.T) {
	steady := func(seconds, n int64) map[int64]int64 {
		out := map[int64]int64{}
		for s := range seconds {
			out[s] = n
		}
		return out
	}
	origin := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		failures map[int64]int64 // second -> failures of its 50 requests
		log      bool
	}{
		// The phase's ratio (2 in 3,000) is drawn too, far below a second's.
		{"lone failures", map[int64]int64{10: 1, 40: 1}, true},
		{"steady failures", steady(60, 5), false},
		{"lone failure beside an outage", map[int64]int64{10: 1, 30: 50, 31: 50}, true},
		{"a thousand requests a second", map[int64]int64{10: 1, 30: 1000}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			per := int64(50)
			if tc.name == "a thousand requests a second" {
				per = 1000
			}
			m := &Metrics{Phases: []*Phase{{Name: "upgrade", Start: origin, End: origin.Add(60 * time.Second), Seconds: 60, Requests: 60 * per}}}
			for s := range int64(60) {
				f := tc.failures[s]
				m.Windows = append(m.Windows, Window{Start: origin.Add(time.Duration(s) * time.Second), Offset: s, Phase: "upgrade", Requests: per, Failures: f, P50Ms: 5, P99Ms: 9})
				m.Phases[0].Failures += f
			}
			b := newHTMLBuilder(&Report{Runs: []*Metrics{m}})
			pts := seriesPoints(m)
			sc := b.seriesScale([][]seriesPoint{pts})
			if sc.logFail != tc.log {
				t.Errorf("log scale %v, want %v", sc.logFail, tc.log)
			}
			_, sp := b.failRatePlot(0, m, pts, sc, timeAxis{xmax: 60})
			y := sp.p.Y
			bottom := 0.0
			if sc.logFail {
				bottom = y.Min
			}
			smallest := 100 / float64(per)
			if tc.name == "steady failures" {
				smallest = 10
			}
			if h := y.Norm(smallest) - y.Norm(bottom); h < 0.1 {
				t.Errorf("one failed request in a second (%.2g%%) is %.3g of the axis [%g, %g], want at least 0.1", smallest, h, y.Min, y.Max)
			}
			if _, err := sp.render(); err != "" {
				t.Errorf("plot not drawn: %s", err)
			}
		})
	}
}

// The p99 limit is what the latency rule needs a candidate's p99 to exceed:
// both the ratio and the increase.
func TestP99Limits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bases []float64
		rules Rules
		want  []float64
	}{
		{"increase dominates a fast baseline", []float64{4}, Rules{}, []float64{9}},
		{"ratio dominates a slow baseline", []float64{20}, Rules{}, []float64{30}},
		{"own rules", []float64{20}, Rules{MaxP99Ratio: 2, MinP99Increase: 50 * time.Millisecond}, []float64{70}},
		{"one line per limit", []float64{20, 20, 40}, Rules{}, []float64{30, 60}},
		{"no baseline latency", []float64{0}, Rules{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{Rules: tc.rules}
			for _, base := range tc.bases {
				r.Comparisons = append(r.Comparisons, Comparison{Stats: Stats{BaselineP99Ms: base}})
			}
			got := newHTMLBuilder(r).p99Limits()
			if len(got) != len(tc.want) {
				t.Fatalf("limits %+v, want %v", got, tc.want)
			}
			for i, w := range tc.want {
				if math.Abs(got[i].y-w) > 1e-9 || got[i].label != "p99 limit "+fmtMs(w)+" ms" {
					t.Errorf("limit %d: %g %q, want %g", i, got[i].y, got[i].label, w)
				}
			}
		})
	}
}

func TestPercentilePoints(t *testing.T) {
	for _, n := range []int{1, 7, 1000, 20000} {
		s := make([]float64, n)
		for i := range s {
			s[n-1-i] = float64(i+1) * 1e6 // ms 1..n, reversed
		}
		xys := percentilePoints(s)
		if len(xys) > htmlPercentilePoints+1 {
			t.Errorf("n=%d: %d points, want at most %d", n, len(xys), htmlPercentilePoints+1)
		}
		if first := xys[0]; first.X != 1 || first.Y != 1 {
			t.Errorf("n=%d: first point %+v, want the least latency at percentile 0 (x=1)", n, first)
		}
		if last := xys[len(xys)-1]; last.X != float64(n) || last.Y != float64(n) {
			t.Errorf("n=%d: last point %+v, want the most latency at x=%d", n, last, n)
		}
		for _, pt := range xys {
			// The value at q = i/n is the (i+1)-th smallest: x = 1/(1-q).
			i := pt.Y - 1
			if want := float64(n) / (float64(n) - i); math.Abs(pt.X-want) > 1e-9*want {
				t.Errorf("n=%d: %g ms at x=%g, want x=%g", n, pt.Y, pt.X, want)
			}
		}
	}
}

// A log axis leaves its data area as tall as a linear one: the room gonum
// reserves for the axis label is centred.
func TestLogAxisKeepsDataArea(t *testing.T) {
	height := func(log bool) vg.Length {
		p := newHTMLPlot()
		p.Y.Label.Text = "failed (% of requests, log)"
		p.Y.Min, p.Y.Max = 0.01, 130
		if log {
			useLog(&p.Y, 0.01, 130)
		}
		p.X.Min, p.X.Max = 0, 60
		c := p.DataCanvas(draw.New(vgsvg.New(900, 220)))
		return c.Max.Y - c.Min.Y
	}
	lin, log := height(false), height(true)
	if log < lin-vg.Points(2) {
		t.Errorf("log axis data area %.1f pt high, linear %.1f pt", log.Points(), lin.Points())
	}
	var _ plot.Normalizer = logScale{}
}
