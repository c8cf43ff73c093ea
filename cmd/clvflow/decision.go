package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
)

// decide sends an approval Update to the run that registered version.
func (a *app) decide(cmd *cobra.Command, version string, d workflows.Decision) error {
	if strings.TrimSpace(d.Approver) == "" {
		return errors.New("--approver NAME is required")
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
	tc, cfg, err := a.temporal(cmd.Context())
	if err != nil {
		return err
	}
	defer tc.Close()
	d.Version = version
	h, err := tc.UpdateWorkflow(cmd.Context(), client.UpdateWorkflowOptions{
		WorkflowID: v.WorkflowID, RunID: v.RunID, UpdateName: workflows.UpdateApproval,
		Args: []any{d}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return fmt.Errorf("%s refused: %s", version, rootCause(err))
	}
	var got workflows.Decision
	if err := h.Get(cmd.Context(), &got); err != nil {
		return fmt.Errorf("%s refused: %s", version, rootCause(err))
	}
	word := "rejected"
	if got.Approve {
		word = "approved"
	}
	fmt.Fprintf(a.out, "%s %s by %s; the pipeline continues: %s\n", version, word, got.Approver, runURL(cfg, v.WorkflowID, v.RunID))
	return nil
}
