package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// TestIntegrationShardedFeaturize trains on the demo data with two worker
// processes, once featurized whole (featurize.shard_rows 0) and once with
// shard_rows small enough for 4 shards. Both runs go through featurize,
// train, evaluate, gate, export and register; the sharded one ran ShardLog,
// 4 FeaturizeShard activities and MergeFeatures (read from its history),
// and its features, split and training snapshots are the very same bytes
// (sha256) as the unsharded run's.
func TestIntegrationShardedFeaturize(t *testing.T) {
	s := newStack(t, false)
	pipelineEnv(t)
	bin := clvflowBinary(t)
	// One heavy activity per worker: Temporal must hand the 4 shards and the
	// 3 trainings to whichever worker has its slot free, never to one whose
	// slot is taken (which would then wait in the worker, and log it).
	t.Setenv("CLVFLOW_WORKER_MAX_HEAVY_ACTIVITIES", "1")
	workerLogs := []string{
		workerLog(startWorkerProcess(t, bin, "worker1.log", "--log-level", "info")),
		workerLog(startWorkerProcess(t, bin, "worker2.log", "--log-level", "info")),
	}
	tc := dialTest(t, s)
	// 69,659 accepted rows; 20,000 per shard makes 4 shards. The cutoff and
	// horizon leave room for two training snapshots.
	// startTrain's models (naive, bgnbd, ziln), one epoch.
	args := []string{"--max-epochs", "1", "--cutoff", "1998-03-31", "--horizon-days", "91", "--snapshots", "2"}
	t.Setenv("CLVFLOW_FEATURIZE_SHARD_ROWS", "0")
	whole := startTrain(t, 42, args...)
	t.Setenv("CLVFLOW_FEATURIZE_SHARD_ROWS", "20000")
	t.Setenv("CLVFLOW_FEATURIZE_MAX_SHARDS", "16")
	sharded := startTrain(t, 42, args...)

	wholeArts := featureArtifacts(t, waitApproval(t, whole.WorkflowID))
	version := waitApproval(t, sharded.WorkflowID)
	shardedArts := featureArtifacts(t, version)
	if len(wholeArts) != 4 { // features, split, 2 snapshots
		t.Fatalf("unsharded run registered feature artifacts %v, want features, split and 2 snapshots", wholeArts)
	}
	for role, sum := range wholeArts {
		if shardedArts[role] != sum {
			t.Errorf("%s: sharded sha256 %s, unsharded %s", role, shardedArts[role], sum)
		}
	}
	if len(shardedArts) != len(wholeArts) {
		t.Errorf("sharded run registered %v, unsharded %v", shardedArts, wholeArts)
	}

	wantCounts := map[string]map[string]int{
		whole.WorkflowID:   {"Featurize": 1, "ShardLog": 0, "FeaturizeShard": 0, "MergeFeatures": 0},
		sharded.WorkflowID: {"Featurize": 0, "ShardLog": 1, "FeaturizeShard": 4, "MergeFeatures": 1},
	}
	for id, want := range wantCounts {
		got, workers := activityCounts(t, tc, id)
		for name, n := range want {
			if got[name] != n {
				t.Errorf("%s scheduled %d %s activities, want %d (all: %v)", id, got[name], name, n, got)
			}
		}
		if got["TrainModel"] != 3 || got["RegisterVersion"] != 1 {
			t.Errorf("%s: %d TrainModel and %d RegisterVersion activities, want 3 and 1", id, got["TrainModel"], got["RegisterVersion"])
		}
		t.Logf("%s: FeaturizeShard ran on %v", id, workers)
	}
	// The sharded run completes once approved, and its result says so.
	if out, _, err := clvflow(t, "approve", version, "--comment", "sharded featurize"); err != nil {
		t.Fatalf("approve %s: %v %s", version, err, out)
	}
	if r := result(t, sharded.WorkflowID); r.Outcome != workflows.OutcomePromoted || r.FeaturizeShards != 4 {
		t.Fatalf("sharded run: outcome %q, %d featurize shards; want promoted, 4", r.Outcome, r.FeaturizeShards)
	}
	recordHistory(t, tc, sharded.WorkflowID, "pipeline-sharded")
	for _, path := range workerLogs {
		logText, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(logText), "clvflow worker started") {
			t.Fatalf("%s: no start line at info level (%v)", path, err)
		}
		if strings.Contains(string(logText), "waiting for a heavy-activity slot") {
			t.Errorf("%s: a heavy activity waited in a worker whose slot was taken", path)
		}
	}
}

// workerLog is the path of the log file of a worker process.
func workerLog(cmd *exec.Cmd) string { return cmd.Stdout.(*os.File).Name() }

// featureArtifacts returns the sha256 of the feature artifacts (features,
// split, features_snapshot_*) the registry recorded for version.
func featureArtifacts(t *testing.T, version string) map[string]string {
	t.Helper()
	arts := map[string]string{}
	for role, ref := range showVersion(t, version).Artifacts {
		if role == "features" || role == "split" || strings.HasPrefix(role, "features_snapshot_") {
			if ref.SHA256 == "" {
				t.Fatalf("%s %s has no sha256", version, role)
			}
			arts[role] = ref.SHA256
		}
	}
	return arts
}

// activityCounts counts the activities a run scheduled, by type, from its
// history, and returns the identities of the workers that started its
// FeaturizeShard activities.
func activityCounts(t *testing.T, tc client.Client, workflowID string) (map[string]int, []string) {
	t.Helper()
	counts := map[string]int{}
	shardScheduled := map[int64]bool{}
	var workers []string
	it := tc.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			counts[a.GetActivityType().GetName()]++
			if a.GetActivityType().GetName() == "FeaturizeShard" {
				shardScheduled[e.GetEventId()] = true
			}
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil && shardScheduled[a.GetScheduledEventId()] {
			workers = append(workers, a.GetIdentity())
		}
	}
	return counts, workers
}
