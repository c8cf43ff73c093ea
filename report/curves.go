package report

import (
	"errors"
	"math"

	"github.com/clvflow/clvflow/metrics"
	"gonum.org/v1/plot/plotter"
)

// maxCurvePoints bounds the points of a drawn gain curve; longer curves are
// sampled at evenly spaced customer shares (both ends kept).
const maxCurvePoints = 1000

// gainXY returns a gain curve of key against actual as (share of
// customers, share of actual spend), sampled to at most maxCurvePoints+1
// points. ok is false when the curve is undefined (no actual spend).
func gainXY(key, actual []float64) (xy plotter.XYs, ok bool, err error) {
	c, err := metrics.GainCurve(key, actual)
	if errors.Is(err, metrics.ErrUndefined) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return sampleCurve(c), true, nil
}

// sampleCurve turns c (element k after k of n customers) into points
// (k/n, c[k]), keeping at most maxCurvePoints+1 of them.
func sampleCurve(c []float64) plotter.XYs {
	n := len(c) - 1
	steps := min(n, maxCurvePoints)
	xy := make(plotter.XYs, steps+1)
	for j := range xy {
		k := int(math.Round(float64(j) * float64(n) / float64(steps)))
		xy[j] = plotter.XY{X: float64(k) / float64(n), Y: c[k]}
	}
	return xy
}

// decileMeans are the mean predicted and actual spend of a model's deciles
// (highest predictions first), from metrics.DecileTotals.
type decileMeans struct {
	Predicted, Actual []float64
}

func deciles(pred, actual []float64) (decileMeans, error) {
	tot, err := metrics.DecileTotals(pred, actual)
	if err != nil {
		return decileMeans{}, err
	}
	var d decileMeans
	for _, b := range tot {
		n := float64(b.Count)
		d.Predicted = append(d.Predicted, b.Predicted/n)
		d.Actual = append(d.Actual, b.Actual/n)
	}
	return d, nil
}

// finiteXY returns the points (epoch i+1, v[i]) of the finite values of v.
func finiteXY(v []float64) plotter.XYs {
	var xy plotter.XYs
	for i, y := range v {
		if !math.IsNaN(y) && !math.IsInf(y, 0) {
			xy = append(xy, plotter.XY{X: float64(i + 1), Y: y})
		}
	}
	return xy
}
