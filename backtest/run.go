package backtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/models"
	"github.com/clvflow/clvflow/nn"
)

// Defaults of [Options].
const (
	DefaultSeed         uint64  = 42
	DefaultTestFraction float64 = 0.2
	DefaultHorizonDays          = 90
)

// DateLayout is the layout of the cutoff in [SplitSummary].
const DateLayout = "2006-01-02"

// Options control [Run].
type Options struct {
	// Input is the transaction log (plain or gzip).
	Input string
	// Format is the input format ("" or auto detects it).
	Format dataset.Format
	// CSV maps the columns of a generic CSV input.
	CSV dataset.CSVMapping
	// Cutoff is the last calibration day; zero selects the last transaction
	// day minus HorizonDays.
	Cutoff time.Time
	// HorizonDays is the holdout length (0 = DefaultHorizonDays).
	HorizonDays int
	// Models are the kinds to fit (see modelkind.ParseList; empty = all of
	// modelkind.All).
	Models []string
	// Seed seeds the train/test split and the neural models (0 = DefaultSeed).
	Seed uint64
	// TestFraction is the share of scored customers held out for the
	// metrics (0 = DefaultTestFraction); it must lie in (0, 1).
	TestFraction float64
	// SeqWeeks is the length of the weekly sequence (0 = 52).
	SeqWeeks int
	// MaxEpochs overrides the neural models' epoch budget (0 = their own).
	MaxEpochs int
	// MaxRejectedFraction is passed to dataset.Options (0 = its default).
	MaxRejectedFraction float64
	// DropReversed removes purchases reversed by a cancellation in the same
	// file (dataset.Options.DropReversed).
	DropReversed bool
	// Snapshots is the number of earlier training snapshots for the neural
	// models (features.SnapshotCutoffs; 0 = none: the library default, so
	// that callers opt in; `clvflow backtest` passes training.snapshots,
	// default features.DefaultSnapshots). SnapshotStepDays is the gap
	// between them (0 = features.DefaultSnapshotStepDays).
	Snapshots        int
	SnapshotStepDays int
	// NN optionally replaces nn.DefaultConfig for ziln and seq (see
	// models.FitOptions.NN).
	NN *nn.Config
	// Progress, when set, receives every epoch of the neural models.
	Progress func(model string, r nn.EpochReport)
	// KeepPredictions keeps every model's per-customer test predictions in
	// ModelResult.Predictions (e.g. for package report); they are never
	// part of the JSON.
	KeepPredictions bool
}

// DatasetSummary is the "dataset" object of a [Result].
type DatasetSummary struct {
	// Rows is the number of data rows read; RejectedRows those rejected by
	// validation; Customers the distinct customers of the accepted rows.
	Rows         int64  `json:"rows"`
	RejectedRows int64  `json:"rejected_rows"`
	Customers    int    `json:"customers"`
	Format       string `json:"format"`
	// RejectedByRule counts rejected rows per validation rule.
	RejectedByRule map[dataset.Rule]int64 `json:"rejected_by_rule,omitempty"`
	// FirstDay and LastDay bound the accepted transactions (YYYY-MM-DD).
	FirstDay string `json:"first_day"`
	LastDay  string `json:"last_day"`
}

// SplitSummary is the "split" object of a [Result].
type SplitSummary struct {
	// Cutoff is the last calibration day, YYYY-MM-DD.
	Cutoff         string `json:"cutoff"`
	HorizonDays    int    `json:"horizon_days"`
	TrainCustomers int    `json:"train_customers"`
	TestCustomers  int    `json:"test_customers"`
	// HoldoutOnlyCustomers first bought after the cutoff and are not scored.
	HoldoutOnlyCustomers int     `json:"holdout_only_customers"`
	Seed                 uint64  `json:"seed"`
	TestFraction         float64 `json:"test_fraction"`
	SeqWeeks             int     `json:"seq_weeks"`
	// TrainingSnapshots are the earlier cutoffs the neural models also
	// learned from (their training customers' rows only).
	TrainingSnapshots []SnapshotSummary `json:"training_snapshots,omitempty"`
}

// SnapshotSummary describes one earlier training snapshot.
type SnapshotSummary struct {
	// Cutoff is the snapshot's last calibration day; its holdout ends on or
	// before the split's cutoff.
	Cutoff string `json:"cutoff"`
	// TrainCustomers is the number of training customers scored at Cutoff
	// (the rows it adds).
	TrainCustomers int `json:"train_customers"`
}

// ModelResult is one entry of the "models" object of a [Result].
type ModelResult struct {
	Params     map[string]any `json:"params"`
	FitSeconds float64        `json:"fit_seconds"`
	// Metrics are computed on the test customers.
	Metrics metrics.Report `json:"metrics"`
	// Predictions are the per-customer values behind Metrics, set only
	// with Options.KeepPredictions and never encoded.
	Predictions *models.Scored `json:"-"`
}

// Result is the outcome of [Run], the JSON object of `clvflow backtest
// --json` (DESIGN §3).
type Result struct {
	Dataset DatasetSummary         `json:"dataset"`
	Split   SplitSummary           `json:"split"`
	Models  map[string]ModelResult `json:"models"`
	// Warnings are about the data or split (e.g. a holdout that runs past
	// the data); model warnings are in each model's params.
	Warnings []string `json:"warnings,omitempty"`
}

// ModelNames returns the keys of r.Models in the canonical order of
// modelkind.All.
func (r *Result) ModelNames() []string {
	var out []string
	for _, k := range modelkind.Names() {
		if _, ok := r.Models[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// withDefaults validates o and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	if o.Input == "" {
		return o, errors.New("backtest: no input file")
	}
	f, err := dataset.ParseFormat(string(o.Format))
	if err != nil {
		return o, fmt.Errorf("backtest: %w", err)
	}
	o.Format = f
	if o.HorizonDays < 0 {
		return o, fmt.Errorf("backtest: horizon %d days is negative", o.HorizonDays)
	}
	if o.HorizonDays == 0 {
		o.HorizonDays = DefaultHorizonDays
	}
	if len(o.Models) == 0 {
		o.Models = modelkind.DefaultNames()
	}
	kinds, err := modelkind.ParseList(o.Models)
	if err != nil {
		return o, fmt.Errorf("backtest: %w", err)
	}
	o.Models = make([]string, len(kinds))
	for i, k := range kinds {
		o.Models[i] = string(k)
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	if o.TestFraction == 0 {
		o.TestFraction = DefaultTestFraction
	}
	if !(o.TestFraction > 0 && o.TestFraction < 1) {
		return o, fmt.Errorf("backtest: test fraction %v not in (0, 1)", o.TestFraction)
	}
	if o.SeqWeeks == 0 {
		o.SeqWeeks = features.DefaultSeqWeeks
	}
	if o.SeqWeeks < 1 || o.SeqWeeks > features.MaxSeqWeeks {
		return o, fmt.Errorf("backtest: sequence length %d weeks not in [1, %d]", o.SeqWeeks, features.MaxSeqWeeks)
	}
	if o.Snapshots < 0 || o.Snapshots > features.MaxSnapshots {
		return o, fmt.Errorf("backtest: %d training snapshots not in [0, %d]", o.Snapshots, features.MaxSnapshots)
	}
	if o.SnapshotStepDays < 0 {
		return o, fmt.Errorf("backtest: snapshot step %d days is negative", o.SnapshotStepDays)
	}
	if o.SnapshotStepDays == 0 {
		o.SnapshotStepDays = features.DefaultSnapshotStepDays
	}
	if o.MaxEpochs < 0 {
		return o, fmt.Errorf("backtest: max epochs %d is negative", o.MaxEpochs)
	}
	return o, nil
}

// Run reads and cleans o.Input, builds the features at the cutoff, splits
// the scored customers into train and test (seeded), fits every requested
// model on the training customers and computes its metrics on the test
// customers.
func Run(ctx context.Context, o Options) (*Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	dopts := dataset.Options{Format: o.Format, CSV: o.CSV, MaxRejectedFraction: o.MaxRejectedFraction, DropReversed: o.DropReversed}
	cutoff := o.Cutoff
	if cutoff.IsZero() {
		// First pass: validation only, to find the last transaction day.
		rep, err := dataset.ReadFile(o.Input, dopts, nil)
		if err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
		cutoff = features.CutoffFor(rep.MaxTime, o.HorizonDays)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
	}
	split, err := features.Split{Cutoff: cutoff, HorizonDays: o.HorizonDays, SeqWeeks: o.SeqWeeks}.Validate()
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	b := features.NewBuilder(split)
	rep, err := b.ReadFile(o.Input, dopts)
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	set, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	res := &Result{
		Dataset: DatasetSummary{Rows: rep.RowsRead, RejectedRows: rep.Rejected, Customers: rep.Customers, Format: string(rep.Format),
			FirstDay: rep.MinTime.UTC().Format(DateLayout), LastDay: rep.MaxTime.UTC().Format(DateLayout)},
		Split: SplitSummary{Cutoff: split.Cutoff.Format(DateLayout), HorizonDays: split.HorizonDays,
			HoldoutOnlyCustomers: set.Stats.HoldoutOnlyCustomers, Seed: o.Seed, TestFraction: o.TestFraction, SeqWeeks: split.SeqWeeks},
		Models: map[string]ModelResult{},
	}
	if len(rep.Rules) > 0 {
		res.Dataset.RejectedByRule = rep.Rules
	}
	if set.Len() < 2 {
		return nil, fmt.Errorf("backtest: %s: %d customer(s) first bought on or before the cutoff %s (data %s .. %s); need at least 2 to split into train and test; choose a later --cutoff or a shorter horizon",
			rep.File, set.Len(), res.Split.Cutoff, res.Dataset.FirstDay, res.Dataset.LastDay)
	}
	if end := split.HoldoutEnd(); end.After(dayOf(rep.MaxTime)) {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the holdout runs to %s, after the last transaction day %s: holdout spend is only observed for %d of %d days",
			end.Format(DateLayout), res.Dataset.LastDay, max(0, int(dayOf(rep.MaxTime).Sub(split.Cutoff).Hours()/24)), split.HorizonDays))
	}
	if n := set.Stats.Holdout; n == 0 {
		res.Warnings = append(res.Warnings, "no transaction falls in the holdout: every label is 0 and the ranking metrics are undefined")
	}
	train, test := set.SplitTrainTest(o.TestFraction, o.Seed)
	res.Split.TrainCustomers, res.Split.TestCustomers = len(train), len(test)

	var snaps []*features.Set
	if o.Snapshots > 0 && slices.ContainsFunc(o.Models, func(k string) bool { return modelkind.Kind(k).IsNetwork() }) {
		if snaps, err = b.Snapshots(o.Snapshots, o.SnapshotStepDays); err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
		rows := models.SnapshotRows(set, train)
		for _, s := range snaps {
			idx, _ := rows(s)
			res.Split.TrainingSnapshots = append(res.Split.TrainingSnapshots, SnapshotSummary{Cutoff: s.Split.Cutoff.Format(DateLayout), TrainCustomers: len(idx)})
		}
	}

	for _, kind := range o.Models {
		fo := models.FitOptions{Seed: o.Seed, HorizonDays: split.HorizonDays, MaxEpochs: o.MaxEpochs, NN: o.NN, Snapshots: snaps}
		if o.Progress != nil {
			name := kind
			fo.Progress = func(r nn.EpochReport) { o.Progress(name, r) }
		}
		m, info, err := models.Fit(ctx, modelkind.Kind(kind), set, train, fo)
		if err != nil {
			return nil, err
		}
		mr, scored, err := models.EvaluateScored(m, set, test)
		if err != nil {
			return nil, err
		}
		r := ModelResult{Params: m.Params(), FitSeconds: roundSeconds(info.Seconds), Metrics: mr}
		if o.KeepPredictions {
			r.Predictions = &scored
		}
		res.Models[kind] = r
	}
	return res, nil
}

// dayOf truncates t to its UTC calendar day.
func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// roundSeconds keeps millisecond resolution.
func roundSeconds(s float64) float64 { return math.Round(s*1000) / 1000 }
