package btyd

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/stat/distuv"
)

// simulateMBGNBD draws n customers from the MBG/NBD process: as BG/NBD, plus
// a dropout chance right after the first purchase.
func simulateMBGNBD(seed uint64, n int, r, alpha, a, b float64) (x, tx, T []float64) {
	src := rand.NewPCG(seed, seed^0x3c6ef372fe94f82b)
	rng := rand.New(src)
	lam := distuv.Gamma{Alpha: r, Beta: alpha, Src: src}
	drop := distuv.Beta{Alpha: a, Beta: b, Src: src}
	x, tx, T = make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		T[i] = float64(140+rng.IntN(225)) / 7
		l, p := lam.Rand(), drop.Rand()
		for t := rng.ExpFloat64() / l; t <= T[i] && rng.Float64() >= p; t += rng.ExpFloat64() / l {
			x[i]++
			tx[i] = t
		}
	}
	return x, tx, T
}

// mbgClosedForm is lifetimes' ModifiedBetaGeoFitter expectation, literally,
// with gonum's Gauss hypergeometric function.
func mbgClosedForm(m *MBGNBD, t, x, tx, T float64) float64 {
	r, al, a, b := m.R, m.Alpha, m.A, m.B
	f := mathext.Hypergeo(r+x, b+x+1, a+b+x, t/(al+T+t))
	num := (a + b + x) / (a - 1) * (1 - math.Pow((al+T)/(al+T+t), r+x)*f)
	return num / (1 + a/(b+x)*math.Pow((al+T)/(al+tx), r+x))
}

func TestMBGNBDExpectedPurchasesMatchesClosedForm(t *testing.T) {
	for _, m := range []*MBGNBD{{R: 0.525, Alpha: 6.183, A: 0.891, B: 1.614}, {R: 1.5, Alpha: 2, A: 0.3, B: 0.9}, {R: 3, Alpha: 0.5, A: 1.7, B: 40}} {
		for _, c := range [][4]float64{{39, 0, 0, 30}, {39, 3, 20, 38}, {13, 10, 37, 38}, {104, 1, 0.5, 2}} {
			got, want := m.ExpectedPurchases(c[0], c[1], c[2], c[3]), mbgClosedForm(m, c[0], c[1], c[2], c[3])
			if relDiff(got, want) > 1e-8 {
				t.Errorf("%+v t, x, t_x, T = %v: %.15g, closed form %.15g", *m, c, got, want)
			}
		}
	}
}

func TestMBGNBDLikelihoodAndGradient(t *testing.T) {
	m := &MBGNBD{R: 0.5, Alpha: 6, A: 0.9, B: 1.6}
	x, tx, T := []float64{0, 2, 5}, []float64{0, 10, 30}, []float64{35, 38, 31}
	got, err := m.LogLikelihood(x, tx, T)
	if err != nil {
		t.Fatal(err)
	}
	want := 0.0 // lifetimes' ModifiedBetaGeoFitter likelihood, literally
	for i := range x {
		lb := func(p, q float64) float64 {
			v, _ := math.Lgamma(p)
			w, _ := math.Lgamma(q)
			u, _ := math.Lgamma(p + q)
			return v + w - u
		}
		lg1, _ := math.Lgamma(m.R + x[i])
		lg0, _ := math.Lgamma(m.R)
		l := math.Pow(m.Alpha+T[i], -(m.R+x[i])) + m.A/(m.B+x[i])*math.Pow(m.Alpha+tx[i], -(m.R+x[i]))
		want += lg1 - lg0 + m.R*math.Log(m.Alpha) + lb(m.A, m.B+x[i]+1) - lb(m.A, m.B) + math.Log(l)
	}
	if math.Abs(got-want) > 1e-10*math.Abs(want) {
		t.Errorf("LL %.15g, literal formula %.15g", got, want)
	}
	sx, stx, sT := simulateMBGNBD(4, 300, 0.5, 6, 0.9, 1.6)
	d, err := newBGData(sx, stx, sT, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, theta := range [][]float64{{math.Log(0.5), math.Log(6), math.Log(0.9), math.Log(1.6)}, {0.1, 0.1, 0.1, 0.1}, {-0.3, 2, -15, 12}} {
		g := make([]float64, 4)
		d.objective(theta, g)
		ng := numGrad(func(th []float64) float64 { return d.objective(th, nil) }, theta)
		for i := range g {
			if math.Abs(g[i]-ng[i]) > 1e-6*math.Max(1, math.Abs(ng[i])) {
				t.Errorf("theta %v d/dtheta[%d]: analytic %.10g, numeric %.10g", theta, i, g[i], ng[i])
			}
		}
	}
}

func TestFitMBGNBDRecoversSimulatedParameters(t *testing.T) {
	const r, alpha, a, b = 0.5, 6.2, 0.9, 1.6
	x, tx, T := simulateMBGNBD(1, 5000, r, alpha, a, b)
	m, err := FitMBGNBD(x, tx, T, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fit r=%.4f alpha=%.4f a=%.4f b=%.4f LL=%.2f warnings=%v", m.R, m.Alpha, m.A, m.B, m.LogLik, m.Warnings)
	if !m.Converged {
		t.Errorf("not converged: %v", m.Warnings)
	}
	checkWithin(t, "r/alpha", m.R/m.Alpha, r/alpha, 0.1)
	checkWithin(t, "a/(a+b)", m.A/(m.A+m.B), a/(a+b), 0.15)
	checkWithin(t, "r", m.R, r, 0.3)
	llTrue, err := (&MBGNBD{R: r, Alpha: alpha, A: a, B: b}).LogLikelihood(x, tx, T)
	if err != nil || llTrue > m.LogLik+1e-6 {
		t.Errorf("true parameters give LL %.4f (%v) > fitted %.4f", llTrue, err, m.LogLik)
	}
}
