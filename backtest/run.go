package backtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
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
	// MaxRepeats bounds Options.Repeats.
	MaxRepeats = 1000
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
	// Progress, when set, receives every epoch of the neural models (from
	// several goroutines at once when Repeats > 1).
	Progress func(model string, r nn.EpochReport)
	// KeepPredictions keeps every model's per-customer test predictions in
	// ModelResult.Predictions (e.g. for package report); they are never
	// part of the JSON.
	KeepPredictions bool
	// Repeats is the number K of seeded customer splits (0 = 1): split k
	// (k = 0 … K−1) uses the seed Seed+k for the train/test permutation and
	// the neural models. With K > 1 the splits run in parallel on up to
	// GOMAXPROCS goroutines; every split's result depends on its seed only,
	// so the Result (fit times aside) is the same whatever GOMAXPROCS.
	Repeats int
	// Bootstrap controls the paired bootstrap of the model comparisons of
	// the Summary (K > 1; zero fields take metrics' defaults).
	Bootstrap metrics.BootstrapOptions
	// SplitDone, when set, is called after each split of a K > 1 run with
	// the number of finished splits, K and the finished split's seed
	// (serialised: never concurrently).
	SplitDone func(done, total int, seed uint64)
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
	// Repeats are the K splits of a run with Options.Repeats = K > 1, the
	// first being the one of Split and Models; absent when K = 1.
	Repeats []Repeat `json:"repeats,omitempty"`
	// Summary aggregates the Repeats; absent when K = 1.
	Summary *Summary `json:"summary,omitempty"`
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
	return o.withFeatureDefaults()
}

// withFeatureDefaults validates and fills in the feature, snapshot, epoch
// and repeat options.
func (o Options) withFeatureDefaults() (Options, error) {
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
	if o.Repeats < 0 || o.Repeats > MaxRepeats {
		return o, fmt.Errorf("backtest: %d repeats not in [1, %d]", o.Repeats, MaxRepeats)
	}
	o.Repeats = max(o.Repeats, 1)
	return o, nil
}

// Run reads and cleans o.Input, builds the features at the cutoff, splits
// the scored customers into train and test (seeded), fits every requested
// model on the training customers and computes its metrics on the test
// customers. With o.Repeats = K > 1 it does so for the K seeds o.Seed,
// o.Seed+1, …, o.Seed+K−1 (in parallel, see [Options.Repeats]); Split and
// Models then describe the first split (seed o.Seed, the same as a run
// with K = 1) and Repeats and Summary are added.
func Run(ctx context.Context, o Options) (*Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	p, err := prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	p.startShared(ctx)
	outs, err := p.runSplits(ctx)
	if err := p.waitShared(); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	res := p.res
	first := outs[0]
	res.Split.TrainCustomers, res.Split.TestCustomers = len(first.train), len(first.test)
	res.Split.TrainingSnapshots = first.snapshots
	res.Models = first.models
	if o.Repeats > 1 {
		res.Repeats = repeatsOf(outs)
		if res.Summary, err = summarize(outs, p.o); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// prepared is the data of a backtest shared by all its splits; it is
// read-only once prepare and fitShared return.
type prepared struct {
	o     Options
	res   *Result
	split features.Split
	set   *features.Set
	snaps []*features.Set
	// shared are the models that do not depend on the split (naive, the
	// BTYD kinds: fitted on every customer), fitted once, while the splits
	// are drawn; sharedErr is the error of that fit. Both may be read once
	// sharedDone is closed (see waitShared).
	shared     map[string]fitted
	sharedErr  error
	sharedDone chan struct{}
}

// fitted is a fitted model and the seconds its fit took.
type fitted struct {
	m       models.Model
	seconds float64
}

// prepare reads the input, builds the features and the training snapshots
// and fills in the dataset summary and the data warnings.
func prepare(ctx context.Context, o Options) (*prepared, error) {
	dopts := dataset.Options{Format: o.Format, CSV: o.CSV, MaxRejectedFraction: o.MaxRejectedFraction, DropReversed: o.DropReversed}
	cutoff, err := resolveCutoff(ctx, o, dopts)
	if err != nil {
		return nil, err
	}
	split, err := features.Split{Cutoff: cutoff, HorizonDays: o.HorizonDays, SeqWeeks: o.SeqWeeks}.Validate()
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	b := features.NewBuilder(split)
	if !slices.Contains(o.Models, string(modelkind.Seq)) {
		b.OmitSequences()
	}
	if !o.wantSnapshots() {
		b.OmitSnapshots()
	}
	rep, set, err := readAndBuild(b, o.Input, dopts)
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	p := &prepared{o: o, split: split, set: set, res: newResult(o, split, rep, set)}
	if set.Len() < 2 {
		return nil, fmt.Errorf("backtest: %s: %d customer(s) first bought on or before the cutoff %s (data %s .. %s); need at least 2 to split into train and test; choose a later --cutoff or a shorter horizon",
			rep.File, set.Len(), p.res.Split.Cutoff, p.res.Dataset.FirstDay, p.res.Dataset.LastDay)
	}
	p.res.Warnings = dataWarnings(p.res, split, rep, set)
	if o.wantSnapshots() {
		if p.snaps, err = b.Snapshots(o.Snapshots, o.SnapshotStepDays); err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
	}
	return p, nil
}

// featurizeGCPercent is the garbage collector's target while a backtest
// reads its log and builds the features. That phase allocates mostly what
// it keeps (per-customer state, then the feature set), so a collection
// at every doubling of the heap finds little garbage, and the pages it
// returns are faulted in again by the next allocation (a 1M-customer log:
// 121k page faults and 0.5 s of system time at 100, 80k and 0.26 s at 400,
// the same peak RSS). A backtest owns its process; a lower GOGC stays.
const featurizeGCPercent = 400

// readAndBuild reads the log at path into b and builds the feature set,
// with the collector at featurizeGCPercent.
func readAndBuild(b *features.Builder, path string, dopts dataset.Options) (*dataset.Report, *features.Set, error) {
	if old := debug.SetGCPercent(featurizeGCPercent); old >= 0 && old < featurizeGCPercent {
		defer debug.SetGCPercent(old)
	} else {
		debug.SetGCPercent(old)
	}
	rep, err := b.ReadFile(path, dopts)
	if err != nil {
		return rep, nil, err
	}
	set, err := b.Build()
	return rep, set, err
}

// wantSnapshots reports whether the run builds training snapshots: some
// for a neural model.
func (o Options) wantSnapshots() bool {
	return o.Snapshots > 0 && slices.ContainsFunc(o.Models, func(k string) bool { return modelkind.Kind(k).IsNetwork() })
}

// resolveCutoff returns o.Cutoff or, when it is zero, the last transaction
// day minus the horizon (a first, validation-only pass over the file).
func resolveCutoff(ctx context.Context, o Options, dopts dataset.Options) (time.Time, error) {
	if !o.Cutoff.IsZero() {
		return o.Cutoff, nil
	}
	rep, err := dataset.ReadFile(o.Input, dopts, nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("backtest: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return time.Time{}, fmt.Errorf("backtest: %w", err)
	}
	return features.CutoffFor(rep.MaxTime, o.HorizonDays), nil
}

// newResult fills in the dataset and split summaries of a Result.
func newResult(o Options, split features.Split, rep *dataset.Report, set *features.Set) *Result {
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
	return res
}

// dataWarnings are the warnings about the data and the holdout.
func dataWarnings(res *Result, split features.Split, rep *dataset.Report, set *features.Set) []string {
	var w []string
	if end := split.HoldoutEnd(); end.After(dayOf(rep.MaxTime)) {
		w = append(w, fmt.Sprintf("the holdout runs to %s, after the last transaction day %s: holdout spend is only observed for %d of %d days",
			end.Format(DateLayout), res.Dataset.LastDay, max(0, int(dayOf(rep.MaxTime).Sub(split.Cutoff).Hours()/24)), split.HorizonDays))
	}
	if set.Stats.Holdout == 0 {
		w = append(w, "no transaction falls in the holdout: every label is 0 and the ranking metrics are undefined")
	}
	return w
}

// dayOf truncates t to its UTC calendar day.
func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// roundSeconds keeps millisecond resolution.
func roundSeconds(s float64) float64 { return math.Round(s*1000) / 1000 }
