package btyd

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// simulateGG draws, for each customer with x[i] > 0 repeat purchases, x[i]
// purchase values Gamma(p, ν) with ν ~ Gamma(q, v), and returns their mean.
func simulateGG(seed uint64, x []float64, p, q, v float64) []float64 {
	src := rand.NewPCG(seed, 99)
	nu := distuv.Gamma{Alpha: q, Beta: v, Src: src}
	mbar := make([]float64, len(x))
	for i, xi := range x {
		if xi == 0 {
			continue
		}
		val := distuv.Gamma{Alpha: p, Beta: nu.Rand(), Src: src}
		s := 0.0
		for range int(xi) {
			s += val.Rand()
		}
		mbar[i] = s / xi
	}
	return mbar
}

func TestFitGammaGammaRecoversSimulatedParameters(t *testing.T) {
	x := make([]float64, 6000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x {
		x[i] = float64(rng.IntN(8)) // about 1/8 without repeat purchases
	}
	const p, q, v = 6, 4, 15
	mbar := simulateGG(3, x, p, q, v)
	g, err := FitGammaGamma(x, mbar)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("p=%.4f q=%.4f v=%.4f LL=%.2f n=%d excluded=%d", g.P, g.Q, g.V, g.LogLik, g.N, g.Excluded)
	checkWithin(t, "p", g.P, p, 0.15)
	checkWithin(t, "q", g.Q, q, 0.25)
	checkWithin(t, "population mean p·v/(q−1)", g.ConditionalExpectedValue(0, 0), p*v/(q-1), 0.1)
	zeros := 0
	for _, xi := range x {
		if xi == 0 {
			zeros++
		}
	}
	if g.Excluded != zeros || g.N != len(x)-zeros {
		t.Errorf("N=%d Excluded=%d, want %d and %d", g.N, g.Excluded, len(x)-zeros, zeros)
	}
	truth := &GammaGamma{P: p, Q: q, V: v}
	llTrue, err := truth.LogLikelihood(x, mbar)
	if err != nil {
		t.Fatal(err)
	}
	if llTrue > g.LogLik+1e-6 {
		t.Errorf("true parameters give LL %.4f > fitted %.4f", llTrue, g.LogLik)
	}
}

func TestConditionalExpectedValue(t *testing.T) {
	g := &GammaGamma{P: 6.25, Q: 3.74, V: 15.44, MeanValue: 30}
	low := &GammaGamma{P: 2, Q: 0.8, V: 10, MeanValue: 30}
	tests := []struct {
		name    string
		g       *GammaGamma
		x, mbar float64
		want    float64
	}{
		{"x=0 population mean", g, 0, 0, 6.25 * 15.44 / 2.74},
		{"x=0 ignores mbar", g, 0, 99, 6.25 * 15.44 / 2.74},
		// 6.25·(15.44 + 2·22.345)/(6.25·2 + 3.74 − 1) = 375.8625/15.24
		{"CDNOW customer 1", g, 2, 22.345, 6.25 * (15.44 + 2*22.345) / 15.24},
		{"many purchases tends to mbar", g, 1e9, 40, 6.25 * (15.44 + 1e9*40) / (6.25*1e9 + 2.74)},
		{"q<=1 x=0 falls back to sample mean", low, 0, 0, 30},
		{"q<=1 x>0 formula defined", low, 3, 20, 2 * (10 + 60) / (6 - 0.2)},
		{"negative mbar", g, 1, -1, math.NaN()},
		{"NaN x", g, math.NaN(), 1, math.NaN()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.g.ConditionalExpectedValue(tc.x, tc.mbar)
			if math.IsNaN(tc.want) {
				if !math.IsNaN(got) {
					t.Errorf("got %v, want NaN", got)
				}
				return
			}
			if relDiff(got, tc.want) > 1e-13 {
				t.Errorf("got %.15g, want %.15g", got, tc.want)
			}
		})
	}
}

func TestFitGammaGammaInputs(t *testing.T) {
	tests := []struct {
		name       string
		x, mbar    []float64
		errContain string
		excluded   int
		warn       string
	}{
		{name: "length mismatch", x: []float64{1}, mbar: nil, errContain: "length mismatch"},
		{name: "no repeaters", x: []float64{0, 0}, mbar: []float64{0, 0}, errContain: "none among 2"},
		{name: "negative x", x: []float64{-1}, mbar: []float64{3}, errContain: "customer 0: x=-1"},
		{name: "infinite mbar", x: []float64{1}, mbar: []float64{math.Inf(1)}, errContain: "finite"},
		{name: "zero-value repeater excluded", x: []float64{1, 2, 3, 1, 0, 2, 4, 1, 2, 5}, mbar: []float64{0, 12, 30, 8, 0, 22, 17, 40, 9, 25}, excluded: 2, warn: "1 repeat customers with mbar <= 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := FitGammaGamma(tc.x, tc.mbar)
			if tc.errContain != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errContain) {
					t.Errorf("err = %v, want one containing %q", err, tc.errContain)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.Excluded != tc.excluded {
				t.Errorf("Excluded = %d, want %d", g.Excluded, tc.excluded)
			}
			if !strings.Contains(strings.Join(g.Warnings, " "), tc.warn) {
				t.Errorf("warnings %q lack %q", g.Warnings, tc.warn)
			}
			for _, v := range []float64{g.P, g.Q, g.V, g.LogLik} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("non-finite fit %+v", g)
				}
			}
		})
	}
}

func TestGammaGammaJSON(t *testing.T) {
	b, err := json.Marshal(&GammaGamma{P: 1, Q: 2, V: 3, LogLik: -4})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{"p": 1, "q": 2, "v": 3, "loglik": -4} {
		if got[k] != want {
			t.Errorf("JSON %s = %v, want %v (in %s)", k, got[k], want, b)
		}
	}
}
