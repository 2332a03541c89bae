package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/internal/testenv"
	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/scenarios"
)

type result struct {
	code     int
	out, err string
}

func run(t *testing.T, ctx context.Context, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	err := Run(ctx, Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, args)
	code := exitCode(&errb, err)
	return result{code: code, out: out.String(), err: errb.String()}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// serveCanary runs `rehearse canary serve` in process until the test ends.
func serveCanary(t *testing.T, args ...string) string {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		done <- run(t, ctx, append([]string{"canary", "serve", "--addr", addr, "--drain-delay", "0s"}, args...)...)
	}()
	t.Cleanup(func() {
		cancel()
		r := <-done
		assert.Equal(t, 0, r.code, r.err)
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 5*time.Second, 20*time.Millisecond)
	return addr
}

func TestVersion(t *testing.T) {
	r := run(t, context.Background(), "version")
	assert.Equal(t, 0, r.code)
	assert.NotEmpty(t, strings.TrimSpace(r.out))
}

func TestBadInputExitsTwo(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.bin")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	corrupt := filepath.Join(dir, "corrupt.bin")
	require.NoError(t, os.WriteFile(corrupt, []byte("\x03\x01\x02 this is not a results file"), 0o644))
	missing := filepath.Join(dir, "missing.bin")
	badScenario := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(badScenario, []byte("apiVersion: rehearse.dev/v1alpha1\nkind: Scenario\nmetadata:\n  nam: x\n"), 0o644))
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: only, context: {cluster: c, user: u}}]
current-context: only
`), 0o600))
	badChecklist := filepath.Join(dir, "bad-checklist.yaml")
	require.NoError(t, os.WriteFile(badChecklist, []byte("apiVersion: rehearse.dev/v1alpha1\nkind: Checklist\ncomponentz: []\n"), 0o644))
	badComponent := filepath.Join(dir, "bad-component.yaml")
	require.NoError(t, os.WriteFile(badComponent, []byte("apiVersion: rehearse.dev/v1alpha1\nkind: Checklist\ncomponents:\n  - name: coredns\n    knd: Deployment\n"), 0o644))
	runFolder := filepath.Join(dir, "run")
	require.NoError(t, os.MkdirAll(runFolder, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(runFolder, "scenario.yaml"), scenarios.DefaultYAML(), 0o644))

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown flag", []string{"load", "--nope"}, "unknown flag: --nope"},
		{"load without out", []string{"load", "--target", "http://127.0.0.1:1/"}, "--out"},
		{"load without target", []string{"load", "--out", dir}, "--target: at least one target"},
		{"load bad target", []string{"load", "--out", dir, "--target", "ftp://x/"}, "scheme must be http or https"},
		{"load bad rate", []string{"load", "--out", dir, "--target", "http://x/", "--rate", "-5"}, "--rate: -5"},
		{"load bad probe", []string{"load", "--out", dir, "--target", "http://x/", "--probes", "udp"}, "--probes: unknown probe kind \"udp\""},
		{"load bad phase switch", []string{"load", "--out", dir, "--target", "http://x/", "--phase-switch", "soon=upgrade"}, "--phase-switch \"soon=upgrade\""},
		{"compare one argument", []string{"compare", empty}, "compare takes BASELINE and CANDIDATE"},
		{"compare missing file", []string{"compare", missing, missing}, "missing.bin"},
		{"compare empty file", []string{"compare", empty, empty}, "empty.bin: file is empty"},
		{"compare corrupt file", []string{"compare", corrupt, corrupt}, "corrupt.bin: not a vegeta results file"},
		{"compare unknown format", []string{"compare", empty, empty, "-o", "pdf"}, "unknown report format \"pdf\"; known: html, json, junit, markdown, text"},
		{"compare bad rule", []string{"compare", empty, empty, "--max-p99-ratio", "0.5"}, "maxP99Ratio"},
		{"report missing folder", []string{"report", filepath.Join(dir, "nope")}, "nope"},
		{"canary bad fail rate", []string{"canary", "serve", "--fail-rate", "1.5"}, "--fail-rate 1.5"},
		{"canary deploy without kubeconfig", []string{"canary", "deploy"}, "--kubeconfig"},
		{"canary deploy budget clash", []string{"canary", "deploy", "--kubeconfig", empty, "--no-pdb", "--max-unavailable", "1"}, "--no-pdb and --max-unavailable exclude each other"},
		{"canary deploy no replicas", []string{"canary", "deploy", "--kubeconfig", empty, "--replicas", "0"}, "--replicas 0: must be at least 1"},
		{"run missing scenario", []string{"run", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"run bad scenario", []string{"run", badScenario}, "bad.yaml:4: metadata.nam: unknown field"},
		{"run bad set", []string{"run", "--set", "load.rate=-1"}, "--set load.rate=-1: load.rate: -1: want a positive number"},
		{"run unknown engine", []string{"run", "--engine", "dokker"}, `--engine: unknown container engine "dokker"; known: podman, docker`},
		{"report rule flags on a rehearsal", []string{"report", runFolder, "--min-samples", "10"}, "scenario.yaml (checks.judge); --min-samples do not apply"},
		{"check unreachable", []string{"check", "--kubeconfig", kubeconfig}, "API server https://127.0.0.1:1 does not answer"},
		{"plan skew", []string{"plan", "--set", "upgrade.target=v1.34.0"}, "upgrade.target: target v1.34.0 is not newer"},
		{"profile unknown context", []string{"profile", "--kubeconfig", kubeconfig, "--context", "nope"}, `no context "nope"; contexts: only`},
		{"profile unreachable", []string{"profile", "--kubeconfig", kubeconfig}, "API server https://127.0.0.1:1 does not answer"},
		{"check unknown checklist", []string{"check", "--kubeconfig", kubeconfig, "--checklist", "openshift"}, `unknown checklist "openshift"`},
		// The checklist file and the context are checked before the API
		// server is dialled: the kubeconfig's server does not answer, and
		// the error is about the file or the context, not the server.
		{"check checklist with an unknown field", []string{"check", "--kubeconfig", kubeconfig, "--checklist", badChecklist}, badChecklist + `:3: unknown field "componentz" at the top level`},
		{"check checklist with an unknown component field", []string{"check", "--kubeconfig", kubeconfig, "--checklist", badComponent}, badComponent + `:5: components[0]: unknown field "knd"`},
		{"check unknown context", []string{"check", "--kubeconfig", kubeconfig, "--context", "nope"}, `kubeconfig ` + kubeconfig + `: no context "nope"; contexts: only`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, context.Background(), tc.args...)
			assert.Equal(t, ExitBadInput, r.code, "stderr: %s", r.err)
			assert.Contains(t, r.err, tc.want)
			assert.Equal(t, 1, strings.Count(r.err, "rehearse: "), "the error is printed once: %q", r.err)
		})
	}
}

// TestLoadCompareReport drives the real commands end to end: the canary,
// two recordings, a comparison in every format, a truncated recording, and
// the report of a phased run folder.
func TestLoadCompareReport(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: sends 3 x 3 s of real traffic")
	}
	good := serveCanary(t)
	bad := serveCanary(t, "--fail-rate", "0.2", "--seed", "7")
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	ctx := context.Background()

	r := run(t, ctx, "load", "--quiet", "--target", "http://"+good+"/", "--rate", "300", "--duration", "3s", "--out", a)
	require.Equal(t, 0, r.code, r.err)
	// 300/s for 3 s is 900 requests scheduled; on a starved machine some
	// are missed, and then they are counted, never hidden: every request
	// sent is a record in the file.
	require.Contains(t, r.out, "scheduled ")
	var scheduled, sent, missed int
	_, err := fmt.Sscanf(r.out[strings.Index(r.out, "scheduled "):], "scheduled %d, sent %d, missed %d", &scheduled, &sent, &missed)
	require.NoError(t, err, r.out)
	assert.Equal(t, 900, scheduled, r.out)
	assert.Equal(t, scheduled, sent+missed, r.out)
	assert.Contains(t, r.out, fmt.Sprintf("recorded %d results", sent))
	assert.Equal(t, int64(sent), recordCount(t, filepath.Join(a, "results.bin")))
	if missed > 0 {
		t.Logf("the machine was too busy to send %d of 900 requests on time", missed)
	}
	for _, f := range []string{"results.bin", "summary.json"} {
		assert.FileExists(t, filepath.Join(a, f))
	}
	r = run(t, ctx, "load", "--quiet", "--target", "http://"+bad+"/", "--rate", "300", "--duration", "3s", "--out", b)
	require.Equal(t, 0, r.code, r.err)

	r = run(t, ctx, "compare", a, b)
	assert.Equal(t, ExitFail, r.code, r.err)
	assert.Contains(t, r.out, "FAIL")
	assert.Contains(t, r.out, "error-rate")

	for _, format := range []string{"json", "junit", "markdown", "html", "text"} {
		out := filepath.Join(dir, "report."+format)
		r = run(t, ctx, "compare", a, b, "-o", format, "--out", out)
		assert.Equal(t, ExitFail, r.code, "%s: %s", format, r.err)
		st, err := os.Stat(out)
		require.NoError(t, err)
		assert.Greater(t, st.Size(), int64(200), format)
	}

	// A/A passes.
	r = run(t, ctx, "compare", a, a)
	assert.Equal(t, 0, r.code, r.out+r.err)

	// A recording cut short mid-record still reports, saying what was dropped.
	full, err := os.ReadFile(filepath.Join(a, "results.bin"))
	require.NoError(t, err)
	cut := filepath.Join(dir, "cut.bin")
	require.NoError(t, os.WriteFile(cut, full[:len(full)-37], 0o644))
	r = run(t, ctx, "compare", a, cut)
	assert.Contains(t, []int{0, 3}, r.code, r.err)
	records, dropped := cutShort(t, r.err, cut)
	whole := wholeRecordBytes(t, cut, records)
	assert.Equal(t, int64(len(full)-37)-whole, dropped, "the bytes dropped are those after the last whole record")
	assert.Equal(t, recordCount(t, filepath.Join(a, "results.bin"))-1, records, "37 bytes cut one record short")

	// A phased run folder is judged phase by phase; report files land in it.
	r = run(t, ctx, "load", "--quiet", "--target", "http://"+good+"/", "--rate", "300", "--duration", "3s",
		"--phase-switch", "1s=upgrade", "--phase-switch", "2s=after", "--out", c)
	require.Equal(t, 0, r.code, r.err)
	r = run(t, ctx, "report", c, "--min-samples", "100")
	assert.Contains(t, []int{0, 1}, r.code, r.err)
	assert.Contains(t, r.out, "upgrade")
	assert.Contains(t, r.out, "after")
	for _, f := range []string{"report.json", "report.html", "report.md", "junit.xml"} {
		assert.FileExists(t, filepath.Join(c, f))
	}
}

// cutShort finds the warning that file was cut short in stderr and returns
// the records read and the trailing bytes dropped that it states.
func cutShort(t *testing.T, stderr, file string) (records, dropped int64) {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(file) + ` was cut short: (\d+) records read, (\d+) trailing bytes dropped`)
	m := re.FindStringSubmatch(stderr)
	require.NotNil(t, m, "no cut-short warning for %s in stderr:\n%s", file, stderr)
	records, err := strconv.ParseInt(m[1], 10, 64)
	require.NoError(t, err)
	dropped, err = strconv.ParseInt(m[2], 10, 64)
	require.NoError(t, err)
	return records, dropped
}

// wholeRecordBytes is how many bytes the first n records of a gob results
// file take, found without the reader under test: it decodes them with
// vegeta's decoder and encodes them again, in order, with one encoder, as
// the recorder does. (Header maps may come out in another order, but in the
// same number of bytes.)
func wholeRecordBytes(t *testing.T, path string, n int64) int64 {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	dec := vegeta.NewDecoder(bufio.NewReader(f))
	var buf bytes.Buffer
	enc := vegeta.NewEncoder(&buf)
	for i := range n {
		var r vegeta.Result
		require.NoError(t, dec.Decode(&r), "record %d of %s", i, path)
		require.NoError(t, enc.Encode(&r))
	}
	return int64(buf.Len())
}

// recordCount counts the records of a whole gob results file with vegeta's
// own decoder.
func recordCount(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	dec := vegeta.NewDecoder(bufio.NewReader(f))
	var n int64
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); err != nil {
			require.ErrorIs(t, err, io.EOF, "record %d of %s", n, path)
			return n
		}
		n++
	}
}

// TestLoadKilledMidRunStillReports kills `rehearse load` with SIGKILL while
// it records, as an OOM killer or a lost node would, and checks that what
// reached the file is still reported, with the bytes of the record that was
// being written when it died counted as dropped.
func TestLoadKilledMidRunStillReports(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds rehearse and kills `rehearse load` after 2 s of 2000 requests a second")
	}
	bin := testenv.BuildRehearse(t)
	addr := serveCanary(t)
	out := filepath.Join(t.TempDir(), "run")
	results := filepath.Join(out, "results.bin")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "load", "--quiet", "--target", "http://"+addr+"/", "--rate", "2000", "--duration", "30s", "--out", out)
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// Kill it after about 2 s, once the recorder has written something. It
	// writes at a record boundary when it flushes (every second) and a
	// whole 64 KiB buffer, which mostly ends mid-record, when the buffer
	// fills: kill it right after such a write if one comes soon, so that the
	// file most likely ends mid-record. Either way the checks below hold.
	started := time.Now()
	var last int64
	for {
		select {
		case err := <-exited:
			require.FailNowf(t, "rehearse load ended before it was killed", "%v\n%s", err, stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
		var size int64
		if st, err := os.Stat(results); err == nil {
			size = st.Size()
		}
		grew := size - last
		last = size
		if size > 0 && time.Since(started) >= 2*time.Second {
			if grew == 64<<10 {
				t.Logf("killing right after a full-buffer write")
				break
			}
			if time.Since(started) >= 5*time.Second {
				break
			}
		}
		require.Less(t, time.Since(started), time.Minute, "rehearse load wrote no results (a guard against a hang): %s", stderr.String())
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	err := <-exited
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "killed by SIGKILL: %v", err)
	assert.NoFileExists(t, filepath.Join(out, "summary.json"), "killed before it could write its summary")

	st, err := os.Stat(results)
	require.NoError(t, err)
	size := st.Size()
	info, err := loadgen.ReadResults(out, func(*vegeta.Result) error { return nil })
	require.NoError(t, err)
	require.Positive(t, info.Records)
	whole := wholeRecordBytes(t, results, info.Records)
	t.Logf("killed after %s: %d bytes, %d whole records in %d bytes, %d bytes dropped (%s)",
		time.Since(started).Round(time.Millisecond), size, info.Records, whole, info.Dropped, info.TailErr)
	assert.Equal(t, size, info.Bytes)
	assert.Equal(t, size-whole, info.Dropped, "the reader drops exactly the bytes after the last whole record")

	// `rehearse report` on the run folder: one phase, so nothing to judge
	// (inconclusive), but the requests are all there.
	ctx := context.Background()
	r := run(t, ctx, "report", out, "--no-write", "-o", "json")
	assert.Equal(t, ExitInconclusive, r.code, r.err)
	var doc struct {
		Runs []struct {
			Phases []struct {
				Name     string `json:"name"`
				Requests int64  `json:"requests"`
			} `json:"phases"`
		} `json:"runs"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.out), &doc), r.out)
	require.Len(t, doc.Runs, 1)
	require.Len(t, doc.Runs[0].Phases, 1)
	assert.Equal(t, "baseline", doc.Runs[0].Phases[0].Name)
	assert.Equal(t, info.Records, doc.Runs[0].Phases[0].Requests)
	assert.Positive(t, doc.Runs[0].Phases[0].Requests)
	checkDropped := func(stderr string) {
		t.Helper()
		if size == whole {
			assert.NotContains(t, stderr, "cut short", "the file ends on a record boundary")
			return
		}
		records, dropped := cutShort(t, stderr, results)
		assert.Equal(t, info.Records, records)
		assert.Equal(t, size-whole, dropped)
	}
	checkDropped(r.err)

	// `rehearse compare` of the file with itself: a verdict, not bad input.
	r = run(t, ctx, "compare", results, results, "-o", "json")
	assert.NotEqual(t, ExitBadInput, r.code, r.err)
	assert.Contains(t, []int{ExitPass, ExitFail, ExitInconclusive}, r.code, r.err)
	assert.Contains(t, r.out, `"verdict"`)
	checkDropped(r.err)
}

// TestComparePlainVegetaResults compares files written by vegeta's own
// encoder, as `vegeta attack > results.bin` writes them: attack names that
// are not ours (none at all, or a name without a probe), no phases.
func TestComparePlainVegetaResults(t *testing.T) {
	dir := t.TempDir()
	write := func(name, attack string, seed uint64, failRate float64) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		require.NoError(t, err)
		enc := vegeta.NewEncoder(f)
		rng := mrand.New(mrand.NewPCG(seed, 1))
		start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		for i := range 2000 {
			r := vegeta.Result{
				Attack: attack, Seq: uint64(i), Code: 200, Method: "GET", URL: "http://10.0.0.1:8080/",
				Timestamp: start.Add(time.Duration(i) * 5 * time.Millisecond),
				Latency:   time.Duration(float64(time.Millisecond) * math.Exp(rng.NormFloat64()*0.3)),
				BytesIn:   120, Body: []byte(`{"pod":"web-1"}`),
				Headers: http.Header{"Content-Type": {"application/json"}, "Date": {"Wed, 04 Mar 2026 05:06:07 GMT"}},
			}
			if rng.Float64() < failRate {
				r.Code, r.Error, r.Body = 503, "503 Service Unavailable", nil
			}
			require.NoError(t, enc.Encode(&r))
		}
		require.NoError(t, f.Close())
		return path
	}
	unnamed := write("unnamed.bin", "", 1, 0)
	named := write("named.bin", "checkout", 2, 0)
	failing := write("failing.bin", "", 3, 0.03)
	ctx := context.Background()

	for _, tc := range []struct {
		name       string
		base, cand string
		code       int
	}{
		{"unnamed against named", unnamed, named, ExitPass},
		{"named against unnamed", named, unnamed, ExitPass},
		{"same file", unnamed, unnamed, ExitPass},
		{"3% 503s", unnamed, failing, ExitFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, ctx, "compare", tc.base, tc.cand, "-o", "json")
			require.Equal(t, tc.code, r.code, "stderr: %s\nstdout: %s", r.err, r.out)
			assert.NotContains(t, r.err, "cut short")
			var doc struct {
				Verdict     string `json:"verdict"`
				Comparisons []struct {
					Stats struct {
						BaselineRequests  int64 `json:"baselineRequests"`
						CandidateRequests int64 `json:"candidateRequests"`
					} `json:"stats"`
					Rules []struct {
						Rule    string `json:"rule"`
						Outcome string `json:"outcome"`
					} `json:"rules"`
				} `json:"comparisons"`
			}
			require.NoError(t, json.Unmarshal([]byte(r.out), &doc), r.out)
			require.Len(t, doc.Comparisons, 1)
			c := doc.Comparisons[0]
			assert.Equal(t, int64(2000), c.Stats.BaselineRequests)
			assert.Equal(t, int64(2000), c.Stats.CandidateRequests)
			var failed []string
			for _, rr := range c.Rules {
				if rr.Outcome == "fail" {
					failed = append(failed, rr.Rule)
				}
			}
			if tc.code == ExitFail {
				assert.Equal(t, "fail", doc.Verdict)
				assert.Equal(t, []string{"error-rate"}, failed)
			} else {
				assert.Equal(t, "pass", doc.Verdict)
				assert.Empty(t, failed)
			}
		})
	}
}

func TestLoadInterruptKeepsResults(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: sends 1 s of real traffic")
	}
	addr := serveCanary(t)
	out := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r := run(t, ctx, "load", "--quiet", "--target", "http://"+addr+"/", "--rate", "100", "--duration", "1m", "--out", out)
	assert.Equal(t, ExitInconclusive, r.code, "interrupted before its duration: %s", r.err)
	assert.Contains(t, r.err, "interrupted")
	r = run(t, context.Background(), "report", out, "--no-write", "-o", "json")
	assert.Equal(t, ExitInconclusive, r.code, "one phase only: nothing to compare")
	assert.Contains(t, r.out, `"requests": `)
}

func TestExitCodeOfPlainErrorIsInfra(t *testing.T) {
	var b bytes.Buffer
	assert.Equal(t, ExitInfra, exitCode(&b, errors.New("boom")))
	assert.Equal(t, "rehearse: boom\n", b.String())
	b.Reset()
	assert.Equal(t, ExitFail, exitCode(&b, &ExitError{Code: ExitFail}))
	assert.Empty(t, b.String(), "a verdict already said why")
	assert.Equal(t, ExitBadInput, exitCode(&b, fmt.Errorf("wrap: %w", badInput(errors.New("x")))))
}

// rehearse plan shows each driver's tree before anything runs.
func TestPlanTrees(t *testing.T) {
	tests := []struct {
		scenario string
		want     []string
	}{
		{"", []string{"kubeadm upgrade to v1.36.3", "CLUSTER-control-plane", "kubeadm upgrade apply v1.36.3", "batch CLUSTER-worker", "drain", "uncordon"}},
		{"kind-bluegreen.yaml", []string{"blue-green swap from v1.35.4 to v1.36.3", "create cluster CLUSTER-b at v1.36.3", "smoke test (pre-live)",
			"switch traffic CLUSTER → CLUSTER-b", "rollback rehearsal", "switch traffic CLUSTER-b → CLUSTER", "delete cluster CLUSTER"}},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			args := []string{"plan"}
			if tc.scenario != "" {
				args = append(args, filepath.Join("..", "..", "scenarios", "examples", tc.scenario))
			}
			r := run(t, context.Background(), args...)
			require.Equal(t, 0, r.code, "stderr: %s", r.err)
			rest := r.out
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				require.GreaterOrEqual(t, i, 0, "%q missing from the plan, or out of order:\n%s", w, r.out)
				rest = rest[i+len(w):]
			}
		})
	}
}
