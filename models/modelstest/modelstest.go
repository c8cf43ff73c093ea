// Package modelstest provides deterministic test inputs for package models
// and its consumers (package backtest): generated transaction logs that
// follow a BG/NBD-like process, their feature sets at a fixed split, and a
// small, fast network configuration.
package modelstest

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

// Start is day 0 of the generated logs.
var Start = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Days is the length of the generated logs (the last possible day is
// Start + Days - 1).
const Days = 540

// Cutoff and Horizon split the generated logs: calibration is the first 400
// days, the holdout the remaining 140 days.
var Cutoff = Start.AddDate(0, 0, 399)

// Horizon is the holdout length in days (see Cutoff).
const Horizon = 140

// WriteLog writes a generic CSV transaction log of n customers
// following a BG/NBD-like process (gamma-distributed weekly purchase rates,
// a dropout chance after each purchase, lognormal spend around a customer
// mean) and appends bad rows with negative amounts. It returns the path and
// the number of good rows.
func WriteLog(t testing.TB, n int, seed uint64, bad int) (path string, good int) {
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
		for day < Days {
			amount := mean * math.Exp(0.3*r.NormFloat64())
			fmt.Fprintf(w, "C%05d,%s,%.2f\n", c, Start.AddDate(0, 0, int(day)).Format("2006-01-02"), amount)
			good++
			if r.Float64() < 0.1 { // a second order on the same day
				fmt.Fprintf(w, "C%05d,%s,%.2f\n", c, Start.AddDate(0, 0, int(day)).Format("2006-01-02"), amount/2)
				good++
			}
			if r.Float64() < drop || rate <= 0 {
				break
			}
			day += math.Ceil(r.ExpFloat64() / rate * 7)
		}
	}
	for i := 0; i < bad; i++ {
		fmt.Fprintf(w, "C%05d,%s,-%d.50\n", i, Start.Format("2006-01-02"), i+1)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, good
}

// Builder feeds the log WriteLog(t, n, seed, 0) into a builder for the split
// at Cutoff with Horizon and seqWeeks-week sequences.
func Builder(t testing.TB, n int, seed uint64, seqWeeks int) *features.Builder {
	t.Helper()
	path, _ := WriteLog(t, n, seed, 0)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := features.NewBuilder(features.Split{Cutoff: Cutoff, HorizonDays: Horizon, SeqWeeks: seqWeeks})
	if _, err := dataset.Read(f, dataset.Options{Format: dataset.FormatCSV}, b.AddTransaction); err != nil {
		t.Fatal(err)
	}
	return b
}

// Set builds the feature set of a generated log at the split of Builder.
func Set(t testing.TB, n int, seed uint64, seqWeeks int) *features.Set {
	t.Helper()
	set, err := Builder(t, n, seed, seqWeeks).Build()
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// SmallNN is a fast network configuration for tests: one hidden layer of 8,
// two members, a few epochs without early stopping.
func SmallNN(kind modelkind.Kind, epochs int) *nn.Config {
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

// AllIndices returns 0, 1, ..., n-1.
func AllIndices(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}
