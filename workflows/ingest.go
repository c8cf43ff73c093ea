package workflows

import (
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/internal/searchattr"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// IngestDataset uploads one transaction log into the dataset bucket and
// records its manifest. It is the first step of every training run and can
// also be run on its own (`clvflow ingest`). Only the file's path goes in
// and only references come out.
func IngestDataset(ctx workflow.Context, in activities.IngestInput) (activities.IngestResult, error) {
	_ = setStage(ctx, "ingest")
	ctx = workflow.WithActivityOptions(ctx, ingestActivityOptions())
	var a *activities.Activities
	var res activities.IngestResult
	if err := workflow.ExecuteActivity(ctx, a.IngestDataset, in).Get(ctx, &res); err != nil {
		_ = setStage(ctx, "failed")
		return res, err
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, temporal.NewSearchAttributeKeyKeyword(searchattr.Dataset).ValueSet(res.Dataset.SHA256))
	_ = setStage(ctx, "done")
	return res, nil
}

func ingestActivityOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: activities.NonRetryableErrorTypes,
		},
	}
}

// setStage records the pipeline stage as a search attribute so runs can be
// found by stage in the Temporal UI and with `temporal workflow list`.
func setStage(ctx workflow.Context, stage string) error {
	return workflow.UpsertTypedSearchAttributes(ctx, temporal.NewSearchAttributeKeyKeyword(searchattr.Stage).ValueSet(stage))
}
