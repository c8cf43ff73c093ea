package backtest

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/models/modelstest"
)

// smallRepeats is a cheap K-split backtest with a network.
func smallRepeats(t *testing.T, path string, k int) Options {
	t.Helper()
	return Options{Input: path, Cutoff: modelstest.Cutoff, HorizonDays: modelstest.Horizon, Models: []string{"naive", "bgnbd", "ziln"},
		MaxEpochs: 2, NN: modelstest.SmallNN(modelkind.ZILN, 50), Repeats: k, Seed: 5, Bootstrap: metricsOpts(200)}
}

// TestRunRepeatsEqualsSingleSplits: split k of a K-split run is the run
// with seed Seed+k, and its first split is what Split and Models report.
func TestRunRepeatsEqualsSingleSplits(t *testing.T) {
	path, _ := modelstest.WriteLog(t, 500, 3, 0)
	o := smallRepeats(t, path, 3)
	var calls []int
	o.SplitDone = func(done, total int, _ uint64) {
		if total != 3 {
			t.Errorf("SplitDone total %d, want 3", total)
		}
		calls = append(calls, done)
	}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(calls, []int{1, 2, 3}) {
		t.Errorf("SplitDone calls %v, want [1 2 3]", calls)
	}
	if len(res.Repeats) != 3 || res.Summary == nil || !reflect.DeepEqual(res.Summary.Seeds, []uint64{5, 6, 7}) {
		t.Fatalf("repeats %d, summary %+v", len(res.Repeats), res.Summary)
	}
	for k, rep := range res.Repeats {
		single := o
		single.Repeats, single.Seed = 1, o.Seed+uint64(k)
		one, err := Run(context.Background(), single)
		if err != nil {
			t.Fatal(err)
		}
		if one.Repeats != nil || one.Summary != nil {
			t.Errorf("K = 1 result has repeats or summary")
		}
		if rep.Seed != single.Seed || rep.TestCustomers != one.Split.TestCustomers {
			t.Errorf("split %d: seed %d, %d test customers; want %d, %d", k, rep.Seed, rep.TestCustomers, single.Seed, one.Split.TestCustomers)
		}
		for name, m := range one.Models {
			if !reflect.DeepEqual(rep.Models[name].Metrics, m.Metrics) {
				t.Errorf("split %d %s: metrics %+v, single run %+v", k, name, rep.Models[name].Metrics, m.Metrics)
			}
		}
		if k == 0 && !reflect.DeepEqual(stripFit(res.Models), stripFit(one.Models)) {
			t.Errorf("Models of the K-split run differ from the K = 1 run with the same seed")
		}
	}
	checkSummary(t, res)
}

// checkSummary checks the summary against the per-split metrics.
func checkSummary(t *testing.T, res *Result) {
	t.Helper()
	s := res.Summary
	st := s.Models["ziln"]["normalized_gini"]
	var sum float64
	for _, r := range res.Repeats {
		sum += r.Models["ziln"].Metrics.NormalizedGini
	}
	if st.N != 3 || math.Abs(st.Mean-sum/3) > 1e-12 || !(st.Lo < st.Mean && st.Mean < st.Hi) || !(st.SD > 0) {
		t.Errorf("ziln gini stat %+v, want mean %v over 3 splits", st, sum/3)
	}
	if len(s.Comparisons) != 3 {
		t.Fatalf("comparisons %+v, want 3 pairs", s.Comparisons)
	}
	for _, c := range s.Comparisons {
		var d float64
		wins := 0
		for _, r := range res.Repeats {
			di := r.Models[c.A].Metrics.NormalizedGini - r.Models[c.B].Metrics.NormalizedGini
			d += di / 3
			if di > 0 {
				wins++
			}
		}
		g := c.NormalizedGini
		if math.Abs(g.MeanDiff-d) > 1e-12 || g.WinsA != wins || g.WinsA+g.WinsB+g.Ties != 3 || g.Bootstrap.Estimate != g.MeanDiff {
			t.Errorf("%s − %s gini %+v, want mean diff %v, %d wins", c.A, c.B, g, d, wins)
		}
		if !(g.Bootstrap.Lo <= g.Bootstrap.Hi) || g.Bootstrap.Resamples != 200 || len(g.Bootstrap.Samples) != 200 {
			t.Errorf("%s − %s bootstrap %+v", c.A, c.B, g.Bootstrap)
		}
	}
	if c := s.Comparisons[0]; c.A != "bgnbd" || c.B != "naive" {
		t.Errorf("first comparison %s − %s, want bgnbd − naive", c.A, c.B)
	}
}

// stripFit clears the fit times, the only part of a result that depends
// on the machine.
func stripFit(m map[string]ModelResult) map[string]ModelResult {
	out := map[string]ModelResult{}
	for k, v := range m {
		v.FitSeconds = 0
		out[k] = v
	}
	return out
}

// TestRunRepeatsGOMAXPROCS: the parallel splits give the same JSON with one
// or two goroutines (fit times aside), on the demo data.
func TestRunRepeatsGOMAXPROCS(t *testing.T) {
	if testing.Short() {
		t.Skip("23,570-customer backtest skipped in -short mode")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Input: filepath.Join(root, "testdata", "demo", "cdnow_master.txt.gz"), Cutoff: cdnowCutoff, HorizonDays: 273,
		Models: []string{"naive", "bgnbd", "ziln"}, MaxEpochs: 2, Repeats: 3, Bootstrap: metricsOpts(100)}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var out [2]string
	for i, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		res, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		res.Models = stripFit(res.Models)
		for _, r := range res.Repeats {
			for k, m := range r.Models {
				m.FitSeconds = 0
				r.Models[k] = m
			}
		}
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	if out[0] != out[1] {
		t.Errorf("GOMAXPROCS 1 and 2 give different results:\n%s\n%s", out[0], out[1])
	}
}

func TestRunRepeatsJSONShape(t *testing.T) {
	path, _ := modelstest.WriteLog(t, 300, 1, 0)
	base := Options{Input: path, Cutoff: modelstest.Cutoff, HorizonDays: modelstest.Horizon, Models: []string{"naive", "bgnbd"}, Bootstrap: metricsOpts(50)}
	for _, k := range []int{0, 1, 2} {
		o := base
		o.Repeats = k
		res, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		m := decodeJSON(t, res)
		_, hasR := m["repeats"]
		_, hasS := m["summary"]
		if hasR != (k > 1) || hasS != (k > 1) {
			t.Errorf("K = %d: keys %v", k, keys(m))
		}
		if k > 1 {
			s := m["summary"].(map[string]any)
			naive := s["models"].(map[string]any)["naive"].(map[string]any)
			if gini := naive["normalized_gini"].(map[string]any); gini["n"] != 2.0 || gini["mean"] == nil || gini["lo"] == nil {
				t.Errorf("naive gini stat %v, want 2 splits with mean and interval", gini)
			}
			var back Summary
			b, _ := json.Marshal(res.Summary)
			if err := json.Unmarshal(b, &back); err != nil || back.Comparisons[0].DecileMAPE.WinsA+back.Comparisons[0].DecileMAPE.WinsB+back.Comparisons[0].DecileMAPE.Ties != 2 {
				t.Errorf("summary round trip %+v, %v", back, err)
			}
		}
	}
	bad := base
	bad.Repeats = -1
	if _, err := Run(context.Background(), bad); err == nil {
		t.Error("Repeats -1 accepted")
	}
}

func TestStatOf(t *testing.T) {
	s := statOf([]float64{1, 2, 3, math.NaN()})
	// t(0.975, 2) = 4.302653
	h := 4.302653 / math.Sqrt(3)
	if s.N != 3 || s.Mean != 2 || s.SD != 1 || math.Abs(s.Lo-(2-h)) > 1e-5 || math.Abs(s.Hi-(2+h)) > 1e-5 {
		t.Errorf("statOf = %+v, want mean 2, sd 1, ±%v", s, h)
	}
	if one := statOf([]float64{5}); one.Mean != 5 || !math.IsNaN(one.SD) || !math.IsNaN(one.Lo) {
		t.Errorf("one value: %+v", one)
	}
	b, err := json.Marshal(statOf([]float64{math.NaN()}))
	if err != nil || string(b) != `{"hi":null,"lo":null,"mean":null,"n":0,"sd":null}` {
		t.Errorf("undefined stat JSON %s, %v", b, err)
	}
}

func metricsOpts(resamples int) metrics.BootstrapOptions {
	return metrics.BootstrapOptions{Resamples: resamples}
}
