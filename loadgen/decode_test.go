package loadgen

import (
	"bytes"
	"encoding/gob"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// writeResults records n results the way a rehearsal does and returns the
// file's bytes.
func writeResults(t *testing.T, n int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), ResultsFile)
	rec, err := CreateRecorder(path)
	require.NoError(t, err)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range n {
		r := vegeta.Result{
			Attack: AttackName("baseline", ProbeReuse), Seq: uint64(i), Code: 200,
			Timestamp: base.Add(time.Duration(i) * 10 * time.Millisecond), Latency: time.Duration(1000+i%977) * time.Microsecond,
			URL: "http://10.89.0.2:30080/", Method: "GET", BytesIn: 180,
			Headers: map[string][]string{"X-Canary-Node": {"kind-worker"}},
		}
		if i%97 == 0 {
			r.Code, r.Error = 503, "503 Service Unavailable"
		}
		rec.Add(&r)
	}
	require.NoError(t, rec.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// readAll reads a results file held in b and returns what it found with the
// sequence numbers of the records read.
func readAll(t *testing.T, b []byte) (ReadInfo, []uint64, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "results.bin")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	var seqs []uint64
	info, err := ReadResults(p, func(r *vegeta.Result) error {
		seqs = append(seqs, r.Seq)
		return nil
	})
	return info, seqs, err
}

func overwrite(b []byte, at, n int, random bool) []byte {
	out := bytes.Clone(b)
	rng := rand.New(rand.NewPCG(uint64(at), uint64(n)))
	for i := at; i < at+n && i < len(out); i++ {
		if random {
			out[i] = byte(rng.IntN(256))
		} else {
			out[i] = 0
		}
	}
	return out
}

// Bytes overwritten in the middle of a results file are corruption, not a
// cut tail: reading goes on after them and counts what was lost.
func TestReadResultsCorruptMiddle(t *testing.T) {
	const n = 10000
	full := writeResults(t, n)
	mean := len(full) / n
	for _, tc := range []struct {
		name   string
		at, n  int
		random bool
		// patch is written at the start of record n/3 (plus patchAt), not
		// n bytes at at.
		patch   []byte
		patchAt int
	}{
		{name: "400 random bytes in the middle", at: len(full) / 2, n: 400, random: true},
		{name: "400 zero bytes in the middle", at: len(full) / 2, n: 400},
		{name: "5000 random bytes near the end", at: len(full) * 9 / 10, n: 5000, random: true},
		// The type id of a record (0xFF 0x80 for Result).
		{name: "a record's type id", patch: []byte{0x01, 0x00}, patchAt: 1},
		// A length prefix claiming 100,000 bytes, which the file holds.
		{name: "a record claiming to be long", patch: []byte{0xFD, 0x01, 0x86, 0xA0}},
		// A length prefix claiming more than the file holds.
		{name: "a record claiming to run past the end", patch: []byte{0xFC, 0x7F, 0xFF, 0xFF, 0xFF}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := overwrite(full, tc.at, tc.n, tc.random)
			if tc.patch != nil {
				tc.at, tc.n = recordStart(t, full, n/3), len(tc.patch)
				bad = bytes.Clone(full)
				copy(bad[tc.at+tc.patchAt:], tc.patch)
				if tc.patchAt == 1 {
					require.Equal(t, []byte{0xFF, 0x80}, full[tc.at+1:tc.at+3], "Result's type id (64) follows a one-byte length")
				}
			}
			info, seqs, err := readAll(t, bad)
			require.NoError(t, err)
			checkCorrupt(t, info, seqs, n, tc.at+mean)
			assert.LessOrEqual(t, info.CorruptBytes, int64(tc.n+2*mean+16), "no more than the damaged records are skipped")
		})
	}
}

// checkCorrupt checks what reading a file of n records damaged before at
// found.
func checkCorrupt(t *testing.T, info ReadInfo, seqs []uint64, n, at int) {
	t.Helper()
	t.Logf("records %d, corrupt %d bytes in %d spans %v, lost about %d (%.3f%%): %s",
		info.Records, info.CorruptBytes, info.CorruptSpans, info.Corrupt, info.LostRecords, info.LostFraction()*100, info.CorruptErr)
	assert.Equal(t, int64(len(seqs)), info.Records)
	assert.Zero(t, info.Dropped, "corruption is not a cut tail")
	assert.Empty(t, info.TailErr)
	require.Positive(t, info.CorruptBytes)
	require.NotEmpty(t, info.Corrupt)
	assert.LessOrEqual(t, info.Corrupt[0].Offset, int64(at), "the first span starts at the damage (a damaged record may still decode)")
	assert.NotEmpty(t, info.CorruptErr)
	assert.Positive(t, info.LostRecords)
	missing := int64(n) - info.Records
	assert.Positive(t, missing)
	assert.InDelta(t, missing, info.LostRecords, float64(max(2, missing/2)), "the lost count is about the records missing")
	assert.Greater(t, info.Records, int64(n)*98/100, "reading went on after the damage")
	// Every record read is one that was written, in order.
	for i := 1; i < len(seqs); i++ {
		require.Less(t, seqs[i-1], seqs[i], "record %d", i)
	}
	require.Less(t, seqs[len(seqs)-1], uint64(n))
}

// recordStart is the offset of the i-th value record of a results file.
func recordStart(t *testing.T, b []byte, i int) int {
	t.Helper()
	g := &gobReader{src: newWindow(bytes.NewReader(b), int64(len(b))), info: &ReadInfo{}}
	off, err := g.prelude()
	require.NoError(t, err)
	for range i {
		f, err := g.frameAt(off)
		require.NoError(t, err)
		off = f.end()
	}
	return int(off)
}

// A writer killed mid-record leaves a cut tail, whatever byte it stopped
// at, and that is never corruption.
func TestReadResultsCutAnywhereInLastRecord(t *testing.T) {
	full := writeResults(t, 200)
	last := recordStart(t, full, 199)
	for cut := last; cut < len(full); cut++ {
		info, seqs, err := readAll(t, full[:cut])
		require.NoError(t, err, "cut at %d", cut)
		assert.Equal(t, int64(199), info.Records, "cut at %d", cut)
		assert.Len(t, seqs, 199)
		assert.Equal(t, int64(cut-last), info.Dropped, "cut at %d", cut)
		if cut > last {
			assert.NotEmpty(t, info.TailErr, "cut at %d", cut)
		}
		assert.Zero(t, info.CorruptBytes, "cut at %d", cut)
		assert.Zero(t, info.LostRecords, "cut at %d", cut)
	}
}

// Damage and a cut tail in one file are both told.
func TestReadResultsCorruptAndCut(t *testing.T) {
	full := writeResults(t, 1000)
	bad := overwrite(full, len(full)/2, 100, true)
	info, seqs, err := readAll(t, bad[:len(bad)-7])
	require.NoError(t, err)
	assert.Positive(t, info.CorruptBytes)
	assert.Positive(t, info.LostRecords)
	assert.Positive(t, info.Dropped)
	assert.NotEmpty(t, info.TailErr)
	assert.Equal(t, int64(len(seqs)), info.Records)
	assert.Equal(t, uint64(998), seqs[len(seqs)-1], "read up to the record before the cut one")
}

// A whole last record that does not decode is corrupt: a killed writer
// leaves a prefix of a record, not a whole one that is wrong.
func TestReadResultsCorruptLastRecord(t *testing.T) {
	full := writeResults(t, 100)
	last := recordStart(t, full, 99)
	bad := overwrite(full, last+5, len(full)-last-5, false)
	info, _, err := readAll(t, bad)
	require.NoError(t, err)
	assert.Equal(t, int64(99), info.Records)
	assert.Zero(t, info.Dropped)
	assert.Equal(t, int64(len(full)-last), info.CorruptBytes)
	assert.Equal(t, int64(1), info.LostRecords)
}

// Some other type's gob stream is not results, and reading it does not try
// every record for long.
func TestReadResultsOtherGob(t *testing.T) {
	type other struct {
		Name  string
		Count int
	}
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	for i := range 20000 {
		require.NoError(t, enc.Encode(other{Name: "x", Count: i}))
	}
	started := time.Now()
	_, _, err := readAll(t, buf.Bytes())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a vegeta results file (gob)")
	assert.Less(t, time.Since(started), 10*time.Second)
}

// A corrupt line of JSON is skipped and counted; reading goes on.
func TestReadResultsCorruptLine(t *testing.T) {
	var buf bytes.Buffer
	enc := vegeta.NewJSONEncoder(&buf)
	for i := range 5 {
		require.NoError(t, enc.Encode(&vegeta.Result{Attack: "a", Seq: uint64(i), Code: 200, Timestamp: time.Unix(100, 0).UTC(), Latency: time.Millisecond, URL: "http://x/"}))
	}
	lines := bytes.SplitAfter(buf.Bytes(), []byte("\n"))
	lines[2] = []byte("{\"attack\": broken\n")
	info, seqs, err := readAll(t, bytes.Join(lines, nil))
	require.NoError(t, err)
	assert.Equal(t, []uint64{0, 1, 3, 4}, seqs)
	assert.Equal(t, int64(1), info.LostRecords)
	assert.Equal(t, int64(1), info.CorruptSpans)
	assert.Equal(t, int64(len(lines[2])), info.CorruptBytes)
	assert.Equal(t, int64(len(lines[0])+len(lines[1])), info.Corrupt[0].Offset)
	assert.Zero(t, info.Dropped)
	assert.InDelta(t, 0.2, info.LostFraction(), 1e-9)
}

func TestLostFraction(t *testing.T) {
	assert.Zero(t, ReadInfo{Records: 10}.LostFraction())
	assert.InDelta(t, 0.01, ReadInfo{Records: 990, LostRecords: 10}.LostFraction(), 1e-12)
	assert.Equal(t, 1.0, ReadInfo{LostRecords: 3}.LostFraction())
}
