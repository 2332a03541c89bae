package rehearse

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

func TestJudgeRules(t *testing.T) {
	zero, outage := 0.0, scenarios.D(0)
	tests := []struct {
		name  string
		judge scenarios.Judge
		want  func(r *report.Rules)
	}{
		{"defaults", scenarios.Judge{}, func(*report.Rules) {}},
		{"thresholds", scenarios.Judge{MinSamples: 500, MaxP99Ratio: 2, MinP99Increase: scenarios.D(250 * time.Millisecond), Alpha: 0.05},
			func(r *report.Rules) {
				r.MinSamples, r.MaxP99Ratio, r.MinP99Increase, r.Alpha = 500, 2, 250*time.Millisecond, 0.05
			}},
		{"zero tolerance", scenarios.Judge{MaxErrorRateIncrease: &zero, MaxOutage: &outage},
			func(r *report.Rules) {
				r.MaxErrorRateIncrease, r.ZeroErrorIncrease, r.MaxOutage, r.ZeroOutage = 0, true, 0, true
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := report.Rules{}.WithDefaults()
			tc.want(&want)
			assert.Equal(t, want, JudgeRules(tc.judge))
		})
	}
}

// TestScenarioLoader: the checks that need the report package are located
// at file, line and field like the scenario package's own.
func TestScenarioLoader(t *testing.T) {
	const doc = "apiVersion: rehearse.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: t\noutput:\n  formats: [json, pdf]\n"
	_, err := ScenarioLoader().Parse("t.yaml", []byte(doc))
	require.Error(t, err)
	assert.Equal(t, `t.yaml:6: output.formats[1]: unknown report format "pdf"; known: html, json, junit, markdown, text`, err.Error())

	path := filepath.Join(t.TempDir(), "s.yaml")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o644))
	_, err = ScenarioLoader().Load(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path+`:6: output.formats[1]: unknown report format "pdf"`)

	_, err = ScenarioLoader().Default("output.formats=[text, docx]")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `--set output.formats=[text, docx]: output.formats[1]: unknown report format "docx"`)

	sc, err := ScenarioLoader().Default()
	require.NoError(t, err)
	require.NoError(t, CheckScenario(sc))

	files, err := filepath.Glob(filepath.Join("..", "scenarios", "examples", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		_, err := ScenarioLoader().Load(f)
		assert.NoError(t, err, f)
	}
}

// TestCheckScenario: a scenario built or changed in code is checked too,
// named by its scenario and field.
func TestCheckScenario(t *testing.T) {
	sc, err := scenarios.Default()
	require.NoError(t, err)
	sc.Checks.Judge.Alpha = 2
	sc.Output.Formats = append(sc.Output.Formats, "pdf")
	err = CheckScenario(sc)
	require.Error(t, err)
	assert.Equal(t, "scenario kind-inplace-minor: checks.judge.alpha: 2 is not a significance level between 0 and 1 (exclusive; 0 takes the default 0.01)\n"+
		`scenario kind-inplace-minor: output.formats[4]: unknown report format "pdf"; known: html, json, junit, markdown, text`, err.Error())
}

// TestScenarioVocabulary: the scenario package names the load generator's
// probes, timeout and report formats without importing them; they agree.
func TestScenarioVocabulary(t *testing.T) {
	var probes []string
	for _, p := range loadgen.Probes() {
		probes = append(probes, string(p))
	}
	assert.Equal(t, probes, scenarios.Probes())
	assert.Equal(t, loadgen.DefaultTimeout, scenarios.DefaultLoadTimeout)
	for _, f := range scenarios.DefaultFormats() {
		_, err := report.RendererFor(f)
		assert.NoError(t, err, f)
	}
}
