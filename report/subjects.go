package report

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Against names what a subject was compared with.
const (
	// AgainstOwn: the subject's own traffic in the baseline phase.
	AgainstOwn = "own baseline"
	// AgainstPooled: the whole baseline phase, for a subject the baseline
	// did not have (a user target added later, a replacement node's entry
	// point).
	AgainstPooled = "pooled baseline"
)

// SubjectResult is the judgement of one part of a candidate phase's
// traffic: a stream (a probe kind such as "reuse", or a user target such as
// "target:shop"), an entry point (the URL requests went to) or a node (the
// one that answered). Each is judged against its own baseline traffic with
// the rules of the pooled comparison, so a part that failed while the whole
// looked healthy still fails:
//
//   - error-rate: the failure ratio against the baseline's, with the same
//     tolerance and significance test (Fisher's exact test guards small
//     counts, so no minimum of requests applies);
//   - outage: the longest span of consecutive failures of the subject's own
//     requests;
//   - latency-p99, for streams only: as for the whole phase when both sides
//     have at least MinSamples successes, else inconclusive.
//
// A subject the baseline did not have is judged against the pooled
// baseline (Against says which). Only a failing rule counts in the
// verdict: an inconclusive one (too few successes for latency) is shown
// but the pooled min-samples rule already speaks for too little data.
// Failures that never reached a node carry no node name and count only for
// their stream and entry point.
type SubjectResult struct {
	// Dim is DimStream, DimTarget or DimNode.
	Dim     string       `json:"dim"`
	Name    string       `json:"name"`
	Against string       `json:"against"`
	Outcome Outcome      `json:"outcome"`
	Rules   []RuleResult `json:"rules"`
}

// Label names the subject in reasons: a stream and an entry point by their
// names, a node as "node NAME".
func (s SubjectResult) Label() string { return subjectLabel(s.Dim, s.Name) }

func subjectLabel(dim, name string) string {
	if dim == DimNode {
		return "node " + name
	}
	return name
}

// subjectView is a phase narrowed to one subject's traffic, enough for the
// rules.
func subjectViews(p *Phase, dim string) map[string]*Phase {
	out := map[string]*Phase{}
	switch dim {
	case DimStream:
		for _, s := range p.Probes {
			v := &Phase{Name: p.Name, Requests: s.Requests, Failures: s.Failures, Successes: s.Requests - s.Failures,
				Latency: s.Latency, sample: s.sample}
			v.Outages = OutageSummary{Count: s.Outages, LongestSeconds: s.LongestOutageSeconds}
			for _, o := range p.Outages.Windows {
				if o.Probe == s.Probe {
					v.Outages.Windows = append(v.Outages.Windows, o)
				}
			}
			out[s.Probe] = v
		}
	case DimTarget, DimNode:
		counts := p.Targets
		if dim == DimNode {
			counts = p.Nodes
		}
		for _, c := range counts {
			v := &Phase{Name: p.Name, Requests: c.Requests, Failures: c.Failures, Successes: c.Requests - c.Failures}
			v.Outages = OutageSummary{Count: c.Outages, LongestSeconds: c.LongestOutageSeconds}
			for _, o := range p.FailureWindows {
				if _, name := o.Subject(); o.Kind == WindowOutage && name == c.Name && windowDim(o) == dim {
					v.Outages.Windows = append(v.Outages.Windows, o)
				}
			}
			out[c.Name] = v
		}
	}
	return out
}

func windowDim(o Outage) string {
	dim, _ := o.Subject()
	return dim
}

// judgeSubjects judges every stream, entry point and node of cand. A
// dimension with one subject on both sides, the same, is the pooled phase
// itself and is not judged again.
func judgeSubjects(base, cand *Phase, r Rules) []SubjectResult {
	var out []SubjectResult
	for _, dim := range []string{DimStream, DimTarget, DimNode} {
		bs, cs := subjectViews(base, dim), subjectViews(cand, dim)
		if len(bs) <= 1 && len(cs) == 1 {
			same := true
			for name := range cs {
				_, same = bs[name]
				same = same || len(bs) == 0
			}
			if same {
				continue
			}
		}
		for _, name := range sortedKeys(cs) {
			c := cs[name]
			b, own := bs[name]
			against := AgainstOwn
			if !own {
				b, against = base, AgainstPooled
			}
			out = append(out, judgeSubject(dim, name, against, b, c, r))
		}
	}
	return out
}

func judgeSubject(dim, name, against string, base, cand *Phase, r Rules) SubjectResult {
	s := SubjectResult{Dim: dim, Name: name, Against: against}
	e := CompareRates(base.Failures, base.Requests, cand.Failures, cand.Requests, DefaultConfidence)
	st := Stats{ErrorRate: e, Confidence: DefaultConfidence}
	st.sanitize()
	e = st.ErrorRate
	er := RuleResult{Rule: RuleErrorRate, Value: e.Diff, Threshold: r.MaxErrorRateIncrease, Unit: "ratio"}
	vs := ""
	if against == AgainstPooled {
		vs = ", against the " + AgainstPooled
	}
	desc := fmt.Sprintf("%.1f%% vs %.1f%% (%d/%d vs %d/%d%s), change %+.3g points, one-sided p=%.2g",
		e.CandRate*100, e.BaseRate*100, e.CandErrors, e.CandTotal, e.BaseErrors, e.BaseTotal, vs, e.Diff*100, e.PValue)
	switch {
	case e.Diff > r.MaxErrorRateIncrease && e.PValue < r.Alpha:
		er.Outcome = Fail
		er.Message = fmt.Sprintf("%s: more than the %.3g points allowed, significantly", desc, r.MaxErrorRateIncrease*100)
	default:
		er.Outcome = Pass
		er.Message = desc
	}
	s.Rules = append(s.Rules, er)

	longest := cand.Outages.LongestSeconds
	or := RuleResult{Rule: RuleOutage, Value: longest, Threshold: r.MaxOutage.Seconds(), Unit: "seconds", Outcome: Pass}
	var where string
	for _, o := range cand.Outages.Windows {
		if o.Seconds == longest && longest > 0 {
			where = fmt.Sprintf(" (%d failed requests from %s)", o.Failures, o.Start.Format("15:04:05.000"))
			break
		}
	}
	count := plural(int(cand.Outages.Count), "outage", "outages")
	or.Message = fmt.Sprintf("%.1f s%s; %s", longest, where, count)
	if time.Duration(longest*float64(time.Second)) > r.MaxOutage {
		or.Outcome = Fail
		or.Message = fmt.Sprintf("%.1f s%s, longer than the %s allowed; %s", longest, where, r.MaxOutage, count)
	}
	s.Rules = append(s.Rules, or)

	if dim == DimStream {
		s.Rules = append(s.Rules, subjectLatency(base, cand, r))
	}
	s.Outcome = Pass
	for _, rr := range s.Rules {
		if rr.Outcome == Fail {
			s.Outcome = Fail
		}
	}
	return s
}

// subjectLatency is the latency rule on one stream. The bootstrap runs only
// when the p99 point estimates already exceed both thresholds: below them
// the interval's lower bound cannot exceed the ratio allowed.
func subjectLatency(base, cand *Phase, r Rules) RuleResult {
	st := Stats{BaselineP99Ms: base.Latency.P99Ms, CandidateP99Ms: cand.Latency.P99Ms, Confidence: DefaultConfidence}
	minN := int(min(r.MinSamples, 100))
	enough := len(base.sample) >= minN && len(cand.sample) >= minN && base.Successes >= r.MinSamples && cand.Successes >= r.MinSamples
	increase := time.Duration((st.CandidateP99Ms - st.BaselineP99Ms) * 1e6)
	if enough && (st.BaselineP99Ms <= 0 || st.CandidateP99Ms/st.BaselineP99Ms <= r.MaxP99Ratio || increase <= r.MinP99Increase) {
		rr := RuleResult{Rule: RuleLatency, Threshold: r.MaxP99Ratio, Unit: "ratio", Outcome: Pass}
		if st.BaselineP99Ms > 0 {
			rr.Value = st.CandidateP99Ms / st.BaselineP99Ms
		}
		rr.Message = fmt.Sprintf("p99 %.3g ms vs %.3g ms: not above %.3gx and %s", st.CandidateP99Ms, st.BaselineP99Ms, r.MaxP99Ratio, r.MinP99Increase)
		return rr
	}
	if enough {
		xs, ys := base.sample, cand.sample
		st.KSD, st.KSP = KSTest(xs, ys)
		mw := MannWhitneyTest(xs, ys, DefaultConfidence)
		st.MannWhitneyU, st.MannWhitneyP = mw.U, mw.P
		st.ShiftMs, st.ShiftLoMs, st.ShiftHiMs = mw.Shift/1e6, mw.ShiftLo/1e6, mw.ShiftHi/1e6
		rng := rand.New(rand.NewPCG(r.Seed, r.Seed*31+7))
		st.P99Ratio, st.P99RatioLo, st.P99RatioHi = BootstrapQuantileRatio(xs, ys, 0.99, DefaultBootstrapIterations, DefaultConfidence, rng)
		st.sanitize()
	}
	return latencyRule(base, cand, st, r)
}

// subjectsFailed counts the subjects that failed.
func subjectsFailed(ss []SubjectResult) int {
	n := 0
	for _, s := range ss {
		if s.Outcome == Fail {
			n++
		}
	}
	return n
}
