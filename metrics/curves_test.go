package metrics

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// giniOfCurve is 2·mean(curve[1:]) − 1, the Gini of a gain curve.
func giniOfCurve(c []float64) float64 {
	s := 0.0
	for _, v := range c[1:] {
		s += v
	}
	return 2*s/float64(len(c)-1) - 1
}

func TestGainCurve(t *testing.T) {
	// order by pred: y = 10,5,5,0 of 20.
	got, err := GainCurve([]float64{0.9, 0.1, 0.5, 0.3}, []float64{10, 0, 5, 5})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{0, 0.5, 0.75, 1, 1}; !slices.Equal(got, want) {
		t.Fatalf("GainCurve = %v, want %v", got, want)
	}
	if _, err := GainCurve([]float64{1, 2}, []float64{0, 0}); !errors.Is(err, ErrUndefined) {
		t.Fatalf("zero actuals: err %v, want ErrUndefined", err)
	}
	if _, err := GainCurve([]float64{1}, []float64{1, 2}); !errors.Is(err, ErrLengthMismatch) {
		t.Fatalf("length mismatch: err %v", err)
	}
}

func TestGainCurveMatchesNormalizedGini(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pred, actual := make([]float64, 257), make([]float64, 257)
	for i := range pred {
		actual[i] = math.Floor(r.ExpFloat64() * 3)
		pred[i] = actual[i] + r.NormFloat64()
	}
	model, err := GainCurve(pred, actual)
	if err != nil {
		t.Fatal(err)
	}
	perfect, err := GainCurve(actual, actual)
	if err != nil {
		t.Fatal(err)
	}
	g, err := NormalizedGini(pred, actual)
	if err != nil {
		t.Fatal(err)
	}
	if got := giniOfCurve(model) / giniOfCurve(perfect); math.Abs(got-g) > 1e-12 {
		t.Fatalf("Gini from curves %v, NormalizedGini %v", got, g)
	}
	for k := range model {
		if model[k] > perfect[k]+1e-12 {
			t.Fatalf("model curve above the perfect one at %d: %v > %v", k, model[k], perfect[k])
		}
	}
}

func TestDecileTotals(t *testing.T) {
	pred := []float64{5, 1, 4, 2, 3, 9, 8, 7, 6, 0, 10, 11}
	actual := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	got, err := DecileTotals(pred, actual)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != Deciles {
		t.Fatalf("%d buckets, want %d", len(got), Deciles)
	}
	// 12 observations: the first two buckets hold two (pred 11,10 and 9,8).
	if got[0] != (Decile{Count: 2, Predicted: 21, Actual: 23}) || got[1] != (Decile{Count: 2, Predicted: 17, Actual: 13}) {
		t.Fatalf("first buckets %+v %+v", got[0], got[1])
	}
	var n int
	var sp, sa float64
	for _, d := range got {
		n, sp, sa = n+d.Count, sp+d.Predicted, sa+d.Actual
	}
	if n != 12 || sp != 66 || sa != 78 {
		t.Fatalf("bucket totals n=%d pred=%v actual=%v, want 12, 66, 78", n, sp, sa)
	}
}
