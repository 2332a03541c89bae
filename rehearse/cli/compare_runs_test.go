package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse"
	"github.com/rehearse/rehearse/rehearse/timeline"
)

// writeRunFolder writes a rehearsal's run folder: the scenario as run,
// 1000 results per phase (failRate of them failing in the upgrade phase),
// and a timeline with one drain of worker2 on the cluster named cluster.
func writeRunFolder(t *testing.T, dir, cluster string, seed uint64, upgradeFailRate float64, drain time.Duration) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, rehearse.ScenarioFile), []byte("apiVersion: rehearse.dev/v1alpha1\nkind: Scenario\n"), 0o600))
	rec, err := loadgen.CreateRecorder(filepath.Join(dir, loadgen.ResultsFile))
	require.NoError(t, err)
	rng := mrand.New(mrand.NewPCG(seed, 3))
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seed) * time.Hour)
	ts := t0
	for _, phase := range []string{"baseline", "upgrade", "after"} {
		for i := range 1000 {
			r := vegeta.Result{
				Attack: loadgen.AttackName(phase, loadgen.Probes()[i%2]), Seq: uint64(i), Code: 200, Method: "GET",
				URL: "http://172.18.0.2:30080/", Timestamp: ts,
				Latency: time.Duration(float64(time.Millisecond) * math.Exp(rng.NormFloat64()*0.3)),
			}
			if phase == "upgrade" && rng.Float64() < upgradeFailRate {
				r.Code, r.Error = 503, "503 Service Unavailable"
			}
			rec.Add(&r)
			ts = ts.Add(10 * time.Millisecond)
		}
	}
	require.NoError(t, rec.Close())
	tl, err := timeline.Create(filepath.Join(dir, timeline.File))
	require.NoError(t, err)
	node := cluster + "-worker2"
	tl.Emit(timeline.Event{Time: t0.Add(12 * time.Second), Source: timeline.SourceDriver, Kind: "start", Subject: node, Message: "drain"})
	tl.Emit(timeline.Event{Time: t0.Add(12*time.Second + drain), Source: timeline.SourceDriver, Kind: "end", Subject: node, Outcome: "ok", Message: "drain"})
	require.NoError(t, tl.Close())
}

func runWithStdin(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	err := Run(context.Background(), Streams{In: bytes.NewReader(stdin), Out: &out, Err: &errb}, args)
	return result{code: exitCode(&errb, err), out: out.String(), err: errb.String()}
}

func TestCompareRunFoldersPhaseByPhase(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeRunFolder(t, a, "rh-own-app-111111-abcdef", 1, 0, 5*time.Second)
	writeRunFolder(t, b, "rh-own-app-222222-123456", 2, 0.05, 8*time.Second)
	ctx := context.Background()

	r := run(t, ctx, "compare", a, b)
	require.Equal(t, ExitFail, r.code, "stderr: %s\nstdout: %s", r.err, r.out)
	for _, want := range []string{
		"Comparison B:upgrade vs A:upgrade: FAIL",
		"Comparison B:after vs A:after: PASS",
		"Comparison B:baseline vs A:baseline: PASS",
		"drain (worker2)", "5.0s", "8.0s", "+3.0s",
	} {
		assert.Contains(t, r.out, want)
	}

	r = run(t, ctx, "compare", a, b, "--phase", "after")
	assert.Equal(t, ExitPass, r.code, "the failing upgrade is not judged: %s", r.out)
	assert.NotContains(t, r.out, "B:upgrade")

	r = run(t, ctx, "compare", a, b, "--phase", "upgrade", "-o", "json")
	require.Equal(t, ExitFail, r.code, r.err)
	var doc struct {
		Phases []string `json:"phases"`
		Report struct {
			Comparisons []struct {
				Baseline  string `json:"baseline"`
				Candidate string `json:"candidate"`
			} `json:"comparisons"`
		} `json:"report"`
		Steps []struct {
			Step string `json:"step"`
		} `json:"steps"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.out), &doc), r.out)
	assert.Equal(t, []string{"upgrade"}, doc.Phases)
	require.Len(t, doc.Report.Comparisons, 1)
	assert.Equal(t, "A:upgrade", doc.Report.Comparisons[0].Baseline)
	require.Len(t, doc.Steps, 1)
	assert.Equal(t, "drain (worker2)", doc.Steps[0].Step)

	for _, format := range []string{"markdown", "html", "junit"} {
		out := filepath.Join(dir, "cmp."+format)
		r = run(t, ctx, "compare", a, b, "-o", format, "--out", out)
		assert.Equal(t, ExitFail, r.code, "%s: %s", format, r.err)
		assert.FileExists(t, out)
	}

	// Bad input: an unknown phase, --phase with results files.
	r = run(t, ctx, "compare", a, b, "--phase", "rollback")
	assert.Equal(t, ExitBadInput, r.code)
	assert.Contains(t, r.err, `--phase: phase "rollback": no such phase in run `+a)
	plain := filepath.Join(dir, "plain.bin")
	writeResults(t, plain, 600)
	r = run(t, ctx, "compare", plain, b, "--phase", "upgrade")
	assert.Equal(t, ExitBadInput, r.code)
	assert.Contains(t, r.err, "--phase: picks a phase of two rehearsals' run folders; "+plain+" holds no scenario.yaml")

	// A run folder against a results file pools the folder, as before.
	r = run(t, ctx, "compare", plain, a, "-o", "json")
	assert.NotEqual(t, ExitBadInput, r.code, r.err)
	assert.Contains(t, r.out, `"candidateRequests": 3000`)
}

func TestCompareReadsStdin(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.bin")
	writeResults(t, base, 600)
	b, err := os.ReadFile(base)
	require.NoError(t, err)

	r := runWithStdin(t, b, "compare", base, "-", "-o", "json")
	require.Equal(t, ExitPass, r.code, r.err)
	assert.Contains(t, r.out, `"candidateRequests": 600`)
	assert.Contains(t, r.out, `"source": "stdin"`)

	r = runWithStdin(t, b, "compare", "-", base)
	assert.Equal(t, ExitPass, r.code, r.err)

	r = runWithStdin(t, nil, "compare", base, "-")
	assert.Equal(t, ExitBadInput, r.code)
	assert.Contains(t, r.err, "candidate: results stdin: file is empty")
	assert.NotContains(t, r.err, os.TempDir()+"/rehearse-stdin", "the spooled file is not named")

	r = runWithStdin(t, b, "compare", "-", "-")
	assert.Equal(t, ExitBadInput, r.code)
	assert.Contains(t, r.err, "only one of BASELINE and CANDIDATE can be -")
}

func TestReportExportVegeta(t *testing.T) {
	dir := t.TempDir()
	runDir := filepath.Join(dir, "run")
	writeRunFolder(t, runDir, "rh-x-1-a", 1, 0, time.Second)
	out := filepath.Join(dir, "plot")

	r := run(t, context.Background(), "report", runDir, "--export-vegeta", out)
	require.Equal(t, ExitPass, r.code, r.err)
	for _, phase := range []string{"baseline", "upgrade", "after"} {
		path := filepath.Join(out, phase+".bin")
		assert.Contains(t, r.out, phase+"\t1000 results\t"+path)
		var n int
		_, err := loadgen.ReadResults(path, func(res *vegeta.Result) error {
			n++
			require.Equal(t, phase, res.Attack)
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, 1000, n)
	}
	assert.Contains(t, r.err, "vegeta plot "+filepath.Join(out, "*.bin"))
	assert.NoFileExists(t, filepath.Join(runDir, "report.json"), "exporting judges nothing and writes nothing into the run folder")

	r = run(t, context.Background(), "report", runDir, "--export-vegeta", out)
	assert.Equal(t, ExitBadInput, r.code)
	assert.Contains(t, r.err, "--export-vegeta: export to "+out+": the folder is not empty")
	assert.Contains(t, r.err, "--force")

	r = run(t, context.Background(), "report", runDir, "--export-vegeta", out, "--force")
	assert.Equal(t, ExitPass, r.code, r.err)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"force alone", []string{"report", runDir, "--force"}, "--force: only with --export-vegeta"},
		{"judging flags", []string{"report", runDir, "--export-vegeta", filepath.Join(dir, "x"), "--alpha", "0.05"}, "--export-vegeta judges nothing; --alpha do not apply"},
		{"missing results", []string{"report", filepath.Join(dir, "nope"), "--export-vegeta", filepath.Join(dir, "y")}, "results " + filepath.Join(dir, "nope")},
		{"not results", []string{"report", filepath.Join(runDir, rehearse.ScenarioFile), "--export-vegeta", filepath.Join(dir, "z")}, "not a vegeta results file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, context.Background(), tc.args...)
			assert.Equal(t, ExitBadInput, r.code, r.err)
			assert.Contains(t, r.err, tc.want)
			assert.Equal(t, 1, strings.Count(r.err, "rehearse: "))
		})
	}
}
