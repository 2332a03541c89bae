package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Test-side view of a JUnit document, independent of the renderer's types.
type junitDoc struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Time     float64  `xml:"time,attr"`
	Suites   []struct {
		Name       string  `xml:"name,attr"`
		Tests      int     `xml:"tests,attr"`
		Failures   int     `xml:"failures,attr"`
		Errors     int     `xml:"errors,attr"`
		Skipped    int     `xml:"skipped,attr"`
		Time       float64 `xml:"time,attr"`
		Timestamp  string  `xml:"timestamp,attr"`
		Properties []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
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
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func junitParse(t *testing.T, out string) junitDoc {
	t.Helper()
	require.True(t, strings.HasPrefix(out, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"), out)
	// Every token must parse, strictly, to the end of the document.
	dec := xml.NewDecoder(strings.NewReader(out))
	dec.Strict = true
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	require.Equal(t, 0, depth)

	var doc junitDoc
	require.NoError(t, xml.Unmarshal([]byte(out), &doc))
	return doc
}

func (d junitDoc) property(t *testing.T, suite int, name string) string {
	t.Helper()
	for _, p := range d.Suites[suite].Properties {
		if p.Name == name {
			return p.Value
		}
	}
	t.Fatalf("suite %q has no property %q", d.Suites[suite].Name, name)
	return ""
}

func TestRenderJUnitRehearsal(t *testing.T) {
	r := renderRehearsal(t)
	out := renderString(t, RenderJUnit, r)
	doc := junitParse(t, out)

	require.Len(t, doc.Suites, len(r.Comparisons))
	assert.Equal(t, "rehearse: phases against baseline", doc.Name)
	var tests, failures, skipped int
	var total float64
	for i, c := range r.Comparisons {
		s := doc.Suites[i]
		assert.Equal(t, c.Candidate+" vs "+c.Baseline, s.Name)
		// The four rules, then a failed case per failed rule of a stream,
		// entry point or node.
		subjects := failedSubjectRules(c)
		require.Len(t, s.Cases, 4+len(subjects))
		assert.Equal(t, 4+len(subjects), s.Tests)
		wantFail, wantSkip := len(subjects), 0
		for j, row := range subjects {
			tc := s.Cases[4+j]
			assert.Equal(t, row[2]+" on "+row[0], tc.Name)
			require.NotNil(t, tc.Failure, tc.Name)
			assert.Contains(t, tc.Failure.Message, row[3])
		}
		for j, rr := range c.Rules {
			tc := s.Cases[j]
			assert.Equal(t, "rehearse."+c.Candidate, tc.ClassName)
			assert.Equal(t, rr.Rule, tc.Name)
			require.NotNil(t, tc.Time, "testcase time")
			switch rr.Outcome {
			case Fail:
				wantFail++
				require.NotNil(t, tc.Failure, rr.Rule)
				assert.Equal(t, "fail", tc.Failure.Type)
				assert.Equal(t, rr.Message, tc.Failure.Message)
				assert.Contains(t, tc.Failure.Text, "threshold "+txtRuleThreshold(rr.Rule, rr.Threshold, rr.Unit))
				assert.Nil(t, tc.Skipped)
				assert.Empty(t, tc.SystemOut)
			case Inconclusive:
				wantSkip++
				require.NotNil(t, tc.Skipped, rr.Rule)
				assert.Equal(t, rr.Message, tc.Skipped.Message)
			default:
				assert.Nil(t, tc.Failure, rr.Rule)
				assert.Nil(t, tc.Skipped, rr.Rule)
				assert.Contains(t, tc.SystemOut, rr.Message)
			}
		}
		assert.Equal(t, wantFail, s.Failures)
		assert.Equal(t, wantSkip, s.Skipped)
		assert.Equal(t, 0, s.Errors)
		cand := r.Runs[0].Phase(c.Candidate)
		assert.InDelta(t, cand.Seconds, s.Time, 0.001)
		assert.Equal(t, cand.Start.UTC().Format("2006-01-02T15:04:05"), s.Timestamp)
		assert.Equal(t, strconv.FormatInt(c.Stats.CandidateRequests, 10), doc.property(t, i, "candidateRequests"))
		assert.Equal(t, strconv.FormatInt(c.Stats.BaselineRequests, 10), doc.property(t, i, "baselineRequests"))
		assert.Equal(t, string(c.Outcome), doc.property(t, i, "outcome"))
		p99, err := strconv.ParseFloat(doc.property(t, i, "candidateP99Ms"), 64)
		require.NoError(t, err)
		assert.InEpsilon(t, c.Stats.CandidateP99Ms, p99, 1e-5)
		tests, failures, skipped, total = tests+s.Tests, failures+s.Failures, skipped+s.Skipped, total+s.Time
	}
	assert.Equal(t, tests, doc.Tests)
	assert.Equal(t, failures, doc.Failures)
	assert.Equal(t, skipped, doc.Skipped)
	assert.InDelta(t, total, doc.Time, 0.002)

	// The upgrade fails on the failure ratio and the outage, and so do six
	// of its streams', entry points' and nodes' rules; the phase after it
	// passes.
	assert.Equal(t, 2+6, doc.Suites[0].Failures)
	assert.Equal(t, 0, doc.Suites[1].Failures)
	assert.Equal(t, "upgrade vs baseline", doc.Suites[0].Name)
	up := r.Runs[0].Phase("upgrade")
	assert.Equal(t, fmt.Sprint(up.Outages.Count), doc.property(t, 0, "candidateOutages"))
	assert.Equal(t, "16", doc.property(t, 0, "candidateOutages"), "15 lone 503s and the refused connections")
	assert.Equal(t, 8+6, doc.Tests)
	assert.Equal(t, 2+6, doc.Failures)
}

func TestRenderJUnitInconclusive(t *testing.T) {
	r := renderSmall(t)
	require.Equal(t, Inconclusive, r.Verdict)
	doc := junitParse(t, renderString(t, RenderJUnit, r))
	require.Len(t, doc.Suites, 1)
	s := doc.Suites[0]
	assert.Equal(t, 4, s.Tests)
	assert.Equal(t, 0, s.Failures)
	assert.Equal(t, 3, s.Skipped, "min-samples, error-rate and latency lack data")
	assert.Contains(t, s.Cases[0].Skipped.Message, "too little data")
	assert.Equal(t, 3, doc.Skipped)
}

func TestRenderJUnitNothingCompared(t *testing.T) {
	m := renderMetrics(renderPhaseSpec{name: "baseline", seconds: 2, rate: 5, median: time.Millisecond})
	r, err := JudgeRun(m, "baseline", Rules{})
	require.NoError(t, err)
	doc := junitParse(t, renderString(t, RenderJUnit, r))
	require.Len(t, doc.Suites, 1)
	require.Len(t, doc.Suites[0].Cases, 1)
	assert.Equal(t, 1, doc.Tests)
	assert.Equal(t, 1, doc.Skipped)
	require.NotNil(t, doc.Suites[0].Cases[0].Skipped)
	assert.Contains(t, doc.Suites[0].Cases[0].Skipped.Message, "nothing to compare")

	doc = junitParse(t, renderString(t, RenderJUnit, &Report{}))
	assert.Equal(t, "rehearse", doc.Name)
	assert.Equal(t, 1, doc.Skipped)
}

func TestRenderJUnitTwoRecordings(t *testing.T) {
	// Both recordings hold one phase named alike; the suite's time is the
	// candidate's, the second recording's.
	a := renderMetrics(renderPhaseSpec{name: "all", seconds: 30, rate: 25, median: 8 * time.Millisecond})
	b := renderMetrics(renderPhaseSpec{name: "all", from: time.Hour, seconds: 20, rate: 25, median: 8 * time.Millisecond})
	r, err := Compare(a, b, Rules{})
	require.NoError(t, err)
	doc := junitParse(t, renderString(t, RenderJUnit, r))
	require.Len(t, doc.Suites, 1)
	assert.Equal(t, "all vs all", doc.Suites[0].Name)
	assert.InDelta(t, b.Phases[0].Seconds, doc.Suites[0].Time, 0.001)
	assert.Equal(t, "2026-03-01T11:00:00", doc.Suites[0].Timestamp)
	assert.Equal(t, fmt.Sprint(b.Phases[0].Requests), doc.property(t, 0, "candidateRequests"))
}

func TestRenderJUnitEscapes(t *testing.T) {
	r := renderSmall(t)
	r.Comparisons[0].Candidate = `up<grade> & "co"`
	r.Comparisons[0].Rules[3].Outcome = Fail
	r.Comparisons[0].Rules[3].Message = "bad \x00 byte <tag> & \"quote\"\nnext line \xff"
	var buf bytes.Buffer
	require.NoError(t, RenderJUnit(&buf, r))
	doc := junitParse(t, buf.String())
	s := doc.Suites[0]
	assert.Equal(t, `up<grade> & "co" vs baseline`, s.Name)
	assert.Equal(t, `rehearse.up<grade> & "co"`, s.Cases[3].ClassName)
	require.NotNil(t, s.Cases[3].Failure)
	assert.Equal(t, "bad \uFFFD byte <tag> & \"quote\"\nnext line \uFFFD", s.Cases[3].Failure.Message)
	assert.Equal(t, 1, s.Failures)
}
