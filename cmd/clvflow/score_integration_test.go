package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/scoring"
	"github.com/clvflow/clvflow/synth"
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
	checkRealised(t, s, res, champion)
}

// checkRealised realises the scoring run at the end of the CDNOW data
// (1998-06-30, 273 days after 1997-09-30) and recomputes the recorded Gini
// and decile MAPE from the stored scores and the spend it reads from the
// file itself.
func checkRealised(t *testing.T, s *stack, res workflows.BatchScoreResult, champion string) {
	t.Helper()
	if _, _, err := clvflow(t, "realise", "--scores", res.Prefix, "--input", demoFile(t), "--format", "cdnow", "--horizon-days", "400"); err == nil ||
		!strings.Contains(err.Error(), "once the data covers the horizon") {
		t.Fatalf("realising before the horizon passed: %v", err)
	}
	out, _, err := clvflow(t, "realise", "--scores", res.Prefix, "--input", demoFile(t), "--format", "cdnow", "--horizon-days", "273", "--json")
	if err != nil {
		t.Fatalf("realise: %v\n%s", err, out)
	}
	var rec registry.Realised
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatal(err)
	}
	spend := cdnowSpend(t, demoFile(t), "19970930", "19980630")
	var pred, actual []float64
	for _, r := range readParts(t, s, res.Parts) {
		pred, actual = append(pred, r.ExpectedValue), append(actual, spend[r.CustomerID])
	}
	gini, _ := metrics.NormalizedGini(pred, actual)
	mape, _ := metrics.DecileMAPE(pred, actual)
	if rec.Version != champion || rec.Customers != len(pred) || math.Abs(rec.NormalizedGini-gini) > 1e-12 || math.Abs(rec.DecileMAPE-mape) > 1e-12 {
		t.Fatalf("recorded %+v; recomputed gini %.6f decile MAPE %.6f on %d customers", rec, gini, mape, len(pred))
	}
	decay, _, err := clvflow(t, "models", "decay")
	if err != nil || !strings.Contains(decay, champion) || !strings.Contains(decay, "1997-09-30") {
		t.Fatalf("models decay: %v\n%s", err, decay)
	}
	checkRealiseDue(t, s, champion)
}

// checkRealiseDue: the scheduled form finds nothing due over the horizon
// already realised, and realises the scoring run over a shorter one.
func checkRealiseDue(t *testing.T, s *stack, champion string) {
	t.Helper()
	tc := dialTest(t, s)
	for _, c := range []struct{ horizon, want int }{{273, 0}, {200, 1}} {
		in := workflows.RealiseDueInput{Input: activities.IngestInput{Path: demoFile(t), Format: "cdnow"}, HorizonDays: c.horizon, MaxRejectedFraction: 0.5}
		run, err := tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: fmt.Sprintf("realise-due-%d-%d", c.horizon, time.Now().UnixNano()), TaskQueue: s.queue}, workflows.RealiseDue, in)
		if err != nil {
			t.Fatal(err)
		}
		var res workflows.RealiseDueResult
		if err := run.Get(context.Background(), &res); err != nil {
			t.Fatalf("realise due over %d days: %v", c.horizon, err)
		}
		if len(res.Realised) != c.want || (c.want == 1 && (res.Realised[0].Version != champion || res.Realised[0].HorizonDays != 200)) {
			t.Fatalf("realise due over %d days recorded %+v, want %d record(s)", c.horizon, res.Realised, c.want)
		}
	}
}

// cdnowSpend sums, per customer, the amounts of a CDNOW master file
// ("id yyyymmdd quantity amount") on days in (after, until].
func cdnowSpend(t *testing.T, path, after, until string) map[string]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 4 || fields[1] <= after || fields[1] > until {
			continue
		}
		amount, err := strconv.ParseFloat(fields[3], 64)
		if err != nil {
			t.Fatal(err)
		}
		id := strings.TrimLeft(fields[0], "0")
		out[id] += amount
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
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

// readParts reads Parquet parts back from MinIO, in order.
func readParts(t *testing.T, s *stack, parts []artifacts.Ref) []scoring.Row {
	t.Helper()
	var out []scoring.Row
	for _, p := range parts {
		b, err := s.store(t).GetBytes(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := scoring.ReadParquet(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rows...)
	}
	return out
}

// readScores reads every Parquet part back and checks one row per customer.
func readScores(t *testing.T, s *stack, res workflows.BatchScoreResult) map[string]scoring.Row {
	t.Helper()
	out := map[string]scoring.Row{}
	for _, r := range readParts(t, s, res.Parts) {
		if _, dup := out[r.CustomerID]; dup {
			t.Fatalf("customer %s is in the output twice", r.CustomerID)
		}
		out[r.CustomerID] = r
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

// writeSynth writes a generated log with the default population, its
// purchase rate multiplied by rate.
func writeSynth(t *testing.T, customers int, seed uint64, rate float64) string {
	t.Helper()
	p := synth.DefaultParams()
	p.Alpha /= rate // λ ~ Gamma(r, α): halving α doubles the mean rate
	l, err := synth.Generate(customers, seed, p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("synth-%d-%g.csv", seed, rate))
	if err := l.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestIntegrationDriftStartsOneRetrain trains a champion on a generated
// population, then scores data drawn from the same population (no drift,
// no retrain) and data with twice the purchase rate (drift above the
// threshold: exactly one TrainingPipeline starts; a second drifted scoring
// finds it running and starts none).
func TestIntegrationDriftStartsOneRetrain(t *testing.T) {
	s := newStack(t, true)
	pipelineEnv(t)
	// PSI conventions: < 0.1 stable, 0.1–0.25 moderate, > 0.25 large. Twice
	// the purchase rate moves the repeat-count feature by about 0.1 on 3000
	// customers, so this test runs with a moderate-shift threshold.
	t.Setenv("CLVFLOW_DRIFT_PSI_THRESHOLD", "0.05")
	base := writeSynth(t, 3000, 7, 1)
	run := startTrain(t, 42, "--input", base, "--format", "csv", "--cutoff", "2022-12-31", "--horizon-days", "180", "--models", "bgnbd,ziln", "--max-epochs", "2", "--snapshots", "0")
	v := waitApproval(t, run.WorkflowID)
	if out, _, err := clvflow(t, "approve", v); err != nil {
		t.Fatalf("approve: %v %s", err, out)
	}
	if r := result(t, run.WorkflowID); r.Outcome != workflows.OutcomePromoted {
		t.Fatalf("training: %+v", r)
	}
	same := scoreJSON(t, writeSynth(t, 3000, 8, 1), 2)
	t.Logf("same population: max PSI %.4f (%s)", same.Drift.Max, same.Drift.MaxOf)
	if same.Drift.Drifted || same.Retrain != "" {
		t.Fatalf("data from the training population drifted: %+v", same.Drift)
	}
	shifted := writeSynth(t, 3000, 9, 2)
	first := scoreJSON(t, shifted, 2)
	t.Logf("twice the purchase rate: max PSI %.4f (%s)", first.Drift.Max, first.Drift.MaxOf)
	if !first.Drift.Drifted || first.Drift.Max <= 0.05 || first.Retrain == "" || strings.Contains(first.Retrain, "already") {
		t.Fatalf("twice the purchase rate: drift %+v, retrain %q", first.Drift, first.Retrain)
	}
	second := scoreJSON(t, shifted, 3)
	if !second.Drift.Drifted || !strings.Contains(second.Retrain, "already running") {
		t.Fatalf("a second drifted scoring started another retrain: %q", second.Retrain)
	}
	tc := dialTest(t, s)
	desc, err := tc.DescribeWorkflow(context.Background(), workflows.DriftRetrainWorkflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := workflows.DriftRetrainWorkflowID + "/" + desc.RawResponse.GetWorkflowExecutionInfo().GetExecution().GetRunId(); got != first.Retrain {
		t.Fatalf("the running retrain is %s, the scoring started %s", got, first.Retrain)
	}
	_ = tc.TerminateWorkflow(context.Background(), workflows.DriftRetrainWorkflowID, "", "test over")
}

// scoreJSON runs `clvflow score --wait --json` and returns the result.
func scoreJSON(t *testing.T, input string, shards int) workflows.BatchScoreResult {
	t.Helper()
	out, _, err := clvflow(t, "score", "--input", input, "--format", "csv", "--as-of", "2022-12-31", "--shards", fmt.Sprint(shards), "--wait", "--json")
	if err != nil {
		t.Fatalf("score %s: %v\n%s", input, err, out)
	}
	var r struct {
		Result workflows.BatchScoreResult `json:"result"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	return r.Result
}
