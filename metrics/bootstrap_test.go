package metrics

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// bootData is a typical holdout: most customers spend nothing, the others
// a lognormal amount; a predicts with little noise, b with much.
func bootData(n int) (actual, a, b []float64) {
	rng := rand.New(rand.NewPCG(7, 8))
	actual, a, b = make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		if rng.Float64() < 0.8 {
			actual[i] = math.Exp(3 + rng.NormFloat64())
		}
		a[i] = actual[i]*math.Exp(0.3*rng.NormFloat64()) + 0.01*rng.Float64()
		b[i] = math.Max(0, actual[i]*math.Exp(1.2*rng.NormFloat64())+10*rng.Float64())
	}
	return actual, a, b
}

func TestPairedBootstrapPointEstimateAndInterval(t *testing.T) {
	actual, a, b := bootData(800)
	for _, tc := range []struct {
		name   string
		f      func(actual, a, b []float64, o BootstrapOptions) (Interval, error)
		metric func(p, y []float64) (float64, error)
	}{
		{"gini", PairedGiniDiff, NormalizedGini},
		{"decile MAPE", PairedDecileMAPEDiff, DecileMAPE},
	} {
		iv, err := tc.f(actual, a, b, BootstrapOptions{Resamples: 500})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ma, _ := tc.metric(a, actual)
		mb, _ := tc.metric(b, actual)
		if iv.Estimate != ma-mb {
			t.Errorf("%s: estimate %v, want %v − %v = %v", tc.name, iv.Estimate, ma, mb, ma-mb)
		}
		if !(iv.Lo < iv.Estimate && iv.Estimate < iv.Hi && iv.Lo < iv.Mean && iv.Mean < iv.Hi) {
			t.Errorf("%s: interval [%v, %v] does not contain estimate %v and mean %v", tc.name, iv.Lo, iv.Hi, iv.Estimate, iv.Mean)
		}
		if iv.Resamples != 500 || iv.Seed != DefaultBootSeed || iv.Confidence != DefaultConfidence || len(iv.Samples) != 500 || iv.Undefined != 0 {
			t.Errorf("%s: options/samples %+v (len %d)", tc.name, iv, len(iv.Samples))
		}
	}
	// a is clearly better: higher Gini, lower decile MAPE, intervals
	// excluding 0.
	g, _ := PairedGiniDiff(actual, a, b, BootstrapOptions{Resamples: 300})
	d, _ := PairedDecileMAPEDiff(actual, a, b, BootstrapOptions{Resamples: 300})
	if !(g.Lo > 0) || !(d.Hi < 0) {
		t.Errorf("gini diff [%v, %v] should be > 0 and decile MAPE diff [%v, %v] < 0", g.Lo, g.Hi, d.Lo, d.Hi)
	}
}

func TestPairedBootstrapDeterministic(t *testing.T) {
	actual, a, b := bootData(300)
	o := BootstrapOptions{Resamples: 200, Seed: 9}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var runs [][]float64
	for _, procs := range []int{1, 4, 1} {
		runtime.GOMAXPROCS(procs)
		iv, err := PairedGiniDiff(actual, a, b, o)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, iv.Samples)
	}
	if !slices.Equal(runs[0], runs[1]) || !slices.Equal(runs[0], runs[2]) {
		t.Error("samples differ between runs or GOMAXPROCS values with the same seed")
	}
	other, _ := PairedGiniDiff(actual, a, b, BootstrapOptions{Resamples: 200, Seed: 10})
	if slices.Equal(runs[0], other.Samples) {
		t.Error("seeds 9 and 10 gave the same samples")
	}
	first, _ := PairedGiniDiff(actual, a, b, BootstrapOptions{Resamples: 50, Seed: 9})
	if !slices.Equal(first.Samples, runs[0][:50]) {
		t.Error("resample r depends on the number of resamples")
	}
}

func TestPairedBootstrapIdenticalPredictions(t *testing.T) {
	actual, a, _ := bootData(200)
	for name, f := range map[string]func(actual, a, b []float64, o BootstrapOptions) (Interval, error){
		"gini": PairedGiniDiff, "decile MAPE": PairedDecileMAPEDiff,
	} {
		iv, err := f(actual, a, slices.Clone(a), BootstrapOptions{Resamples: 100})
		if err != nil {
			t.Fatal(err)
		}
		if iv.Estimate != 0 || iv.Mean != 0 || iv.Lo != 0 || iv.Hi != 0 {
			t.Errorf("%s: identical predictions give %+v, want all 0", name, iv)
		}
	}
}

// TestResampleOrderReproducesMetrics: a resample drawing every customer
// once is the full sample, and the ordered metrics equal the exported ones.
func TestResampleOrderReproducesMetrics(t *testing.T) {
	actual, a, _ := bootData(257)
	a[3], a[4] = a[5], a[5] // ties
	rs := newResampler(len(a))
	for i := range rs.counts {
		rs.counts[i] = 1
	}
	byA, byY := rs.expand(orderDesc(a), 0), rs.expand(orderDesc(actual), 1)
	g, _ := NormalizedGini(a, actual)
	d, _ := DecileMAPE(a, actual)
	if got := giniOrdered(a, actual, byA, byY); !near(got, g, 1e-14) {
		t.Errorf("gini of the identity resample %v, want %v", got, g)
	}
	if got := decileMAPEOrdered(a, actual, byA, byY); got != d {
		t.Errorf("decile MAPE of the identity resample %v, want %v", got, d)
	}
	// Duplicates: counting customer 0 twice equals appending a copy of it.
	rs.counts[0] = 2
	ya, aa := append(slices.Clone(actual), actual[0]), append(slices.Clone(a), a[0])
	wantG, _ := NormalizedGini(aa, ya)
	gotG := giniOrdered(a, actual, rs.expand(orderDesc(a), 0), rs.expand(orderDesc(actual), 1))
	if !near(gotG, wantG, 1e-12) {
		t.Errorf("gini with a duplicate %v, want %v", gotG, wantG)
	}
}

func TestPairedBootstrapErrors(t *testing.T) {
	actual, a, b := bootData(20)
	zero := make([]float64, 20)
	for _, tc := range []struct {
		name       string
		actual, a  []float64
		b          []float64
		o          BootstrapOptions
		want       error
		wantSubstr string
	}{
		{name: "a vs b", actual: actual, a: a, b: b[:19], want: ErrLengthMismatch},
		{name: "a vs actual", actual: actual[:19], a: a[:20], b: b, want: ErrLengthMismatch},
		{name: "empty", want: ErrEmpty},
		{name: "NaN in b", actual: actual, a: a, b: append(slices.Clone(b[:19]), math.NaN()), want: ErrNotFinite},
		{name: "no spend", actual: zero, a: a, b: b, want: ErrUndefined},
		{name: "negative resamples", actual: actual, a: a, b: b, o: BootstrapOptions{Resamples: -1}, wantSubstr: "negative"},
		{name: "confidence", actual: actual, a: a, b: b, o: BootstrapOptions{Confidence: 1}, wantSubstr: "confidence"},
	} {
		for _, f := range []func(actual, a, b []float64, o BootstrapOptions) (Interval, error){PairedGiniDiff, PairedDecileMAPEDiff} {
			_, err := f(tc.actual, tc.a, tc.b, tc.o)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.wantSubstr) {
				t.Errorf("%s: err = %v, want %v %q", tc.name, err, tc.want, tc.wantSubstr)
			}
		}
	}
}

func TestIntervalOf(t *testing.T) {
	nan := math.NaN()
	iv := IntervalOf([]float64{4, nan, 0, 2, 1, 3}, BootstrapOptions{Confidence: 0.5, Seed: 3})
	// defined samples 0..4: mean 2, 25th/75th percentiles 1 and 3.
	if iv.Mean != 2 || iv.Lo != 1 || iv.Hi != 3 || iv.Undefined != 1 || iv.Resamples != 6 || iv.Seed != 3 || iv.Confidence != 0.5 {
		t.Errorf("IntervalOf = %+v", iv)
	}
	if got := quantileSorted([]float64{0, 10}, 0.975); got != 9.75 {
		t.Errorf("quantile 0.975 of {0, 10} = %v, want 9.75", got)
	}
	none := IntervalOf([]float64{nan}, BootstrapOptions{})
	if !math.IsNaN(none.Lo) || none.Undefined != 1 {
		t.Errorf("all undefined: %+v", none)
	}
	b, err := json.Marshal(none)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, `"lo":null`) || strings.Contains(s, "amples\":[") {
		t.Errorf("JSON %s: want null for NaN and no samples", s)
	}
	var back Interval
	if err := json.Unmarshal(b, &back); err != nil || !math.IsNaN(back.Mean) || back.Undefined != 1 || back.Confidence != DefaultConfidence {
		t.Errorf("round trip %+v, %v", back, err)
	}
}
