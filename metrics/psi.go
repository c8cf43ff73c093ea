package metrics

import (
	"math"
	"slices"
	"sort"
)

// QuantileEdges returns the interior edges of up to bins equal-count bins of
// a reference sample (duplicates removed, so a feature with few distinct
// values gets fewer bins). Bin i holds values v with edges[i-1] < v ≤
// edges[i]; the first bin has no lower edge, the last no upper edge.
func QuantileEdges(ref []float64, bins int) []float64 {
	if len(ref) == 0 || bins < 2 {
		return nil
	}
	s := slices.Clone(ref)
	slices.Sort(s)
	var edges []float64
	for i := 1; i < bins; i++ {
		e := s[max(len(s)*i/bins-1, 0)]
		if len(edges) == 0 || e > edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	if len(edges) > 0 && edges[len(edges)-1] >= s[len(s)-1] {
		edges = edges[:len(edges)-1] // an empty last bin says nothing
	}
	return edges
}

// Histogram counts values into the bins of edges (len(edges)+1 counts).
func Histogram(values, edges []float64) []int64 {
	counts := make([]int64, len(edges)+1)
	for _, v := range values {
		counts[sort.SearchFloat64s(edges, v)]++
	}
	return counts
}

// AddCounts adds b into a (same length).
func AddCounts(a, b []int64) {
	for i := range a {
		a[i] += b[i]
	}
}

// psiFloor keeps an empty bin from making the index infinite (the usual
// practice: a share of 0 counts as 0.01 %).
const psiFloor = 1e-4

// PSI is the population stability index of a current histogram against a
// reference one over the same bins: Σ (c − r)·ln(c/r) over the bins' shares.
// Below 0.1 is usually read as stable, 0.1–0.25 as a moderate shift, above
// 0.25 as a large one. NaN when either histogram is empty.
func PSI(ref, cur []int64) float64 {
	var nr, nc int64
	for i := range ref {
		nr += ref[i]
		nc += cur[i]
	}
	if nr == 0 || nc == 0 {
		return math.NaN()
	}
	var psi float64
	for i := range ref {
		r := max(float64(ref[i])/float64(nr), psiFloor)
		c := max(float64(cur[i])/float64(nc), psiFloor)
		psi += (c - r) * math.Log(c/r)
	}
	return psi
}
