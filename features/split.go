package features

import (
	"math"
	"math/rand/v2"
)

// pcgStream is the second PCG word; the first is the caller's seed.
const pcgStream = 0x9e3779b97f4a7c15

// SplitTrainTest splits the customer indices into train and test: a seeded
// random round(frac·N) customers go to test. The permutation comes from
// math/rand/v2 PCG(seed, 0x9e3779b97f4a7c15), so the split depends only on
// N, frac and seed. When 0 < frac < 1 and N ≥ 2 both parts get at least one
// customer; frac ≤ 0 (or NaN) puts everyone in train, frac ≥ 1 in test. Both
// index lists are sorted ascending.
func (s *Set) SplitTrainTest(frac float64, seed uint64) (train, test []int) {
	return SplitIndices(len(s.Customers), frac, seed)
}

// SplitIndices is [Set.SplitTrainTest] for n rows of any kind.
func SplitIndices(n int, frac float64, seed uint64) (train, test []int) {
	var nTest int
	switch {
	case math.IsNaN(frac) || frac <= 0:
		nTest = 0
	case frac >= 1:
		nTest = n
	default:
		nTest = int(math.Round(frac * float64(n)))
		if n >= 2 {
			nTest = min(max(nTest, 1), n-1)
		}
	}
	perm := rand.New(rand.NewPCG(seed, pcgStream)).Perm(n)
	// The test rows are perm[:nTest], the train rows the others; both in
	// ascending order, by one pass over the rows instead of two sorts.
	inTest := make([]bool, n)
	for _, i := range perm[:nTest] {
		inTest[i] = true
	}
	test, train = make([]int, 0, nTest), make([]int, 0, n-nTest)
	for i, t := range inTest {
		if t {
			test = append(test, i)
		} else {
			train = append(train, i)
		}
	}
	return train, test
}

// Norm holds per-column standardisation statistics.
type Norm struct {
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
}

// ComputeNorm returns the mean and population standard deviation of every
// column over rows[idx] (all rows when idx is nil), to be computed on
// training customers only. A column whose standard deviation is 0 (or not
// finite, or with no rows) gets Std 1 so that standardising never divides
// by zero; with no rows the means are 0. Rows must all have the same length.
func ComputeNorm(rows [][]float64, idx []int) Norm {
	if idx == nil {
		idx = make([]int, len(rows))
		for i := range idx {
			idx[i] = i
		}
	}
	cols := 0
	if len(idx) > 0 {
		cols = len(rows[idx[0]])
	} else if len(rows) > 0 {
		cols = len(rows[0])
	}
	n := Norm{Mean: make([]float64, cols), Std: make([]float64, cols)}
	for j := 0; j < cols; j++ {
		var sum float64
		for _, i := range idx {
			sum += rows[i][j]
		}
		mean := 0.0
		if len(idx) > 0 {
			mean = sum / float64(len(idx))
		}
		var ss float64
		for _, i := range idx {
			d := rows[i][j] - mean
			ss += d * d
		}
		std := 0.0
		if len(idx) > 0 {
			std = math.Sqrt(ss / float64(len(idx)))
		}
		if std == 0 || math.IsNaN(std) || math.IsInf(std, 0) {
			std = 1
		}
		n.Mean[j], n.Std[j] = mean, std
	}
	return n
}

// Apply returns (row − Mean) / Std as a new slice.
func (n Norm) Apply(row []float64) []float64 {
	out := make([]float64, len(row))
	for j, v := range row {
		out[j] = (v - n.Mean[j]) / n.Std[j]
	}
	return out
}
