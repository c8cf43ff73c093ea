package workflows

import (
	"errors"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/registry"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Rollback moves the champion alias to an earlier version with the same
// audit trail as a promotion (who, why, which workflow).
func Rollback(ctx workflow.Context, in RollbackInput) (RollbackResult, error) {
	var res RollbackResult
	if in.Actor == "" {
		return res, temporal.NewNonRetryableApplicationError("rollback: an actor (who asks for it) is required", activities.ErrTypeBadInput, errors.New("missing actor"))
	}
	_ = setStage(ctx, "rollback")
	ctx = workflow.WithActivityOptions(ctx, registryOptions(0))
	var target activities.RollbackTarget
	if err := workflow.ExecuteActivity(ctx, acts.ResolveRollbackTarget, activities.RollbackTargetInput{Alias: AliasChampion, To: in.To}).Get(ctx, &target); err != nil {
		_ = setStage(ctx, "failed")
		return res, err
	}
	run := runOf(ctx)
	reason := in.Reason
	if reason == "" {
		reason = "manual rollback"
	}
	expect := target.Current
	if err := moveAlias(ctx, run, AliasChampion, target.Target, &expect, in.Actor, reason); err != nil {
		_ = setStage(ctx, "failed")
		return res, err
	}
	if err := recordEvent(ctx, run, target.Current, registry.EventDemoted, in.Actor, reason); err != nil {
		return res, err
	}
	_ = setStage(ctx, "done")
	return RollbackResult{From: target.Current, To: target.Target}, nil
}
