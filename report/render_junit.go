package report

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// RenderJUnit writes the report as JUnit XML, for CI systems that show test
// results: a suite "checks" with one test case per check (the upgrade, the
// checklist, …) and one per item of a check (classname the check's name),
// then one test suite per comparison, named "<candidate> vs <baseline>",
// with one test case per rule. Whatever failed is a failure and whatever
// was inconclusive is skipped, with its reason, so the counts agree with
// the verdict. A comparison suite's properties carry the key statistics and
// its time is how long the candidate phase was observed.
func RenderJUnit(w io.Writer, r *Report) error {
	doc := junitTestSuites{Name: "rehearse"}
	if r.Title != "" {
		doc.Name += ": " + r.Title
	}
	if !r.Generated.IsZero() {
		doc.Timestamp = junitTimestamp(r.Generated)
	}
	if len(r.Checks) > 0 {
		doc.Suites = append(doc.Suites, junitChecks(r.Checks, doc.Timestamp))
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
		Properties: &junitProperties{List: junitStatistics(c, cand)},
	}
	for _, rr := range c.Rules {
		s.add(junitCase("rehearse."+c.Candidate, rr.Rule, rr.Outcome, rr.Message,
			fmt.Sprintf("%s: value %s, threshold %s: %s", rr.Outcome,
				txtRuleValue(rr.Rule, rr.Value, rr.Unit), txtRuleThreshold(rr.Rule, rr.Threshold, rr.Unit), rr.Message)))
	}
	// A stream, entry point or node that failed a rule is a failed case of
	// its own, so the suite fails with the comparison.
	for _, row := range failedSubjectRules(c) {
		msg := row[3] + " (against the " + row[1] + ")"
		s.add(junitCase("rehearse."+c.Candidate, row[2]+" on "+row[0], Fail, msg, "fail: "+msg))
	}
	return s, secs
}

// junitChecks is the suite of the checks: one case per check, counted with
// its items (Check.Overall), and one per item.
func junitChecks(checks []Check, ts string) junitTestSuite {
	s := junitTestSuite{Name: "checks", Time: junitSeconds(0), Timestamp: ts}
	for _, c := range checks {
		res, msg := c.Overall(), c.explain()
		s.add(junitCase("rehearse.checks", c.Name, res, msg, fmt.Sprintf("%s: %s", res, msg)))
		for _, it := range c.Items {
			what := itemExpectedSeen(it)
			out := what
			if it.Message != "" {
				out = strings.TrimPrefix(what+": "+it.Message, ": ")
			}
			s.add(junitCase(c.Name, it.Component, it.Outcome, cmp.Or(it.Message, what, string(it.Outcome)),
				fmt.Sprintf("%s: %s", it.Outcome, out)))
		}
	}
	return s
}

// junitCase is one test case: a failure when the outcome is fail, skipped
// with the message as its reason when inconclusive, else passed with out
// as its output.
func junitCase(class, name string, o Outcome, msg, out string) junitTestCase {
	tc := junitTestCase{ClassName: class, Name: name, Time: junitSeconds(0), SystemOut: out}
	switch o {
	case Fail:
		tc.Failure = &junitResult{Message: msg, Type: string(Fail), Text: out}
		tc.SystemOut = ""
	case Inconclusive:
		tc.Skipped = &junitResult{Message: msg}
	}
	return tc
}

// add appends a case and counts it.
func (s *junitTestSuite) add(tc junitTestCase) {
	s.Tests++
	switch {
	case tc.Failure != nil:
		s.Failures++
	case tc.Skipped != nil:
		s.Skipped++
	}
	s.Cases = append(s.Cases, tc)
}

// junitStatistics are the key statistics of a comparison.
func junitStatistics(c Comparison, cand *Phase) []junitProperty {
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
	Name       string           `xml:"name,attr"`
	Tests      int              `xml:"tests,attr"`
	Failures   int              `xml:"failures,attr"`
	Errors     int              `xml:"errors,attr"`
	Skipped    int              `xml:"skipped,attr"`
	Time       string           `xml:"time,attr"`
	Timestamp  string           `xml:"timestamp,attr,omitempty"`
	Properties *junitProperties `xml:"properties,omitempty"`
	Cases      []junitTestCase  `xml:"testcase"`
}

// junitProperties is left out when a suite has none: the JUnit schema
// wants at least one property in a properties element.
type junitProperties struct {
	List []junitProperty `xml:"property"`
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

// itemExpectedSeen is "expected X, seen Y", leaving out what is not known.
func itemExpectedSeen(it CheckItem) string {
	var parts []string
	if it.Expected != "" {
		parts = append(parts, "expected "+it.Expected)
	}
	if it.Seen != "" {
		parts = append(parts, "seen "+it.Seen)
	}
	return strings.Join(parts, ", ")
}
