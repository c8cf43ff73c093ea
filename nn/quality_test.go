package nn_test

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

	"github.com/clvflow/clvflow/nn"
	"github.com/clvflow/clvflow/nn/nntest"
)

type realSet struct {
	name         string
	ds           nntest.Dataset
	bgnbd        []float64
	horizonWeeks float64
}

func loadReal(t *testing.T, name string) realSet {
	t.Helper()
	dir, err := nntest.SharedDataDir()
	if err != nil {
		t.Skipf("shared data not available: %v", err)
	}
	var txns []nntest.Txn
	var cutoff, horizon int
	var ref string
	switch name {
	case "cdnow":
		txns, err = nntest.LoadCDNOW(filepath.Join(dir, "cdnow_master.txt.gz"))
		cutoff, horizon, ref = nntest.DayOf(1997, 9, 30), 273, "cdnow_master_calholdout_lifetimes_ref.csv.gz"
	case "online_retail":
		txns, err = nntest.LoadOnlineRetail(filepath.Join(dir, "online_retail_uci.csv.gz"))
		cutoff, horizon, ref = nntest.DayOf(2011, 9, 8), 92, "online_retail_calholdout_lifetimes_ref.csv.gz"
	}
	if err != nil {
		t.Fatal(err)
	}
	ds := nntest.Build(txns, cutoff, horizon, 52)
	refRows, err := nntest.LoadRef(filepath.Join(dir, ref))
	if err != nil {
		t.Fatal(err)
	}
	if len(refRows) != len(ds.IDs) {
		t.Fatalf("%s: built %d customers, reference has %d", name, len(ds.IDs), len(refRows))
	}
	rs := realSet{name: name, ds: ds, horizonWeeks: float64(horizon) / 7}
	for i, id := range ds.IDs {
		r, ok := refRows[id]
		if !ok {
			t.Fatalf("%s: customer %s missing from reference", name, id)
		}
		row := ds.Tabular[i]
		if !near(row[0], r.X) || !near(row[1], r.Tx) || !near(row[2], r.T) || !near(row[4], r.CalSpend) || !near(ds.Label[i], r.SpendHoldout) {
			t.Fatalf("%s: customer %s features %v label %v differ from reference %+v", name, id, row, ds.Label[i], r)
		}
		rs.bgnbd = append(rs.bgnbd, r.PredSpendBGNBD)
	}
	return rs
}

// near compares with the reference files' 6 significant digits.
func near(a, b float64) bool { return math.Abs(a-b) <= 1e-3+1e-5*math.Abs(b) }

// TestQuality trains on 80 % of the real customers (the split of `clvflow
// backtest`) and reports Gini and decile MAPE on the rest for nn vs BG/NBD
// (lifetimes reference predictions) vs naive. It is long: run with
// CLVFLOW_NN_QUALITY=1; optional CLVFLOW_NN_QUALITY_CONFIG = JSON object or
// array of objects overriding DefaultConfig (one run per object),
// CLVFLOW_NN_QUALITY_SETS, CLVFLOW_NN_QUALITY_KINDS, CLVFLOW_NN_QUALITY_SPLITS.
func TestQuality(t *testing.T) {
	if os.Getenv("CLVFLOW_NN_QUALITY") == "" {
		t.Skip("set CLVFLOW_NN_QUALITY=1 to run the real-data quality benchmark")
	}
	sets := strings.Split(envOr("CLVFLOW_NN_QUALITY_SETS", "cdnow,online_retail"), ",")
	kinds := strings.Split(envOr("CLVFLOW_NN_QUALITY_KINDS", "ziln,seq"), ",")
	splits := strings.Split(envOr("CLVFLOW_NN_QUALITY_SPLITS", strconv.FormatUint(nn.DefaultSeed, 10)), ",")
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
		rs := loadReal(t, set)
		for _, sp := range splits {
			splitSeed, err := strconv.ParseUint(sp, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			tr, te := nntest.Split(len(rs.ds.IDs), 0.2, splitSeed)
			train, test := rs.ds.Subset(tr), rs.ds.Subset(te)
			y := test.Label
			bg := make([]float64, len(te))
			for i, j := range te {
				bg[i] = rs.bgnbd[j]
			}
			naive := nntest.Naive(test.Tabular, rs.horizonWeeks)
			gB, dB := nntest.NormalizedGini(bg, y), nntest.DecileMAPE(bg, y)
			gN, dN := nntest.NormalizedGini(naive, y), nntest.DecileMAPE(naive, y)
			fmt.Printf("%s split %d: train %d test %d | bgnbd gini %.4f dmape %.4f | naive gini %.4f dmape %.4f\n", set, splitSeed, len(tr), len(te), gB, dB, gN, dN)
			for _, k := range kinds {
				kind, err := nn.ParseKind(k)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range overrides {
					cfg := nn.DefaultConfig(kind)
					cfg.Seed = splitSeed
					if err := json.Unmarshal(o, &cfg); err != nil {
						t.Fatal(err)
					}
					t0 := time.Now()
					var epochs int
					data := nn.Data{Tabular: train.Tabular, Label: train.Label}
					if kind == nn.KindSeq {
						data.Seq = train.Seq
					}
					m, err := nn.Train(context.Background(), cfg, data, nn.TrainOptions{Progress: func(r nn.EpochReport) { epochs++ }})
					if err != nil {
						t.Fatal(err)
					}
					el := time.Since(t0)
					p, err := m.Predict(test.Tabular, test.Seq)
					if err != nil {
						t.Fatal(err)
					}
					pred := make([]float64, len(p))
					for i := range p {
						pred[i] = p[i].Expected
					}
					var best []int
					for _, s := range m.Summary {
						best = append(best, s.BestEpoch)
					}
					g, d := nntest.NormalizedGini(pred, y), nntest.DecileMAPE(pred, y)
					win := g > gB && g > gN && d < dB && d < dN
					fmt.Printf("  %-5s %s gini %.4f dmape %.4f win %-5v | %d epochs in %v (%.0f ms/epoch), best epochs %v\n", kind, o,
						g, d, win, epochs, el.Round(time.Millisecond), float64(el.Milliseconds())/float64(epochs), best)
					key := fmt.Sprintf("%s %s %s", set, kind, o)
					if sums[key] == nil {
						sums[key] = &agg{}
						order = append(order, key)
					}
					a := sums[key]
					a.gini += g
					a.dmape += d
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
