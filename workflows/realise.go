package workflows

import (
	"errors"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/registry"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// RealisedInput asks how a scoring run's predictions turned out.
type RealisedInput struct {
	// Input is a transaction log that covers the horizon after the scoring
	// run's as-of day.
	Input activities.IngestInput `json:"input"`
	// ScoresPrefix is the BatchScore output to judge (its result's prefix).
	ScoresPrefix        string        `json:"scores_prefix"`
	HorizonDays         int           `json:"horizon_days"`
	MaxRejectedFraction float64       `json:"max_rejected_fraction"`
	RetryBudget         time.Duration `json:"retry_budget,omitempty"`
}

// Realised compares a champion's stored predictions with what its customers
// actually spent once the horizon has passed, and records the result on the
// version (`clvflow models decay`). RealiseDue does it, on a schedule, for
// every scoring run whose horizon has passed.
func Realised(ctx workflow.Context, in RealisedInput) (registry.Realised, error) {
	var rec registry.Realised
	if in.ScoresPrefix == "" || in.HorizonDays <= 0 || (in.Input.Path == "") == (in.Input.Source == nil) {
		return rec, temporal.NewNonRetryableApplicationError("realised: need scores_prefix, horizon_days > 0 and one input", activities.ErrTypeBadInput, errors.New("invalid input"))
	}
	_, clean, err := loadClean(ctx, cleanLoad{input: in.Input, maxRejected: in.MaxRejectedFraction, budget: in.RetryBudget})
	if err != nil {
		return rec, err
	}
	dctx := workflow.WithActivityOptions(ctx, dataOptions(in.RetryBudget))
	_ = setStage(ctx, "realise")
	rin := activities.RealiseInput{Run: runOf(ctx), ScoresPrefix: in.ScoresPrefix, Clean: clean.Clean, DataEnd: clean.MaxTime, HorizonDays: in.HorizonDays}
	if err := workflow.ExecuteActivity(dctx, acts.RealiseScores, rin).Get(ctx, &rec); err != nil {
		_ = setStage(ctx, "failed")
		return rec, err
	}
	_ = setStage(ctx, "done")
	return rec, nil
}

// cleanLoad is a transaction log to ingest and validate.
type cleanLoad struct {
	input       activities.IngestInput
	csv         *dataset.CSVMapping
	maxRejected float64
	budget      time.Duration
	// stage reports each step; nil: the run's stage search attribute.
	stage func(string)
}

// loadClean ingests and validates a transaction log (reversed orders
// dropped).
func loadClean(ctx workflow.Context, l cleanLoad) (activities.IngestResult, activities.ValidateResult, error) {
	stage := l.stage
	if stage == nil {
		stage = func(s string) { _ = setStage(ctx, s) }
	}
	stage("ingest")
	var ing activities.IngestResult
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, ingestOptions(l.budget)), acts.IngestDataset, l.input).Get(ctx, &ing); err != nil {
		return ing, activities.ValidateResult{}, err
	}
	stage("validate")
	var clean activities.ValidateResult
	vin := activities.ValidateInput{Dataset: ing.Dataset, Format: ing.Format, CSV: l.csv, MaxRejectedFraction: l.maxRejected, DropReversed: true}
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, dataOptions(l.budget)), acts.ValidateDataset, vin).Get(ctx, &clean)
	return ing, clean, err
}
