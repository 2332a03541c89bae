package generators

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/timeline"
)

// The spool keeps complete lines only, each behind the instant it was
// written; a reopened spool (the container restarted) continues the file;
// reads by offset give each line once, a cut answer ending at a line's
// end; the end is told only with the accounting written and read.
func TestSpoolKeepsLinesByOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results")
	sp, err := OpenSpool(path)
	require.NoError(t, err)
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	sp.now = func() time.Time { return at }
	_, err = sp.Write([]byte("{\"a\":1}\n{\"a\":"))
	require.NoError(t, err)
	b, end, err := sp.Read(0)
	require.NoError(t, err)
	assert.Equal(t, "2026-12-02T12:00:00Z {\"a\":1}\n", string(b), "a line's start waits for its end")
	assert.False(t, end)
	_, err = sp.Write([]byte("2}\n"))
	require.NoError(t, err)
	next, _, err := sp.Read(int64(len(b)))
	require.NoError(t, err)
	assert.Equal(t, "2026-12-02T12:00:00Z {\"a\":2}\n", string(next))
	require.NoError(t, sp.Close())

	again, err := OpenSpool(path)
	require.NoError(t, err)
	require.NoError(t, again.WriteEnd([]byte("{\"accounting\":{}}\n")))
	all, end, err := again.Read(0)
	require.NoError(t, err)
	assert.True(t, end, "the accounting is written and read to the end")
	assert.Equal(t, 3, strings.Count(string(all), "\n"), "the reopened spool continues the file: %q", all)
	_, _, err = again.Read(int64(len(all)) + 1)
	assert.ErrorContains(t, err, "outside the spool")

	srv := httptest.NewServer(again)
	defer srv.Close()
	assert.False(t, again.WaitRead(0), "not served yet")
	resp, err := http.Get(srv.URL + ResultsPath + "?from=" + fmt.Sprint(len(b)))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "true", resp.Header.Get(HeaderEnded))
	assert.Equal(t, 2, strings.Count(string(body), "\n"))
	assert.True(t, again.WaitRead(time.Second), "served to its end: the generator may exit")
	resp, err = http.Get(srv.URL + ResultsPath + "?from=x")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestSpoolCutsALongAnswerAtALineEnd(t *testing.T) {
	sp, err := OpenSpool(filepath.Join(t.TempDir(), "results"))
	require.NoError(t, err)
	line := strings.Repeat("x", 1<<20) + "\n"
	for range 5 {
		_, err := sp.Write([]byte(line))
		require.NoError(t, err)
	}
	var off int64
	lines := 0
	for {
		b, _, err := sp.Read(off)
		require.NoError(t, err)
		if len(b) == 0 {
			break
		}
		assert.LessOrEqual(t, len(b), spoolChunk)
		assert.True(t, strings.HasSuffix(string(b), "\n"), "an answer ends at a line's end")
		lines += strings.Count(string(b), "\n")
		off += int64(len(b))
	}
	assert.Equal(t, 5, lines)
}

// A Runner reading a generator's spool through the pod proxy while the
// kubelet's log has lost its first fifteen lines (rotated while a stream
// was cut) and the generator's container restarts halfway (the next one
// appends to the spool): every result reaches the sinks once and in order,
// with the accounting, and the log is never asked for.
func TestRunnerReadsTheSpoolWhateverTheLogLost(t *testing.T) {
	start := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	lines := logLines(t, start, 20)
	path := filepath.Join(t.TempDir(), "results")
	first, err := OpenSpool(path)
	require.NoError(t, err)
	// One flush of ten lines: they share the instant they were written.
	var flush strings.Builder
	for _, l := range lines[:10] {
		flush.WriteString(l[strings.IndexByte(l, ' ')+1:])
	}
	_, err = first.Write([]byte(flush.String()))
	require.NoError(t, err)
	require.NoError(t, first.Close())
	second, err := OpenSpool(path)
	require.NoError(t, err)
	var smu sync.Mutex
	var served *Spool = second
	proxy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		smu.Lock()
		s := served
		smu.Unlock()
		s.ServeHTTP(w, r)
	})
	var logAsked bool
	f := fakeFleet(t, start, func() corev1.Pod { return generatorPod(1) }, func(w http.ResponseWriter, r *http.Request) {
		logAsked = true
		for _, l := range lines[15:] {
			fmt.Fprint(w, l)
		}
	}, proxy)
	go func() {
		for _, l := range lines[10:] {
			_, _ = second.Write([]byte(l[strings.IndexByte(l, ' ')+1:]))
			time.Sleep(20 * time.Millisecond)
		}
		end, _ := json.Marshal(loadgen.StreamEnd{Accounting: loadgen.Accounting{Sent: 20, Scheduled: 20}})
		_ = second.WriteEnd(append(end, '\n'))
	}()
	r := NewRunner(f, "baseline", timeline.EmitterFunc(func(timeline.Event) {}))
	r.Drain = 5 * time.Second
	r.SpoolPoll = 50 * time.Millisecond
	acc, sink := runFor(t, r, 2*time.Second)
	require.Len(t, sink.got, 20, "each result once")
	for i, res := range sink.got {
		assert.Equal(t, uint64(i), res.Seq, "in send order")
	}
	assert.False(t, logAsked, "the log is not needed")
	require.Len(t, acc.Generators, 1)
	assert.Equal(t, int64(20), acc.Generators[0].Received)
	assert.True(t, second.WaitRead(0), "the spool was read to its end")
}
