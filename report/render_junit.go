package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// RenderJUnit writes the report as JUnit XML, for CI systems that show test
// results: one test suite per comparison, named "<candidate> vs <baseline>",
// with one test case per rule. A failed rule is a failure, an inconclusive
// one is skipped. The suite's properties carry the key statistics and its
// time is how long the candidate phase was observed.
func RenderJUnit(w io.Writer, r *Report) error {
	doc := junitTestSuites{Name: "rehearse"}
	if r.Title != "" {
		doc.Name += ": " + r.Title
	}
	if !r.Generated.IsZero() {
		doc.Timestamp = junitTimestamp(r.Generated)
	}
	var total float64
	for _, c := range r.Comparisons {
		s, secs := junitComparison(r, c)
		doc.Suites = append(doc.Suites, s)
		total += secs
	}
	if len(r.Comparisons) == 0 {
		// Nothing was compared: say so as a skipped test rather than an
		// empty document some consumers take for "no results".
		name := r.Title
		if name == "" {
			name = "rehearse"
		}
		msg := strings.Join(r.Reasons, "; ")
		if msg == "" {
			msg = "nothing to compare"
		}
		doc.Suites = append(doc.Suites, junitTestSuite{
			Name: name, Tests: 1, Skipped: 1, Time: junitSeconds(0), Timestamp: doc.Timestamp,
			Cases: []junitTestCase{{ClassName: "rehearse", Name: "verdict", Time: junitSeconds(0),
				Skipped: &junitResult{Message: msg}}},
		})
	}
	for _, s := range doc.Suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Skipped += s.Skipped
	}
	doc.Time = junitSeconds(total)

	sw := &txtWriter{w: w}
	io.WriteString(sw, xml.Header)
	enc := xml.NewEncoder(sw)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	io.WriteString(sw, "\n")
	return sw.err
}

// junitComparison builds the suite of one comparison and returns it with the
// candidate phase's duration.
func junitComparison(r *Report, c Comparison) (junitTestSuite, float64) {
	cand := junitPhase(r, c.Candidate, true)
	var secs float64
	ts := junitTimestamp(r.Generated)
	if cand != nil {
		secs = cand.Seconds
		if !cand.Start.IsZero() {
			ts = junitTimestamp(cand.Start)
		}
	}
	s := junitTestSuite{
		Name:       fmt.Sprintf("%s vs %s", c.Candidate, c.Baseline),
		Time:       junitSeconds(secs),
		Timestamp:  ts,
		Properties: junitProperties(c, cand),
	}
	for _, rr := range c.Rules {
		tc := junitTestCase{
			ClassName: "rehearse." + c.Candidate,
			Name:      rr.Rule,
			Time:      junitSeconds(0),
			SystemOut: fmt.Sprintf("%s: value %s, threshold %s: %s", rr.Outcome,
				txtRuleValue(rr.Rule, rr.Value, rr.Unit), txtRuleThreshold(rr.Rule, rr.Threshold, rr.Unit), rr.Message),
		}
		switch rr.Outcome {
		case Fail:
			s.Failures++
			tc.Failure = &junitResult{Message: rr.Message, Type: string(Fail), Text: tc.SystemOut}
			tc.SystemOut = ""
		case Inconclusive:
			s.Skipped++
			tc.Skipped = &junitResult{Message: rr.Message}
		}
		s.Tests++
		s.Cases = append(s.Cases, tc)
	}
	return s, secs
}

// junitProperties are the key statistics of a comparison.
func junitProperties(c Comparison, cand *Phase) []junitProperty {
	st, e := c.Stats, c.Stats.ErrorRate
	ps := []junitProperty{
		{"outcome", string(c.Outcome)},
		{"baseline", c.Baseline},
		{"candidate", c.Candidate},
		{"baselineRequests", strconv.FormatInt(st.BaselineRequests, 10)},
		{"candidateRequests", strconv.FormatInt(st.CandidateRequests, 10)},
		{"baselineFailureRatio", junitFloat(e.BaseRate)},
		{"candidateFailureRatio", junitFloat(e.CandRate)},
		{"failureRatioChange", junitFloat(e.Diff)},
		{"failureRatioChangeLo", junitFloat(e.DiffLo)},
		{"failureRatioChangeHi", junitFloat(e.DiffHi)},
		{"failureRatioP", junitFloat(e.PValue)},
		{"baselineP99Ms", junitFloat(st.BaselineP99Ms)},
		{"candidateP99Ms", junitFloat(st.CandidateP99Ms)},
		{"p99Ratio", junitFloat(st.P99Ratio)},
		{"p99RatioLo", junitFloat(st.P99RatioLo)},
		{"p99RatioHi", junitFloat(st.P99RatioHi)},
		{"shiftMs", junitFloat(st.ShiftMs)},
		{"mannWhitneyP", junitFloat(st.MannWhitneyP)},
		{"ksD", junitFloat(st.KSD)},
		{"ksP", junitFloat(st.KSP)},
		{"confidence", junitFloat(st.Confidence)},
	}
	if cand != nil {
		ps = append(ps,
			junitProperty{"candidateOutages", strconv.FormatInt(cand.Outages.Count, 10)},
			junitProperty{"candidateLongestOutageSeconds", junitFloat(cand.Outages.LongestSeconds)},
		)
	}
	return ps
}

// reportPhase finds a phase by name. A comparison of two recordings may
// name both sides alike; the baseline is then the first such phase and the
// candidate the last.
func junitPhase(r *Report, name string, last bool) *Phase {
	var found *Phase
	for _, p := range r.Phases() {
		if p.Name == name {
			if !last {
				return p
			}
			found = p
		}
	}
	return found
}

func junitSeconds(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }

func junitFloat(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// junitTimestamp is ISO 8601 without a zone, in UTC, as the JUnit schema has it.
func junitTimestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05")
}

type junitTestSuites struct {
	XMLName   xml.Name         `xml:"testsuites"`
	Name      string           `xml:"name,attr"`
	Tests     int              `xml:"tests,attr"`
	Failures  int              `xml:"failures,attr"`
	Errors    int              `xml:"errors,attr"`
	Skipped   int              `xml:"skipped,attr"`
	Time      string           `xml:"time,attr"`
	Timestamp string           `xml:"timestamp,attr,omitempty"`
	Suites    []junitTestSuite `xml:"testsuite"`
}

type junitTestSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitTestCase `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitTestCase struct {
	ClassName string       `xml:"classname,attr"`
	Name      string       `xml:"name,attr"`
	Time      string       `xml:"time,attr"`
	Failure   *junitResult `xml:"failure,omitempty"`
	Skipped   *junitResult `xml:"skipped,omitempty"`
	SystemOut string       `xml:"system-out,omitempty"`
}

type junitResult struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}
