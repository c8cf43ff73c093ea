package activities_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
	"go.temporal.io/sdk/testsuite"
)

// featurizeSharded runs the sharded path (ShardLog, FeaturizeShard per
// shard, MergeFeatures) and checks what ShardLog wrote: every row in the
// shard of its customer, all rows of the clean log once.
func featurizeSharded(t *testing.T, env *testsuite.TestActivityEnvironment, a *activities.Activities, st *artifacts.Store,
	in activities.FeaturizeInput, shards int, accepted int64) activities.FeaturizeResult {
	t.Helper()
	log := mustRun[activities.ShardLogResult](t, env, a.ShardLog, activities.ShardLogInput{Featurize: in, Shards: shards})
	if len(log.Shards) != shards || len(log.Rows) != shards {
		t.Fatalf("%d shards, %d row counts, want %d", len(log.Shards), len(log.Rows), shards)
	}
	var rows int64
	for i, ref := range log.Shards {
		recs := shardRecords(t, st, ref)
		if int64(len(recs)) != log.Rows[i] || log.Rows[i] == 0 {
			t.Fatalf("shard %d holds %d rows, result says %d (want > 0)", i, len(recs), log.Rows[i])
		}
		for _, r := range recs {
			if got := activities.ShardOf(r[0], shards); got != i {
				t.Fatalf("customer %q is in shard %d, belongs in %d", r[0], i, got)
			}
		}
		rows += log.Rows[i]
	}
	if rows != accepted {
		t.Fatalf("shards hold %d rows, the clean log %d", rows, accepted)
	}
	results := make([]activities.FeaturizeShardResult, shards)
	for i := range results {
		results[i] = mustRun[activities.FeaturizeShardResult](t, env, a.FeaturizeShard, activities.FeaturizeShardInput{
			Featurize: in, Log: log.Shards[i], Rows: log.Rows[i], Shard: i, ShardPlan: log.ShardPlan})
	}
	return mustRun[activities.FeaturizeResult](t, env, a.MergeFeatures, activities.MergeFeaturesInput{Featurize: in, Shards: results, ShardPlan: log.ShardPlan})
}

// shardRecords reads a shard's rows (header checked and dropped).
func shardRecords(t *testing.T, st *artifacts.Store, ref artifacts.Ref) [][]string {
	t.Helper()
	b, err := st.GetBytes(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil || len(recs) == 0 || strings.Join(recs[0], ",") != "customer,timestamp,amount" {
		t.Fatalf("shard %s: %v, header %v", ref.Key, err, recs[:min(1, len(recs))])
	}
	return recs[1:]
}

// sameFeaturized checks that the sharded result equals the single path's in
// every field: the refs carry the sha256 of the features, the split and each
// snapshot, so equal refs are byte-identical artifacts. Only the split
// document's object version differs: the second run writes the same bytes
// to the same key again (as a second Featurize does).
func sameFeaturized(t *testing.T, sharded, single activities.FeaturizeResult) {
	t.Helper()
	if sharded.Features.SHA256 == "" || sharded.Split.SHA256 == "" {
		t.Fatalf("sharded result lacks artifacts: %+v", sharded)
	}
	sharded.Split.VersionID = single.Split.VersionID
	if !reflect.DeepEqual(sharded, single) {
		t.Fatalf("sharded featurize differs from the single path:\nsharded %+v\nsingle  %+v", sharded, single)
	}
}

// TestFeaturizeShardedEqualsSingle: four shards of the CDNOW sample,
// featurized one by one and merged, give the single Featurize's features
// file (same sha256), split document and result.
func TestFeaturizeShardedEqualsSingle(t *testing.T) {
	f := newFixture(t)
	env := newEnv(t, f.acts)
	ing := mustRun[activities.IngestResult](t, env, f.acts.IngestDataset, activities.IngestInput{Path: demoPath(t)})
	val := mustRun[activities.ValidateResult](t, env, f.acts.ValidateDataset, activities.ValidateInput{Dataset: ing.Dataset, Format: ing.Format})
	for _, in := range []activities.FeaturizeInput{
		{Clean: val.Clean, Cutoff: "1997-09-30", DataEnd: val.MaxTime, HorizonDays: 273, TestFraction: 0.2, Seed: 42, Snapshots: 6},
		{Clean: val.Clean, AsOf: "1998-03-31", DataEnd: val.MaxTime, HorizonDays: 91, SeqWeeks: 26, TestFraction: 0.5, Seed: 3, Snapshots: 2, SnapshotStepDays: 30},
		{Clean: val.Clean, Cutoff: "1997-09-30", DataEnd: val.MaxTime, HorizonDays: 273, TestFraction: 0.2, Seed: 42, Snapshots: 2, Models: []string{"naive", "ziln"}},
	} {
		t.Run(fmt.Sprintf("cutoff %s as-of %s models %v", in.Cutoff, in.AsOf, in.Models), func(t *testing.T) {
			single := mustRun[activities.FeaturizeResult](t, env, f.acts.Featurize, in)
			sharded := featurizeSharded(t, env, f.acts, f.store, in, 4, val.Accepted)
			sameFeaturized(t, sharded, single)
			if set := readFeatures(t, f.store, single.Features); set.HasSequences() != (in.Models == nil) {
				t.Errorf("models %v: features with sequences %v", in.Models, set.HasSequences())
			}
			if single.Customers != 23570 {
				t.Errorf("%d customers, want CDNOW's 23570", single.Customers)
			}
			if st := single.Stats; in.AsOf == "" && (st.Transactions != val.Accepted || st.Calibration+st.Holdout+st.AfterHorizon != st.Transactions || st.Holdout == 0) {
				t.Errorf("stats %+v, want the %d accepted rows split by period", st, val.Accepted)
			}
			if in.AsOf != "" && len(single.Snapshots) != 2 {
				t.Errorf("%d snapshots, want 2", len(single.Snapshots))
			}
		})
	}
}

// TestFeaturizeShardedSpreadRows: customers' rows spread through the file
// (shuffled), ids of mixed kinds, and one customer whose first purchase is
// half a year before everyone else's: that first day decides how many
// snapshots fit, so it must be resolved from the whole log, not per shard.
func TestFeaturizeShardedSpreadRows(t *testing.T) {
	f := newFixture(t)
	env := newEnv(t, f.acts)
	r := rand.New(rand.NewPCG(1, 2))
	var rows []string
	for c := 0; c < 80; c++ {
		id := fmt.Sprint(c * 7)
		if c%3 == 0 {
			id = fmt.Sprintf("cust-%d", c)
		}
		for k := 0; k < 2+r.IntN(8); k++ {
			rows = append(rows, fmt.Sprintf("%s,2020-%02d-%02d,%d.%02d", id, 1+r.IntN(12), 1+r.IntN(28), 1+r.IntN(200), r.IntN(100)))
		}
	}
	rows = append(rows, "early,2019-06-01,10", "early,2020-03-01,5.5")
	r.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	ing := ingestText(t, f, "spread.csv", "customer,date,amount\n"+strings.Join(rows, "\n")+"\n")
	val := mustRun[activities.ValidateResult](t, env, f.acts.ValidateDataset, activities.ValidateInput{Dataset: ing.Dataset, Format: "csv"})
	if val.Accepted != int64(len(rows)) {
		t.Fatalf("validation accepted %d of %d rows", val.Accepted, len(rows))
	}
	in := activities.FeaturizeInput{Clean: val.Clean, DataEnd: val.MaxTime, HorizonDays: 60, SeqWeeks: 8, TestFraction: 0.25, Seed: 5, Snapshots: 12}
	single := mustRun[activities.FeaturizeResult](t, env, f.acts.Featurize, in)
	// From the early first day all 12 snapshots fit; from 2020-01-xx only 8.
	if len(single.Snapshots) != 12 {
		t.Fatalf("%d snapshots, want 12 (the test needs the early customer to matter)", len(single.Snapshots))
	}
	sameFeaturized(t, featurizeSharded(t, env, f.acts, f.store, in, 4, val.Accepted), single)
}

func TestFeaturizeShardedErrors(t *testing.T) {
	p := sharedPipeline(t)
	a := p.acts
	env := newEnv(t, a)
	in := activities.FeaturizeInput{Clean: p.validate.Clean, Cutoff: pipeCutoff, DataEnd: p.validate.MaxTime, HorizonDays: pipeHorizon, TestFraction: 0.2, Seed: 1}

	_, err := run[activities.ShardLogResult](t, env, a.ShardLog, activities.ShardLogInput{Featurize: in, Shards: 1})
	wantNonRetryable(t, err, activities.ErrTypeBadInput, "1 shards, want 2…256")
	_, err = run[activities.ShardLogResult](t, env, a.ShardLog, activities.ShardLogInput{Featurize: activities.FeaturizeInput{Clean: p.validate.Clean, HorizonDays: 30}, Shards: 2})
	wantNonRetryable(t, err, activities.ErrTypeBadInput, "no cutoff")

	log := mustRun[activities.ShardLogResult](t, env, a.ShardLog, activities.ShardLogInput{Featurize: in, Shards: 2})
	shard := mustRun[activities.FeaturizeShardResult](t, env, a.FeaturizeShard, activities.FeaturizeShardInput{
		Featurize: in, Log: log.Shards[0], Rows: log.Rows[0], Shard: 0, ShardPlan: activities.ShardPlan{Cutoff: log.Cutoff}})
	// The same shard twice: its customers would be counted twice.
	_, err = run[activities.FeaturizeResult](t, env, a.MergeFeatures, activities.MergeFeaturesInput{Featurize: in, Shards: []activities.FeaturizeShardResult{shard, shard}, ShardPlan: activities.ShardPlan{Cutoff: log.Cutoff}})
	wantNonRetryable(t, err, activities.ErrTypeBadData, "a customer is in two parts")
	_, err = run[activities.FeaturizeResult](t, env, a.MergeFeatures, activities.MergeFeaturesInput{Featurize: in, Shards: []activities.FeaturizeShardResult{shard}, ShardPlan: activities.ShardPlan{Cutoff: log.Cutoff, SnapshotCutoffs: []string{"1997-01-01"}}})
	wantNonRetryable(t, err, activities.ErrTypeBadInput, "shard 0 has 0 snapshots, want 1")
	_, err = run[activities.FeaturizeShardResult](t, env, a.FeaturizeShard, activities.FeaturizeShardInput{
		Featurize: in, Log: missing(log.Shards[1]), Rows: log.Rows[1], Shard: 1, ShardPlan: activities.ShardPlan{Cutoff: log.Cutoff}})
	wantNonRetryable(t, err, activities.ErrTypeNotFound)

	u := unreachable(t)
	_, err = run[activities.ShardLogResult](t, newEnv(t, u), u.ShardLog, activities.ShardLogInput{Featurize: in, Shards: 2})
	wantRetryable(t, err, refusedCause)
	_, err = run[activities.FeaturizeResult](t, newEnv(t, u), u.MergeFeatures, activities.MergeFeaturesInput{Featurize: in, Shards: []activities.FeaturizeShardResult{shard}, ShardPlan: activities.ShardPlan{Cutoff: log.Cutoff}})
	wantRetryable(t, err, refusedCause)
}
