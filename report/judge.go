package report

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Outcome of a rule or a whole judgement.
type Outcome string

const (
	Pass         Outcome = "pass"
	Fail         Outcome = "fail"
	Inconclusive Outcome = "inconclusive"
)

// Rule names.
const (
	RuleMinSamples = "min-samples"
	RuleErrorRate  = "error-rate"
	RuleLatency    = "latency-p99"
	RuleOutage     = "outage"
)

// Default thresholds of the judge.
const (
	DefaultMinSamples           = 500
	DefaultMaxErrorRateIncrease = 0.001 // 0.1 percentage point
	DefaultMaxP99Ratio          = 1.5
	DefaultMinP99Increase       = 5 * time.Millisecond
	DefaultMaxOutage            = time.Second
	DefaultAlpha                = 0.01
	DefaultBootstrapIterations  = 1000
	DefaultConfidence           = 0.95
)

// Rules are the judge's thresholds. Zero fields take the defaults; use
// Rules.WithDefaults to see the values in force.
type Rules struct {
	// MinSamples is the fewest requests each side needs; below it the
	// comparison is inconclusive (too little data never passes).
	MinSamples int64 `json:"minSamples"`
	// MaxErrorRateIncrease is the largest tolerated rise of the failure ratio
	// (0.001 = 0.1 percentage point); exceeding it fails only when the rise
	// is also significant at Alpha (one-sided Fisher exact test).
	MaxErrorRateIncrease float64 `json:"maxErrorRateIncrease"`
	// MaxP99Ratio is the largest tolerated candidate/baseline p99 ratio. It
	// fails when the bootstrap interval's lower bound exceeds it, the p99 rose
	// by more than MinP99Increase, and the shift is significant at Alpha
	// (Mann-Whitney or Kolmogorov-Smirnov).
	MaxP99Ratio    float64       `json:"maxP99Ratio"`
	MinP99Increase time.Duration `json:"minP99Increase"`
	// MaxOutage is the longest tolerated span of consecutive failures.
	MaxOutage time.Duration `json:"maxOutage"`
	// Alpha is the significance level of the tests.
	Alpha float64 `json:"alpha"`
	// MaxNotReady is the longest a checklist component may stay not Ready
	// during the rehearsal (see ChecklistDuring).
	MaxNotReady time.Duration `json:"maxNotReady"`
	// ErrorRateIncreaseSet and similar flags let a zero threshold be asked for
	// explicitly (zero tolerance) rather than meaning "default".
	ZeroErrorIncrease bool `json:"zeroErrorIncrease,omitempty"`
	ZeroOutage        bool `json:"zeroOutage,omitempty"`
	// Seed makes the bootstrap reproducible.
	Seed uint64 `json:"seed,omitempty"`
}

// DefaultRules returns the default thresholds.
func DefaultRules() Rules { return Rules{}.WithDefaults() }

// WithDefaults fills zero fields with the defaults.
func (r Rules) WithDefaults() Rules {
	if r.MinSamples == 0 {
		r.MinSamples = DefaultMinSamples
	}
	if r.MaxErrorRateIncrease == 0 && !r.ZeroErrorIncrease {
		r.MaxErrorRateIncrease = DefaultMaxErrorRateIncrease
	}
	if r.MaxP99Ratio == 0 {
		r.MaxP99Ratio = DefaultMaxP99Ratio
	}
	if r.MinP99Increase == 0 {
		r.MinP99Increase = DefaultMinP99Increase
	}
	if r.MaxOutage == 0 && !r.ZeroOutage {
		r.MaxOutage = DefaultMaxOutage
	}
	if r.Alpha == 0 {
		r.Alpha = DefaultAlpha
	}
	if r.MaxNotReady == 0 {
		r.MaxNotReady = DefaultMaxNotReady
	}
	if r.Seed == 0 {
		r.Seed = 1
	}
	return r
}

// Validate reports the first threshold out of range, named as in the
// documents ("alpha: …"). Zero means the default. NaN and infinities are out
// of range everywhere: a comparison with NaN is always false, so such a
// threshold would let any candidate pass.
func (r Rules) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case r.MinSamples < 0:
		return fmt.Errorf("minSamples: %d is negative", r.MinSamples)
	case !finite(r.MaxErrorRateIncrease) || r.MaxErrorRateIncrease < 0 || r.MaxErrorRateIncrease > 1:
		return fmt.Errorf("maxErrorRateIncrease: %v is not a fraction between 0 and 1", r.MaxErrorRateIncrease)
	case !finite(r.MaxP99Ratio) || r.MaxP99Ratio < 0 || (r.MaxP99Ratio > 0 && r.MaxP99Ratio < 1):
		return fmt.Errorf("maxP99Ratio: %v is not a finite ratio of at least 1", r.MaxP99Ratio)
	case r.MinP99Increase < 0:
		return fmt.Errorf("minP99Increase: %s is negative", r.MinP99Increase)
	case r.MaxOutage < 0:
		return fmt.Errorf("maxOutage: %s is negative", r.MaxOutage)
	case r.MaxNotReady < 0:
		return fmt.Errorf("maxNotReady: %s is negative", r.MaxNotReady)
	case !finite(r.Alpha) || r.Alpha < 0 || r.Alpha >= 1:
		return fmt.Errorf("alpha: %v is not a significance level between 0 and 1 (exclusive; 0 takes the default %v)", r.Alpha, DefaultAlpha)
	}
	return nil
}

// RuleResult is one rule's measured value, threshold and outcome.
type RuleResult struct {
	Rule      string  `json:"rule"`
	Outcome   Outcome `json:"outcome"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	Unit      string  `json:"unit"`
	Message   string  `json:"message"`
}

// Comparison is the judgement of a candidate phase against a baseline.
type Comparison struct {
	Baseline  string       `json:"baseline"`
	Candidate string       `json:"candidate"`
	Outcome   Outcome      `json:"outcome"`
	Rules     []RuleResult `json:"rules"`
	Stats     Stats        `json:"stats"`
	// Subjects judge each stream, entry point and node of the candidate
	// on its own (see SubjectResult); one that failed fails the comparison.
	Subjects []SubjectResult `json:"subjects,omitempty"`
}

// Stats are the statistics a comparison rests on.
type Stats struct {
	BaselineRequests  int64   `json:"baselineRequests"`
	CandidateRequests int64   `json:"candidateRequests"`
	KSD               float64 `json:"ksD"`
	KSP               float64 `json:"ksP"`
	MannWhitneyU      float64 `json:"mannWhitneyU"`
	MannWhitneyP      float64 `json:"mannWhitneyP"`
	// ShiftMs is the Hodges-Lehmann estimate of the latency shift
	// (candidate - baseline) with its confidence interval.
	ShiftMs   float64 `json:"shiftMs"`
	ShiftLoMs float64 `json:"shiftLoMs"`
	ShiftHiMs float64 `json:"shiftHiMs"`
	// P99Ratio is candidate p99 / baseline p99 with a bootstrap interval.
	P99Ratio       float64 `json:"p99Ratio"`
	P99RatioLo     float64 `json:"p99RatioLo"`
	P99RatioHi     float64 `json:"p99RatioHi"`
	BaselineP99Ms  float64 `json:"baselineP99Ms"`
	CandidateP99Ms float64 `json:"candidateP99Ms"`
	// ErrorRate compares failure ratios.
	ErrorRate  RateComparison `json:"errorRate"`
	Confidence float64        `json:"confidence"`
}

// RuleValid is the rule a comparison fails on when its thresholds are not
// valid (see Rules.Validate).
const RuleValid = "rules"

// Judge compares a candidate phase with a baseline phase under the rules.
// It is a pure function of its inputs. Rules that do not validate judge
// nothing: the comparison is inconclusive, never a pass (Compare and
// JudgeRun refuse them with an error).
func Judge(base, cand *Phase, rules Rules) Comparison {
	c := Comparison{Baseline: base.Name, Candidate: cand.Name}
	if err := rules.Validate(); err != nil {
		c.Outcome = Inconclusive
		c.Rules = []RuleResult{{Rule: RuleValid, Outcome: Inconclusive, Message: "invalid rules: " + err.Error()}}
		return c
	}
	r := rules.WithDefaults()
	st := Stats{BaselineRequests: base.Requests, CandidateRequests: cand.Requests, Confidence: DefaultConfidence}

	xs, ys := base.sample, cand.sample
	st.KSD, st.KSP = KSTest(xs, ys)
	mw := MannWhitneyTest(xs, ys, DefaultConfidence)
	st.MannWhitneyU, st.MannWhitneyP = mw.U, mw.P
	st.ShiftMs, st.ShiftLoMs, st.ShiftHiMs = mw.Shift/1e6, mw.ShiftLo/1e6, mw.ShiftHi/1e6
	rng := rand.New(rand.NewPCG(r.Seed, r.Seed*31+7))
	st.P99Ratio, st.P99RatioLo, st.P99RatioHi = BootstrapQuantileRatio(xs, ys, 0.99, DefaultBootstrapIterations, DefaultConfidence, rng)
	st.BaselineP99Ms, st.CandidateP99Ms = base.Latency.P99Ms, cand.Latency.P99Ms
	st.ErrorRate = CompareRates(base.Failures, base.Requests, cand.Failures, cand.Requests, DefaultConfidence)
	st.sanitize()
	c.Stats = st

	enough := base.Requests >= r.MinSamples && cand.Requests >= r.MinSamples
	c.Rules = append(c.Rules, minSamplesRule(base, cand, r), errorRateRule(st, r, enough),
		latencyRule(base, cand, st, r), outageRule(cand, r))
	c.Subjects = judgeSubjects(base, cand, r)
	outs := outcomes(c.Rules)
	if subjectsFailed(c.Subjects) > 0 {
		outs = append(outs, Fail)
	}
	c.Outcome = Combine(outs...)
	return c
}

func outcomes(rs []RuleResult) []Outcome {
	out := make([]Outcome, len(rs))
	for i, r := range rs {
		out[i] = r.Outcome
	}
	return out
}

// Combine folds outcomes: any fail fails; else any inconclusive is
// inconclusive; else pass. No outcomes at all is inconclusive.
func Combine(os ...Outcome) Outcome {
	if len(os) == 0 {
		return Inconclusive
	}
	res := Pass
	for _, o := range os {
		switch o {
		case Fail:
			return Fail
		case Inconclusive:
			res = Inconclusive
		}
	}
	return res
}

func minSamplesRule(base, cand *Phase, r Rules) RuleResult {
	least := min(base.Requests, cand.Requests)
	rr := RuleResult{Rule: RuleMinSamples, Value: float64(least), Threshold: float64(r.MinSamples), Unit: "requests"}
	if least >= r.MinSamples {
		rr.Outcome = Pass
		rr.Message = fmt.Sprintf("%s has %d requests and %s %d, at least %d each", base.Name, base.Requests, cand.Name, cand.Requests, r.MinSamples)
	} else {
		rr.Outcome = Inconclusive
		rr.Message = fmt.Sprintf("too little data: %s has %d requests and %s %d; at least %d each are needed", base.Name, base.Requests, cand.Name, cand.Requests, r.MinSamples)
	}
	return rr
}

func pct(f float64) string { return fmt.Sprintf("%.3g%%", f*100) }

func errorRateRule(st Stats, r Rules, enough bool) RuleResult {
	e := st.ErrorRate
	rr := RuleResult{Rule: RuleErrorRate, Value: e.Diff, Threshold: r.MaxErrorRateIncrease, Unit: "ratio"}
	desc := fmt.Sprintf("failure ratio %s (%d/%d) vs baseline %s (%d/%d): change %+.3g points, %d%% interval [%+.3g, %+.3g], one-sided p=%.2g",
		pct(e.CandRate), e.CandErrors, e.CandTotal, pct(e.BaseRate), e.BaseErrors, e.BaseTotal,
		e.Diff*100, int(st.Confidence*100), e.DiffLo*100, e.DiffHi*100, e.PValue)
	switch {
	case !enough:
		rr.Outcome = Inconclusive
		rr.Message = "too little data to judge the failure ratio; " + desc
	case e.Diff > r.MaxErrorRateIncrease && e.PValue < r.Alpha:
		rr.Outcome = Fail
		rr.Message = fmt.Sprintf("failure ratio rose by more than the %.3g points allowed, significantly: %s", r.MaxErrorRateIncrease*100, desc)
	case e.Diff > r.MaxErrorRateIncrease:
		rr.Outcome = Pass
		rr.Message = fmt.Sprintf("failure ratio rose above the %.3g points allowed but not significantly (p ≥ %.2g): %s", r.MaxErrorRateIncrease*100, r.Alpha, desc)
	default:
		rr.Outcome = Pass
		rr.Message = fmt.Sprintf("failure ratio within the %.3g points allowed: %s", r.MaxErrorRateIncrease*100, desc)
	}
	return rr
}

func latencyRule(base, cand *Phase, st Stats, r Rules) RuleResult {
	rr := RuleResult{Rule: RuleLatency, Value: st.P99Ratio, Threshold: r.MaxP99Ratio, Unit: "ratio"}
	minN := int(min(r.MinSamples, 100))
	if len(base.sample) < minN || len(cand.sample) < minN || base.Successes < r.MinSamples || cand.Successes < r.MinSamples {
		rr.Outcome = Inconclusive
		rr.Message = fmt.Sprintf("too few successful requests to judge latency: %s %d, %s %d; at least %d each are needed",
			base.Name, base.Successes, cand.Name, cand.Successes, r.MinSamples)
		if math.IsNaN(rr.Value) {
			rr.Value = 0
		}
		return rr
	}
	increase := time.Duration((st.CandidateP99Ms - st.BaselineP99Ms) * 1e6)
	significant := st.MannWhitneyP < r.Alpha || st.KSP < r.Alpha
	desc := fmt.Sprintf("p99 %.3g ms vs baseline %.3g ms, ratio %.3g (%d%% interval %.3g–%.3g); shift %+.3g ms [%+.3g, %+.3g]; Mann-Whitney p=%.2g, KS D=%.3f p=%.2g",
		st.CandidateP99Ms, st.BaselineP99Ms, st.P99Ratio, int(st.Confidence*100), st.P99RatioLo, st.P99RatioHi,
		st.ShiftMs, st.ShiftLoMs, st.ShiftHiMs, st.MannWhitneyP, st.KSD, st.KSP)
	switch {
	case st.P99RatioLo > r.MaxP99Ratio && increase > r.MinP99Increase && significant:
		rr.Outcome = Fail
		rr.Message = fmt.Sprintf("latency regressed: p99 ratio above %.3g with confidence, up %s, significant shift: %s", r.MaxP99Ratio, increase.Round(time.Microsecond), desc)
	default:
		rr.Outcome = Pass
		var why string
		switch {
		case st.P99RatioLo <= r.MaxP99Ratio:
			why = fmt.Sprintf("p99 ratio not above %.3g with confidence", r.MaxP99Ratio)
		case increase <= r.MinP99Increase:
			why = fmt.Sprintf("p99 rose by less than %s", r.MinP99Increase)
		default:
			why = fmt.Sprintf("no significant shift at %.2g", r.Alpha)
		}
		rr.Message = why + ": " + desc
	}
	return rr
}

func outageRule(cand *Phase, r Rules) RuleResult {
	longest := cand.Outages.LongestSeconds
	rr := RuleResult{Rule: RuleOutage, Value: longest, Threshold: r.MaxOutage.Seconds(), Unit: "seconds"}
	var where string
	for _, o := range cand.Outages.Windows {
		if o.Seconds == longest && longest > 0 {
			where = fmt.Sprintf(" (%s probe, from %s, %d failed requests)", o.Probe, o.Start.Format("15:04:05.000"), o.Failures)
			break
		}
	}
	if time.Duration(longest*float64(time.Second)) > r.MaxOutage {
		rr.Outcome = Fail
		rr.Message = fmt.Sprintf("longest outage %.3gs%s exceeds %s; %d outages, %.3gs in all", longest, where, r.MaxOutage, cand.Outages.Count, cand.Outages.TotalSeconds)
	} else {
		rr.Outcome = Pass
		rr.Message = fmt.Sprintf("longest outage %.3gs%s within %s; %d outages, %.3gs in all", longest, where, r.MaxOutage, cand.Outages.Count, cand.Outages.TotalSeconds)
	}
	return rr
}

// sanitize replaces undefined statistics (NaN, ±Inf: an empty side) by zero
// so that every document stays valid JSON; the rules have already said
// "too little data" in such cases.
func (s *Stats) sanitize() {
	for _, f := range []*float64{&s.KSD, &s.KSP, &s.MannWhitneyU, &s.MannWhitneyP, &s.ShiftMs, &s.ShiftLoMs, &s.ShiftHiMs,
		&s.P99Ratio, &s.P99RatioLo, &s.P99RatioHi, &s.ErrorRate.BaseRate, &s.ErrorRate.CandRate,
		&s.ErrorRate.Diff, &s.ErrorRate.DiffLo, &s.ErrorRate.DiffHi, &s.ErrorRate.PValue} {
		if math.IsNaN(*f) || math.IsInf(*f, 0) {
			*f = 0
		}
	}
}

// rulesJSON is the document form of Rules: durations as Go duration strings
// ("5ms", "1s") rather than nanosecond counts.
type rulesJSON struct {
	MinSamples           int64   `json:"minSamples"`
	MaxErrorRateIncrease float64 `json:"maxErrorRateIncrease"`
	MaxP99Ratio          float64 `json:"maxP99Ratio"`
	MinP99Increase       string  `json:"minP99Increase"`
	MaxOutage            string  `json:"maxOutage"`
	Alpha                float64 `json:"alpha"`
	MaxNotReady          string  `json:"maxNotReady,omitempty"`
	ZeroErrorIncrease    bool    `json:"zeroErrorIncrease,omitempty"`
	ZeroOutage           bool    `json:"zeroOutage,omitempty"`
	Seed                 uint64  `json:"seed,omitempty"`
}

// MarshalJSON writes durations as strings such as "5ms".
func (r Rules) MarshalJSON() ([]byte, error) {
	return json.Marshal(rulesJSON{
		MinSamples: r.MinSamples, MaxErrorRateIncrease: r.MaxErrorRateIncrease, MaxP99Ratio: r.MaxP99Ratio,
		MinP99Increase: r.MinP99Increase.String(), MaxOutage: r.MaxOutage.String(), Alpha: r.Alpha,
		ZeroErrorIncrease: r.ZeroErrorIncrease, ZeroOutage: r.ZeroOutage, Seed: r.Seed,
		MaxNotReady: durationOrEmpty(r.MaxNotReady),
	})
}

func durationOrEmpty(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Rules) UnmarshalJSON(b []byte) error {
	var j rulesJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := Rules{MinSamples: j.MinSamples, MaxErrorRateIncrease: j.MaxErrorRateIncrease, MaxP99Ratio: j.MaxP99Ratio,
		Alpha: j.Alpha, ZeroErrorIncrease: j.ZeroErrorIncrease, ZeroOutage: j.ZeroOutage, Seed: j.Seed}
	for _, d := range []struct {
		name string
		in   string
		out  *time.Duration
	}{{"minP99Increase", j.MinP99Increase, &out.MinP99Increase}, {"maxOutage", j.MaxOutage, &out.MaxOutage}, {"maxNotReady", j.MaxNotReady, &out.MaxNotReady}} {
		if d.in == "" {
			continue
		}
		v, err := time.ParseDuration(d.in)
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		*d.out = v
	}
	*r = out
	return nil
}
