package workflows

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/policy"
	"github.com/clvflow/clvflow/registry"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// PipelineSuite drives TrainingPipeline through every branch with the
// activities mocked: the activities themselves are tested against real
// MinIO and Temporal in their own package and in the integration tests.
type PipelineSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env   *testsuite.TestWorkflowEnvironment
	a     *activities.Activities
	moves []activities.MoveAliasInput
	evts  []activities.EventInput
	// keys are SSH signing keys by name; the policy's allowed signers list
	// alice, bob and carol, not mallory.
	keys map[string]string
	pol  policy.Policy
}

func (s *PipelineSuite) SetupSuite() {
	dir := s.T().TempDir()
	s.keys = map[string]string{}
	var lines string
	for _, name := range []string{"alice", "bob", "carol", "mallory"} {
		s.keys[name] = filepath.Join(dir, name)
		pub, err := approval.WriteNewKey(s.keys[name], name)
		s.Require().NoError(err)
		if name != "mallory" {
			lines += approval.AllowedSignersLine(name, pub)
		}
	}
	signers := filepath.Join(dir, "allowed_signers")
	s.Require().NoError(os.WriteFile(signers, []byte(lines), 0o600))
	var err error
	s.pol, err = policy.FromConfig(registry.GateThresholds{MinGiniLift: 0, MaxChampionRegression: 0.02, MaxDecileMAPE: 0.5, ParityTolerance: 1e-4, MinTestCustomers: 100},
		signers, 72*time.Hour, true)
	s.Require().NoError(err)
}

// newActivities is the activities value every test registers: the policy
// is the suite's, the rest is mocked per test.
func (s *PipelineSuite) newActivities() *activities.Activities {
	return &activities.Activities{Policy: func() (policy.Policy, error) { return s.pol, nil }}
}

func TestPipelineSuite(t *testing.T) { suite.Run(t, new(PipelineSuite)) }

func ref(key string) artifacts.Ref {
	return artifacts.Ref{Bucket: "b", Key: key, SHA256: strings.Repeat("a", 64), Size: 10}
}

func baseInput() PipelineInput {
	return PipelineInput{
		Input:       activities.IngestInput{Path: "/data/tx.csv"},
		HorizonDays: 90, SeqWeeks: 52, TestFraction: 0.2, Seed: 42,
		Models:          []string{"naive", "bgnbd", "ziln"},
		Approvers:       []string{"alice", "bob"},
		ApprovalTimeout: 72 * time.Hour,
	}
}

// goodEval is an evaluation where ziln beats the baseline and the champion.
func goodEval(champion string) activities.EvaluateResult {
	m := map[string]metrics.Report{
		"naive": {NormalizedGini: 0.5, DecileMAPE: 0.6},
		"bgnbd": {NormalizedGini: 0.6, DecileMAPE: 0.4},
		"ziln":  {NormalizedGini: 0.7, DecileMAPE: 0.2},
	}
	if champion != "" {
		m["champion"] = metrics.Report{NormalizedGini: 0.69, DecileMAPE: 0.25}
	}
	return activities.EvaluateResult{Metrics: m, Challenger: "ziln", Baseline: "bgnbd", ChampionVersion: champion, TestCustomers: 500, Report: ref("eval")}
}

// setup mocks the happy path up to the approval; tests override pieces.
func (s *PipelineSuite) setup(eval activities.EvaluateResult, champion string, skip ...string) {
	skipped := map[string]bool{}
	for _, n := range skip {
		skipped[n] = true
	}
	on := func(name string) bool { return !skipped[name] }
	s.env = s.NewTestWorkflowEnvironment()
	s.a = s.newActivities()
	s.moves, s.evts = nil, nil
	s.env.RegisterActivity(s.a)
	if on("IngestDataset") {
		s.env.OnActivity(s.a.IngestDataset, mock.Anything, mock.Anything).Return(activities.IngestResult{Dataset: ref("raw"), Manifest: ref("manifest"), Format: "csv"}, nil)
	}
	if on("ValidateDataset") {
		s.env.OnActivity(s.a.ValidateDataset, mock.Anything, mock.Anything).Return(activities.ValidateResult{Clean: ref("clean"), Rows: 1000, Accepted: 990}, nil)
	}
	if on("Featurize") {
		s.env.OnActivity(s.a.Featurize, mock.Anything, mock.Anything).Return(activities.FeaturizeResult{Features: ref("feat"), Split: ref("split"), Cutoff: "2011-09-08", HorizonDays: 90, TestCustomers: 500}, nil)
	}
	if on("TrainModel") {
		s.env.OnActivity(s.a.TrainModel, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in activities.TrainInput) (activities.TrainResult, error) {
				return activities.TrainResult{Kind: in.Kind, Model: ref("model-" + in.Kind)}, nil
			})
	}
	if on("CurrentChampion") {
		s.env.OnActivity(s.a.CurrentChampion, mock.Anything, AliasChampion).Return(activities.ChampionInfo{Version: champion}, nil)
	}
	if on("Evaluate") {
		s.env.OnActivity(s.a.Evaluate, mock.Anything, mock.Anything).Return(eval, nil)
	}
	if on("ExportONNX") {
		s.env.OnActivity(s.a.ExportONNX, mock.Anything, mock.Anything).Return(activities.ExportResult{ONNX: ref("onnx"), Parity: registry.ParitySummary{Passed: true}}, nil)
	}
	if on("RegisterVersion") {
		s.env.OnActivity(s.a.RegisterVersion, mock.Anything, mock.Anything).Return("v7", nil)
	}
	if on("MoveAlias") {
		s.env.OnActivity(s.a.MoveAlias, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in activities.MoveAliasInput) (registry.AliasEntry, error) {
				s.moves = append(s.moves, in)
				return registry.AliasEntry{Alias: in.Alias, To: in.To}, nil
			})
	}
	if on("RecordEvent") {
		s.env.OnActivity(s.a.RecordEvent, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in activities.EventInput) error {
				s.evts = append(s.evts, in)
				return nil
			})
	}
	if on("Canary") {
		s.env.OnActivity(s.a.Canary, mock.Anything, mock.Anything).Return(activities.CanaryResult{Version: "v7", Rows: 256}, nil)
	}
	if on("DiscardArtifacts") {
		s.env.OnActivity(s.a.DiscardArtifacts, mock.Anything, mock.Anything).Return(activities.DiscardResult{}, nil)
	}
}

func (s *PipelineSuite) championMoves() []activities.MoveAliasInput {
	var out []activities.MoveAliasInput
	for _, m := range s.moves {
		if m.Alias == AliasChampion {
			out = append(out, m)
		}
	}
	return out
}

func (s *PipelineSuite) eventTypes() []string {
	var out []string
	for _, e := range s.evts {
		out = append(out, e.Version+":"+string(e.Type)+":"+e.Actor)
	}
	return out
}

// decide sends d as an approval Update after a delay, signed by the key of
// d.Approver for the pending approval (see sign).
func (s *PipelineSuite) decide(after time.Duration, d Decision, rejected *error) {
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(UpdateApproval, "", &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { *rejected = err },
			OnComplete: func(any, error) {},
		}, s.sign(d, nil))
	}, after)
}

// sign signs d with its approver's key: a statement for the run's pending
// approval (d.Version as given), changed by edit when it is not nil.
func (s *PipelineSuite) sign(d Decision, edit func(*approval.Statement)) Decision {
	st := approval.Statement{Decision: approval.Reject, Version: d.Version, Approver: d.Approver, Comment: d.Comment, Time: s.env.Now()}
	if d.Approve {
		st.Decision = approval.Approve
	}
	if v, err := s.env.QueryWorkflow(QueryStatus); err == nil {
		var status PipelineStatus
		s.Require().NoError(v.Get(&status))
		if p := status.PendingApproval; p != nil {
			st.WorkflowID, st.RunID, st.ONNXSHA256 = p.WorkflowID, p.RunID, p.ONNXSHA256
		}
	}
	if edit != nil {
		edit(&st)
	}
	d.Statement = string(st.Marshal())
	sig, err := approval.SignWithKey(context.Background(), []byte(d.Statement), s.keys[d.Approver])
	s.Require().NoError(err)
	d.Signature = string(sig)
	return d
}

func (s *PipelineSuite) result() *PipelineResult {
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	var res PipelineResult
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	return &res
}

func (s *PipelineSuite) TestApproveThenPromote() {
	s.setup(goodEval("v3"), "v3")
	var rejected error
	s.decide(time.Hour, Decision{Approve: true, Version: "v7", Approver: "alice", Comment: "looks good"}, &rejected)
	s.env.ExecuteWorkflow(TrainingPipeline, baseInput())
	res := s.result()
	s.NoError(rejected)
	s.Equal(OutcomePromoted, res.Outcome)
	s.Equal("v3", res.ChampionBefore)
	s.Equal("v7", res.ChampionAfter)
	s.True(res.Gate.Passed)
	cm := s.championMoves()
	s.Require().Len(cm, 1)
	s.Equal("v7", cm[0].To)
	s.Require().NotNil(cm[0].ExpectFrom)
	s.Equal("v3", *cm[0].ExpectFrom, "promotion must compare-and-swap against the champion it was evaluated against")
	s.Equal("alice", cm[0].Actor)
	s.Contains(s.eventTypes(), "v7:approved:alice")
	s.Contains(s.eventTypes(), "v7:promoted:alice")
}

func (s *PipelineSuite) TestGateFails() {
	ev := goodEval("v3")
	ev.Metrics["ziln"] = metrics.Report{NormalizedGini: 0.55, DecileMAPE: 0.2} // below bgnbd's 0.6
	s.setup(ev, "v3")
	s.env.ExecuteWorkflow(TrainingPipeline, baseInput())
	s.True(s.env.IsWorkflowCompleted())
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	var ae *temporal.ApplicationError
	s.Require().True(errors.As(err, &ae), "want an application error, got %v", err)
	s.Equal(activities.ErrTypeGateFailed, ae.Type())
	s.Contains(err.Error(), "gini_lift_over_bgnbd")
	var res PipelineResult
	s.Require().NoError(ae.Details(&res), "the verdict travels with the failure")
	s.False(res.Gate.Passed)
	s.Equal("v7", res.Version, "a failed challenger is registered for the audit trail")
	s.env.AssertNotCalled(s.T(), "ExportONNX", mock.Anything, mock.Anything)
	s.Empty(s.championMoves(), "champion must not move")
	s.Contains(s.eventTypes(), "v7:rejected:clvflow-gate")
}

func (s *PipelineSuite) TestGateFailsOnChampionRegression() {
	ev := goodEval("v3")
	ev.Metrics["champion"] = metrics.Report{NormalizedGini: 0.80, DecileMAPE: 0.1}
	s.setup(ev, "v3")
	s.env.ExecuteWorkflow(TrainingPipeline, baseInput())
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	s.Contains(err.Error(), "gini_regression_vs_champion_v3")
	s.Empty(s.championMoves())
}

func (s *PipelineSuite) TestParityFails() {
	s.setup(goodEval(""), "", "ExportONNX")
	s.env.OnActivity(s.a.ExportONNX, mock.Anything, mock.Anything).Return(activities.ExportResult{},
		temporal.NewNonRetryableApplicationError("parity: max |Δ| 3e-2 > 1e-4 at row 17", activities.ErrTypeParityFailed, nil))
	s.env.ExecuteWorkflow(TrainingPipeline, baseInput())
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	s.Equal(activities.ErrTypeParityFailed, activities.ErrorType(err))
	s.env.AssertNotCalled(s.T(), "RegisterVersion", mock.Anything, mock.Anything)
	s.Empty(s.moves)
}

func (s *PipelineSuite) TestUnlistedApproverIsRejectedByValidator() {
	s.setup(goodEval(""), "")
	var rejectedMallory, rejectedWrongVersion, rejectedBob error
	s.decide(time.Hour, Decision{Approve: true, Version: "v7", Approver: "mallory"}, &rejectedMallory)
	s.decide(2*time.Hour, Decision{Approve: true, Version: "v6", Approver: "alice"}, &rejectedWrongVersion)
	s.decide(3*time.Hour, Decision{Approve: false, Version: "v7", Approver: "bob", Comment: "not now"}, &rejectedBob)
	s.env.ExecuteWorkflow(TrainingPipeline, baseInput())
	res := s.result()
	s.Require().Error(rejectedMallory)
	s.Contains(rejectedMallory.Error(), "not in the worker's allowed signers")
	s.Require().Error(rejectedWrongVersion)
	s.Contains(rejectedWrongVersion.Error(), "awaits approval of version v7")
	s.NoError(rejectedBob)
	s.Equal(OutcomeRejected, res.Outcome)
	s.Equal("bob", res.Decision.Approver)
}

func (s *PipelineSuite) TestReject() {
	s.setup(goodEval("v3"), "v3")
	var rejected error
	s.decide(time.Hour, Decision{Approve: false, Version: "v7", Approver: "bob", Comment: "holdout looks odd"}, &rejected)
	s.env.ExecuteWorkflow(TrainingPipeline, baseInput())
	res := s.result()
	s.NoError(rejected)
	s.Equal(OutcomeRejected, res.Outcome)
	s.Equal("v3", res.ChampionAfter)
	s.Empty(s.championMoves())
	s.Contains(s.eventTypes(), "v7:rejected:bob")
}

func (s *PipelineSuite) TestApprovalTimeout() {
	s.setup(goodEval("v3"), "v3")
	in := baseInput()
	in.ApprovalTimeout = 72 * time.Hour
	var rejected error
	s.decide(73*time.Hour, Decision{Approve: true, Version: "v7", Approver: "alice"}, &rejected) // too late
	s.env.ExecuteWorkflow(TrainingPipeline, in)
	res := s.result()
	s.Equal(OutcomeApprovalTimeout, res.Outcome)
	s.Equal("v3", res.ChampionAfter)
	s.Empty(s.championMoves(), "timeout must leave the champion unchanged")
	s.Contains(s.eventTypes(), "v7:rejected:clvflow-approval-timeout")
}

func (s *PipelineSuite) TestApprovalBySignal() {
	s.setup(goodEval(""), "")
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalApproval, s.sign(Decision{Approve: true, Version: "v7", Approver: "mallory"}, nil)) // ignored
		s.env.SignalWorkflow(SignalApproval, Decision{Approve: true, Version: "v7", Approver: "bob"})                  // unsigned: ignored
	}, time.Hour)
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalApproval, s.sign(Decision{Approve: true, Version: "v7", Approver: "bob"}, nil))
	}, 2*time.Hour)
	s.env.ExecuteWorkflow(TrainingPipeline, baseInput())
	res := s.result()
	s.Equal(OutcomePromoted, res.Outcome)
	s.Equal("bob", res.Decision.Approver)
}

func (s *PipelineSuite) TestAutoApproveIsRecordedAsSuch() {
	s.setup(goodEval(""), "")
	in := baseInput()
	in.AutoApproveAs = "demo"
	s.env.ExecuteWorkflow(TrainingPipeline, in)
	res := s.result()
	s.Equal(OutcomePromoted, res.Outcome)
	s.True(res.Decision.Auto)
	found := false
	for _, e := range s.evts {
		if e.Type == registry.EventApproved && e.Actor == "demo" && strings.Contains(e.Comment, "auto-approved") {
			found = true
		}
	}
	s.True(found, "events: %v", s.evts)
}

func (s *PipelineSuite) TestCanaryFailureRollsBack() {
	s.setup(goodEval("v3"), "v3", "Canary")
	s.env.OnActivity(s.a.Canary, mock.Anything, mock.Anything).Return(activities.CanaryResult{},
		temporal.NewNonRetryableApplicationError("canary: non-finite prediction for customer 12", activities.ErrTypeCanaryFailed, nil))
	var rejected error
	s.decide(time.Hour, Decision{Approve: true, Version: "v7", Approver: "alice"}, &rejected)
	s.env.ExecuteWorkflow(TrainingPipeline, baseInput())
	res := s.result()
	s.Equal(OutcomeRolledBack, res.Outcome)
	cm := s.championMoves()
	s.Require().Len(cm, 2)
	s.Equal("v7", cm[0].To)
	s.Equal("v3", cm[1].To, "champion must go back to the previous version")
	s.Equal("v7", *cm[1].ExpectFrom)
	s.Equal("clvflow-canary", cm[1].Actor)
	s.Equal("v3", res.ChampionAfter)
	s.Contains(s.eventTypes(), "v7:demoted:clvflow-canary")
}

// failedResult is the result a run that ended in an error of errType
// carries in the error's details.
func (s *PipelineSuite) failedResult(errType string) PipelineResult {
	s.Require().True(s.env.IsWorkflowCompleted())
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	var ae *temporal.ApplicationError
	s.Require().True(errors.As(err, &ae), "want an application error, got %v", err)
	s.Equal(errType, ae.Type())
	var res PipelineResult
	s.Require().NoError(ae.Details(&res), "the result travels with the failure")
	return res
}

// A canary failure with no previous champion cannot roll back: the run
// fails and says the new version is still champion; no demotion is
// recorded, a note is.
func (s *PipelineSuite) TestCanaryFailureWithoutPreviousChampion() {
	s.setup(goodEval(""), "", "Canary")
	s.env.OnActivity(s.a.Canary, mock.Anything, mock.Anything).Return(activities.CanaryResult{},
		temporal.NewNonRetryableApplicationError("canary: non-finite prediction", activities.ErrTypeCanaryFailed, nil))
	var rejected error
	s.decide(time.Hour, Decision{Approve: true, Version: "v7", Approver: "alice"}, &rejected)
	s.env.ExecuteWorkflow(TrainingPipeline, baseInput())
	res := s.failedResult(activities.ErrTypeCanaryFailed)
	s.Equal(OutcomeCanaryFailed, res.Outcome)
	s.Equal("v7", res.ChampionAfter, "the alias still points at v7")
	s.Len(s.championMoves(), 1, "nothing to move back to")
	s.Contains(s.eventTypes(), "v7:note:clvflow-canary")
	s.NotContains(s.eventTypes(), "v7:demoted:clvflow-canary")
	s.Contains(s.env.GetWorkflowError().Error(), "stays champion")
}

// A rollback that itself fails is not reported as rolled_back.
func (s *PipelineSuite) TestCanaryFailureRollbackFails() {
	s.setup(goodEval("v3"), "v3", "Canary", "MoveAlias")
	s.env.OnActivity(s.a.Canary, mock.Anything, mock.Anything).Return(activities.CanaryResult{},
		temporal.NewNonRetryableApplicationError("canary: non-finite prediction", activities.ErrTypeCanaryFailed, nil))
	s.env.OnActivity(s.a.MoveAlias, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.MoveAliasInput) (registry.AliasEntry, error) {
			if in.Alias == AliasChampion && in.To == "v3" {
				return registry.AliasEntry{}, temporal.NewNonRetryableApplicationError("registry: conflict", activities.ErrTypeConflict, nil)
			}
			s.moves = append(s.moves, in)
			return registry.AliasEntry{Alias: in.Alias, To: in.To}, nil
		})
	var rejected error
	s.decide(time.Hour, Decision{Approve: true, Version: "v7", Approver: "alice"}, &rejected)
	s.env.ExecuteWorkflow(TrainingPipeline, baseInput())
	res := s.failedResult(activities.ErrTypeCanaryFailed)
	s.Equal(OutcomeRollbackFailed, res.Outcome)
	s.Equal("v7", res.ChampionAfter)
	s.NotContains(s.eventTypes(), "v7:demoted:clvflow-canary", "v7 was not demoted")
	s.Require().NotEmpty(res.Compensations)
	s.Contains(res.Compensations[0], "roll champion back to v3: FAILED")
}

func (s *PipelineSuite) TestCompensationAfterRegisterFailure() {
	s.setup(goodEval(""), "", "RegisterVersion", "DiscardArtifacts")
	s.env.OnActivity(s.a.RegisterVersion, mock.Anything, mock.Anything).Return("",
		temporal.NewNonRetryableApplicationError("registry: conflict", activities.ErrTypeConflict, nil))
	var discarded []artifacts.Ref
	s.env.OnActivity(s.a.DiscardArtifacts, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.DiscardInput) (activities.DiscardResult, error) {
			discarded = append(discarded, in.Refs...)
			return activities.DiscardResult{Deleted: in.Refs}, nil
		})
	s.env.ExecuteWorkflow(TrainingPipeline, baseInput())
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	s.Equal(activities.ErrTypeConflict, activities.ErrorType(err))
	s.Require().Len(discarded, 1)
	s.Equal("onnx", discarded[0].Key, "the exported ONNX file must be discarded")
	s.Empty(s.moves, "no alias may move")
}

func (s *PipelineSuite) TestCompensationWhenPromotionConflicts() {
	s.setup(goodEval("v3"), "v3", "MoveAlias")
	s.env.OnActivity(s.a.MoveAlias, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.MoveAliasInput) (registry.AliasEntry, error) {
			s.moves = append(s.moves, in)
			if in.Alias == AliasChampion {
				return registry.AliasEntry{}, temporal.NewNonRetryableApplicationError("alias champion points to v5", activities.ErrTypeConflict, nil)
			}
			return registry.AliasEntry{Alias: in.Alias, To: in.To}, nil
		})
	var rejected error
	s.decide(time.Hour, Decision{Approve: true, Version: "v7", Approver: "alice"}, &rejected)
	s.env.ExecuteWorkflow(TrainingPipeline, baseInput())
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	s.Contains(s.eventTypes(), "v7:orphaned:clvflow-pipeline")
}

func (s *PipelineSuite) TestBadDataStopsEarly() {
	s.setup(goodEval(""), "", "ValidateDataset")
	s.env.OnActivity(s.a.ValidateDataset, mock.Anything, mock.Anything).Return(activities.ValidateResult{},
		temporal.NewNonRetryableApplicationError("tx.csv: 61% of rows rejected, mostly missing_customer", activities.ErrTypeBadData, nil))
	s.env.ExecuteWorkflow(TrainingPipeline, baseInput())
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	s.Equal(activities.ErrTypeBadData, activities.ErrorType(err))
	s.env.AssertNotCalled(s.T(), "TrainModel", mock.Anything, mock.Anything)
}

func (s *PipelineSuite) TestInvalidInput() {
	s.setup(goodEval(""), "")
	in := baseInput()
	in.Models = []string{"naive"}
	s.env.ExecuteWorkflow(TrainingPipeline, in)
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	s.Equal(activities.ErrTypeBadInput, activities.ErrorType(err))
	s.Contains(err.Error(), "must include ziln or seq")
}

func (s *PipelineSuite) TestStatusQueryWhileWaiting() {
	s.setup(goodEval(""), "")
	var st PipelineStatus
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(QueryStatus)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&st))
	}, time.Hour)
	var rejected error
	s.decide(2*time.Hour, Decision{Approve: true, Version: "v7", Approver: "alice"}, &rejected)
	s.env.ExecuteWorkflow(TrainingPipeline, baseInput())
	s.result()
	s.Equal("approval", st.Stage)
	s.Require().NotNil(st.PendingApproval)
	s.Equal("v7", st.PendingApproval.Version)
	s.Equal([]string{"alice", "bob"}, st.PendingApproval.Approvers)
}

// rollbackEnv mocks the registry side of a rollback from v7 to v3.
func (s *PipelineSuite) rollbackEnv() {
	s.env = s.NewTestWorkflowEnvironment()
	s.a = s.newActivities()
	s.moves, s.evts = nil, nil
	s.env.RegisterActivity(s.a)
	s.env.OnActivity(s.a.ResolveRollbackTarget, mock.Anything, mock.Anything).Return(
		activities.RollbackTarget{Current: "v7", Target: "v3", TargetONNXSHA256: ref("onnx-v3").SHA256}, nil)
	s.env.OnActivity(s.a.MoveAlias, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.MoveAliasInput) (registry.AliasEntry, error) {
			s.moves = append(s.moves, in)
			return registry.AliasEntry{Alias: in.Alias, From: "v7", To: in.To}, nil
		}).Maybe()
	s.env.OnActivity(s.a.RecordEvent, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.EventInput) error {
			s.evts = append(s.evts, in)
			return nil
		}).Maybe()
}

// signedRollback is a rollback to v3 signed by signer's key as approver.
func (s *PipelineSuite) signedRollback(approver, signer string, edit func(*approval.Statement)) RollbackInput {
	st := approval.Statement{Decision: approval.Rollback, WorkflowID: "default-test-workflow-id", Version: "v3",
		ONNXSHA256: ref("onnx-v3").SHA256, From: "v7", Approver: approver, Comment: "revenue dip", Time: s.env.Now()}
	if edit != nil {
		edit(&st)
	}
	sig, err := approval.SignWithKey(context.Background(), st.Marshal(), s.keys[signer])
	s.Require().NoError(err)
	return RollbackInput{Statement: string(st.Marshal()), Signature: string(sig)}
}

func (s *PipelineSuite) TestRollbackWorkflow() {
	s.rollbackEnv()
	s.env.ExecuteWorkflow(Rollback, s.signedRollback("carol", "carol", nil))
	s.Require().NoError(s.env.GetWorkflowError())
	var res RollbackResult
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	s.Equal(RollbackResult{From: "v7", To: "v3"}, res)
	s.Require().Len(s.moves, 1)
	s.Equal("carol", s.moves[0].Actor)
	s.Equal("v7", *s.moves[0].ExpectFrom)
	s.Require().Len(s.evts, 1)
	s.Require().NotNil(s.evts[0].Signed, "the demotion records the signed rollback")
	s.Equal("carol", s.evts[0].Signed.Principal)
	s.Equal("revenue dip", s.evts[0].Comment)
}

func (s *PipelineSuite) TestRollbackRefusals() {
	cases := map[string]struct {
		in   func() RollbackInput
		want string
	}{
		"unsigned":     {func() RollbackInput { return RollbackInput{To: "v3", Actor: "carol"} }, "not signed"},
		"unknown key":  {func() RollbackInput { return s.signedRollback("mallory", "mallory", nil) }, "not in the worker's allowed signers"},
		"another name": {func() RollbackInput { return s.signedRollback("alice", "carol", nil) }, `sign as "alice"`},
		"stale": {func() RollbackInput {
			return s.signedRollback("carol", "carol", func(st *approval.Statement) { st.From = "v5" })
		}, "current champion"},
		"other target": {func() RollbackInput {
			return s.signedRollback("carol", "carol", func(st *approval.Statement) { st.Version = "v2" })
		}, "version"},
		"an approval": {func() RollbackInput {
			return s.signedRollback("carol", "carol", func(st *approval.Statement) { st.Decision = approval.Approve })
		}, "may only rollback"},
		"other workflow": {func() RollbackInput {
			return s.signedRollback("carol", "carol", func(st *approval.Statement) { st.WorkflowID = "rollback-old" })
		}, "workflow id"},
	}
	for name, c := range cases {
		s.Run(name, func() {
			s.rollbackEnv()
			s.env.ExecuteWorkflow(Rollback, c.in())
			err := s.env.GetWorkflowError()
			s.Require().Error(err)
			s.Contains(err.Error(), c.want)
			s.Equal(activities.ErrTypePolicy, activities.ErrorType(err))
			s.Empty(s.moves, "a refused rollback moves nothing")
			s.Empty(s.evts)
		})
	}
}

func TestEvaluateGateRecordsEveryNumber(t *testing.T) {
	g := EvaluateGate(registry.GateThresholds{MinGiniLift: 0.05, MaxChampionRegression: 0.01, MaxDecileMAPE: 0.3, MinTestCustomers: 1000}, goodEval("v3"))
	if g.Passed {
		t.Fatal("gate must fail: lift 0.1 ≥ 0.05 ok, but 500 test customers < 1000")
	}
	names := map[string]registry.Check{}
	for _, c := range g.Checks {
		names[c.Name] = c
	}
	for _, n := range []string{"test_customers", "decile_mape", "gini_lift_over_bgnbd", "gini_regression_vs_champion_v3"} {
		if _, ok := names[n]; !ok {
			t.Errorf("missing check %s in %+v", n, g.Checks)
		}
	}
	if c := names["test_customers"]; c.Passed || c.Value != 500 || c.Threshold != 1000 {
		t.Errorf("test_customers check %+v", c)
	}
	if c := names["gini_lift_over_bgnbd"]; !c.Passed {
		t.Errorf("lift check %+v", c)
	}
}

func (s *PipelineSuite) TestScheduledRunTrainsAsOfItsScheduledTime() {
	s.setup(goodEval(""), "", "Featurize")
	var got activities.FeaturizeInput
	s.env.OnActivity(s.a.Featurize, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FeaturizeInput) (activities.FeaturizeResult, error) {
			got = in
			return activities.FeaturizeResult{Features: ref("feat"), Split: ref("split"), Cutoff: "2011-06-01", HorizonDays: 90, TestCustomers: 500}, nil
		})
	scheduled := time.Date(2011, 9, 8, 3, 0, 0, 0, time.UTC)
	s.Require().NoError(s.env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(
		temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime").ValueSet(scheduled))))
	in := baseInput()
	in.UseScheduledTime = true
	in.AutoApproveAs = "scheduler"
	s.env.ExecuteWorkflow(TrainingPipeline, in)
	s.result()
	s.Equal("2011-09-08", got.AsOf, "a scheduled (or backfilled) run trains on the data as of its scheduled day")
	s.Empty(got.Cutoff, "the cutoff then follows from the as-of date and the horizon")
}

// TestSnapshotsReachTraining: the snapshot settings go to Featurize and the
// stored snapshot feature sets it returns go to every training activity.
func (s *PipelineSuite) TestSnapshotsReachTraining() {
	s.setup(goodEval(""), "", "Featurize", "TrainModel")
	var featIn activities.FeaturizeInput
	s.env.OnActivity(s.a.Featurize, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FeaturizeInput) (activities.FeaturizeResult, error) {
			featIn = in
			return activities.FeaturizeResult{Features: ref("feat"), Split: ref("split"), Cutoff: "2011-09-08", HorizonDays: 90, TestCustomers: 500,
				Snapshots: []activities.SnapshotRef{{Cutoff: "2011-06-10", Features: ref("snap-0")}, {Cutoff: "2011-05-13", Features: ref("snap-1")}}}, nil
		})
	trainIn := map[string]activities.TrainInput{}
	s.env.OnActivity(s.a.TrainModel, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.TrainInput) (activities.TrainResult, error) {
			trainIn[in.Kind] = in
			return activities.TrainResult{Kind: in.Kind, Model: ref("model-" + in.Kind)}, nil
		})
	in := baseInput()
	in.AutoApproveAs = "demo"
	in.Snapshots, in.SnapshotStepDays = 2, 28
	s.env.ExecuteWorkflow(TrainingPipeline, in)
	s.Equal(OutcomePromoted, s.result().Outcome)
	s.Equal(2, featIn.Snapshots)
	s.Equal(28, featIn.SnapshotStepDays)
	s.Require().Len(trainIn, 3)
	for kind, ti := range trainIn {
		s.Require().Len(ti.Snapshots, 2, kind)
		s.Equal("snap-0", ti.Snapshots[0].Key, kind)
		s.Equal("snap-1", ti.Snapshots[1].Key, kind)
	}
}

func TestPipelineInputValidateSnapshots(t *testing.T) {
	in := baseInput()
	in.Snapshots = -1
	in.SnapshotStepDays = -3
	err := in.Validate()
	if err == nil || !strings.Contains(err.Error(), "snapshots must be in [0,52], got -1") || !strings.Contains(err.Error(), "snapshot_step_days must be ≥ 0") {
		t.Fatalf("Validate: %v", err)
	}
	in.Snapshots, in.SnapshotStepDays = 52, 0
	if err := in.Validate(); err != nil {
		t.Fatalf("52 snapshots with the default step: %v", err)
	}
}

// TestDatasetIdentity: the raw and the clean dataset reach the ONNX export
// (its metadata) and the registry entry, and the run result names both.
func (s *PipelineSuite) TestDatasetIdentity() {
	s.setup(goodEval(""), "", "IngestDataset", "ValidateDataset", "ExportONNX", "RegisterVersion")
	raw := artifacts.Ref{Bucket: "d", Key: "raw/r", SHA256: strings.Repeat("1", 64), Size: 100}
	clean := artifacts.Ref{Bucket: "d", Key: "clean/c", SHA256: strings.Repeat("2", 64), Size: 90}
	s.env.OnActivity(s.a.IngestDataset, mock.Anything, mock.Anything).Return(activities.IngestResult{Dataset: raw, Manifest: ref("manifest"), Format: "csv"}, nil)
	s.env.OnActivity(s.a.ValidateDataset, mock.Anything, mock.Anything).Return(activities.ValidateResult{Clean: clean, Quarantine: ref("quarantine"), Rows: 1000, Accepted: 990, Rejected: 10}, nil)
	var exp activities.ExportInput
	s.env.OnActivity(s.a.ExportONNX, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ExportInput) (activities.ExportResult, error) {
			exp = in
			return activities.ExportResult{ONNX: ref("onnx"), Parity: registry.ParitySummary{Passed: true}}, nil
		})
	var reg activities.RegisterInput
	s.env.OnActivity(s.a.RegisterVersion, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RegisterInput) (string, error) {
			reg = in
			return "v7", nil
		})
	in := baseInput()
	in.AutoApproveAs = "demo"
	s.env.ExecuteWorkflow(TrainingPipeline, in)
	res := s.result()
	s.Equal(raw.SHA256, exp.RawDatasetSHA256)
	s.Equal(clean.SHA256, exp.CleanDatasetSHA256)
	s.Equal(ref("model-ziln"), exp.Model, "the challenger's trained model is exported")
	s.Equal(raw, reg.Dataset.Raw)
	s.Equal(clean, reg.Dataset.Clean)
	s.Equal(ref("manifest"), reg.Dataset.Manifest)
	s.Equal(ref("quarantine"), reg.Quarantine)
	s.Equal(int64(10), reg.Cleaning.RowsRejected)
	s.Equal("ziln", reg.Kind)
	s.Equal(ref("model-ziln"), reg.Model)
	s.Require().NotNil(reg.Export)
	s.Equal(ref("onnx"), reg.Export.ONNX)
	s.NotEmpty(reg.WorkflowID)
	s.Equal(raw, res.RawDataset)
	s.Equal(clean, res.CleanDataset)
}

func f64(v float64) *float64 { return &v }

// TestLoosenedGateInputStillAppliesThePolicy: a run whose input asks for a
// gate anyone would pass is judged by the worker's policy all the same.
func (s *PipelineSuite) TestLoosenedGateInputStillAppliesThePolicy() {
	ev := goodEval("v3")
	ev.Metrics["ziln"] = metrics.Report{NormalizedGini: 0.55, DecileMAPE: 0.9} // below bgnbd, MAPE over the policy's 0.5
	s.setup(ev, "v3")
	in := baseInput()
	in.Gate = &policy.GateRequest{MinGiniLift: f64(-9), MaxDecileMAPE: f64(100), MaxChampionRegression: f64(9)}
	s.env.ExecuteWorkflow(TrainingPipeline, in)
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	s.Equal(activities.ErrTypeGateFailed, activities.ErrorType(err))
	s.Contains(err.Error(), "gini_lift_over_bgnbd")
	s.Contains(err.Error(), "decile_mape")
	var ae *temporal.ApplicationError
	s.Require().True(errors.As(err, &ae))
	var res PipelineResult
	s.Require().NoError(ae.Details(&res))
	s.Require().NotNil(res.Policy)
	s.Equal(s.pol.Digest, res.Policy.Digest)
	s.Equal(s.pol.Gate, res.Policy.Gate, "the applied thresholds are the policy's")
	s.Len(res.PolicyIgnored, 3)
	s.Empty(s.championMoves())
}

func (s *PipelineSuite) TestTighterGateInputApplies() {
	s.setup(goodEval("v3"), "v3")
	in := baseInput()
	in.Gate = &policy.GateRequest{MinGiniLift: f64(0.2)} // ziln's lift over bgnbd is 0.1
	s.env.ExecuteWorkflow(TrainingPipeline, in)
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	s.Contains(err.Error(), "gini_lift_over_bgnbd 0.1 >= 0.2")
}

func (s *PipelineSuite) TestAutoApprovalNeedsThePolicy() {
	s.setup(goodEval(""), "")
	pol := s.pol
	defer func() { s.pol = pol }()
	var err error
	s.pol, err = policy.FromConfig(pol.Gate, "", time.Hour, false)
	s.Require().NoError(err)
	in := baseInput()
	in.AutoApproveAs = "demo"
	s.env.ExecuteWorkflow(TrainingPipeline, in)
	werr := s.env.GetWorkflowError()
	s.Require().Error(werr)
	s.Equal(activities.ErrTypePolicy, activities.ErrorType(werr))
	s.Contains(werr.Error(), "automatic approval")
	s.env.AssertNotCalled(s.T(), "IngestDataset", mock.Anything, mock.Anything)
}

// TestSignedDecisionRefusals: every forged or misdirected decision is
// refused by the validator; the valid one after them is recorded with its
// signature and signer, and the registry entry names the policy.
func (s *PipelineSuite) TestSignedDecisionRefusals() {
	s.setup(goodEval(""), "", "RegisterVersion")
	var registered activities.RegisterInput
	s.env.OnActivity(s.a.RegisterVersion, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RegisterInput) (string, error) {
			registered = in
			return "v7", nil
		})
	edits := map[string]func(*approval.Statement){
		"run id":      func(st *approval.Statement) { st.RunID = "another-run" },
		"ONNX sha256": func(st *approval.Statement) { st.ONNXSHA256 = strings.Repeat("b", 64) },
		"future":      func(st *approval.Statement) { st.Time = st.Time.Add(time.Hour) },
		"may only":    func(st *approval.Statement) { st.Decision = approval.Rollback },
	}
	errs := map[string]*error{}
	for name, edit := range edits {
		errs[name] = new(error)
		s.env.RegisterDelayedCallback(func() {
			s.env.UpdateWorkflow(UpdateApproval, "", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { *errs[name] = err },
				OnComplete: func(any, error) {}}, s.sign(Decision{Approve: true, Version: "v7", Approver: "alice"}, edit))
		}, time.Hour)
	}
	tampered, unsigned, carol := new(error), new(error), new(error)
	s.env.RegisterDelayedCallback(func() {
		d := s.sign(Decision{Approve: true, Version: "v7", Approver: "alice", Comment: "ok"}, nil)
		d.Statement = strings.Replace(d.Statement, `"ok"`, `"OK"`, 1)
		s.updateExpectingRefusal(d, tampered)
		s.updateExpectingRefusal(Decision{Approve: true, Version: "v7", Approver: "alice"}, unsigned)
		s.updateExpectingRefusal(s.sign(Decision{Approve: true, Version: "v7", Approver: "carol"}, nil), carol) // allowed signer, not a run approver
	}, 90*time.Minute)
	var rejected error
	s.decide(2*time.Hour, Decision{Approve: true, Version: "v7", Approver: "alice", Comment: "reviewed"}, &rejected)
	s.env.ExecuteWorkflow(TrainingPipeline, baseInput())
	res := s.result()
	for name, err := range errs {
		s.Require().Error(*err, name)
		s.Contains((*err).Error(), name)
	}
	s.Require().Error(*tampered)
	s.Contains((*tampered).Error(), "does not match the statement")
	s.Require().Error(*unsigned)
	s.Contains((*unsigned).Error(), "not signed")
	s.Require().Error(*carol)
	s.Contains((*carol).Error(), "not one of this run's approvers")
	s.NoError(rejected)
	s.Equal(OutcomePromoted, res.Outcome)
	s.Require().NotNil(res.Decision.Signer)
	s.Equal("alice", res.Decision.Signer.Principal)
	s.Equal("reviewed", res.Decision.Comment)
	var approved *activities.EventInput
	for i := range s.evts {
		if s.evts[i].Type == registry.EventApproved {
			approved = &s.evts[i]
		}
	}
	s.Require().NotNil(approved)
	s.Require().NotNil(approved.Signed)
	s.Equal(res.Decision.Statement, approved.Signed.Statement)
	s.True(strings.HasPrefix(approved.Signed.Fingerprint, "SHA256:"))
	s.Require().NotNil(registered.Policy)
	s.Equal(s.pol.Digest, registered.Policy.Digest)
}

func (s *PipelineSuite) updateExpectingRefusal(d Decision, into *error) {
	s.env.UpdateWorkflow(UpdateApproval, "", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { *into = err },
		OnComplete: func(any, error) {}}, d)
}

// TestStatisticalGate: with a bootstrap the lift check reads the interval's
// lower bound (a point lift that passes fails when the interval reaches
// below the threshold), and the champion check fails only when the
// champion is better with that confidence; both checks carry the interval.
func TestStatisticalGate(t *testing.T) {
	cfg := registry.GateThresholds{MinGiniLift: 0, MaxChampionRegression: 0.02, MaxDecileMAPE: 1, MinTestCustomers: 100, Confidence: 0.9}
	iv := func(est, lo, hi float64) metrics.Interval {
		return metrics.Interval{Estimate: est, Lo: lo, Hi: hi, Confidence: 0.9, Resamples: 1000, Seed: 42}
	}
	ev := goodEval("v3") // point lift over bgnbd 0.1, champion 0.01 worse
	ev.Bootstrap = &activities.GateBootstrap{GiniLift: iv(0.1, -0.01, 0.2), ChampionAdvantage: &metrics.Interval{Estimate: -0.01, Lo: -0.05, Hi: 0.03, Confidence: 0.9, Resamples: 1000, Seed: 42}}
	g := EvaluateGate(cfg, ev)
	byName := map[string]registry.Check{}
	for _, c := range g.Checks {
		byName[c.Name] = c
	}
	lift, champ := byName["gini_lift_over_bgnbd_lower_bound"], byName["gini_regression_vs_champion_v3_lower_bound"]
	if g.Passed || lift.Passed || lift.Value != -0.01 || lift.Interval == nil || lift.Interval.Seed != 42 {
		t.Fatalf("a lift whose interval reaches below 0 must fail on its lower bound: %+v", g.Checks)
	}
	if !champ.Passed || champ.Interval == nil {
		t.Fatalf("a champion not better with 90%% confidence must not fail the run: %+v", champ)
	}
	ev.Bootstrap.GiniLift = iv(0.1, 0.02, 0.2)
	ev.Bootstrap.ChampionAdvantage = &metrics.Interval{Estimate: 0.06, Lo: 0.03, Hi: 0.09, Confidence: 0.9}
	g = EvaluateGate(cfg, ev)
	if g.Passed || !strings.Contains(failedChecks(g), "gini_regression_vs_champion_v3_lower_bound") || strings.Contains(failedChecks(g), "gini_lift") {
		t.Fatalf("a champion better by 0.03..0.09 with 90%% confidence must fail only the champion check: %s", failedChecks(g))
	}
	if !strings.Contains(failedChecks(g), "90% interval [0.03, 0.09]") {
		t.Fatalf("the verdict must show the interval: %s", failedChecks(g))
	}
}

// TestPolicyBaseline: the worker's gate.baseline names the model the lift is
// measured against; a run that does not train it stops before any work.
func (s *PipelineSuite) TestPolicyBaseline() {
	pol := s.pol
	defer func() { s.pol = pol }()
	g := pol.Gate
	g.Baseline = "pnbd"
	var err error
	s.pol, err = policy.FromConfig(g, "", time.Hour, true)
	s.Require().NoError(err)

	s.setup(goodEval(""), "")
	s.env.ExecuteWorkflow(TrainingPipeline, baseInput()) // naive, bgnbd, ziln: no pnbd
	werr := s.env.GetWorkflowError()
	s.Require().Error(werr)
	s.Equal(activities.ErrTypePolicy, activities.ErrorType(werr))
	s.Contains(werr.Error(), "include it in the run's models")

	s.setup(goodEval(""), "", "Evaluate")
	var asked activities.EvaluateInput
	s.env.OnActivity(s.a.Evaluate, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.EvaluateInput) (activities.EvaluateResult, error) {
		asked = in
		ev := goodEval("")
		ev.Baseline, ev.Metrics["pnbd"] = in.Baseline, metrics.Report{NormalizedGini: 0.65, DecileMAPE: 0.3}
		return ev, nil
	})
	in := baseInput()
	in.Models = append(in.Models, "pnbd")
	in.AutoApproveAs = "ci"
	s.env.ExecuteWorkflow(TrainingPipeline, in)
	res := s.result()
	s.Equal("pnbd", asked.Baseline)
	s.Equal("gini_lift_over_pnbd", res.Gate.Checks[2].Name)
}
