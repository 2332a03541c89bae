package runfolder

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateIsUniqueAndPrivate(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "runs")
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	const n = 20
	dirs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			f, err := Create(parent, "default", now)
			require.NoError(t, err)
			dirs[i] = f.Dir
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, d := range dirs {
		assert.False(t, seen[d], "two rehearsals in the same second share %s", d)
		seen[d] = true
		assert.Contains(t, filepath.Base(d), "default-20261201T100000Z-")
		st, err := os.Stat(d)
		require.NoError(t, err)
		assert.Equal(t, DirMode, st.Mode().Perm())
	}
}

func TestFilesAreNewAndPrivate(t *testing.T) {
	f := Folder{Dir: t.TempDir()}
	w, err := f.Create(Timeline)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	st, err := os.Stat(f.Path(Timeline))
	require.NoError(t, err)
	assert.Equal(t, FileMode, st.Mode().Perm())
	_, err = f.Create(Timeline)
	assert.Error(t, err, "an existing file is never truncated")

	require.NoError(t, f.WriteFile(Run, []byte("one")))
	require.NoError(t, f.WriteFile(Run, []byte("two")))
	b, err := os.ReadFile(f.Path(Run))
	require.NoError(t, err)
	assert.Equal(t, "two", string(b))
	st, err = os.Stat(f.Path(Run))
	require.NoError(t, err)
	assert.Equal(t, FileMode, st.Mode().Perm())
	entries, _ := os.ReadDir(f.Dir)
	assert.Len(t, entries, 2, "no temporary file left behind")
}

func TestUseRefusesAFolderThatHoldsARehearsal(t *testing.T) {
	dir := t.TempDir()
	_, err := Use(dir, false)
	require.NoError(t, err, "an empty folder is fine")
	require.NoError(t, os.WriteFile(filepath.Join(dir, Results), nil, 0o600))
	_, err = Use(dir, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), Results)
	_, err = Use(dir, true)
	assert.NoError(t, err, "--force takes it")
}
