package activities_test

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/clvflow/clvflow/activities"
)

// peak runs fn and logs its time, rows/s and the process's peak memory
// (Go-mapped minus released, about the RSS; and the heap's objects), sampled
// every 10 ms.
func peak(t *testing.T, name string, rows int64, fn func()) {
	runtime.GC()
	debug.FreeOSMemory()
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	var mu sync.Mutex
	var maxRSS, maxLive uint64
	done := make(chan struct{})
	go func() {
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			metrics.Read(s)
			mu.Lock()
			maxRSS = max(maxRSS, s[0].Value.Uint64()-s[1].Value.Uint64())
			maxLive = max(maxLive, s[2].Value.Uint64())
			mu.Unlock()
			select {
			case <-done:
				return
			case <-tk.C:
			}
		}
	}()
	start := time.Now()
	fn()
	el := time.Since(start)
	close(done)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%-30s %7.2fs  %8.0f rows/s  peak mapped %5d MiB  peak heap objects %5d MiB", name, el.Seconds(), float64(rows)/el.Seconds(), maxRSS>>20, maxLive>>20)
}

// TestFeaturizeScale measures featurizing a large log whole and in 4
// shards, one activity at a time, and checks that both give the same
// features file (the figures in README "Scaling"):
//
//	bin/clvflow gen --customers 1000000 --seed 42 --output /tmp/tx_1m_gen.csv
//	CLVFLOW_SCALE_LOG=/tmp/tx_1m_gen.csv go test ./activities -run TestFeaturizeScale -v -timeout 30m
//
// CLVFLOW_SCALE_WANT_SHA256 (the whole log's features sha256 of an earlier
// run) skips the whole-log Featurize. Skipped without CLVFLOW_SCALE_LOG.
func TestFeaturizeScale(t *testing.T) {
	path := os.Getenv("CLVFLOW_SCALE_LOG")
	if path == "" {
		t.Skip("set CLVFLOW_SCALE_LOG to a generated log (clvflow gen) to measure featurizing at scale")
	}
	f := newFixture(t)
	env := newEnv(t, f.acts)
	var ing activities.IngestResult
	var val activities.ValidateResult
	peak(t, "ingest", 0, func() {
		ing = mustRun[activities.IngestResult](t, env, f.acts.IngestDataset, activities.IngestInput{Path: path, Format: "csv"})
	})
	peak(t, "validate", 0, func() {
		val = mustRun[activities.ValidateResult](t, env, f.acts.ValidateDataset, activities.ValidateInput{Dataset: ing.Dataset, Format: "csv", MaxRejectedFraction: 0.5})
	})
	t.Logf("accepted %d rows, %d customers, %s..%s", val.Accepted, val.Customers, val.MinTime, val.MaxTime)
	in := activities.FeaturizeInput{Clean: val.Clean, DataEnd: val.MaxTime, HorizonDays: 90, SeqWeeks: 52, TestFraction: 0.2, Seed: 42, Snapshots: 6, SnapshotStepDays: 28}
	var single activities.FeaturizeResult
	if w := os.Getenv("CLVFLOW_SCALE_WANT_SHA256"); w != "" {
		single.Features.SHA256 = w
	} else {
		peak(t, "Featurize (whole log)", val.Accepted, func() { single = mustRun[activities.FeaturizeResult](t, env, f.acts.Featurize, in) })
	}
	t.Logf("customers %d snapshots %d features %d bytes", single.Customers, len(single.Snapshots), single.Features.Size)
	const n = 4
	var log activities.ShardLogResult
	peak(t, "ShardLog (4 shards)", val.Accepted, func() {
		log = mustRun[activities.ShardLogResult](t, env, f.acts.ShardLog, activities.ShardLogInput{Featurize: in, Shards: n})
	})
	res := make([]activities.FeaturizeShardResult, n)
	for i := range n {
		peak(t, "FeaturizeShard "+string(rune('0'+i)), log.Rows[i], func() {
			res[i] = mustRun[activities.FeaturizeShardResult](t, env, f.acts.FeaturizeShard, activities.FeaturizeShardInput{
				Featurize: in, Log: log.Shards[i], Rows: log.Rows[i], Shard: i, ShardPlan: log.ShardPlan})
		})
	}
	var merged activities.FeaturizeResult
	peak(t, "MergeFeatures", val.Accepted, func() {
		merged = mustRun[activities.FeaturizeResult](t, env, f.acts.MergeFeatures, activities.MergeFeaturesInput{Featurize: in, Shards: res, ShardPlan: log.ShardPlan})
	})
	if merged.Features.SHA256 != single.Features.SHA256 {
		t.Fatalf("features differ: %s vs %s", merged.Features.SHA256, single.Features.SHA256)
	}
	t.Logf("same features sha256 %s", merged.Features.SHA256)
}
