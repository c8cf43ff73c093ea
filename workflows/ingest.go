package workflows

import (
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
	ctx = workflow.WithActivityOptions(ctx, ingestOptions(0))
	var res activities.IngestResult
	if err := workflow.ExecuteActivity(ctx, acts.IngestDataset, in).Get(ctx, &res); err != nil {
		_ = setStage(ctx, "failed")
		return res, err
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, temporal.NewSearchAttributeKeyKeyword(searchattr.Dataset).ValueSet(res.Dataset.SHA256))
	_ = setStage(ctx, "done")
	return res, nil
}
