package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestSpecValidate(t *testing.T) {
	ok := Spec{Targets: []string{"http://127.0.0.1:1/"}, Rate: 10}
	tests := []struct {
		name string
		mod  func(*Spec)
		want string
	}{
		{"valid", func(*Spec) {}, ""},
		{"no targets", func(s *Spec) { s.Targets = nil }, "targets: at least one"},
		{"bad scheme", func(s *Spec) { s.Targets = []string{"ftp://x/"} }, "targets[0]: \"ftp://x/\": scheme must be http or https"},
		{"no host", func(s *Spec) { s.Targets = []string{"http:///x"} }, "no host"},
		{"negative rate", func(s *Spec) { s.Rate = -1 }, "rate: -1"},
		{"rate below one per probe", func(s *Spec) { s.Rate = 1 }, "below 1/s per probe"},
		{"negative duration", func(s *Spec) { s.Duration = -time.Second }, "duration: -1s is negative"},
		{"unknown probe", func(s *Spec) { s.Probes = []Probe{"udp"} }, "probes: unknown probe kind \"udp\""},
		{"duplicate probe", func(s *Spec) { s.Probes = []Probe{ProbeFresh, ProbeFresh} }, "given twice"},
		{"bad phase", func(s *Spec) { s.Phase = "a/b" }, "phase: phase name \"a/b\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.mod(&s)
			err := s.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestAttackNameRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		phase string
		probe Probe
	}{{"reuse", "baseline", ProbeReuse}, {"fresh", "upgrade", ProbeFresh}, {"dashed phase", "after-settle", ProbeFresh}} {
		t.Run(tc.name, func(t *testing.T) {
			ph, pr := SplitAttack(AttackName(tc.phase, tc.probe))
			assert.Equal(t, tc.phase, ph)
			assert.Equal(t, tc.probe, pr)
		})
	}
	ph, pr := SplitAttack("foreign")
	assert.Equal(t, "foreign", ph)
	assert.Equal(t, Probe(""), pr)
}

func TestRotation(t *testing.T) {
	r := NewRotation([]string{"http://a/", "http://b/"})
	var got []string
	tr := r.targeter()
	for range 4 {
		var tg vegeta.Target
		require.NoError(t, tr(&tg))
		got = append(got, tg.URL)
	}
	assert.Equal(t, []string{"http://a/", "http://b/", "http://a/", "http://b/"}, got)
	r.Set(nil)
	var tg vegeta.Target
	require.NoError(t, tr(&tg))
	assert.Equal(t, "http://rotation.invalid/", tg.URL, "an empty rotation still sends, to an address that fails")
}

type collect struct {
	mu  sync.Mutex
	res []vegeta.Result
}

func (c *collect) Add(r *vegeta.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res = append(c.res, *r)
}

func newServer(t *testing.T, delay time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if delay > 0 {
			time.Sleep(delay)
		}
		w.Header().Set("X-Canary-Pod", "pod-1")
		w.Header().Set("X-Other", "dropped")
		_, _ = w.Write([]byte(`{"pod":"pod-1"}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// sinkFunc is a Sink for tests; Run calls it from one goroutine.
type sinkFunc func(*vegeta.Result)

func (f sinkFunc) Add(r *vegeta.Result) { f(r) }

// runUntil runs atk in its own goroutine, which asserts nothing, and returns
// its accounting. A guard fails the test if Run has not returned a minute
// after it should have ended (a hang, not a slow machine).
func runUntil(t *testing.T, ctx context.Context, atk *Attack, sinks ...Sink) Accounting {
	t.Helper()
	type ran struct {
		acc Accounting
		err error
	}
	done := make(chan ran, 1)
	go func() {
		acc, err := atk.Run(ctx, sinks...)
		done <- ran{acc, err}
	}()
	select {
	case r := <-done:
		require.NoError(t, r.err)
		return r.acc
	case <-time.After(2 * time.Minute):
		atk.Stop()
		require.FailNow(t, "Run did not return")
	}
	return Accounting{}
}

// checkSchedule checks what holds however late the machine ran the attack:
// the accounting adds up, per probe and in all, no probe sent more than its
// schedule, each probe's results are numbered 0..sent-1, and none went out
// ahead of its slot in the schedule (hit n of a probe at rate r no sooner
// than (n+1)/r after the start).
func checkSchedule(t *testing.T, atk *Attack, acc Accounting, res []vegeta.Result) {
	t.Helper()
	assert.Equal(t, int64(len(res)), acc.Sent, "every result sent reached the sinks")
	assert.Equal(t, acc.Scheduled, acc.Sent+acc.Missed)
	assert.LessOrEqual(t, acc.Sent, acc.Scheduled)
	start := atk.Phases()[0].At
	seqs := map[Probe]map[uint64]bool{}
	var sched, sent, missed int64
	for _, pa := range acc.Probes {
		seqs[pa.Probe] = map[uint64]bool{}
		assert.Equal(t, pa.Scheduled, pa.Sent+pa.Missed, pa.Probe)
		sched, sent, missed = sched+pa.Scheduled, sent+pa.Sent, missed+pa.Missed
	}
	assert.Equal(t, acc.Scheduled, sched)
	assert.Equal(t, acc.Sent, sent)
	assert.Equal(t, acc.Missed, missed)
	for _, r := range res {
		_, probe := SplitAttack(r.Attack)
		require.Contains(t, seqs, probe, r.Attack)
		assert.False(t, seqs[probe][r.Seq], "%s seq %d twice", probe, r.Seq)
		seqs[probe][r.Seq] = true
		var rate float64
		for _, pa := range acc.Probes {
			if pa.Probe == probe {
				rate = pa.TargetRate
			}
		}
		slot := time.Duration(float64(r.Seq+1) * float64(time.Second) / rate)
		assert.GreaterOrEqual(t, r.Timestamp.Sub(start), slot, "%s seq %d went out ahead of schedule", probe, r.Seq)
	}
	for _, pa := range acc.Probes {
		assert.Len(t, seqs[pa.Probe], int(pa.Sent), pa.Probe)
		for i := range uint64(pa.Sent) {
			if !seqs[pa.Probe][i] {
				assert.Failf(t, "a result is missing", "%s seq %d of %d", pa.Probe, i, pa.Sent)
				break
			}
		}
	}
	t.Logf("ran %.2fs: scheduled %d, sent %d, missed %d, late %d (max lag %.1f ms)", acc.Seconds, acc.Scheduled, acc.Sent, acc.Missed, acc.Late, acc.MaxLagMs)
}

// TestRunTagsPhasesProbesAndTargets switches the phase once results are
// coming back and ends the attack once the new phase has results too, so
// that how fast the machine runs decides nothing.
func TestRunTagsPhasesProbesAndTargets(t *testing.T) {
	srv := newServer(t, 0)
	targets := []string{srv.URL + "/a", srv.URL + "/b"}
	atk, err := New(Spec{Targets: targets, Rate: 200})
	require.NoError(t, err)
	const perPhase = 50
	var res []vegeta.Result
	upgraded := 0
	sink := sinkFunc(func(r *vegeta.Result) {
		res = append(res, *r)
		if len(res) == perPhase {
			assert.NoError(t, atk.SetPhase("upgrade"))
		}
		if phase, _ := SplitAttack(r.Attack); phase == "upgrade" {
			if upgraded++; upgraded == perPhase {
				atk.Stop()
			}
		}
	})
	acc := runUntil(t, context.Background(), atk, sink)

	phases := atk.Phases()
	require.Len(t, phases, 2)
	assert.Equal(t, "baseline", phases[0].Name)
	assert.Equal(t, "upgrade", phases[1].Name)
	switchAt := phases[1].At
	counts := map[string]int{}
	for _, r := range res {
		phase, probe := SplitAttack(r.Attack)
		counts[phase]++
		counts[string(probe)]++
		counts[r.URL]++
		if r.Timestamp.Before(switchAt) {
			assert.Equal(t, "baseline", phase, "sent before the switch")
		} else {
			assert.Equal(t, "upgrade", phase, "sent after the switch")
		}
		assert.Empty(t, r.Error)
		assert.Nil(t, r.Body, "bodies are not kept")
		assert.Equal(t, []string{"pod-1"}, r.Headers["X-Canary-Pod"])
		assert.NotContains(t, r.Headers, "X-Other")
	}
	checkSchedule(t, atk, acc, res)
	t.Logf("phases: baseline %d, upgrade %d; probes: reuse %d, fresh %d", counts["baseline"], counts["upgrade"], counts["reuse"], counts["fresh"])
	assert.GreaterOrEqual(t, counts["baseline"], perPhase, "the first results all came before the switch")
	assert.GreaterOrEqual(t, counts["upgrade"], perPhase)
	assert.Equal(t, len(res), counts["baseline"]+counts["upgrade"])
	// Each probe sends half the rate; what each sent is what it tagged.
	require.Len(t, acc.Probes, 2)
	for _, pa := range acc.Probes {
		assert.Equal(t, 100.0, pa.TargetRate, pa.Probe)
		assert.Equal(t, int(pa.Sent), counts[string(pa.Probe)], pa.Probe)
		assert.Positive(t, pa.Sent, pa.Probe)
	}
	assert.Equal(t, len(res), counts["reuse"]+counts["fresh"])
	// Both probes walk one rotation, one target after the other.
	assert.Equal(t, len(res), counts[targets[0]]+counts[targets[1]])
	assert.InDelta(t, counts[targets[0]], counts[targets[1]], 1, "round-robin over the targets")
}

func TestRunCountsLateAndMissedRequests(t *testing.T) {
	srv := newServer(t, 50*time.Millisecond)
	// One worker per probe can serve at most 20 requests a second; ask for 100.
	atk, err := New(Spec{Targets: []string{srv.URL}, Rate: 100, Probes: []Probe{ProbeReuse}, MaxWorkers: 1, Duration: time.Second})
	require.NoError(t, err)
	acc, err := atk.Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(100), acc.Scheduled)
	assert.Less(t, acc.Sent, int64(40))
	assert.Equal(t, acc.Scheduled-acc.Sent, acc.Missed)
	assert.Greater(t, acc.Late, int64(10))
	assert.Greater(t, acc.MaxLagMs, 100.0)
	assert.Less(t, acc.AchievedRate, 40.0)
}

// TestRunStopsOnContext ends an attack without a duration by its context,
// cancelled once results are coming back: Run must return, with the
// accounting of what it sent.
func TestRunStopsOnContext(t *testing.T) {
	srv := newServer(t, 0)
	atk, err := New(Spec{Targets: []string{srv.URL}, Rate: 50})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const before = 5
	var res []vegeta.Result
	sink := sinkFunc(func(r *vegeta.Result) {
		res = append(res, *r)
		if len(res) == before {
			cancel()
		}
	})
	start := time.Now()
	acc := runUntil(t, ctx, atk, sink)
	elapsed := time.Since(start)
	require.Error(t, ctx.Err(), "Run returned before its context ended")
	assert.GreaterOrEqual(t, acc.Sent, int64(before))
	checkSchedule(t, atk, acc, res)
	// Nothing beyond the schedule of the time it ran.
	assert.LessOrEqual(t, float64(acc.Sent), 50*elapsed.Seconds()+1)
	assert.LessOrEqual(t, acc.Seconds, elapsed.Seconds())
}

func TestRecorderRoundTripAndVegetaCompatibility(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ResultsFile)
	rec, err := CreateRecorder(path)
	require.NoError(t, err)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var want []vegeta.Result
	for i := range 500 {
		r := vegeta.Result{
			Attack: AttackName("baseline", ProbeReuse), Seq: uint64(i), Code: 200,
			Timestamp: base.Add(time.Duration(i) * time.Millisecond), Latency: time.Duration(i+1) * time.Microsecond,
			URL: "http://x/", Method: "GET",
		}
		if i%7 == 0 {
			r.Code, r.Error = 503, "503 Service Unavailable"
		}
		want = append(want, r)
		rec.Add(&r)
	}
	require.NoError(t, rec.Close())

	var got []vegeta.Result
	info, err := ReadResults(dir, func(r *vegeta.Result) error { got = append(got, *r); return nil })
	require.NoError(t, err)
	assert.Equal(t, "gob", info.Format)
	assert.Equal(t, int64(500), info.Records)
	assert.Zero(t, info.Dropped)
	require.Len(t, got, 500)
	for i := range want {
		require.True(t, want[i].Equal(got[i]), "record %d: %+v != %+v", i, want[i], got[i])
	}

	// vegeta's own decoder reads the file as it is.
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	dec := vegeta.NewDecoder(f)
	n := 0
	for {
		var r vegeta.Result
		if dec.Decode(&r) != nil {
			break
		}
		n++
	}
	assert.Equal(t, 500, n)
}

func TestReadResultsTruncated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.bin")
	rec, err := CreateRecorder(path)
	require.NoError(t, err)
	for i := range 100 {
		rec.Add(&vegeta.Result{Attack: "baseline/reuse", Seq: uint64(i), Code: 200, Timestamp: time.Unix(int64(i), 0), Latency: time.Millisecond, URL: "http://x/"})
	}
	require.NoError(t, rec.Close())
	full, err := os.ReadFile(path)
	require.NoError(t, err)

	for _, cut := range []int{len(full) - 1, len(full) - 5, len(full) / 2, len(full) / 3} {
		p := filepath.Join(dir, "cut.bin")
		require.NoError(t, os.WriteFile(p, full[:cut], 0o644))
		var n int64
		info, err := ReadResults(p, func(*vegeta.Result) error { n++; return nil })
		require.NoError(t, err, "cut at %d", cut)
		assert.Equal(t, info.Records, n)
		assert.Less(t, n, int64(100))
		assert.Greater(t, n, int64(0))
		assert.Greater(t, info.Dropped, int64(0))
		assert.Less(t, info.Dropped, int64(len(full))/int64(n)+200, "only the last partial record is dropped")
		assert.NotEmpty(t, info.TailErr)
	}
}

func TestReadResultsBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.bin")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	corrupt := filepath.Join(dir, "corrupt.bin")
	require.NoError(t, os.WriteFile(corrupt, []byte("\x07garbage that is not gob at all"), 0o644))
	badJSON := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(badJSON, []byte("{not json\n"), 0o644))
	emptyDir := t.TempDir()

	for _, tc := range []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "nope.bin"), "nope.bin"},
		{"empty", empty, "empty.bin: file is empty"},
		{"corrupt", corrupt, "corrupt.bin: not a vegeta results file"},
		{"bad json", badJSON, "bad.json: not a vegeta results file (json)"},
		{"folder without results", emptyDir, "holds no results.bin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadResults(tc.path, func(*vegeta.Result) error { return nil })
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestReadResultsJSONAndCSV(t *testing.T) {
	dir := t.TempDir()
	r := vegeta.Result{Attack: "a", Code: 200, Timestamp: time.Unix(100, 0).UTC(), Latency: time.Millisecond, URL: "http://x/", Method: "GET"}
	for _, tc := range []struct {
		name string
		enc  func(f *os.File) vegeta.Encoder
	}{
		{"json", func(f *os.File) vegeta.Encoder { return vegeta.NewJSONEncoder(f) }},
		{"csv", func(f *os.File) vegeta.Encoder { return vegeta.NewCSVEncoder(f) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			f, err := os.Create(p)
			require.NoError(t, err)
			enc := tc.enc(f)
			for range 3 {
				require.NoError(t, enc.Encode(&r))
			}
			require.NoError(t, f.Close())
			var n int
			info, err := ReadResults(p, func(got *vegeta.Result) error {
				n++
				assert.Equal(t, uint16(200), got.Code)
				assert.Equal(t, time.Millisecond, got.Latency)
				return nil
			})
			require.NoError(t, err)
			assert.Equal(t, tc.name, info.Format)
			assert.Equal(t, 3, n)
		})
	}
}
