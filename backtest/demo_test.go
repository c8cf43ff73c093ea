package backtest

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/clvflow/clvflow/internal/testenv"
)

// TestRunClassicBaselinesOnDemo backtests the BTYD kinds on the bundled demo
// data (CDNOW master, the literature's split): every kind is fitted and
// scored, ranks customers usefully and beats naive on MAE.
func TestRunClassicBaselinesOnDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("23,570-customer backtest skipped in -short mode")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Options{Input: filepath.Join(root, "testdata", "demo", "cdnow_master.txt.gz"),
		Cutoff: cdnowCutoff, HorizonDays: 273, Models: []string{"mbgnbd", "pnbd", "bgnbd", "naive"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.ModelNames(), []string{"naive", "bgnbd", "pnbd", "mbgnbd"}; !slices.Equal(got, want) {
		t.Errorf("models = %v, want %v", got, want)
	}
	naive := res.Models["naive"].Metrics
	for _, kind := range []string{"bgnbd", "pnbd", "mbgnbd"} {
		mr := res.Models[kind]
		m := mr.Metrics
		t.Logf("%s: MAE %.3f gini %.3f AUC %.3f decile MAPE %.3f; params %v", kind, m.MAE, m.NormalizedGini, m.AUC, m.DecileMAPE, mr.Params)
		if !(m.NormalizedGini > 0.3) || !(m.AUC > 0.65) || math.IsNaN(m.DecileMAPE) {
			t.Errorf("%s: %+v", kind, m)
		}
		if !(m.MAE < naive.MAE) {
			t.Errorf("%s MAE %.2f should beat naive %.2f", kind, m.MAE, naive.MAE)
		}
		if mr.Params["converged"] != true {
			t.Errorf("%s did not converge: %v", kind, mr.Params["warnings"])
		}
	}
	if _, ok := res.Models["pnbd"].Params["beta"]; !ok {
		t.Errorf("pnbd params %v lack beta", res.Models["pnbd"].Params)
	}
}
