package metrics

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestHandComputed(t *testing.T) {
	type fn func(p, a []float64) (float64, error)
	tests := []struct {
		name         string
		f            fn
		pred, actual []float64
		want         float64
	}{
		// order by pred: y = 10,5,5,0 → cumsum/20 = .5,.75,1,1 → 2·.8125−1 = .625 = perfect
		{"gini perfect", NormalizedGini, []float64{0.9, 0.1, 0.5, 0.3}, []float64{10, 0, 5, 5}, 1},
		// order: y = 0,5,5,10 → 0,.25,.5,1 → 2·.4375−1 = −.125; / .625
		{"gini reversed-ish", NormalizedGini, []float64{0.1, 0.9, 0.5, 0.3}, []float64{10, 0, 5, 5}, -0.2},
		// tie pred[0]=pred[1] kept in index order: y = 0,4,0 → 0,1,1 → 1/3; perfect 1
		{"gini tie by index", NormalizedGini, []float64{1, 1, 0}, []float64{0, 4, 0}, 1.0 / 3},
		{"gini tie by index swapped input", NormalizedGini, []float64{1, 1, 0}, []float64{4, 0, 0}, 1},
		// all equal actuals: model and perfect Gini are both 1/n
		{"gini constant actual", NormalizedGini, []float64{3, 1, 2}, []float64{2, 2, 2}, 1},
		// actual ranks 1,2,3.5,5,3.5: sxy=8, sxx=10, syy=9.5
		{"spearman with ties", Spearman, []float64{1, 2, 3, 4, 5}, []float64{5, 6, 7, 8, 7}, 8 / math.Sqrt(95)},
		{"spearman perfect monotone", Spearman, []float64{1, 2, 3}, []float64{1, 10, 100}, 1},
		{"spearman reversed", Spearman, []float64{1, 2, 3}, []float64{3, 2, 1}, -1},
		// 10 buckets of one: errors .5 (10 vs 20), 0 ×8, last bucket actual 0 skipped
		{"decile MAPE skips zero bucket", DecileMAPE, []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, []float64{20, 9, 8, 7, 6, 5, 4, 3, 2, 0}, 0.5 / 9},
		// n=12: buckets {12,11} {10,9} then singles; actual = pred+1 in bucket 1 only
		{"decile MAPE remainder", DecileMAPE, []float64{12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, []float64{13, 12, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, (1.0 / 12.5) / 10},
		// n=3 < 10: three buckets of one
		{"decile MAPE small n", DecileMAPE, []float64{3, 2, 1}, []float64{6, 2, 1}, 0.5 / 3},
		{"MAE", MAE, []float64{1, 2, 3}, []float64{2, 2, 5}, 1},
		{"RMSE", RMSE, []float64{1, 2, 3}, []float64{2, 2, 5}, math.Sqrt(5.0 / 3)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.f(tc.pred, tc.actual)
			if err != nil {
				t.Fatal(err)
			}
			if !near(got, tc.want, 1e-12) {
				t.Errorf("got %.15g, want %.15g", got, tc.want)
			}
		})
	}
}

func TestDecileBounds(t *testing.T) {
	tests := []struct {
		n     int
		sizes []int
	}{
		{0, nil},
		{3, []int{1, 1, 1}},
		{10, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{12, []int{2, 2, 1, 1, 1, 1, 1, 1, 1, 1}},
		{2357, []int{236, 236, 236, 236, 236, 236, 236, 235, 235, 235}},
	}
	for _, tc := range tests {
		var sizes []int
		next := 0
		for _, b := range DecileBounds(tc.n) {
			if b[0] != next {
				t.Errorf("n=%d: bucket starts at %d, want %d", tc.n, b[0], next)
			}
			sizes = append(sizes, b[1]-b[0])
			next = b[1]
		}
		if !slices.Equal(sizes, tc.sizes) {
			t.Errorf("n=%d: sizes %v, want %v", tc.n, sizes, tc.sizes)
		}
	}
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name          string
		prob          []float64
		bought        []bool
		threshold     float64
		want          ClassificationMetrics
		wantUndefined bool
	}{
		{
			// positives .9 .7 .6, negatives .8 .5 .4: 7 of 9 pairs ordered
			name: "hand", prob: []float64{0.9, 0.8, 0.7, 0.6, 0.5, 0.4}, bought: []bool{true, false, true, true, false, false}, threshold: 0.65,
			want: ClassificationMetrics{AUC: 7.0 / 9, Precision: 2.0 / 3, Recall: 2.0 / 3, F1: 2.0 / 3, TP: 2, FP: 1, TN: 2, FN: 1},
		},
		{
			name: "tie counts one half, threshold inclusive", prob: []float64{0.5, 0.5}, bought: []bool{true, false}, threshold: 0.5,
			want: ClassificationMetrics{AUC: 0.5, Precision: 0.5, Recall: 1, F1: 2.0 / 3, TP: 1, FP: 1},
		},
		{
			name: "nothing predicted positive", prob: []float64{0.1, 0.2, 0.3}, bought: []bool{false, true, true}, threshold: 0.5,
			want: ClassificationMetrics{AUC: 1, Precision: 0, Recall: 0, F1: 0, TN: 1, FN: 2},
		},
		{
			name: "single class", prob: []float64{0.1, 0.9}, bought: []bool{true, true}, threshold: 0.5,
			want: ClassificationMetrics{AUC: math.NaN(), Precision: 1, Recall: 0.5, F1: 2.0 / 3, TP: 1, FN: 1}, wantUndefined: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Classification(tc.prob, tc.bought, tc.threshold)
			if tc.wantUndefined != errors.Is(err, ErrUndefined) || (err != nil && !tc.wantUndefined) {
				t.Fatalf("err = %v, want undefined=%v", err, tc.wantUndefined)
			}
			if math.IsNaN(tc.want.AUC) != math.IsNaN(got.AUC) || (!math.IsNaN(got.AUC) && !near(got.AUC, tc.want.AUC, 1e-12)) {
				t.Errorf("AUC = %v, want %v", got.AUC, tc.want.AUC)
			}
			got.AUC, tc.want.AUC = 0, 0
			for _, p := range [][2]float64{{got.Precision, tc.want.Precision}, {got.Recall, tc.want.Recall}, {got.F1, tc.want.F1}} {
				if !near(p[0], p[1], 1e-12) {
					t.Errorf("got %+v, want %+v", got, tc.want)
				}
			}
			if got.TP != tc.want.TP || got.FP != tc.want.FP || got.TN != tc.want.TN || got.FN != tc.want.FN {
				t.Errorf("confusion %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestAUCMatchesPairCount compares the rank formula with the O(n²)
// definition P(prob₊ > prob₋) + ½·P(tie) on data with many ties.
func TestAUCMatchesPairCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	n := 700
	prob := make([]float64, n)
	bought := make([]bool, n)
	for i := range n {
		prob[i] = float64(rng.IntN(20)) / 20
		bought[i] = rng.Float64() < 0.3+0.5*prob[i]
	}
	c, err := Classification(prob, bought, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	var wins, pairs float64
	for i := range n {
		for j := range n {
			if !bought[i] || bought[j] {
				continue
			}
			pairs++
			switch {
			case prob[i] > prob[j]:
				wins++
			case prob[i] == prob[j]:
				wins += 0.5
			}
		}
	}
	if want := wins / pairs; !near(c.AUC, want, 1e-12) {
		t.Errorf("AUC %.15g, pair count %.15g", c.AUC, want)
	}
}

func TestErrors(t *testing.T) {
	funcs := map[string]func(p, a []float64) (float64, error){
		"NormalizedGini": NormalizedGini, "Spearman": Spearman, "DecileMAPE": DecileMAPE, "MAE": MAE, "RMSE": RMSE,
	}
	names := []string{"NormalizedGini", "Spearman", "DecileMAPE", "MAE", "RMSE"}
	inputs := []struct {
		name         string
		pred, actual []float64
		want         error
	}{
		{"empty", nil, nil, ErrEmpty},
		{"mismatch", []float64{1, 2}, []float64{1}, ErrLengthMismatch},
		{"NaN pred", []float64{math.NaN()}, []float64{1}, ErrNotFinite},
		{"Inf actual", []float64{1}, []float64{math.Inf(1)}, ErrNotFinite},
	}
	for _, name := range names {
		for _, in := range inputs {
			v, err := funcs[name](in.pred, in.actual)
			if !errors.Is(err, in.want) || !math.IsNaN(v) {
				t.Errorf("%s(%s) = %v, %v; want NaN, %v", name, in.name, v, err, in.want)
			}
		}
	}
	undefined := []struct {
		name string
		f    func(p, a []float64) (float64, error)
		p, a []float64
	}{
		{"Gini all-zero actual", NormalizedGini, []float64{1, 2, 3}, []float64{0, 0, 0}},
		{"Gini zero total", NormalizedGini, []float64{1, 2}, []float64{-1, 1}},
		{"Spearman constant pred", Spearman, []float64{1, 1, 1}, []float64{1, 2, 3}},
		{"DecileMAPE all-zero actual", DecileMAPE, []float64{1, 2, 3}, []float64{0, 0, 0}},
	}
	for _, u := range undefined {
		v, err := u.f(u.p, u.a)
		if !errors.Is(err, ErrUndefined) || !math.IsNaN(v) {
			t.Errorf("%s = %v, %v; want NaN, ErrUndefined", u.name, v, err)
		}
	}
	if _, err := Classification([]float64{0.5}, []bool{true, false}, 0.5); !errors.Is(err, ErrLengthMismatch) {
		t.Errorf("Classification mismatch: %v", err)
	}
	if _, err := Classification([]float64{math.NaN()}, []bool{true}, 0.5); !errors.Is(err, ErrNotFinite) {
		t.Errorf("Classification NaN: %v", err)
	}
	if _, err := Evaluate([]float64{1}, []float64{0.5, 0.5}, []float64{1}); !errors.Is(err, ErrLengthMismatch) {
		t.Errorf("Evaluate prob mismatch: %v", err)
	}
}

func TestEvaluateAndJSON(t *testing.T) {
	pred := []float64{10, 1, 5, 3}
	prob := []float64{0.9, 0.2, 0.6, 0.4}
	actual := []float64{12, 0, 0, 4}
	r, err := Evaluate(pred, prob, actual)
	if err != nil {
		t.Fatal(err)
	}
	gini, _ := NormalizedGini(pred, actual)
	mae, _ := MAE(pred, actual)
	c, _ := Classification(prob, []bool{true, false, false, true}, DefaultThreshold)
	want := Report{N: 4, NormalizedGini: gini, MAE: mae, AUC: c.AUC, Precision: c.Precision, Recall: c.Recall, F1: c.F1, TotalPredicted: 19, TotalActual: 16}
	if r.N != want.N || r.NormalizedGini != want.NormalizedGini || r.MAE != want.MAE || r.AUC != want.AUC ||
		r.Precision != want.Precision || r.Recall != want.Recall || r.F1 != want.F1 ||
		r.TotalPredicted != want.TotalPredicted || r.TotalActual != want.TotalActual {
		t.Errorf("Evaluate = %+v, want fields of %+v", r, want)
	}
	if r.AUC != 0.75 { // positives .9 .4 vs negatives .2 .6: 3 of 4 pairs
		t.Errorf("AUC = %v, want 0.75", r.AUC)
	}

	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"auc", "decile_mape", "f1", "mae", "n", "normalized_gini", "precision", "recall", "rmse", "spearman", "total_actual", "total_predicted"}
	var got []string
	for k := range keys {
		got = append(got, k)
	}
	slices.Sort(got)
	if !slices.Equal(got, wantKeys) {
		t.Errorf("JSON keys %v, want %v", got, wantKeys)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip %+v != %+v", back, r)
	}

	// Undefined metrics: NaN in Go, null in JSON, NaN again after decoding.
	u, err := Evaluate([]float64{1, 2}, nil, []float64{0, 0})
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(u.NormalizedGini) || !math.IsNaN(u.AUC) || u.MAE != 1.5 {
		t.Errorf("all-zero actual, nil prob: %+v", u)
	}
	b, err = json.Marshal(u)
	if err != nil {
		t.Fatalf("NaN report must marshal: %v", err)
	}
	if !strings.Contains(string(b), `"normalized_gini":null`) || !strings.Contains(string(b), `"auc":null`) {
		t.Errorf("undefined metrics not null: %s", b)
	}
	var back2 Report
	if err := json.Unmarshal(b, &back2); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(back2.NormalizedGini) || back2.MAE != 1.5 {
		t.Errorf("decoded %+v", back2)
	}
	if _, err := Evaluate(nil, nil, nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("Evaluate(empty) err = %v, want ErrEmpty", err)
	}
}
