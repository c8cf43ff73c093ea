package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"syscall"
	"testing"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/scoring"
	"github.com/clvflow/clvflow/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// promoteChampion trains on the demo data with a fast configuration and
// approves the version; it returns the version.
func promoteChampion(t *testing.T, seed int, extra ...string) string {
	t.Helper()
	args := append([]string{"--models", "bgnbd,ziln", "--max-epochs", "2", "--snapshots", "0"}, extra...)
	run := startTrain(t, seed, args...)
	v := waitApproval(t, run.WorkflowID)
	if out, _, err := clvflow(t, "approve", v, "--comment", "champion for scoring"); err != nil {
		t.Fatalf("approve %s: %v %s", v, err, out)
	}
	if r := result(t, run.WorkflowID); r.Outcome != workflows.OutcomePromoted {
		t.Fatalf("training run: %+v", r)
	}
	return v
}

// TestIntegrationBatchScore scores the demo data in 4 shards with a worker
// process that is killed (SIGKILL) while a shard runs and replaced: the
// Parquet output has one row per customer, the same values as `clvflow
// predict`, and a second identical run reuses it; the data the champion
// was trained on shows no drift.
func TestIntegrationBatchScore(t *testing.T) {
	s := newStack(t, false)
	pipelineEnv(t)
	bin := clvflowBinary(t)
	first := startWorkerProcess(t, bin, "worker1.log")
	champion := promoteChampion(t, 42)
	tc := dialTest(t, s)

	in := scoreTestInput(t, 4)
	run, err := tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: fmt.Sprintf("score-test-%d", time.Now().UnixNano()), TaskQueue: s.queue}, workflows.BatchScore, in)
	if err != nil {
		t.Fatal(err)
	}
	waitPendingActivity(t, tc, run, "ScoreShard")
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	startWorkerProcess(t, bin, "worker2.log")
	var res workflows.BatchScoreResult
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("scoring after the worker was killed: %v", err)
	}
	rows := readScores(t, s, res)
	checkAgainstPredict(t, rows, champion)
	if res.Drift.Drifted || res.Retrain != "" || res.Drift.Max > 0.01 {
		t.Fatalf("the champion's own training data drifted: %+v", res.Drift)
	}

	again, err := tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: fmt.Sprintf("score-test-again-%d", time.Now().UnixNano()), TaskQueue: s.queue}, workflows.BatchScore, in)
	if err != nil {
		t.Fatal(err)
	}
	var res2 workflows.BatchScoreResult
	if err := again.Get(ctx, &res2); err != nil || !res2.Reused || res2.Prefix != res.Prefix || len(res2.Parts) != 4 || res2.Parts[0] != res.Parts[0] {
		t.Fatalf("an identical run did not reuse the output: %v %+v", err, res2)
	}
}

func scoreTestInput(t *testing.T, shards int) workflows.BatchScoreInput {
	t.Helper()
	retrain := outageInput(t)
	return workflows.BatchScoreInput{Input: activities.IngestInput{Path: demoFile(t), Format: "cdnow"}, AsOf: "1997-09-30", Shards: shards,
		Segments: scoring.DefaultSegments(), PSIThreshold: 0.2, DriftAction: workflows.DriftRetrain, Retrain: &retrain,
		MaxRejectedFraction: 0.5, ShardHeartbeatTimeout: 3 * time.Second, RetryBudget: 5 * time.Minute}
}

// waitPendingActivity waits until an activity of the type has started.
func waitPendingActivity(t *testing.T, tc client.Client, run client.WorkflowRun, activity string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		desc, err := tc.DescribeWorkflow(context.Background(), run.GetID(), run.GetRunID())
		if err != nil {
			t.Fatal(err)
		}
		for _, pa := range desc.RawResponse.GetPendingActivities() {
			if pa.GetActivityType().GetName() == activity && pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
				return
			}
		}
		if desc.RawResponse.GetWorkflowExecutionInfo().GetCloseTime() != nil {
			t.Fatal("the run ended before the fault could be injected")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s activity started", activity)
}

// readScores reads every Parquet part back and checks one row per customer.
func readScores(t *testing.T, s *stack, res workflows.BatchScoreResult) map[string]scoring.Row {
	t.Helper()
	out := map[string]scoring.Row{}
	for _, p := range res.Parts {
		b, err := s.store(t).GetBytes(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := scoring.ReadParquet(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if _, dup := out[r.CustomerID]; dup {
				t.Fatalf("customer %s is in the output twice", r.CustomerID)
			}
			out[r.CustomerID] = r
		}
	}
	if len(out) != res.Customers || len(res.Parts) != 4 {
		t.Fatalf("%d distinct customers in %d parts, summary says %d", len(out), len(res.Parts), res.Customers)
	}
	return out
}

// checkAgainstPredict compares every row with `clvflow predict`: the same
// customers, model, decile and segment, and the same values up to the last
// float32 bit (ONNX Runtime's batched kernels may round the last bit
// differently when a customer is scored in another batch).
func checkAgainstPredict(t *testing.T, rows map[string]scoring.Row, champion string) {
	t.Helper()
	out, _, err := clvflow(t, "predict", "--model", "champion", "--input", demoFile(t), "--format", "cdnow", "--cutoff", "1997-09-30", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var pred struct {
		ModelVersion string               `json:"model_version"`
		Predictions  []scoring.Prediction `json:"predictions"`
	}
	if err := json.Unmarshal([]byte(out), &pred); err != nil {
		t.Fatal(err)
	}
	if pred.ModelVersion != champion || len(pred.Predictions) != len(rows) {
		t.Fatalf("predict scored %d customers with %s; batch %d", len(pred.Predictions), pred.ModelVersion, len(rows))
	}
	for _, p := range pred.Predictions {
		r := rows[p.CustomerID]
		if !closeF32(r.ExpectedValue, p.ExpectedValue) || !closeF32(r.PurchaseProbability, p.PurchaseProbability) ||
			(int(r.Decile) != p.Decile && r.ExpectedValue == p.ExpectedValue) || r.Segment != p.Segment && r.ExpectedValue == p.ExpectedValue || r.ModelVersion != champion {
			t.Fatalf("customer %s: batch %+v, predict %+v", p.CustomerID, r, p)
		}
	}
}

func closeF32(a, b float64) bool {
	return math.Abs(a-b) <= 1e-6*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}
