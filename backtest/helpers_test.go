package backtest

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn"
)

// synthStart is day 0 of the generated logs.
var synthStart = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// synthDays is the length of the generated logs (the last possible day is
// synthStart + synthDays - 1).
const synthDays = 540

// synthCutoff and synthHorizon split the generated logs: calibration is the
// first 400 days, the holdout the remaining 140 days.
var synthCutoff = synthStart.AddDate(0, 0, 399)

const synthHorizon = 140

// writeSynthetic writes a generic CSV transaction log of n customers
// following a BG/NBD-like process (gamma-distributed weekly purchase rates,
// a dropout chance after each purchase, lognormal spend around a customer
// mean) and appends bad rows with negative amounts. It returns the path, the
// number of good rows, and the number of bad rows.
func writeSynthetic(t testing.TB, n int, seed uint64, bad int) (path string, good int) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	path = filepath.Join(t.TempDir(), fmt.Sprintf("synthetic-%d.csv", seed))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "customer_id,date,amount")
	for c := 0; c < n; c++ {
		// Weekly rate: gamma(shape 0.5) via the sum of two squared normals /4
		// times a customer scale.
		z1, z2 := r.NormFloat64(), r.NormFloat64()
		rate := (z1*z1 + z2*z2) / 4 * 0.6
		drop := 0.05 + 0.4*r.Float64()
		mean := math.Exp(3 + 0.6*r.NormFloat64())
		day := float64(r.IntN(120))
		for day < synthDays {
			amount := mean * math.Exp(0.3*r.NormFloat64())
			fmt.Fprintf(w, "C%05d,%s,%.2f\n", c, synthStart.AddDate(0, 0, int(day)).Format("2006-01-02"), amount)
			good++
			if r.Float64() < 0.1 { // a second order on the same day
				fmt.Fprintf(w, "C%05d,%s,%.2f\n", c, synthStart.AddDate(0, 0, int(day)).Format("2006-01-02"), amount/2)
				good++
			}
			if r.Float64() < drop || rate <= 0 {
				break
			}
			day += math.Ceil(r.ExpFloat64() / rate * 7)
		}
	}
	for i := 0; i < bad; i++ {
		fmt.Fprintf(w, "C%05d,%s,-%d.50\n", i, synthStart.Format("2006-01-02"), i+1)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, good
}

// synthBuilder feeds a generated log into a builder for the synthetic split.
func synthBuilder(t testing.TB, n int, seed uint64, seqWeeks int) *features.Builder {
	t.Helper()
	path, _ := writeSynthetic(t, n, seed, 0)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := features.NewBuilder(features.Split{Cutoff: synthCutoff, HorizonDays: synthHorizon, SeqWeeks: seqWeeks})
	if _, err := dataset.Read(f, datasetCSV(), b.AddTransaction); err != nil {
		t.Fatal(err)
	}
	return b
}

// synthSet builds the feature set of a generated log at the synthetic split.
func synthSet(t testing.TB, n int, seed uint64, seqWeeks int) *features.Set {
	t.Helper()
	set, err := synthBuilder(t, n, seed, seqWeeks).Build()
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// smallNN is a fast network configuration for tests.
func smallNN(kind modelkind.Kind, epochs int) *nn.Config {
	c := nn.DefaultConfig(kind)
	c.Hidden = []int{8}
	c.Ensemble = 2
	c.BatchSize = 64
	c.MaxEpochs = epochs
	c.Patience = 0
	c.ValFraction = 0.15
	c.LR = 3e-3
	if kind == modelkind.Seq {
		c.ConvFilters, c.KernelSize, c.ConvStride = 2, 4, 4
	}
	return &c
}

func allIndices(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// datasetCSV reads the generated logs.
func datasetCSV() dataset.Options { return dataset.Options{Format: dataset.FormatCSV} }
