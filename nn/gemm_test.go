package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemmBitExact requires gemm (the AVX2 kernel where the CPU has it, see
// the log) to equal, bit for bit, the fused multiply-add chain over k of
// every element (gemm and gemmTN), for shapes with and without 4×4 remainders.
func TestGemmBitExact(t *testing.T) {
	t.Logf("useAVX2 = %v", useAVX2)
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range [][3]int{{1, 1, 1}, {4, 1, 4}, {9, 256, 64}, {256, 9, 64}, {7, 5, 3}, {13, 32, 12}, {168, 32, 4}, {8, 3, 8}, {12, 7, 20}, {4, 64, 36}} {
		m, k, n := s[0], s[1], s[2]
		a, b := make([]float64, m*k), make([]float64, k*n)
		for i := range a {
			a[i] = r.NormFloat64()
		}
		for i := range b {
			b[i] = r.NormFloat64() * 1e3
		}
		c, ct, aT := make([]float64, m*n), make([]float64, m*n), make([]float64, m*k)
		transpose(aT, a, m, k)
		gemm(c, a, b, m, k, n)
		gemmTN(ct, aT, b, m, k, n)
		for i := range m {
			for j := range n {
				var want float64
				for kk := range k {
					want = math.FMA(a[i*k+kk], b[kk*n+j], want)
				}
				if math.Float64bits(c[i*n+j]) != math.Float64bits(want) || math.Float64bits(ct[i*n+j]) != math.Float64bits(want) {
					t.Fatalf("%dx%dx%d: c[%d,%d] = %v (NN), %v (TN), want %v", m, k, n, i, j, c[i*n+j], ct[i*n+j], want)
				}
			}
		}
	}
}
