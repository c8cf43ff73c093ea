package quality

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/btyd"
	"github.com/clvflow/clvflow/internal/shareddata"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/nn"
	"github.com/clvflow/clvflow/nn/nntest"
)

type realSet struct {
	name         string
	ds           nntest.Dataset
	horizonWeeks float64
}

// loadReal builds the features of a shared data set and, unless cleaned,
// checks them against the lifetimes reference summary.
func loadReal(t *testing.T, name string, cleaned bool) realSet {
	t.Helper()
	dir := shareddata.Dir(t)
	var txns []nntest.Txn
	var err error
	var cutoff, horizon int
	var ref string
	switch name {
	case "cdnow":
		txns, err = nntest.LoadCDNOW(filepath.Join(dir, "cdnow_master.txt.gz"))
		cutoff, horizon, ref = nntest.DayOf(1997, 9, 30), 273, "cdnow_master_calholdout_lifetimes_ref.csv.gz"
	case "online_retail":
		txns, err = nntest.LoadOnlineRetailWith(filepath.Join(dir, "online_retail_uci.csv.gz"), cleaned)
		cutoff, horizon, ref = nntest.DayOf(2011, 9, 8), 92, "online_retail_calholdout_lifetimes_ref.csv.gz"
	default:
		t.Fatalf("unknown data set %q", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	ds := nntest.Build(txns, cutoff, horizon, 52)
	rs := realSet{name: name, ds: ds, horizonWeeks: float64(horizon) / 7}
	if cleaned {
		return rs
	}
	refRows, err := nntest.LoadRef(filepath.Join(dir, ref))
	if err != nil {
		t.Fatal(err)
	}
	if len(refRows) != len(ds.IDs) {
		t.Fatalf("%s: built %d customers, reference has %d", name, len(ds.IDs), len(refRows))
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-3+1e-5*math.Abs(b) } // reference has 6 digits
	for i, id := range ds.IDs {
		r, ok := refRows[id]
		if !ok {
			t.Fatalf("%s: customer %s missing from the reference", name, id)
		}
		row := ds.Tabular[i]
		if !near(row[0], r.X) || !near(row[1], r.Tx) || !near(row[2], r.T) || !near(row[4], r.CalSpend) || !near(ds.Label[i], r.SpendHoldout) {
			t.Fatalf("%s: customer %s features %v label %v differ from the reference %+v", name, id, row, ds.Label[i], r)
		}
	}
	return rs
}

// bgnbdPredict fits BG/NBD and Gamma-Gamma on train and predicts the holdout
// spend of test, as `clvflow backtest` does.
func bgnbdPredict(t *testing.T, train, test nntest.Dataset, horizonWeeks float64) []float64 {
	t.Helper()
	n := len(train.Label)
	x, tx, T, mbar := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i, r := range train.Tabular {
		x[i], tx[i], T[i], mbar[i] = r[0], r[1], r[2], r[5]
	}
	bg, err := btyd.FitBGNBD(x, tx, T, btyd.FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gg, err := btyd.FitGammaGamma(x, mbar)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(test.Label))
	for i, r := range test.Tabular {
		out[i] = bg.ExpectedPurchases(horizonWeeks, r[0], r[1], r[2]) * gg.ConditionalExpectedValue(r[0], r[5])
	}
	return out
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

// trainPredict trains cfg on train and returns the expected values of test.
func trainPredict(t *testing.T, cfg nn.Config, train, test nntest.Dataset) ([]float64, *nn.Model, int, time.Duration) {
	t.Helper()
	data := nn.Data{Tabular: train.Tabular, Label: train.Label}
	seq := [][]float64(nil)
	if cfg.Kind == nn.KindSeq {
		data.Seq, seq = train.Seq, test.Seq
	}
	var epochs int
	start := time.Now()
	m, err := nn.Train(context.Background(), cfg, data, nn.TrainOptions{Progress: func(nn.EpochReport) { epochs++ }})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	p, err := m.Predict(test.Tabular, seq)
	if err != nil {
		t.Fatal(err)
	}
	pred := make([]float64, len(p))
	for i := range p {
		pred[i] = p[i].Expected
	}
	return pred, m, epochs, el
}

// TestCDNOWBeatsBaselines trains the default ZILN model with the default
// seed on CDNOW master and requires it to beat BG/NBD×GG and naive on both
// normalized Gini and decile MAPE on the test customers.
func TestCDNOWBeatsBaselines(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on 18,856 customers; skipped with -short")
	}
	rs := loadReal(t, "cdnow", false)
	tr, te := nntest.Split(len(rs.ds.IDs), 0.2, nn.DefaultSeed)
	train, test := rs.ds.Subset(tr), rs.ds.Subset(te)
	y := test.Label
	bg := score(t, bgnbdPredict(t, train, test, rs.horizonWeeks), y)
	naive := score(t, nntest.Naive(test.Tabular, rs.horizonWeeks), y)
	pred, _, epochs, el := trainPredict(t, nn.DefaultConfig(nn.KindZILN), train, test)
	z := score(t, pred, y)
	t.Logf("ziln gini %.4f decile MAPE %.4f (%d epochs, %v) | bgnbd %.4f %.4f | naive %.4f %.4f",
		z.gini, z.dmape, epochs, el.Round(time.Millisecond), bg.gini, bg.dmape, naive.gini, naive.dmape)
	if !z.beats(bg) || !z.beats(naive) {
		t.Fatalf("ziln (gini %.4f, decile MAPE %.4f) does not beat bgnbd (%.4f, %.4f) and naive (%.4f, %.4f)",
			z.gini, z.dmape, bg.gini, bg.dmape, naive.gini, naive.dmape)
	}
}

// TestQualityReport prints nn vs BG/NBD vs naive for several splits and
// configurations. Long: enable with CLVFLOW_NN_QUALITY=1. Options:
// CLVFLOW_NN_QUALITY_SETS (cdnow,online_retail), CLVFLOW_NN_QUALITY_KINDS
// (ziln,seq), CLVFLOW_NN_QUALITY_SPLITS (seeds, default 42; the nn seed is
// the split seed as in `clvflow backtest --seed`), CLVFLOW_NN_QUALITY_CONFIG
// (JSON object or array of objects overriding DefaultConfig, one run each),
// CLVFLOW_NN_QUALITY_CLEAN=1 (Online Retail without reversed orders).
func TestQualityReport(t *testing.T) {
	if os.Getenv("CLVFLOW_NN_QUALITY") == "" {
		t.Skip("set CLVFLOW_NN_QUALITY=1 to run the real-data quality report")
	}
	sets := strings.Split(envOr("CLVFLOW_NN_QUALITY_SETS", "cdnow,online_retail"), ",")
	kinds := strings.Split(envOr("CLVFLOW_NN_QUALITY_KINDS", "ziln,seq"), ",")
	splits := strings.Split(envOr("CLVFLOW_NN_QUALITY_SPLITS", strconv.FormatUint(nn.DefaultSeed, 10)), ",")
	cleaned := os.Getenv("CLVFLOW_NN_QUALITY_CLEAN") != ""
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
	for _, set := range sets {
		rs := loadReal(t, set, cleaned)
		for _, sp := range splits {
			seed, err := strconv.ParseUint(sp, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			tr, te := nntest.Split(len(rs.ds.IDs), 0.2, seed)
			train, test := rs.ds.Subset(tr), rs.ds.Subset(te)
			y := test.Label
			bgPred := bgnbdPredict(t, train, test, rs.horizonWeeks)
			bg := score(t, bgPred, y)
			naive := score(t, nntest.Naive(test.Tabular, rs.horizonWeeks), y)
			top, total := 0, 0.0
			for i, v := range y {
				total += v
				if v > y[top] {
					top = i
				}
			}
			// the metrics without the largest buyer show how much one customer decides
			without := func(v []float64) []float64 { return append(append([]float64(nil), v[:top]...), v[top+1:]...) }
			fmt.Printf("%s split %d (cleaned %v): train %d test %d | bgnbd gini %.4f dmape %.4f | naive gini %.4f dmape %.4f | top buyer %s has %.1f%% of the test spend; bgnbd gini without it %.4f\n",
				set, seed, cleaned, len(tr), len(te), bg.gini, bg.dmape, naive.gini, naive.dmape,
				test.IDs[top], 100*y[top]/total, score(t, without(bgPred), without(y)).gini)
			for _, k := range kinds {
				kind, err := nn.ParseKind(k)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range overrides {
					cfg := nn.DefaultConfig(kind)
					cfg.Seed = seed
					if err := json.Unmarshal(o, &cfg); err != nil {
						t.Fatal(err)
					}
					pred, m, epochs, el := trainPredict(t, cfg, train, test)
					s := score(t, pred, y)
					win := s.beats(bg) && s.beats(naive)
					var best []int
					for _, ms := range m.Summary {
						best = append(best, ms.BestEpoch)
					}
					fmt.Printf("  %-4s %s gini %.4f dmape %.4f win %-5v | gini without top buyer %.4f | %d epochs in %v (%.0f ms/epoch), best epochs %v\n", kind, o,
						s.gini, s.dmape, win, score(t, without(pred), without(y)).gini, epochs, el.Round(time.Millisecond), float64(el.Milliseconds())/float64(epochs), best)
					key := fmt.Sprintf("%s %s %s", set, kind, o)
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
