package checklist

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleResult() Result {
	return Result{
		SchemaVersion: SchemaVersion, Checklist: "kind", ExpectVersion: "v1.36.3",
		Time: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC), Outcome: Fail,
		Items: []ItemResult{
			{Component: "coredns", Kind: "Deployment", Namespace: "kube-system", Outcome: Pass, Ready: "2/2", Version: "v1.13.1", Message: "coredns 2/2 ready, v1.13.1"},
			{Component: "kube-proxy", Kind: "DaemonSet", Namespace: "kube-system", Outcome: Fail, Ready: "3/3", Version: "v1.35.4", Restarts: 1,
				Message: "kube-proxy 3/3 ready; image tag v1.35.4, want v1.36.3"},
			{Component: "kindnet", Kind: "DaemonSet", Namespace: "kube-system", Outcome: Pass, Ready: "-", Message: "DaemonSet kube-system/kindnet not present (optional)"},
		},
	}
}

func TestRenderText(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, RenderText(&b, sampleResult()))
	assert.Equal(t, `CHECKLIST kind: FAIL  (3 items, 1 failed, expecting v1.36.3)
  COMPONENT   KIND        OUTCOME  READY  VERSION  RESTARTS  MESSAGE
  coredns     Deployment  pass     2/2    v1.13.1  0         coredns 2/2 ready, v1.13.1
  kube-proxy  DaemonSet   fail     3/3    v1.35.4  1         kube-proxy 3/3 ready; image tag v1.35.4, want v1.36.3
  kindnet     DaemonSet   pass     -      -        0         DaemonSet kube-system/kindnet not present (optional)
`, b.String())
}

func TestRenderJSON(t *testing.T) {
	var b bytes.Buffer
	in := sampleResult()
	require.NoError(t, RenderJSON(&b, in))
	var out Result
	require.NoError(t, json.Unmarshal(b.Bytes(), &out))
	assert.Equal(t, in, out)
	assert.Contains(t, b.String(), `"schemaVersion": 1`)
	assert.Contains(t, b.String(), `"ready": "3/3"`)
}

func TestRenderJUnit(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, RenderJUnit(&b, sampleResult()))
	var doc junitSuites
	require.NoError(t, xml.Unmarshal(b.Bytes(), &doc))
	assert.Equal(t, 3, doc.Tests)
	assert.Equal(t, 1, doc.Failures)
	require.Len(t, doc.Suites, 1)
	s := doc.Suites[0]
	assert.Equal(t, "checklist kind", s.Name)
	require.Len(t, s.Cases, 3)
	assert.Equal(t, "kube-proxy", s.Cases[1].Name)
	assert.Equal(t, "checklist.kind", s.Cases[1].ClassName)
	require.NotNil(t, s.Cases[1].Failure)
	assert.Equal(t, "kube-proxy 3/3 ready; image tag v1.35.4, want v1.36.3", s.Cases[1].Failure.Message)
	assert.Nil(t, s.Cases[0].Failure)
	assert.Contains(t, s.Cases[0].SystemOut, "pass: kind Deployment, ready 2/2")
}

func TestRendererFor(t *testing.T) {
	assert.Equal(t, []string{"json", "junit", "text"}, FormatNames())
	_, err := RendererFor("html")
	assert.EqualError(t, err, `unknown format "html"; known: json, junit, text`)
}
