package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn"
)

// FitOptions control [Fit].
type FitOptions struct {
	// Seed seeds the neural models (initialisation, validation split,
	// shuffling); naive and the BTYD kinds (bgnbd, pnbd, mbgnbd) are
	// deterministic and ignore it.
	Seed uint64
	// HorizonDays is the prediction horizon; 0 takes the set's
	// Split.HorizonDays. The neural models learn the horizon of the set's
	// labels, so for them a non-zero value must equal the set's.
	HorizonDays int
	// MaxEpochs overrides the epoch budget of each neural ensemble member
	// (0 keeps nn.DefaultConfig's).
	MaxEpochs int
	// NN, when non-nil, replaces nn.DefaultConfig(kind) for ziln and seq;
	// its Kind, Seed, SeqWeeks and (when MaxEpochs > 0) MaxEpochs are still
	// set from the kind, Seed, the feature set and MaxEpochs.
	NN *nn.Config
	// Snapshots are earlier training snapshots of the same data
	// (features.Builder.Snapshots: same horizon and sequence length, labels
	// that end on or before the set's cutoff). The neural models also learn
	// from the rows of the training customers in them (by customer id; no
	// other customer's row is read), which multiplies their examples of new
	// and young customers; naive and the BTYD kinds ignore them.
	Snapshots []*features.Set
	// Progress, Checkpoint, CheckpointEvery and Resume are handed to
	// nn.Train unchanged, so that a Temporal activity can heartbeat, store
	// checkpoints and resume (see nn.TrainOptions).
	Progress        func(nn.EpochReport)
	Checkpoint      func(*nn.Checkpoint) error
	CheckpointEvery int
	Resume          *nn.Checkpoint
}

// FitInfo describes a fit.
type FitInfo struct {
	// Seconds is the wall time of the fit.
	Seconds float64 `json:"seconds"`
	// Epochs is the total number of epochs of all ensemble members of a
	// neural model (including those done before a resume); 0 otherwise.
	Epochs int `json:"epochs"`
	// ResumedFromEpoch is the total number of epochs already done in the
	// Resume checkpoint (finished members plus the member in progress); 0
	// when not resuming.
	ResumedFromEpoch int `json:"resumed_from_epoch"`
	// TrainingRows is the number of rows a neural model learned from: the
	// training customers at the set's cutoff plus their rows in the
	// snapshots; 0 for naive and the BTYD kinds.
	TrainingRows int `json:"training_rows,omitempty"`
	// Warnings repeats [Warnings] of the fitted model.
	Warnings []string `json:"warnings,omitempty"`
}

// Fit fits a model of the given kind. The neural models learn from the
// customers set.Customers[i] for i in train and read only their labels;
// naive needs no fit, and bgnbd, pnbd and mbgnbd (calibration features
// only, no labels) are fitted on every customer of the set.
func Fit(ctx context.Context, kind modelkind.Kind, set *features.Set, train []int, opts FitOptions) (Model, FitInfo, error) {
	start := time.Now()
	var info FitInfo
	k, err := modelkind.Parse(string(kind))
	if err != nil {
		return nil, info, fmt.Errorf("models: %w", err)
	}
	if err := checkTrain(set, train); err != nil {
		return nil, info, fmt.Errorf("models: fit %s: %w", k, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, info, fmt.Errorf("models: fit %s: %w", k, err)
	}
	horizon := opts.HorizonDays
	if horizon < 0 {
		return nil, info, fmt.Errorf("models: fit %s: horizon %d days is negative", k, horizon)
	}
	if horizon == 0 {
		horizon = set.Split.HorizonDays
	}
	if horizon <= 0 {
		return nil, info, fmt.Errorf("models: fit %s: no horizon: the feature set has horizon_days = 0 and FitOptions.HorizonDays is 0", k)
	}
	var m Model
	switch k {
	case modelkind.Naive:
		m = &naiveModel{HorizonDays: horizon}
	case modelkind.BGNBD, modelkind.PNBD, modelkind.MBGNBD:
		// BG/NBD (Pareto/NBD, MBG/NBD) and Gamma-Gamma use calibration data only (x, t_x, T, mbar;
		// never a holdout label), so they are fitted on every customer of
		// the set, as in the BTYD literature (and as Hardie's published
		// CDNOW parameters are); the networks learn from labels and see the
		// training customers only.
		all := make([]int, set.Len())
		for i := range all {
			all[i] = i
		}
		m, err = fitBTYD(k, set, all, horizon)
	default:
		m, info, err = fitNet(ctx, k, set, train, horizon, opts)
	}
	if err != nil {
		return nil, FitInfo{}, err
	}
	info.Warnings = Warnings(m)
	info.Seconds = time.Since(start).Seconds()
	return m, info, nil
}

func checkTrain(set *features.Set, train []int) error {
	if set == nil {
		return errors.New("nil feature set")
	}
	if len(train) == 0 {
		return errors.New("no training customers")
	}
	seen := make([]bool, len(set.Customers))
	for k, i := range train {
		if i < 0 || i >= len(set.Customers) {
			return fmt.Errorf("training index train[%d] = %d out of range [0, %d)", k, i, len(set.Customers))
		}
		if seen[i] {
			return fmt.Errorf("training index %d (customer %s) appears twice", i, set.Customers[i].ID)
		}
		seen[i] = true
	}
	return nil
}

// netConfig returns the nn configuration of a fit.
func netConfig(kind modelkind.Kind, set *features.Set, opts FitOptions) nn.Config {
	cfg := nn.DefaultConfig(kind)
	if opts.NN != nil {
		cfg = *opts.NN
		cfg.Hidden = append([]int(nil), opts.NN.Hidden...)
		cfg.LogColumns = append([]int(nil), opts.NN.LogColumns...)
	}
	cfg.Kind = kind
	cfg.Seed = opts.Seed
	if opts.MaxEpochs > 0 {
		cfg.MaxEpochs = opts.MaxEpochs
	}
	if kind == modelkind.Seq {
		cfg.SeqWeeks = set.Split.SeqWeeks
		if cfg.ConvFilters == 0 {
			d := nn.DefaultConfig(modelkind.Seq)
			cfg.ConvFilters, cfg.KernelSize, cfg.ConvStride = d.ConvFilters, d.KernelSize, d.ConvStride
		}
		// Short sequences: shrink the kernel (and stride) to fit.
		cfg.KernelSize = min(cfg.KernelSize, cfg.SeqWeeks)
		cfg.ConvStride = min(cfg.ConvStride, cfg.KernelSize)
	} else {
		cfg.SeqWeeks, cfg.ConvFilters, cfg.KernelSize, cfg.ConvStride = 0, 0, 0, 0
	}
	return cfg
}

func fitNet(ctx context.Context, kind modelkind.Kind, set *features.Set, train []int, horizon int, opts FitOptions) (Model, FitInfo, error) {
	var info FitInfo
	if set.Split.HorizonDays <= 0 {
		return nil, info, fmt.Errorf("models: fit %s: the feature set has no holdout labels (horizon_days = 0)", kind)
	}
	if horizon != set.Split.HorizonDays {
		return nil, info, fmt.Errorf("models: fit %s: horizon %d days differs from the %d-day horizon of the set's labels; a neural model predicts the horizon it was trained on", kind, horizon, set.Split.HorizonDays)
	}
	cfg := netConfig(kind, set, opts)
	seqWeeks := 0
	if kind == modelkind.Seq {
		seqWeeks = cfg.SeqWeeks
	}
	tab, seq, err := netInputs(set, train, seqWeeks)
	if err != nil {
		return nil, info, err
	}
	labels := make([]float64, len(train))
	for k, i := range train {
		labels[k] = set.Customers[i].HoldoutSpend
	}
	data := nn.Data{Tabular: tab, Seq: seq, Label: labels}
	if len(opts.Snapshots) > 0 {
		if data, err = withSnapshots(data, set, train, opts.Snapshots, seqWeeks); err != nil {
			return nil, info, fmt.Errorf("models: fit %s: %w", kind, err)
		}
	}
	if r := opts.Resume; r != nil {
		info.ResumedFromEpoch = r.Epoch
		for _, s := range r.DoneSummary {
			info.ResumedFromEpoch += s.Epochs
		}
	}
	info.TrainingRows = len(data.Label)
	m, err := nn.Train(ctx, cfg, data, nn.TrainOptions{
		Progress: opts.Progress, Checkpoint: opts.Checkpoint, CheckpointEvery: opts.CheckpointEvery, Resume: opts.Resume,
	})
	if err != nil {
		return nil, info, fmt.Errorf("models: fit %s on %d customers: %w", kind, len(train), err)
	}
	for _, s := range m.Summary {
		info.Epochs += s.Epochs
	}
	return &netModel{m: m}, info, nil
}

// withSnapshots appends to d (the rows of set.Customers[i], i in train) the
// rows of the same customers in every snapshot and groups each customer's
// rows (nn.Data.Group) so that early stopping validates on unseen customers.
func withSnapshots(d nn.Data, set *features.Set, train []int, snaps []*features.Set, seqWeeks int) (nn.Data, error) {
	d.Group = make([]int, len(train))
	for k := range train {
		d.Group[k] = k
	}
	rows := SnapshotRows(set, train)
	for _, s := range snaps {
		if s == nil {
			return d, errors.New("nil training snapshot")
		}
		if s.Split.HorizonDays != set.Split.HorizonDays || s.Split.SeqWeeks != set.Split.SeqWeeks {
			return d, fmt.Errorf("training snapshot at %s has horizon %d days and %d-week sequences, the set %d days and %d weeks",
				s.Split.Cutoff.Format(time.DateOnly), s.Split.HorizonDays, s.Split.SeqWeeks, set.Split.HorizonDays, set.Split.SeqWeeks)
		}
		if s.Split.HoldoutEnd().After(set.Split.Cutoff) {
			return d, fmt.Errorf("training snapshot at %s: its holdout ends %s, after the cutoff %s (it would read holdout labels)",
				s.Split.Cutoff.Format(time.DateOnly), s.Split.HoldoutEnd().Format(time.DateOnly), set.Split.Cutoff.Format(time.DateOnly))
		}
		idx, gs := rows(s)
		tab, seq, err := netInputs(s, idx, seqWeeks)
		if err != nil {
			return d, err
		}
		d.Tabular = append(d.Tabular, tab...)
		if seqWeeks > 0 {
			d.Seq = append(d.Seq, seq...)
		}
		for _, i := range idx {
			d.Label = append(d.Label, s.Customers[i].HoldoutSpend)
		}
		d.Group = append(d.Group, gs...)
	}
	return d, nil
}

// SnapshotRows returns a function that finds, in a snapshot, the training
// customers of set (by id): their indices in the snapshot and their
// positions in train.
func SnapshotRows(set *features.Set, train []int) func(*features.Set) (idx, pos []int) {
	position := make(map[string]int, len(train))
	for k, i := range train {
		position[set.Customers[i].ID] = k
	}
	return func(s *features.Set) (idx, pos []int) {
		for i := range s.Customers {
			if k, ok := position[s.Customers[i].ID]; ok {
				idx = append(idx, i)
				pos = append(pos, k)
			}
		}
		return idx, pos
	}
}

// Evaluate scores m on the customers set.Customers[i] for i in idx (the test
// customers): predicted holdout spend and purchase probability against the
// actual holdout spend. Undefined metrics are NaN (null in JSON).
func Evaluate(m Model, set *features.Set, idx []int) (metrics.Report, error) {
	rep, _, err := EvaluateScored(m, set, idx)
	return rep, err
}

// Scored are the per-customer values behind an evaluation, in the order of
// the evaluated indices: customer id, predicted holdout spend, purchase
// probability (nil for models without one) and actual holdout spend.
type Scored struct {
	Customers   []string
	Predicted   []float64
	Probability []float64
	Actual      []float64
}

// EvaluateScored is Evaluate that also returns the per-customer predictions
// and actuals it scored (e.g. for the plots of package report).
func EvaluateScored(m Model, set *features.Set, idx []int) (metrics.Report, Scored, error) {
	if m == nil {
		return metrics.Report{}, Scored{}, errors.New("models: evaluate: nil model")
	}
	if len(idx) == 0 {
		return metrics.Report{}, Scored{}, fmt.Errorf("models: evaluate %s: no test customers", m.Kind())
	}
	value, prob, err := m.Predict(set, idx)
	if err != nil {
		return metrics.Report{}, Scored{}, err
	}
	sc := Scored{Customers: make([]string, len(idx)), Predicted: value, Probability: prob, Actual: make([]float64, len(idx))}
	for k, i := range idx {
		sc.Customers[k], sc.Actual[k] = set.Customers[i].ID, set.Customers[i].HoldoutSpend
	}
	rep, err := metrics.Evaluate(value, prob, sc.Actual)
	if err != nil {
		return rep, sc, fmt.Errorf("models: evaluate %s on %d customers: %w", m.Kind(), len(idx), err)
	}
	return rep, sc, nil
}
