package report

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ---------------------------------------------------------------------------
// Reference implementations used as oracles.

// bruteKSD is the largest distance between the two empirical distribution
// functions, evaluated at every observed value.
func bruteKSD(x, y []float64) float64 {
	ecdf := func(s []float64, v float64) float64 {
		c := 0
		for _, w := range s {
			if w <= v {
				c++
			}
		}
		return float64(c) / float64(len(s))
	}
	var d float64
	for _, v := range append(slices.Clone(x), y...) {
		d = math.Max(d, math.Abs(ecdf(x, v)-ecdf(y, v)))
	}
	return d
}

// bruteU counts pairs with y > x plus half the tied pairs.
func bruteU(x, y []float64) float64 {
	var u float64
	for _, xi := range x {
		for _, yj := range y {
			switch {
			case yj > xi:
				u++
			case yj == xi:
				u += 0.5
			}
		}
	}
	return u
}

// bruteZ is the normal approximation of the rank-sum statistic computed from
// explicit mid-ranks of the pooled sample, with tie and continuity
// correction.
func bruteZ(x, y []float64) float64 {
	pooled := append(slices.Clone(x), y...)
	rank := func(v float64) float64 {
		less, equal := 0, 0
		for _, w := range pooled {
			if w < v {
				less++
			} else if w == v {
				equal++
			}
		}
		return float64(less) + float64(equal+1)/2
	}
	var ry float64
	for _, v := range y {
		ry += rank(v)
	}
	n, m := float64(len(x)), float64(len(y))
	u := ry - m*(m+1)/2
	groups := map[float64]float64{}
	for _, v := range pooled {
		groups[v]++
	}
	var ties float64
	for _, t := range groups {
		ties += t*t*t - t
	}
	total := n + m
	sigma := math.Sqrt(n * m / 12 * ((total + 1) - ties/(total*(total-1))))
	delta := u - n*m/2
	if math.Abs(delta) <= 0.5 || sigma == 0 {
		return 0
	}
	return (delta - math.Copysign(0.5, delta)) / sigma
}

// bruteDifferences enumerates every y_j − x_i in ascending order.
func bruteDifferences(x, y []float64) []float64 {
	d := make([]float64, 0, len(x)*len(y))
	for _, xi := range x {
		for _, yj := range y {
			d = append(d, yj-xi)
		}
	}
	slices.Sort(d)
	return d
}

// bruteMosesRank is the 1-based rank of the lower Moses confidence bound.
func bruteMosesRank(n, m int, conf float64) int {
	z := normalQuantileTwoSided(conf)
	nm := float64(n * m)
	k := int(math.Floor(nm/2 - z*math.Sqrt(nm*float64(n+m+1)/12)))
	return max(k, 1)
}

// normalQuantileTwoSided returns z_{1−α/2} for the usual confidence levels.
func normalQuantileTwoSided(conf float64) float64 {
	switch conf {
	case 0.80:
		return 1.2815515655446004
	case 0.90:
		return 1.6448536269514722
	case 0.95:
		return 1.959963984540054
	case 0.99:
		return 2.5758293035489004
	}
	panic("unsupported confidence level")
}

// bruteFisherGreater sums the hypergeometric tail P(A >= a) with exact
// big-integer binomial coefficients.
func bruteFisherGreater(a, n1, c, n2 int64) float64 {
	total, k := n1+n2, a+c
	num := new(big.Int)
	for i := a; i <= min(k, n1); i++ {
		if n1-i > total-k {
			continue
		}
		t := new(big.Int).Binomial(k, i)
		t.Mul(t, new(big.Int).Binomial(total-k, n1-i))
		num.Add(num, t)
	}
	p, _ := new(big.Rat).SetFrac(num, new(big.Int).Binomial(total, n1)).Float64()
	return p
}

// ---------------------------------------------------------------------------
// Sample generators for property-style tests.

type sampleGen struct {
	name string
	gen  func(r *rand.Rand) float64
}

var sampleGens = []sampleGen{
	{"small integers with heavy ties", func(r *rand.Rand) float64 { return float64(r.IntN(5)) }},
	{"integer nanosecond latencies", func(r *rand.Rand) float64 {
		return math.Round(math.Exp(r.NormFloat64()*0.5) * 2e6)
	}},
	{"non-integer values", func(r *rand.Rand) float64 { return r.Float64() * 100 }},
	{"decimal fractions with ties", func(r *rand.Rand) float64 { return float64(r.IntN(40)) / 10 }},
	{"signed values around zero", func(r *rand.Rand) float64 {
		switch r.IntN(6) {
		case 0:
			return 0
		case 1:
			return math.Copysign(0, -1)
		}
		return r.NormFloat64() * 1e-3
	}},
}

func drawSample(r *rand.Rand, n int, gen func(*rand.Rand) float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = gen(r)
	}
	return s
}

func statsLognormalLatencies(r *rand.Rand, n int, median float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.Round(median * math.Exp(r.NormFloat64()*0.4))
	}
	return s
}

// ---------------------------------------------------------------------------

func TestQuantile(t *testing.T) {
	cases := []struct {
		name   string
		sorted []float64
		q      float64
		want   float64
	}{
		{"single value", []float64{7}, 0.3, 7},
		{"minimum", []float64{1, 2, 3, 4}, 0, 1},
		{"maximum", []float64{1, 2, 3, 4}, 1, 4},
		{"lower quartile interpolates", []float64{1, 2, 3, 4}, 0.25, 1.75},
		{"median of even count", []float64{1, 2, 3, 4}, 0.5, 2.5},
		{"median of odd count", []float64{1, 2, 3, 4, 5}, 0.5, 3},
		{"R type 7 p90 of 1..10", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9.1},
		{"R type 7 p99 of 1..10", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.99, 9.91},
		{"q below range clamps", []float64{1, 2}, -0.5, 1},
		{"q above range clamps", []float64{1, 2}, 1.5, 2},
		{"ties", []float64{3, 3, 3, 3}, 0.37, 3},
		{"infinite tail without interpolation", []float64{1, 2, math.Inf(1)}, 0.5, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.InDelta(t, tc.want, Quantile(tc.sorted, tc.q), 1e-12)
		})
	}
	t.Run("empty is NaN", func(t *testing.T) {
		assert.True(t, math.IsNaN(Quantile(nil, 0.5)))
	})
	t.Run("NaN q is NaN", func(t *testing.T) {
		assert.True(t, math.IsNaN(Quantile([]float64{1, 2}, math.NaN())))
	})
}

func TestQuantileSelectKth(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	check := func(t *testing.T, s []float64) {
		sorted := slices.Clone(s)
		slices.Sort(sorted)
		buf := make([]float64, len(s))
		for k := range s {
			copy(buf, s)
			require.Equal(t, sorted[k], selectKth(buf, k), "n=%d k=%d", len(s), k)
			partitioned := slices.Max(buf[:k+1]) == buf[k] && slices.Min(buf[k:]) == buf[k]
			require.True(t, partitioned, "n=%d k=%d: not partitioned around k", len(s), k)
		}
	}
	for _, g := range sampleGens {
		t.Run(g.name, func(t *testing.T) {
			for n := 1; n <= 200; n += 13 {
				check(t, drawSample(r, n, g.gen))
			}
		})
	}
	t.Run("adversarial organ-pipe input", func(t *testing.T) {
		s := make([]float64, 301)
		for i := range s {
			s[i] = float64(min(i, len(s)-1-i))
		}
		check(t, s)
	})
	t.Run("sorted and reversed input", func(t *testing.T) {
		s := make([]float64, 257)
		for i := range s {
			s[i] = float64(i)
		}
		check(t, s)
		slices.Reverse(s)
		check(t, s)
	})
}

func TestQuantileOfResampleMatchesSortedResample(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	qs := []float64{0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1}
	for _, g := range sampleGens {
		t.Run(g.name, func(t *testing.T) {
			for n := 1; n <= 400; n += 37 {
				sorted := drawSample(r, n, g.gen)
				slices.Sort(sorted)
				counts := make([]int32, n)
				for _, q := range qs {
					seed := r.Uint64()
					got := resampleQuantile(sorted, q, counts, rand.New(rand.NewPCG(seed, 0)))

					// The same draws, materialised and sorted.
					replay := rand.New(rand.NewPCG(seed, 0))
					drawn := make([]float64, n)
					for i := range drawn {
						drawn[i] = sorted[replay.IntN(n)]
					}
					slices.Sort(drawn)
					require.Equal(t, Quantile(drawn, q), got, "n=%d q=%v", n, q)
				}
			}
		})
	}
}

func TestKSTest(t *testing.T) {
	cases := []struct {
		name  string
		x, y  []float64
		wantD float64
		wantP float64 // negative: not checked
	}{
		{"identical samples", []float64{1, 2, 3}, []float64{3, 2, 1}, 0, 1},
		{"disjoint samples", []float64{1, 2, 3}, []float64{4, 5, 6}, 1, -1},
		{"interleaved", []float64{1, 3, 5, 7}, []float64{2, 4, 6, 8}, 0.25, -1},
		{"ties across samples", []float64{1, 2, 2, 3}, []float64{2, 2, 3, 3}, 0.25, -1},
		{"unequal sizes", []float64{1, 2, 3, 4, 5}, []float64{3, 4}, 0.4, -1},
		// n = m = 10, D = 0.5: λ = (√5 + 0.12 + 0.11/√5)·0.5 = 1.2026307, and
		// Q(λ) = 2(e^{−2λ²} − e^{−8λ²} + …) = 0.1108403. (The exact
		// permutation p-value for this case is 0.1678; the asymptotic
		// approximation is smaller at such small sizes.)
		{
			"D=0.5 with n=m=10",
			[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
			[]float64{6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
			0.5, 0.11084033741322809,
		},
		{"empty baseline", nil, []float64{1, 2}, 0, 1},
		{"empty candidate", []float64{1, 2}, []float64{}, 0, 1},
		{"non-finite values ignored", []float64{1, math.NaN(), 2, 3}, []float64{3, math.Inf(1), 2, 1}, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, p := KSTest(tc.x, tc.y)
			assert.InDelta(t, tc.wantD, d, 1e-12)
			if tc.wantP >= 0 {
				assert.InDelta(t, tc.wantP, p, 1e-9)
			}
			assert.GreaterOrEqual(t, p, 0.0)
			assert.LessOrEqual(t, p, 1.0)
		})
	}

	t.Run("D matches brute-force ECDF distance", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, g := range sampleGens {
			for n := 1; n <= 40; n += 3 {
				for m := 1; m <= 40; m += 5 {
					x, y := drawSample(r, n, g.gen), drawSample(r, m, g.gen)
					d, _ := KSTest(x, y)
					require.InDelta(t, bruteKSD(x, y), d, 1e-12, "%s n=%d m=%d", g.name, n, m)
				}
			}
		}
	})

	t.Run("inputs are not modified", func(t *testing.T) {
		x, y := []float64{5, 1, 4}, []float64{9, 2, 7}
		KSTest(x, y)
		assert.Equal(t, []float64{5, 1, 4}, x)
		assert.Equal(t, []float64{9, 2, 7}, y)
	})

	t.Run("large shifted samples are significant", func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		x := statsLognormalLatencies(r, 20000, 2e6)
		y := statsLognormalLatencies(r, 20000, 2.2e6)
		_, p := KSTest(x, y)
		assert.Less(t, p, 1e-10)
	})
}

func TestKSDistributionTail(t *testing.T) {
	// Critical values of the Kolmogorov distribution (e.g. Smirnov 1948
	// tables): Q(1.2238) = 0.10, Q(1.3581) = 0.05, Q(1.6276) = 0.01.
	cases := []struct {
		name   string
		lambda float64
		want   float64
		tol    float64
	}{
		{"zero", 0, 1, 0},
		{"tiny", 0.01, 1, 0},
		{"0.5", 0.5, 0.9639452436648751, 1e-12},
		{"1.0", 1.0, 0.26999967167735456, 1e-12},
		{"just below switch", 1.1799999, 0.1234538676588221, 1e-12},
		{"just above switch", 1.18, 0.1234538094297657, 1e-12},
		{"10% critical value", 1.2238, 0.10, 1e-4},
		{"5% critical value", 1.3581, 0.05, 1e-5},
		{"1% critical value", 1.6276, 0.01, 1e-5},
		{"2.0", 2.0, 0.0006709252557796953, 1e-15},
		{"far tail", 10, 2 * math.Exp(-200), 1e-95},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.InDelta(t, tc.want, kolmogorovQ(tc.lambda), tc.tol)
		})
	}
	t.Run("monotone decreasing", func(t *testing.T) {
		prev := 1.0
		for l := 0.0; l < 4; l += 0.001 {
			q := kolmogorovQ(l)
			require.LessOrEqual(t, q, prev+1e-15, "λ=%v", l)
			prev = q
		}
	})
}

func TestMannWhitney(t *testing.T) {
	cases := []struct {
		name      string
		x, y      []float64
		wantU     float64
		wantZ     float64
		wantP     float64
		wantShift float64
	}{
		// R: wilcox.test(c(4,5,6), c(1,2,3), exact = FALSE) gives W = 9,
		// p-value = 0.08086.
		{"candidate entirely above", []float64{1, 2, 3}, []float64{4, 5, 6}, 9, 1.7457431218879391, 0.0808555983700523, 3},
		{"candidate entirely below", []float64{4, 5, 6}, []float64{1, 2, 3}, 0, -1.7457431218879391, 0.0808555983700523, -3},
		{"identical samples", []float64{1, 2, 3}, []float64{1, 2, 3}, 4.5, 0, 1, 0},
		{"all values tied", []float64{2, 2}, []float64{2, 2, 2}, 3, 0, 1, 0},
		{"single pair", []float64{1}, []float64{4}, 1, 0, 1, 3},
		{"empty baseline", nil, []float64{1, 2}, 0, 0, 1, 0},
		{"empty candidate", []float64{1, 2}, nil, 0, 0, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := MannWhitneyTest(tc.x, tc.y, 0.95)
			assert.InDelta(t, tc.wantU, res.U, 1e-12)
			assert.InDelta(t, tc.wantZ, res.Z, 1e-9)
			assert.InDelta(t, tc.wantP, res.P, 1e-9)
			assert.InDelta(t, tc.wantShift, res.Shift, 1e-12)
			assert.LessOrEqual(t, res.ShiftLo, res.Shift)
			assert.GreaterOrEqual(t, res.ShiftHi, res.Shift)
		})
	}

	t.Run("U and Z match brute force", func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, g := range sampleGens {
			for n := 1; n <= 30; n += 4 {
				for m := 1; m <= 30; m += 3 {
					x, y := drawSample(r, n, g.gen), drawSample(r, m, g.gen)
					res := MannWhitneyTest(x, y, 0.95)
					require.Equal(t, bruteU(x, y), res.U, "%s n=%d m=%d", g.name, n, m)
					require.InDelta(t, bruteZ(x, y), res.Z, 1e-9, "%s n=%d m=%d", g.name, n, m)
					require.InDelta(t, 2*(1-stdNormalCDF(math.Abs(res.Z))), res.P, 1e-9)
				}
			}
		}
	})

	t.Run("inputs are not modified", func(t *testing.T) {
		x, y := []float64{5, 1, 4}, []float64{9, 2, 7}
		MannWhitneyTest(x, y, 0.95)
		assert.Equal(t, []float64{5, 1, 4}, x)
		assert.Equal(t, []float64{9, 2, 7}, y)
	})

	t.Run("large shift is detected with a tight interval", func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		x := statsLognormalLatencies(r, 20000, 2e6)
		y := make([]float64, len(x))
		for i := range y {
			y[i] = math.Round(2e6*math.Exp(r.NormFloat64()*0.4)) + 1e5
		}
		res := MannWhitneyTest(x, y, 0.95)
		assert.Greater(t, res.Z, 5.0)
		assert.Less(t, res.P, 1e-6)
		assert.InDelta(t, 1e5, res.Shift, 2e4)
		assert.Greater(t, res.ShiftLo, 0.0)
		assert.Less(t, res.ShiftLo, res.ShiftHi)
	})
}

func stdNormalCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

func TestHodgesLehmannAgainstEnumeration(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	confs := []float64{0.80, 0.90, 0.95, 0.99}
	for _, g := range sampleGens {
		t.Run(g.name, func(t *testing.T) {
			for iter := 0; iter < 150; iter++ {
				n, m := 1+r.IntN(60), 1+r.IntN(60)
				x, y := drawSample(r, n, g.gen), drawSample(r, m, g.gen)
				diffs := bruteDifferences(x, y)
				nm := len(diffs)
				var median float64
				if nm%2 == 1 {
					median = diffs[nm/2]
				} else {
					median = (diffs[nm/2-1] + diffs[nm/2]) / 2
				}
				conf := confs[iter%len(confs)]
				k := bruteMosesRank(n, m, conf)

				res := MannWhitneyTest(x, y, conf)
				scale := math.Max(1, math.Abs(median))
				require.InDelta(t, median, res.Shift, 1e-12*scale, "n=%d m=%d", n, m)
				require.Equal(t, diffs[k-1], res.ShiftLo, "n=%d m=%d conf=%v k=%d", n, m, conf, k)
				require.Equal(t, diffs[nm-k], res.ShiftHi, "n=%d m=%d conf=%v k=%d", n, m, conf, k)
			}
		})
	}
}

func TestHodgesLehmannKthDifferenceEveryRank(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	// A window limit of 0 forces the search to bisect all the way down to
	// adjacent float64 values; small limits mix bisection with selection;
	// the default selects directly at these sizes.
	limits := []int64{0, 1, 7, 50, -1}
	for _, g := range sampleGens {
		t.Run(g.name, func(t *testing.T) {
			for iter := 0; iter < 40; iter++ {
				x, y := drawSample(r, 1+r.IntN(15), g.gen), drawSample(r, 1+r.IntN(15), g.gen)
				diffs := bruteDifferences(x, y)
				sx, sy := finiteSortedCopy(x), finiteSortedCopy(y)
				for _, limit := range limits {
					sel := newDifferenceSelector(sx, sy)
					if limit >= 0 {
						sel.windowLimit = limit
					}
					for k := 1; k <= len(diffs); k++ {
						got := sel.kth(int64(k))
						require.Equal(t, diffs[k-1], got, "k=%d limit=%d", k, limit)
						require.False(t, math.Signbit(got) && got == 0, "negative zero returned")
					}
				}
			}
		})
	}
}

func TestHodgesLehmannLargerSamplesAgainstEnumeration(t *testing.T) {
	// Large enough that the default search bisects before selecting.
	r := rand.New(rand.NewPCG(15, 16))
	for _, g := range sampleGens {
		t.Run(g.name, func(t *testing.T) {
			x, y := drawSample(r, 500, g.gen), drawSample(r, 420, g.gen)
			diffs := bruteDifferences(x, y)
			nm := len(diffs)
			sel := newDifferenceSelector(finiteSortedCopy(x), finiteSortedCopy(y))
			for _, k := range []int{1, 2, 17, nm / 100, nm / 4, nm/2 - 1, nm / 2, nm/2 + 1, nm - 5, nm} {
				require.Equal(t, diffs[k-1], sel.kth(int64(k)), "k=%d", k)
			}
			res := MannWhitneyTest(x, y, 0.95)
			kLo := bruteMosesRank(len(x), len(y), 0.95)
			assert.InDelta(t, (diffs[nm/2-1]+diffs[nm/2])/2, res.Shift, 1e-12*math.Max(1, math.Abs(res.Shift)))
			assert.Equal(t, diffs[kLo-1], res.ShiftLo)
			assert.Equal(t, diffs[nm-kLo], res.ShiftHi)
		})
	}
}

func TestHodgesLehmannMosesKnownRank(t *testing.T) {
	// n = m = 10 at 95%: k = floor(50 − 1.96·√(100·21/12)) = floor(24.07) = 24,
	// which agrees with the exact critical value of U (23) plus one.
	x := make([]float64, 10)
	y := make([]float64, 10)
	for i := range x {
		x[i] = float64(i)       // 0..9
		y[i] = float64(100 * i) // differences are all distinct
	}
	diffs := bruteDifferences(x, y)
	res := MannWhitneyTest(x, y, 0.95)
	assert.Equal(t, diffs[23], res.ShiftLo)
	assert.Equal(t, diffs[100-24], res.ShiftHi)
}

func TestHodgesLehmannOrderedKey(t *testing.T) {
	vals := []float64{math.Inf(-1), -math.MaxFloat64, -1, -math.SmallestNonzeroFloat64, math.Copysign(0, -1), 0,
		math.SmallestNonzeroFloat64, 1, math.MaxFloat64, math.Inf(1)}
	for i, v := range vals {
		assert.Equal(t, math.Float64bits(v), math.Float64bits(fromOrderedKey(orderedKey(v))))
		if i > 0 {
			assert.Less(t, orderedKey(vals[i-1]), orderedKey(v))
		}
	}
}

func TestBootstrapQuantileRatio(t *testing.T) {
	src := rand.New(rand.NewPCG(21, 22))
	base := statsLognormalLatencies(src, 3000, 2e6)
	sameDist := statsLognormalLatencies(src, 3000, 2e6)
	shifted := make([]float64, len(base))
	for i, v := range base {
		shifted[i] = v + 2e6
	}
	bigBase := statsLognormalLatencies(src, 20000, 2e6)
	bigCand := statsLognormalLatencies(src, 20000, 2e6)

	cases := []struct {
		name     string
		x, y     []float64
		q        float64
		check    func(t *testing.T, ratio, lo, hi float64)
		wantNaNs bool
	}{
		{"identical samples contain 1", base, base, 0.99, func(t *testing.T, ratio, lo, hi float64) {
			assert.Equal(t, 1.0, ratio)
			assert.LessOrEqual(t, lo, 1.0)
			assert.GreaterOrEqual(t, hi, 1.0)
		}, false},
		{"same distribution contains 1", base, sameDist, 0.95, func(t *testing.T, ratio, lo, hi float64) {
			assert.LessOrEqual(t, lo, 1.0)
			assert.GreaterOrEqual(t, hi, 1.0)
			assert.InDelta(t, 1, ratio, 0.1)
		}, false},
		{"large shift excludes 1", base, shifted, 0.5, func(t *testing.T, ratio, lo, hi float64) {
			assert.Greater(t, lo, 1.0)
			assert.Greater(t, ratio, 1.5)
		}, false},
		{"subsampled large inputs contain 1", bigBase, bigCand, 0.99, func(t *testing.T, ratio, lo, hi float64) {
			assert.LessOrEqual(t, lo, 1.0)
			assert.GreaterOrEqual(t, hi, 1.0)
		}, false},
		{"empty baseline", nil, base, 0.5, nil, true},
		{"empty candidate", base, nil, 0.5, nil, true},
		{"zero baseline quantile", []float64{0, 0, 0, 5}, []float64{1, 2, 3}, 0.5, nil, true},
		{"NaN quantile", base, base, math.NaN(), nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ratio, lo, hi := BootstrapQuantileRatio(tc.x, tc.y, tc.q, 1000, 0.95, rand.New(rand.NewPCG(1, 1)))
			if tc.wantNaNs {
				assert.True(t, math.IsNaN(ratio))
				assert.True(t, math.IsNaN(lo))
				assert.True(t, math.IsNaN(hi))
				return
			}
			require.LessOrEqual(t, lo, hi)
			tc.check(t, ratio, lo, hi)
		})
	}

	t.Run("deterministic for the same seed", func(t *testing.T) {
		r1, l1, h1 := BootstrapQuantileRatio(bigBase, bigCand, 0.99, 300, 0.95, rand.New(rand.NewPCG(42, 7)))
		r2, l2, h2 := BootstrapQuantileRatio(bigBase, bigCand, 0.99, 300, 0.95, rand.New(rand.NewPCG(42, 7)))
		assert.Equal(t, [3]float64{r1, l1, h1}, [3]float64{r2, l2, h2})
		r3, l3, h3 := BootstrapQuantileRatio(bigBase, bigCand, 0.99, 300, 0.95, nil)
		r4, l4, h4 := BootstrapQuantileRatio(bigBase, bigCand, 0.99, 300, 0.95, nil)
		assert.Equal(t, [3]float64{r3, l3, h3}, [3]float64{r4, l4, h4})
	})

	t.Run("point estimate uses full samples", func(t *testing.T) {
		sx, sy := slices.Clone(bigBase), slices.Clone(bigCand)
		slices.Sort(sx)
		slices.Sort(sy)
		ratio, _, _ := BootstrapQuantileRatio(bigBase, bigCand, 0.999, 10, 0.95, rand.New(rand.NewPCG(1, 2)))
		assert.Equal(t, Quantile(sy, 0.999)/Quantile(sx, 0.999), ratio)
	})

	t.Run("no iterations gives only the point estimate", func(t *testing.T) {
		ratio, lo, hi := BootstrapQuantileRatio([]float64{1, 2, 3}, []float64{2, 4, 6}, 0.5, 0, 0.95, nil)
		assert.Equal(t, 2.0, ratio)
		assert.True(t, math.IsNaN(lo))
		assert.True(t, math.IsNaN(hi))
	})

	t.Run("wider confidence gives a wider interval", func(t *testing.T) {
		_, lo90, hi90 := BootstrapQuantileRatio(base, sameDist, 0.9, 1000, 0.90, rand.New(rand.NewPCG(3, 3)))
		_, lo99, hi99 := BootstrapQuantileRatio(base, sameDist, 0.9, 1000, 0.99, rand.New(rand.NewPCG(3, 3)))
		assert.LessOrEqual(t, lo99, lo90)
		assert.GreaterOrEqual(t, hi99, hi90)
	})

	t.Run("inputs are not modified", func(t *testing.T) {
		x, y := slices.Clone(bigBase), slices.Clone(bigCand)
		BootstrapQuantileRatio(x, y, 0.99, 50, 0.95, rand.New(rand.NewPCG(1, 2)))
		assert.Equal(t, bigBase, x)
		assert.Equal(t, bigCand, y)
	})

	t.Run("strided subsample keeps the range of ranks", func(t *testing.T) {
		s := make([]float64, 20000)
		for i := range s {
			s[i] = float64(i)
		}
		sub := stridedSubsample(s, maxBootstrapSample)
		require.Len(t, sub, maxBootstrapSample)
		assert.Equal(t, 2.0, sub[0])
		assert.Equal(t, 19998.0, sub[len(sub)-1])
		assert.True(t, slices.IsSorted(sub))
		assert.InDelta(t, Quantile(s, 0.99), Quantile(sub, 0.99), 5)
	})
}

func TestWilsonInterval(t *testing.T) {
	// Reference values: Newcombe (1998), "Two-sided confidence intervals for
	// the single proportion", Table I (score method without continuity
	// correction), and the usual textbook values for n = 10.
	cases := []struct {
		name   string
		k, n   int64
		conf   float64
		lo, hi float64
		tol    float64
	}{
		{"81/263", 81, 263, 0.95, 0.2553, 0.3662, 5e-5},
		{"15/148", 15, 148, 0.95, 0.0624, 0.1605, 5e-5},
		{"0/20", 0, 20, 0.95, 0, 0.1611, 5e-5},
		{"1/29", 1, 29, 0.95, 0.0061, 0.1718, 5e-5},
		{"0/10", 0, 10, 0.95, 0, 0.2775, 5e-5},
		{"5/10", 5, 10, 0.95, 0.2366, 0.7634, 5e-5},
		{"10/10", 10, 10, 0.95, 0.7225, 1, 5e-5},
		{"no trials is uninformative", 0, 0, 0.95, 0, 1, 0},
		{"negative trials treated as none", 3, -5, 0.95, 0, 1, 0},
		{"successes clamped to trials", 12, 10, 0.95, 0.7225, 1, 5e-5},
		{"full confidence is uninformative", 5, 10, 1, 0, 1, 0},
		{"zero confidence collapses to the estimate", 5, 10, 0, 0.5, 0.5, 1e-12},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi := WilsonInterval(tc.k, tc.n, tc.conf)
			assert.InDelta(t, tc.lo, lo, tc.tol)
			assert.InDelta(t, tc.hi, hi, tc.tol)
		})
	}
}

func TestRatesNewcombeHybrid(t *testing.T) {
	// Newcombe (1998), "Interval estimation for the difference between
	// independent proportions", Table II, method 10. The first proportion is
	// the candidate, the second the baseline.
	cases := []struct {
		name         string
		candE, candN int64
		baseE, baseN int64
		diff, lo, hi float64
	}{
		{"56/70 vs 48/80", 56, 70, 48, 80, 0.2, 0.0524, 0.3339},
		{"9/10 vs 3/10", 9, 10, 3, 10, 0.6, 0.1705, 0.8090},
		{"6/7 vs 2/7", 6, 7, 2, 7, 4.0 / 7, 0.0582, 0.8062},
		{"5/56 vs 0/29", 5, 56, 0, 29, 5.0 / 56, -0.0381, 0.1926},
		{"0/10 vs 0/20", 0, 10, 0, 20, 0, -0.1611, 0.2775},
		{"0/10 vs 0/10", 0, 10, 0, 10, 0, -0.2775, 0.2775},
		{"10/10 vs 0/20", 10, 10, 0, 20, 1, 0.6791, 1},
		{"10/10 vs 0/10", 10, 10, 0, 10, 1, 0.6075, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := CompareRates(tc.baseE, tc.baseN, tc.candE, tc.candN, 0.95)
			assert.InDelta(t, tc.diff, r.Diff, 1e-12)
			assert.InDelta(t, tc.lo, r.DiffLo, 5e-5)
			assert.InDelta(t, tc.hi, r.DiffHi, 5e-5)
			assert.Equal(t, tc.baseE, r.BaseErrors)
			assert.Equal(t, tc.candN, r.CandTotal)
		})
	}
}

func TestRatesSparseAndDegenerate(t *testing.T) {
	cases := []struct {
		name                       string
		baseE, baseN, candE, candN int64
		check                      func(t *testing.T, r RateComparison)
	}{
		{"three errors in 20k is not significant", 0, 20000, 3, 20000, func(t *testing.T, r RateComparison) {
			// P(A >= 3) with 3 errors split between equal groups ≈ (1/2)³.
			assert.InDelta(t, 0.125, r.PValue, 1e-3)
			assert.Greater(t, r.PValue, 0.01)
			assert.LessOrEqual(t, r.DiffLo, 0.0)
		}},
		{"two hundred errors in 20k is highly significant", 0, 20000, 200, 20000, func(t *testing.T, r RateComparison) {
			assert.Less(t, r.PValue, 1e-50)
			assert.Greater(t, r.PValue, 0.0)
			assert.Greater(t, r.DiffLo, 0.0)
			assert.InDelta(t, 0.01, r.Diff, 1e-12)
		}},
		{"candidate better than baseline", 200, 20000, 0, 20000, func(t *testing.T, r RateComparison) {
			assert.InDelta(t, 1, r.PValue, 1e-12)
			assert.Less(t, r.DiffHi, 0.0)
		}},
		{"no errors anywhere", 0, 20000, 0, 20000, func(t *testing.T, r RateComparison) {
			assert.Equal(t, 1.0, r.PValue)
			assert.Equal(t, 0.0, r.Diff)
			assert.Less(t, r.DiffLo, 0.0)
			assert.Greater(t, r.DiffHi, 0.0)
		}},
		{"empty baseline", 0, 0, 5, 100, func(t *testing.T, r RateComparison) {
			assert.Equal(t, 1.0, r.PValue)
			assert.Equal(t, 0.0, r.BaseRate)
			assert.InDelta(t, 0.05, r.CandRate, 1e-12)
			assert.Less(t, r.DiffLo, 0.0)
		}},
		{"empty candidate", 5, 100, 0, 0, func(t *testing.T, r RateComparison) {
			assert.Equal(t, 1.0, r.PValue)
			assert.Equal(t, 0.0, r.CandRate)
			assert.Greater(t, r.DiffHi, 0.0)
		}},
		{"both empty", 0, 0, 0, 0, func(t *testing.T, r RateComparison) {
			assert.Equal(t, 1.0, r.PValue)
			assert.Equal(t, 0.0, r.Diff)
			assert.Equal(t, -1.0, r.DiffLo)
			assert.Equal(t, 1.0, r.DiffHi)
		}},
		{"invalid counts are clamped", -3, 100, 150, 100, func(t *testing.T, r RateComparison) {
			assert.Equal(t, int64(0), r.BaseErrors)
			assert.Equal(t, int64(100), r.CandErrors)
			assert.Equal(t, 1.0, r.CandRate)
			assert.Less(t, r.PValue, 1e-50)
		}},
		{"totals of ten million stay finite", 1000, 10_000_000, 1300, 10_000_000, func(t *testing.T, r RateComparison) {
			assert.False(t, math.IsNaN(r.PValue))
			assert.Greater(t, r.PValue, 0.0)
			assert.Less(t, r.PValue, 1e-6)
			assert.Greater(t, r.DiffLo, 0.0)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := CompareRates(tc.baseE, tc.baseN, tc.candE, tc.candN, 0.95)
			assert.GreaterOrEqual(t, r.PValue, 0.0)
			assert.LessOrEqual(t, r.PValue, 1.0)
			assert.LessOrEqual(t, r.DiffLo, r.Diff)
			assert.GreaterOrEqual(t, r.DiffHi, r.Diff)
			tc.check(t, r)
		})
	}
}

func TestFisherAgainstExactSum(t *testing.T) {
	cases := []struct {
		name         string
		a, n1, c, n2 int64
	}{
		{"textbook tea tasting", 3, 4, 1, 4},
		{"no errors", 0, 10, 0, 10},
		{"candidate only", 4, 10, 0, 10},
		{"baseline only", 0, 10, 4, 10},
		{"unequal sizes", 7, 30, 2, 50},
		{"all errors", 10, 10, 10, 10},
		{"sparse", 3, 2000, 0, 2000},
		{"moderate", 40, 500, 25, 600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := bruteFisherGreater(tc.a, tc.n1, tc.c, tc.n2)
			assert.InDelta(t, want, fisherGreater(tc.a, tc.n1, tc.c, tc.n2), 1e-12+1e-10*want)
		})
	}
	t.Run("tea tasting reference value", func(t *testing.T) {
		// Fisher's lady tasting tea: 3 of 4 correct, one-sided p = 17/70.
		assert.InDelta(t, 17.0/70, fisherGreater(3, 4, 1, 4), 1e-12)
	})
	t.Run("random small tables", func(t *testing.T) {
		r := rand.New(rand.NewPCG(31, 32))
		for iter := 0; iter < 500; iter++ {
			n1, n2 := 1+r.Int64N(60), 1+r.Int64N(60)
			a, c := r.Int64N(n1+1), r.Int64N(n2+1)
			want := bruteFisherGreater(a, n1, c, n2)
			got := fisherGreater(a, n1, c, n2)
			require.InDelta(t, want, got, 1e-12+1e-9*want, "a=%d n1=%d c=%d n2=%d", a, n1, c, n2)
		}
	})
}

// ---------------------------------------------------------------------------

func BenchmarkMannWhitney20k(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := statsLognormalLatencies(r, 20000, 2e6)
	y := statsLognormalLatencies(r, 20000, 2.1e6)
	b.ReportAllocs()
	for b.Loop() {
		MannWhitneyTest(x, y, 0.95)
	}
}

// BenchmarkMannWhitney20kTied uses latencies rounded to whole milliseconds,
// so that most pairwise differences are shared by very many pairs.
func BenchmarkMannWhitney20kTied(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := statsLognormalLatencies(r, 20000, 2e6)
	y := statsLognormalLatencies(r, 20000, 2.1e6)
	for i := range x {
		x[i] = math.Round(x[i]/1e6) * 1e6
		y[i] = math.Round(y[i]/1e6) * 1e6
	}
	b.ReportAllocs()
	for b.Loop() {
		MannWhitneyTest(x, y, 0.95)
	}
}

func BenchmarkBootstrap(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := statsLognormalLatencies(r, 20000, 2e6)
	y := statsLognormalLatencies(r, 20000, 2.1e6)
	b.ReportAllocs()
	for b.Loop() {
		BootstrapQuantileRatio(x, y, 0.99, 1000, 0.95, rand.New(rand.NewPCG(3, 4)))
	}
}

func BenchmarkKSTest20k(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := statsLognormalLatencies(r, 20000, 2e6)
	y := statsLognormalLatencies(r, 20000, 2.1e6)
	b.ReportAllocs()
	for b.Loop() {
		KSTest(x, y)
	}
}
