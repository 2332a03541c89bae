package timeline

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecorderWritesAndReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), File)
	r, err := Create(path)
	require.NoError(t, err)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r.Emit(Event{Time: t0.Add(2 * time.Second), Source: SourceDriver, Kind: "drain", Subject: "kind-worker", Message: "draining"})
	r.Emit(Event{Time: t0, Source: SourcePhase, Kind: "start", Subject: "baseline", Message: "baseline"})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Emit(Event{Time: t0.Add(time.Duration(i) * time.Millisecond), Source: SourceChecklist, Kind: "ready", Message: "x"})
		}()
	}
	wg.Wait()
	require.NoError(t, r.Close())

	got, err := Read(path)
	require.NoError(t, err)
	require.Len(t, got, 22)
	assert.Equal(t, "baseline", got[0].Subject)
	assert.Equal(t, "kind-worker", got[21].Subject)
	assert.Equal(t, r.Events(), got)
}

func TestReadCutShortAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	cut := filepath.Join(dir, "cut.jsonl")
	require.NoError(t, os.WriteFile(cut, []byte(`{"time":"2026-01-01T00:00:00Z","source":"phase","kind":"start","message":"a"}`+"\n"+`{"time":"2026-01-01T00:0`), 0o644))
	got, err := Read(cut)
	require.NoError(t, err)
	assert.Len(t, got, 1)

	bad := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte("nope\n"+`{"time":"2026-01-01T00:00:00Z","source":"phase","kind":"start","message":"a"}`+"\n"), 0o644))
	_, err = Read(bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad.jsonl:1")
}

func TestCreateRefusesAnExistingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, File)
	r, err := Create(path)
	require.NoError(t, err)
	r.Emit(Event{Source: SourcePhase, Kind: "start", Message: "first run"})
	require.NoError(t, r.Close())
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "a timeline is its owner's only")

	_, err = Create(path)
	require.Error(t, err, "a second Create must not truncate the first run's timeline")
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "already exists")
	got, err := Read(path)
	require.NoError(t, err)
	require.Len(t, got, 1, "the first run's timeline is intact")
	assert.Equal(t, "first run", got[0].Message)

	// A symbolic link planted at the path is not followed.
	target := filepath.Join(dir, "elsewhere")
	link := filepath.Join(dir, "link.jsonl")
	require.NoError(t, os.Symlink(target, link))
	_, err = Create(link)
	require.Error(t, err)
	_, err = os.Stat(target)
	assert.True(t, os.IsNotExist(err), "Create wrote through a symbolic link")
}
