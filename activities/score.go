package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/scoring"
)

// ScoresPrefix is where BatchScore runs write, in the models bucket:
// scores/<version>/<clean dataset sha256>/<as-of>/s<shards>/.
const ScoresPrefix = "scores"

// ScoreInput is what a batch scoring run scores.
type ScoreInput struct {
	// Model is a version or an alias (resolved once, then pinned).
	Model string        `json:"model"`
	Clean artifacts.Ref `json:"clean"`
	// AsOf is the scoring day YYYY-MM-DD; empty: DataEnd's day.
	AsOf string `json:"as_of,omitempty"`
	// DataEnd is the validated dataset's last time (RFC 3339).
	DataEnd  string           `json:"data_end"`
	Shards   int              `json:"shards"`
	CSV      bool             `json:"csv,omitempty"`
	Segments scoring.Segments `json:"segments"`
	// PSIThreshold marks drift in the summary.
	PSIThreshold float64 `json:"psi_threshold"`
}

// ScorePlan is a resolved scoring run: the pinned model, the output prefix,
// the drift reference, or the summary of an earlier identical run.
type ScorePlan struct {
	Version   string                 `json:"version"`
	ONNX      artifacts.Ref          `json:"onnx"`
	AsOf      string                 `json:"as_of"`
	Prefix    string                 `json:"prefix"`
	Reference scoring.DriftReference `json:"reference"`
	Existing  *ScoreSummary          `json:"existing,omitempty"`
}

// ShardInput scores one shard of the customers.
type ShardInput struct {
	Plan   ScorePlan     `json:"plan"`
	Clean  artifacts.Ref `json:"clean"`
	Shard  int           `json:"shard"`
	Shards int           `json:"shards"`
}

// ShardResult is one scored shard: its unranked predictions and the bin
// counts of its data against the drift reference.
type ShardResult struct {
	Shard     int                `json:"shard"`
	Customers int                `json:"customers"`
	Part      artifacts.Ref      `json:"part"`
	Counts    map[string][]int64 `json:"counts"`
}

// FinalizeInput ranks the shards' predictions into the run's output.
type FinalizeInput struct {
	Plan         ScorePlan        `json:"plan"`
	Shards       []ShardResult    `json:"shards"`
	CSV          bool             `json:"csv,omitempty"`
	Segments     scoring.Segments `json:"segments"`
	PSIThreshold float64          `json:"psi_threshold"`
}

// ScoreSummary is what a scoring run recorded (summary.json under its
// prefix, and the workflow result).
type ScoreSummary struct {
	Version   string              `json:"version"`
	AsOf      string              `json:"as_of"`
	Prefix    string              `json:"prefix"`
	Customers int                 `json:"customers"`
	Parts     []artifacts.Ref     `json:"parts"`
	CSV       *artifacts.Ref      `json:"csv,omitempty"`
	Segments  []SegmentSummary    `json:"segments"`
	Drift     scoring.DriftReport `json:"drift"`
}

// SegmentSummary counts one segment.
type SegmentSummary struct {
	Name          string  `json:"name"`
	Customers     int     `json:"customers"`
	ExpectedValue float64 `json:"expected_value"`
}

// ShardOf is the shard of a customer id (FNV-1a, stable across runs).
func ShardOf(customerID string, shards int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(customerID))
	return int(h.Sum32() % uint32(shards))
}

// scoreFeatures builds the features of the customers of one shard as of day.
func (a *Activities) scoreFeatures(ctx context.Context, clean artifacts.Ref, asOf time.Time, shard, shards int) (*features.Set, error) {
	rc, err := a.Store.Get(ctx, clean)
	if err != nil {
		return nil, Classify(err)
	}
	defer rc.Close()
	b := features.NewBuilder(features.Split{Cutoff: asOf, HorizonDays: 0})
	rows := newShardRows(shard, shards)
	_, err = dataset.ReadBatches(rc, canonicalOptions("clean.csv"), func(bt *dataset.Batch) error {
		return rows.add(bt, b.AddTransaction) // the builder drops days after asOf itself
	})
	if err != nil {
		return nil, Classify(err)
	}
	set, err := b.Build()
	if err != nil {
		return nil, nonRetryable(ErrTypeBadData, err)
	}
	return set, nil
}

// shardRows picks the rows of one shard's customers from batches, deciding
// once per customer (ShardOf hashes its id) instead of once per row.
type shardRows struct {
	shard, shards int
	in            []uint8          // per batch key: 0 not seen yet, 1 in the shard, 2 not
	names         map[int32]string // the ids of the shard's customers
}

func newShardRows(shard, shards int) *shardRows {
	return &shardRows{shard: shard, shards: shards, names: map[int32]string{}}
}

// add calls fn, in order, with the rows of bt whose customer is in the
// shard.
func (s *shardRows) add(bt *dataset.Batch, fn func(dataset.Transaction) error) error {
	for i, k := range bt.Keys {
		if int(k) >= len(s.in) {
			s.in = append(s.in, make([]uint8, int(k)+1-len(s.in)+len(s.in)/2)...)
		}
		if s.in[k] == 0 {
			s.in[k] = 2
			if id := bt.Customer(i); ShardOf(id, s.shards) == s.shard {
				s.in[k], s.names[k] = 1, id
			}
		}
		if s.in[k] == 1 {
			if err := fn(dataset.Transaction{Customer: s.names[k], Time: bt.Times[i], Amount: bt.Amounts[i], Line: bt.Lines[i]}); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadONNX fetches a pinned ONNX file (sha256-checked) and loads it.
func (a *Activities) loadONNX(ctx context.Context, version string, ref artifacts.Ref) (*onnxrt.Model, error) {
	if err := a.ensureONNX(); err != nil {
		return nil, err
	}
	b, err := a.Store.GetBytes(ctx, ref)
	if err != nil {
		return nil, Classify(err)
	}
	m, err := onnxrt.Load(version, b, ref.SHA256)
	if err != nil {
		return nil, nonRetryable(ErrTypeIntegrity, fmt.Errorf("load %s: %w", version, err))
	}
	return m, nil
}

// putParquet stores predictions as a Parquet file under dir.
func (a *Activities) putParquet(ctx context.Context, dir string, preds []scoring.Prediction, version string) (artifacts.Ref, error) {
	var buf bytes.Buffer
	if err := scoring.WriteParquet(&buf, preds, version); err != nil {
		return artifacts.Ref{}, nonRetryable(ErrTypeBadData, err)
	}
	ref, err := a.Store.PutBytes(ctx, a.Buckets.Models, dir, buf.Bytes(), artifacts.PutOptions{ContentType: "application/vnd.apache.parquet", Filename: "scores.parquet"})
	return ref, Classify(err)
}

// readParquet reads a stored scores Parquet file back.
func (a *Activities) readParquet(ctx context.Context, ref artifacts.Ref) ([]scoring.Row, error) {
	b, err := a.Store.GetBytes(ctx, ref)
	if err != nil {
		return nil, Classify(err)
	}
	rows, err := scoring.ReadParquet(b)
	if err != nil {
		return nil, nonRetryable(ErrTypeIntegrity, err)
	}
	return rows, nil
}

var errNoTrainingFeatures = errors.New("the version records no training features (artifact \"features\"): no drift reference")

// versionFeatures reads the training features a version was fitted on.
// release gives the set back to the worker's feature cache.
func (a *Activities) versionFeatures(ctx context.Context, v registry.Version) (*features.Set, func(), error) {
	ref, ok := v.Artifacts["features"]
	if !ok {
		return nil, nil, nonRetryable(ErrTypeNotFound, errNoTrainingFeatures)
	}
	set, _, _, release, err := a.loadFeatures(ctx, ref, artifacts.Ref{})
	return set, release, err
}
