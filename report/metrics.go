package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/rehearse/rehearse/loadgen"

	"github.com/rehearse/rehearse/rehearse/runfolder"
)

// SchemaVersion is the version of the JSON documents this package writes
// (summary.json and report.json). It changes only when a field changes
// meaning or goes away; new fields may appear within a version.
const SchemaVersion = 1

// SummaryFile is the name of the summary in a run folder.
const SummaryFile = runfolder.Summary

// Metrics are the closed statistics of one recording.
type Metrics struct {
	SchemaVersion int `json:"schemaVersion"`
	// Source is the file or folder the metrics were read from, if any.
	Source string `json:"source,omitempty"`
	// Read tells what reading the results file found (records, bytes dropped).
	Read *loadgen.ReadInfo `json:"read,omitempty"`
	// Accounting is the load generator's schedule accounting, when known.
	Accounting *loadgen.Accounting `json:"accounting,omitempty"`
	Phases     []*Phase            `json:"phases"`
	// Windows are per-second windows, when kept.
	Windows []Window `json:"windows,omitempty"`
}

// Phase returns the named phase, or nil.
func (m *Metrics) Phase(name string) *Phase {
	for _, p := range m.Phases {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Phase holds the statistics of the requests sent while one phase was in force.
type Phase struct {
	Name    string    `json:"name"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Seconds float64   `json:"seconds"`
	// Requests = Successes + Failures. A success is a 2xx/3xx answer.
	Requests     int64   `json:"requests"`
	Successes    int64   `json:"successes"`
	Failures     int64   `json:"failures"`
	SuccessRatio float64 `json:"successRatio"`
	// Rate is the achieved request rate per second.
	Rate float64 `json:"rate"`
	// Codes counts answers by HTTP status ("0" when no answer came).
	Codes map[string]int64 `json:"codes"`
	// Classes counts failures by class: refused, reset, timeout, 5xx, 4xx, other.
	Classes map[string]int64 `json:"errorClasses"`
	// Errors are the most frequent error messages.
	Errors []ErrorCount `json:"errors,omitempty"`
	// Latency is over successful requests.
	Latency LatencySummary `json:"latency"`
	Outages OutageSummary  `json:"outages"`
	Probes  []ProbeSummary `json:"probes"`
	Targets []CountSummary `json:"targets"`
	// Nodes counts requests by the node that served them (from the canary's
	// X-Canary-Node header), when known.
	Nodes []CountSummary `json:"nodes,omitempty"`
	// FailureWindows are the outages of entry points and nodes and the
	// bursts of streams, entry points and nodes that started in the phase
	// (the streams' outages are in Outages), in time order, at most
	// MaxListedWindows (those with most failures).
	FailureWindows []Outage `json:"failureWindows,omitempty"`

	// sample is a uniform sample of successful latencies (ns) for the tests.
	sample []float64
}

// Sample returns the phase's uniform sample of successful latencies, in
// nanoseconds. It is not part of the JSON document.
func (p *Phase) Sample() []float64 { return p.sample }

// LatencySummary holds latency statistics in milliseconds.
type LatencySummary struct {
	Count  int64   `json:"count"`
	MinMs  float64 `json:"minMs"`
	MeanMs float64 `json:"meanMs"`
	P50Ms  float64 `json:"p50Ms"`
	P90Ms  float64 `json:"p90Ms"`
	P95Ms  float64 `json:"p95Ms"`
	P99Ms  float64 `json:"p99Ms"`
	P999Ms float64 `json:"p999Ms"`
	MaxMs  float64 `json:"maxMs"`
}

// OutageSummary describes spans of consecutive failure.
type OutageSummary struct {
	Count          int64    `json:"count"`
	LongestSeconds float64  `json:"longestSeconds"`
	TotalSeconds   float64  `json:"totalSeconds"`
	Windows        []Outage `json:"windows,omitempty"`
}

// ProbeSummary is a phase's statistics for one probe kind.
type ProbeSummary struct {
	Probe                string         `json:"probe"`
	Requests             int64          `json:"requests"`
	Failures             int64          `json:"failures"`
	SuccessRatio         float64        `json:"successRatio"`
	Latency              LatencySummary `json:"latency"`
	Outages              int64          `json:"outages"`
	LongestOutageSeconds float64        `json:"longestOutageSeconds"`

	// sample is a uniform sample of the stream's successful latencies (ns),
	// at most StreamSampleSize; not part of the JSON document.
	sample []float64
}

// CountSummary counts requests and failures of one target or node, and
// its outages (spans of consecutive failures of its own requests).
type CountSummary struct {
	Name                 string  `json:"name"`
	Requests             int64   `json:"requests"`
	Failures             int64   `json:"failures"`
	Outages              int64   `json:"outages,omitempty"`
	LongestOutageSeconds float64 `json:"longestOutageSeconds,omitempty"`
}

// ErrorCount counts one error message.
type ErrorCount struct {
	Error string `json:"error"`
	Count int64  `json:"count"`
}

// LoadOptions configure Load.
type LoadOptions struct {
	// Phase, when set, puts every result of the recording in this one phase.
	Phase string
}

// Load reads a results file or run folder into metrics, windows kept. A run
// folder's summary.json, when present, supplies the load accounting.
//
// Damage to the file is told apart as loadgen.ReadResults does. A file cut
// short (a writer killed mid-record) yields every whole record it holds;
// Read.Dropped says how many bytes were left over, and the verdict is
// unaffected. Corruption before the end is skipped and counted in
// Read.CorruptBytes and Read.LostRecords; a report built from the metrics
// (JudgeRun, Compare) then carries a check "results file <path>" that is
// inconclusive when the records lost exceed Rules.LostTolerance.
func Load(path string, opts LoadOptions) (*Metrics, error) {
	co := CollectorOptions{KeepWindows: true}
	if opts.Phase != "" {
		co.PhaseOf = func(*vegeta.Result) string { return opts.Phase }
	}
	c := NewCollector(co)
	info, err := loadgen.ReadResults(path, func(r *vegeta.Result) error {
		c.Add(r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	m := c.Close()
	m.Source = path
	m.Read = &info
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		acc, err := readAccounting(filepath.Join(path, SummaryFile))
		if err != nil {
			return nil, err
		}
		m.Accounting = acc
	}
	return m, nil
}

func readAccounting(path string) (*loadgen.Accounting, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s struct {
		Accounting *loadgen.Accounting `json:"accounting"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s.Accounting, nil
}

// WriteSummary writes metrics as the run folder's summary.json.
func WriteSummary(dir string, m *Metrics) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, SummaryFile), append(b, '\n'), runfolder.FileMode)
}
