package workflows

import "go.temporal.io/sdk/worker"

// Register registers every clvflow workflow on a worker.
func Register(r worker.WorkflowRegistry) {
	r.RegisterWorkflow(IngestDataset)
	r.RegisterWorkflow(TrainingPipeline)
	r.RegisterWorkflow(Rollback)
	r.RegisterWorkflow(BatchScore)
	r.RegisterWorkflow(Realised)
	r.RegisterWorkflow(RealiseDue)
}
