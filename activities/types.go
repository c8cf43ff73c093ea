package activities

import (
	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/policy"
	"github.com/clvflow/clvflow/registry"
)

// ValidateInput asks to validate and clean a stored raw dataset.
type ValidateInput struct {
	Dataset artifacts.Ref       `json:"dataset"`
	Format  string              `json:"format"`
	CSV     *dataset.CSVMapping `json:"csv,omitempty"`
	// MaxRejectedFraction is the share of rows validation may reject, in
	// [0,1] (0: none).
	MaxRejectedFraction float64 `json:"max_rejected_fraction"`
	// DropReversed removes purchases a cancellation in the file reverses.
	DropReversed bool `json:"drop_reversed,omitempty"`
}

// ValidateResult references the clean dataset, the quarantined rows and
// the validation report.
type ValidateResult struct {
	Clean      artifacts.Ref    `json:"clean"`
	Quarantine artifacts.Ref    `json:"quarantine"`
	Report     artifacts.Ref    `json:"report"`
	Rows       int64            `json:"rows"`
	Accepted   int64            `json:"accepted"`
	Rejected   int64            `json:"rejected"`
	Customers  int64            `json:"customers"`
	RuleCounts map[string]int64 `json:"rule_counts,omitempty"`
	MinTime    string           `json:"min_time"`
	MaxTime    string           `json:"max_time"`
}

// FeaturizeInput asks for per-customer features at a cutoff.
type FeaturizeInput struct {
	Clean artifacts.Ref `json:"clean"`
	// Cutoff is YYYY-MM-DD; empty means "the last day of data minus the
	// horizon".
	Cutoff string `json:"cutoff,omitempty"`
	// AsOf (YYYY-MM-DD, optional) ignores every transaction after that day,
	// as if training ran then; with an empty Cutoff the cutoff becomes
	// AsOf minus the horizon. Schedules and backfills set it to the
	// scheduled time.
	AsOf string `json:"as_of,omitempty"`
	// DataEnd is the last transaction time of the clean dataset (RFC 3339),
	// from validation.
	DataEnd      string  `json:"data_end,omitempty"`
	HorizonDays  int     `json:"horizon_days"`
	SeqWeeks     int     `json:"seq_weeks"`
	TestFraction float64 `json:"test_fraction"`
	Seed         uint64  `json:"seed"`
	// Snapshots is the number of earlier training snapshots to build
	// (features.SnapshotCutoffs; 0 = none), SnapshotStepDays the days
	// between them (0 = features.DefaultSnapshotStepDays).
	Snapshots        int `json:"snapshots,omitempty"`
	SnapshotStepDays int `json:"snapshot_step_days,omitempty"`
	// Models are the kinds the run trains. When none of them (nor the
	// current champion, scored on the same features) is a sequence model,
	// the features leave out the weekly sequences, most of their memory.
	// Empty means unknown: sequences are built.
	Models []string `json:"models,omitempty"`
}

// SnapshotRef references the stored feature set of one earlier training
// snapshot.
type SnapshotRef struct {
	Cutoff    string        `json:"cutoff"`
	Features  artifacts.Ref `json:"features"`
	Customers int           `json:"customers"`
}

// FeaturizeResult references the stored feature set and train/test split.
type FeaturizeResult struct {
	Features       artifacts.Ref `json:"features"`
	Split          artifacts.Ref `json:"split"`
	Cutoff         string        `json:"cutoff"`
	HorizonDays    int           `json:"horizon_days"`
	SeqWeeks       int           `json:"seq_weeks"`
	Customers      int           `json:"customers"`
	TrainCustomers int           `json:"train_customers"`
	TestCustomers  int           `json:"test_customers"`
	// Snapshots are the earlier training snapshots, latest first.
	Snapshots []SnapshotRef `json:"snapshots,omitempty"`
	// Stats count the transactions by period (calibration, holdout, after
	// the horizon) and the customers who first bought in the holdout: the
	// same for a log featurized whole or in shards.
	Stats features.Stats `json:"stats"`
}

// ShardLogInput asks to split the clean log of a featurize run by customer
// into Shards shards (2…MaxFeaturizeShards).
type ShardLogInput struct {
	Featurize FeaturizeInput `json:"featurize"`
	Shards    int            `json:"shards"`
}

// ShardPlan is what ShardLog resolves once from the whole log for every
// shard and the merge: the cutoff and the snapshot cutoffs (YYYY-MM-DD,
// latest first), and whether the features leave out the weekly sequences
// (no model of the run, nor the champion, needs them; see
// FeaturizeInput.Models).
type ShardPlan struct {
	Cutoff           string   `json:"cutoff"`
	SnapshotCutoffs  []string `json:"snapshot_cutoffs,omitempty"`
	WithoutSequences bool     `json:"without_sequences,omitempty"`
}

// ShardLogResult references the shards (canonical CSV, content-addressed)
// and the plan resolved from the whole log.
type ShardLogResult struct {
	Shards []artifacts.Ref `json:"shards"`
	Rows   []int64         `json:"rows"`
	ShardPlan
}

// FeaturizeShardInput asks for the features of one shard of the log by the
// plan ShardLog resolved.
type FeaturizeShardInput struct {
	Featurize FeaturizeInput `json:"featurize"`
	Log       artifacts.Ref  `json:"log"`
	Rows      int64          `json:"rows"`
	Shard     int            `json:"shard"`
	ShardPlan
}

// FeaturizeShardResult references one shard's stored feature set and
// snapshots; Stats are the shard builder's counts, which the CSV lacks.
type FeaturizeShardResult struct {
	Shard     int            `json:"shard"`
	Features  artifacts.Ref  `json:"features"`
	Customers int            `json:"customers"`
	Stats     features.Stats `json:"stats"`
	Snapshots []SnapshotRef  `json:"snapshots,omitempty"`
}

// MergeFeaturesInput asks to merge the shards' features into the result
// Featurize gives for the whole log.
type MergeFeaturesInput struct {
	Featurize FeaturizeInput         `json:"featurize"`
	Shards    []FeaturizeShardResult `json:"shards"`
	ShardPlan
}

// TrainInput asks to train one model kind (naive, bgnbd, pnbd, mbgnbd, ziln
// or seq).
type TrainInput struct {
	Kind        string        `json:"kind"`
	Features    artifacts.Ref `json:"features"`
	Split       artifacts.Ref `json:"split"`
	HorizonDays int           `json:"horizon_days"`
	Seed        uint64        `json:"seed"`
	// CheckpointKey is where training checkpoints go in the models bucket;
	// a retried activity resumes from the checkpoint named in its last
	// heartbeat.
	CheckpointKey string `json:"checkpoint_key,omitempty"`
	// MaxEpochs overrides the network's default epoch budget (0 = default).
	MaxEpochs int `json:"max_epochs,omitempty"`
	// Snapshots are earlier training snapshots the neural models also
	// learn from (rows of the training customers only); others ignore them.
	Snapshots []artifacts.Ref `json:"snapshots,omitempty"`
}

// TrainResult references a trained model.
type TrainResult struct {
	Kind             string         `json:"kind"`
	Model            artifacts.Ref  `json:"model"`
	Params           map[string]any `json:"params,omitempty"`
	FitSeconds       float64        `json:"fit_seconds"`
	Epochs           int            `json:"epochs,omitempty"`
	ResumedFromEpoch int            `json:"resumed_from_epoch,omitempty"`
	// TrainingRows is the number of rows a neural model learned from
	// (training customers at the cutoff plus their snapshot rows).
	TrainingRows int      `json:"training_rows,omitempty"`
	Warnings     []string `json:"warnings,omitempty"`
	// Loss is a network's training and validation loss per epoch, one curve
	// per ensemble member (the epochs this attempt trained: a resumed run's
	// curves start at the checkpoint).
	Loss []LossCurve `json:"loss,omitempty"`
}

// LossCurve is one ensemble member's loss per epoch.
type LossCurve struct {
	Member     int       `json:"member"`
	FirstEpoch int       `json:"first_epoch"`
	Train      []float64 `json:"train"`
	Validation []float64 `json:"validation"`
}

// TrainProgress is the heartbeat detail of a training activity.
type TrainProgress struct {
	Kind       string        `json:"kind"`
	Epoch      int           `json:"epoch"`
	TrainLoss  float64       `json:"train_loss"`
	ValLoss    float64       `json:"val_loss"`
	Checkpoint artifacts.Ref `json:"checkpoint"`
}

// ChampionInfo is the current champion, if any.
type ChampionInfo struct {
	Version string        `json:"version,omitempty"`
	Kind    string        `json:"kind,omitempty"`
	ONNX    artifacts.Ref `json:"onnx"`
}

// EvaluateInput asks for metrics of every trained model (and the champion)
// on the test customers.
type EvaluateInput struct {
	Features    artifacts.Ref `json:"features"`
	Split       artifacts.Ref `json:"split"`
	Models      []TrainResult `json:"models"`
	Champion    *ChampionInfo `json:"champion,omitempty"`
	HorizonDays int           `json:"horizon_days"`
	// Confidence > 0 asks for paired bootstrap intervals of the gate's
	// differences (Resamples, Seed: how they are drawn).
	Confidence float64 `json:"confidence,omitempty"`
	Resamples  int     `json:"resamples,omitempty"`
	Seed       uint64  `json:"seed,omitempty"`
	// Baseline is the gate's baseline kind (empty: modelkind.Baseline).
	Baseline string `json:"baseline,omitempty"`
	// Rows and RuleCounts describe the cleaned data (for the report).
	Rows       int64            `json:"rows,omitempty"`
	RuleCounts map[string]int64 `json:"rule_counts,omitempty"`
}

// GateBootstrap are the paired bootstrap intervals the statistical gate
// reads, all on the same test customers.
type GateBootstrap struct {
	// GiniLift is challenger − baseline normalized Gini.
	GiniLift metrics.Interval `json:"gini_lift"`
	// DecileMAPEChange is challenger − baseline decile MAPE.
	DecileMAPEChange metrics.Interval `json:"decile_mape_change"`
	// ChampionAdvantage is champion − challenger normalized Gini (nil
	// without a champion).
	ChampionAdvantage *metrics.Interval `json:"champion_advantage,omitempty"`
}

// ChampionMetrics is the metrics key of the current champion scored on the
// same test customers as the challenger.
const ChampionMetrics = "champion"

// EvaluateResult holds the metrics and the chosen challenger.
type EvaluateResult struct {
	// Metrics per model name on the test customers ("champion" for the
	// current champion scored on the same customers).
	Metrics         map[string]metrics.Report `json:"metrics"`
	Challenger      string                    `json:"challenger"`
	Baseline        string                    `json:"baseline"`
	ChampionVersion string                    `json:"champion_version,omitempty"`
	TestCustomers   int                       `json:"test_customers"`
	Report          artifacts.Ref             `json:"report"`
	// HTMLReport is the evaluation report (package report): one
	// self-contained HTML page with the plots.
	HTMLReport artifacts.Ref `json:"html_report,omitzero"`
	// Bootstrap is set when the input asked for a confidence.
	Bootstrap *GateBootstrap `json:"bootstrap,omitempty"`
}

// ExportInput asks to export the challenger to ONNX and prove parity.
type ExportInput struct {
	Kind            string        `json:"kind"`
	Model           artifacts.Ref `json:"model"`
	Features        artifacts.Ref `json:"features"`
	Split           artifacts.Ref `json:"split"`
	Seed            uint64        `json:"seed"`
	ParityTolerance float64       `json:"parity_tolerance"`
	ParityRows      int           `json:"parity_rows"`
	// RawDatasetSHA256 and CleanDatasetSHA256 are written into the ONNX
	// metadata; the registry entry names the same two datasets.
	RawDatasetSHA256   string `json:"raw_dataset_sha256"`
	CleanDatasetSHA256 string `json:"clean_dataset_sha256"`
}

// ExportResult references the ONNX file and summarises its parity check.
type ExportResult struct {
	ONNX          artifacts.Ref          `json:"onnx"`
	ModelVersion  string                 `json:"model_version"` // content digest recorded in the ONNX metadata
	FeatureSchema string                 `json:"feature_schema"`
	Parity        registry.ParitySummary `json:"parity"`
}

// Run identifies the workflow run an activity acts for; the registry records
// it with every version, event and alias move.
type Run struct {
	WorkflowID string `json:"workflow_id,omitempty"`
	RunID      string `json:"run_id,omitempty"`
}

// RegisterInput is exactly what is recorded about a new model version: the
// challenger, the data it was trained on, its evaluation and gate verdict,
// and (when the gate passed) its ONNX export.
type RegisterInput struct {
	Run
	Kind   string         `json:"kind"`
	Seed   uint64         `json:"seed"`
	Params map[string]any `json:"params,omitempty"` // the challenger's hyper-parameters
	// Model is the challenger's trained model artifact.
	Model    artifacts.Ref        `json:"model"`
	Dataset  registry.DatasetRef  `json:"dataset"`
	Cleaning registry.CleaningRef `json:"cleaning"`
	// Quarantine holds the rows validation rejected.
	Quarantine  artifacts.Ref `json:"quarantine"`
	Features    artifacts.Ref `json:"features"`
	Split       artifacts.Ref `json:"split"`
	Snapshots   []SnapshotRef `json:"snapshots,omitempty"`
	Cutoff      string        `json:"cutoff"`
	HorizonDays int           `json:"horizon_days"`
	// Metrics per model name on the test customers, Evaluation their report.
	Metrics    map[string]metrics.Report `json:"metrics"`
	Evaluation artifacts.Ref             `json:"evaluation"`
	// HTMLReport is the evaluation report page (artifact "report").
	HTMLReport artifacts.Ref `json:"html_report,omitzero"`
	Gate       registry.Gate `json:"gate"`
	Export     *ExportResult `json:"export,omitempty"`
	// Labels are recorded as given (empty values are dropped).
	Labels map[string]string `json:"labels,omitempty"`
	// Policy is the worker's policy the run applied (nil for runs recorded
	// before policies were).
	Policy *registry.PolicyRecord `json:"policy,omitempty"`
}

// EventInput records a status event on a version.
type EventInput struct {
	Run
	Version string             `json:"version"`
	Type    registry.EventType `json:"type"`
	Actor   string             `json:"actor"`
	Comment string             `json:"comment,omitempty"`
	// Signed is the verified signed decision behind the event, if any.
	Signed *registry.SignedDecision `json:"signed,omitempty"`
}

// PolicyResult is the worker's policy as a run loaded it.
type PolicyResult struct {
	Policy policy.Policy `json:"policy"`
}

// MoveAliasInput moves an alias (compare-and-swap when ExpectFrom is set).
type MoveAliasInput struct {
	Run
	Alias      string  `json:"alias"`
	To         string  `json:"to"`
	ExpectFrom *string `json:"expect_from,omitempty"`
	Actor      string  `json:"actor"`
	Reason     string  `json:"reason,omitempty"`
	// Decision is the signed decision behind the move (approval, rollback);
	// its digest goes into the move's signed provenance.
	Decision *registry.SignedDecision `json:"decision,omitempty"`
}

// CanaryInput asks to load a version's ONNX file the way serving does and
// score a sample of customers with it.
type CanaryInput struct {
	Version  string        `json:"version"`
	Features artifacts.Ref `json:"features"`
	Rows     int           `json:"rows"`
}

// CanaryResult reports the canary's scoring.
type CanaryResult struct {
	Version string  `json:"version"`
	Rows    int     `json:"rows"`
	Mean    float64 `json:"mean_expected_value"`
}

// DiscardInput asks to delete artifacts a failed run left behind, keeping
// any that a registered version references.
type DiscardInput struct {
	Refs   []artifacts.Ref `json:"refs"`
	Reason string          `json:"reason"`
}

// DiscardResult says what was deleted and what was kept.
type DiscardResult struct {
	Deleted []artifacts.Ref `json:"deleted,omitempty"`
	Kept    []artifacts.Ref `json:"kept,omitempty"`
}

// RollbackTargetInput asks which version the champion should roll back to.
type RollbackTargetInput struct {
	Alias string `json:"alias"`
	To    string `json:"to,omitempty"` // explicit target; empty = the previous champion
}

// RollbackTarget is the champion now and the version to roll back to.
type RollbackTarget struct {
	Current string `json:"current"`
	Target  string `json:"target"`
	// TargetONNXSHA256 is the sha256 of the target's ONNX file (what a
	// signed rollback names).
	TargetONNXSHA256 string `json:"target_onnx_sha256,omitempty"`
}
