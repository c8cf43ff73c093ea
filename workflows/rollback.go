package workflows

import (
	"errors"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/registry"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Rollback moves the champion alias to an earlier, approved version with the
// same audit trail as a promotion (who, why, which workflow). The request is
// a signed decision: the worker's allowed signers must know the key, and the
// statement must name this workflow, the target, its ONNX file and the
// champion it replaces.
func Rollback(ctx workflow.Context, in RollbackInput) (RollbackResult, error) {
	var res RollbackResult
	signed := workflow.GetVersion(ctx, policyChange, workflow.DefaultVersion, 1) != workflow.DefaultVersion
	if !signed && in.Actor == "" {
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
	ev := registry.Event{Type: registry.EventDemoted, Actor: in.Actor, Comment: in.Reason}
	if signed {
		v, err := verifyRollback(ctx, in, target)
		if err != nil {
			_ = setStage(ctx, "failed")
			return res, err
		}
		ev.Actor, ev.Comment = v.Signer.Principal, v.Statement.Comment
		ev.Signed = signedRecord(&Decision{Statement: in.Statement, Signature: in.Signature, Signer: &v.Signer})
	}
	if ev.Comment == "" {
		ev.Comment = "manual rollback"
	}
	expect := target.Current
	if err := moveAlias(ctx, run, AliasChampion, target.Target, &expect, ev.Actor, ev.Comment, ev.Signed); err != nil {
		_ = setStage(ctx, "failed")
		return res, err
	}
	if err := recordDecision(ctx, run, target.Current, ev); err != nil {
		return res, err
	}
	_ = setStage(ctx, "done")
	return RollbackResult{From: target.Current, To: target.Target}, nil
}

// verifyRollback loads the worker's policy and checks the signed rollback
// decision against it and against the resolved target.
func verifyRollback(ctx workflow.Context, in RollbackInput, t activities.RollbackTarget) (approval.Verified, error) {
	gov, _, err := loadGovernance(ctx, nil, 0, 0)
	if err != nil {
		return approval.Verified{}, err
	}
	started := workflow.GetInfo(ctx).WorkflowStartTime
	exp := approval.Expect{Decisions: []string{approval.Rollback}, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID,
		Version: t.Target, ONNXSHA256: t.TargetONNXSHA256, From: t.Current,
		NotBefore: started.Add(-maxClockSkew), NotAfter: workflow.Now(ctx).Add(maxClockSkew)}
	v, err := gov.verifySigned(in.Statement, in.Signature, exp, nil)
	if err != nil {
		return approval.Verified{}, temporal.NewNonRetryableApplicationError("rollback refused: "+err.Error(), activities.ErrTypePolicy, nil)
	}
	return v, nil
}
