// Package nntest provides deterministic synthetic data for tests of package
// nn and its consumers: a simulator of customer transactions whose features
// are built by package features, in the row layout of nn.Data.
package nntest

import (
	"fmt"
	"math"
	"time"

	"github.com/clvflow/clvflow/features"
)

// Txn is one transaction: Day counts days since 1970-01-01 (UTC).
type Txn struct {
	Customer string
	Day      int
	Amount   float64
}

// Dataset is a per-customer feature set (rows in the order of package
// features) in the layout of nn.Data: Tabular rows of the 7 base features,
// Seq rows of 2·W values (channel-major: weekly spend, then weekly purchase
// days; nil without a sequence), Label the holdout spend.
type Dataset struct {
	IDs     []string
	Tabular [][]float64
	Seq     [][]float64
	Label   []float64
}

// Build derives the features of every customer whose first purchase is on or
// before day cutoff with package features: labels over the horizon days
// after it, a sequence of `weeks` weeks (0: none).
func Build(txns []Txn, cutoff, horizon, weeks int) Dataset {
	day := func(d int) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }
	b := features.NewBuilder(features.Split{Cutoff: day(cutoff), HorizonDays: horizon, SeqWeeks: max(weeks, 1)})
	for _, t := range txns {
		if err := b.Add(t.Customer, day(t.Day), t.Amount); err != nil {
			panic(fmt.Sprintf("nntest: %v", err)) // generated data is always valid
		}
	}
	set, err := b.Build()
	if err != nil {
		panic(fmt.Sprintf("nntest: %v", err))
	}
	var ds Dataset
	for i := range set.Customers {
		c := &set.Customers[i]
		ds.IDs = append(ds.IDs, c.ID)
		ds.Tabular = append(ds.Tabular, c.Tabular())
		ds.Label = append(ds.Label, c.HoldoutSpend)
		if weeks > 0 {
			ds.Seq = append(ds.Seq, append(append([]float64(nil), c.Seq[0]...), c.Seq[1]...))
		}
	}
	return ds
}

// Subset returns the rows idx of d.
func (d Dataset) Subset(idx []int) Dataset {
	var s Dataset
	for _, i := range idx {
		s.IDs = append(s.IDs, d.IDs[i])
		s.Tabular = append(s.Tabular, d.Tabular[i])
		s.Label = append(s.Label, d.Label[i])
		if d.Seq != nil {
			s.Seq = append(s.Seq, d.Seq[i])
		}
	}
	return s
}

// Naive predicts cal_spend / max(T, 1 week) × horizon weeks per row (the
// value of `clvflow backtest`'s naive model).
func Naive(tab [][]float64, horizonWeeks float64) []float64 {
	out := make([]float64, len(tab))
	for i, r := range tab {
		out[i] = r[4] / math.Max(r[2], 1) * horizonWeeks
	}
	return out
}
