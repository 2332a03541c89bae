package loadgen

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func recordOne(t *testing.T, rec *Recorder) {
	t.Helper()
	rec.Add(&vegeta.Result{Attack: "baseline/reuse", Code: 200, Timestamp: time.Unix(1, 0), Latency: time.Millisecond, URL: "http://x/"})
	require.NoError(t, rec.Close())
}

// What a recorder creates only its owner may read: results can carry an
// exec driver's environment and its commands' output.
func TestCreateRecorderModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runs", "a")
	path := filepath.Join(dir, ResultsFile)
	rec, err := CreateRecorder(path)
	require.NoError(t, err)
	recordOne(t, rec)
	for p, mode := range map[string]fs.FileMode{dir: 0o700, filepath.Dir(dir): 0o700, path: 0o600} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, mode, st.Mode().Perm(), p)
	}
}

// CreateRecorder never truncates results that are there; ReplaceRecorder
// does, on purpose, and makes the file the owner's alone.
func TestCreateRecorderDoesNotOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), ResultsFile)
	require.NoError(t, os.WriteFile(path, []byte("earlier results"), 0o644))

	_, err := CreateRecorder(path)
	require.ErrorIs(t, err, fs.ErrExist)
	assert.Contains(t, err.Error(), path)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "earlier results", string(b), "untouched")

	rec, err := ReplaceRecorder(path)
	require.NoError(t, err)
	recordOne(t, rec)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), st.Mode().Perm())
	info, err := ReadResults(path, func(*vegeta.Result) error { return nil })
	require.NoError(t, err)
	assert.Equal(t, int64(1), info.Records)
	assert.Zero(t, info.Dropped, "truncated, not overlaid")
}

// lockedBuffer is written by the recorder's clock and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A single result reaches the reader by the clock, with no further result
// to push it out; Stop flushes what came after the last tick.
func TestTimedRecorderFlushesWithoutNewResults(t *testing.T) {
	var out lockedBuffer
	rec := NewJSONRecorder(&out).FlushEvery(20 * time.Millisecond)
	rec.Add(&vegeta.Result{Attack: "baseline/reuse", Code: 200, Timestamp: time.Now()})
	require.Eventually(t, func() bool { return strings.Count(out.String(), "\n") == 1 }, 5*time.Second, 5*time.Millisecond,
		"the result stays buffered: nothing but a new result flushes it")
	rec.Add(&vegeta.Result{Attack: "baseline/reuse", Code: 503, Timestamp: time.Now()})
	require.NoError(t, rec.Stop())
	assert.Equal(t, 2, strings.Count(out.String(), "\n"))
}
