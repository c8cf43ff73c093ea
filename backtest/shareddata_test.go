package backtest

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/internal/testenv"
)

var cdnowCutoff = time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)

// TestRealDataBaselines runs the fast models end to end on the three real
// logs and checks the dataset and split counts of the README.
func TestRealDataBaselines(t *testing.T) {
	dir := testenv.SharedData(t)
	tests := []struct {
		file                   string
		format                 dataset.Format
		cutoff                 time.Time
		horizon                int
		rows, rejected, scored int
		wantWarning            string
		// bgnbdBeatsNaive names the metric on which BG/NBD must beat naive.
		bgnbdBeatsNaive string
	}{
		{"cdnow_sample.txt", dataset.FormatCDNOW, cdnowCutoff, 273, 6919, 0, 2357, "", "decile_mape"},
		// One master repeater has mbar = 0 (README).
		{"cdnow_master.txt.gz", "", cdnowCutoff, 273, 69659, 0, 23570, "1 repeat customers with mbar <= 0 were left out", "decile_mape"},
		{"online_retail_uci.csv.gz", "", time.Date(2011, 9, 8, 0, 0, 0, 0, time.UTC), 92, 541909, 541909 - 397884, 3362, "no-dropout boundary", "normalized_gini"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			res, err := Run(context.Background(), Options{Input: filepath.Join(dir, tc.file), Format: tc.format, Cutoff: tc.cutoff,
				HorizonDays: tc.horizon, Models: []string{"naive", "bgnbd"}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Dataset.Rows != int64(tc.rows) || res.Dataset.RejectedRows != int64(tc.rejected) {
				t.Errorf("dataset %+v, want %d rows, %d rejected", res.Dataset, tc.rows, tc.rejected)
			}
			if s := res.Split; s.TrainCustomers+s.TestCustomers != tc.scored {
				t.Errorf("split %+v, want %d scored customers", s, tc.scored)
			}
			if len(res.Warnings) != 0 {
				t.Errorf("warnings %q", res.Warnings)
			}
			w, _ := res.Models["bgnbd"].Params["warnings"].([]string)
			if joined := strings.Join(w, "\n"); !strings.Contains(joined, tc.wantWarning) || (tc.wantWarning == "" && len(w) > 0) {
				t.Errorf("bgnbd warnings %q, want %q", w, tc.wantWarning)
			}
			for name, mr := range res.Models {
				m := mr.Metrics
				if !(m.NormalizedGini > 0.3) || !(m.AUC > 0.65) || math.IsNaN(m.DecileMAPE) {
					t.Errorf("%s: %+v", name, m)
				}
			}
			bg, naive := res.Models["bgnbd"].Metrics, res.Models["naive"].Metrics
			if !(bg.MAE < naive.MAE) {
				t.Errorf("bgnbd MAE %.2f should beat naive %.2f", bg.MAE, naive.MAE)
			}
			switch tc.bgnbdBeatsNaive {
			case "decile_mape":
				if !(bg.DecileMAPE < naive.DecileMAPE) {
					t.Errorf("bgnbd decile MAPE %.3f should beat naive %.3f", bg.DecileMAPE, naive.DecileMAPE)
				}
			case "normalized_gini":
				if !(bg.NormalizedGini > naive.NormalizedGini) {
					t.Errorf("bgnbd gini %.3f should beat naive %.3f", bg.NormalizedGini, naive.NormalizedGini)
				}
			}
			b, _ := json.Marshal(res)
			t.Logf("%s", b)
		})
	}
}

// TestLongAllModels runs all four models with their default configuration
// on CDNOW master and Online Retail (minutes; CLVFLOW_LONG_TESTS=1).
func TestLongAllModels(t *testing.T) {
	if os.Getenv("CLVFLOW_LONG_TESTS") == "" {
		t.Skip("set CLVFLOW_LONG_TESTS=1 to train every model on the real data sets (several minutes)")
	}
	dir := testenv.SharedData(t)
	for _, tc := range []struct {
		file    string
		cutoff  time.Time
		horizon int
	}{
		{"cdnow_master.txt.gz", cdnowCutoff, 273},
		{"online_retail_uci.csv.gz", time.Date(2011, 9, 8, 0, 0, 0, 0, time.UTC), 92},
	} {
		t.Run(tc.file, func(t *testing.T) {
			start := time.Now()
			res, err := Run(context.Background(), Options{Input: filepath.Join(dir, tc.file), Cutoff: tc.cutoff, HorizonDays: tc.horizon,
				DropReversed: true, Snapshots: features.DefaultSnapshots})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.MarshalIndent(res, "", "  ")
			t.Logf("%s in %v:\n%s", tc.file, time.Since(start).Round(time.Millisecond), b)
			bg := res.Models["bgnbd"].Metrics
			for _, k := range []string{"ziln", "seq"} {
				m := res.Models[k].Metrics
				if !(m.NormalizedGini > 0.3) || math.IsNaN(m.DecileMAPE) || !(m.AUC > 0.65) {
					t.Errorf("%s: %+v", k, m)
				}
				t.Logf("%s gini %.4f vs bgnbd %.4f; decile MAPE %.4f vs %.4f", k, m.NormalizedGini, bg.NormalizedGini, m.DecileMAPE, bg.DecileMAPE)
			}
		})
	}
}

// TestLongSnapshotsHelpOnlineRetail compares the sequence model with and
// without training snapshots on Online Retail over five seeded splits: with
// them it must win (beat BG/NBD and naive on both Gini and decile MAPE) on
// at least as many splits and have the lower mean decile MAPE
// (CLVFLOW_LONG_TESTS=1; a few minutes).
func TestLongSnapshotsHelpOnlineRetail(t *testing.T) {
	if os.Getenv("CLVFLOW_LONG_TESTS") == "" {
		t.Skip("set CLVFLOW_LONG_TESTS=1 to train on Online Retail with and without snapshots (several minutes)")
	}
	path := filepath.Join(testenv.SharedData(t), "online_retail_uci.csv.gz")
	var wins, mape [2]float64
	for seed := uint64(1); seed <= 5; seed++ {
		for k, snaps := range []int{0, features.DefaultSnapshots} {
			res, err := Run(context.Background(), Options{Input: path, Cutoff: time.Date(2011, 9, 8, 0, 0, 0, 0, time.UTC), HorizonDays: 92,
				Models: []string{"naive", "bgnbd", "seq"}, Seed: seed, DropReversed: true, Snapshots: snaps})
			if err != nil {
				t.Fatal(err)
			}
			m, bg, nv := res.Models["seq"].Metrics, res.Models["bgnbd"].Metrics, res.Models["naive"].Metrics
			win := m.NormalizedGini > bg.NormalizedGini && m.NormalizedGini > nv.NormalizedGini && m.DecileMAPE < bg.DecileMAPE && m.DecileMAPE < nv.DecileMAPE
			if win {
				wins[k]++
			}
			mape[k] += m.DecileMAPE / 5
			t.Logf("seed %d snapshots %d: seq gini %.4f decile MAPE %.4f | bgnbd %.4f %.4f | naive %.4f %.4f | win %v",
				seed, snaps, m.NormalizedGini, m.DecileMAPE, bg.NormalizedGini, bg.DecileMAPE, nv.NormalizedGini, nv.DecileMAPE, win)
		}
	}
	t.Logf("wins without/with snapshots %v, mean decile MAPE %v", wins, mape)
	if wins[1] < wins[0] || !(mape[1] < mape[0]) {
		t.Errorf("snapshots did not help: wins %v → %v, mean decile MAPE %.4f → %.4f", wins[0], wins[1], mape[0], mape[1])
	}
}
