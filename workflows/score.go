package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/scoring"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Drift actions.
const (
	DriftRetrain = "retrain"
	DriftAlert   = "alert"
)

// DriftRetrainWorkflowID is the id of the TrainingPipeline a drifted
// scoring run starts: one at a time, whatever number of scoring runs see
// the drift.
const DriftRetrainWorkflowID = "clvflow-drift-retrain"

// QueryScoreStatus returns a BatchScore run's ScoreStatus.
const QueryScoreStatus = "score-status"

// BatchScoreInput is one batch scoring run.
type BatchScoreInput struct {
	Input activities.IngestInput `json:"input"`
	CSV   *dataset.CSVMapping    `json:"csv_mapping,omitempty"`
	// Model is a version or an alias (default champion), pinned at the start.
	Model string `json:"model,omitempty"`
	AsOf  string `json:"as_of,omitempty"`
	// UseScheduledTime makes the Temporal Schedule's scheduled day the
	// as-of day.
	UseScheduledTime bool             `json:"use_scheduled_time,omitempty"`
	Shards           int              `json:"shards"`
	WriteCSV         bool             `json:"write_csv,omitempty"`
	Segments         scoring.Segments `json:"segments"`
	PSIThreshold     float64          `json:"psi_threshold"`
	// DriftAction is retrain or alert; Retrain is the TrainingPipeline input
	// a retrain starts with (its data replaced by the scored dataset).
	DriftAction         string         `json:"drift_action"`
	Retrain             *PipelineInput `json:"retrain,omitempty"`
	MaxRejectedFraction float64        `json:"max_rejected_fraction"`
	RetryBudget         time.Duration  `json:"retry_budget,omitempty"`
	// ShardHeartbeatTimeout is how soon a shard whose worker died is retried
	// elsewhere (0: 2 minutes).
	ShardHeartbeatTimeout time.Duration `json:"shard_heartbeat_timeout,omitempty"`
}

// ScoreStatus is the progress of a BatchScore run.
type ScoreStatus struct {
	Stage      string `json:"stage"`
	ShardsDone int    `json:"shards_done"`
	Shards     int    `json:"shards"`
	Version    string `json:"version,omitempty"`
}

// BatchScoreResult is what a BatchScore run returns.
type BatchScoreResult struct {
	activities.ScoreSummary
	RawDataset   string `json:"raw_dataset_sha256"`
	CleanDataset string `json:"clean_dataset_sha256"`
	// Reused: an identical earlier run's output was returned.
	Reused bool `json:"reused,omitempty"`
	// Retrain is the TrainingPipeline this run started on drift (or found
	// already running), empty when none.
	Retrain     string `json:"retrain,omitempty"`
	DriftAction string `json:"drift_action,omitempty"`
}

// Validate checks the input before any work starts.
func (in BatchScoreInput) Validate() error {
	var errs []string
	if (in.Input.Path == "") == (in.Input.Source == nil) {
		errs = append(errs, "give exactly one input: a file path or a stored object")
	}
	if in.Shards < 1 || in.Shards > 256 {
		errs = append(errs, fmt.Sprintf("shards must be in [1,256], got %d", in.Shards))
	}
	if err := in.Segments.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if in.PSIThreshold <= 0 {
		errs = append(errs, "psi_threshold must be > 0")
	}
	if in.DriftAction != DriftRetrain && in.DriftAction != DriftAlert {
		errs = append(errs, fmt.Sprintf("drift_action must be %s or %s, got %q", DriftRetrain, DriftAlert, in.DriftAction))
	}
	if in.DriftAction == DriftRetrain && in.Retrain == nil {
		errs = append(errs, "drift_action retrain needs the retrain pipeline input")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// scoreRun is the state of one BatchScore run.
type scoreRun struct {
	in      BatchScoreInput
	status  ScoreStatus
	res     BatchScoreResult
	ingest  activities.IngestResult
	clean   activities.ValidateResult
	plan    activities.ScorePlan
	results []activities.ShardResult
}

// BatchScore scores every customer of a transaction log with the champion
// (or a named version) as of a day: ingest → validate → plan (pin the model,
// reuse an identical earlier run) → score the shards in parallel activities
// → rank them together into deciles and segments, Parquet (and CSV) in
// MinIO → drift: on a population shift above the threshold start one
// TrainingPipeline on this data (it still needs the gate and a signed
// approval), or only report it.
func BatchScore(ctx workflow.Context, in BatchScoreInput) (*BatchScoreResult, error) {
	r := &scoreRun{in: in, status: ScoreStatus{Stage: "starting", Shards: in.Shards}}
	if err := workflow.SetQueryHandler(ctx, QueryScoreStatus, func() (ScoreStatus, error) { return r.status, nil }); err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("invalid scoring input: "+err.Error(), activities.ErrTypeBadInput, nil)
	}
	for _, stage := range []func(workflow.Context) error{r.load, r.prepare, r.score, r.finalize, r.drift} {
		if err := stage(ctx); err != nil {
			_ = setStage(ctx, "failed")
			return &r.res, err
		}
		if r.res.Reused {
			break
		}
	}
	_ = setStage(ctx, "done")
	return &r.res, nil
}

func (r *scoreRun) stage(ctx workflow.Context, name string) {
	r.status.Stage = name
	_ = setStage(ctx, name)
}

// load ingests and validates the transaction log.
func (r *scoreRun) load(ctx workflow.Context) error {
	var err error
	r.ingest, r.clean, err = loadClean(ctx, cleanLoad{input: r.in.Input, csv: r.in.CSV, maxRejected: r.in.MaxRejectedFraction,
		budget: r.in.RetryBudget, stage: func(s string) { r.stage(ctx, s) }})
	if err != nil {
		return err
	}
	r.res.RawDataset, r.res.CleanDataset = r.ingest.Dataset.SHA256, r.clean.Clean.SHA256
	return nil
}

// prepare pins the model and finds an identical earlier run.
func (r *scoreRun) prepare(ctx workflow.Context) error {
	r.stage(ctx, "plan")
	model := r.in.Model
	if model == "" {
		model = AliasChampion
	}
	asOf := r.in.AsOf
	if t, ok := scheduledTime(ctx); ok && r.in.UseScheduledTime {
		asOf = t.UTC().Format("2006-01-02")
	}
	in := activities.ScoreInput{Model: model, Clean: r.clean.Clean, AsOf: asOf, DataEnd: r.clean.MaxTime, Shards: r.in.Shards,
		CSV: r.in.WriteCSV, Segments: r.in.Segments, PSIThreshold: r.in.PSIThreshold}
	dctx := workflow.WithActivityOptions(ctx, dataOptions(r.in.RetryBudget))
	if err := workflow.ExecuteActivity(dctx, acts.PrepareScoring, in).Get(ctx, &r.plan); err != nil {
		return err
	}
	r.status.Version = r.plan.Version
	if r.plan.Existing != nil {
		r.res.ScoreSummary, r.res.Reused = *r.plan.Existing, true
	}
	return nil
}

// score runs every shard as its own activity, in parallel, on any worker.
func (r *scoreRun) score(ctx workflow.Context) error {
	r.stage(ctx, "score")
	dctx := workflow.WithActivityOptions(ctx, withHeartbeat(activityOptions(time.Hour, r.in.RetryBudget), r.in.ShardHeartbeatTimeout))
	futures := make([]workflow.Future, r.in.Shards)
	heavy := onHeavyQueue(dctx)
	for i := range futures {
		futures[i] = workflow.ExecuteActivity(heavy, acts.ScoreShard, activities.ShardInput{Plan: r.plan, Clean: r.clean.Clean, Shard: i, Shards: r.in.Shards})
	}
	r.results = make([]activities.ShardResult, r.in.Shards)
	var firstErr error
	for i, f := range futures {
		if err := f.Get(ctx, &r.results[i]); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("shard %d: %w", i, err)
		}
		r.status.ShardsDone++
	}
	return firstErr
}

// finalize ranks all customers together and writes the output.
func (r *scoreRun) finalize(ctx workflow.Context) error {
	r.stage(ctx, "rank")
	in := activities.FinalizeInput{Plan: r.plan, Shards: r.results, CSV: r.in.WriteCSV, Segments: r.in.Segments, PSIThreshold: r.in.PSIThreshold}
	dctx := workflow.WithActivityOptions(ctx, dataOptions(r.in.RetryBudget))
	return workflow.ExecuteActivity(dctx, acts.FinalizeScores, in).Get(ctx, &r.res.ScoreSummary)
}

// drift acts on a population shift: retrain (one TrainingPipeline at a
// time, abandoned to run on its own) or only report it.
func (r *scoreRun) drift(ctx workflow.Context) error {
	if !r.res.Drift.Drifted {
		return nil
	}
	r.res.DriftAction = r.in.DriftAction
	workflow.GetLogger(ctx).Warn("drift", "max_psi", r.res.Drift.Max, "of", r.res.Drift.MaxOf, "threshold", r.res.Drift.Threshold, "action", r.in.DriftAction)
	if r.in.DriftAction != DriftRetrain {
		return nil
	}
	r.stage(ctx, "retrain")
	retrain := *r.in.Retrain
	retrain.Input = activities.IngestInput{Source: &r.ingest.Dataset, Format: r.ingest.Format}
	retrain.RequestedBy = "drift: " + workflow.GetInfo(ctx).WorkflowExecution.ID
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: DriftRetrainWorkflowID,
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE})
	var exec workflow.Execution
	err := workflow.ExecuteChildWorkflow(cctx, TrainingPipeline, retrain).GetChildWorkflowExecution().Get(ctx, &exec)
	var already *temporal.ChildWorkflowExecutionAlreadyStartedError
	switch {
	case errors.As(err, &already):
		r.res.Retrain = DriftRetrainWorkflowID + " (already running)"
	case err != nil:
		return err
	default:
		r.res.Retrain = exec.ID + "/" + exec.RunID
	}
	return nil
}
