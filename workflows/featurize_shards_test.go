package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/features"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
)

func TestFeaturizeShards(t *testing.T) {
	for _, c := range []struct {
		rows, shardRows int64
		max, want       int
	}{
		{990, 0, 16, 1},   // 0: never shard
		{990, 990, 16, 1}, // at the threshold: one
		{991, 990, 16, 2}, // one row above: two
		{990, 300, 16, 4}, // ceil(3.3)
		{990, 300, 3, 3},  // clamped to max_shards
		{990, 1, 0, 16},   // max 0: DefaultMaxShards
		{990, 300, 1, 1},  // max 1: never shard
		{5_000_000, 2_000_000, 16, 3},
	} {
		if got := FeaturizeShards(c.rows, c.shardRows, c.max); got != c.want {
			t.Errorf("FeaturizeShards(%d, %d, %d) = %d, want %d", c.rows, c.shardRows, c.max, got, c.want)
		}
	}
}

// shardMocks mocks Featurize, ShardLog, FeaturizeShard and MergeFeatures;
// failShard's first attempt fails with failErr (nil: none fails).
type shardMocks struct {
	mu       sync.Mutex
	attempts map[int]int
	shardIn  map[int]activities.FeaturizeShardInput
	merge    *activities.MergeFeaturesInput
	single   int
}

func (s *PipelineSuite) mockShards(failShard int, failErr error) *shardMocks {
	m := &shardMocks{attempts: map[int]int{}, shardIn: map[int]activities.FeaturizeShardInput{}}
	s.env.OnActivity(s.a.Featurize, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.FeaturizeInput) (activities.FeaturizeResult, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.single++
			return activities.FeaturizeResult{Features: ref("feat"), Split: ref("split"), Cutoff: "2011-09-08", HorizonDays: 90, TestCustomers: 500}, nil
		})
	s.env.OnActivity(s.a.ShardLog, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ShardLogInput) (activities.ShardLogResult, error) {
			res := activities.ShardLogResult{ShardPlan: activities.ShardPlan{Cutoff: "2011-09-08", SnapshotCutoffs: []string{"2011-06-10"}}}
			for i := range in.Shards {
				res.Shards = append(res.Shards, ref(fmt.Sprintf("shard-%d", i)))
				res.Rows = append(res.Rows, int64(100+i))
			}
			return res, nil
		})
	s.env.OnActivity(s.a.FeaturizeShard, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FeaturizeShardInput) (activities.FeaturizeShardResult, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.attempts[in.Shard]++
			m.shardIn[in.Shard] = in
			if in.Shard == failShard && failErr != nil && m.attempts[in.Shard] == 1 {
				return activities.FeaturizeShardResult{}, failErr
			}
			return activities.FeaturizeShardResult{Shard: in.Shard, Features: ref(fmt.Sprintf("feat-%d", in.Shard)),
				Snapshots: []activities.SnapshotRef{{Cutoff: "2011-06-10", Features: ref(fmt.Sprintf("snap-%d", in.Shard))}}}, nil
		})
	s.env.OnActivity(s.a.MergeFeatures, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.MergeFeaturesInput) (activities.FeaturizeResult, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.merge = &in
			return activities.FeaturizeResult{Features: ref("merged"), Split: ref("merged-split"), Cutoff: "2011-09-08", HorizonDays: 90, TestCustomers: 500,
				Snapshots: []activities.SnapshotRef{{Cutoff: "2011-06-10", Features: ref("merged-snap")}},
				Stats:     features.Stats{Transactions: 990, Calibration: 700, Holdout: 290, HoldoutOnlyCustomers: 3}}, nil
		})
	return m
}

// TestShardedFeaturizeRetriesOneShard: above shard_rows the pipeline shards
// the log (990 accepted rows, 300 per shard: 4 shards), featurizes every
// shard in its own activity with the cutoffs resolved once, retries only
// the shard that failed, merges the shards in order and trains on the
// merged features.
func (s *PipelineSuite) TestShardedFeaturizeRetriesOneShard() {
	s.setup(goodEval(""), "", "Featurize", "TrainModel")
	m := s.mockShards(2, temporal.NewApplicationError("minio: connection refused", activities.ErrTypeInfrastructure))
	var mu sync.Mutex
	var trainedOn []artifacts.Ref
	s.env.OnActivity(s.a.TrainModel, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.TrainInput) (activities.TrainResult, error) {
			mu.Lock()
			defer mu.Unlock()
			trainedOn = append(trainedOn, in.Features)
			trainedOn = append(trainedOn, in.Snapshots...)
			return activities.TrainResult{Kind: in.Kind, Model: ref("model-" + in.Kind)}, nil
		})
	in := baseInput()
	in.AutoApproveAs = "demo"
	in.ShardRows, in.MaxShards = 300, 16
	s.env.ExecuteWorkflow(TrainingPipeline, in)
	res := s.result()
	s.Equal(OutcomePromoted, res.Outcome)
	s.Equal(4, res.FeaturizeShards)
	s.Equal(&features.Stats{Transactions: 990, Calibration: 700, Holdout: 290, HoldoutOnlyCustomers: 3}, res.FeatureStats, "the merge's stats in the result")
	s.Equal(0, m.single, "the single Featurize activity must not run")
	s.Equal(map[int]int{0: 1, 1: 1, 2: 2, 3: 1}, m.attempts, "only the failed shard is retried")
	for i := range 4 {
		si := m.shardIn[i]
		s.Equal(fmt.Sprintf("shard-%d", i), si.Log.Key)
		s.Equal(int64(100+i), si.Rows)
		s.Equal("2011-09-08", si.Cutoff)
		s.Equal([]string{"2011-06-10"}, si.SnapshotCutoffs, "snapshot cutoffs are resolved once, by ShardLog")
	}
	s.Require().NotNil(m.merge)
	s.Require().Len(m.merge.Shards, 4)
	for i, sh := range m.merge.Shards {
		s.Equal(i, sh.Shard, "shards merge in shard order")
		s.Equal(fmt.Sprintf("feat-%d", i), sh.Features.Key)
	}
	s.Require().Len(trainedOn, 6)
	for _, r := range trainedOn {
		s.Contains([]string{"merged", "merged-snap"}, r.Key, "training reads the merged features")
	}
}

// TestShardedFeaturizeBadShardFailsRun: a shard with bad data fails the run
// at once (no retry), naming the shard; nothing is merged or trained.
func (s *PipelineSuite) TestShardedFeaturizeBadShardFailsRun() {
	s.setup(goodEval(""), "", "Featurize")
	m := s.mockShards(1, temporal.NewNonRetryableApplicationError("features: customer \"x\": amount NaN", activities.ErrTypeBadData, nil))
	in := baseInput()
	in.ShardRows = 300
	s.env.ExecuteWorkflow(TrainingPipeline, in)
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	var types []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		var ae *temporal.ApplicationError
		if errors.As(e, &ae) {
			types = append(types, ae.Type())
		}
	}
	s.Contains(types, activities.ErrTypeBadData, "the shard's BadData error is the cause")
	s.Contains(err.Error(), "featurize shard 1 of 4")
	s.Contains(err.Error(), "amount NaN")
	s.Equal(1, m.attempts[1], "bad data is not retried")
	s.Nil(m.merge)
	s.env.AssertNotCalled(s.T(), "TrainModel", mock.Anything, mock.Anything)
}

// TestSmallLogIsNotSharded: below shard_rows the one Featurize activity
// runs, as before sharding existed.
func (s *PipelineSuite) TestSmallLogIsNotSharded() {
	s.setup(goodEval(""), "", "Featurize")
	m := s.mockShards(-1, nil)
	in := baseInput()
	in.AutoApproveAs = "demo"
	in.ShardRows = 990
	s.env.ExecuteWorkflow(TrainingPipeline, in)
	res := s.result()
	s.Equal(1, m.single)
	s.Empty(m.attempts)
	s.Zero(res.FeaturizeShards)
	s.Nil(res.FeatureStats, "a Featurize result without stats (as recorded before they were kept) leaves none")
}

func TestPipelineInputValidateShards(t *testing.T) {
	in := baseInput()
	in.ShardRows, in.MaxShards = -1, 257
	err := in.Validate()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"shard_rows must be ≥ 0", "max_shards must be in [0,256] (0 = 16), got 257"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
}
