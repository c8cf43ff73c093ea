package btyd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// purchaseModel is the prediction API the three count models share.
type purchaseModel interface {
	ProbAlive(x, tx, T float64) float64
	ProbPurchase(t, x, tx, T float64) float64
	ExpectedPurchases(t, x, tx, T float64) float64
	LogLikelihood(x, tx, T []float64) (float64, error)
}

// extremeModels are the three models at typical, tiny, huge and lopsided
// parameters.
func extremeModels() map[string]purchaseModel {
	out := map[string]purchaseModel{}
	for _, p := range [][4]float64{
		{0.55, 10.6, 0.61, 11.7}, {1e-4, 1e-4, 1e-4, 1e-4}, {1e4, 1e4, 1e4, 1e4},
		{1e-4, 1e4, 1e4, 1e-4}, {1e4, 1e-4, 1e-4, 1e4}, {0.5, 1e-6, 0.6, 1e6}, {0.5, 1e6, 0.6, 1e-6},
	} {
		out[fmt.Sprintf("pnbd%v", p)] = &ParetoNBD{R: p[0], Alpha: p[1], S: p[2], Beta: p[3]}
		out[fmt.Sprintf("mbgnbd%v", p)] = &MBGNBD{R: p[0], Alpha: p[1], A: p[2], B: p[3]}
		out[fmt.Sprintf("bgnbd%v", p)] = &BGNBD{R: p[0], Alpha: p[1], A: p[2], B: p[3]}
	}
	return out
}

// extremeCustomers: no repeat purchase with a huge T, very many purchases,
// t_x = T, t_x = 0 and T = 0.
var extremeCustomers = [][3]float64{
	{0, 0, 1e5}, {0, 0, 39}, {500, 51, 52}, {500, 52, 52}, {5000, 10, 520}, {3, 38, 38}, {3, 0, 38}, {0, 0, 0}, {1, 0, 1e-9},
}

// seriesTerms estimates the terms of the BG/NBD-family expectation series,
// (r+x)·t/(α+T); 0 for the Pareto/NBD, which has a closed form.
func seriesTerms(m purchaseModel, t, x, T float64) float64 {
	switch m := m.(type) {
	case *BGNBD:
		return (m.R + x) * t / (m.Alpha + T)
	case *MBGNBD:
		return (m.R + x) * t / (m.Alpha + T)
	}
	return 0
}

// TestExtremeCustomers: log-likelihood finite, P(alive) and P(buy) in [0, 1],
// expectations finite and ≥ 0, for every model and customer above.
func TestExtremeCustomers(t *testing.T) {
	for name, m := range extremeModels() {
		for _, c := range extremeCustomers {
			x, tx, T := c[0], c[1], c[2]
			ll, err := m.LogLikelihood([]float64{x}, []float64{tx}, []float64{T})
			if err != nil || math.IsNaN(ll) || math.IsInf(ll, 0) {
				t.Errorf("%s customer %v: log-likelihood %v, %v", name, c, ll, err)
			}
			if pa := m.ProbAlive(x, tx, T); !(pa >= 0 && pa <= 1) {
				t.Errorf("%s customer %v: P(alive) = %v", name, c, pa)
			}
			for _, h := range []float64{1e-6, 39, 1e4} {
				if seriesTerms(m, h, x, T) > 1e6 {
					continue // slow (BG/NBD series), not a robustness question
				}
				e, p := m.ExpectedPurchases(h, x, tx, T), m.ProbPurchase(h, x, tx, T)
				if !(e >= 0) || math.IsInf(e, 0) || !(p >= 0 && p <= 1) {
					t.Errorf("%s customer %v horizon %v: E[X] = %v, P(X>0) = %v", name, c, h, e, p)
				}
			}
		}
	}
}

// TestPredictionsGrowWithHorizon is a property test: for random parameters
// and customers, E[X(t)] and P(X(t) > 0) do not decrease with t, and
// P(X(t) > 0) ≤ E[X(t)].
func TestPredictionsGrowWithHorizon(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 29))
	logU := func(lo, hi float64) float64 { return math.Exp(lo + (hi-lo)*rng.Float64()) }
	for range 300 {
		p := [4]float64{logU(-3, 3), logU(-3, 4), logU(-3, 3), logU(-3, 4)}
		ms := []purchaseModel{
			&ParetoNBD{R: p[0], Alpha: p[1], S: p[2], Beta: p[3]},
			&MBGNBD{R: p[0], Alpha: p[1], A: p[2], B: p[3]},
			&BGNBD{R: p[0], Alpha: p[1], A: p[2], B: p[3]},
		}
		T := 60 * rng.Float64()
		tx := T * rng.Float64()
		x := float64(rng.IntN(60))
		if x == 0 {
			tx = 0
		}
		for _, m := range ms {
			prevE, prevP := 0.0, 0.0
			for _, h := range []float64{0.01, 1, 4, 13, 39, 52, 104, 520} {
				e, pb := m.ExpectedPurchases(h, x, tx, T), m.ProbPurchase(h, x, tx, T)
				if !(e >= prevE*(1-1e-9)) || !(pb >= prevP*(1-1e-9)) || !(pb <= e*(1+1e-9)) {
					t.Fatalf("%T%+v customer x=%v t_x=%v T=%v horizon %v: E %v (before %v), P %v (before %v)", m, m, x, tx, T, h, e, prevE, pb, prevP)
				}
				prevE, prevP = e, pb
			}
		}
	}
}
