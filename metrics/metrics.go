// Package metrics computes the holdout metrics clvflow reports for every
// model (DESIGN §4): normalized Gini, Spearman rank correlation, decile MAPE,
// MAE and RMSE of predicted vs actual holdout spend, and AUC, precision,
// recall and F1 of the purchase probability for "buys in holdout".
//
// Determinism: every ordering by prediction is a stable sort on the
// prediction (descending) with ties kept in input (index) order, so the
// results depend only on the input slices, never on sort internals. Gini and
// the decile buckets do depend on how tied predictions are ordered (many
// BG/NBD customers share a prediction); callers that want a different tie
// rule must reorder the input.
//
// Undefined values: a metric that is mathematically undefined for the input
// (Gini or decile MAPE when the actual totals are 0, Spearman for a constant
// vector, AUC with a single class) is returned as NaN together with an error
// wrapping ErrUndefined. Invalid input (empty, length mismatch, NaN or ±Inf)
// is an error and never produces a number. Report encodes NaN as JSON null.
package metrics

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrEmpty: no observations.
	ErrEmpty = errors.New("metrics: empty input")
	// ErrLengthMismatch: the input slices differ in length.
	ErrLengthMismatch = errors.New("metrics: length mismatch")
	// ErrNotFinite: an input value is NaN or ±Inf.
	ErrNotFinite = errors.New("metrics: non-finite value")
	// ErrUndefined: the metric is undefined for this input; the value
	// returned with it is NaN.
	ErrUndefined = errors.New("metrics: undefined")
)

// DefaultThreshold is the purchase-probability threshold of Evaluate.
const DefaultThreshold = 0.5

// Deciles is the number of equal-count buckets of DecileMAPE.
const Deciles = 10

func checkFinite(name string, v []float64) error {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%w: %s[%d] = %v", ErrNotFinite, name, i, x)
		}
	}
	return nil
}

// checkPair validates a prediction/actual pair.
func checkPair(pred, actual []float64) error {
	if len(pred) != len(actual) {
		return fmt.Errorf("%w: len(pred)=%d, len(actual)=%d", ErrLengthMismatch, len(pred), len(actual))
	}
	if len(pred) == 0 {
		return ErrEmpty
	}
	if err := checkFinite("pred", pred); err != nil {
		return err
	}
	return checkFinite("actual", actual)
}

// orderDesc returns the indices of key sorted by key descending, ties in
// index order.
func orderDesc(key []float64) []int {
	return stableOrder(key, true)
}

// radixMin is the length from which stableOrder sorts by radix.
const radixMin = 2048

// orderKey maps v to a uint64 whose unsigned order is cmp.Compare's order
// of the floats: NaN first (all NaNs equal), −0 equal to +0.
func orderKey(v float64) uint64 {
	if v != v {
		return 0
	}
	if v == 0 {
		v = 0 // −0 → +0
	}
	b := math.Float64bits(v)
	if b>>63 != 0 {
		return ^b // negative: larger magnitude first; ≥ ^(−Inf) > 0
	}
	return b | 1<<63
}

// radixOrder is stableOrder by a least-significant-digit radix sort of
// orderKey (11-bit digits, passes where all keys share the digit
// skipped): stable, so equal values stay in index order.
func radixOrder(key []float64, desc bool) []int {
	const bits, buckets = 11, 1 << 11
	n := len(key)
	ks, ks2 := make([]uint64, n), make([]uint64, n)
	idx, idx2 := make([]int, n), make([]int, n)
	for i, v := range key {
		k := orderKey(v)
		if desc {
			k = ^k
		}
		ks[i], idx[i] = k, i
	}
	var count [buckets]int
	for shift := uint(0); shift < 64; shift += bits {
		clear(count[:])
		for _, k := range ks {
			count[(k>>shift)&(buckets-1)]++
		}
		if count[(ks[0]>>shift)&(buckets-1)] == n {
			continue // one digit for all: the pass would not move anything
		}
		pos := 0
		for d, c := range count {
			count[d] = pos
			pos += c
		}
		for j, k := range ks {
			d := (k >> shift) & (buckets - 1)
			ks2[count[d]], idx2[count[d]] = k, idx[j]
			count[d]++
		}
		ks, ks2, idx, idx2 = ks2, ks, idx2, idx
	}
	return idx
}

// keyed is a value with its index, for stableOrder.
type keyed struct {
	v float64
	i int
}

// stableOrder returns the indices of key sorted by value (cmp.Compare
// order; descending with desc), equal values in index order: the
// permutation of a stable sort of the indices, computed by an unstable
// sort of (value, index) pairs, which is several times faster (the values
// sit next to their indices and pdqsort beats the in-place stable merge).
func stableOrder(key []float64, desc bool) []int {
	if len(key) >= radixMin {
		return radixOrder(key, desc)
	}
	kv := make([]keyed, len(key))
	for i, v := range key {
		kv[i] = keyed{v, i}
	}
	if desc {
		slices.SortFunc(kv, func(a, b keyed) int { return cmp.Or(cmp.Compare(b.v, a.v), cmp.Compare(a.i, b.i)) })
	} else {
		slices.SortFunc(kv, func(a, b keyed) int { return cmp.Or(cmp.Compare(a.v, b.v), cmp.Compare(a.i, b.i)) })
	}
	idx := make([]int, len(key))
	for j := range kv {
		idx[j] = kv[j].i
	}
	return idx
}

// giniOrder returns 2·mean_i(cumsum_i(actual[order]) / sum(actual)) − 1.
func giniOrder(actual []float64, order []int, total float64) float64 {
	cum, s := 0.0, 0.0
	for _, i := range order {
		cum += actual[i]
		s += cum / total
	}
	return 2*s/float64(len(order)) - 1
}

// NormalizedGini returns the Gini of actual ordered by pred (descending)
// divided by the Gini of the perfect order (actual descending), where
// gini = 2·mean(cumsum(y)/sum(y)) − 1 over the order (DESIGN §4). 1 is a
// perfect ranking, 0 a random one. Ties are broken by index (see the package
// documentation). Undefined (NaN, ErrUndefined) when sum(actual) = 0 or the
// perfect-order Gini is 0.
func NormalizedGini(pred, actual []float64) (float64, error) {
	if err := checkPair(pred, actual); err != nil {
		return math.NaN(), err
	}
	return normalizedGini(actual, orderDesc(pred), func() []int { return orderDesc(actual) })
}

// normalizedGini is NormalizedGini given byPred = orderDesc(pred); byActual
// returns orderDesc(actual), needed only when sum(actual) ≠ 0.
func normalizedGini(actual []float64, byPred []int, byActual func() []int) (float64, error) {
	total := 0.0
	for _, y := range actual {
		total += y
	}
	if total == 0 {
		return math.NaN(), fmt.Errorf("%w: normalized Gini with sum(actual) = 0", ErrUndefined)
	}
	perfect := giniOrder(actual, byActual(), total)
	if perfect == 0 {
		return math.NaN(), fmt.Errorf("%w: normalized Gini with a zero perfect-order Gini", ErrUndefined)
	}
	return giniOrder(actual, byPred, total) / perfect, nil
}

// averageRanks returns the 1-based ranks of v (ascending) with tied values
// sharing the mean of their ranks. v must be finite (callers check it).
func averageRanks(v []float64) []float64 {
	return ranksDesc(v, orderDesc(v))
}

// ranksDesc is averageRanks given byV = orderDesc(v): a tie's mean rank
// does not depend on the order within the tie, so the descending order
// serves as well as the ascending one.
func ranksDesc(v []float64, byV []int) []float64 {
	n := len(byV)
	ranks := make([]float64, n)
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && v[byV[hi]] == v[byV[lo]] {
			hi++
		}
		// Descending positions lo … hi−1 are the ascending positions
		// n−hi … n−lo−1: the mean rank of n−hi+1 … n−lo.
		r := float64((n-hi)+(n-lo)+1) / 2
		for _, i := range byV[lo:hi] {
			ranks[i] = r
		}
		lo = hi
	}
	return ranks
}

// Spearman returns Spearman's rank correlation of pred and actual: the
// Pearson correlation of their average ranks (ties share the mean rank, as
// scipy.stats.spearmanr). Undefined (NaN, ErrUndefined) when either vector
// is constant.
func Spearman(pred, actual []float64) (float64, error) {
	if err := checkPair(pred, actual); err != nil {
		return math.NaN(), err
	}
	return spearmanRanks(averageRanks(pred), averageRanks(actual))
}

// spearmanRanks is Spearman given the average ranks of pred and actual.
func spearmanRanks(rp, ra []float64) (float64, error) {
	n := float64(len(rp))
	mean := (n + 1) / 2 // mean of average ranks is always (n+1)/2
	var sxy, sxx, syy float64
	for i := range rp {
		dx, dy := rp[i]-mean, ra[i]-mean
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN(), fmt.Errorf("%w: Spearman correlation of a constant vector", ErrUndefined)
	}
	return sxy / math.Sqrt(sxx*syy), nil
}

// DecileBounds returns the [start, end) positions of the Deciles equal-count
// buckets of n observations ordered by prediction, highest first. When n is
// not a multiple of Deciles, the first n mod Deciles buckets (highest
// predictions) hold one extra observation (numpy.array_split); when n <
// Deciles, only n buckets of one observation exist.
func DecileBounds(n int) [][2]int {
	k, rem := n/Deciles, n%Deciles
	var out [][2]int
	start := 0
	for b := range Deciles {
		size := k
		if b < rem {
			size++
		}
		if size == 0 {
			continue
		}
		out = append(out, [2]int{start, start + size})
		start += size
	}
	return out
}

// Decile is one bucket of DecileTotals: the number of observations and the
// sums of their predictions and actuals.
type Decile struct {
	Count     int
	Predicted float64
	Actual    float64
}

// DecileTotals sorts the observations by prediction (descending, ties by
// index), splits them into the equal-count buckets of DecileBounds (highest
// predictions first) and returns each bucket's count and sums. These are the
// calibration buckets behind DecileMAPE.
func DecileTotals(pred, actual []float64) ([]Decile, error) {
	if err := checkPair(pred, actual); err != nil {
		return nil, err
	}
	order := orderDesc(pred)
	bounds := DecileBounds(len(order))
	out := make([]Decile, len(bounds))
	for k, b := range bounds {
		d := Decile{Count: b[1] - b[0]}
		for _, i := range order[b[0]:b[1]] {
			d.Predicted += pred[i]
			d.Actual += actual[i]
		}
		out[k] = d
	}
	return out, nil
}

// DecileMAPE sorts the observations by prediction (descending, ties by
// index), splits them into Deciles equal-count buckets (see DecileBounds) and
// returns the mean over buckets of |mean pred − mean actual| / |mean actual|.
// Buckets whose mean actual is 0 have no defined percentage error and are
// left out of the mean; if every bucket is left out the result is NaN with
// ErrUndefined.
func DecileMAPE(pred, actual []float64) (float64, error) {
	if err := checkPair(pred, actual); err != nil {
		return math.NaN(), err
	}
	v, used := decileMAPEOrder(pred, actual, orderDesc(pred))
	if used == 0 {
		return math.NaN(), fmt.Errorf("%w: decile MAPE with every bucket's mean actual = 0", ErrUndefined)
	}
	return v, nil
}

// decileMAPEOrder is the decile MAPE of the observations listed in order
// (by prediction descending; an index may repeat) and the number of buckets
// it averages (0: undefined).
func decileMAPEOrder(pred, actual []float64, order []int) (float64, int) {
	sum, used := 0.0, 0
	for _, b := range DecileBounds(len(order)) {
		var sp, sa float64
		for _, i := range order[b[0]:b[1]] {
			sp += pred[i]
			sa += actual[i]
		}
		m := float64(b[1] - b[0])
		if sa == 0 {
			continue
		}
		sum += math.Abs(sp/m-sa/m) / math.Abs(sa/m)
		used++
	}
	if used == 0 {
		return math.NaN(), 0
	}
	return sum / float64(used), used
}

// GainCurve returns the cumulative gain (Lorenz) curve of actual ordered by
// key (descending, ties by index, as NormalizedGini): element k is the share
// of sum(actual) held by the first k observations, k = 0..n, so it starts at
// 0 and ends at 1. GainCurve(pred, actual) is a model's curve and
// GainCurve(actual, actual) the perfect one. Undefined (nil, ErrUndefined)
// when sum(actual) = 0.
func GainCurve(key, actual []float64) ([]float64, error) {
	if err := checkPair(key, actual); err != nil {
		return nil, err
	}
	total := 0.0
	for _, y := range actual {
		total += y
	}
	if total == 0 {
		return nil, fmt.Errorf("%w: gain curve with sum(actual) = 0", ErrUndefined)
	}
	out := make([]float64, 1, len(actual)+1)
	cum := 0.0
	for _, i := range orderDesc(key) {
		cum += actual[i]
		out = append(out, cum/total)
	}
	return out, nil
}

// MAE returns the mean absolute error mean(|pred − actual|).
func MAE(pred, actual []float64) (float64, error) {
	if err := checkPair(pred, actual); err != nil {
		return math.NaN(), err
	}
	return mae(pred, actual), nil
}

// mae is MAE of checked input.
func mae(pred, actual []float64) float64 {
	s := 0.0
	for i := range pred {
		s += math.Abs(pred[i] - actual[i])
	}
	return s / float64(len(pred))
}

// RMSE returns the root mean squared error sqrt(mean((pred − actual)²)).
func RMSE(pred, actual []float64) (float64, error) {
	if err := checkPair(pred, actual); err != nil {
		return math.NaN(), err
	}
	return rmse(pred, actual), nil
}

// rmse is RMSE of checked input.
func rmse(pred, actual []float64) float64 {
	s := 0.0
	for i := range pred {
		d := pred[i] - actual[i]
		s += d * d
	}
	return math.Sqrt(s / float64(len(pred)))
}

// ClassificationMetrics are the "buys in holdout" metrics of a purchase
// probability.
type ClassificationMetrics struct {
	// AUC is the area under the ROC curve (Mann–Whitney U / (n₁·n₀) with
	// average ranks, so tied probabilities count one half); NaN when only
	// one class is present.
	AUC float64 `json:"auc"`
	// Precision = TP/(TP+FP), 0 when nothing is predicted positive.
	Precision float64 `json:"precision"`
	// Recall = TP/(TP+FN), 0 when there are no positives.
	Recall float64 `json:"recall"`
	// F1 = 2·P·R/(P+R), 0 when P+R = 0.
	F1 float64 `json:"f1"`
	// Confusion counts at the threshold (predicted positive: prob ≥ threshold).
	TP int `json:"tp"`
	FP int `json:"fp"`
	TN int `json:"tn"`
	FN int `json:"fn"`
}

// Classification scores purchase probabilities against whether the customer
// bought. A customer is predicted to buy when prob ≥ threshold. Precision,
// recall and F1 use the zero-division convention of scikit-learn
// (zero_division=0). When one class is absent AUC is NaN and the error wraps
// ErrUndefined; the other fields are still filled in.
func Classification(prob []float64, bought []bool, threshold float64) (ClassificationMetrics, error) {
	return classification(prob, bought, threshold, func() []float64 { return averageRanks(prob) })
}

// classification is Classification with the average ranks of prob from
// ranks (called only when both classes are present).
func classification(prob []float64, bought []bool, threshold float64, ranks func() []float64) (ClassificationMetrics, error) {
	var c ClassificationMetrics
	c.AUC = math.NaN()
	if len(prob) != len(bought) {
		return c, fmt.Errorf("%w: len(prob)=%d, len(bought)=%d", ErrLengthMismatch, len(prob), len(bought))
	}
	if len(prob) == 0 {
		return c, ErrEmpty
	}
	if err := checkFinite("prob", prob); err != nil {
		return c, err
	}
	if math.IsNaN(threshold) {
		return c, fmt.Errorf("%w: threshold is NaN", ErrNotFinite)
	}
	c.confusion(prob, bought, threshold)
	n1, n0 := c.TP+c.FN, c.FP+c.TN
	if n1 == 0 || n0 == 0 {
		return c, fmt.Errorf("%w: AUC needs both buyers and non-buyers (have %d and %d)", ErrUndefined, n1, n0)
	}
	sumPos := 0.0
	for i, r := range ranks() {
		if bought[i] {
			sumPos += r
		}
	}
	c.AUC = (sumPos - float64(n1)*float64(n1+1)/2) / (float64(n1) * float64(n0))
	return c, nil
}

// confusion fills in the confusion counts at threshold and the precision,
// recall and F1 they give.
func (c *ClassificationMetrics) confusion(prob []float64, bought []bool, threshold float64) {
	for i, p := range prob {
		switch pos := p >= threshold; {
		case pos && bought[i]:
			c.TP++
		case pos:
			c.FP++
		case bought[i]:
			c.FN++
		default:
			c.TN++
		}
	}
	if c.TP+c.FP > 0 {
		c.Precision = float64(c.TP) / float64(c.TP+c.FP)
	}
	if c.TP+c.FN > 0 {
		c.Recall = float64(c.TP) / float64(c.TP+c.FN)
	}
	if c.Precision+c.Recall > 0 {
		c.F1 = 2 * c.Precision * c.Recall / (c.Precision + c.Recall)
	}
}
