package activities

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
)

// Sharded featurizing: ShardLog splits the clean log by customer into
// shards in the store, FeaturizeShard builds one shard's features on any
// worker, MergeFeatures joins them into exactly what Featurize builds from
// the whole log (same bytes, same split, same snapshots).

// ShardsPrefix is where the shards of a clean log go (content-addressed).
const ShardsPrefix = "shards"

// MaxFeaturizeShards bounds the number of shards of one log.
const MaxFeaturizeShards = 256

// ShardLog reads the clean log once and writes each row, in file order, to
// the shard of its customer (ShardOf, as scoring shards): every customer's
// rows end up in one shard, in their original order. It resolves what
// depends on the whole log once for all shards: the cutoff and the cutoffs
// of the training snapshots (which depend on the log's first day).
func (a *Activities) ShardLog(ctx context.Context, in ShardLogInput) (ShardLogResult, error) {
	var res ShardLogResult
	if in.Shards < 2 || in.Shards > MaxFeaturizeShards {
		return res, nonRetryablef(ErrTypeBadInput, "shard log: %d shards, want 2…%d", in.Shards, MaxFeaturizeShards)
	}
	split, asOf, err := featurizeSplit(in.Featurize)
	if err != nil {
		return res, err
	}
	withSeq, err := a.needsSequences(ctx, in.Featurize.Models)
	if err != nil {
		return res, err
	}
	res.WithoutSequences = !withSeq
	dir, err := os.MkdirTemp("", "clvflow-shards-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	var routed atomic.Int64
	defer heartbeatEvery(ctx, heartbeatInterval(ctx, 10*time.Second), func() any { return map[string]int64{"rows": routed.Load()} })()
	res.Rows = make([]int64, in.Shards)
	first, ok, err := a.writeShards(ctx, in, dir, split, asOf, func(shard int) { res.Rows[shard]++; routed.Add(1) })
	if err != nil {
		return res, err
	}
	for i := range in.Shards {
		ref, err := a.Store.PutFile(ctx, a.Buckets.Datasets, ShardsPrefix, shardPath(dir, i), artifacts.PutOptions{ContentType: "text/csv",
			Filename: fmt.Sprintf("shard-%d-of-%d.csv", i, in.Shards)})
		if err != nil {
			return res, Classify(err)
		}
		res.Shards = append(res.Shards, ref)
	}
	cuts, err := snapshotCutoffs(in.Featurize, split, first, ok)
	if err != nil {
		return res, err
	}
	res.Cutoff = split.Cutoff.Format("2006-01-02")
	for _, c := range cuts {
		res.SnapshotCutoffs = append(res.SnapshotCutoffs, c.Format("2006-01-02"))
	}
	a.log().Info("log sharded", "shards", in.Shards, "rows", routed.Load(), "cutoff", res.Cutoff)
	return res, nil
}

func shardPath(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("shard-%d.csv", i)) }

// writeShards streams the clean log into the shard files (canonical CSV,
// each with the header) and returns the first day a builder of the whole
// log would store: the earliest day, up to asOf, not after the holdout.
func (a *Activities) writeShards(ctx context.Context, in ShardLogInput, dir string, split features.Split, asOf time.Time, count func(shard int)) (time.Time, bool, error) {
	var first time.Time
	var ok bool
	writers := make([]*dataset.CanonicalWriter, in.Shards)
	for i := range writers {
		f, err := os.Create(shardPath(dir, i))
		if err != nil {
			return first, false, err
		}
		defer f.Close()
		writers[i] = dataset.NewCanonicalWriter(f)
	}
	rc, err := a.Store.Get(ctx, in.Featurize.Clean)
	if err != nil {
		return first, false, Classify(err)
	}
	defer rc.Close()
	last := split.HoldoutEnd()
	_, err = dataset.Read(rc, canonicalOptions("clean.csv"), func(tx dataset.Transaction) error {
		shard := ShardOf(tx.Customer, in.Shards)
		if err := writers[shard].Write(tx); err != nil {
			return err
		}
		count(shard)
		if day := features.CutoffFor(tx.Time, 0); (asOf.IsZero() || !tx.Time.After(asOf)) && !day.After(last) && (!ok || day.Before(first)) {
			first, ok = day, true
		}
		return nil
	})
	if err != nil {
		return first, false, Classify(err)
	}
	for _, w := range writers {
		if err := w.Flush(); err != nil {
			return first, false, err
		}
	}
	return first, ok, nil
}

// FeaturizeShard builds the feature set and the training snapshots of one
// shard at the cutoffs ShardLog resolved for the whole log, and stores
// them (content-addressed); the shard's Stats travel in the result.
func (a *Activities) FeaturizeShard(ctx context.Context, in FeaturizeShardInput) (FeaturizeShardResult, error) {
	res := FeaturizeShardResult{Shard: in.Shard}
	split, asOf, cuts, err := resolvedSplit(in.Featurize, in.ShardPlan)
	if err != nil {
		return res, err
	}
	defer heartbeatEvery(ctx, heartbeatInterval(ctx, 10*time.Second), func() any { return map[string]int{"shard": in.Shard} })()
	b := features.NewBuilder(split)
	if in.WithoutSequences {
		b.OmitSequences()
	}
	if in.Rows > 0 { // an empty shard is only a header, which the reader refuses
		if b, err = a.readFeatures(ctx, in.Log, split, asOf, !in.WithoutSequences); err != nil {
			return res, err
		}
	}
	set, err := b.Build()
	if err != nil {
		return res, nonRetryable(ErrTypeBadData, err)
	}
	dir, err := os.MkdirTemp("", "clvflow-features-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	if res.Features, _, err = a.putFeatures(ctx, dir, setFile(set)); err != nil {
		return res, err
	}
	res.Stats, res.Customers = set.Stats, set.Len()
	res.Snapshots, err = a.putSnapshots(ctx, dir, cuts, builderSnapshots(b))
	return res, err
}

// MergeFeatures merges the shards' feature files and snapshots in customer
// order, streaming (features.MergeCSV: one row per shard in memory), and
// stores them with the train/test split exactly as Featurize stores the
// features of the whole log: the result is the same in every field, the
// files the same bytes.
func (a *Activities) MergeFeatures(ctx context.Context, in MergeFeaturesInput) (FeaturizeResult, error) {
	if len(in.Shards) == 0 {
		return FeaturizeResult{}, nonRetryablef(ErrTypeBadInput, "merge features: no shards")
	}
	split, _, cuts, err := resolvedSplit(in.Featurize, in.ShardPlan)
	if err != nil {
		return FeaturizeResult{}, err
	}
	refs := make([]artifacts.Ref, len(in.Shards))
	var stats features.Stats
	for i, s := range in.Shards {
		if len(s.Snapshots) != len(cuts) {
			return FeaturizeResult{}, nonRetryablef(ErrTypeBadInput, "merge features: shard %d has %d snapshots, want %d", s.Shard, len(s.Snapshots), len(cuts))
		}
		refs[i] = s.Features
		stats.Add(s.Stats)
	}
	defer heartbeatEvery(ctx, heartbeatInterval(ctx, 10*time.Second), func() any { return map[string]int{"shards": len(in.Shards)} })()
	a.log().Info("merging feature shards", "shards", len(in.Shards))
	res, err := a.storeFeaturized(ctx, in.Featurize, split, a.mergedFile(ctx, refs), cuts, func(k int, c time.Time) (featureFile, error) {
		snaps := make([]artifacts.Ref, len(in.Shards))
		for i, s := range in.Shards {
			if s.Snapshots[k].Cutoff != c.Format("2006-01-02") {
				return nil, nonRetryablef(ErrTypeBadInput, "merge features: shard %d's snapshot %d is at %s, want %s", s.Shard, k, s.Snapshots[k].Cutoff, c.Format("2006-01-02"))
			}
			snaps[i] = s.Snapshots[k].Features
		}
		return a.mergedFile(ctx, snaps), nil
	})
	res.Stats = stats
	return res, err
}

// mergedFile is the featureFile merged from the stored feature files refs,
// read as streams (each verified against its sha256 at its end).
func (a *Activities) mergedFile(ctx context.Context, refs []artifacts.Ref) featureFile {
	return func(w io.Writer) ([]string, error) {
		readers := make([]io.Reader, 0, len(refs))
		closers := make([]io.Closer, 0, len(refs))
		defer func() {
			for _, c := range closers {
				c.Close()
			}
		}()
		for _, ref := range refs {
			rc, err := a.Store.Get(ctx, ref)
			if err != nil {
				return nil, Classify(err)
			}
			readers, closers = append(readers, rc), append(closers, rc)
		}
		ids, err := features.MergeCSV(w, readers...)
		if err != nil {
			return nil, ClassifyData(err)
		}
		for _, c := range closers {
			if err := c.Close(); err != nil {
				return nil, Classify(err)
			}
		}
		return ids, nil
	}
}

// resolvedSplit is the split of in at the cutoff and the snapshot cutoffs
// (YYYY-MM-DD) that ShardLog resolved from the whole log, and in's as-of
// time.
func resolvedSplit(in FeaturizeInput, plan ShardPlan) (features.Split, time.Time, []time.Time, error) {
	in.Cutoff = plan.Cutoff
	split, asOf, err := featurizeSplit(in)
	if err != nil {
		return split, asOf, nil, err
	}
	cuts := make([]time.Time, 0, len(plan.SnapshotCutoffs))
	for _, d := range plan.SnapshotCutoffs {
		t, err := time.Parse("2006-01-02", d)
		if err != nil {
			return split, asOf, nil, nonRetryablef(ErrTypeBadInput, "snapshot cutoff %q is not YYYY-MM-DD", d)
		}
		cuts = append(cuts, t)
	}
	return split, asOf, cuts, nil
}
