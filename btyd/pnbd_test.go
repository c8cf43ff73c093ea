package btyd

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/stat/distuv"
)

// simulatePNBD draws n customers from the Pareto/NBD process. T is a whole
// number of days between 20 and 52 weeks, and t_x is rounded down to whole
// days as in the feature contract.
func simulatePNBD(seed uint64, n int, r, alpha, s, beta float64) (x, tx, T []float64) {
	src := rand.NewPCG(seed, seed^0x51f15eed)
	rng := rand.New(src)
	lam := distuv.Gamma{Alpha: r, Beta: alpha, Src: src}
	mu := distuv.Gamma{Alpha: s, Beta: beta, Src: src}
	x, tx, T = make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		T[i] = float64(140+rng.IntN(225)) / 7
		l, end := lam.Rand(), math.Min(T[i], rng.ExpFloat64()/mu.Rand())
		for t := rng.ExpFloat64() / l; t <= end; t += rng.ExpFloat64() / l {
			x[i]++
			tx[i] = math.Floor(t*7) / 7
		}
	}
	return x, tx, T
}

// noteLogLik is the Pareto/NBD log-likelihood written literally as in
// lifetimes' _conditional_log_likelihood, with gonum's mathext.Hypergeo.
func noteLogLik(m *ParetoNBD, x, tx, T float64) float64 {
	r, al, s, be := m.R, m.Alpha, m.S, m.Beta
	lo, hi, k := al, be, r+x
	if al >= be {
		lo, hi, k = be, al, s+1
	}
	rsx := r + s + x
	a0 := mathext.Hypergeo(rsx, k, rsx+1, (hi-lo)/(hi+tx))/math.Pow(hi+tx, rsx) -
		mathext.Hypergeo(rsx, k, rsx+1, (hi-lo)/(hi+T))/math.Pow(hi+T, rsx)
	lg1, _ := math.Lgamma(r + x)
	lg0, _ := math.Lgamma(r)
	l := math.Pow(al+T, -(r+x))*math.Pow(be+T, -s) + s/rsx*a0
	return lg1 - lg0 + r*math.Log(al) + s*math.Log(be) + math.Log(l)
}

func TestPNBDLikelihoodMatchesNote(t *testing.T) {
	for _, m := range []*ParetoNBD{
		{R: 0.553, Alpha: 10.578, S: 0.606, Beta: 11.669},
		{R: 2, Alpha: 3, S: 1.5, Beta: 40},
		{R: 0.3, Alpha: 30, S: 2, Beta: 4},
	} {
		for _, c := range [][3]float64{{0, 0, 30}, {2, 10, 38}, {7, 37.9, 38}, {15, 20, 52}, {1, 0.1, 0.5}} {
			got, err := m.LogLikelihood([]float64{c[0]}, []float64{c[1]}, []float64{c[2]})
			want := noteLogLik(m, c[0], c[1], c[2])
			if err != nil || math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Errorf("%+v x, t_x, T = %v: LL %.15g (%v), note's formula %.15g", *m, c, got, err, want)
			}
		}
	}
}

// TestPNBDPredictionsMonteCarlo checks ExpectedPurchases and ProbPurchase
// given alive against a simulation of the posterior process: λ ~
// Gamma(r+x, α+T), μ ~ Gamma(s, β+T), independent.
func TestPNBDPredictionsMonteCarlo(t *testing.T) {
	m := &ParetoNBD{R: 0.6, Alpha: 8, S: 0.7, Beta: 12}
	const sims = 200_000
	for ci, c := range []struct{ h, x, tx, T float64 }{{39, 0, 0, 30}, {39, 3, 25, 35}, {13, 8, 10, 38}, {52, 1, 2, 3}} {
		src := rand.NewPCG(uint64(ci)+3, 5)
		rng := rand.New(src)
		lam := distuv.Gamma{Alpha: m.R + c.x, Beta: m.Alpha + c.T, Src: src}
		mu := distuv.Gamma{Alpha: m.S, Beta: m.Beta + c.T, Src: src}
		var sum, sumSq, anyBuy float64
		for range sims {
			l, end := lam.Rand(), math.Min(c.h, rng.ExpFloat64()/mu.Rand())
			k := 0.0
			for s := rng.ExpFloat64() / l; s <= end; s += rng.ExpFloat64() / l {
				k++
			}
			sum, sumSq = sum+k, sumSq+k*k
			if k > 0 {
				anyBuy++
			}
		}
		mean, pBuy := sum/sims, anyBuy/sims
		se, seBuy := math.Sqrt((sumSq/sims-mean*mean)/sims), math.Sqrt(pBuy*(1-pBuy)/sims)
		pa := m.ProbAlive(c.x, c.tx, c.T)
		if e := m.ExpectedPurchases(c.h, c.x, c.tx, c.T) / pa; math.Abs(e-mean) > 4.5*se {
			t.Errorf("case %+v: E[X | alive] %.5f, simulation %.5f ± %.5f", c, e, mean, se)
		}
		if p := m.ProbPurchase(c.h, c.x, c.tx, c.T) / pa; math.Abs(p-pBuy) > 4.5*seBuy {
			t.Errorf("case %+v: P(X>0 | alive) %.5f, simulation %.5f ± %.5f", c, p, pBuy, seBuy)
		}
	}
}

// TestPNBDHoldoutMatchesLifetimes: per-customer E[X(39 weeks)] at our fit
// against lifetimes' pred_txn_pareto_nbd on the CDNOW sample.
func TestPNBDHoldoutMatchesLifetimes(t *testing.T) {
	c := readColumns(t, "cdnow_sample_calholdout_lifetimes_ref.csv", "x", "t_x", "T", "pred_txn_pareto_nbd")
	m, err := FitParetoNBD(c["x"], c["t_x"], c["T"], FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := range c["x"] {
		got := m.ExpectedPurchases(holdoutWeeks, c["x"][i], c["t_x"][i], c["T"][i])
		worst = math.Max(worst, relDiff(got, c["pred_txn_pareto_nbd"][i]))
	}
	t.Logf("r=%.5f alpha=%.5f s=%.5f beta=%.5f LL=%.3f; max relative difference vs lifetimes %.3g", m.R, m.Alpha, m.S, m.Beta, m.LogLik, worst)
	if worst > 0.01 {
		t.Errorf("max relative difference %.3g > 1%%", worst)
	}
}

func TestFitParetoNBDRecoversSimulatedParameters(t *testing.T) {
	const r, alpha, s, beta = 0.55, 10.6, 0.6, 11.7
	x, tx, T := simulatePNBD(1, 5000, r, alpha, s, beta)
	m, err := FitParetoNBD(x, tx, T, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fit r=%.4f alpha=%.4f s=%.4f beta=%.4f LL=%.2f warnings=%v", m.R, m.Alpha, m.S, m.Beta, m.LogLik, m.Warnings)
	if !m.Converged {
		t.Errorf("not converged: %v", m.Warnings)
	}
	checkWithin(t, "r/alpha", m.R/m.Alpha, r/alpha, 0.1)
	checkWithin(t, "r", m.R, r, 0.3)
	checkWithin(t, "s", m.S, s, 0.5)
	llTrue, err := (&ParetoNBD{R: r, Alpha: alpha, S: s, Beta: beta}).LogLikelihood(x, tx, T)
	if err != nil || llTrue > m.LogLik+1e-6 {
		t.Errorf("true parameters give LL %.4f (%v) > fitted %.4f", llTrue, err, m.LogLik)
	}
}

// TestFitParetoNBDNoDropoutData: without dropout the MLE is on the s/β → 0
// boundary; the fit must succeed with finite parameters and a warning. It
// is slow (~30 s: the polish near the boundary evaluates the likelihood a few
// thousand times), so -short skips it.
func TestFitParetoNBDNoDropoutData(t *testing.T) {
	if testing.Short() {
		t.Skip("slow boundary fit skipped in -short mode")
	}
	x, tx, T := simulatePNBD(2, 1000, 0.7, 9, 1e-12, 1)
	m, err := FitParetoNBD(x, tx, T, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fit r=%.4g alpha=%.4g s=%.3g beta=%.3g warnings=%q", m.R, m.Alpha, m.S, m.Beta, m.Warnings)
	for _, v := range []float64{m.R, m.Alpha, m.S, m.Beta, m.LogLik} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("non-finite fit %+v", m)
		}
	}
	checkWithin(t, "r/alpha", m.R/m.Alpha, 0.7/9, 0.1)
	if m.S/m.Beta > 1e-3 {
		t.Errorf("mean dropout rate s/beta = %.3g, want ≈ 0", m.S/m.Beta)
	}
}
