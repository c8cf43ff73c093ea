package activities

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/registry"
)

// DueInput asks which scoring runs can be realised over a horizon with
// data that ends at DataEnd.
type DueInput struct {
	DataEnd     string `json:"data_end"`
	HorizonDays int    `json:"horizon_days"`
}

// DueScores lists the scoring runs (their output prefixes, oldest as-of
// first) whose horizon has passed in the data and that have no realised
// record over that horizon yet.
func (a *Activities) DueScores(ctx context.Context, in DueInput) ([]string, error) {
	end, err := time.Parse(time.RFC3339, in.DataEnd)
	if err != nil {
		return nil, nonRetryablef(ErrTypeBadInput, "data end %q is not a time", in.DataEnd)
	}
	objs, err := a.Store.List(ctx, a.Buckets.Models, ScoresPrefix+"/")
	if err != nil {
		return nil, Classify(err)
	}
	var due []string
	for _, o := range objs {
		prefix, ok := strings.CutSuffix(o.Key, "/summary.json")
		if !ok {
			continue
		}
		var sum ScoreSummary
		if err := a.Store.GetJSON(ctx, artifacts.Ref{Bucket: o.Bucket, Key: o.Key}, &sum); err != nil {
			return nil, Classify(err)
		}
		asOf, err := time.Parse("2006-01-02", sum.AsOf)
		if err != nil || asOf.AddDate(0, 0, in.HorizonDays).After(end) {
			continue
		}
		if done, err := a.realised(ctx, sum.Version, sum.AsOf, in.HorizonDays); err != nil {
			return nil, err
		} else if !done {
			due = append(due, prefix)
		}
	}
	slices.Sort(due)
	return due, nil
}

// realised reports whether a version has a realised record for as-of and
// horizon.
func (a *Activities) realised(ctx context.Context, version, asOf string, horizon int) (bool, error) {
	recs, err := a.Registry.RealisedHistory(ctx, version)
	if err != nil {
		return false, registryError(err)
	}
	return slices.ContainsFunc(recs, func(r registry.Realised) bool { return r.AsOf == asOf && r.HorizonDays == horizon }), nil
}
