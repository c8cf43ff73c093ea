package metrics

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestStableOrder: stableOrder is the stable sort of the indices, ties
// (many, NaN and ±0 included) in index order.
func TestStableOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 17, 1000, radixMin - 1, radixMin, 50_000, 200_000} {
		key := make([]float64, n)
		for i := range key {
			switch r.IntN(10) {
			case 0:
				key[i] = math.NaN()
			case 1:
				key[i] = math.Copysign(0, -1)
			case 2:
				key[i] = 0
			case 3:
				key[i] = math.Inf(1 - 2*r.IntN(2))
			case 4, 5:
				key[i] = r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
			default:
				key[i] = float64(r.IntN(50)) / 4
			}
		}
		for _, desc := range []bool{false, true} {
			want := make([]int, n)
			for i := range want {
				want[i] = i
			}
			slices.SortStableFunc(want, func(a, b int) int {
				if desc {
					return cmp.Compare(key[b], key[a])
				}
				return cmp.Compare(key[a], key[b])
			})
			if got := stableOrder(key, desc); !slices.Equal(got, want) {
				t.Fatalf("n=%d desc=%v: order differs from the stable sort", n, desc)
			}
		}
	}
}
