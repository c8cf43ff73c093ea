package btyd

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/integrate/quad"
	"gonum.org/v1/gonum/mathext"
)

// TestLog2F1 checks the series against gonum's mathext.Hypergeo where that
// is accurate, that values beyond the float64 range stay finite, and that a
// series that cannot converge in the term cap is an error.
func TestLog2F1(t *testing.T) {
	for _, c := range []struct{ k, m, z float64 }{
		{1.606, 1.16, 0.09}, {0.553, 1.16, 0.3}, {3.2, 12.5, 0.5}, {1, 2, 0.9}, {20.5, 21.1, 0.2}, {1.606, 1.16, 0.99},
	} {
		got, err := log2F1(c.k, c.m, c.z)
		want := math.Log(mathext.Hypergeo(c.k, c.m, c.m+1, c.z))
		if err != nil || math.Abs(got-want) > 1e-11*math.Max(1, math.Abs(want)) {
			t.Errorf("log 2F1(%v, %v; %v; %v) = %.15g, %v; mathext %.15g", c.k, c.m, c.m+1, c.z, got, err, want)
		}
	}
	if got, err := log2F1(500.5, 501.1, 0.99); err != nil || !(got > 700) || math.IsInf(got, 0) {
		t.Errorf("log 2F1(500.5, 501.1; 502.1; 0.99) = %v, %v; want finite, beyond the float64 range", got, err)
	}
	if _, err := log2F1(1.5, 2, 1-1e-9); err == nil {
		t.Error("series with z = 1-1e-9 reported convergence within the term cap")
	}
}

// TestLogIntegral compares logIntegral (tail difference or quadrature)
// with brute-force quadrature of the integrand.
func TestLogIntegral(t *testing.T) {
	// brute is one 4000-point Gauss-Legendre rule in u = log(min(a,b)+τ),
	// scaled by exp(−ref) so that it cannot overflow.
	brute := func(p, q, a, b, lo, hi, ref float64) float64 {
		c := math.Min(a, b)
		u0, width := math.Log(c+lo), math.Log1p((hi-lo)/(c+lo))
		f := func(s float64) float64 {
			u := u0 + s*width
			e := math.Exp(u)
			return width * math.Exp(u-p*math.Log(e+a-c)-q*math.Log(e+b-c)-ref)
		}
		return ref + math.Log(quad.Fixed(f, 0, 1, 4000, quad.Legendre{}, 0))
	}
	for _, c := range []struct{ p, q, a, b, lo, hi float64 }{
		{0.553, 1.606, 10.578, 11.669, 0, 30},
		{3.553, 1.606, 10.578, 11.669, 20, 38.9},
		{3.553, 1.606, 10.578, 11.669, 38.7, 38.86},   // short: quadrature
		{1.553, 0.606, 10.578, 11.669, 38, 38.000001}, // very short
		{5.5, 1.6, 0.01, 300, 2, 50},
		{5.5, 1.6, 300, 0.01, 2, 50},
		{40.5, 2, 3, 4, 10, 52},
		{1.6, 0.6, 1e-9, 50, 0, 52},   // z ≈ 1 at lo: split tail
		{500.6, 0.6, 1e-7, 1e4, 0, 1}, // and a steep integrand
		{0.6, 1.5, 1e4, 1e-8, 0, 30},
	} {
		got, err := logIntegral(c.p, c.q, c.a, c.b, c.lo, c.hi)
		want := brute(c.p, c.q, c.a, c.b, c.lo, c.hi, got)
		if err != nil || math.Abs(got-want) > 1e-9 || math.IsNaN(got) {
			t.Errorf("log ∫ %+v = %.15g (%v), brute force %.15g", c, got, err, want)
		}
	}
	if got, err := logIntegral(1, 1, 1, 1, 5, 5); err != nil || !math.IsInf(got, -1) {
		t.Errorf("empty interval: %v, %v; want -Inf", got, err)
	}
}
