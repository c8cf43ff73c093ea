package workflows

import (
	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/registry"
	"go.temporal.io/sdk/workflow"
)

// recordEvent appends a status event to a version on behalf of run.
func recordEvent(ctx workflow.Context, run activities.Run, version string, t registry.EventType, actor, comment string) error {
	return workflow.ExecuteActivity(ctx, acts.RecordEvent, activities.EventInput{Run: run, Version: version, Type: t,
		Actor: actor, Comment: comment}).Get(ctx, nil)
}

// recordDecision appends a decision event (with its signed statement) to a
// version on behalf of run.
func recordDecision(ctx workflow.Context, run activities.Run, version string, e registry.Event) error {
	return workflow.ExecuteActivity(ctx, acts.RecordEvent, activities.EventInput{Run: run, Version: version, Type: e.Type,
		Actor: e.Actor, Comment: e.Comment, Signed: e.Signed}).Get(ctx, nil)
}

// moveAlias moves an alias on behalf of run (a compare-and-swap when
// expectFrom is set); decision is the signed decision behind it, if any.
func moveAlias(ctx workflow.Context, run activities.Run, alias, to string, expectFrom *string, actor, reason string, decision *registry.SignedDecision) error {
	return workflow.ExecuteActivity(ctx, acts.MoveAlias, activities.MoveAliasInput{Run: run, Alias: alias, To: to,
		ExpectFrom: expectFrom, Actor: actor, Reason: reason, Decision: decision}).Get(ctx, nil)
}

// runOf is the identity of the current workflow run.
func runOf(ctx workflow.Context) activities.Run {
	info := workflow.GetInfo(ctx)
	return activities.Run{WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}
}
