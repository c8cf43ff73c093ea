package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/internal/searchattr"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/registry"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names of the pipeline's message handlers.
const (
	// UpdateApproval is the Update that approves or rejects the registered
	// version; its validator refuses unknown approvers and wrong versions
	// before anything is written to history.
	UpdateApproval = "approval"
	// SignalApproval carries the same Decision for tools that cannot send
	// Updates; invalid signals are logged and ignored.
	SignalApproval = "approval"
	// QueryStatus returns the pipeline's PipelineStatus.
	QueryStatus = "status"
)

// Aliases the pipeline moves.
const (
	AliasChampion  = "champion"
	AliasCandidate = "candidate"
)

// Outcomes of a pipeline run that completed.
const (
	OutcomePromoted        = "promoted"
	OutcomeRejected        = "rejected"
	OutcomeApprovalTimeout = "approval_timeout"
	OutcomeRolledBack      = "rolled_back"
)

// GateConfig holds the declarative thresholds (config section gate).
type GateConfig struct {
	MinGiniLift           float64 `json:"min_gini_lift"`
	MaxChampionRegression float64 `json:"max_champion_regression"`
	MaxDecileMAPE         float64 `json:"max_decile_mape"`
	ParityTolerance       float64 `json:"parity_tolerance"`
	MinTestCustomers      int     `json:"min_test_customers"`
}

// PipelineInput configures one training run.
type PipelineInput struct {
	Input               activities.IngestInput `json:"input"`
	CSV                 *dataset.CSVMapping    `json:"csv,omitempty"`
	MaxRejectedFraction float64                `json:"max_rejected_fraction"`
	DropReversed        bool                   `json:"drop_reversed,omitempty"`
	Cutoff              string                 `json:"cutoff,omitempty"`
	AsOf                string                 `json:"as_of,omitempty"`
	// UseScheduledTime makes the Temporal Schedule's scheduled time the
	// as-of date (and so the cutoff), so a backfill trains exactly what
	// would have been trained then.
	UseScheduledTime bool     `json:"use_scheduled_time,omitempty"`
	HorizonDays      int      `json:"horizon_days"`
	SeqWeeks         int      `json:"seq_weeks"`
	TestFraction     float64  `json:"test_fraction"`
	Seed             uint64   `json:"seed"`
	Models           []string `json:"models"`
	MaxEpochs        int      `json:"max_epochs,omitempty"`
	// Snapshots is the number of earlier training snapshots the neural
	// models also learn from (0 = none); SnapshotStepDays the days between
	// them (0 = 28).
	Snapshots        int        `json:"snapshots,omitempty"`
	SnapshotStepDays int        `json:"snapshot_step_days,omitempty"`
	Gate             GateConfig `json:"gate"`
	// Approvers may approve; empty means any named approver.
	Approvers       []string      `json:"approvers,omitempty"`
	ApprovalTimeout time.Duration `json:"approval_timeout"`
	// AutoApproveAs approves on behalf of this name without waiting (demos);
	// the decision is recorded as automatic.
	AutoApproveAs string `json:"auto_approve_as,omitempty"`
	// TrainTaskQueue runs training activities on another task queue (GPU
	// workers); empty = the workflow's own queue.
	TrainTaskQueue        string        `json:"train_task_queue,omitempty"`
	TrainHeartbeatTimeout time.Duration `json:"train_heartbeat_timeout,omitempty"`
	CanaryRows            int           `json:"canary_rows,omitempty"`
	RequestedBy           string        `json:"requested_by,omitempty"`
}

// Decision approves or rejects a registered version.
type Decision struct {
	Approve  bool      `json:"approve"`
	Version  string    `json:"version"`
	Approver string    `json:"approver"`
	Comment  string    `json:"comment,omitempty"`
	Auto     bool      `json:"auto,omitempty"`
	Time     time.Time `json:"time"`
}

// PendingApproval describes what the pipeline waits for.
type PendingApproval struct {
	Version   string    `json:"version"`
	Approvers []string  `json:"approvers,omitempty"`
	Deadline  time.Time `json:"deadline"`
}

// PipelineStatus is the answer to the status query.
type PipelineStatus struct {
	Stage           string           `json:"stage"`
	Progress        string           `json:"progress"`
	Version         string           `json:"version,omitempty"`
	Challenger      string           `json:"challenger,omitempty"`
	Gate            *registry.Gate   `json:"gate,omitempty"`
	PendingApproval *PendingApproval `json:"pending_approval,omitempty"`
	Decision        *Decision        `json:"decision,omitempty"`
}

// PipelineResult is what a completed run returns (also attached to a
// GateFailed error's details).
type PipelineResult struct {
	Outcome        string                    `json:"outcome"`
	Version        string                    `json:"version,omitempty"`
	Challenger     string                    `json:"challenger,omitempty"`
	Dataset        artifacts.Ref             `json:"dataset"`
	Cutoff         string                    `json:"cutoff,omitempty"`
	HorizonDays    int                       `json:"horizon_days,omitempty"`
	TestCustomers  int                       `json:"test_customers,omitempty"`
	Metrics        map[string]metrics.Report `json:"metrics,omitempty"`
	Gate           registry.Gate             `json:"gate"`
	Parity         *registry.ParitySummary   `json:"parity,omitempty"`
	ONNX           *artifacts.Ref            `json:"onnx,omitempty"`
	Decision       *Decision                 `json:"decision,omitempty"`
	ChampionBefore string                    `json:"champion_before,omitempty"`
	ChampionAfter  string                    `json:"champion_after,omitempty"`
	Trained        []activities.TrainResult  `json:"trained,omitempty"`
	Compensations  []string                  `json:"compensations,omitempty"`
}

// Validate checks the input before any work starts.
func (in PipelineInput) Validate() error {
	var errs []string
	if (in.Input.Path == "") == (in.Input.Source == nil) {
		errs = append(errs, "give exactly one input: a file path or a stored object")
	}
	if in.HorizonDays <= 0 {
		errs = append(errs, fmt.Sprintf("horizon_days must be > 0, got %d", in.HorizonDays))
	}
	if in.TestFraction <= 0 || in.TestFraction >= 1 {
		errs = append(errs, fmt.Sprintf("test_fraction must be in (0,1), got %g", in.TestFraction))
	}
	if in.Snapshots < 0 || in.Snapshots > features.MaxSnapshots {
		errs = append(errs, fmt.Sprintf("snapshots must be in [0,%d], got %d", features.MaxSnapshots, in.Snapshots))
	}
	if in.SnapshotStepDays < 0 {
		errs = append(errs, fmt.Sprintf("snapshot_step_days must be ≥ 0 (0 = %d), got %d", features.DefaultSnapshotStepDays, in.SnapshotStepDays))
	}
	if len(in.Models) == 0 {
		errs = append(errs, "no models to train")
	}
	hasNet := false
	for _, m := range in.Models {
		switch m {
		case "naive", "bgnbd":
		case "ziln", "seq":
			hasNet = true
		default:
			errs = append(errs, fmt.Sprintf("unknown model %q (naive, bgnbd, ziln, seq)", m))
		}
	}
	if !hasNet {
		errs = append(errs, "models must include ziln or seq: only neural models are exported and promoted")
	}
	if !slices.Contains(in.Models, "bgnbd") {
		errs = append(errs, "models must include the bgnbd baseline the gate compares against")
	}
	if in.ApprovalTimeout <= 0 && in.AutoApproveAs == "" {
		errs = append(errs, "approval_timeout must be > 0")
	}
	if in.Gate.ParityTolerance <= 0 {
		errs = append(errs, "gate.parity_tolerance must be > 0")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// pipeline holds the state of one run; its methods are workflow code.
type pipeline struct {
	in       PipelineInput
	status   PipelineStatus
	decision *Decision
	logger   log.Logger
	acts     *activities.Activities
}

// TrainingPipeline is the retraining workflow: ingest → validate →
// featurize → train → evaluate → gate → export ONNX + parity → register →
// approval → promote → canary. Failures after side effects run
// compensations; the champion alias never changes unless a person (or the
// recorded auto-approver) approved a version that passed every gate.
func TrainingPipeline(ctx workflow.Context, in PipelineInput) (*PipelineResult, error) {
	p := &pipeline{in: in, logger: workflow.GetLogger(ctx), status: PipelineStatus{Stage: "starting"}}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (PipelineStatus, error) { return p.status, nil }); err != nil {
		return nil, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateApproval, p.handleApproval,
		workflow.UpdateHandlerOptions{Validator: p.validateDecision}); err != nil {
		return nil, err
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		ch := workflow.GetSignalChannel(ctx, SignalApproval)
		for {
			var d Decision
			ch.Receive(ctx, &d)
			if err := p.validateDecision(ctx, d); err != nil {
				p.logger.Warn("approval signal ignored", "approver", d.Approver, "version", d.Version, "error", err)
				continue
			}
			d.Time = workflow.Now(ctx)
			p.decision = &d
		}
	})
	if err := in.Validate(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("invalid pipeline input: "+err.Error(), activities.ErrTypeBadInput, nil)
	}
	return p.run(ctx)
}

func (p *pipeline) stage(ctx workflow.Context, stage, progress string) {
	p.status.Stage, p.status.Progress = stage, progress
	_ = setStage(ctx, stage)
	p.logger.Info("pipeline stage", "stage", stage, "progress", progress)
}

func (p *pipeline) options(timeout time.Duration, attempts int32) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: timeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			MaximumAttempts:        attempts,
			NonRetryableErrorTypes: activities.NonRetryableErrorTypes,
		},
	}
}

func (p *pipeline) run(ctx workflow.Context) (*PipelineResult, error) {
	in := p.in
	info := workflow.GetInfo(ctx)
	res := &PipelineResult{}
	a := p.acts
	short := workflow.WithActivityOptions(ctx, p.options(2*time.Minute, 5))
	long := workflow.WithActivityOptions(ctx, withHeartbeat(p.options(time.Hour, 5), 2*time.Minute))

	// 1 Ingest.
	p.stage(ctx, "ingest", "uploading the transaction log")
	var ing activities.IngestResult
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, ingestActivityOptions()), a.IngestDataset, in.Input).Get(ctx, &ing); err != nil {
		return p.fail(ctx, res, "ingest", err)
	}
	res.Dataset = ing.Dataset
	_ = workflow.UpsertTypedSearchAttributes(ctx, temporal.NewSearchAttributeKeyKeyword(searchattr.Dataset).ValueSet(ing.Dataset.SHA256))

	// 2 Validate and clean.
	p.stage(ctx, "validate", "validating and cleaning")
	var val activities.ValidateResult
	if err := workflow.ExecuteActivity(long, a.ValidateDataset, activities.ValidateInput{
		Dataset: ing.Dataset, Format: ing.Format, CSV: in.CSV, MaxRejectedFraction: in.MaxRejectedFraction, DropReversed: in.DropReversed,
	}).Get(ctx, &val); err != nil {
		return p.fail(ctx, res, "validate", err)
	}

	// 3 Featurize.
	asOf := in.AsOf
	if in.UseScheduledTime {
		if t, ok := scheduledTime(ctx); ok {
			asOf = t.UTC().Format("2006-01-02")
		}
	}
	p.stage(ctx, "featurize", "building customer features")
	var feat activities.FeaturizeResult
	if err := workflow.ExecuteActivity(long, a.Featurize, activities.FeaturizeInput{
		Clean: val.Clean, Cutoff: in.Cutoff, AsOf: asOf, DataEnd: val.MaxTime, HorizonDays: in.HorizonDays, SeqWeeks: in.SeqWeeks,
		TestFraction: in.TestFraction, Seed: in.Seed, Snapshots: in.Snapshots, SnapshotStepDays: in.SnapshotStepDays,
	}).Get(ctx, &feat); err != nil {
		return p.fail(ctx, res, "featurize", err)
	}
	res.Cutoff, res.HorizonDays, res.TestCustomers = feat.Cutoff, feat.HorizonDays, feat.TestCustomers

	// 4 Train every model (in parallel; nets heartbeat and checkpoint).
	p.stage(ctx, "train", "training "+strings.Join(in.Models, ", "))
	trainOpts := withHeartbeat(p.options(4*time.Hour, 10), in.TrainHeartbeatTimeout)
	if in.TrainTaskQueue != "" {
		trainOpts.TaskQueue = in.TrainTaskQueue
	}
	trainCtx := workflow.WithActivityOptions(ctx, trainOpts)
	snapRefs := make([]artifacts.Ref, len(feat.Snapshots))
	for i, s := range feat.Snapshots {
		snapRefs[i] = s.Features
	}
	futures := make([]workflow.Future, len(in.Models))
	for i, kind := range in.Models {
		futures[i] = workflow.ExecuteActivity(trainCtx, a.TrainModel, activities.TrainInput{
			Kind: kind, Features: feat.Features, Split: feat.Split, HorizonDays: feat.HorizonDays, Seed: in.Seed,
			CheckpointKey: fmt.Sprintf("checkpoints/%s/%s/%s", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, kind),
			MaxEpochs:     in.MaxEpochs, Snapshots: snapRefs,
		})
	}
	trained := make([]activities.TrainResult, len(in.Models))
	var trainErr error
	for i, f := range futures {
		if err := f.Get(ctx, &trained[i]); err != nil && trainErr == nil {
			trainErr = fmt.Errorf("train %s: %w", in.Models[i], err)
		}
	}
	if trainErr != nil {
		return p.fail(ctx, res, "train", trainErr)
	}
	res.Trained = trained

	// 5 Evaluate, with the current champion on the same test customers.
	p.stage(ctx, "evaluate", "scoring the test customers")
	var champ activities.ChampionInfo
	if err := workflow.ExecuteActivity(short, a.CurrentChampion, AliasChampion).Get(ctx, &champ); err != nil {
		return p.fail(ctx, res, "evaluate", err)
	}
	res.ChampionBefore = champ.Version
	evIn := activities.EvaluateInput{Features: feat.Features, Split: feat.Split, Models: trained, HorizonDays: feat.HorizonDays}
	if champ.Version != "" {
		evIn.Champion = &champ
	}
	var ev activities.EvaluateResult
	if err := workflow.ExecuteActivity(long, a.Evaluate, evIn).Get(ctx, &ev); err != nil {
		return p.fail(ctx, res, "evaluate", err)
	}
	res.Metrics, res.Challenger = ev.Metrics, ev.Challenger
	p.status.Challenger = ev.Challenger
	if m, ok := ev.Metrics[ev.Challenger]; ok {
		_ = workflow.UpsertTypedSearchAttributes(ctx, temporal.NewSearchAttributeKeyFloat64(searchattr.Gini).ValueSet(m.NormalizedGini))
	}

	// 6 Gate.
	p.stage(ctx, "gate", "comparing "+ev.Challenger+" with the baseline and the champion")
	gate := EvaluateGate(in.Gate, ev)
	res.Gate = gate
	p.status.Gate = &gate
	verdict := "fail"
	if gate.Passed {
		verdict = "pass"
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, temporal.NewSearchAttributeKeyKeyword(searchattr.GateVerdict).ValueSet(verdict))

	var challenger activities.TrainResult
	for _, t := range trained {
		if t.Kind == ev.Challenger {
			challenger = t
		}
	}
	regIn := activities.RegisterInput{
		Kind: ev.Challenger, Seed: in.Seed, Ingest: ing, Validate: val, Featurize: feat, Trained: trained,
		Evaluation: ev, Gate: gate, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
		Labels: map[string]string{"requested_by": in.RequestedBy},
	}
	if !gate.Passed {
		// Record the failed challenger for the audit trail, then stop.
		var version string
		if err := workflow.ExecuteActivity(short, a.RegisterVersion, regIn).Get(ctx, &version); err != nil {
			return p.fail(ctx, res, "register", err)
		}
		res.Version = version
		_ = workflow.ExecuteActivity(short, a.RecordEvent, activities.EventInput{Version: version, Type: registry.EventRejected,
			Actor: "clvflow-gate", Comment: "gate failed: " + failedChecks(gate), WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}).Get(ctx, nil)
		p.stage(ctx, "failed", "gate failed: "+failedChecks(gate))
		return res, temporal.NewNonRetryableApplicationError("gate failed: "+failedChecks(gate), activities.ErrTypeGateFailed, nil, res)
	}

	// 7 Export ONNX and prove parity.
	p.stage(ctx, "export", "exporting "+ev.Challenger+" to ONNX and checking parity")
	var exp activities.ExportResult
	if err := workflow.ExecuteActivity(long, a.ExportONNX, activities.ExportInput{
		Kind: ev.Challenger, Model: challenger.Model, Features: feat.Features, Split: feat.Split,
		DatasetSHA256: ing.Dataset.SHA256, Seed: in.Seed, ParityTolerance: in.Gate.ParityTolerance, ParityRows: 512,
	}).Get(ctx, &exp); err != nil {
		return p.fail(ctx, res, "export", err)
	}
	res.ONNX, res.Parity = &exp.ONNX, &exp.Parity
	regIn.Export = &exp

	// 8 Register (compensation: discard the unreferenced ONNX file).
	p.stage(ctx, "register", "registering the model version")
	var version string
	if err := workflow.ExecuteActivity(short, a.RegisterVersion, regIn).Get(ctx, &version); err != nil {
		p.compensate(ctx, res, "discard exported ONNX", func(ctx workflow.Context) error {
			return workflow.ExecuteActivity(ctx, a.DiscardArtifacts, activities.DiscardInput{Refs: []artifacts.Ref{exp.ONNX}, Reason: "register failed"}).Get(ctx, nil)
		})
		return p.fail(ctx, res, "register", err)
	}
	res.Version = version
	p.status.Version = version
	_ = workflow.UpsertTypedSearchAttributes(ctx, temporal.NewSearchAttributeKeyKeyword(searchattr.ModelVersion).ValueSet(version))
	orphan := func(reason string) {
		p.compensate(ctx, res, "mark "+version+" orphaned", func(ctx workflow.Context) error {
			return workflow.ExecuteActivity(ctx, a.RecordEvent, activities.EventInput{Version: version, Type: registry.EventOrphaned,
				Actor: "clvflow-pipeline", Comment: reason, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}).Get(ctx, nil)
		})
	}
	if err := workflow.ExecuteActivity(short, a.MoveAlias, activities.MoveAliasInput{Alias: AliasCandidate, To: version,
		Actor: "clvflow-pipeline", Reason: "passed the gate", WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}).Get(ctx, nil); err != nil {
		orphan("candidate alias move failed")
		return p.fail(ctx, res, "register", err)
	}

	// 9 Approval.
	decision, err := p.awaitApproval(ctx, version)
	if err != nil {
		orphan("approval wait failed")
		return p.fail(ctx, res, "approval", err)
	}
	res.Decision = decision
	evType, actor, comment := registry.EventRejected, "clvflow-approval-timeout", "no decision before the approval deadline"
	if decision != nil {
		actor, comment = decision.Approver, decision.Comment
		if decision.Approve {
			evType = registry.EventApproved
		}
		if decision.Auto {
			comment = strings.TrimSpace("auto-approved (--auto-approve-as) " + comment)
		}
	}
	if err := workflow.ExecuteActivity(short, a.RecordEvent, activities.EventInput{Version: version, Type: evType, Actor: actor,
		Comment: comment, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}).Get(ctx, nil); err != nil {
		return p.fail(ctx, res, "approval", err)
	}
	if decision == nil || !decision.Approve {
		res.Outcome = OutcomeRejected
		if decision == nil {
			res.Outcome = OutcomeApprovalTimeout
		}
		res.ChampionAfter = champ.Version
		p.stage(ctx, "done", res.Outcome)
		return res, nil
	}

	// 10 Promote: compare-and-swap against the champion we evaluated.
	p.stage(ctx, "promote", "moving champion to "+version)
	expect := champ.Version
	if err := workflow.ExecuteActivity(short, a.MoveAlias, activities.MoveAliasInput{Alias: AliasChampion, To: version, ExpectFrom: &expect,
		Actor: decision.Approver, Reason: "approved: " + decision.Comment, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}).Get(ctx, nil); err != nil {
		orphan("promotion failed")
		return p.fail(ctx, res, "promote", err)
	}
	_ = workflow.ExecuteActivity(short, a.RecordEvent, activities.EventInput{Version: version, Type: registry.EventPromoted, Actor: decision.Approver,
		WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}).Get(ctx, nil)

	// 11 Canary: load the new champion as serving does and score a sample.
	p.stage(ctx, "canary", "scoring a sample with the new champion")
	canaryCtx := workflow.WithActivityOptions(ctx, p.options(5*time.Minute, 3))
	rows := in.CanaryRows
	if rows <= 0 {
		rows = 256
	}
	if err := workflow.ExecuteActivity(canaryCtx, a.Canary, activities.CanaryInput{Version: version, Features: feat.Features, Rows: rows}).Get(ctx, nil); err != nil {
		p.logger.Error("canary failed; rolling champion back", "version", version, "error", err)
		p.compensate(ctx, res, "roll champion back to "+displayVersion(champ.Version), func(ctx workflow.Context) error {
			return p.rollbackChampion(ctx, version, champ.Version, "canary failed: "+rootMessage(err))
		})
		res.Outcome = OutcomeRolledBack
		res.ChampionAfter = champ.Version
		p.stage(ctx, "done", OutcomeRolledBack)
		return res, nil
	}
	res.Outcome = OutcomePromoted
	res.ChampionAfter = version
	p.stage(ctx, "done", OutcomePromoted)
	return res, nil
}

// rollbackChampion moves the champion from `from` back to `to` (or removes
// nothing when there was no previous champion: the alias then points back
// at nothing is not possible, so it records a demotion only).
func (p *pipeline) rollbackChampion(ctx workflow.Context, from, to, reason string) error {
	info := workflow.GetInfo(ctx)
	a := p.acts
	if to != "" {
		expect := from
		if err := workflow.ExecuteActivity(ctx, a.MoveAlias, activities.MoveAliasInput{Alias: AliasChampion, To: to, ExpectFrom: &expect,
			Actor: "clvflow-canary", Reason: reason, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}).Get(ctx, nil); err != nil {
			return err
		}
	}
	return workflow.ExecuteActivity(ctx, a.RecordEvent, activities.EventInput{Version: from, Type: registry.EventDemoted, Actor: "clvflow-canary",
		Comment: reason, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}).Get(ctx, nil)
}

func displayVersion(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

// compensate runs one compensation on a disconnected context, so that it
// also runs when the workflow is being cancelled, and records it.
func (p *pipeline) compensate(ctx workflow.Context, res *PipelineResult, what string, fn func(ctx workflow.Context) error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	dctx = workflow.WithActivityOptions(dctx, p.options(2*time.Minute, 10))
	if err := fn(dctx); err != nil {
		p.logger.Error("compensation failed", "compensation", what, "error", err)
		res.Compensations = append(res.Compensations, what+": FAILED: "+rootMessage(err))
		return
	}
	res.Compensations = append(res.Compensations, what)
}

func (p *pipeline) fail(ctx workflow.Context, res *PipelineResult, stage string, err error) (*PipelineResult, error) {
	p.stage(ctx, "failed", stage+": "+rootMessage(err))
	return res, err
}

func rootMessage(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

func withHeartbeat(o workflow.ActivityOptions, hb time.Duration) workflow.ActivityOptions {
	if hb <= 0 {
		hb = 2 * time.Minute
	}
	o.HeartbeatTimeout = hb
	return o
}

// scheduledTime returns the Temporal Schedule's nominal time of this run.
func scheduledTime(ctx workflow.Context) (time.Time, bool) {
	return workflow.GetTypedSearchAttributes(ctx).GetTime(temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime"))
}

// validateDecision is the Update validator (and the signal filter). It runs
// before anything is written to history: a refused request leaves no trace.
func (p *pipeline) validateDecision(_ workflow.Context, d Decision) error {
	switch {
	case p.status.PendingApproval == nil:
		return fmt.Errorf("this run is not waiting for an approval (stage %s)", p.status.Stage)
	case p.decision != nil:
		return fmt.Errorf("version %s was already decided by %s", p.decision.Version, p.decision.Approver)
	case d.Version != p.status.PendingApproval.Version:
		return fmt.Errorf("this run awaits approval of version %s, not %q", p.status.PendingApproval.Version, d.Version)
	case strings.TrimSpace(d.Approver) == "":
		return errors.New("approver name is required")
	case len(p.in.Approvers) > 0 && !slices.Contains(p.in.Approvers, d.Approver):
		return fmt.Errorf("approver %q is not in the configured approvers list (approvals.approvers)", d.Approver)
	}
	return nil
}

func (p *pipeline) handleApproval(ctx workflow.Context, d Decision) (Decision, error) {
	d.Time = workflow.Now(ctx)
	p.decision = &d
	return d, nil
}

// awaitApproval waits for a valid decision or the deadline; nil means the
// deadline passed.
func (p *pipeline) awaitApproval(ctx workflow.Context, version string) (*Decision, error) {
	deadline := workflow.Now(ctx).Add(p.in.ApprovalTimeout)
	p.status.PendingApproval = &PendingApproval{Version: version, Approvers: p.in.Approvers, Deadline: deadline}
	defer func() { p.status.PendingApproval = nil }()
	if p.in.AutoApproveAs != "" {
		p.stage(ctx, "approval", "auto-approving as "+p.in.AutoApproveAs)
		p.decision = &Decision{Approve: true, Version: version, Approver: p.in.AutoApproveAs, Auto: true, Time: workflow.Now(ctx)}
		p.status.Decision = p.decision
		return p.decision, nil
	}
	p.stage(ctx, "approval", "waiting for approval of "+version+" until "+deadline.UTC().Format(time.RFC3339))
	ok, err := workflow.AwaitWithTimeout(ctx, p.in.ApprovalTimeout, func() bool { return p.decision != nil })
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	p.status.Decision = p.decision
	return p.decision, nil
}

func failedChecks(g registry.Gate) string {
	var out []string
	for _, c := range g.Checks {
		if !c.Passed {
			out = append(out, fmt.Sprintf("%s %.4g %s %.4g", c.Name, c.Value, c.Op, c.Threshold))
		}
	}
	if len(out) == 0 {
		return "no checks"
	}
	return strings.Join(out, "; ")
}

// EvaluateGate applies the declarative thresholds to an evaluation. It is
// pure and deterministic: every compared number ends up in the verdict.
func EvaluateGate(cfg GateConfig, ev activities.EvaluateResult) registry.Gate {
	ch, ok := ev.Metrics[ev.Challenger]
	if !ok {
		return registry.NewGate(registry.NewCheck("challenger_metrics_present", 0, registry.OpEQ, 1))
	}
	checks := []registry.Check{
		registry.NewCheck("test_customers", float64(ev.TestCustomers), registry.OpGE, float64(cfg.MinTestCustomers)),
		registry.NewCheck("decile_mape", ch.DecileMAPE, registry.OpLE, cfg.MaxDecileMAPE),
	}
	if base, ok := ev.Metrics[ev.Baseline]; ok {
		checks = append(checks, registry.NewCheck("gini_lift_over_"+ev.Baseline, ch.NormalizedGini-base.NormalizedGini, registry.OpGE, cfg.MinGiniLift))
	} else {
		checks = append(checks, registry.NewCheck("baseline_metrics_present", 0, registry.OpEQ, 1))
	}
	if champ, ok := ev.Metrics["champion"]; ok && ev.ChampionVersion != "" {
		checks = append(checks, registry.NewCheck("gini_regression_vs_champion_"+ev.ChampionVersion, champ.NormalizedGini-ch.NormalizedGini, registry.OpLE, cfg.MaxChampionRegression))
	}
	return registry.NewGate(checks...)
}
