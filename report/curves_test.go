package report

import (
	"math"
	"slices"
	"testing"

	"github.com/clvflow/clvflow/metrics"
)

func TestGainOfPerfectPredictionsIsThePerfectCurve(t *testing.T) {
	actual := []float64{0, 5, 0, 12.5, 3, 3, 0, 40, 1, 0, 7}
	perfect, ok, err := gainXY(actual, actual)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	// Any increasing function of the actuals ranks them perfectly.
	pred := make([]float64, len(actual))
	for i, a := range actual {
		pred[i] = 2*a + 1
	}
	got, _, err := gainXY(pred, actual)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, perfect) {
		t.Fatalf("gain of perfect predictions %v, perfect curve %v", got, perfect)
	}
	if first, last := perfect[0], perfect[len(perfect)-1]; first.X != 0 || first.Y != 0 || last.X != 1 || last.Y != 1 {
		t.Fatalf("curve runs from %v to %v", first, last)
	}
	// 3 of 11 customers hold 40+12.5+7 of 71.5.
	if p := perfect[3]; math.Abs(p.X-3.0/11) > 1e-15 || math.Abs(p.Y-59.5/71.5) > 1e-15 {
		t.Fatalf("point 3 = %v", p)
	}
}

func TestGainCurveIsSampled(t *testing.T) {
	n := 10*maxCurvePoints + 7
	actual, pred := make([]float64, n), make([]float64, n)
	for i := range actual {
		actual[i], pred[i] = float64(i%13), float64(i%7)
	}
	xy, _, err := gainXY(pred, actual)
	if err != nil {
		t.Fatal(err)
	}
	if len(xy) != maxCurvePoints+1 {
		t.Fatalf("%d points, want %d", len(xy), maxCurvePoints+1)
	}
	full, _ := metrics.GainCurve(pred, actual)
	for _, p := range xy {
		k := int(math.Round(p.X * float64(n)))
		if full[k] != p.Y {
			t.Fatalf("sample at %v is %v, curve %v", p.X, p.Y, full[k])
		}
	}
	if xy[0].X != 0 || xy[len(xy)-1].X != 1 || xy[len(xy)-1].Y != 1 {
		t.Fatal("sampling dropped an end point")
	}
	if _, ok, err := gainXY(pred, make([]float64, n)); ok || err != nil {
		t.Fatalf("zero actuals: ok %v err %v, want undefined without error", ok, err)
	}
}

func TestDecilesSumToTotals(t *testing.T) {
	const n = 1003
	pred, actual := make([]float64, n), make([]float64, n)
	var sp, sa float64
	for i := range pred {
		pred[i], actual[i] = float64((i*37)%101), float64((i*53)%17)
		sp, sa = sp+pred[i], sa+actual[i]
	}
	d, err := deciles(pred, actual)
	if err != nil {
		t.Fatal(err)
	}
	bounds := metrics.DecileBounds(n)
	if len(d.Predicted) != len(bounds) || len(d.Actual) != len(bounds) {
		t.Fatalf("%d/%d deciles, want %d", len(d.Predicted), len(d.Actual), len(bounds))
	}
	var gp, ga float64
	for i, b := range bounds {
		m := float64(b[1] - b[0])
		gp, ga = gp+d.Predicted[i]*m, ga+d.Actual[i]*m
		if i > 0 && d.Predicted[i] > d.Predicted[i-1] {
			t.Fatalf("decile %d predicts more than decile %d", i+1, i)
		}
	}
	if math.Abs(gp-sp) > 1e-9 || math.Abs(ga-sa) > 1e-9 {
		t.Fatalf("deciles sum to %v/%v, totals %v/%v", gp, ga, sp, sa)
	}
	// The bars are those of DecileMAPE.
	mape, _ := metrics.DecileMAPE(pred, actual)
	s := 0.0
	for i := range d.Actual {
		s += math.Abs(d.Predicted[i]-d.Actual[i]) / d.Actual[i]
	}
	if got := s / float64(len(d.Actual)); math.Abs(got-mape) > 1e-12 {
		t.Fatalf("MAPE from bars %v, DecileMAPE %v", got, mape)
	}
}

func TestFiniteXYSkipsNaN(t *testing.T) {
	xy := finiteXY([]float64{1, math.NaN(), 3, math.Inf(1)})
	if len(xy) != 2 || xy[0].X != 1 || xy[1].X != 3 || xy[1].Y != 3 {
		t.Fatalf("%v", xy)
	}
}
