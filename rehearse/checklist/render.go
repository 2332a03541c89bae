package checklist

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Renderer writes a result in one format.
type Renderer func(io.Writer, Result) error

// Formats returns the renderers by format name.
func Formats() map[string]Renderer {
	return map[string]Renderer{
		"json":  RenderJSON,
		"junit": RenderJUnit,
		"text":  RenderText,
	}
}

// FormatNames returns the sorted format names, for help and errors.
func FormatNames() []string { return sortedKeys(Formats()) }

// RendererFor returns the named renderer or an error listing the known ones.
func RendererFor(name string) (Renderer, error) {
	if r, ok := Formats()[name]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("unknown format %q; known: %s", name, strings.Join(FormatNames(), ", "))
}

// RenderText writes the outcome and a table of every item in the order
// checked: the listed components, the nodes, then the pod sweeps.
func RenderText(w io.Writer, r Result) error {
	ew := &errWriter{w: w}
	head := fmt.Sprintf("CHECKLIST %s: %s", r.Checklist, strings.ToUpper(string(r.Outcome)))
	failed := len(r.Failed())
	head += fmt.Sprintf("  (%d items, %d failed", len(r.Items), failed)
	if r.ExpectVersion != "" {
		head += ", expecting " + r.ExpectVersion
	}
	head += ")"
	fmt.Fprintln(ew, head)
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  COMPONENT\tKIND\tOUTCOME\tREADY\tVERSION\tRESTARTS\tMESSAGE\n")
	for _, it := range r.Items {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%d\t%s\n", cell(it.Component), cell(it.Kind), it.Outcome,
			cell(it.Ready), cell(orDash(it.Version)), it.Restarts, cell(it.Message))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return ew.err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cell keeps a table cell on one line.
func cell(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return ' '
		}
		return r
	}, s)
}

// RenderJSON writes the result as indented JSON.
func RenderJSON(w io.Writer, r Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// RenderJUnit writes the result as JUnit XML: one test suite for the list,
// one test case per item; a failed item is a failure.
func RenderJUnit(w io.Writer, r Result) error {
	suite := junitSuite{Name: "checklist " + r.Checklist, Time: "0.000", Timestamp: junitTimestamp(r.Time)}
	suite.Properties = []junitProperty{{"checklist", r.Checklist}, {"outcome", string(r.Outcome)}}
	if r.ExpectVersion != "" {
		suite.Properties = append(suite.Properties, junitProperty{"expectVersion", r.ExpectVersion})
	}
	for _, it := range r.Items {
		tc := junitCase{
			ClassName: "checklist." + r.Checklist,
			Name:      it.Component,
			Time:      "0.000",
		}
		out := fmt.Sprintf("%s: kind %s, ready %s, version %s, restarts %d: %s",
			it.Outcome, it.Kind, it.Ready, orDash(it.Version), it.Restarts, it.Message)
		if it.Outcome == Fail {
			suite.Failures++
			tc.Failure = &junitFailure{Message: it.Message, Type: string(Fail), Text: out}
		} else {
			tc.SystemOut = out
		}
		suite.Tests++
		suite.Cases = append(suite.Cases, tc)
	}
	doc := junitSuites{Name: "rehearse check", Tests: suite.Tests, Failures: suite.Failures,
		Time: suite.Time, Timestamp: suite.Timestamp, Suites: []junitSuite{suite}}
	ew := &errWriter{w: w}
	io.WriteString(ew, xml.Header)
	enc := xml.NewEncoder(ew)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	io.WriteString(ew, "\n")
	return ew.err
}

// junitTimestamp is ISO 8601 without a zone, in UTC, as the JUnit schema has it.
func junitTimestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05")
}

type junitSuites struct {
	XMLName   xml.Name     `xml:"testsuites"`
	Name      string       `xml:"name,attr"`
	Tests     int          `xml:"tests,attr"`
	Failures  int          `xml:"failures,attr"`
	Errors    int          `xml:"errors,attr"`
	Time      string       `xml:"time,attr"`
	Timestamp string       `xml:"timestamp,attr,omitempty"`
	Suites    []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	ClassName string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// errWriter keeps the first write error and drops later writes.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
