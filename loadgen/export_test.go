package loadgen

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// writeMixed records results of three phases, interleaved as a phase switch
// never makes them but a merged file might, and one of another tool.
func writeMixed(t *testing.T, path string) {
	t.Helper()
	rec, err := CreateRecorder(path)
	require.NoError(t, err)
	t0 := time.Unix(1_700_000_000, 0)
	phases := []string{"baseline", "upgrade", "after"}
	for i := range 30 {
		rec.Add(&vegeta.Result{
			Attack: AttackName(phases[i/10], Probes()[i%2]), Seq: uint64(i), Code: 200,
			Timestamp: t0.Add(time.Duration(i) * time.Second), Latency: time.Millisecond, URL: "http://x/",
		})
	}
	rec.Add(&vegeta.Result{Code: 200, Timestamp: t0.Add(time.Minute), Latency: time.Millisecond, URL: "http://y/"})
	require.NoError(t, rec.Close())
}

func TestExportPhases(t *testing.T) {
	src := filepath.Join(t.TempDir(), ResultsFile)
	writeMixed(t, src)
	dir := filepath.Join(t.TempDir(), "by-phase")

	got, err := ExportPhases(src, dir, false)
	require.NoError(t, err)
	require.Len(t, got, 4)
	want := []struct {
		phase string
		n     int64
	}{{"baseline", 10}, {"upgrade", 10}, {"after", 10}, {"all", 1}}
	for i, w := range want {
		assert.Equal(t, w.phase, got[i].Phase)
		assert.Equal(t, filepath.Join(dir, w.phase+ExportExt), got[i].Path)
		assert.Equal(t, w.n, got[i].Results)
		var attacks []string
		var last time.Time
		info, err := ReadResults(got[i].Path, func(r *vegeta.Result) error {
			attacks = append(attacks, r.Attack)
			assert.False(t, r.Timestamp.Before(last), "results keep their order")
			last = r.Timestamp
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, "gob", info.Format, "vegeta plot reads it")
		assert.Equal(t, w.n, info.Records)
		for _, a := range attacks {
			require.Equal(t, w.phase, a, "the attack name is the phase, so vegeta plot draws one series per phase")
		}
		st, err := os.Stat(got[i].Path)
		require.NoError(t, err)
		assert.Equal(t, ResultsFileMode, st.Mode().Perm())
	}

	// A second export into the same folder is refused and changes nothing.
	before, err := os.ReadFile(got[0].Path)
	require.NoError(t, err)
	_, err = ExportPhases(src, dir, false)
	require.ErrorIs(t, err, ErrExportDirNotEmpty)
	assert.Contains(t, err.Error(), dir)
	after, err := os.ReadFile(got[0].Path)
	require.NoError(t, err)
	assert.Equal(t, before, after)

	// force overwrites: the counts stay the same, not doubled.
	again, err := ExportPhases(src, dir, true)
	require.NoError(t, err)
	assert.Equal(t, got, again)

	// An empty folder that exists is fine; a file is not a folder.
	empty := t.TempDir()
	_, err = ExportPhases(src, empty, false)
	require.NoError(t, err)
	_, err = ExportPhases(src, src, true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a folder")
}

func TestExportName(t *testing.T) {
	taken := map[string]bool{}
	for _, tc := range []struct{ phase, want string }{
		{"upgrade", "upgrade.bin"},
		{"a b", "a_b.bin"},
		{"a_b", "a_b-2.bin"},
		{"..", "_...bin"},
		{"ünï", "_n_.bin"},
	} {
		assert.Equal(t, tc.want, exportName(tc.phase, taken), tc.phase)
	}
}
