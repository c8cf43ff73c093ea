package workflows

import (
	"github.com/clvflow/clvflow/registry"
	"go.temporal.io/sdk/workflow"
)

// compensate runs one compensation on a disconnected context, so that it
// also runs when the workflow is being cancelled, records it, and reports
// whether it succeeded.
func (p *pipeline) compensate(ctx workflow.Context, what string, fn func(ctx workflow.Context) error) bool {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	dctx = workflow.WithActivityOptions(dctx, compensationOptions(p.in.RetryBudget))
	if err := fn(dctx); err != nil {
		p.logger.Error("compensation failed", "compensation", what, "error", err)
		p.res.Compensations = append(p.res.Compensations, what+": FAILED: "+rootMessage(err))
		return false
	}
	p.res.Compensations = append(p.res.Compensations, what)
	return true
}

// orphan marks the registered version orphaned: it will never be promoted
// by this run.
func (p *pipeline) orphan(ctx workflow.Context, reason string) {
	p.compensate(ctx, "mark "+p.version+" orphaned", func(ctx workflow.Context) error {
		return recordEvent(ctx, p.run, p.version, registry.EventOrphaned, "clvflow-pipeline", reason)
	})
}
