package cli

import (
	"context"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
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

// writeResults writes n successful results in vegeta's gob encoding, as
// `vegeta attack` does.
func writeResults(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	enc := vegeta.NewEncoder(f)
	rng := mrand.New(mrand.NewPCG(1, 2))
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for i := range n {
		require.NoError(t, enc.Encode(&vegeta.Result{
			Attack: "baseline/reuse", Seq: uint64(i), Code: 200, Method: "GET", URL: "http://10.0.0.1:8080/",
			Timestamp: start.Add(time.Duration(i) * 5 * time.Millisecond),
			Latency:   time.Duration(float64(time.Millisecond) * math.Exp(rng.NormFloat64()*0.3)),
		}))
	}
	require.NoError(t, f.Close())
}

// okServer answers every request 200 until the test ends.
func okServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// The machine's failures (here: writing output where a regular file stands
// in for a folder, which fails even for root) exit 4, not 2.
func TestOutputErrorsExitFour(t *testing.T) {
	dir := t.TempDir()
	results := filepath.Join(dir, "results.bin")
	writeResults(t, results, 300)
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, []byte("a file, not a folder"), 0o600))
	// A run folder whose report.json is a folder: the reports cannot be written.
	runDir := filepath.Join(dir, "run")
	require.NoError(t, os.MkdirAll(filepath.Join(runDir, "report.json"), 0o700))
	writeResults(t, filepath.Join(runDir, loadgen.ResultsFile), 300)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"compare report under a file", []string{"compare", results, results, "--out", filepath.Join(file, "sub", "report.txt")}, "write the text report: open " + filepath.Join(file, "sub", "report.txt") + ": not a directory"},
		{"load results under a file", []string{"load", "--quiet", "--target", "http://127.0.0.1:1/", "--duration", "1s", "--out", filepath.Join(file, "sub")}, "run folder: stat " + filepath.Join(file, "sub") + ": not a directory"},
		{"report into a folder it cannot write", []string{"report", runDir}, "write the reports into " + runDir + " (--no-write prints only): open " + filepath.Join(runDir, "report.json") + ": is a directory"},
		{"compare report into /proc", []string{"compare", results, results, "--out", "/proc/rehearse-report.txt"}, "/proc/rehearse-report.txt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, context.Background(), tc.args...)
			assert.Equal(t, ExitInfra, r.code, "stderr: %s", r.err)
			assert.Contains(t, r.err, tc.want)
			assert.Equal(t, 1, strings.Count(r.err, "rehearse: "), "the error is printed once: %q", r.err)
		})
	}
}

// Errors of the command line itself, found before any handler runs, stay
// bad input; so do numbers that are no numbers.
func TestCommandLineErrorsExitTwo(t *testing.T) {
	dir := t.TempDir()
	results := filepath.Join(dir, "results.bin")
	writeResults(t, results, 300)
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, []byte("a file, not a folder"), 0o600))
	load := func(args ...string) []string {
		return append([]string{"load", "--quiet", "--target", "http://127.0.0.1:1/", "--out", filepath.Join(dir, "new")}, args...)
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"compare", results, results, "--nope"}, "unknown flag: --nope"},
		{"argument to a command that takes none", []string{"version", "extra"}, `unknown command "extra" for "rehearse version"`},
		{"flag without its value", []string{"load", "--rate"}, "flag needs an argument: --rate"},
		{"compare alpha NaN", []string{"compare", results, results, "--alpha", "NaN"}, `invalid argument "NaN" for "--alpha" flag: want a finite number`},
		{"compare alpha +Inf", []string{"compare", results, results, "--alpha", "+Inf"}, `invalid argument "+Inf" for "--alpha" flag`},
		{"compare alpha -Inf", []string{"compare", results, results, "--alpha=-Inf"}, `invalid argument "-Inf" for "--alpha" flag`},
		{"compare alpha infinity", []string{"compare", results, results, "--alpha", "infinity"}, `invalid argument "infinity" for "--alpha" flag`},
		{"compare max-error-increase NaN", []string{"compare", results, results, "--max-error-increase", "NaN"}, `invalid argument "NaN" for "--max-error-increase" flag`},
		{"compare max-error-increase Inf", []string{"compare", results, results, "--max-error-increase", "Inf"}, `invalid argument "Inf" for "--max-error-increase" flag`},
		{"compare max-p99-ratio NaN", []string{"compare", results, results, "--max-p99-ratio", "nan"}, `invalid argument "nan" for "--max-p99-ratio" flag`},
		{"compare max-p99-ratio +Inf", []string{"compare", results, results, "--max-p99-ratio", "+Inf"}, `invalid argument "+Inf" for "--max-p99-ratio" flag`},
		{"compare max-p99-ratio not a number", []string{"compare", results, results, "--max-p99-ratio", "two"}, `invalid argument "two" for "--max-p99-ratio" flag: want a finite number`},
		{"report alpha NaN", []string{"report", dir, "--alpha", "NaN"}, `invalid argument "NaN" for "--alpha" flag`},
		{"report max-p99-ratio -Inf", []string{"report", dir, "--max-p99-ratio", "-Inf"}, `invalid argument "-Inf" for "--max-p99-ratio" flag`},
		{"load rate NaN", load("--rate", "NaN"), `invalid argument "NaN" for "--rate" flag: want a finite number of requests`},
		{"load rate +Inf", load("--rate", "+Inf"), `invalid argument "+Inf" for "--rate" flag`},
		{"load rate -Inf", load("--rate=-Inf"), `invalid argument "-Inf" for "--rate" flag`},
		{"load rate Inf per second", load("--rate", "Inf/1s"), `invalid argument "Inf/1s" for "--rate" flag`},
		{"load rate per nothing", load("--rate", "100/0s"), `invalid argument "100/0s" for "--rate" flag: "0s" after the slash is not a positive duration like 1s`},
		{"load rate per no duration", load("--rate", "100/often"), `invalid argument "100/often" for "--rate" flag: "1often" after the slash`},
		{"load rate zero", load("--rate", "0"), "--rate: 0: want a positive number of requests per second"},
		{"load rate zero per second", load("--rate", "0/1s"), "--rate: 0: want a positive number"},
		// 60 a minute is 1/s, too little to split over two probe kinds: the
		// rate was read as vegeta reads it.
		{"load rate per minute", load("--rate", "60/1m"), "--rate: 1/s split over 2 probe kinds is below 1/s per probe"},
		{"load rate per unit", load("--rate", "30/m"), "--rate: 0.5/s split over 2 probe kinds"},
		{"load out is a file", []string{"load", "--quiet", "--target", "http://127.0.0.1:1/", "--out", file}, "--out " + file + ": not a folder"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, context.Background(), tc.args...)
			assert.Equal(t, ExitBadInput, r.code, "stderr: %s", r.err)
			assert.Contains(t, r.err, tc.want)
			assert.Equal(t, 1, strings.Count(r.err, "rehearse: "), "the error is printed once: %q", r.err)
		})
	}
	assert.NoDirExists(t, filepath.Join(dir, "new"), "bad input creates nothing")
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want float64
	}{
		{"100", 100},
		{"2.5", 2.5},
		{"100/1s", 100},
		{"100/s", 100},
		{"100/2s", 50},
		{"5/100ms", 50},
		{"60/1m", 1},
		{"30/m", 0.5},
		{"7200/1h", 2},
		{"-5", -5}, // the sign is checked with the other settings, naming --rate
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseRate(tc.in)
			require.NoError(t, err)
			assert.InDelta(t, tc.want, got, 1e-9)
		})
	}
	for _, bad := range []string{"", "NaN", "Inf", "-Inf", "+Inf", "infinity", "ten", "100/", "100/0s", "100/-1s", "100/1x", "NaN/1s", "1/1s/1s"} {
		t.Run("bad "+bad, func(t *testing.T) {
			_, err := parseRate(bad)
			assert.Error(t, err)
		})
	}
}

// An interrupted `rehearse load` keeps what it recorded and says so, and
// exits inconclusive rather than as if the load had run its course.
func TestLoadInterruptedExitsInconclusive(t *testing.T) {
	target := okServer(t)
	tests := []struct {
		name     string
		duration string
		code     int
	}{
		{"before its duration", "1m", ExitInconclusive},
		{"without a duration, stopping is its end", "0", ExitPass},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
			defer cancel()
			r := run(t, ctx, "load", "--quiet", "--target", target, "--rate", "40", "--duration", tc.duration, "--out", out)
			require.Equal(t, tc.code, r.code, "stderr: %s", r.err)
			info, err := loadgen.ReadResults(out, func(*vegeta.Result) error { return nil })
			require.NoError(t, err, "what was recorded is kept")
			assert.Positive(t, info.Records)
			assert.FileExists(t, filepath.Join(out, "summary.json"))
			assert.Contains(t, r.out, "recorded ")
			if tc.code == ExitInconclusive {
				assert.Contains(t, r.err, "rehearse: interrupted after ")
				assert.Contains(t, r.err, "of --duration 1m0s")
				assert.Contains(t, r.err, "recorded are kept in "+out)
			} else {
				assert.NotContains(t, r.err, "interrupted")
			}
		})
	}
}

// `rehearse load` never overwrites an earlier run by accident, and only its
// owner may read what it writes.
func TestLoadRefusesToOverwrite(t *testing.T) {
	target := okServer(t)
	out := filepath.Join(t.TempDir(), "runs", "a")
	results := filepath.Join(out, loadgen.ResultsFile)
	load := func(extra ...string) result {
		return run(t, context.Background(), append([]string{"load", "--quiet", "--target", target, "--rate", "20", "--duration", "300ms", "--out", out}, extra...)...)
	}

	r := load()
	require.Equal(t, ExitPass, r.code, r.err)
	for path, mode := range map[string]os.FileMode{out: 0o700, results: 0o600} {
		st, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, mode, st.Mode().Perm(), path)
	}
	first, err := os.ReadFile(results)
	require.NoError(t, err)
	require.NotEmpty(t, first)

	r = load()
	assert.Equal(t, ExitBadInput, r.code, r.err)
	assert.Contains(t, r.err, "--out "+out+": the folder is not empty (results.bin, summary.json); name a new folder, or pass --force to overwrite its results")
	again, err := os.ReadFile(results)
	require.NoError(t, err)
	assert.Equal(t, first, again, "the earlier results are untouched")

	// A folder holding anything at all is refused, not only one with results.
	other := filepath.Join(t.TempDir(), "notes")
	require.NoError(t, os.MkdirAll(other, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(other, "README"), []byte("mine"), 0o644))
	r = run(t, context.Background(), "load", "--quiet", "--target", target, "--duration", "300ms", "--out", other)
	assert.Equal(t, ExitBadInput, r.code, r.err)
	assert.Contains(t, r.err, "(README)")
	assert.NoFileExists(t, filepath.Join(other, loadgen.ResultsFile))

	// --force overwrites, and the file written is the owner's alone even
	// when the one it replaced was not.
	require.NoError(t, os.Chmod(results, 0o644))
	r = load("--force")
	require.Equal(t, ExitPass, r.code, r.err)
	st, err := os.Stat(results)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	info, err := loadgen.ReadResults(out, func(*vegeta.Result) error { return nil })
	require.NoError(t, err)
	assert.Zero(t, info.Dropped, "the new results replaced the old ones, not appended to or overlaid them")
}

// `rehearse run --out` refuses a folder that is not empty before it makes
// any cluster (the context is cancelled as well, so that nothing would be
// made even if it did not).
func TestRunRefusesAFolderThatIsNotEmpty(t *testing.T) {
	out := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(out, loadgen.ResultsFile), []byte("earlier"), 0o600))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := run(t, ctx, "run", "--quiet", "--out", out)
	assert.Equal(t, ExitBadInput, r.code, r.err)
	assert.Contains(t, r.err, "--out "+out+": the folder is not empty (results.bin); name a new folder")
	b, err := os.ReadFile(filepath.Join(out, loadgen.ResultsFile))
	require.NoError(t, err)
	assert.Equal(t, "earlier", string(b))
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "nothing was written into the folder")
}
