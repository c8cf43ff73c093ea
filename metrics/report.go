package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
)

// Report is the metric set of one model on the test customers (the
// "metrics" object of `clvflow backtest --json`). Undefined metrics are NaN
// in Go and null in JSON.
type Report struct {
	N              int     `json:"n"`
	NormalizedGini float64 `json:"normalized_gini"`
	Spearman       float64 `json:"spearman"`
	DecileMAPE     float64 `json:"decile_mape"`
	MAE            float64 `json:"mae"`
	RMSE           float64 `json:"rmse"`
	AUC            float64 `json:"auc"`
	Precision      float64 `json:"precision"`
	Recall         float64 `json:"recall"`
	F1             float64 `json:"f1"`
	TotalPredicted float64 `json:"total_predicted"`
	TotalActual    float64 `json:"total_actual"`
}

// Evaluate computes the Report of predicted holdout spend pred and purchase
// probability prob against actual holdout spend, with "buys in holdout" =
// actual > 0 and the threshold DefaultThreshold. prob may be nil for models
// without a purchase probability; AUC, precision, recall and F1 are then
// NaN. Metrics undefined for the data are NaN (see the package
// documentation); only invalid input is an error.
func Evaluate(pred, prob, actual []float64) (Report, error) {
	return EvaluateAt(pred, prob, actual, DefaultThreshold)
}

// EvaluateAt is Evaluate with an explicit purchase-probability threshold
// (e.g. one tuned on training customers).
func EvaluateAt(pred, prob, actual []float64, threshold float64) (Report, error) {
	return NewHoldout(actual).EvaluateAt(pred, prob, threshold)
}

// Holdout is the actual holdout spend of some customers with its order and
// average ranks, which every Report against it needs: computed once (in
// the background from NewHoldout on) for the Reports of several models.
type Holdout struct {
	actual []float64
	// byActual and ranks may be read once done is closed.
	byActual []int
	ranks    []float64
	done     chan struct{}
}

// NewHoldout returns the Holdout of actual, which it keeps (actual must
// not change while the Holdout is in use), and starts sorting it on its own
// goroutine when it is large enough for the radix sort.
func NewHoldout(actual []float64) *Holdout {
	h := &Holdout{actual: actual, done: make(chan struct{})}
	sortActual := func() {
		defer close(h.done)
		h.byActual = orderDesc(actual)
		h.ranks = ranksDesc(actual, h.byActual)
	}
	if len(actual) >= radixMin {
		go sortActual()
	} else {
		sortActual()
	}
	return h
}

// Evaluate is [Evaluate] of pred and prob against the holdout.
func (h *Holdout) Evaluate(pred, prob []float64) (Report, error) {
	return h.EvaluateAt(pred, prob, DefaultThreshold)
}

// EvaluateAt is [EvaluateAt] of pred and prob against the holdout.
func (h *Holdout) EvaluateAt(pred, prob []float64, threshold float64) (Report, error) {
	actual := h.actual
	nan := math.NaN()
	r := Report{NormalizedGini: nan, Spearman: nan, DecileMAPE: nan, MAE: nan, RMSE: nan, AUC: nan, Precision: nan, Recall: nan, F1: nan}
	if err := checkPair(pred, actual); err != nil {
		return r, err
	}
	if prob != nil && len(prob) != len(actual) {
		return r, fmt.Errorf("%w: len(prob)=%d, len(actual)=%d", ErrLengthMismatch, len(prob), len(actual))
	}
	r.N = len(pred)
	for i := range pred {
		r.TotalPredicted += pred[i]
		r.TotalActual += actual[i]
	}
	o := h.sortForReport(pred, prob)
	// Undefined metrics come back as NaN with ErrUndefined; pred and
	// actual are checked, so there is no other error.
	r.NormalizedGini, _ = normalizedGini(actual, o.byPred, func() []int { return o.byActual })
	r.Spearman, _ = spearmanRanks(o.predRanks, o.actualRanks)
	r.DecileMAPE, _ = decileMAPEOrder(pred, actual, o.byPred)
	r.MAE, r.RMSE = mae(pred, actual), rmse(pred, actual)
	if prob == nil {
		return r, nil
	}
	return r, r.classify(prob, actual, threshold, o.probRanks)
}

// classify fills in the classification metrics of prob against "actual >
// 0" (probRanks: the average ranks of prob) and returns the error of an
// invalid prob or threshold.
func (r *Report) classify(prob, actual []float64, threshold float64, probRanks []float64) error {
	bought := make([]bool, len(actual))
	for i, a := range actual {
		bought[i] = a > 0
	}
	c, err := classification(prob, bought, threshold, func() []float64 { return probRanks })
	if err != nil && !errors.Is(err, ErrUndefined) {
		return err
	}
	r.AUC, r.Precision, r.Recall, r.F1 = c.AUC, c.Precision, c.Recall, c.F1
	return nil
}

// reportOrders are the orders and ranks behind a Report, each computed
// once: the descending orders of pred (Gini, decile MAPE) and actual
// (perfect Gini) and the average ranks of pred, actual (Spearman) and prob
// (AUC; nil without prob).
type reportOrders struct {
	byPred, byActual                  []int
	predRanks, actualRanks, probRanks []float64
}

// sortForReport computes the reportOrders: pred's and prob's sorts in
// parallel when they are large enough for the radix sort, and alongside
// the holdout's if it is still sorting.
func (h *Holdout) sortForReport(pred, prob []float64) *reportOrders {
	o := &reportOrders{}
	var wg sync.WaitGroup
	if prob != nil {
		sortProb := func() { o.probRanks = averageRanks(prob) }
		if len(prob) >= radixMin {
			wg.Go(sortProb)
		} else {
			sortProb()
		}
	}
	o.byPred = orderDesc(pred)
	o.predRanks = ranksDesc(pred, o.byPred)
	<-h.done
	o.byActual, o.actualRanks = h.byActual, h.ranks
	wg.Wait()
	return o
}

// jsonFloat encodes non-finite values as null (encoding/json refuses NaN)
// and decodes null as NaN.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = jsonFloat(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = jsonFloat(v)
	return nil
}

// reportJSON mirrors Report field by field with null-aware floats.
type reportJSON struct {
	N              int       `json:"n"`
	NormalizedGini jsonFloat `json:"normalized_gini"`
	Spearman       jsonFloat `json:"spearman"`
	DecileMAPE     jsonFloat `json:"decile_mape"`
	MAE            jsonFloat `json:"mae"`
	RMSE           jsonFloat `json:"rmse"`
	AUC            jsonFloat `json:"auc"`
	Precision      jsonFloat `json:"precision"`
	Recall         jsonFloat `json:"recall"`
	F1             jsonFloat `json:"f1"`
	TotalPredicted jsonFloat `json:"total_predicted"`
	TotalActual    jsonFloat `json:"total_actual"`
}

// MarshalJSON writes the report with undefined (NaN) metrics as null.
func (r Report) MarshalJSON() ([]byte, error) {
	return json.Marshal(reportJSON{
		N: r.N, NormalizedGini: jsonFloat(r.NormalizedGini), Spearman: jsonFloat(r.Spearman),
		DecileMAPE: jsonFloat(r.DecileMAPE), MAE: jsonFloat(r.MAE), RMSE: jsonFloat(r.RMSE),
		AUC: jsonFloat(r.AUC), Precision: jsonFloat(r.Precision), Recall: jsonFloat(r.Recall), F1: jsonFloat(r.F1),
		TotalPredicted: jsonFloat(r.TotalPredicted), TotalActual: jsonFloat(r.TotalActual),
	})
}

// UnmarshalJSON reads a report written by MarshalJSON; null and missing
// metrics become NaN.
func (r *Report) UnmarshalJSON(b []byte) error {
	nan := jsonFloat(math.NaN())
	j := reportJSON{NormalizedGini: nan, Spearman: nan, DecileMAPE: nan, MAE: nan, RMSE: nan, AUC: nan,
		Precision: nan, Recall: nan, F1: nan, TotalPredicted: nan, TotalActual: nan}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Report{
		N: j.N, NormalizedGini: float64(j.NormalizedGini), Spearman: float64(j.Spearman),
		DecileMAPE: float64(j.DecileMAPE), MAE: float64(j.MAE), RMSE: float64(j.RMSE),
		AUC: float64(j.AUC), Precision: float64(j.Precision), Recall: float64(j.Recall), F1: float64(j.F1),
		TotalPredicted: float64(j.TotalPredicted), TotalActual: float64(j.TotalActual),
	}
	return nil
}
