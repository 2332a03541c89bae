package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
	"github.com/rehearse/rehearse/rehearse/generators"
)

// An in-cluster generator is `rehearse load --out -`: every result a line
// of vegeta's JSON on standard output, then its own accounting; stopped
// (its pod deleted) it still ends with the accounting, and it starts at
// --start-at, not before.
func TestLoadStreamsResultsThenItsAccounting(t *testing.T) {
	addr := serveCanary(t)
	start := time.Now().Add(700 * time.Millisecond).UTC()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(2*time.Second, cancel)
	r := run(t, ctx, "load", "--out", "-", "--duration", "0", "--rate", "50", "--target", "http://"+addr+"/",
		"--start-at", start.Format(time.RFC3339Nano))
	require.Equal(t, 0, r.code, r.err)

	sc := bufio.NewScanner(strings.NewReader(r.out))
	var n int64
	var end *loadgen.StreamEnd
	for sc.Scan() {
		b := sc.Bytes()
		require.Nil(t, end, "the accounting is the last line")
		if bytes.HasPrefix(b, []byte(loadgen.StreamAccountingKey)) {
			end = &loadgen.StreamEnd{}
			require.NoError(t, json.Unmarshal(b, end))
			continue
		}
		var res vegeta.Result
		require.NoError(t, vegeta.NewJSONDecoder(bytes.NewReader(append(b, '\n')))(&res), string(b))
		assert.False(t, res.Timestamp.Before(start), "nothing sent before --start-at")
		assert.Equal(t, 200, int(res.Code))
		n++
	}
	require.NotNil(t, end, "stopped, it still says what it sent")
	assert.Equal(t, n, end.Accounting.Sent)
	assert.InDelta(t, 65, n, 15, "50/s for about 1.3 s")
	assert.Empty(t, r.err, "nothing on stderr: the log is the results")
}

func TestLoadStartAtMustBeAnInstant(t *testing.T) {
	r := run(t, context.Background(), "load", "--out", "-", "--target", "http://127.0.0.1:1/", "--start-at", "soon")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.err, "--start-at \"soon\"")
}

// --host sets every request's Host header (a generator sending through an
// ingress controller); one that is no Host header is bad input.
func TestLoadHost(t *testing.T) {
	hosts := make(chan string, 1000)
	srv := &http.Server{Handler: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { hosts <- r.Host })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	r := run(t, context.Background(), "load", "--out", "-", "--duration", "1s", "--rate", "20",
		"--host", "canary.rehearse.test", "--target", "http://"+ln.Addr().String()+"/")
	require.Equal(t, 0, r.code, r.err)
	close(hosts)
	n := 0
	for h := range hosts {
		assert.Equal(t, "canary.rehearse.test", h)
		n++
	}
	assert.GreaterOrEqual(t, n, 15, "20/s for 1 s")

	r = run(t, context.Background(), "load", "--out", "-", "--host", "a b", "--target", "http://127.0.0.1:1/")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.err, `--host: "a b" is not a valid Host header`)
}

// With --spool and --serve, the generator keeps every line in its spool
// too, each behind the instant it was written, and once its accounting is
// written it waits until the spool was read to its end before exiting.
func TestLoadSpoolsAndServesUntilReadToTheEnd(t *testing.T) {
	addr := serveCanary(t)
	spool := filepath.Join(t.TempDir(), "results")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serve := ln.Addr().String()
	require.NoError(t, ln.Close())
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	type outcome struct {
		r    result
		took time.Time
	}
	done := make(chan outcome, 1)
	go func() {
		r := run(t, ctx, "load", "--out", "-", "--duration", "0", "--rate", "50", "--target", "http://"+addr+"/",
			"--spool", spool, "--serve", serve)
		done <- outcome{r, time.Now()}
	}()
	// Read the spool as rehearse does, by offset, until its end, from
	// two seconds after the load stopped: the generator must still serve.
	began := time.Now()
	time.Sleep(3 * time.Second)
	var got bytes.Buffer
	var readAt time.Time
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(fmt.Sprintf("http://%s%s?from=%d", serve, generators.ResultsPath, got.Len()))
		if err == nil {
			_, _ = got.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.Header.Get(generators.HeaderEnded) == "true" {
				readAt = time.Now()
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.False(t, readAt.IsZero(), "the spool's end was served")
	o := <-done
	require.Equal(t, 0, o.r.code, o.r.err)
	assert.Greater(t, o.took.Sub(began), 3*time.Second, "the generator waited for its spool to be read")
	assert.Less(t, o.took.Sub(readAt), 5*time.Second, "and exited once it was, not %s later", generators.Linger)
	lines := strings.Split(strings.TrimSuffix(got.String(), "\n"), "\n")
	stdout := strings.Split(strings.TrimSuffix(o.r.out, "\n"), "\n")
	require.Len(t, lines, len(stdout), "the spool holds what standard output does")
	for i, l := range lines {
		stamp, rest, ok := strings.Cut(l, " ")
		require.True(t, ok, l)
		_, err := time.Parse(time.RFC3339Nano, stamp)
		require.NoError(t, err, l)
		assert.Equal(t, stdout[i], rest)
	}
	assert.True(t, strings.HasPrefix(lines[len(lines)-1][strings.IndexByte(lines[len(lines)-1], ' ')+1:], loadgen.StreamAccountingKey))
}

func TestLoadSpoolOnlyWithStreamedResults(t *testing.T) {
	r := run(t, context.Background(), "load", "--out", t.TempDir(), "--target", "http://127.0.0.1:1/", "--spool", "x")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.err, "--spool and --serve: only with --out -")
	r = run(t, context.Background(), "load", "--out", "-", "--target", "http://127.0.0.1:1/", "--serve", ":0")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.err, "--serve: needs --spool")
}
