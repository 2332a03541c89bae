package report

import (
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"
)

// BenchmarkCollectorAdd measures the live aggregation cost of one result.
func BenchmarkCollectorAdd(b *testing.B) {
	c := NewCollector(CollectorOptions{ReorderWindow: 2 * time.Second})
	start := time.Now()
	r := vegeta.Result{Attack: loadgen.AttackName("baseline", loadgen.ProbeReuse), Code: 200, URL: "http://x/"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Timestamp = start.Add(time.Duration(i) * 500 * time.Microsecond)
		r.Latency = time.Duration(500+i%1000) * time.Microsecond
		if i%1000 == 0 {
			r.Code, r.Error = 503, "503 Service Unavailable"
		} else {
			r.Code, r.Error = 200, ""
		}
		c.Add(&r)
	}
	c.Close()
}
