package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/workflows"
	"go.temporal.io/sdk/client"
)

// outageInput is a run whose network trains long enough to be interrupted,
// waiting for alice's approval.
func outageInput(t *testing.T) workflows.PipelineInput {
	return workflows.PipelineInput{
		Input:  activities.IngestInput{Path: demoFile(t), Format: "cdnow"},
		Cutoff: "1997-09-30", HorizonDays: 273, SeqWeeks: 52, TestFraction: 0.2, Seed: 42,
		Models: []string{"bgnbd", "seq"}, MaxEpochs: 16, MaxRejectedFraction: 0.5,
		Approvers:             []string{"alice"},
		ApprovalTimeout:       time.Hour,
		TrainHeartbeatTimeout: 5 * time.Second,
		RetryBudget:           10 * time.Minute,
	}
}

// approveAndWait waits for the run's approval request, approves it as
// alice through the CLI and returns the run's result.
func approveAndWait(t *testing.T, run client.WorkflowRun) workflows.PipelineResult {
	t.Helper()
	version := waitApproval(t, run.GetID())
	if out, _, err := clvflow(t, "approve", version, "--approver", "alice", "--comment", "after the outage"); err != nil {
		t.Fatalf("approve %s: %v\n%s", version, err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var res workflows.PipelineResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("run %s: %v", run.GetID(), err)
	}
	return res
}

// TestIntegrationMinIOOutageDuringTraining is the experiment of the
// durability issue: MinIO is killed while a network trains and restarted
// 20 s later; the run waits through it, reaches approval, promotes once
// approved, and exports the same ONNX bytes as an undisturbed run. The
// registry holds one version for the run and a gap-free alias history.
func TestIntegrationMinIOOutageDuringTraining(t *testing.T) {
	m := testenv.StartOwnMinIO(t)
	s := newStackOn(t, &m.MinIOServer, true)
	pipelineEnv(t)
	tc, err := client.Dial(client.Options{HostPort: s.temporal.Address, Namespace: s.temporal.Namespace, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	start := func(name string) client.WorkflowRun {
		run, err := tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
			ID: fmt.Sprintf("train-%s-%d", name, time.Now().UnixNano()), TaskQueue: s.queue}, workflows.TrainingPipeline, outageInput(t))
		if err != nil {
			t.Fatal(err)
		}
		return run
	}

	undisturbed := approveAndWait(t, start("undisturbed"))

	run := start("minio-outage")
	epoch := waitCheckpoint(t, tc, run, "seq")
	m.Kill()
	t.Logf("MinIO killed while seq trained (checkpoint of epoch %d stored); restarting it in 20 s", epoch)
	time.Sleep(20 * time.Second) // the outage itself, not a synchronisation
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	disturbed := approveAndWait(t, run)

	if disturbed.Outcome != workflows.OutcomePromoted || disturbed.ChampionAfter != disturbed.Version {
		t.Fatalf("after the outage: outcome %s, champion %s → %s (version %s)", disturbed.Outcome, disturbed.ChampionBefore, disturbed.ChampionAfter, disturbed.Version)
	}
	if disturbed.ONNX == nil || undisturbed.ONNX == nil || disturbed.ONNX.SHA256 != undisturbed.ONNX.SHA256 {
		t.Fatalf("ONNX after the outage %+v, undisturbed %+v: want the same bytes", disturbed.ONNX, undisturbed.ONNX)
	}
	for _, tr := range disturbed.Trained {
		if tr.Kind == "seq" {
			t.Logf("seq resumed from epoch %d after the outage", tr.ResumedFromEpoch)
		}
	}
	t.Logf("ONNX sha256 %s identical to the undisturbed run's", disturbed.ONNX.SHA256)
	checkOneVersionPerRun(t, run.GetID())
	checkGapFreeHistory(t, []string{workflows.AliasChampion, workflows.AliasCandidate})
}

// TestIntegrationTemporalRestartDuringApproval: the Temporal server is
// killed and restarted while a run waits for approval; the pending approval
// survives (the status query shows it), is given after the restart, and the
// run promotes.
func TestIntegrationTemporalRestartDuringApproval(t *testing.T) {
	ts := testenv.StartOwnTemporal(t)
	s := newStackWith(t, testenv.MinIO(t), &ts.TemporalServer, true)
	pipelineEnv(t)
	tc, err := client.Dial(client.Options{HostPort: s.temporal.Address, Namespace: s.temporal.Namespace, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	in := outageInput(t)
	in.MaxEpochs = 3
	run, err := tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: fmt.Sprintf("train-temporal-restart-%d", time.Now().UnixNano()), TaskQueue: s.queue}, workflows.TrainingPipeline, in)
	if err != nil {
		t.Fatal(err)
	}
	before := waitApproval(t, run.GetID())
	ts.Kill()
	if _, err := tc.DescribeWorkflow(context.Background(), run.GetID(), ""); err == nil {
		t.Fatal("the Temporal server still answers after it was killed")
	}
	if err := ts.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Temporal dev server killed and restarted while %s waited for approval of %s", run.GetID(), before)
	res := approveAndWait(t, run) // waits for the approval request again: the query is answered after the restart
	if res.Version != before || res.Outcome != workflows.OutcomePromoted || res.ChampionAfter != before {
		t.Fatalf("after the restart: version %s (awaited %s before), outcome %s, champion %s", res.Version, before, res.Outcome, res.ChampionAfter)
	}
	if res.Decision == nil || res.Decision.Approver != "alice" {
		t.Fatalf("decision %+v, want alice's", res.Decision)
	}
	checkOneVersionPerRun(t, run.GetID())
	checkGapFreeHistory(t, []string{workflows.AliasChampion, workflows.AliasCandidate})
}

// checkOneVersionPerRun: the registry holds exactly one version registered
// by the workflow.
func checkOneVersionPerRun(t *testing.T, workflowID string) {
	t.Helper()
	out, _, err := clvflow(t, "models", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []registry.VersionSummary
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if r.WorkflowID == workflowID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d versions registered by %s, want exactly 1", n, workflowID)
	}
}

// checkGapFreeHistory: each alias's history is numbered 1, 2, … and every
// move starts where the previous one ended.
func checkGapFreeHistory(t *testing.T, aliases []string) {
	t.Helper()
	for _, alias := range aliases {
		out, _, err := clvflow(t, "models", "history", alias, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var hist []registry.AliasEntry
		if err := json.Unmarshal([]byte(out), &hist); err != nil {
			t.Fatal(err)
		}
		for i, e := range hist {
			if e.Seq != int64(i+1) || (i > 0 && e.From != hist[i-1].To) {
				t.Errorf("%s history entry %d = %+v after %+v: not gap-free", alias, i, e, hist[max(i-1, 0)])
			}
		}
	}
}
