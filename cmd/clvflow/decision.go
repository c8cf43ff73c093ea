package main

import (
	"errors"
	"fmt"

	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
)

// decide signs a decision about version and sends it as an approval Update
// to the run that registered the version.
func (a *app) decide(cmd *cobra.Command, version, decision, comment string, f signFlags) error {
	cfg, err := a.config()
	if err != nil {
		return err
	}
	reg, err := a.openRegistry(cmd.Context())
	if err != nil {
		return err
	}
	v, err := reg.Get(cmd.Context(), version)
	if err != nil {
		return err
	}
	if v.WorkflowID == "" {
		return fmt.Errorf("version %s was not registered by a pipeline run; nothing waits for its approval", version)
	}
	st := approval.Statement{Decision: decision, WorkflowID: v.WorkflowID, RunID: v.RunID, Version: version, ONNXSHA256: v.ONNX.SHA256, Comment: comment}
	statement, signature, err := a.signed(cmd.Context(), cfg, f, st)
	if errors.Is(err, errPrinted) {
		return nil
	}
	if err != nil {
		return err
	}
	got, err := a.sendDecision(cmd, v.WorkflowID, v.RunID, workflows.Decision{Version: version, Statement: string(statement), Signature: string(signature)})
	if err != nil {
		return fmt.Errorf("%s refused: %w", version, err)
	}
	word := "rejected"
	if got.Approve {
		word = "approved"
	}
	fp := ""
	if got.Signer != nil {
		fp = " (key " + got.Signer.Fingerprint + ")"
	}
	fmt.Fprintf(a.out, "%s %s by %s%s; the pipeline continues: %s\n", version, word, got.Approver, fp, runURL(cfg, v.WorkflowID, v.RunID))
	return nil
}

// sendDecision sends the approval Update and waits for its result.
func (a *app) sendDecision(cmd *cobra.Command, workflowID, runID string, d workflows.Decision) (workflows.Decision, error) {
	tc, _, err := a.temporal(cmd.Context())
	if err != nil {
		return workflows.Decision{}, err
	}
	defer tc.Close()
	h, err := tc.UpdateWorkflow(cmd.Context(), client.UpdateWorkflowOptions{
		WorkflowID: workflowID, RunID: runID, UpdateName: workflows.UpdateApproval,
		Args: []any{d}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return workflows.Decision{}, errors.New(rootCause(err))
	}
	var got workflows.Decision
	if err := h.Get(cmd.Context(), &got); err != nil {
		return workflows.Decision{}, errors.New(rootCause(err))
	}
	return got, nil
}
