package report

// Statistical primitives used by the judge that compares a baseline load-test
// phase with a candidate phase of a rehearsed upgrade.
//
// All functions are pure: they never modify their inputs (samples are copied
// before sorting) and they keep no state. Latency samples are float64 values
// (nanoseconds). NaN and infinite values carry no usable magnitude, so every
// sample-based function in this file ignores them; the reported sample sizes
// are those of the finite values.

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// maxBootstrapSample bounds the number of values per side that a bootstrap
// resample draws from. Larger samples are reduced to an evenly strided
// subsample of their sorted values, which keeps the shape of the
// distribution while bounding the cost of each resample.
const maxBootstrapSample = 5000

// Seeds of the generator BootstrapQuantileRatio uses when none is supplied, so
// that results stay reproducible.
const (
	defaultBootstrapSeed1 = 0x5265686561727365 // "Rehearse"
	defaultBootstrapSeed2 = 0x426f6f7473747270 // "Bootstrp"
)

// Quantile returns the q-quantile (0 <= q <= 1) of a sample sorted in
// ascending order, interpolating linearly between order statistics
// (Hyndman & Fan type 7, the default of R and NumPy). q outside [0, 1] is
// clamped. An empty sample or a NaN q yields NaN.
func Quantile(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 0 || math.IsNaN(q) {
		return math.NaN()
	}
	q = clampFloat(q, 0, 1)
	h := q * float64(n-1)
	i := int(h)
	if i >= n-1 {
		return sorted[n-1]
	}
	f := h - float64(i)
	return interpolateOrderStats(sorted[i], sorted[i+1], f)
}

// interpolateOrderStats returns a + f·(b−a), returning a itself when no
// interpolation is needed so that infinite values do not produce NaN.
func interpolateOrderStats(a, b, f float64) float64 {
	if f == 0 || a == b {
		return a
	}
	return a + f*(b-a)
}

// KSTest is the two-sample Kolmogorov–Smirnov test. d is the largest distance
// between the empirical distribution functions of x and y; p is the
// asymptotic p-value from the Kolmogorov distribution with Stephens'
// small-sample correction λ = (√nₑ + 0.12 + 0.11/√nₑ)·d, nₑ = n·m/(n+m).
// If either sample is empty, d = 0 and p = 1.
func KSTest(x, y []float64) (d, p float64) {
	sx, sy := finiteSortedCopy(x), finiteSortedCopy(y)
	if len(sx) == 0 || len(sy) == 0 {
		return 0, 1
	}
	d = clampFloat(stat.KolmogorovSmirnov(sx, nil, sy, nil), 0, 1)
	n, m := float64(len(sx)), float64(len(sy))
	sqrtNe := math.Sqrt(n * m / (n + m))
	lambda := (sqrtNe + 0.12 + 0.11/sqrtNe) * d
	return d, kolmogorovQ(lambda)
}

// kolmogorovQ is the survival function of the Kolmogorov distribution,
// Q(λ) = 2·Σ_{k≥1} (−1)^{k−1}·exp(−2k²λ²), clamped to [0, 1].
//
// The alternating series converges slowly for small λ, so below λ = 1.18 the
// equivalent Jacobi theta form
// 1 − Q(λ) = (√(2π)/λ)·Σ_{k≥1} exp(−(2k−1)²π²/(8λ²)) is used instead; both
// forms need only a handful of terms on their side of the switch point.
func kolmogorovQ(lambda float64) float64 {
	switch {
	case math.IsNaN(lambda):
		return math.NaN()
	case lambda <= 0:
		return 1
	case lambda < 1.18:
		y := math.Exp(-math.Pi * math.Pi / (8 * lambda * lambda))
		if y == 0 {
			return 1
		}
		var sum float64
		for k := 1; k <= 100; k++ {
			odd := float64(2*k - 1)
			term := math.Pow(y, odd*odd)
			sum += term
			if term <= sum*1e-17 {
				break
			}
		}
		return clampFloat(1-math.Sqrt(2*math.Pi)/lambda*sum, 0, 1)
	default:
		x := math.Exp(-2 * lambda * lambda)
		var sum float64
		sign := 1.0
		for k := 1; k <= 100; k++ {
			term := math.Pow(x, float64(k*k))
			sum += sign * term
			if term <= math.Abs(sum)*1e-17 {
				break
			}
			sign = -sign
		}
		return clampFloat(2*sum, 0, 1)
	}
}

// MannWhitney is the Mann–Whitney U test of y (candidate) against x
// (baseline) with the Hodges–Lehmann shift estimate.
type MannWhitney struct {
	U       float64 // U statistic for y (count of pairs y>x plus half the ties)
	Z       float64 // normal approximation with tie correction and continuity correction; positive when y tends larger
	P       float64 // two-sided p-value
	Shift   float64 // Hodges–Lehmann estimate: median of all pairwise differences y_j - x_i
	ShiftLo float64 // confidence interval for the shift (Moses / distribution-free, from the normal approximation of U's quantile), at the requested confidence
	ShiftHi float64
}

// MannWhitneyTest runs the Mann–Whitney U test of y (candidate) against x
// (baseline) and estimates the location shift y − x with the Hodges–Lehmann
// estimator and Moses' distribution-free confidence interval at confidence
// conf (for example 0.95; values outside (0, 1) are clamped).
//
// The pairwise differences are never materialised: each required order
// statistic of {y_j − x_i} is found exactly by narrowing a bracket over the
// float64 domain, with a linear-time count of the differences below a value
// per step, and finished by selection among the few differences left in the
// bracket. Samples of 20,000 values each thus cost milliseconds rather than
// 4·10⁸ differences.
//
// If either sample is empty the result is zero with P = 1.
func MannWhitneyTest(x, y []float64, conf float64) MannWhitney {
	sx, sy := finiteSortedCopy(x), finiteSortedCopy(y)
	n, m := len(sx), len(sy)
	if n == 0 || m == 0 {
		return MannWhitney{P: 1}
	}
	res := MannWhitney{P: 1}

	u, tieSum := mannWhitneyU(sx, sy)
	res.U = u
	nf, mf := float64(n), float64(m)
	total := nf + mf
	mean := nf * mf / 2
	variance := nf * mf / 12 * ((total + 1) - tieSum/(total*(total-1)))
	if variance > 0 {
		delta := u - mean
		switch {
		case delta > 0.5:
			delta -= 0.5
		case delta < -0.5:
			delta += 0.5
		default:
			delta = 0
		}
		res.Z = delta / math.Sqrt(variance)
		res.P = math.Min(1, 2*distuv.UnitNormal.CDF(-math.Abs(res.Z)))
	}

	diffs := newDifferenceSelector(sx, sy)
	pairs := int64(n) * int64(m)
	if pairs%2 == 1 {
		res.Shift = diffs.kth((pairs + 1) / 2)
	} else {
		lo := diffs.kth(pairs / 2)
		hi := diffs.kth(pairs/2 + 1)
		res.Shift = lo + (hi-lo)/2
	}

	z := twoSidedZ(conf)
	k := int64(1)
	if kf := math.Floor(float64(pairs)/2 - z*math.Sqrt(float64(pairs)*(total+1)/12)); kf > 1 {
		k = int64(kf)
	}
	res.ShiftLo = diffs.kth(k)
	res.ShiftHi = diffs.kth(pairs - k + 1)
	return res
}

// mannWhitneyU returns the U statistic of sy against sx (pairs with y > x
// plus half the tied pairs) and the tie term Σ(t³ − t) over groups of equal
// values in the pooled sample. Both inputs must be sorted ascending.
func mannWhitneyU(sx, sy []float64) (u, tieSum float64) {
	n, m := len(sx), len(sy)
	i, j := 0, 0
	for i < n || j < m {
		var v float64
		if j >= m || (i < n && sx[i] < sy[j]) {
			v = sx[i]
		} else {
			v = sy[j]
		}
		below := i
		for i < n && sx[i] == v {
			i++
		}
		cx := i - below
		start := j
		for j < m && sy[j] == v {
			j++
		}
		cy := j - start
		u += float64(cy) * (float64(below) + 0.5*float64(cx))
		t := float64(cx + cy)
		tieSum += t*t*t - t
	}
	return u, tieSum
}

// countDifferencesAtMost returns how many pairs (i, j) satisfy
// sy[j] − sx[i] <= d, in O(len(sx)+len(sy)) for inputs sorted ascending.
//
// Floating-point subtraction rounds monotonically, so the computed difference
// is non-increasing in i and non-decreasing in j; the qualifying i for a
// given j form a suffix of sx whose start never moves backwards as j grows.
func countDifferencesAtMost(sx, sy []float64, d float64) int64 {
	n := len(sx)
	var count int64
	i := 0
	for _, yj := range sy {
		for i < n && yj-sx[i] > d {
			i++
		}
		if i == n {
			break
		}
		count += int64(n - i)
	}
	return count
}

// maxDifferenceAtMost returns the largest difference sy[j] − sx[i] that is
// <= d, or −Inf if there is none, for inputs sorted ascending. For each j the
// largest qualifying difference is the first qualifying i, found with the
// same forward-only scan as countDifferencesAtMost.
func maxDifferenceAtMost(sx, sy []float64, d float64) float64 {
	n := len(sx)
	best := math.Inf(-1)
	i := 0
	for _, yj := range sy {
		for i < n && yj-sx[i] > d {
			i++
		}
		if i == n {
			break
		}
		best = max(best, yj-sx[i])
	}
	return best
}

// differenceSelector finds order statistics of the len(sx)·len(sy) pairwise
// differences sy[j] − sx[i] of two samples sorted ascending, exactly and
// without materialising all of them. Successive queries reuse what earlier
// ones learnt about the distribution of the differences.
type differenceSelector struct {
	sx, sy []float64
	// windowLimit is the number of candidate differences at or below which
	// they are collected and selected from directly.
	windowLimit int64
	// probes holds every (d, count(d)) evaluated so far.
	probes []differenceProbe
	// window holds the differences collected by the last query that
	// selected among them: the ranks winCLo+1 … winCLo+len(window), in no
	// particular order.
	window    []float64
	winCLo    int64
	hasWindow bool
}

type differenceProbe struct {
	d     float64
	count int64
}

// valueBisectionSteps bounds the bisection steps taken at the numeric
// midpoint before switching to the midpoint of the float64 total order, which
// is guaranteed to finish within 64 steps even when a single difference
// value is attained by many pairs.
const valueBisectionSteps = 32

// newDifferenceSelector returns a selector over the differences of two
// non-empty samples sorted ascending.
func newDifferenceSelector(sx, sy []float64) *differenceSelector {
	total := int64(len(sx)) * int64(len(sy))
	return &differenceSelector{
		sx:          sx,
		sy:          sy,
		windowLimit: min(total, int64(max((len(sx)+len(sy))/16, 1024))),
		probes: []differenceProbe{
			// Below the smallest difference and at the largest one.
			{math.Nextafter(sy[0]-sx[len(sx)-1], math.Inf(-1)), 0},
			{sy[len(sy)-1] - sx[0], total},
		},
	}
}

// Kinds of step taken by differenceSelector.kth.
const (
	stepInterpolate = iota
	stepSnap
	stepBisect
)

// kth returns the k-th smallest (1-based) pairwise difference for
// 1 <= k <= len(sx)·len(sy).
//
// It brackets the answer in (lo, hi] with count(lo) < k <= count(hi), where
// count(d) is the number of differences <= d, and shrinks the bracket until
// few enough differences fall inside it to collect them and select the
// answer directly. Steps interpolate the count linearly, aiming just past k
// on the side of the bracket that is further from it, which converges in a
// few steps on smooth latency distributions.
//
// When a step fails to halve the bracket, the next one checks whether the
// answer is a single heavily tied difference (common with integer
// latencies): it lowers hi to the largest attained difference not above it
// and counts just below that value. The step after that bisects, so the
// search is never much slower than bisection. Should the bracket shrink to
// two adjacent float64 values, hi is the answer: the count only changes at
// attained differences, so hi is itself one of them.
func (s *differenceSelector) kth(k int64) float64 {
	if s.hasWindow && k > s.winCLo && k <= s.winCLo+int64(len(s.window)) {
		return selectKth(s.window, int(k-s.winCLo-1)) + 0
	}
	lo, cLo := math.Inf(-1), int64(-1)
	hi, cHi := math.Inf(1), int64(math.MaxInt64)
	for _, p := range s.probes {
		if p.count < k && p.count >= cLo {
			lo, cLo = p.d, p.count
		}
		if p.count >= k && p.count <= cHi {
			hi, cHi = p.d, p.count
		}
	}
	next := stepInterpolate
	bisections := 0
	for {
		width := cHi - cLo
		if width <= s.windowLimit {
			return s.selectInWindow(lo, hi, cLo, k)
		}
		step := next
		var mid float64
		switch step {
		case stepSnap:
			// count(top) == cHi, as no difference lies in (top, hi].
			top := maxDifferenceAtMost(s.sx, s.sy, hi)
			below := math.Nextafter(top, math.Inf(-1))
			c := countDifferencesAtMost(s.sx, s.sy, below)
			s.probes = append(s.probes, differenceProbe{top, cHi}, differenceProbe{below, c})
			if c < k {
				// Adding zero turns a negative zero into a positive one.
				return top + 0
			}
			hi, cHi = below, c
			next = stepBisect
			continue
		case stepInterpolate:
			target := max(k-s.windowLimit/2, cLo+1)
			if cHi-k > k-cLo {
				target = min(k+s.windowLimit/2, cHi-1)
			}
			mid = lo + (hi-lo)*(float64(target-cLo)/float64(width))
			if !(mid > lo && mid < hi) {
				step = stepBisect
			}
		}
		if step == stepBisect {
			mid = lo/2 + hi/2
			if bisections >= valueBisectionSteps || !(mid > lo && mid < hi) {
				a, b := orderedKey(lo), orderedKey(hi)
				if b-a <= 1 {
					return hi + 0
				}
				mid = fromOrderedKey(a + (b-a)/2)
			}
			bisections++
		}
		c := countDifferencesAtMost(s.sx, s.sy, mid)
		s.probes = append(s.probes, differenceProbe{mid, c})
		if c >= k {
			hi, cHi = mid, c
		} else {
			lo, cLo = mid, c
		}
		next = stepInterpolate
		if step == stepInterpolate && cHi-cLo > width/2 {
			next = stepSnap
		}
	}
}

// selectInWindow collects every difference d with lo < d <= hi, which are
// the ranks cLo+1 onwards, and returns the k-th smallest overall.
func (s *differenceSelector) selectInWindow(lo, hi float64, cLo, k int64) float64 {
	sx, n := s.sx, len(s.sx)
	buf := s.window[:0]
	// For each y, the differences <= hi start at index iHi of sx and those
	// <= lo at index iLo >= iHi; both only move forward as y grows.
	iHi, iLo := 0, 0
	for _, yj := range s.sy {
		for iHi < n && yj-sx[iHi] > hi {
			iHi++
		}
		for iLo < n && yj-sx[iLo] > lo {
			iLo++
		}
		for _, xi := range sx[iHi:iLo] {
			buf = append(buf, yj-xi)
		}
	}
	s.window, s.winCLo, s.hasWindow = buf, cLo, true
	return selectKth(buf, int(k-cLo-1)) + 0
}

// orderedKey maps a float64 onto a uint64 such that the unsigned order of the
// keys matches the numeric order of the (non-NaN) values.
func orderedKey(f float64) uint64 {
	b := math.Float64bits(f)
	if b>>63 == 1 {
		return ^b
	}
	return b | 1<<63
}

// fromOrderedKey inverts orderedKey.
func fromOrderedKey(k uint64) float64 {
	if k>>63 == 1 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}

// BootstrapQuantileRatio estimates quantile q (0..1) of y divided by quantile
// q of x, with a percentile bootstrap confidence interval at conf, using
// iterations resamples drawn from rng.
//
// The point estimate uses the full samples. Each resample draws, with
// replacement, from at most maxBootstrapSample values per side (an evenly
// strided subsample of the sorted values when a side is larger) and finds
// the resample's quantile in linear time without sorting it. Resamples whose
// ratio is undefined (0/0) are skipped.
//
// An empty sample, a NaN q or a zero baseline quantile yields NaN for all
// three values. With iterations <= 0 only the point estimate is computed and
// lo, hi are NaN. A nil rng is replaced by a generator with a fixed seed, so
// results are reproducible either way. conf is clamped to [0, 1].
func BootstrapQuantileRatio(x, y []float64, q float64, iterations int, conf float64, rng *rand.Rand) (ratio, lo, hi float64) {
	nan := math.NaN()
	sx, sy := finiteSortedCopy(x), finiteSortedCopy(y)
	if len(sx) == 0 || len(sy) == 0 || math.IsNaN(q) {
		return nan, nan, nan
	}
	q = clampFloat(q, 0, 1)
	qx := Quantile(sx, q)
	if qx == 0 {
		return nan, nan, nan
	}
	ratio = Quantile(sy, q) / qx
	if iterations <= 0 {
		return ratio, nan, nan
	}
	if rng == nil {
		rng = rand.New(rand.NewPCG(defaultBootstrapSeed1, defaultBootstrapSeed2))
	}

	bx := stridedSubsample(sx, maxBootstrapSample)
	by := stridedSubsample(sy, maxBootstrapSample)
	countsX := make([]int32, len(bx))
	countsY := make([]int32, len(by))
	ratios := make([]float64, 0, iterations)
	for range iterations {
		rx := resampleQuantile(bx, q, countsX, rng)
		ry := resampleQuantile(by, q, countsY, rng)
		r := ry / rx
		if !math.IsNaN(r) {
			ratios = append(ratios, r)
		}
	}
	if len(ratios) == 0 {
		return ratio, nan, nan
	}
	slices.Sort(ratios)
	alpha := 1 - clampFloat(conf, 0, 1)
	return ratio, Quantile(ratios, alpha/2), Quantile(ratios, 1-alpha/2)
}

// stridedSubsample returns limit values taken at evenly spaced ranks of the
// sorted sample s (the midpoints of limit equal-width rank bins), or s itself
// when it is not larger than limit.
func stridedSubsample(s []float64, limit int) []float64 {
	n := len(s)
	if n <= limit {
		return s
	}
	out := make([]float64, limit)
	for i := range out {
		out[i] = s[(2*i+1)*n/(2*limit)]
	}
	return out
}

// resampleQuantile draws len(sorted) values uniformly with replacement from
// the ascending sample sorted and returns the type 7 q-quantile of the draw.
//
// Because the source is sorted, the order statistics of the draw follow from
// how many times each position was drawn: a histogram of drawn positions
// (counts, scratch of len(sorted)) and a cumulative scan locate them in
// linear time, with no sorting or comparison-based selection.
func resampleQuantile(sorted []float64, q float64, counts []int32, rng *rand.Rand) float64 {
	n := len(sorted)
	clear(counts)
	for range n {
		counts[rng.IntN(n)]++
	}
	h := q * float64(n-1)
	r := int(h)
	// Order statistic r (0-based) sits at the first position whose
	// cumulative count exceeds r.
	pos, cum := 0, int(counts[0])
	for cum <= r {
		pos++
		cum += int(counts[pos])
	}
	v := sorted[pos]
	f := h - float64(r)
	if f == 0 || r >= n-1 {
		return v
	}
	if cum <= r+1 {
		// Order statistic r+1 was drawn from a later position.
		pos++
		for counts[pos] == 0 {
			pos++
		}
	}
	return interpolateOrderStats(v, sorted[pos], f)
}

// selectKth reorders a so that a[k] holds the k-th smallest (0-based) value,
// with no larger value before it and no smaller value after it, and returns
// that value. It uses quickselect with a median-of-three pivot and a
// three-way partition (robust to the many ties of integer latencies), and
// falls back to sorting the remaining range if partitioning stops making
// progress, bounding the worst case at O(n log n).
func selectKth(a []float64, k int) float64 {
	lo, hi := 0, len(a)-1
	budget := 2*bits.Len(uint(len(a))) + 8
	for lo < hi {
		if budget == 0 {
			slices.Sort(a[lo : hi+1])
			return a[k]
		}
		budget--
		pivot := medianOfThree(a[lo], a[lo+(hi-lo)/2], a[hi])
		lt, i, gt := lo, lo, hi
		for i <= gt {
			switch v := a[i]; {
			case v < pivot:
				a[lt], a[i] = v, a[lt]
				lt++
				i++
			case v > pivot:
				a[i], a[gt] = a[gt], v
				gt--
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt - 1
		case k > gt:
			lo = gt + 1
		default:
			return pivot
		}
	}
	return a[k]
}

func medianOfThree(a, b, c float64) float64 {
	if a > b {
		a, b = b, a
	}
	if b > c {
		b = c
	}
	return max(a, b)
}

// WilsonInterval is the Wilson score interval for k successes in n trials at
// confidence conf (for example 0.95; values outside (0, 1) are clamped). With
// no trials the proportion is unconstrained and the interval is [0, 1]. k is
// clamped to [0, n].
func WilsonInterval(k, n int64, conf float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	k = min(max(k, 0), n)
	z := twoSidedZ(conf)
	if math.IsInf(z, 1) {
		return 0, 1
	}
	nf := float64(n)
	p := float64(k) / nf
	z2 := z * z
	denom := 1 + z2/nf
	center := (p + z2/(2*nf)) / denom
	half := z / denom * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	lo, hi = clampFloat(center-half, 0, 1), clampFloat(center+half, 0, 1)
	if k == 0 {
		lo = 0
	}
	if k == n {
		hi = 1
	}
	return lo, hi
}

// RateComparison compares candidate error proportion with baseline's in a way that is right for sparse counts.
type RateComparison struct {
	BaseErrors, BaseTotal, CandErrors, CandTotal int64
	BaseRate, CandRate                           float64
	Diff, DiffLo, DiffHi                         float64 // CandRate − BaseRate with Newcombe's hybrid score interval (method 10) at conf
	PValue                                       float64 // one-sided Fisher exact test (hypergeometric, computed in log space with math.Lgamma, stable for totals up to 1e7) that the candidate rate exceeds the baseline rate
}

// CompareRates compares the candidate error rate candErrors/candTotal with
// the baseline error rate baseErrors/baseTotal.
//
// The difference gets Newcombe's hybrid score interval (method 10, built
// from the two Wilson intervals), which keeps sensible coverage when errors
// are rare or absent. PValue is the one-sided Fisher exact test of the
// candidate rate exceeding the baseline rate, so a handful of errors in tens
// of thousands of requests is not mistaken for a regression.
//
// Negative totals count as zero and error counts are clamped to
// [0, total]. A side with no requests has rate 0 and the uninformative
// Wilson interval [0, 1], which widens the difference interval accordingly;
// PValue is then 1.
func CompareRates(baseErrors, baseTotal, candErrors, candTotal int64, conf float64) RateComparison {
	baseTotal, candTotal = max(baseTotal, 0), max(candTotal, 0)
	baseErrors = min(max(baseErrors, 0), baseTotal)
	candErrors = min(max(candErrors, 0), candTotal)
	r := RateComparison{
		BaseErrors: baseErrors,
		BaseTotal:  baseTotal,
		CandErrors: candErrors,
		CandTotal:  candTotal,
		PValue:     1,
	}
	if baseTotal > 0 {
		r.BaseRate = float64(baseErrors) / float64(baseTotal)
	}
	if candTotal > 0 {
		r.CandRate = float64(candErrors) / float64(candTotal)
	}
	baseLo, baseHi := WilsonInterval(baseErrors, baseTotal, conf)
	candLo, candHi := WilsonInterval(candErrors, candTotal, conf)
	r.Diff = r.CandRate - r.BaseRate
	r.DiffLo = clampFloat(r.Diff-math.Hypot(r.CandRate-candLo, baseHi-r.BaseRate), -1, 1)
	r.DiffHi = clampFloat(r.Diff+math.Hypot(candHi-r.CandRate, r.BaseRate-baseLo), -1, 1)
	if baseTotal > 0 && candTotal > 0 {
		r.PValue = fisherGreater(candErrors, candTotal, baseErrors, baseTotal)
	}
	return r
}

// fisherGreater is the one-sided Fisher exact test p-value for the first
// group's proportion a/n1 exceeding the second group's c/n2: with all
// margins fixed, the first group's count A is hypergeometric and the result
// is P(A >= a).
//
// The probability mass at the larger of a and the mode is computed in log
// space with math.Lgamma; the remaining terms follow from the ratio of
// consecutive masses relative to it (all at most 1, so nothing overflows) and
// the summation stops once the terms, which decrease away from the mode, no
// longer change the sum.
func fisherGreater(a, n1, c, n2 int64) float64 {
	if n1 <= 0 || n2 <= 0 {
		return 1
	}
	total := n1 + n2
	k := a + c // column total: errors in both groups
	supLo := max(0, n1-(total-k))
	supHi := min(k, n1)
	if a <= supLo {
		return 1
	}
	if a > supHi {
		return 0
	}
	nf, kf, tf := float64(n1), float64(k), float64(total)
	mode := int64(math.Floor((nf + 1) * (kf + 1) / (tf + 2)))
	mode = min(max(mode, supLo), supHi)
	start := max(a, mode)

	// step(i) = P(A = i+1) / P(A = i).
	step := func(i int64) float64 {
		fi := float64(i)
		return (kf - fi) * (nf - fi) / ((fi + 1) * (tf - kf - nf + fi + 1))
	}
	sum, term := 1.0, 1.0
	for i := start; i < supHi; i++ {
		term *= step(i)
		sum += term
		if term <= sum*1e-17 {
			break
		}
	}
	term = 1
	for i := start; i > a; i-- {
		term /= step(i - 1)
		sum += term
		if term <= sum*1e-17 {
			break
		}
	}
	logMass := logChoose(k, start) + logChoose(total-k, n1-start) - logChoose(total, n1)
	return clampFloat(math.Exp(logMass)*sum, 0, 1)
}

// logChoose returns log(C(n, k)) for 0 <= k <= n.
func logChoose(n, k int64) float64 {
	if k == 0 || k == n {
		return 0
	}
	ln, _ := math.Lgamma(float64(n) + 1)
	lk, _ := math.Lgamma(float64(k) + 1)
	lnk, _ := math.Lgamma(float64(n-k) + 1)
	return ln - lk - lnk
}

// twoSidedZ returns the standard normal quantile z_{1−α/2} for a two-sided
// interval at confidence conf = 1 − α. conf <= 0 (or NaN) gives 0 and
// conf >= 1 gives +Inf.
func twoSidedZ(conf float64) float64 {
	switch {
	case !(conf > 0):
		return 0
	case conf >= 1:
		return math.Inf(1)
	}
	return distuv.UnitNormal.Quantile(0.5 + conf/2)
}

// finiteSortedCopy returns the finite values of xs in a new slice sorted in
// ascending order.
func finiteSortedCopy(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, v := range xs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

func clampFloat(v, lo, hi float64) float64 {
	return min(max(v, lo), hi)
}
