package activities

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"slices"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/scoring"
)

// PrepareScoring pins the model (an alias resolves to its version now), names
// the run's output prefix from what determines the output (version, clean
// dataset, as-of day, shards), returns the summary of an earlier identical
// run if there is one, and otherwise computes the drift reference from the
// version's training data.
func (a *Activities) PrepareScoring(ctx context.Context, in ScoreInput) (ScorePlan, error) {
	v, err := a.Registry.Lookup(ctx, in.Model)
	if err != nil {
		return ScorePlan{}, registryError(err)
	}
	if v.ONNX.IsZero() {
		return ScorePlan{}, nonRetryablef(ErrTypeBadInput, "version %s has no ONNX file to score with", v.ID)
	}
	asOf, err := scoringDay(in.AsOf, in.DataEnd)
	if err != nil {
		return ScorePlan{}, err
	}
	plan := ScorePlan{Version: v.ID, ONNX: v.ONNX, AsOf: asOf.Format("2006-01-02")}
	plan.Prefix = path.Join(ScoresPrefix, v.ID, in.Clean.SHA256, plan.AsOf, fmt.Sprintf("s%d", in.Shards))
	var done ScoreSummary
	err = a.Store.GetJSON(ctx, artifacts.Ref{Bucket: a.Buckets.Models, Key: plan.Prefix + "/summary.json"}, &done)
	switch {
	case err == nil:
		plan.Existing = &done
		return plan, nil
	case artifacts.KindOf(err) != artifacts.NotFound:
		return ScorePlan{}, Classify(err)
	}
	plan.Reference, err = a.driftReference(ctx, v)
	return plan, err
}

func scoringDay(asOf, dataEnd string) (time.Time, error) {
	if asOf == "" {
		end, err := time.Parse(time.RFC3339, dataEnd)
		if err != nil {
			return time.Time{}, nonRetryablef(ErrTypeBadInput, "no as-of day, and the data end %q is no time to default to", dataEnd)
		}
		return end.UTC().Truncate(24 * time.Hour), nil
	}
	t, err := time.Parse("2006-01-02", asOf)
	if err != nil {
		return time.Time{}, nonRetryablef(ErrTypeBadInput, "as-of %q is not YYYY-MM-DD", asOf)
	}
	return t, nil
}

// driftReference bins the version's training features and its scores of
// them.
func (a *Activities) driftReference(ctx context.Context, v registry.Version) (scoring.DriftReference, error) {
	set, release, err := a.versionFeatures(ctx, v)
	if err != nil {
		return scoring.DriftReference{}, err
	}
	defer release()
	m, err := a.loadONNX(ctx, v.ID, v.ONNX)
	if err != nil {
		return scoring.DriftReference{}, err
	}
	defer m.Close()
	ref, err := scoring.ModelReference(m, set)
	if err != nil {
		return scoring.DriftReference{}, nonRetryable(ErrTypeBadData, err)
	}
	return ref, nil
}

// ScoreShard scores the customers of one shard and stores their unranked
// predictions; a retry rewrites the same content-addressed file, so a
// killed worker never duplicates rows.
func (a *Activities) ScoreShard(ctx context.Context, in ShardInput) (ShardResult, error) {
	stop := heartbeatEvery(ctx, heartbeatInterval(ctx, 10*time.Second), func() any { return fmt.Sprintf("shard %d/%d", in.Shard+1, in.Shards) })
	defer stop()
	asOf, err := time.Parse("2006-01-02", in.Plan.AsOf)
	if err != nil {
		return ShardResult{}, nonRetryable(ErrTypeBadInput, err)
	}
	set, err := a.scoreFeatures(ctx, in.Clean, asOf, in.Shard, in.Shards)
	if err != nil {
		return ShardResult{}, err
	}
	m, err := a.loadONNX(ctx, in.Plan.Version, in.Plan.ONNX)
	if err != nil {
		return ShardResult{}, err
	}
	defer m.Close()
	preds, err := scoring.Score(m, set)
	if err != nil {
		return ShardResult{}, nonRetryable(ErrTypeBadData, err)
	}
	slices.SortFunc(preds, scoring.Order)
	part, err := a.putParquet(ctx, in.Plan.Prefix+"/unranked", preds, in.Plan.Version)
	if err != nil {
		return ShardResult{}, err
	}
	return ShardResult{Shard: in.Shard, Customers: len(preds), Part: part, Counts: in.Plan.Reference.Histograms(set, preds)}, nil
}

// FinalizeScores ranks every shard's customers together into deciles and
// segments, writes one Parquet file per shard (and a CSV on request), the
// drift report and the summary (written last: it marks the run complete).
func (a *Activities) FinalizeScores(ctx context.Context, in FinalizeInput) (ScoreSummary, error) {
	stop := heartbeatEvery(ctx, heartbeatInterval(ctx, 10*time.Second), func() any { return "ranking" })
	defer stop()
	all, owner, err := a.readShards(ctx, in.Shards)
	if err != nil {
		return ScoreSummary{}, err
	}
	if len(all) == 0 {
		return ScoreSummary{}, nonRetryable(ErrTypeBadData, scoring.ErrNoCustomers)
	}
	scoring.Rank(all, in.Segments)
	sum := ScoreSummary{Version: in.Plan.Version, AsOf: in.Plan.AsOf, Prefix: in.Plan.Prefix, Customers: len(all),
		Segments: segmentSummary(all, in.Segments), Drift: driftReport(in.Plan.Reference, in.Shards, in.PSIThreshold)}
	if sum.Parts, err = a.writeParts(ctx, in, all, owner); err != nil {
		return ScoreSummary{}, err
	}
	if in.CSV {
		if sum.CSV, err = a.putCSV(ctx, in.Plan.Prefix, all); err != nil {
			return ScoreSummary{}, err
		}
	}
	_, err = a.Store.PutJSON(ctx, a.Buckets.Models, in.Plan.Prefix+"/summary.json", sum)
	return sum, Classify(err)
}

// readShards reads the unranked predictions of every shard; owner maps a
// customer to its shard.
func (a *Activities) readShards(ctx context.Context, shards []ShardResult) ([]scoring.Prediction, map[string]int, error) {
	var all []scoring.Prediction
	owner := map[string]int{}
	for _, s := range shards {
		rows, err := a.readParquet(ctx, s.Part)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rows {
			all = append(all, scoring.Prediction{CustomerID: r.CustomerID, ExpectedValue: r.ExpectedValue, PurchaseProbability: r.PurchaseProbability})
			owner[r.CustomerID] = s.Shard
		}
	}
	return all, owner, nil
}

func (a *Activities) writeParts(ctx context.Context, in FinalizeInput, ranked []scoring.Prediction, owner map[string]int) ([]artifacts.Ref, error) {
	byShard := make([][]scoring.Prediction, len(in.Shards))
	for _, p := range ranked {
		byShard[owner[p.CustomerID]] = append(byShard[owner[p.CustomerID]], p)
	}
	parts := make([]artifacts.Ref, len(byShard))
	for i, preds := range byShard {
		ref, err := a.putParquet(ctx, in.Plan.Prefix, preds, in.Plan.Version)
		if err != nil {
			return nil, err
		}
		parts[i] = ref
	}
	return parts, nil
}

func (a *Activities) putCSV(ctx context.Context, prefix string, preds []scoring.Prediction) (*artifacts.Ref, error) {
	var buf bytes.Buffer
	if err := scoring.WriteCSV(&buf, preds); err != nil {
		return nil, nonRetryable(ErrTypeBadData, err)
	}
	ref, err := a.Store.PutBytes(ctx, a.Buckets.Models, prefix, buf.Bytes(), artifacts.PutOptions{ContentType: "text/csv", Filename: "scores.csv"})
	if err != nil {
		return nil, Classify(err)
	}
	return &ref, nil
}

func segmentSummary(preds []scoring.Prediction, s scoring.Segments) []SegmentSummary {
	names := []string{scoring.Dormant}
	for _, t := range s.Tiers {
		names = append(names, t.Name)
	}
	out := make([]SegmentSummary, len(names))
	for i, n := range names {
		out[i].Name = n
	}
	for _, p := range preds {
		i := slices.Index(names, p.Segment)
		out[i].Customers++
		out[i].ExpectedValue += p.ExpectedValue
	}
	return out
}

// driftReport sums the shards' bin counts and compares them with the
// reference.
func driftReport(ref scoring.DriftReference, shards []ShardResult, threshold float64) scoring.DriftReport {
	cur := map[string][]int64{}
	for name, refCounts := range ref.Counts {
		cur[name] = make([]int64, len(refCounts))
		for _, s := range shards {
			metrics.AddCounts(cur[name], s.Counts[name])
		}
	}
	return ref.Compare(cur, threshold)
}
