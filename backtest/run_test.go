package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/models"
	"github.com/clvflow/clvflow/models/modelstest"
	"github.com/clvflow/clvflow/nn"
)

// decodeJSON re-reads a result as generic JSON so that the tests check the
// wire format, not the Go structs.
func decodeJSON(t *testing.T, r *Result) map[string]any {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("marshal result: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func keys(m map[string]any) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}

func TestRunNaiveBGNBD(t *testing.T) {
	const n, bad = 600, 3
	path, good := modelstest.WriteLog(t, n, 1, bad)
	opts := Options{Input: path, Format: dataset.FormatCSV, Cutoff: modelstest.Cutoff, HorizonDays: modelstest.Horizon, Models: []string{"bgnbd", "naive"}}
	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Dataset.Rows != int64(good+bad) || res.Dataset.RejectedRows != bad || res.Dataset.Customers != n {
		t.Errorf("dataset = %+v, want rows %d, rejected %d, customers %d", res.Dataset, good+bad, bad, n)
	}
	if got := res.Dataset.RejectedByRule[dataset.RuleNonPositiveAmount]; got != bad {
		t.Errorf("rejected by non_positive_amount = %d, want %d", got, bad)
	}
	scored := res.Split.TrainCustomers + res.Split.TestCustomers
	if scored+res.Split.HoldoutOnlyCustomers != n || res.Split.HoldoutOnlyCustomers != 0 {
		t.Errorf("split = %+v: scored %d + holdout-only must be %d (all first purchases are in the first 120 days)", res.Split, scored, n)
	}
	if want := int(math.Round(0.2 * float64(scored))); res.Split.TestCustomers != want {
		t.Errorf("test customers = %d, want %d", res.Split.TestCustomers, want)
	}
	if res.Split.Cutoff != "2021-02-03" || res.Split.HorizonDays != modelstest.Horizon || res.Split.Seed != DefaultSeed {
		t.Errorf("split = %+v", res.Split)
	}
	if got := res.ModelNames(); !slices.Equal(got, []string{"naive", "bgnbd"}) {
		t.Errorf("models = %v, want [naive bgnbd]", got)
	}

	// The test customers' actual total must match the features.
	set := modelstest.Set(t, n, 1, 0)
	_, test := set.SplitTrainTest(0.2, DefaultSeed)
	var total float64
	for _, i := range test {
		total += set.Customers[i].HoldoutSpend
	}
	for name, mr := range res.Models {
		m := mr.Metrics
		if math.Abs(m.TotalActual-total) > 1e-6*total || m.N != len(test) {
			t.Errorf("%s: total actual %v over %d customers, want %v over %d", name, m.TotalActual, m.N, total, len(test))
		}
		for metric, v := range map[string]float64{"gini": m.NormalizedGini, "spearman": m.Spearman, "auc": m.AUC, "f1": m.F1, "decile_mape": m.DecileMAPE} {
			if math.IsNaN(v) {
				t.Errorf("%s: %s is NaN", name, metric)
			}
		}
		if !(m.NormalizedGini > 0.2) || !(m.AUC > 0.6) {
			t.Errorf("%s: gini %v, auc %v: the model should rank buyers well above chance on this data", name, m.NormalizedGini, m.AUC)
		}
		if mr.FitSeconds < 0 {
			t.Errorf("%s: fit seconds %v", name, mr.FitSeconds)
		}
	}

	// Wire format (DESIGN §3).
	j := decodeJSON(t, res)
	for _, sec := range []struct {
		name string
		want []string
	}{
		{"dataset", []string{"rows", "rejected_rows", "customers"}},
		{"split", []string{"cutoff", "horizon_days", "train_customers", "test_customers"}},
	} {
		obj, ok := j[sec.name].(map[string]any)
		if !ok {
			t.Fatalf("JSON has no %q object: %v", sec.name, keys(j))
		}
		for _, k := range sec.want {
			if _, ok := obj[k]; !ok {
				t.Errorf("JSON %s lacks %q (has %v)", sec.name, k, keys(obj))
			}
		}
	}
	models := j["models"].(map[string]any)
	bg := models["bgnbd"].(map[string]any)
	params := bg["params"].(map[string]any)
	for _, k := range []string{"r", "alpha", "a", "b", "p", "q", "v", "loglik"} {
		if v, ok := params[k].(float64); !ok || !(v != 0) {
			t.Errorf("bgnbd params[%q] = %v, want a non-zero number", k, params[k])
		}
	}
	met := bg["metrics"].(map[string]any)
	for _, k := range []string{"normalized_gini", "spearman", "decile_mape", "mae", "rmse", "auc", "precision", "recall", "f1", "total_predicted", "total_actual"} {
		if _, ok := met[k].(float64); !ok {
			t.Errorf("bgnbd metrics[%q] = %v, want a number", k, met[k])
		}
	}
	if _, ok := bg["fit_seconds"].(float64); !ok {
		t.Errorf("bgnbd fit_seconds missing: %v", keys(bg))
	}

	// Deterministic apart from the timings.
	res2, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for name := range res.Models {
		a, b := res.Models[name], res2.Models[name]
		a.FitSeconds, b.FitSeconds = 0, 0
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Errorf("%s: second run differs:\n%s\n%s", name, ja, jb)
		}
	}
}

func TestRunDefaultCutoffAndWarnings(t *testing.T) {
	path, _ := modelstest.WriteLog(t, 200, 2, 0)
	rep, err := dataset.ReadFile(path, dataset.Options{Format: dataset.FormatCSV}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		cutoff      time.Time
		horizon     int
		wantCutoff  string
		wantWarning string
	}{
		{"default cutoff", time.Time{}, 60, rep.MaxTime.AddDate(0, 0, -60).Format(DateLayout), ""},
		{"holdout past the data", rep.MaxTime.AddDate(0, 0, -10), 30, rep.MaxTime.AddDate(0, 0, -10).Format(DateLayout), "only observed for 10 of 30 days"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(context.Background(), Options{Input: path, Cutoff: tc.cutoff, HorizonDays: tc.horizon, Models: []string{"naive"}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Split.Cutoff != tc.wantCutoff {
				t.Errorf("cutoff = %s, want %s", res.Split.Cutoff, tc.wantCutoff)
			}
			joined := strings.Join(res.Warnings, "\n")
			if tc.wantWarning == "" && joined != "" {
				t.Errorf("unexpected warnings: %s", joined)
			}
			if tc.wantWarning != "" && !strings.Contains(joined, tc.wantWarning) {
				t.Errorf("warnings %q lack %q", joined, tc.wantWarning)
			}
			if res.Dataset.Format != "csv" {
				t.Errorf("detected format %q, want csv", res.Dataset.Format)
			}
		})
	}
}

func TestRunZILN(t *testing.T) {
	path, _ := modelstest.WriteLog(t, 500, 3, 0)
	var epochs int
	res, err := Run(context.Background(), Options{Input: path, Cutoff: modelstest.Cutoff, HorizonDays: modelstest.Horizon,
		Models: []string{"ziln"}, MaxEpochs: 3, NN: modelstest.SmallNN(modelkind.ZILN, 50),
		Progress: func(model string, r nn.EpochReport) {
			if model != "ziln" {
				t.Errorf("progress for model %q", model)
			}
			epochs++
		}})
	if err != nil {
		t.Fatal(err)
	}
	mr, ok := res.Models["ziln"]
	if !ok {
		t.Fatalf("no ziln result: %v", res.ModelNames())
	}
	if epochs != 2*3 {
		t.Errorf("progress saw %d epochs, want 6 (2 members × MaxEpochs 3)", epochs)
	}
	if got := mr.Params["epochs"]; !slices.Equal(got.([]int), []int{3, 3}) {
		t.Errorf("params epochs = %v, want [3 3]", got)
	}
	m := mr.Metrics
	if math.IsNaN(m.NormalizedGini) || math.IsNaN(m.AUC) || !(m.TotalPredicted > 0) {
		t.Errorf("ziln metrics = %+v", m)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("result does not encode: %v", err)
	}
}

func TestRunErrors(t *testing.T) {
	path, _ := modelstest.WriteLog(t, 50, 4, 0)
	badPath := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(badPath, []byte("customer_id,date,amount\nA,2020-01-01,-1\nB,2020-01-02,-2\nC,2020-01-03,5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Options
		want string
		is   error
	}{
		{"no input", Options{}, "no input file", nil},
		{"missing file", Options{Input: filepath.Join(t.TempDir(), "nope.csv")}, "nope.csv", dataset.ErrRead},
		{"unknown model", Options{Input: path, Models: []string{"naive,xgb"}}, `unknown model kind "xgb"`, modelkind.ErrUnknown},
		{"bad format", Options{Input: path, Format: "orc"}, "unknown format", dataset.ErrUnknownFormat},
		{"test fraction", Options{Input: path, TestFraction: 1.5}, "test fraction 1.5 not in (0, 1)", nil},
		{"negative horizon", Options{Input: path, HorizonDays: -3}, "horizon -3 days is negative", nil},
		{"seq weeks", Options{Input: path, SeqWeeks: 9999}, "sequence length 9999 weeks", nil},
		{"cutoff before data", Options{Input: path, Cutoff: modelstest.Start.AddDate(-1, 0, 0), Models: []string{"naive"}}, "0 customer(s) first bought on or before the cutoff 2019-01-01", nil},
		{"too many rejected", Options{Input: badPath, Cutoff: modelstest.Start, Models: []string{"naive"}}, "rejected 2 of 3 rows", dataset.ErrTooManyRejected},
		{"too many rejected, default cutoff", Options{Input: badPath, Models: []string{"naive"}}, "bad.csv", dataset.ErrTooManyRejected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), tc.opts)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", err, tc.is)
			}
		})
	}
}

func TestRunCanceled(t *testing.T) {
	path, _ := modelstest.WriteLog(t, 100, 5, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The shared models' fit fails while the splits are drawn; every split
	// waits for it and Run returns its error.
	for _, k := range []int{1, 3} {
		_, err := Run(ctx, Options{Input: path, Cutoff: modelstest.Cutoff, HorizonDays: modelstest.Horizon, Models: []string{"naive"}, Repeats: k})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("repeats %d: err = %v, want context.Canceled", k, err)
		}
	}
}

// TestRunMatchesFitEvaluate checks that Run is exactly Fit on the train
// customers plus Evaluate on the test customers.
func TestRunMatchesFitEvaluate(t *testing.T) {
	path, _ := modelstest.WriteLog(t, 300, 6, 0)
	res, err := Run(context.Background(), Options{Input: path, Cutoff: modelstest.Cutoff, HorizonDays: modelstest.Horizon, Models: []string{"bgnbd"}, Seed: 9, TestFraction: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	set := modelstest.Set(t, 300, 6, 0)
	train, test := set.SplitTrainTest(0.3, 9)
	m, _, err := models.Fit(context.Background(), "bgnbd", set, train, models.FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := models.Evaluate(m, set, test)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(rep)
	b, _ := json.Marshal(res.Models["bgnbd"].Metrics)
	if !bytes.Equal(a, b) {
		t.Errorf("Run metrics %s\n!= Fit+Evaluate %s", b, a)
	}
	if res.Split.TrainCustomers != len(train) || res.Split.TestCustomers != len(test) {
		t.Errorf("split %+v, want %d/%d", res.Split, len(train), len(test))
	}
}

func TestRunKeepPredictions(t *testing.T) {
	path, _ := modelstest.WriteLog(t, 300, 6, 0)
	opts := Options{Input: path, Cutoff: modelstest.Cutoff, HorizonDays: modelstest.Horizon, Models: []string{"bgnbd", "naive"}}
	plain, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.KeepPredictions = true
	kept, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range kept.ModelNames() {
		if plain.Models[name].Predictions != nil {
			t.Errorf("%s: predictions kept without KeepPredictions", name)
		}
		mr := kept.Models[name]
		p := mr.Predictions
		if p == nil || len(p.Predicted) != kept.Split.TestCustomers || len(p.Actual) != len(p.Predicted) || len(p.Customers) != len(p.Predicted) {
			t.Fatalf("%s: predictions %+v for %d test customers", name, p, kept.Split.TestCustomers)
		}
		rep, err := metrics.Evaluate(p.Predicted, p.Probability, p.Actual)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(rep)
		b, _ := json.Marshal(mr.Metrics)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: metrics of the kept predictions %s\n!= Run metrics %s", name, a, b)
		}
	}
	withPred, _ := json.Marshal(kept)
	for name, mr := range kept.Models {
		mr.Predictions = nil
		kept.Models[name] = mr
	}
	without, _ := json.Marshal(kept)
	if !bytes.Equal(withPred, without) {
		t.Error("kept predictions change the JSON")
	}
}

// TestReadAndBuildRestoresGCPercent: the featurize phase raises the
// collector's target and gives back the caller's afterwards (a higher one,
// or off, is left alone).
func TestReadAndBuildRestoresGCPercent(t *testing.T) {
	path, _ := modelstest.WriteLog(t, 50, 3, 0)
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, before := range []int{50, 100, 1000, -1} {
		debug.SetGCPercent(before)
		split, err := features.Split{Cutoff: modelstest.Cutoff, HorizonDays: modelstest.Horizon, SeqWeeks: 52}.Validate()
		if err != nil {
			t.Fatal(err)
		}
		_, set, err := readAndBuild(features.NewBuilder(split), path, dataset.Options{})
		if err != nil || set.Len() == 0 {
			t.Fatalf("GOGC %d: %d customers, %v", before, set.Len(), err)
		}
		if after := debug.SetGCPercent(100); after != before {
			t.Fatalf("GC percent %d after the featurize phase, want the caller's %d", after, before)
		}
	}
}
