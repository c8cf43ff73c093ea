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
