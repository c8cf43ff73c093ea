package btyd

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/integrate/quad"
)

// maxHypergeoTerms caps the 2F1 series: it fails beyond.
const maxHypergeoTerms = 1_000_000

// seriesBudget: the series needs about (k+60)/(1−z) terms; logTail uses it
// directly only where that is below this budget.
const seriesBudget = 1000

// ln1e250 rescales the 2F1 series before it overflows.
var ln1e250 = 250 * math.Ln10

// log2F1 returns log 2F1(k, m; m+1; z) for k, m > 0 and 0 ≤ z < 1, the
// hypergeometric function of the Pareto/NBD expressions:
//
//	2F1(k, m; m+1; z) = m ∫_0^1 v^(m−1) (1−zv)^(−k) dv = Σ_n (k)_n/n! · m/(m+n) · z^n.
//
// The series has positive terms; it is summed with rescaling (the value can
// exceed the float64 range, e.g. k = r+x = 500) until a bound on the
// remainder is negligible, and fails when that takes more than
// maxHypergeoTerms terms.
func log2F1(k, m, z float64) (float64, error) {
	c, sum, logScale := 1.0, 1.0, 0.0
	// The ratio of consecutive terms is below (k+j)z/(j+1), which tends to
	// z: from above when k ≥ 1 (so after term n it is at most
	// (k+n+1)z/(n+2)), from below when k < 1 (at most z). The remainder
	// after a term is then at most term·rho/(1−rho).
	decreasing := k >= 1
	for n := 0; n < maxHypergeoTerms; n++ {
		fn := float64(n)
		c *= (k + fn) * z / (fn + 1) // (k)_{n+1} z^{n+1} / (n+1)!
		term := c * m / (m + fn + 1)
		sum += term
		if sum > 1e250 {
			c, sum, term, logScale = c*1e-250, sum*1e-250, term*1e-250, logScale+ln1e250
		}
		rho := z
		if decreasing {
			rho = (k + fn + 1) * z / (fn + 2)
		}
		if rho < 1 && term*rho/(1-rho) <= 1e-16*sum {
			return math.Log(sum) + logScale, nil
		}
	}
	return math.NaN(), fmt.Errorf("btyd: hypergeometric series 2F1(%g, %g; %g; %g) did not converge in %d terms", k, m, m+1, z, maxHypergeoTerms)
}

// logTail returns log ∫_lo^∞ (a+τ)^−p (b+τ)^−q dτ for p+q > 1. With
// c = max(a, b) + lo, d = |a−b| and m = p+q−1 it is
//
//	c^−m / m · 2F1(k, m; m+1; d/c),   k = q if a ≥ b, else p,
//
// the branch on a vs b (Fader & Hardie's note on the Pareto/NBD, lifetimes'
// _log_A_0) that keeps the argument in [0, 1). When d/c is so close to 1
// that the series would be long (min(a, b) + lo small next to max(a, b)),
// the integral is split where d/c = 1/2: the part before by quadrature, the
// tail by the series.
func logTail(p, q, a, b, lo float64) (float64, error) {
	m := p + q - 1
	k, big, small := q, a, b
	if a < b {
		k, big, small = p, b, a
	}
	if c := big + lo; 2*(big-small) > c && (k+60)*c > seriesBudget*(small+lo) { // z > 1/2, long series
		split := big - 2*small // > lo since z > 1/2
		tail, err := logTailSeries(k, m, big, small, split)
		l, _ := logAddExp(logQuadrature(p, q, a, b, lo, split), tail)
		return l, err
	}
	return logTailSeries(k, m, big, small, lo)
}

// logTailSeries is logTail by the 2F1 series, k, m and the branch chosen.
func logTailSeries(k, m, big, small, lo float64) (float64, error) {
	c := big + lo
	h, err := log2F1(k, m, (big-small)/c)
	return h - m*math.Log(c) - math.Log(m), err
}

// logIntegral returns log ∫_lo^hi (a+τ)^−p (b+τ)^−q dτ for p+q > 1 and
// finite 0 ≤ lo ≤ hi (−Inf when lo = hi). It is the difference of two
// tails; where that difference would lose more than two digits to
// cancellation, the integral is computed by quadrature instead.
func logIntegral(p, q, a, b, lo, hi float64) (float64, error) {
	if !(hi > lo) {
		return math.Inf(-1), nil
	}
	fl, err := logTail(p, q, a, b, lo)
	if err != nil {
		return math.NaN(), err
	}
	fh, err := logTail(p, q, a, b, hi)
	if err != nil {
		return math.NaN(), err
	}
	if fh-fl > -0.01 {
		return logQuadrature(p, q, a, b, lo, hi), nil
	}
	return fl + math.Log(-math.Expm1(fh-fl)), nil
}

// glNodes and glWeights are the 8-point Gauss-Legendre rule on [−1, 1].
var glNodes, glWeights = func() ([]float64, []float64) {
	x, w := make([]float64, 8), make([]float64, 8)
	quad.Legendre{}.FixedLocations(x, w, -1, 1)
	return x, w
}()

// maxPanels caps the panels of logQuadrature.
const maxPanels = 20_000

// logQuadrature returns log ∫_lo^hi (a+τ)^−p (b+τ)^−q dτ by composite
// 8-point Gauss-Legendre quadrature in u = log(min(a,b)+τ), where the
// integrand is smooth and log-concave, on panels of width ≤ 4/(p+q) (over
// which its logarithm changes by at most about 4: the 8-point rule is then
// exact to ~1e-13 for an exponential), scaled by its maximum so that it
// cannot under- or overflow. The panels stop once the integrand has fallen
// below e^−40 of its maximum for good.
func logQuadrature(p, q, a, b, lo, hi float64) float64 {
	j, k, c, d := p, q, a, b-a // (c+τ)^−j (c+d+τ)^−k with c = min(a, b)
	if b < a {
		j, k, c, d = q, p, b, a-b
	}
	logG := func(u float64) float64 { // log of the integrand in u, dτ = e^u du
		return (1-j)*u - k*math.Log(math.Exp(u)+d)
	}
	u0, width := math.Log(c+lo), math.Log1p((hi-lo)/(c+lo))
	ref, us := math.Max(logG(u0), logG(u0+width)), math.Inf(-1)
	if j < 1 && d > 0 { // interior maximum of the log-concave integrand
		us = math.Log((1 - j) * d / (k + j - 1))
		if us > u0 && us < u0+width {
			ref = math.Max(ref, logG(us))
		}
	}
	panels := min(maxPanels, max(1, int(math.Ceil(width*(p+q)/4))))
	h := width / float64(panels)
	sum := 0.0
	for i := range panels {
		start := u0 + float64(i)*h
		if start > us && logG(start) < ref-40 {
			break // past the maximum: the rest is negligible
		}
		for n, x := range glNodes {
			sum += glWeights[n] * math.Exp(logG(start+(x+1)*h/2)-ref)
		}
	}
	return ref + math.Log(sum*h/2)
}
