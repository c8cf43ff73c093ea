package workflows

import (
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/registry"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// RealiseDueInput realises every scoring run whose horizon has passed in a
// transaction log.
type RealiseDueInput struct {
	Input               activities.IngestInput `json:"input"`
	HorizonDays         int                    `json:"horizon_days"`
	MaxRejectedFraction float64                `json:"max_rejected_fraction"`
	RetryBudget         time.Duration          `json:"retry_budget,omitempty"`
}

// RealiseDueResult lists what a RealiseDue run recorded.
type RealiseDueResult struct {
	Realised []registry.Realised `json:"realised"`
}

// RealiseDue is the scheduled form of Realised (`clvflow schedule
// create-realise`): it reads the log once, finds every BatchScore run whose
// as-of day plus the horizon lies within the data and that has no realised
// record over that horizon yet, and realises each.
func RealiseDue(ctx workflow.Context, in RealiseDueInput) (RealiseDueResult, error) {
	var res RealiseDueResult
	if in.HorizonDays <= 0 {
		return res, temporal.NewNonRetryableApplicationError("realise due: horizon_days must be > 0", activities.ErrTypeBadInput, nil)
	}
	_, clean, err := loadClean(ctx, cleanLoad{input: in.Input, maxRejected: in.MaxRejectedFraction, budget: in.RetryBudget})
	if err != nil {
		return res, err
	}
	_ = setStage(ctx, "realise")
	dctx := workflow.WithActivityOptions(ctx, dataOptions(in.RetryBudget))
	var due []string
	if err := workflow.ExecuteActivity(dctx, acts.DueScores, activities.DueInput{DataEnd: clean.MaxTime, HorizonDays: in.HorizonDays}).Get(ctx, &due); err != nil {
		return res, err
	}
	for _, prefix := range due {
		var rec registry.Realised
		rin := activities.RealiseInput{Run: runOf(ctx), ScoresPrefix: prefix, Clean: clean.Clean, DataEnd: clean.MaxTime, HorizonDays: in.HorizonDays}
		if err := workflow.ExecuteActivity(dctx, acts.RealiseScores, rin).Get(ctx, &rec); err != nil {
			return res, err
		}
		res.Realised = append(res.Realised, rec)
	}
	_ = setStage(ctx, "done")
	return res, nil
}
