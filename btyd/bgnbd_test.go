package btyd

import (
	"encoding/json"
	"github.com/clvflow/clvflow/internal/shareddata"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/stat/distuv"
)

// simulateBGNBD draws n customers from the BG/NBD process with the given
// parameters. T is a whole number of days between 20 and 52 weeks.
func simulateBGNBD(seed uint64, n int, r, alpha, a, b float64) (x, tx, T []float64) {
	src := rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)
	rng := rand.New(src)
	lam := distuv.Gamma{Alpha: r, Beta: alpha, Src: src}
	drop := distuv.Beta{Alpha: a, Beta: b, Src: src}
	x, tx, T = make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		T[i] = float64(140+rng.IntN(225)) / 7
		l, p := lam.Rand(), 0.0
		if a > 0 { // a = 0: nobody drops out
			p = drop.Rand()
		}
		t := 0.0
		for {
			t += rng.ExpFloat64() / l
			if t > T[i] {
				break
			}
			x[i]++
			tx[i] = t
			if rng.Float64() < p {
				break
			}
		}
	}
	return x, tx, T
}

// closedForm is eq. 10 of Fader, Hardie & Lee (2005) evaluated literally
// with gonum's Gauss hypergeometric function.
func closedForm(m *BGNBD, t, x, tx, T float64) float64 {
	r, al, a, b := m.R, m.Alpha, m.A, m.B
	z := t / (al + T + t)
	f := mathext.Hypergeo(r+x, b+x, a+b+x-1, z)
	num := (a + b + x - 1) / (a - 1) * (1 - math.Pow((al+T)/(al+T+t), r+x)*f)
	den := 1.0
	if x > 0 {
		den += a / (b + x - 1) * math.Pow((al+T)/(al+tx), r+x)
	}
	return num / den
}

func TestExpectedPurchasesMatchesHypergeometricForm(t *testing.T) {
	params := []*BGNBD{
		{R: 0.2426, Alpha: 4.4136, A: 0.7929, B: 2.4259},
		{R: 0.7, Alpha: 9.4, A: 2.5, B: 6},
		{R: 1.5, Alpha: 2, A: 0.3, B: 0.9},
		{R: 3, Alpha: 0.5, A: 1.7, B: 40},
	}
	worst := 0.0
	for _, m := range params {
		for _, x := range []float64{0, 1, 3, 10, 40} {
			for _, T := range []float64{0.5, 10, 39} {
				for _, h := range []float64{0.1, 1, 13, 39, 104} {
					tx := 0.0
					if x > 0 {
						tx = 0.6 * T
					}
					got := m.ExpectedPurchases(h, x, tx, T)
					want := closedForm(m, h, x, tx, T)
					d := relDiff(got, want)
					worst = math.Max(worst, d)
					if !(d < 1e-8) {
						t.Errorf("%+v t=%v x=%v t_x=%v T=%v: series %.15g, 2F1 form %.15g (rel %.3g)", *m, h, x, tx, T, got, want, d)
					}
				}
			}
		}
	}
	t.Logf("max relative difference series vs 2F1 closed form: %.3g", worst)
}

func TestExpectedPurchasesLimits(t *testing.T) {
	const r, al = 0.7, 9.4
	tests := []struct {
		name           string
		a, b           float64
		h, x, tx, T    float64
		want, relTol   float64
		wantNaN, exact bool
	}{
		{name: "t=0", a: 0.8, b: 2.4, h: 0, x: 2, tx: 10, T: 30, want: 0, exact: true},
		{name: "negative t", a: 0.8, b: 2.4, h: -1, x: 2, tx: 10, T: 30, want: 0, exact: true},
		{name: "NaN t", a: 0.8, b: 2.4, h: math.NaN(), x: 2, tx: 10, T: 30, wantNaN: true},
		{name: "negative x", a: 0.8, b: 2.4, h: 1, x: -1, tx: 10, T: 30, wantNaN: true},
		// a → 0: no dropout, E = (r+x)·t/(α+T) (and P(alive) = 1).
		{name: "no dropout x=0", a: 1e-300, b: 5, h: 13, x: 0, tx: 0, T: 30, want: r * 13 / (al + 30), relTol: 1e-14},
		{name: "no dropout x=5", a: 1e-13, b: 1e13, h: 13, x: 5, tx: 20, T: 30, want: (r + 5) * 13 / (al + 30), relTol: 1e-12},
		{name: "no dropout huge horizon", a: 1e-13, b: 3, h: 5000, x: 2, tx: 1, T: 1, want: (r + 2) * 5000 / (al + 1), relTol: 1e-10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &BGNBD{R: r, Alpha: al, A: tc.a, B: tc.b}
			got := m.ExpectedPurchases(tc.h, tc.x, tc.tx, tc.T)
			switch {
			case tc.wantNaN:
				if !math.IsNaN(got) {
					t.Errorf("got %v, want NaN", got)
				}
			case tc.exact:
				if got != tc.want {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			default:
				if d := relDiff(got, tc.want); !(d <= tc.relTol) {
					t.Errorf("got %.17g, want %.17g (rel %.3g > %.3g)", got, tc.want, d, tc.relTol)
				}
			}
		})
	}
}

// TestExpectedPurchasesContinuousAtAEqualsOne: the closed form has a 0/0 at
// a = 1; the series must be smooth there.
func TestExpectedPurchasesContinuousAtAEqualsOne(t *testing.T) {
	at := func(a float64) float64 {
		return (&BGNBD{R: 0.5, Alpha: 5, A: a, B: 3}).ExpectedPurchases(39, 3, 20, 35)
	}
	e0, em, ep := at(1), at(1-1e-7), at(1+1e-7)
	if math.IsNaN(e0) || math.Abs(e0-em) > 1e-6*e0 || math.Abs(e0-ep) > 1e-6*e0 {
		t.Errorf("E at a=1-1e-7, 1, 1+1e-7: %.12g %.12g %.12g; want continuous", em, e0, ep)
	}
}

// TestPredictionsMonteCarlo checks ExpectedPurchases, ProbPurchase and
// ProbAlive against a direct simulation of the posterior process.
func TestPredictionsMonteCarlo(t *testing.T) {
	m := &BGNBD{R: 0.6, Alpha: 5, A: 0.9, B: 2.5}
	cases := []struct{ h, x, tx, T float64 }{
		{39, 0, 0, 30}, {39, 3, 25, 35}, {13, 8, 10, 38}, {52, 1, 2, 3},
	}
	const sims = 200_000
	for ci, c := range cases {
		src := rand.NewPCG(uint64(ci)+11, 7)
		rng := rand.New(src)
		lam := distuv.Gamma{Alpha: m.R + c.x, Beta: m.Alpha + c.T, Src: src}
		drop := distuv.Beta{Alpha: m.A, Beta: m.B + c.x, Src: src}
		pa := m.ProbAlive(c.x, c.tx, c.T)
		var sum, sumSq, any float64
		for range sims {
			if rng.Float64() >= pa {
				continue
			}
			l, p := lam.Rand(), drop.Rand()
			k, s := 0.0, 0.0
			for {
				s += rng.ExpFloat64() / l
				if s > c.h {
					break
				}
				k++
				if rng.Float64() < p {
					break
				}
			}
			sum += k
			sumSq += k * k
			if k > 0 {
				any++
			}
		}
		mean := sum / sims
		se := math.Sqrt((sumSq/sims - mean*mean) / sims)
		pBuy := any / sims
		seBuy := math.Sqrt(pBuy * (1 - pBuy) / sims)
		e := m.ExpectedPurchases(c.h, c.x, c.tx, c.T)
		pp := m.ProbPurchase(c.h, c.x, c.tx, c.T)
		if math.Abs(e-mean) > 4.5*se {
			t.Errorf("case %+v: ExpectedPurchases %.5f, simulation %.5f ± %.5f", c, e, mean, se)
		}
		if math.Abs(pp-pBuy) > 4.5*seBuy {
			t.Errorf("case %+v: ProbPurchase %.5f, simulation %.5f ± %.5f", c, pp, pBuy, seBuy)
		}
		if pp > e {
			t.Errorf("case %+v: P(X>0)=%.6f > E[X]=%.6f", c, pp, e)
		}
	}
}

func TestProbAliveAndPurchase(t *testing.T) {
	m := &BGNBD{R: 0.2426, Alpha: 4.4136, A: 0.7929, B: 2.4259}
	tests := []struct {
		name     string
		got      float64
		want     float64
		tolAbs   float64
		checkNaN bool
	}{
		{name: "x=0 alive", got: m.ProbAlive(0, 0, 30), want: 1},
		// hand computation: 1/(1 + 0.7929/(2.4259+1)·((4.4136+38.86)/(4.4136+30.43))^(0.2426+2))
		{name: "customer 1 of CDNOW", got: m.ProbAlive(2, 30.43, 38.86), want: 1 / (1 + 0.7929/3.4259*math.Pow(43.2736/34.8436, 2.2426)), tolAbs: 1e-12},
		{name: "t=0 purchase", got: m.ProbPurchase(0, 2, 30, 38), want: 0},
		{name: "x=0 closed form", got: m.ProbPurchase(39, 0, 0, 30), want: 1 - math.Pow(34.4136/73.4136, 0.2426), tolAbs: 1e-14},
		{name: "NaN input", got: m.ProbAlive(math.NaN(), 0, 1), checkNaN: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.checkNaN {
				if !math.IsNaN(tc.got) {
					t.Errorf("got %v, want NaN", tc.got)
				}
				return
			}
			if math.Abs(tc.got-tc.want) > tc.tolAbs {
				t.Errorf("got %.15g, want %.15g ± %g", tc.got, tc.want, tc.tolAbs)
			}
		})
	}
	if recent, lapsed := m.ProbAlive(5, 38, 38), m.ProbAlive(5, 10, 38); !(recent > lapsed) {
		t.Errorf("P(alive) of a recent buyer %.4f should exceed that of a lapsed one %.4f", recent, lapsed)
	}
	// For a tiny horizon at most one purchase happens, so P(X>0) ≈ E[X].
	e, p := m.ExpectedPurchases(1e-6, 3, 20, 30), m.ProbPurchase(1e-6, 3, 20, 30)
	if relDiff(p, e) > 1e-5 {
		t.Errorf("t→0: P(X>0)=%.12g, E[X]=%.12g should agree", p, e)
	}
}

// numGrad is a central-difference gradient of f at theta.
func numGrad(f func([]float64) float64, theta []float64) []float64 {
	g := make([]float64, len(theta))
	for i := range theta {
		h := 1e-5 * math.Max(1, math.Abs(theta[i]))
		tp, tm := slices.Clone(theta), slices.Clone(theta)
		tp[i] += h
		tm[i] -= h
		g[i] = (f(tp) - f(tm)) / (2 * h)
	}
	return g
}

func TestAnalyticGradients(t *testing.T) {
	x, tx, T := simulateBGNBD(3, 300, 0.5, 6, 0.8, 3)
	bg, err := newBGData(x, tx, T, 0)
	if err != nil {
		t.Fatal(err)
	}
	mbar := make([]float64, len(x))
	for i := range mbar {
		mbar[i] = 10 + 37*math.Mod(float64(i)*0.618, 1)
	}
	gg, _, _, _, err := newGGData(x, mbar)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		obj   logObjective
		theta []float64
	}{
		{"bgnbd interior", bg.objective, []float64{math.Log(0.5), math.Log(6), math.Log(0.8), math.Log(3)}},
		{"bgnbd lifetimes start", bg.objective, []float64{0.1, 0.1, 0.1, 0.1}},
		{"bgnbd a tiny b huge", bg.objective, []float64{-0.3, 2, -15, 12}},
		{"bgnbd r alpha large", bg.objective, []float64{8, 10, 1, 2}},
		{"gg interior", gg.objective, []float64{math.Log(6), math.Log(3.7), math.Log(15)}},
		{"gg start", gg.objective, []float64{0.1, 0.1, 0.1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := make([]float64, len(tc.theta))
			tc.obj(tc.theta, g)
			ng := numGrad(func(th []float64) float64 { return tc.obj(th, nil) }, tc.theta)
			for i := range g {
				if math.Abs(g[i]-ng[i]) > 1e-6*math.Max(1, math.Abs(ng[i])) {
					t.Errorf("d/dtheta[%d]: analytic %.10g, numeric %.10g", i, g[i], ng[i])
				}
			}
		})
	}
}

func TestFitBGNBDRecoversSimulatedParameters(t *testing.T) {
	tests := []struct {
		name           string
		seed           uint64
		n              int
		r, alpha, a, b float64
		tol            float64
	}{
		{"cdnow-like", 1, 5000, 0.25, 4.4, 0.8, 2.4, 0.3},
		{"frequent buyers", 2, 4000, 2, 8, 1.5, 10, 0.35},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, tx, T := simulateBGNBD(tc.seed, tc.n, tc.r, tc.alpha, tc.a, tc.b)
			m, err := FitBGNBD(x, tx, T, FitOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("fit r=%.4f alpha=%.4f a=%.4f b=%.4f LL=%.2f warnings=%v", m.R, m.Alpha, m.A, m.B, m.LogLik, m.Warnings)
			if !m.Converged {
				t.Errorf("not converged: %v", m.Warnings)
			}
			// r/alpha (mean rate) and a/(a+b) (mean dropout) are well identified.
			checkWithin(t, "r/alpha", m.R/m.Alpha, tc.r/tc.alpha, 0.1)
			checkWithin(t, "a/(a+b)", m.A/(m.A+m.B), tc.a/(tc.a+tc.b), 0.15)
			checkWithin(t, "r", m.R, tc.r, tc.tol)
			checkWithin(t, "a", m.A, tc.a, tc.tol)
			truth := &BGNBD{R: tc.r, Alpha: tc.alpha, A: tc.a, B: tc.b}
			llTrue, err := truth.LogLikelihood(x, tx, T)
			if err != nil {
				t.Fatal(err)
			}
			if llTrue > m.LogLik+1e-6 {
				t.Errorf("true parameters give LL %.4f > fitted %.4f", llTrue, m.LogLik)
			}
		})
	}
}

// TestFitBGNBDNoDropoutData: data simulated without dropout put the MLE on
// the a → 0 boundary; the fit must return finite parameters and a warning,
// and predictions must equal the no-dropout limit.
func TestFitBGNBDNoDropoutData(t *testing.T) {
	x, tx, T := simulateBGNBD(5, 3000, 0.7, 9, 0, 1)
	m, err := FitBGNBD(x, tx, T, FitOptions{})
	if err != nil {
		t.Fatalf("boundary data must not fail: %v", err)
	}
	t.Logf("r=%.5g alpha=%.5g a=%.3g b=%.3g LL=%.3f warnings=%q", m.R, m.Alpha, m.A, m.B, m.LogLik, m.Warnings)
	for _, v := range []float64{m.R, m.Alpha, m.A, m.B, m.LogLik} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("non-finite result %+v", m)
		}
	}
	if !strings.Contains(strings.Join(m.Warnings, " "), "no-dropout boundary") {
		t.Errorf("warnings %q lack the no-dropout boundary note", m.Warnings)
	}
	checkWithin(t, "r/alpha", m.R/m.Alpha, 0.7/9, 0.1)
	for i := range 50 {
		want := (m.R + x[i]) * 13 / (m.Alpha + T[i])
		if got := m.ExpectedPurchases(13, x[i], tx[i], T[i]); relDiff(got, want) > 1e-6 {
			t.Errorf("customer %d: E=%.10g, no-dropout limit %.10g", i, got, want)
		}
	}
}

func TestFitBGNBDNoRepeatPurchases(t *testing.T) {
	m, err := FitBGNBD([]float64{0, 0, 0}, []float64{0, 0, 0}, []float64{10, 20, 30}, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(m.Warnings, " "), "every x = 0") {
		t.Errorf("warnings %q lack the no-repeat-purchase note", m.Warnings)
	}
	if e := m.ExpectedPurchases(39, 0, 0, 30); !(e >= 0 && e < 1e-3) {
		t.Errorf("expected purchases %v, want ≈ 0 for a cohort that never buys again", e)
	}
}

func TestFitBGNBDDeterministicAndOrderInvariant(t *testing.T) {
	x, tx, T := simulateBGNBD(9, 1500, 0.4, 5, 0.7, 2)
	m1, err := FitBGNBD(x, tx, T, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	perm := rand.New(rand.NewPCG(4, 4)).Perm(len(x))
	px, ptx, pT := make([]float64, len(x)), make([]float64, len(x)), make([]float64, len(x))
	for i, j := range perm {
		px[i], ptx[i], pT[i] = x[j], tx[j], T[j]
	}
	m2, err := FitBGNBD(px, ptx, pT, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m1, m2) {
		t.Errorf("fit depends on input order:\n%+v\n%+v", m1, m2)
	}
}

func TestFitInputErrors(t *testing.T) {
	ok := []float64{1, 0}
	tests := []struct {
		name       string
		x, tx, T   []float64
		opts       FitOptions
		errContain string
	}{
		{"empty", nil, nil, nil, FitOptions{}, "no customers"},
		{"length mismatch", ok, []float64{1}, ok, FitOptions{}, "length mismatch"},
		{"negative x", []float64{-1}, []float64{0}, []float64{1}, FitOptions{}, "customer 0: x=-1"},
		{"fractional x", []float64{1.5}, []float64{0}, []float64{1}, FitOptions{}, "whole number"},
		{"t_x after T", []float64{0, 2}, []float64{0, 5}, []float64{3, 4}, FitOptions{}, "customer 1: t_x=5 > T=4"},
		{"NaN", []float64{math.NaN()}, []float64{0}, []float64{1}, FitOptions{}, "finite"},
		{"bad start", []float64{1}, []float64{1}, []float64{2}, FitOptions{Start: []float64{1, 1, 0, 1}}, "Start a = 0"},
		{"start length", []float64{1}, []float64{1}, []float64{2}, FitOptions{Start: []float64{1}}, "want 4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FitBGNBD(tc.x, tc.tx, tc.T, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.errContain) {
				t.Errorf("err = %v, want one containing %q", err, tc.errContain)
			}
		})
	}
}

func TestBGNBDJSON(t *testing.T) {
	b, err := json.Marshal(&BGNBD{R: 1, Alpha: 2, A: 3, B: 4, LogLik: -5})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{"r": 1, "alpha": 2, "a": 3, "b": 4, "loglik": -5} {
		if got[k] != want {
			t.Errorf("JSON %s = %v, want %v (in %s)", k, got[k], want, b)
		}
	}
	if _, ok := got["warnings"]; ok {
		t.Errorf("empty warnings should be omitted: %s", b)
	}
}

// BenchmarkFitBGNBD fits the CDNOW master cohort (23,570 customers), or a
// simulated cohort of the same size when the shared data are absent.
func BenchmarkFitBGNBD(b *testing.B) {
	var x, tx, T []float64
	if shareddata.Find() != "" {
		c := readColumns(b, "cdnow_master_calholdout_lifetimes_ref.csv.gz", "x", "t_x", "T")
		x, tx, T = c["x"], c["t_x"], c["T"]
	} else {
		x, tx, T = simulateBGNBD(1, 23570, 0.25, 4.8, 0.72, 2.2)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := FitBGNBD(x, tx, T, FitOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
