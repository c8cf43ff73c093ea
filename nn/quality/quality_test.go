package quality

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/backtest"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/internal/shareddata"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/models"
	"github.com/clvflow/clvflow/nn"
)

// realSet is a shared data set built as `clvflow backtest` builds it.
type realSet struct {
	name  string
	set   *features.Set
	snaps []*features.Set
}

// loadReal reads, cleans and featurizes a shared data set at its backtest
// split (reversed orders dropped unless keepReversed) with up to snapshots
// earlier training snapshots.
func loadReal(t *testing.T, name string, keepReversed bool, snapshots int) realSet {
	t.Helper()
	var file string
	var format dataset.Format
	var split features.Split
	switch name {
	case "cdnow":
		file, format = "cdnow_master.txt.gz", dataset.FormatCDNOW
		split = features.Split{Cutoff: time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC), HorizonDays: 273}
	case "online_retail":
		file, format = "online_retail_uci.csv.gz", dataset.FormatOnlineRetail
		split = features.Split{Cutoff: time.Date(2011, 9, 8, 0, 0, 0, 0, time.UTC), HorizonDays: 92}
	default:
		t.Fatalf("unknown data set %q", name)
	}
	b := features.NewBuilder(split)
	if _, err := dataset.ReadFile(filepath.Join(shareddata.Dir(t), file), dataset.Options{Format: format, DropReversed: !keepReversed}, b.AddTransaction); err != nil {
		t.Fatal(err)
	}
	set, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := b.Snapshots(snapshots, features.DefaultSnapshotStepDays)
	if err != nil {
		t.Fatal(err)
	}
	return realSet{name: name, set: set, snaps: snaps}
}

type scores struct{ gini, dmape float64 }

func score(t *testing.T, pred, actual []float64) scores {
	t.Helper()
	g, err := metrics.NormalizedGini(pred, actual)
	if err != nil {
		t.Fatal(err)
	}
	d, err := metrics.DecileMAPE(pred, actual)
	if err != nil {
		t.Fatal(err)
	}
	return scores{g, d}
}

func (s scores) beats(o scores) bool { return s.gini > o.gini && s.dmape < o.dmape }

// fitPredict fits a model kind as `clvflow backtest` does and returns its
// predicted holdout spend of the test customers.
func fitPredict(t *testing.T, kind modelkind.Kind, rs realSet, train, test []int, opts models.FitOptions) ([]float64, models.FitInfo) {
	t.Helper()
	m, info, err := models.Fit(context.Background(), kind, rs.set, train, opts)
	if err != nil {
		t.Fatal(err)
	}
	pred, _, err := m.Predict(rs.set, test)
	if err != nil {
		t.Fatal(err)
	}
	return pred, info
}

func labels(set *features.Set, idx []int) []float64 {
	y := make([]float64, len(idx))
	for k, i := range idx {
		y[k] = set.Customers[i].HoldoutSpend
	}
	return y
}

// TestCDNOWBeatsBaselines trains the default ZILN model with the default
// seed on CDNOW master (the split of `clvflow backtest`) and requires it to
// beat BG/NBD×GG and naive on both normalized Gini and decile MAPE on the
// test customers.
func TestCDNOWBeatsBaselines(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on 18,856 customers; skipped with -short")
	}
	rs := loadReal(t, "cdnow", false, features.DefaultSnapshots)
	train, test := rs.set.SplitTrainTest(backtest.DefaultTestFraction, nn.DefaultSeed)
	y := labels(rs.set, test)
	opts := models.FitOptions{Seed: nn.DefaultSeed, Snapshots: rs.snaps}
	bgPred, _ := fitPredict(t, modelkind.BGNBD, rs, train, test, opts)
	naivePred, _ := fitPredict(t, modelkind.Naive, rs, train, test, opts)
	bg, naive := score(t, bgPred, y), score(t, naivePred, y)
	pred, info := fitPredict(t, modelkind.ZILN, rs, train, test, opts)
	z := score(t, pred, y)
	t.Logf("ziln gini %.4f decile MAPE %.4f (%d epochs, %.1fs) | bgnbd %.4f %.4f | naive %.4f %.4f",
		z.gini, z.dmape, info.Epochs, info.Seconds, bg.gini, bg.dmape, naive.gini, naive.dmape)
	if !z.beats(bg) || !z.beats(naive) {
		t.Fatalf("ziln (gini %.4f, decile MAPE %.4f) does not beat bgnbd (%.4f, %.4f) and naive (%.4f, %.4f)",
			z.gini, z.dmape, bg.gini, bg.dmape, naive.gini, naive.dmape)
	}
}

// TestQualityReport prints nn vs BG/NBD vs naive for several splits and
// configurations, on the data and split of `clvflow backtest`. Long: enable
// with CLVFLOW_NN_QUALITY=1. Options: CLVFLOW_NN_QUALITY_SETS
// (cdnow,online_retail), CLVFLOW_NN_QUALITY_KINDS (ziln,seq),
// CLVFLOW_NN_QUALITY_SPLITS (seeds, default 42; the nn seed is the split
// seed as in `clvflow backtest --seed`), CLVFLOW_NN_QUALITY_CONFIG (JSON
// object or array of objects overriding DefaultConfig, one run each),
// CLVFLOW_NN_QUALITY_SNAPSHOTS (training snapshots, default
// features.DefaultSnapshots), CLVFLOW_NN_QUALITY_KEEP_REVERSED=1 (Online
// Retail with the purchases that cancellations reverse).
func TestQualityReport(t *testing.T) {
	if os.Getenv("CLVFLOW_NN_QUALITY") == "" {
		t.Skip("set CLVFLOW_NN_QUALITY=1 to run the real-data quality report")
	}
	sets := strings.Split(envOr("CLVFLOW_NN_QUALITY_SETS", "cdnow,online_retail"), ",")
	kinds := strings.Split(envOr("CLVFLOW_NN_QUALITY_KINDS", "ziln,seq"), ",")
	splits := strings.Split(envOr("CLVFLOW_NN_QUALITY_SPLITS", strconv.FormatUint(nn.DefaultSeed, 10)), ",")
	snapshots, err := strconv.Atoi(envOr("CLVFLOW_NN_QUALITY_SNAPSHOTS", strconv.Itoa(features.DefaultSnapshots)))
	if err != nil {
		t.Fatal(err)
	}
	keepReversed := os.Getenv("CLVFLOW_NN_QUALITY_KEEP_REVERSED") != ""
	overrides := []json.RawMessage{json.RawMessage("{}")}
	if o := strings.TrimSpace(os.Getenv("CLVFLOW_NN_QUALITY_CONFIG")); strings.HasPrefix(o, "[") {
		if err := json.Unmarshal([]byte(o), &overrides); err != nil {
			t.Fatal(err)
		}
	} else if o != "" {
		overrides = []json.RawMessage{json.RawMessage(o)}
	}
	type agg struct {
		gini, dmape float64
		wins, n     int
	}
	sums := map[string]*agg{}
	var order []string
	for _, name := range sets {
		rs := loadReal(t, name, keepReversed, snapshots)
		for _, sp := range splits {
			seed, err := strconv.ParseUint(sp, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			train, test := rs.set.SplitTrainTest(backtest.DefaultTestFraction, seed)
			y := labels(rs.set, test)
			opts := models.FitOptions{Seed: seed, Snapshots: rs.snaps}
			bgPred, _ := fitPredict(t, modelkind.BGNBD, rs, train, test, opts)
			naivePred, _ := fitPredict(t, modelkind.Naive, rs, train, test, opts)
			bg, naive := score(t, bgPred, y), score(t, naivePred, y)
			top, total := 0, 0.0
			for i, v := range y {
				total += v
				if v > y[top] {
					top = i
				}
			}
			// the metrics without the largest buyer show how much one customer decides
			without := func(v []float64) []float64 { return append(append([]float64(nil), v[:top]...), v[top+1:]...) }
			fmt.Printf("%s split %d (%d snapshots, keep reversed %v): train %d test %d | bgnbd gini %.4f dmape %.4f | naive gini %.4f dmape %.4f | top buyer %s has %.1f%% of the test spend; bgnbd gini without it %.4f\n",
				name, seed, len(rs.snaps), keepReversed, len(train), len(test), bg.gini, bg.dmape, naive.gini, naive.dmape,
				rs.set.Customers[test[top]].ID, 100*y[top]/total, score(t, without(bgPred), without(y)).gini)
			for _, k := range kinds {
				kind, err := modelkind.Parse(k)
				if err != nil {
					t.Fatal(err)
				}
				if !kind.IsNetwork() {
					t.Fatalf("CLVFLOW_NN_QUALITY_KINDS: %q is not a neural model kind (want %s or %s)", k, modelkind.ZILN, modelkind.Seq)
				}
				for _, o := range overrides {
					cfg := nn.DefaultConfig(kind)
					if err := json.Unmarshal(o, &cfg); err != nil {
						t.Fatal(err)
					}
					opts := opts
					opts.NN = &cfg
					pred, info := fitPredict(t, kind, rs, train, test, opts)
					s := score(t, pred, y)
					win := s.beats(bg) && s.beats(naive)
					fmt.Printf("  %-4s %s gini %.4f dmape %.4f win %-5v | gini without top buyer %.4f | %d rows, %d epochs in %.1fs\n", kind, o,
						s.gini, s.dmape, win, score(t, without(pred), without(y)).gini, info.TrainingRows, info.Epochs, info.Seconds)
					key := fmt.Sprintf("%s %s %s", name, kind, o)
					if sums[key] == nil {
						sums[key] = &agg{}
						order = append(order, key)
					}
					a := sums[key]
					a.gini += s.gini
					a.dmape += s.dmape
					a.n++
					if win {
						a.wins++
					}
				}
			}
		}
	}
	for _, k := range order {
		a := sums[k]
		fmt.Printf("SUMMARY %s: mean gini %.4f mean dmape %.4f wins %d/%d\n", k, a.gini/float64(a.n), a.dmape/float64(a.n), a.wins, a.n)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
