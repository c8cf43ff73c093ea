package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/policy"
	"github.com/clvflow/clvflow/registry"
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
	AliasChampion  = registry.ChampionAlias
	AliasCandidate = "candidate"
)

// Outcomes of a pipeline run that completed.
const (
	OutcomePromoted        = "promoted"
	OutcomeRejected        = "rejected"
	OutcomeApprovalTimeout = "approval_timeout"
	OutcomeRolledBack      = "rolled_back"
	// OutcomeCanaryFailed: the promoted version failed its canary and there
	// was no previous champion to roll back to; it is still champion.
	OutcomeCanaryFailed = "canary_failed"
	// OutcomeRollbackFailed: the promoted version failed its canary and
	// moving the champion back failed; it is still champion.
	OutcomeRollbackFailed = "rollback_failed"
)

// PipelineInput configures one training run.
type PipelineInput struct {
	Input activities.IngestInput `json:"input"`
	CSV   *dataset.CSVMapping    `json:"csv,omitempty"`
	// MaxRejectedFraction is the share of rows validation may reject (0: none).
	MaxRejectedFraction float64 `json:"max_rejected_fraction"`
	DropReversed        bool    `json:"drop_reversed,omitempty"`
	Cutoff              string  `json:"cutoff,omitempty"`
	AsOf                string  `json:"as_of,omitempty"`
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
	Snapshots        int `json:"snapshots,omitempty"`
	SnapshotStepDays int `json:"snapshot_step_days,omitempty"`
	// ShardRows: above this many accepted rows the log is featurized in
	// ceil(rows/ShardRows) shards, at most MaxShards (0 =
	// DefaultMaxShards), in parallel on any worker (see FeaturizeShards);
	// 0 never shards.
	ShardRows int64 `json:"shard_rows,omitempty"`
	MaxShards int   `json:"max_shards,omitempty"`
	// Gate may only tighten the worker's policy: a threshold set here
	// applies where it is stricter, a looser one is ignored (and reported in
	// the result). nil: the policy's thresholds as they are.
	Gate *policy.GateRequest `json:"gate,omitempty"`
	// Approvers narrows the principals of the worker's allowed signers who
	// may decide this run; empty means every allowed signer.
	Approvers []string `json:"approvers,omitempty"`
	// ApprovalTimeout may only shorten the policy's approval deadline (0:
	// the policy's).
	ApprovalTimeout time.Duration `json:"approval_timeout,omitempty"`
	// AutoApproveAs approves on behalf of this name without waiting (demos),
	// only where the worker's policy allows automatic approval; the decision
	// is recorded as automatic.
	AutoApproveAs string `json:"auto_approve_as,omitempty"`
	// TrainTaskQueue runs training activities on another task queue (GPU
	// workers); empty = the workflow's own queue.
	TrainTaskQueue        string        `json:"train_task_queue,omitempty"`
	TrainHeartbeatTimeout time.Duration `json:"train_heartbeat_timeout,omitempty"`
	CanaryRows            int           `json:"canary_rows,omitempty"`
	// RetryBudget is how long each activity is retried after its first
	// attempt's time (0 = DefaultRetryBudget).
	RetryBudget time.Duration `json:"retry_budget,omitempty"`
	RequestedBy string        `json:"requested_by,omitempty"`
}

// Decision approves or rejects a registered version. A request carries only
// Statement (the bytes of an approval.Statement) and Signature (armored
// SSHSIG over them); the pipeline fills the other fields from the verified
// statement. Version, Approver and Approve, when a request sets them, must
// agree with the statement.
type Decision struct {
	Approve   bool      `json:"approve"`
	Version   string    `json:"version"`
	Approver  string    `json:"approver"`
	Comment   string    `json:"comment,omitempty"`
	Auto      bool      `json:"auto,omitempty"`
	Time      time.Time `json:"time"`
	Statement string    `json:"statement,omitempty"`
	Signature string    `json:"signature,omitempty"`
	// Signer is who signed, as the worker's allowed signers name the key.
	Signer *approval.Signer `json:"signer,omitempty"`
}

// PendingApproval describes what the pipeline waits for: everything a
// signed statement must name.
type PendingApproval struct {
	Version    string    `json:"version"`
	WorkflowID string    `json:"workflow_id,omitempty"`
	RunID      string    `json:"run_id,omitempty"`
	ONNXSHA256 string    `json:"onnx_sha256,omitempty"`
	Approvers  []string  `json:"approvers,omitempty"`
	Since      time.Time `json:"since"`
	Deadline   time.Time `json:"deadline"`
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
	Outcome    string `json:"outcome"`
	Version    string `json:"version,omitempty"`
	Challenger string `json:"challenger,omitempty"`
	// RawDataset is the transaction log as ingested, CleanDataset what
	// validation made of it; the registry entry and the ONNX metadata name
	// the same two.
	RawDataset     artifacts.Ref             `json:"raw_dataset"`
	CleanDataset   artifacts.Ref             `json:"clean_dataset"`
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
	// FeaturizeShards is the number of shards featurized in parallel (0:
	// the log was featurized whole).
	FeaturizeShards int `json:"featurize_shards,omitempty"`
	// FeatureStats count the featurized transactions by period and the
	// customers who first bought in the holdout (absent in runs recorded
	// before they were kept).
	FeatureStats  *features.Stats `json:"feature_stats,omitempty"`
	Compensations []string        `json:"compensations,omitempty"`
	// Policy is the worker's policy the run applied; PolicyIgnored lists the
	// input's requests that would have loosened it.
	Policy *registry.PolicyRecord `json:"policy,omitempty"`
	// Report is the evaluation report page (`clvflow report vN`).
	Report        *artifacts.Ref `json:"report,omitempty"`
	PolicyIgnored []string       `json:"policy_ignored,omitempty"`
}

// DefaultMaxShards bounds the featurize shards of a run whose input leaves
// MaxShards at 0.
const DefaultMaxShards = 16

// FeaturizeShards is the number of shards a log of rows accepted rows is
// featurized in: ceil(rows/shardRows) clamped to [1, maxShards] (0 =
// DefaultMaxShards); 1 (the whole log in one Featurize activity) when
// shardRows ≤ 0.
func FeaturizeShards(rows, shardRows int64, maxShards int) int {
	if shardRows <= 0 || rows <= shardRows {
		return 1
	}
	if maxShards <= 0 {
		maxShards = DefaultMaxShards
	}
	n := (rows + shardRows - 1) / shardRows
	return int(min(n, int64(maxShards)))
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
	if in.MaxRejectedFraction < 0 || in.MaxRejectedFraction > 1 {
		errs = append(errs, fmt.Sprintf("max_rejected_fraction must be in [0,1] (0: no rejected row), got %g", in.MaxRejectedFraction))
	}
	if in.RetryBudget < 0 {
		errs = append(errs, fmt.Sprintf("retry_budget must be ≥ 0 (0 = %v), got %v", DefaultRetryBudget, in.RetryBudget))
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
	if in.ShardRows < 0 {
		errs = append(errs, fmt.Sprintf("shard_rows must be ≥ 0 (0 never shards), got %d", in.ShardRows))
	}
	if in.MaxShards < 0 || in.MaxShards > activities.MaxFeaturizeShards {
		errs = append(errs, fmt.Sprintf("max_shards must be in [0,%d] (0 = %d), got %d", activities.MaxFeaturizeShards, DefaultMaxShards, in.MaxShards))
	}
	errs = append(errs, modelkind.CheckPipeline(in.Models)...)
	if in.ApprovalTimeout < 0 {
		errs = append(errs, fmt.Sprintf("approval_timeout must be ≥ 0 (0 = the worker policy's deadline), got %v", in.ApprovalTimeout))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// RollbackInput asks to move the champion back: a signed decision (an
// approval.Statement of decision "rollback" naming this workflow id, the
// target version, its ONNX sha256 and the champion it replaces), verified
// against the worker's allowed signers.
type RollbackInput struct {
	// To is the version to roll back to; empty means the version the
	// champion pointed at before its current one.
	To        string `json:"to,omitempty"`
	Actor     string `json:"actor"`
	Reason    string `json:"reason,omitempty"`
	Statement string `json:"statement,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// RollbackResult says what moved.
type RollbackResult struct {
	From string `json:"from"`
	To   string `json:"to"`
}
