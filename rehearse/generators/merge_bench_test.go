package generators

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
)

// BenchmarkMergeMillion merges one million results of three generators,
// each in completion order (latencies of 1 to 40 ms), into a results file
// in vegeta's gob encoding, as a rehearsal does: ns/op is the merge and
// write of a million, results-MB the file's size.
func BenchmarkMergeMillion(b *testing.B) {
	const n = 1_000_000
	const gens = 3
	rate := 300.0
	interval := time.Duration(float64(time.Second) / (rate / gens))
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		path := filepath.Join(dir, fmt.Sprintf("results-%d.bin", i))
		rec, err := loadgen.CreateRecorder(path)
		if err != nil {
			b.Fatal(err)
		}
		g := []Generator{{Name: "g0", Rate: rate / gens}, {Name: "g1", Rate: rate / gens}, {Name: "g2", Rate: rate / gens}}
		m := NewMerge(g, MergeOptions{Bound: 12 * time.Second, Start: t0, PhaseAt: func(time.Time) string { return "baseline" }}, rec)
		for j := range gens {
			m.Streaming(j, 1)
		}
		res := vegeta.Result{Attack: "baseline/reuse", Code: 200, BytesIn: 120, Method: "GET", URL: "http://10.96.0.10:80/"}
		for k := range n {
			gi := k % gens
			seq := k / gens
			lat := time.Duration(1+(seq*7)%40) * time.Millisecond
			res.Seq = uint64(seq)
			res.Timestamp = t0.Add(time.Duration(seq) * interval)
			res.Latency = lat
			written := res.Timestamp.Add(lat)
			m.Add(gi, &res, written, written)
			if k%3000 == 0 {
				m.Release(written)
			}
		}
		m.Close(t0.Add(time.Duration(n/gens) * interval))
		if err := rec.Close(); err != nil {
			b.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Size())/1e6, "results-MB")
		_ = os.Remove(path)
	}
}

// BenchmarkReadLogLine is one generator's log line read back: the kubelet's
// timestamp parsed and the result decoded from vegeta's JSON.
func BenchmarkReadLogLine(b *testing.B) {
	var buf []byte
	enc := vegeta.NewJSONEncoder(writerFunc(func(p []byte) (int, error) { buf = append(buf, p...); return len(p), nil }))
	r := result(100, 5, loadgen.ProbeReuse)
	r.URL, r.Method = "http://10.96.0.10:80/", "GET"
	if err := enc(r); err != nil {
		b.Fatal(err)
	}
	ln := append([]byte(at(105).Format(time.RFC3339Nano)+" "), buf...)
	b.ReportMetric(float64(len(ln)), "line-bytes")
	out := make(chan line, 1)
	dec := newLineDecoder()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var last time.Time
		dec.handle(ln, 0, &last, out)
		<-out
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
