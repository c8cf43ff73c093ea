package workflows

import (
	"errors"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/registry"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// RollbackInput asks to move the champion back.
type RollbackInput struct {
	// To is the version to roll back to; empty means the version the
	// champion pointed at before its current one.
	To     string `json:"to,omitempty"`
	Actor  string `json:"actor"`
	Reason string `json:"reason,omitempty"`
}

// RollbackResult says what moved.
type RollbackResult struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Rollback moves the champion alias to an earlier version with the same
// audit trail as a promotion (who, why, which workflow).
func Rollback(ctx workflow.Context, in RollbackInput) (RollbackResult, error) {
	var res RollbackResult
	if in.Actor == "" {
		return res, temporal.NewNonRetryableApplicationError("rollback: an actor (who asks for it) is required", activities.ErrTypeBadInput, errors.New("missing actor"))
	}
	_ = setStage(ctx, "rollback")
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5, NonRetryableErrorTypes: activities.NonRetryableErrorTypes},
	})
	var a *activities.Activities
	var target activities.RollbackTarget
	if err := workflow.ExecuteActivity(ctx, a.ResolveRollbackTarget, activities.RollbackTargetInput{Alias: AliasChampion, To: in.To}).Get(ctx, &target); err != nil {
		_ = setStage(ctx, "failed")
		return res, err
	}
	info := workflow.GetInfo(ctx)
	reason := in.Reason
	if reason == "" {
		reason = "manual rollback"
	}
	expect := target.Current
	if err := workflow.ExecuteActivity(ctx, a.MoveAlias, activities.MoveAliasInput{Alias: AliasChampion, To: target.Target, ExpectFrom: &expect,
		Actor: in.Actor, Reason: reason, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}).Get(ctx, nil); err != nil {
		_ = setStage(ctx, "failed")
		return res, err
	}
	if err := workflow.ExecuteActivity(ctx, a.RecordEvent, activities.EventInput{Version: target.Current, Type: registry.EventDemoted, Actor: in.Actor,
		Comment: reason, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}).Get(ctx, nil); err != nil {
		return res, err
	}
	_ = setStage(ctx, "done")
	return RollbackResult{From: target.Current, To: target.Target}, nil
}
