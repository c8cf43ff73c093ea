package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/registry"
)

// RealiseInput compares a BatchScore run's predictions with what the
// customers spent in the horizon after its as-of day.
type RealiseInput struct {
	Run
	// ScoresPrefix is the BatchScore output (its summary.json is read).
	ScoresPrefix string        `json:"scores_prefix"`
	Clean        artifacts.Ref `json:"clean"`
	DataEnd      string        `json:"data_end"`
	HorizonDays  int           `json:"horizon_days"`
}

// RealiseScores computes, on the customers a scoring run scored, the
// normalized Gini and decile MAPE of its expected values against the spend
// in (as-of, as-of + horizon], and the predicted and actual totals, and
// records them on the version. A horizon that has not passed in the data is
// an error that says when it will have.
func (a *Activities) RealiseScores(ctx context.Context, in RealiseInput) (registry.Realised, error) {
	var sum ScoreSummary
	if err := a.Store.GetJSON(ctx, artifacts.Ref{Bucket: a.Buckets.Models, Key: in.ScoresPrefix + "/summary.json"}, &sum); err != nil {
		return registry.Realised{}, Classify(err)
	}
	asOf, err := time.Parse("2006-01-02", sum.AsOf)
	if err != nil {
		return registry.Realised{}, nonRetryable(ErrTypeIntegrity, fmt.Errorf("scores summary as-of: %w", err))
	}
	if err := horizonPassed(asOf, in.DataEnd, in.HorizonDays); err != nil {
		return registry.Realised{}, err
	}
	pred, actual, err := a.realisedPairs(ctx, sum, in.Clean, asOf, in.HorizonDays)
	if err != nil {
		return registry.Realised{}, err
	}
	rec := registry.Realised{Version: sum.Version, AsOf: sum.AsOf, HorizonDays: in.HorizonDays, ScoresPrefix: in.ScoresPrefix,
		CleanDataset: in.Clean.SHA256, Customers: len(pred), WorkflowID: in.WorkflowID}
	for i := range pred {
		rec.PredictedTotal += pred[i]
		rec.ActualTotal += actual[i]
	}
	if rec.NormalizedGini, err = metrics.NormalizedGini(pred, actual); err != nil {
		return rec, nonRetryable(ErrTypeBadData, err)
	}
	if rec.DecileMAPE, err = metrics.DecileMAPE(pred, actual); err != nil {
		return rec, nonRetryable(ErrTypeBadData, err)
	}
	return rec, registryError(a.Registry.PutRealised(ctx, rec))
}

func horizonPassed(asOf time.Time, dataEnd string, horizon int) error {
	end, err := time.Parse(time.RFC3339, dataEnd)
	if err != nil {
		return nonRetryablef(ErrTypeBadInput, "data end %q is not a time", dataEnd)
	}
	need := asOf.AddDate(0, 0, horizon)
	if end.Before(need) {
		return nonRetryablef(ErrTypeBadInput, "the %d-day horizon after %s ends %s, the data ends %s: realise it once the data covers the horizon",
			horizon, asOf.Format("2006-01-02"), need.Format("2006-01-02"), end.Format("2006-01-02"))
	}
	return nil
}

// realisedPairs returns, for every scored customer, the predicted expected
// value and the spend in the horizon (0 for customers who did not buy).
func (a *Activities) realisedPairs(ctx context.Context, sum ScoreSummary, clean artifacts.Ref, asOf time.Time, horizon int) (pred, actual []float64, err error) {
	rc, err := a.Store.Get(ctx, clean)
	if err != nil {
		return nil, nil, Classify(err)
	}
	defer rc.Close()
	b := features.NewBuilder(features.Split{Cutoff: asOf, HorizonDays: horizon})
	if _, err := dataset.Read(rc, canonicalOptions("clean.csv"), b.AddTransaction); err != nil {
		return nil, nil, Classify(err)
	}
	set, err := b.Build()
	if err != nil {
		return nil, nil, nonRetryable(ErrTypeBadData, err)
	}
	spend := make(map[string]float64, set.Len())
	labels := set.Labels()
	for i, c := range set.Customers {
		spend[c.ID] = labels[i]
	}
	for _, part := range sum.Parts {
		rows, err := a.readParquet(ctx, part)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rows {
			pred = append(pred, r.ExpectedValue)
			actual = append(actual, spend[r.CustomerID])
		}
	}
	return pred, actual, nil
}
