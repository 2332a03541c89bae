package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
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
