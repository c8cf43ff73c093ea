package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/clvflow/clvflow/scoring"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/internal/searchattr"
	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/encoding/protojson"
)

// pipelineEnv makes the gate permissive: these tests check the platform's
// mechanics on few epochs, not model quality (the modelling packages and
// the backtest check that).
func pipelineEnv(t *testing.T) {
	setTestGate(t, looseTestGate)
}

type trainStarted struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
}

// startTrain starts a pipeline on the demo file; extra flags override the
// defaults (the last value of a flag wins).
func startTrain(t *testing.T, seed int, extra ...string) trainStarted {
	t.Helper()
	args := append([]string{"train", "--input", demoFile(t), "--format", "cdnow", "--cutoff", "1997-09-30", "--horizon-days", "273",
		"--models", "naive,bgnbd,ziln", "--max-epochs", "3", "--seed", fmt.Sprint(seed), "--json"}, extra...)
	out, _, err := clvflow(t, args...)
	if err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	var st trainStarted
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("train --json output %q: %v", out, err)
	}
	return st
}

func waitApproval(t *testing.T, id string) string {
	t.Helper()
	out, _, err := clvflow(t, "status", id, "--wait-for-approval", "--timeout", "8m")
	if err != nil {
		st, _, _ := clvflow(t, "status", id) // what the run is doing (a result would wait for its end)
		t.Fatalf("waiting for approval: %v\n%s", err, st)
	}
	return strings.TrimSpace(out)
}

func result(t *testing.T, id string) workflows.PipelineResult {
	t.Helper()
	out, _, err := clvflow(t, "result", id, "--json")
	if err != nil {
		t.Fatalf("result: %v\n%s", err, out)
	}
	var r struct {
		Result workflows.PipelineResult `json:"result"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	return r.Result
}

// TestIntegrationPipelineApproveRollback runs the whole pipeline twice on
// the real stack, approves both (champion v1, then v2), rolls back, and
// checks the alias history holds all three moves with their actors.
func TestIntegrationPipelineApproveRollback(t *testing.T) {
	s := newStack(t, true)
	pipelineEnv(t)

	first := startTrain(t, 42)
	v1 := waitApproval(t, first.WorkflowID)
	// A key outside the allowed signers is refused by the Update validator.
	if _, _, err := clvflow(t, "approve", v1, "--approver", "mallory", "--key", keyOf(t, "mallory")); err == nil || !strings.Contains(err.Error(), "not in the worker's allowed signers") {
		t.Fatalf("mallory's approval: %v", err)
	}
	if out, _, err := clvflow(t, "approve", v1, "--approver", "alice", "--comment", "first model"); err != nil {
		t.Fatalf("approve: %v %s", err, out)
	}
	r1 := result(t, first.WorkflowID)
	if r1.Outcome != workflows.OutcomePromoted || r1.ChampionAfter != v1 {
		t.Fatalf("first run: %+v", r1)
	}
	for _, m := range []string{"naive", "bgnbd", "ziln"} {
		if _, ok := r1.Metrics[m]; !ok {
			t.Errorf("metrics of %s missing: %v", m, r1.Metrics)
		}
	}
	if r1.Parity == nil || !r1.Parity.Passed {
		t.Fatalf("parity: %+v", r1.Parity)
	}
	checkDatasetIdentity(t, s, first.WorkflowID, v1, r1)

	// The champion scores customers from a transaction file.
	out, _, err := clvflow(t, "predict", "--model", "champion", "--input", demoFile(t), "--format", "cdnow", "--cutoff", "1997-09-30", "--json")
	if err != nil {
		t.Fatalf("predict: %v", err)
	}
	var scored struct {
		ModelVersion string               `json:"model_version"`
		Customers    int                  `json:"customers"`
		Predictions  []scoring.Prediction `json:"predictions"`
	}
	if err := json.Unmarshal([]byte(out), &scored); err != nil {
		t.Fatal(err)
	}
	if scored.ModelVersion != v1 || scored.Customers != 23570 || len(scored.Predictions) != 23570 {
		t.Fatalf("predict: version %s, %d customers", scored.ModelVersion, scored.Customers)
	}
	deciles := map[int]int{}
	for i, p := range scored.Predictions {
		if p.ExpectedValue < 0 || p.PurchaseProbability < 0 || p.PurchaseProbability > 1 {
			t.Fatalf("bad prediction %+v", p)
		}
		if i > 0 && p.ExpectedValue > scored.Predictions[i-1].ExpectedValue {
			t.Fatal("predictions must be sorted by expected value, highest first")
		}
		deciles[p.Decile]++
	}
	if len(deciles) != 10 || deciles[1] != 2357 {
		t.Errorf("deciles %v", deciles)
	}

	// The second run uses a 91-day horizon, which leaves room for the
	// default 6 earlier training snapshots (the 273-day one leaves none).
	second := startTrain(t, 7, "--cutoff", "1998-03-31", "--horizon-days", "91")
	v2 := waitApproval(t, second.WorkflowID)
	if v2 == v1 {
		t.Fatalf("second run registered the same version %s", v2)
	}
	if _, _, err := clvflow(t, "approve", v2, "--approver", "bob", "--key", keyOf(t, "bob")); err != nil {
		t.Fatal(err)
	}
	r2 := result(t, second.WorkflowID)
	if r2.ChampionBefore != v1 || r2.ChampionAfter != v2 {
		t.Fatalf("second run: champion %s → %s", r2.ChampionBefore, r2.ChampionAfter)
	}
	if _, ok := r2.Metrics["champion"]; !ok {
		t.Errorf("the champion must be scored on the same test customers: %v", r2.Metrics)
	}

	out, _, err = clvflow(t, "rollback", "--approver", "carol", "--key", keyOf(t, "carol"), "--reason", "revenue dip", "--json")
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if os.Getenv("CLVFLOW_RECORD_HISTORIES") != "" {
		tc, err := client.Dial(client.Options{HostPort: os.Getenv("CLVFLOW_TEMPORAL_ADDRESS"), Logger: quietLogger{}})
		if err != nil {
			t.Fatal(err)
		}
		recordHistory(t, tc, first.WorkflowID, "pipeline-approved")
		var rb struct {
			WorkflowID string `json:"workflow_id"`
		}
		_ = json.Unmarshal([]byte(out), &rb)
		recordHistory(t, tc, rb.WorkflowID, "rollback")
		tc.Close()
	}
	if !strings.Contains(out, `"to": "`+v1+`"`) {
		t.Fatalf("rollback output: %s", out)
	}
	out, _, err = clvflow(t, "models", "history", "champion", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var hist []struct {
		From, To, Actor string
	}
	if err := json.Unmarshal([]byte(out), &hist); err != nil {
		t.Fatalf("history json %q: %v", out, err)
	}
	want := []struct{ From, To, Actor string }{{"", v1, "alice"}, {v1, v2, "bob"}, {v2, v1, "carol"}}
	if len(hist) != len(want) {
		t.Fatalf("history %+v, want %+v", hist, want)
	}
	for i := range want {
		if hist[i].From != want[i].From || hist[i].To != want[i].To || hist[i].Actor != want[i].Actor {
			t.Errorf("history[%d] = %+v, want %+v", i, hist[i], want[i])
		}
	}
	// The registry keeps the lineage of what it promoted.
	out, _, err = clvflow(t, "models", "show", v1, "--json")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{first.WorkflowID, `"onnx"`, `"gate"`, `"seed": 42`} {
		if !strings.Contains(out, want) {
			t.Errorf("models show %s lacks %s", v1, want)
		}
	}
	if strings.Contains(out, "features_snapshot_") {
		t.Errorf("models show %s: the 273-day run has training snapshots", v1)
	}
	// v2 learned from 6 earlier snapshots; the registry keeps each one.
	out, _, err = clvflow(t, "models", "show", v2, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var show struct {
		Version struct {
			HyperParams struct {
				TrainingRows      int      `json:"training_rows"`
				TrainingSnapshots []string `json:"training_snapshots"`
			} `json:"hyper_params"`
			Artifacts map[string]json.RawMessage `json:"artifacts"`
			Labels    map[string]string          `json:"labels"`
		} `json:"version"`
	}
	if err := json.Unmarshal([]byte(out), &show); err != nil {
		t.Fatalf("models show %s: %v", v2, err)
	}
	shown := show.Version
	snaps := shown.HyperParams.TrainingSnapshots
	if len(snaps) != 6 || snaps[0] != "1997-12-30" || shown.Labels["training_snapshots"] != "6" {
		t.Fatalf("v2 snapshots %v, label %q; want 6 from 1997-12-30 back", snaps, shown.Labels["training_snapshots"])
	}
	for _, c := range snaps {
		if _, ok := shown.Artifacts["features_snapshot_"+c]; !ok {
			t.Errorf("v2 lacks the artifact of snapshot %s: %v", c, shown.Artifacts)
		}
	}
	if shown.HyperParams.TrainingRows <= r2.TestCustomers*4 {
		t.Errorf("v2 trained on %d rows: snapshots add rows to the training customers'", shown.HyperParams.TrainingRows)
	}
}

// checkDatasetIdentity: `models show` and the ONNX file's metadata name the
// same raw and clean dataset, and they are the run's: the raw one is the
// demo file as ingested (its sha256 is the file's), the clean one what
// validation made of it.
func checkDatasetIdentity(t *testing.T, s *stack, workflowID, version string, res workflows.PipelineResult) {
	t.Helper()
	v := showVersion(t, version)
	ds := v.Dataset
	file, err := os.ReadFile(demoFile(t))
	if err != nil {
		t.Fatal(err)
	}
	if ds.Raw.SHA256 != onnxrt.SHA256Hex(file) || ds.Raw != res.RawDataset {
		t.Errorf("registry raw dataset %+v, want the demo file's sha256 %s and the run's %+v", ds.Raw, onnxrt.SHA256Hex(file), res.RawDataset)
	}
	if ds.Clean.SHA256 == "" || ds.Clean.SHA256 == ds.Raw.SHA256 || ds.Clean != res.CleanDataset {
		t.Errorf("registry clean dataset %+v, want the run's %+v (and not the raw file)", ds.Clean, res.CleanDataset)
	}
	onnx, err := s.store(t).GetBytes(context.Background(), v.ONNX)
	if err != nil {
		t.Fatal(err)
	}
	md, err := onnxrt.ReadMetadata(onnx)
	if err != nil {
		t.Fatal(err)
	}
	if md.RawDatasetSHA256 != ds.Raw.SHA256 || md.CleanDatasetSHA256 != ds.Clean.SHA256 {
		t.Errorf("ONNX metadata names raw %s / clean %s, the registry raw %s / clean %s",
			md.RawDatasetSHA256, md.CleanDatasetSHA256, ds.Raw.SHA256, ds.Clean.SHA256)
	}
	tc, err := client.Dial(client.Options{HostPort: s.temporal.Address, Namespace: s.temporal.Namespace, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	desc, err := tc.DescribeWorkflow(context.Background(), workflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := desc.TypedSearchAttributes.GetKeyword(temporal.NewSearchAttributeKeyKeyword(searchattr.Dataset)); got != ds.Raw.SHA256 {
		t.Errorf("search attribute %s = %q, want the raw dataset's sha256 %s", searchattr.Dataset, got, ds.Raw.SHA256)
	}
	text, _, err := clvflow(t, "models", "show", version)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{ds.Raw.SHA256, ds.Clean.SHA256} {
		if !strings.Contains(text, h) {
			t.Errorf("models show %s does not print dataset hash %s:\n%s", version, h, text)
		}
	}
}

// waitCheckpoint waits until the training activity of kind has heartbeated
// a stored checkpoint and returns its epoch; the run must still be going.
func waitCheckpoint(t *testing.T, tc client.Client, run client.WorkflowRun, kind string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for {
		if ctx.Err() != nil {
			t.Fatalf("training %s never reported a checkpoint", kind)
		}
		desc, err := tc.DescribeWorkflow(ctx, run.GetID(), run.GetRunID())
		if err != nil {
			t.Fatal(err)
		}
		d := desc.RawResponse
		for _, pa := range d.GetPendingActivities() {
			if pa.GetActivityType().GetName() != "TrainModel" || pa.GetHeartbeatDetails() == nil {
				continue
			}
			var p activities.TrainProgress
			if err := json.Unmarshal(pa.GetHeartbeatDetails().GetPayloads()[0].GetData(), &p); err == nil && p.Kind == kind && p.Checkpoint.Key != "" {
				return p.Epoch
			}
		}
		if d.GetWorkflowExecutionInfo().GetCloseTime() != nil {
			t.Fatal("pipeline finished before the fault could be injected; raise MaxEpochs")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// clvflowBinary returns the built CLI (make test sets CLVFLOW_BIN), or
// builds one.
func clvflowBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CLVFLOW_BIN"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "clvflow")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/clvflow")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startWorkerProcess(t *testing.T, bin string, logName string, args ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), logName))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"worker", "--log-level", "warn"}, args...)...) // a later --log-level wins
	cmd.Env = os.Environ()                                                                  // carries the test's CLVFLOW_* settings
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	return cmd
}

// TestIntegrationTrainingSurvivesWorkerKill kills the worker process with
// SIGKILL while the network trains, starts a new one, and checks that the
// pipeline completes, training resumed from a checkpoint (not epoch 0), and
// the registered ONNX file is byte-identical to an undisturbed run.
func TestIntegrationTrainingSurvivesWorkerKill(t *testing.T) {
	s := newStack(t, false)
	pipelineEnv(t)
	bin := clvflowBinary(t)
	first := startWorkerProcess(t, bin, "worker1.log")

	tc, err := client.Dial(client.Options{HostPort: s.temporal.Address, Namespace: s.temporal.Namespace, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	in := workflows.PipelineInput{
		Input:  activities.IngestInput{Path: demoFile(t), Format: "cdnow"},
		Cutoff: "1997-09-30", HorizonDays: 273, SeqWeeks: 52, TestFraction: 0.2, Seed: 42,
		Models: []string{"bgnbd", "seq"}, MaxEpochs: 16, MaxRejectedFraction: 0.5,
		AutoApproveAs:         "ci",
		ApprovalTimeout:       time.Hour,
		TrainHeartbeatTimeout: 5 * time.Second,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "train-durability-" + fmt.Sprint(time.Now().UnixNano()), TaskQueue: s.queue}, workflows.TrainingPipeline, in)
	if err != nil {
		t.Fatal(err)
	}
	seenEpoch := waitCheckpoint(t, tc, run, "seq")
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	t.Logf("worker killed after epoch %d had a checkpoint", seenEpoch)
	startWorkerProcess(t, bin, "worker2.log")

	var disturbed workflows.PipelineResult
	if err := run.Get(ctx, &disturbed); err != nil {
		t.Fatalf("pipeline after the kill: %v", err)
	}
	var resumed int
	for _, tr := range disturbed.Trained {
		if tr.Kind == "seq" {
			resumed = tr.ResumedFromEpoch
		}
	}
	if resumed == 0 {
		t.Fatalf("training restarted from epoch 0 instead of resuming from a checkpoint: %+v", disturbed.Trained)
	}

	// An undisturbed run with the same data and seed gives the same bytes.
	run2, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "train-undisturbed-" + fmt.Sprint(time.Now().UnixNano()), TaskQueue: s.queue}, workflows.TrainingPipeline, in)
	if err != nil {
		t.Fatal(err)
	}
	var undisturbed workflows.PipelineResult
	if err := run2.Get(ctx, &undisturbed); err != nil {
		t.Fatal(err)
	}
	if disturbed.ONNX == nil || undisturbed.ONNX == nil {
		t.Fatalf("missing ONNX refs: %+v / %+v", disturbed.ONNX, undisturbed.ONNX)
	}
	if disturbed.ONNX.SHA256 != undisturbed.ONNX.SHA256 {
		t.Fatalf("ONNX differs after resume: %s vs %s", disturbed.ONNX.SHA256, undisturbed.ONNX.SHA256)
	}
	t.Logf("resumed from epoch %d; ONNX sha256 %s identical", resumed, disturbed.ONNX.SHA256)
	recordHistory(t, tc, run.GetID(), "pipeline-worker-killed")
}

// recordHistory saves a finished run's event history for the replay tests
// in workflows/testdata/histories when CLVFLOW_RECORD_HISTORIES names a
// directory (run by hand after changing workflow code on purpose:
// CLVFLOW_RECORD_HISTORIES=$PWD/workflows/testdata/histories go test ...).
func recordHistory(t *testing.T, tc client.Client, workflowID, name string) {
	t.Helper()
	dir := os.Getenv("CLVFLOW_RECORD_HISTORIES")
	if dir == "" {
		return
	}
	var events []*historypb.HistoryEvent
	it := tc.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&historypb.History{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	// The workflow id is not in the events; replays need it (decisions are
	// signed for one workflow).
	if err := os.WriteFile(filepath.Join(dir, name+".workflow-id"), []byte(workflowID+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d events of %s into %s", len(events), workflowID, name)
}

// showVersion returns the registry entry of version from `models show --json`.
func showVersion(t *testing.T, version string) registry.Version {
	t.Helper()
	out, _, err := clvflow(t, "models", "show", version, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var show struct {
		Version registry.Version `json:"version"`
	}
	if err := json.Unmarshal([]byte(out), &show); err != nil {
		t.Fatalf("models show %s: %v", version, err)
	}
	return show.Version
}
