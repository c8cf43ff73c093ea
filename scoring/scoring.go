// Package scoring owns what a scored customer is and how scores are handed
// to the business: the prediction row (expected value, purchase
// probability, value decile, segment, model version), the segment tiers
// (top / high / mid / low by value decile, dormant by purchase probability;
// thresholds from config scoring.*), the global ranking into deciles, and
// the CSV and Parquet files `clvflow predict` and the BatchScore workflow
// write.
package scoring

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/onnxrt"
)

// Prediction is one scored customer.
type Prediction struct {
	CustomerID          string  `json:"customer_id"`
	ExpectedValue       float64 `json:"expected_value"`
	PurchaseProbability float64 `json:"purchase_probability"`
	Decile              int     `json:"decile"` // 1 = highest expected value
	Segment             string  `json:"segment"`
}

// Tier is a named value segment: customers whose decile is ≤ MaxDecile (and
// above the previous tier's).
type Tier struct {
	Name      string `json:"name"`
	MaxDecile int    `json:"max_decile"`
}

// Segments names customers: value tiers by decile, and dormant for customers
// whose purchase probability is below DormantBelow (0: no dormant segment).
type Segments struct {
	Tiers        []Tier  `json:"tiers"`
	DormantBelow float64 `json:"dormant_below"`
}

// Dormant is the name of the segment of customers unlikely to buy again.
const Dormant = "dormant"

// DefaultSegments: decile 1 top, 2–3 high, 4–6 mid, 7–10 low; dormant when
// the purchase probability is below 5 %.
func DefaultSegments() Segments {
	return Segments{Tiers: []Tier{{"top", 1}, {"high", 3}, {"mid", 6}, {"low", 10}}, DormantBelow: 0.05}
}

// ParseTiers reads "top:1,high:3,mid:6,low:10" (names with the last decile
// of each tier, increasing, ending at 10).
func ParseTiers(s string) ([]Tier, error) {
	var tiers []Tier
	last := 0
	for _, part := range strings.Split(s, ",") {
		name, d, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err := strconv.Atoi(d)
		if !ok || err != nil || name == "" || name == Dormant || n <= last || n > 10 {
			return nil, fmt.Errorf("segment tiers %q: want NAME:LASTDECILE,… with increasing deciles ending at 10 (e.g. top:1,high:3,mid:6,low:10)", s)
		}
		tiers, last = append(tiers, Tier{Name: name, MaxDecile: n}), n
	}
	if last != 10 {
		return nil, fmt.Errorf("segment tiers %q: the last tier must end at decile 10", s)
	}
	return tiers, nil
}

// Validate checks the tiers cover deciles 1–10 in order.
func (s Segments) Validate() error {
	var parts []string
	for _, t := range s.Tiers {
		parts = append(parts, fmt.Sprintf("%s:%d", t.Name, t.MaxDecile))
	}
	if _, err := ParseTiers(strings.Join(parts, ",")); err != nil {
		return err
	}
	if s.DormantBelow < 0 || s.DormantBelow >= 1 {
		return fmt.Errorf("dormant threshold %g: want a purchase probability in [0,1)", s.DormantBelow)
	}
	return nil
}

// Of names the segment of a decile and purchase probability.
func (s Segments) Of(decile int, purchaseProbability float64) string {
	if purchaseProbability < s.DormantBelow {
		return Dormant
	}
	for _, t := range s.Tiers {
		if decile <= t.MaxDecile {
			return t.Name
		}
	}
	return s.Tiers[len(s.Tiers)-1].Name
}

// Score runs the model over the customers of set in batches (unranked).
func Score(m *onnxrt.Model, set *features.Set) ([]Prediction, error) {
	n := set.Len()
	withSeq := m.Schema().SequenceInput != ""
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	preds := make([]Prediction, n)
	const batch = 1024
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		ft, st := set.Float32Rows(rows[lo:hi], withSeq)
		out, err := m.Predict(ft, st)
		if err != nil {
			return nil, err
		}
		for i := lo; i < hi; i++ {
			preds[i] = Prediction{CustomerID: set.Customers[i].ID, ExpectedValue: float64(out.Expected[i-lo]), PurchaseProbability: float64(out.Prob[i-lo])}
		}
	}
	return preds, nil
}

// Order is the ranking of customers: expected value descending, ties by
// customer id, so every ranking of the same scores agrees.
func Order(a, b Prediction) int {
	if c := cmp.Compare(b.ExpectedValue, a.ExpectedValue); c != 0 {
		return c
	}
	return strings.Compare(a.CustomerID, b.CustomerID)
}

// Rank sorts preds by [Order] and sets their decile (1 = the highest tenth)
// and segment.
func Rank(preds []Prediction, s Segments) {
	slices.SortFunc(preds, Order)
	n := len(preds)
	for i := range preds {
		preds[i].Decile = DecileOf(i, n)
		preds[i].Segment = s.Of(preds[i].Decile, preds[i].PurchaseProbability)
	}
}

// DecileOf is the decile of rank i (0-based) among n customers.
func DecileOf(i, n int) int { return i*10/max(n, 1) + 1 }

// ErrNoCustomers is returned when there is nothing to score.
var ErrNoCustomers = errors.New("no customer to score: no purchase on or before the as-of date")
