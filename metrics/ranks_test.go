package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestAverageRanksFromDescendingOrder: averageRanks, computed from the
// descending order, equals the mean ranks of the ascending stable order,
// bit for bit, with many ties and ±0.
func TestAverageRanksFromDescendingOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 5, 100, radixMin - 1, radixMin, 30_000} {
		v := make([]float64, n)
		for i := range v {
			switch r.IntN(4) {
			case 0:
				v[i] = math.Copysign(0, -1)
			case 1:
				v[i] = float64(r.IntN(20))
			default:
				v[i] = r.NormFloat64()
			}
		}
		if got, want := averageRanks(v), ascendingRanks(v); !slices.Equal(got, want) {
			t.Fatalf("n=%d: ranks differ from the ascending order's", n)
		}
	}
}

// ascendingRanks is the reference: tie groups of the ascending order.
func ascendingRanks(v []float64) []float64 {
	idx := stableOrder(v, false)
	ranks := make([]float64, len(v))
	for lo := 0; lo < len(idx); {
		hi := lo + 1
		for hi < len(idx) && v[idx[hi]] == v[idx[lo]] {
			hi++
		}
		for _, i := range idx[lo:hi] {
			ranks[i] = float64(lo+hi+1) / 2
		}
		lo = hi
	}
	return ranks
}

// TestEvaluateMatchesMetrics: Evaluate, which sorts once per vector and in
// parallel, gives bit for bit the values of the metric functions, on input
// large enough for the radix sort and with many ties.
func TestEvaluateMatchesMetrics(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	n := 3 * radixMin
	pred, prob, actual := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		pred[i], prob[i] = float64(r.IntN(300)), float64(r.IntN(7))/6
		if r.IntN(2) == 0 {
			actual[i] = r.ExpFloat64() * 100
		}
	}
	got, err := Evaluate(pred, prob, actual)
	if err != nil {
		t.Fatal(err)
	}
	gini, _ := NormalizedGini(pred, actual)
	rho, _ := Spearman(pred, actual)
	mape, _ := DecileMAPE(pred, actual)
	bought := make([]bool, n)
	for i, a := range actual {
		bought[i] = a > 0
	}
	c, _ := Classification(prob, bought, DefaultThreshold)
	want := []float64{gini, rho, mape, c.AUC, c.Precision, c.Recall, c.F1}
	if have := []float64{got.NormalizedGini, got.Spearman, got.DecileMAPE, got.AUC, got.Precision, got.Recall, got.F1}; !slices.Equal(have, want) {
		t.Errorf("Evaluate = %v, the metric functions %v", have, want)
	}
}

// TestHoldoutReuse: one Holdout serves the Reports of several models, each
// equal to Evaluate's.
func TestHoldoutReuse(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{50, 2 * radixMin} {
		actual := make([]float64, n)
		for i := range actual {
			actual[i] = float64(r.IntN(3)) * r.ExpFloat64()
		}
		h := NewHoldout(actual)
		for range 3 {
			pred, prob := make([]float64, n), make([]float64, n)
			for i := range pred {
				pred[i], prob[i] = float64(r.IntN(40)), r.Float64()
			}
			got, err1 := h.Evaluate(pred, prob)
			want, err2 := Evaluate(pred, prob, actual)
			gj, _ := got.MarshalJSON()
			wj, _ := want.MarshalJSON()
			if err1 != nil || err2 != nil || string(gj) != string(wj) {
				t.Fatalf("n=%d: holdout report %s (%v), Evaluate %s (%v)", n, gj, err1, wj, err2)
			}
		}
	}
}
