package ledger

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/report"
	"github.com/rehearse/rehearse/scenarios"
)

var t0 = time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// write is a write sent at s seconds, acknowledged after lat seconds
// (lat < 0: not acknowledged).
func write(seq uint64, phase string, s, lat float64) Write {
	w := Write{Seq: seq, Phase: phase, Sent: at(s)}
	if lat >= 0 {
		w.Acked = at(s + lat)
	}
	return w
}

func rb(after string, s float64, keys ...[2]int64) ReadBack {
	return ReadBack{After: after, Started: at(s), Ended: at(s + 0.1), Keys: keys, Count: len(keys)}
}

func TestWriterRequestCarriesItsKey(t *testing.T) {
	w := &Writer{}
	tgt := w.Target([]string{"http://10.0.0.2:31000/"}, 20)
	assert.Equal(t, scenarios.LedgerTarget, tgt.Name)
	assert.Equal(t, 20.0, tgt.Rate)
	vt := tgt.Request("http://10.0.0.2:31000/")
	assert.Equal(t, "http://10.0.0.2:31000/v3/kv/put#ledger/0000000001", vt.URL)
	var body map[string]string
	require.NoError(t, json.Unmarshal(vt.Body, &body))
	k, _ := base64.StdEncoding.DecodeString(body["key"])
	v, _ := base64.StdEncoding.DecodeString(body["value"])
	assert.Equal(t, "ledger/0000000001", string(k))
	assert.Equal(t, "1", string(v))
	req, err := vt.Request()
	require.NoError(t, err)
	assert.Equal(t, "/v3/kv/put", req.URL.Path, "the fragment is not sent")

	r := &vegeta.Result{URL: tgt.Request("http://x/").URL}
	seq, ok := SeqOfResult(r)
	assert.True(t, ok)
	assert.Equal(t, uint64(2), seq)
}

func TestJudgePassesWhenEveryAckIsReadBack(t *testing.T) {
	ws := []Write{write(1, "baseline", 0, 0.01), write(2, "baseline", 1, 0.01), write(3, "upgrade", 2, -1), write(4, "after", 3, 0.02)}
	s := Judge(ws, []ReadBack{
		rb("baseline", 1.5, [2]int64{1, 10}, [2]int64{2, 11}),
		rb(AfterEnd, 10, [2]int64{1, 10}, [2]int64{2, 11}, [2]int64{3, 12}, [2]int64{4, 13}),
	})
	c := s.Check()
	assert.Equal(t, report.Pass, c.Outcome, c.Message)
	assert.Equal(t, 3, s.Acked)
	assert.Equal(t, 1, s.Applied, "write 3 timed out but was applied")
	assert.Contains(t, c.Message, "baseline 2 of 2")
	assert.Contains(t, c.Message, "2 read-backs")
}

func TestJudgeFailsOnALostWrite(t *testing.T) {
	ws := []Write{write(1, "baseline", 0, 0.01), write(2, "upgrade", 1, 0.01), write(3, "upgrade", 2, 0.01)}
	s := Judge(ws, []ReadBack{
		rb("uncordon kind-worker", 1.5, [2]int64{2, 11}),
		rb(AfterEnd, 10, [2]int64{2, 11}, [2]int64{3, 12}),
	})
	c := s.Check()
	assert.Equal(t, report.Fail, c.Outcome)
	assert.Equal(t, RuleLostWrites, c.Name)
	assert.Contains(t, c.Message, "1 acknowledged writes lost: ledger/0000000001 first missing in the read-back after uncordon kind-worker")
	assert.Equal(t, map[uint64]int{1: 0}, s.Lost)
}

func TestJudgeIgnoresWritesAcknowledgedAfterTheReadBackBegan(t *testing.T) {
	ws := []Write{write(1, "baseline", 0, 3)} // acknowledged at 3 s
	s := Judge(ws, []ReadBack{rb("baseline", 1), rb(AfterEnd, 5, [2]int64{1, 10})})
	assert.Equal(t, report.Pass, s.Check().Outcome)
}

func TestJudgeFailsWithoutAFinalReadBack(t *testing.T) {
	ws := []Write{write(1, "baseline", 0, 0.01)}
	s := Judge(ws, []ReadBack{{After: AfterEnd, Started: at(5), Error: "connection refused"}})
	c := s.Check()
	assert.Equal(t, report.Fail, c.Outcome)
	assert.Contains(t, c.Message, "could not be read back after the load ended: connection refused")

	s = Judge(ws, []ReadBack{rb("baseline", 2, [2]int64{1, 10})})
	assert.Equal(t, report.Inconclusive, s.Check().Outcome, "interrupted: no read-back at the end")
}

func TestJudgeFindsWritesOutOfOrder(t *testing.T) {
	// Write 2 was sent after write 1 was acknowledged, yet holds an older
	// revision.
	ws := []Write{write(1, "upgrade", 0, 0.1), write(2, "upgrade", 1, 0.1), write(3, "upgrade", 1.05, 0.1)}
	s := Judge(ws, []ReadBack{rb(AfterEnd, 5, [2]int64{1, 20}, [2]int64{2, 15}, [2]int64{3, 21})})
	c := s.Check()
	assert.Equal(t, report.Fail, c.Outcome)
	assert.Equal(t, 1, s.Disorder)
	assert.Contains(t, c.Message, "ledger/0000000002 (revision 15) was sent after ledger/0000000001 (revision 20) was acknowledged")

	// Overlapping writes may land in either order.
	ws = []Write{write(1, "upgrade", 0, 1), write(2, "upgrade", 0.5, 0.1)}
	s = Judge(ws, []ReadBack{rb(AfterEnd, 5, [2]int64{1, 20}, [2]int64{2, 15})})
	assert.Equal(t, report.Pass, s.Check().Outcome, s.Check().Message)
}

// TestReaderReadsEtcdsRangeAnswer reads through a server that answers as
// etcd's JSON gateway does, after a first entry point that is down, and
// records the read-back.
func TestReaderReadsEtcdsRangeAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v3/kv/range" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		var q map[string]any
		_ = json.NewDecoder(r.Body).Decode(&q)
		if q["keys_only"] != true {
			http.Error(w, "want keys_only", http.StatusBadRequest)
			return
		}
		k := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
		_, _ = w.Write([]byte(`{"header":{"revision":"40"},"kvs":[{"key":"` + k("ledger/0000000001") + `","create_revision":"12","mod_revision":"12","version":"1"},` +
			`{"key":"` + k("ledger/0000000002") + `","create_revision":"13","mod_revision":"13","version":"1"}],"count":"2"}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	rd := &Reader{URLs: func() []string { return []string{"http://127.0.0.1:1/", srv.URL + "/"} }, Path: filepath.Join(dir, ReadBacksFile)}
	got := rd.Read(t.Context(), "baseline")
	assert.Empty(t, got.Error)
	assert.Equal(t, [][2]int64{{1, 12}, {2, 13}}, got.Keys)

	rd.URLs = func() []string { return []string{"http://127.0.0.1:1/"} }
	bad := rd.Read(t.Context(), AfterEnd)
	assert.True(t, strings.Contains(bad.Error, "127.0.0.1:1"), bad.Error)

	rd.URLs = func() []string { return nil }
	assert.Equal(t, "no entry point to read from", rd.Read(t.Context(), AfterEnd).Error)

	rbs, err := ReadReadBacks(rd.Path)
	require.NoError(t, err)
	require.Len(t, rbs, 3)
	assert.Equal(t, 2, rbs[0].Count)
	assert.NotEmpty(t, rbs[1].Error)
}

func TestWritesPicksTheLedgerStream(t *testing.T) {
	ok := &vegeta.Result{Attack: loadgen.AttackName("upgrade", loadgen.TargetProbe("ledger")), URL: "http://x/v3/kv/put#ledger/0000000007",
		Code: 200, Timestamp: t0, Latency: time.Second}
	failed := &vegeta.Result{Attack: ok.Attack, URL: "http://x/v3/kv/put#ledger/0000000008", Code: 503, Error: "503", Timestamp: t0}
	canary := &vegeta.Result{Attack: loadgen.AttackName("upgrade", loadgen.ProbeReuse), URL: "http://x/", Code: 200, Timestamp: t0}
	ws := Writes([]*vegeta.Result{ok, failed, canary})
	require.Len(t, ws, 2)
	assert.Equal(t, Write{Seq: 7, Phase: "upgrade", Sent: t0, Acked: t0.Add(time.Second)}, ws[0])
	assert.True(t, ws[1].Acked.IsZero())
}
