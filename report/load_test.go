package report

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
)

// writeRun records n results as a rehearsal does, half in a baseline phase
// and half in a phase after it, alike, into a run folder's results file,
// and returns the folder and the file's bytes.
func writeRun(t *testing.T, n int) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, loadgen.ResultsFile)
	rec, err := loadgen.CreateRecorder(path)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(3, 5))
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := range n {
		phase := "baseline"
		if i >= n/2 {
			phase = "after"
		}
		probe := loadgen.ProbeReuse
		if i%2 == 1 {
			probe = loadgen.ProbeFresh
		}
		rec.Add(&vegeta.Result{
			Attack: loadgen.AttackName(phase, probe), Seq: uint64(i), Code: 200,
			Timestamp: start.Add(time.Duration(i) * 10 * time.Millisecond),
			Latency:   time.Duration(float64(8*time.Millisecond) * math.Exp(0.25*rng.NormFloat64())),
			URL:       "http://10.89.0.2:30080/", Method: "GET",
			Headers: map[string][]string{"X-Canary-Node": {"kind-worker"}},
		})
	}
	require.NoError(t, rec.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return dir, b
}

func rewrite(t *testing.T, dir string, b []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, loadgen.ResultsFile), b, 0o600))
}

// Bytes overwritten in the middle of a results file are not a cut tail:
// the report says how many records were lost and does not pass.
func TestLoadCorruptMiddleIsInconclusive(t *testing.T) {
	dir, full := writeRun(t, 10000)
	m, err := Load(dir, LoadOptions{})
	require.NoError(t, err)
	r, err := JudgeRun(m, "baseline", Rules{})
	require.NoError(t, err)
	require.Equal(t, Pass, r.Verdict, "the intact recording passes: %v", r.Reasons)
	require.Empty(t, r.Checks)

	bad := bytes.Clone(full)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := len(bad) / 2; i < len(bad)/2+400; i++ {
		bad[i] = byte(rng.IntN(256))
	}
	rewrite(t, dir, bad)
	m, err = Load(dir, LoadOptions{})
	require.NoError(t, err)
	ri := m.Read
	require.NotNil(t, ri)
	t.Logf("read %d records; %d corrupt bytes, about %d records lost", ri.Records, ri.CorruptBytes, ri.LostRecords)
	assert.Zero(t, ri.Dropped)
	assert.Positive(t, ri.LostRecords)
	assert.Greater(t, ri.Records, int64(9900), "reading went on after the damage")
	var requests int64
	for _, p := range m.Phases {
		requests += p.Requests
	}
	assert.Equal(t, ri.Records, requests)

	r, err = JudgeRun(m, "baseline", Rules{})
	require.NoError(t, err)
	assert.Equal(t, Inconclusive, r.Verdict)
	require.Len(t, r.Checks, 1)
	c := r.Checks[0]
	assert.Equal(t, "results file "+filepath.Join(dir, loadgen.ResultsFile), c.Name)
	assert.Equal(t, Inconclusive, c.Outcome)
	lost := "about " + itoa(ri.LostRecords) + " of " + itoa(ri.Records+ri.LostRecords) + " records"
	assert.Contains(t, c.Message, lost)
	assert.Contains(t, c.Message, "more than the 0.01% tolerated")
	assert.Contains(t, strings.Join(r.Reasons, "\n"), lost)

	// Every report says so.
	doc := junitParse(t, renderString(t, RenderJUnit, r))
	_, tc := doc.find(t, "rehearse.checks", c.Name)
	require.NotNil(t, tc.Skipped)
	assert.Contains(t, tc.Skipped.Message, lost)
	assert.Contains(t, renderString(t, RenderText, r), "WARNING: results file "+filepath.Join(dir, loadgen.ResultsFile)+" is corrupt: "+lost)
	assert.Contains(t, renderString(t, RenderMarkdown, r), "> **Warning:** results file ")

	// Compare, too, will not pass a corrupt recording.
	base, err := Load(dir, LoadOptions{Phase: "all"})
	require.NoError(t, err)
	cmp, err := Compare(base, base, Rules{})
	require.NoError(t, err)
	assert.Equal(t, Inconclusive, cmp.Verdict)
}

// Losing fewer records than the tolerance leaves the verdict alone, with
// the loss on record; with zero tolerance for failures, any loss is too
// much.
func TestLoadCorruptWithinTolerance(t *testing.T) {
	dir, full := writeRun(t, 30000)
	bad := bytes.Clone(full)
	// Break one record's type id, a third of the way in.
	i := bytes.Index(bad[len(bad)/3:], []byte{0xFF, 0x80})
	require.GreaterOrEqual(t, i, 0)
	bad[len(bad)/3+i+1] = 0x00
	rewrite(t, dir, bad)
	m, err := Load(dir, LoadOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(1), m.Read.LostRecords)

	r, err := JudgeRun(m, "baseline", Rules{})
	require.NoError(t, err)
	assert.Equal(t, Pass, r.Verdict, "%v", r.Reasons)
	require.Len(t, r.Checks, 1)
	assert.Equal(t, Pass, r.Checks[0].Outcome)
	assert.Contains(t, r.Checks[0].Message, "about 1 of 30000 records")
	assert.Contains(t, r.Checks[0].Message, "within the 0.01% tolerated")

	strict, err := JudgeRun(m, "baseline", Rules{ZeroErrorIncrease: true})
	require.NoError(t, err)
	assert.Equal(t, Inconclusive, strict.Checks[0].Outcome)
}

// A file cut mid-record at its end, as a killed writer leaves it, still
// loads, is noted, and is judged.
func TestLoadCutTailIsJudged(t *testing.T) {
	dir, full := writeRun(t, 10000)
	rewrite(t, dir, full[:len(full)-37])
	m, err := Load(dir, LoadOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(9999), m.Read.Records)
	assert.Positive(t, m.Read.Dropped)
	assert.Zero(t, m.Read.CorruptBytes)
	r, err := JudgeRun(m, "baseline", Rules{})
	require.NoError(t, err)
	assert.Equal(t, Pass, r.Verdict, "%v", r.Reasons)
	assert.Empty(t, r.Checks)
	assert.Contains(t, renderString(t, RenderText, r), "was cut short")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
