package workflows

import (
	"github.com/clvflow/clvflow/registry"
	"go.temporal.io/sdk/workflow"
)

// compensate runs one compensation on a disconnected context, so that it
// also runs when the workflow is being cancelled, and records it.
func (p *pipeline) compensate(ctx workflow.Context, what string, fn func(ctx workflow.Context) error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	dctx = workflow.WithActivityOptions(dctx, compensationOptions(p.in.RetryBudget))
	if err := fn(dctx); err != nil {
		p.logger.Error("compensation failed", "compensation", what, "error", err)
		p.res.Compensations = append(p.res.Compensations, what+": FAILED: "+rootMessage(err))
		return
	}
	p.res.Compensations = append(p.res.Compensations, what)
}

// orphan marks the registered version orphaned: it will never be promoted
// by this run.
func (p *pipeline) orphan(ctx workflow.Context, reason string) {
	p.compensate(ctx, "mark "+p.version+" orphaned", func(ctx workflow.Context) error {
		return recordEvent(ctx, p.run, p.version, registry.EventOrphaned, "clvflow-pipeline", reason)
	})
}

// rollbackChampion moves the champion from `from` back to `to` and records
// the demotion; with no previous champion (to == "") there is nothing to
// move back to, so only the demotion is recorded.
func (p *pipeline) rollbackChampion(ctx workflow.Context, from, to, reason string) error {
	if to != "" {
		expect := from
		if err := moveAlias(ctx, p.run, AliasChampion, to, &expect, "clvflow-canary", reason); err != nil {
			return err
		}
	}
	return recordEvent(ctx, p.run, from, registry.EventDemoted, "clvflow-canary", reason)
}

func displayVersion(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}
