package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/internal/searchattr"
	"github.com/clvflow/clvflow/registry"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// acts names activities by method reference, (*Activities).Method; it is
// never dereferenced in workflow code.
var acts *activities.Activities

// parityRows is how many training rows the ONNX parity check scores.
const parityRows = 512

// defaultCanaryRows is how many customers the canary scores by default.
const defaultCanaryRows = 256

// pipeline holds the state of one run; its methods are workflow code. Each
// stage method reads what earlier stages left here and adds its own.
type pipeline struct {
	in       PipelineInput
	run      activities.Run
	status   PipelineStatus
	decision *Decision
	logger   log.Logger
	res      PipelineResult

	ingested   activities.IngestResult
	validated  activities.ValidateResult
	featurized activities.FeaturizeResult
	trained    []activities.TrainResult
	champion   activities.ChampionInfo
	evaluation activities.EvaluateResult
	exported   activities.ExportResult
	version    string
	gov        governance
}

// stopRun ends a run before its last stage: the result is final and err
// (nil for a decided outcome such as a rejection) is returned as it is.
type stopRun struct{ err error }

func (s *stopRun) Error() string {
	if s.err == nil {
		return "run ended"
	}
	return s.err.Error()
}

// TrainingPipeline is the retraining workflow: ingest → validate →
// featurize → train → evaluate → gate → export ONNX + parity → register →
// approval → promote → canary. Failures after side effects run
// compensations; the champion alias never changes unless a person (or the
// recorded auto-approver) approved a version that passed every gate.
func TrainingPipeline(ctx workflow.Context, in PipelineInput) (*PipelineResult, error) {
	p := &pipeline{in: in, run: runOf(ctx), logger: workflow.GetLogger(ctx), status: PipelineStatus{Stage: "starting"}}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (PipelineStatus, error) { return p.status, nil }); err != nil {
		return nil, err
	}
	if err := p.setApprovalHandlers(ctx); err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("invalid pipeline input: "+err.Error(), activities.ErrTypeBadInput, nil)
	}
	return p.runStages(ctx)
}

// runStages runs the stages in order until one fails or ends the run.
func (p *pipeline) runStages(ctx workflow.Context) (*PipelineResult, error) {
	stages := []struct {
		name string
		run  func(workflow.Context) error
	}{
		{"policy", p.loadPolicy}, {"ingest", p.ingest}, {"validate", p.validate}, {"featurize", p.featurize}, {"train", p.train},
		{"evaluate", p.evaluate}, {"gate", p.gate}, {"export", p.export}, {"register", p.register},
		{"approval", p.approve}, {"promote", p.promote}, {"canary", p.canary},
	}
	for _, s := range stages {
		err := s.run(ctx)
		var stop *stopRun
		switch {
		case errors.As(err, &stop):
			return &p.res, stop.err
		case err != nil:
			return p.fail(ctx, s.name, err)
		}
	}
	return &p.res, nil
}

func (p *pipeline) ingest(ctx workflow.Context) error {
	p.stage(ctx, "ingest", "uploading the transaction log")
	actx := workflow.WithActivityOptions(ctx, ingestOptions(p.in.RetryBudget))
	if err := workflow.ExecuteActivity(actx, acts.IngestDataset, p.in.Input).Get(ctx, &p.ingested); err != nil {
		return err
	}
	p.res.RawDataset = p.ingested.Dataset
	_ = workflow.UpsertTypedSearchAttributes(ctx, temporal.NewSearchAttributeKeyKeyword(searchattr.Dataset).ValueSet(p.ingested.Dataset.SHA256))
	return nil
}

func (p *pipeline) validate(ctx workflow.Context) error {
	p.stage(ctx, "validate", "validating and cleaning")
	in := activities.ValidateInput{Dataset: p.ingested.Dataset, Format: p.ingested.Format, CSV: p.in.CSV,
		MaxRejectedFraction: p.in.MaxRejectedFraction, DropReversed: p.in.DropReversed}
	actx := workflow.WithActivityOptions(ctx, dataOptions(p.in.RetryBudget))
	if err := workflow.ExecuteActivity(actx, acts.ValidateDataset, in).Get(ctx, &p.validated); err != nil {
		return err
	}
	p.res.CleanDataset = p.validated.Clean
	return nil
}

func (p *pipeline) featurize(ctx workflow.Context) error {
	asOf := p.in.AsOf
	if p.in.UseScheduledTime {
		if t, ok := scheduledTime(ctx); ok {
			asOf = t.UTC().Format("2006-01-02")
		}
	}
	p.stage(ctx, "featurize", "building customer features")
	in := activities.FeaturizeInput{Clean: p.validated.Clean, Cutoff: p.in.Cutoff, AsOf: asOf, DataEnd: p.validated.MaxTime,
		HorizonDays: p.in.HorizonDays, SeqWeeks: p.in.SeqWeeks, TestFraction: p.in.TestFraction, Seed: p.in.Seed,
		Snapshots: p.in.Snapshots, SnapshotStepDays: p.in.SnapshotStepDays, Models: p.in.Models}
	actx := workflow.WithActivityOptions(ctx, dataOptions(p.in.RetryBudget))
	var err error
	if n := FeaturizeShards(p.validated.Accepted, p.in.ShardRows, p.in.MaxShards); n > 1 &&
		workflow.GetVersion(ctx, shardedFeaturize, workflow.DefaultVersion, 1) != workflow.DefaultVersion {
		err = p.featurizeSharded(actx, in, n)
	} else {
		err = workflow.ExecuteActivity(onHeavyQueue(actx), acts.Featurize, in).Get(ctx, &p.featurized)
	}
	if err != nil {
		return err
	}
	p.res.Cutoff, p.res.HorizonDays, p.res.TestCustomers = p.featurized.Cutoff, p.featurized.HorizonDays, p.featurized.TestCustomers
	if stats := p.featurized.Stats; stats.Transactions > 0 {
		p.res.FeatureStats = &stats
	}
	return nil
}

// shardedFeaturize marks runs that may featurize in shards; runs recorded
// before it always ran the one Featurize activity.
const shardedFeaturize = "sharded-featurize"

// featurizeSharded splits the clean log by customer into n shards, builds
// their features as parallel activities that any worker may pick up (each
// heartbeats and is retried alone) and merges them into exactly what
// Featurize builds from the whole log.
func (p *pipeline) featurizeSharded(ctx workflow.Context, in activities.FeaturizeInput, n int) error {
	var log activities.ShardLogResult
	if err := workflow.ExecuteActivity(ctx, acts.ShardLog, activities.ShardLogInput{Featurize: in, Shards: n}).Get(ctx, &log); err != nil {
		return err
	}
	if len(log.Shards) != n || len(log.Rows) != n {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("shard log returned %d shards, want %d", len(log.Shards), n), activities.ErrTypeBadInput, nil)
	}
	p.status.Progress = fmt.Sprintf("building customer features in %d shards", n)
	futures := make([]workflow.Future, n)
	heavy := onHeavyQueue(ctx)
	for i := range futures {
		futures[i] = workflow.ExecuteActivity(heavy, acts.FeaturizeShard, activities.FeaturizeShardInput{Featurize: in, Log: log.Shards[i], Rows: log.Rows[i],
			Shard: i, ShardPlan: log.ShardPlan})
	}
	shards := make([]activities.FeaturizeShardResult, n)
	var shardErr error
	for i, f := range futures {
		if err := f.Get(ctx, &shards[i]); err != nil && shardErr == nil {
			shardErr = fmt.Errorf("featurize shard %d of %d: %w", i, n, err)
		}
	}
	if shardErr != nil {
		return shardErr
	}
	p.res.FeaturizeShards = n
	merge := activities.MergeFeaturesInput{Featurize: in, Shards: shards, ShardPlan: log.ShardPlan}
	return workflow.ExecuteActivity(ctx, acts.MergeFeatures, merge).Get(ctx, &p.featurized)
}

// train trains every model in parallel; networks heartbeat and checkpoint.
func (p *pipeline) train(ctx workflow.Context) error {
	p.stage(ctx, "train", "training "+strings.Join(p.in.Models, ", "))
	actx := workflow.WithActivityOptions(ctx, trainOptions(p.in))
	snapshots := make([]artifacts.Ref, len(p.featurized.Snapshots))
	for i, s := range p.featurized.Snapshots {
		snapshots[i] = s.Features
	}
	futures := make([]workflow.Future, len(p.in.Models))
	heavy := onHeavyQueue(actx)
	for i, kind := range p.in.Models {
		futures[i] = workflow.ExecuteActivity(heavy, acts.TrainModel, activities.TrainInput{
			Kind: kind, Features: p.featurized.Features, Split: p.featurized.Split, HorizonDays: p.featurized.HorizonDays,
			Seed: p.in.Seed, CheckpointKey: fmt.Sprintf("checkpoints/%s/%s/%s", p.run.WorkflowID, p.run.RunID, kind),
			MaxEpochs: p.in.MaxEpochs, Snapshots: snapshots,
		})
	}
	p.trained = make([]activities.TrainResult, len(p.in.Models))
	var trainErr error
	for i, f := range futures {
		if err := f.Get(ctx, &p.trained[i]); err != nil && trainErr == nil {
			trainErr = fmt.Errorf("train %s: %w", p.in.Models[i], err)
		}
	}
	if trainErr != nil {
		return trainErr
	}
	p.res.Trained = p.trained
	return nil
}

// evaluate scores every model and the current champion on the same test
// customers and picks the challenger.
func (p *pipeline) evaluate(ctx workflow.Context) error {
	p.stage(ctx, "evaluate", "scoring the test customers")
	rctx := workflow.WithActivityOptions(ctx, registryOptions(p.in.RetryBudget))
	if err := workflow.ExecuteActivity(rctx, acts.CurrentChampion, AliasChampion).Get(ctx, &p.champion); err != nil {
		return err
	}
	p.res.ChampionBefore = p.champion.Version
	in := activities.EvaluateInput{Features: p.featurized.Features, Split: p.featurized.Split, Models: p.trained, HorizonDays: p.featurized.HorizonDays,
		Confidence: p.gov.gate.Confidence, Resamples: p.gov.gate.BootstrapResamples, Seed: p.in.Seed, Baseline: p.gov.gate.Baseline,
		Rows: p.validated.Rows, RuleCounts: p.validated.RuleCounts}
	if p.champion.Version != "" {
		in.Champion = &p.champion
	}
	actx := workflow.WithActivityOptions(ctx, dataOptions(p.in.RetryBudget))
	if err := workflow.ExecuteActivity(onHeavyQueue(actx), acts.Evaluate, in).Get(ctx, &p.evaluation); err != nil {
		return err
	}
	p.res.Metrics, p.res.Challenger = p.evaluation.Metrics, p.evaluation.Challenger
	if !p.evaluation.HTMLReport.IsZero() {
		p.res.Report = &p.evaluation.HTMLReport
	}
	p.status.Challenger = p.evaluation.Challenger
	if m, ok := p.evaluation.Metrics[p.evaluation.Challenger]; ok {
		_ = workflow.UpsertTypedSearchAttributes(ctx, temporal.NewSearchAttributeKeyFloat64(searchattr.Gini).ValueSet(m.NormalizedGini))
	}
	return nil
}

// gate applies the thresholds; a failed challenger is registered for the
// audit trail, marked rejected, and the run stops with a GateFailed error.
func (p *pipeline) gate(ctx workflow.Context) error {
	p.stage(ctx, "gate", "comparing "+p.evaluation.Challenger+" with the baseline and the champion")
	gate := EvaluateGate(p.gov.gate, p.evaluation)
	p.res.Gate, p.status.Gate = gate, &gate
	_ = workflow.UpsertTypedSearchAttributes(ctx, temporal.NewSearchAttributeKeyKeyword(searchattr.GateVerdict).ValueSet(gateVerdict(gate)))
	if gate.Passed {
		return nil
	}
	rctx := workflow.WithActivityOptions(ctx, registryOptions(p.in.RetryBudget))
	version, err := p.registerVersion(rctx)
	if err != nil {
		return fmt.Errorf("register the failed challenger: %w", err)
	}
	p.res.Version = version
	_ = recordEvent(rctx, p.run, version, registry.EventRejected, "clvflow-gate", "gate failed: "+failedChecks(gate))
	p.stage(ctx, "failed", "gate failed: "+failedChecks(gate))
	return &stopRun{err: temporal.NewNonRetryableApplicationError("gate failed: "+failedChecks(gate), activities.ErrTypeGateFailed, nil, p.res)}
}

// export writes the challenger as ONNX and proves parity with ONNX Runtime.
func (p *pipeline) export(ctx workflow.Context) error {
	p.stage(ctx, "export", "exporting "+p.evaluation.Challenger+" to ONNX and checking parity")
	in := activities.ExportInput{Kind: p.evaluation.Challenger, Model: p.challenger().Model,
		Features: p.featurized.Features, Split: p.featurized.Split, Seed: p.in.Seed,
		ParityTolerance: p.gov.gate.ParityTolerance, ParityRows: parityRows,
		RawDatasetSHA256: p.ingested.Dataset.SHA256, CleanDatasetSHA256: p.validated.Clean.SHA256}
	actx := workflow.WithActivityOptions(ctx, dataOptions(p.in.RetryBudget))
	if err := workflow.ExecuteActivity(onHeavyQueue(actx), acts.ExportONNX, in).Get(ctx, &p.exported); err != nil {
		return err
	}
	p.res.ONNX, p.res.Parity = &p.exported.ONNX, &p.exported.Parity
	return nil
}

// register records the version with its lineage and makes it the
// candidate; a failed registration discards the unreferenced ONNX file.
func (p *pipeline) register(ctx workflow.Context) error {
	p.stage(ctx, "register", "registering the model version")
	rctx := workflow.WithActivityOptions(ctx, registryOptions(p.in.RetryBudget))
	version, err := p.registerVersion(rctx)
	if err != nil {
		p.compensate(ctx, "discard exported ONNX", func(ctx workflow.Context) error {
			return workflow.ExecuteActivity(ctx, acts.DiscardArtifacts, activities.DiscardInput{Refs: []artifacts.Ref{p.exported.ONNX}, Reason: "register failed"}).Get(ctx, nil)
		})
		return err
	}
	p.version, p.res.Version, p.status.Version = version, version, version
	_ = workflow.UpsertTypedSearchAttributes(ctx, temporal.NewSearchAttributeKeyKeyword(searchattr.ModelVersion).ValueSet(version))
	if err := moveAlias(rctx, p.run, AliasCandidate, version, nil, "clvflow-pipeline", "passed the gate", nil); err != nil {
		p.orphan(ctx, "candidate alias move failed")
		return err
	}
	return nil
}

// approve waits for a person's decision (or the deadline) and records it;
// anything but an approval ends the run with the champion unchanged.
func (p *pipeline) approve(ctx workflow.Context) error {
	decision, err := p.awaitApproval(ctx, p.version)
	if err != nil {
		p.orphan(ctx, "approval wait failed")
		return err
	}
	p.res.Decision = decision
	rctx := workflow.WithActivityOptions(ctx, registryOptions(p.in.RetryBudget))
	if err := recordDecision(rctx, p.run, p.version, decisionEvent(decision)); err != nil {
		return err
	}
	if decision != nil && decision.Approve {
		return nil
	}
	p.res.Outcome = OutcomeRejected
	if decision == nil {
		p.res.Outcome = OutcomeApprovalTimeout
	}
	p.res.ChampionAfter = p.champion.Version
	p.stage(ctx, "done", p.res.Outcome)
	return &stopRun{}
}

// promote moves the champion with a compare-and-swap against the champion
// the challenger was evaluated with.
func (p *pipeline) promote(ctx workflow.Context) error {
	p.stage(ctx, "promote", "moving champion to "+p.version)
	rctx := workflow.WithActivityOptions(ctx, registryOptions(p.in.RetryBudget))
	expect := p.champion.Version
	if err := moveAlias(rctx, p.run, AliasChampion, p.version, &expect, p.decision.Approver, "approved: "+p.decision.Comment, signedRecord(p.decision)); err != nil {
		p.orphan(ctx, "promotion failed")
		return err
	}
	_ = recordEvent(rctx, p.run, p.version, registry.EventPromoted, p.decision.Approver, "")
	return nil
}

// canary loads the new champion as serving does and scores a sample; a
// failure rolls the champion back (see afterFailedCanary).
func (p *pipeline) canary(ctx workflow.Context) error {
	p.stage(ctx, "canary", "scoring a sample with the new champion")
	rows := p.in.CanaryRows
	if rows <= 0 {
		rows = defaultCanaryRows
	}
	actx := workflow.WithActivityOptions(ctx, canaryOptions(p.in.RetryBudget))
	err := workflow.ExecuteActivity(actx, acts.Canary, activities.CanaryInput{Version: p.version, Features: p.featurized.Features, Rows: rows}).Get(ctx, nil)
	if err != nil {
		return p.afterFailedCanary(ctx, err)
	}
	p.res.Outcome, p.res.ChampionAfter = OutcomePromoted, p.version
	p.stage(ctx, "done", OutcomePromoted)
	return nil
}

// afterFailedCanary moves the champion back to the one before and records
// the demotion. The result says what happened: rolled_back only when the
// alias moved back; with no previous champion, or when the move back
// failed, the new version is still champion and the run fails so that a
// person looks at it.
func (p *pipeline) afterFailedCanary(ctx workflow.Context, canaryErr error) error {
	reason := "canary failed: " + rootMessage(canaryErr)
	prev := p.champion.Version
	p.logger.Error("canary failed", "version", p.version, "previous_champion", prev, "error", canaryErr)
	if prev == "" {
		msg := reason + "; there is no previous champion to roll back to, so " + p.version + " stays champion"
		p.compensate(ctx, "record that "+p.version+" failed its canary", func(ctx workflow.Context) error {
			return recordEvent(ctx, p.run, p.version, registry.EventNote, "clvflow-canary", msg)
		})
		return p.stopAsChampion(ctx, OutcomeCanaryFailed, msg)
	}
	expect := p.version
	if !p.compensate(ctx, "roll champion back to "+prev, func(ctx workflow.Context) error {
		return moveAlias(ctx, p.run, AliasChampion, prev, &expect, "clvflow-canary", reason, nil)
	}) {
		return p.stopAsChampion(ctx, OutcomeRollbackFailed, reason+"; rolling the champion back to "+prev+" failed, so "+p.version+" is still champion")
	}
	p.compensate(ctx, "record the demotion of "+p.version, func(ctx workflow.Context) error {
		return recordEvent(ctx, p.run, p.version, registry.EventDemoted, "clvflow-canary", reason)
	})
	p.res.Outcome, p.res.ChampionAfter = OutcomeRolledBack, prev
	p.stage(ctx, "done", OutcomeRolledBack)
	return &stopRun{}
}

// stopAsChampion ends a run whose new version failed its canary but is
// still champion: a CanaryFailed error carrying the result.
func (p *pipeline) stopAsChampion(ctx workflow.Context, outcome, msg string) error {
	p.res.Outcome, p.res.ChampionAfter = outcome, p.version
	p.stage(ctx, "failed", msg)
	return &stopRun{err: temporal.NewNonRetryableApplicationError(msg, activities.ErrTypeCanaryFailed, nil, p.res)}
}

// challenger is the trained model the evaluation picked.
func (p *pipeline) challenger() activities.TrainResult {
	for _, t := range p.trained {
		if t.Kind == p.evaluation.Challenger {
			return t
		}
	}
	return activities.TrainResult{}
}

// registerVersion registers the challenger with exactly what the registry
// records: data, evaluation, gate verdict and, once exported, the ONNX file.
func (p *pipeline) registerVersion(ctx workflow.Context) (string, error) {
	ch, val, feat := p.challenger(), p.validated, p.featurized
	in := activities.RegisterInput{
		Run: p.run, Kind: ch.Kind, Seed: p.in.Seed, Params: ch.Params, Model: ch.Model,
		Dataset: registry.DatasetRef{Raw: p.ingested.Dataset, Clean: val.Clean, Manifest: p.ingested.Manifest},
		Cleaning: registry.CleaningRef{Report: val.Report, RowsIn: val.Rows, RowsClean: val.Accepted, RowsRejected: val.Rejected,
			Customers: val.Customers, RuleCounts: val.RuleCounts},
		Quarantine: val.Quarantine, Features: feat.Features, Split: feat.Split, Snapshots: feat.Snapshots,
		Cutoff: feat.Cutoff, HorizonDays: feat.HorizonDays,
		Metrics: p.evaluation.Metrics, Evaluation: p.evaluation.Report, HTMLReport: p.evaluation.HTMLReport, Gate: p.res.Gate,
		Labels: map[string]string{"requested_by": p.in.RequestedBy}, Policy: p.res.Policy,
	}
	if p.res.Gate.Passed {
		in.Export = &p.exported
	}
	var version string
	err := workflow.ExecuteActivity(ctx, acts.RegisterVersion, in).Get(ctx, &version)
	return version, err
}

func (p *pipeline) stage(ctx workflow.Context, stage, progress string) {
	p.status.Stage, p.status.Progress = stage, progress
	_ = setStage(ctx, stage)
	p.logger.Info("pipeline stage", "stage", stage, "progress", progress)
}

func (p *pipeline) fail(ctx workflow.Context, stage string, err error) (*PipelineResult, error) {
	p.stage(ctx, "failed", stage+": "+rootMessage(err))
	return &p.res, err
}

// setStage records the pipeline stage as a search attribute so runs can be
// found by stage in the Temporal UI and with `temporal workflow list`.
func setStage(ctx workflow.Context, stage string) error {
	return workflow.UpsertTypedSearchAttributes(ctx, temporal.NewSearchAttributeKeyKeyword(searchattr.Stage).ValueSet(stage))
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

// scheduledTime returns the Temporal Schedule's nominal time of this run.
func scheduledTime(ctx workflow.Context) (time.Time, bool) {
	return workflow.GetTypedSearchAttributes(ctx).GetTime(temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime"))
}
