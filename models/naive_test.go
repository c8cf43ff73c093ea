package models

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/features"
)

// TestNaivePredictChunks: naive predictions over many customers (split
// into blocks and parallel chunks) equal the per-customer formula bit for
// bit, and a non-finite prediction names the first such customer.
func TestNaivePredictChunks(t *testing.T) {
	n := 3*parallelMin + 77
	set := &features.Set{Customers: make([]features.Customer, n)}
	idx := make([]int, 0, n)
	for i := range set.Customers {
		set.Customers[i] = features.Customer{ID: fmt.Sprint(i), X: i % 7, T: float64(i%90) / 3, CalSpend: float64(i%1000) * 1.37}
		idx = append(idx, n-1-i)
	}
	m := &naiveModel{HorizonDays: 365}
	value, prob, err := m.Predict(set, idx)
	if err != nil {
		t.Fatal(err)
	}
	h := horizonWeeks(365)
	for k, i := range idx {
		c := set.Customers[i]
		weeks := math.Max(c.T, naiveMinWeeks)
		if v, p := c.CalSpend/weeks*h, -math.Expm1(-float64(c.X+1)/weeks*h); value[k] != v || prob[k] != p {
			t.Fatalf("customer %d: %v %v, want %v %v", i, value[k], prob[k], v, p)
		}
	}
	set.Customers[n-10].CalSpend = math.Inf(1)
	set.Customers[5].CalSpend = math.NaN()
	if _, _, err := m.Predict(set, idx); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("customer %d:", n-10)) {
		t.Errorf("error %v, want one about customer %d (the first in idx)", err, n-10)
	}
}
