package loadgen

import (
	"io"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// BenchmarkRecorderAdd measures the cost of streaming one result to disk
// (gob encoding through the buffered writer).
func BenchmarkRecorderAdd(b *testing.B) {
	rec := NewRecorder(io.Discard)
	r := vegeta.Result{Attack: AttackName("baseline", ProbeReuse), Code: 200, URL: "http://10.89.0.2:30080/",
		Method: "GET", Timestamp: time.Now(), Latency: time.Millisecond, BytesIn: 180,
		Headers: map[string][]string{"X-Canary-Node": {"kind-worker"}, "X-Canary-Pod": {"canary-7d9f-abcde"}}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Seq = uint64(i)
		rec.Add(&r)
	}
	if err := rec.Close(); err != nil {
		b.Fatal(err)
	}
}
