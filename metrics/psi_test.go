package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestPSI(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func(n int, scale float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = rng.ExpFloat64() * scale
		}
		return out
	}
	ref := draw(20000, 1)
	edges := QuantileEdges(ref, 10)
	if len(edges) != 9 {
		t.Fatalf("%d edges for a continuous sample, want 9", len(edges))
	}
	refH := Histogram(ref, edges)
	for _, c := range refH {
		if c < 1900 || c > 2100 {
			t.Fatalf("quantile bins are not equal-count: %v", refH)
		}
	}
	same := PSI(refH, Histogram(draw(20000, 1), edges))
	shifted := PSI(refH, Histogram(draw(20000, 2), edges))
	if same > 0.01 || shifted < 0.25 {
		t.Fatalf("PSI same distribution %.4f (want < 0.01), doubled scale %.4f (want > 0.25)", same, shifted)
	}
	if PSI(refH, refH) != 0 {
		t.Fatal("PSI of a histogram with itself must be 0")
	}
	if !math.IsNaN(PSI([]int64{0, 0}, []int64{1, 2})) {
		t.Fatal("an empty reference must give NaN")
	}
	// A feature with two values gets one edge; empty bins stay finite.
	two := QuantileEdges([]float64{0, 0, 0, 1, 1}, 10)
	if len(two) != 1 || two[0] != 0 {
		t.Fatalf("edges of a two-valued sample: %v", two)
	}
	if p := PSI([]int64{5, 0}, []int64{0, 5}); math.IsInf(p, 0) || p < 1 {
		t.Fatalf("disjoint histograms: PSI %v", p)
	}
}
