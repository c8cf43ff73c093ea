package scoring

import (
	"math"

	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/onnxrt"
)

// ScoreColumn is the drift name of the expected-value score.
const ScoreColumn = "expected_value"

// DriftBins is how many quantile bins a drift reference uses.
const DriftBins = 10

// DriftReference holds, per model input (features.TabularColumns) and for
// the score (ScoreColumn), the quantile bin edges and counts of a model's
// training data: what later data is compared with.
type DriftReference struct {
	Edges  map[string][]float64 `json:"edges"`
	Counts map[string][]int64   `json:"counts"`
}

// NewDriftReference bins a training feature set and the model's scores of it.
func NewDriftReference(set *features.Set, preds []Prediction) DriftReference {
	ref := DriftReference{Edges: map[string][]float64{}}
	for name, col := range columns(set, preds) {
		ref.Edges[name] = metrics.QuantileEdges(col, DriftBins)
	}
	ref.Counts = ref.Histograms(set, preds)
	return ref
}

// ModelReference scores a model's training feature set with the model and
// bins both: the drift reference of that model.
func ModelReference(m *onnxrt.Model, set *features.Set) (DriftReference, error) {
	preds, err := Score(m, set)
	if err != nil {
		return DriftReference{}, err
	}
	return NewDriftReference(set, preds), nil
}

// Histograms counts a feature set's columns and its scores into the
// reference's bins.
func (r DriftReference) Histograms(set *features.Set, preds []Prediction) map[string][]int64 {
	counts := map[string][]int64{}
	for name, col := range columns(set, preds) {
		counts[name] = metrics.Histogram(col, r.Edges[name])
	}
	return counts
}

// columns returns every tabular column and the expected values by name.
func columns(set *features.Set, preds []Prediction) map[string][]float64 {
	tab := set.Tabular()
	out := map[string][]float64{}
	for j, name := range features.TabularColumns {
		col := make([]float64, len(tab))
		for i := range tab {
			col[i] = tab[i][j]
		}
		out[name] = col
	}
	ev := make([]float64, len(preds))
	for i, p := range preds {
		ev[i] = p.ExpectedValue
	}
	out[ScoreColumn] = ev
	return out
}

// DriftReport is the population stability of every model input and of the
// score against a reference.
type DriftReport struct {
	PSI       map[string]float64 `json:"psi"`
	Max       float64            `json:"max"`
	MaxOf     string             `json:"max_of"`
	Threshold float64            `json:"threshold"`
	Drifted   bool               `json:"drifted"`
}

// Compare computes the PSI of current counts (over the reference's bins)
// for every column; a column without data on either side is left out.
func (r DriftReference) Compare(current map[string][]int64, threshold float64) DriftReport {
	rep := DriftReport{PSI: map[string]float64{}, Threshold: threshold}
	for name, refCounts := range r.Counts {
		cur, ok := current[name]
		if !ok || len(cur) != len(refCounts) {
			continue
		}
		psi := metrics.PSI(refCounts, cur)
		if math.IsNaN(psi) {
			continue
		}
		rep.PSI[name] = psi
		if psi > rep.Max || (psi == rep.Max && name < rep.MaxOf) {
			rep.Max, rep.MaxOf = psi, name
		}
	}
	rep.Drifted = rep.Max > threshold
	return rep
}
