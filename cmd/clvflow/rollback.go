package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
)

func (a *app) rollbackCmd() *cobra.Command {
	var to, reason string
	var asJSON bool
	var f signFlags
	c := &cobra.Command{
		Use:   "rollback [--to VERSION] --approver NAME --key SSHKEY [--reason TEXT]",
		Short: "Move the champion back (to the previous one, or --to VERSION) through the Rollback workflow, as a signed decision",
		Long: `Signs a statement naming the rollback workflow, the target version and its ONNX
file, the champion it replaces, you, the reason and the time, and starts the
Rollback workflow with it. The worker refuses it unless its allowed signers
let your key sign as --approver and the target is a version a person approved.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.rollback(cmd, to, reason, asJSON, f)
		},
	}
	c.Flags().StringVar(&to, "to", "", "version to roll back to (default: the previous champion)")
	c.Flags().StringVar(&reason, "reason", "", "why (part of what you sign)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	f.register(c.Flags())
	return c
}

func (a *app) rollback(cmd *cobra.Command, to, reason string, asJSON bool, f signFlags) error {
	cfg, err := a.config()
	if err != nil {
		return err
	}
	id := "rollback-" + time.Now().UTC().Format("20060102T150405Z") + "-" + randomSuffix()
	st, err := a.rollbackStatement(cmd.Context(), id, to, reason)
	if err != nil {
		return err
	}
	statement, signature, err := a.signed(cmd.Context(), cfg, f, st)
	if errors.Is(err, errPrinted) {
		return nil
	}
	if err != nil {
		return err
	}
	if f.statementFile != "" {
		parsed, _ := approval.ParseStatement(statement)
		id = parsed.WorkflowID // the workflow id the statement was signed for
	}
	tc, _, err := a.temporal(cmd.Context())
	if err != nil {
		return err
	}
	defer tc.Close()
	run, err := tc.ExecuteWorkflow(cmd.Context(), client.StartWorkflowOptions{ID: id, TaskQueue: cfg.Temporal.TaskQueue, WorkflowExecutionErrorWhenAlreadyStarted: true},
		workflows.Rollback, workflows.RollbackInput{To: st.Version, Statement: string(statement), Signature: string(signature)})
	if err != nil {
		return err
	}
	var res workflows.RollbackResult
	if err := run.Get(cmd.Context(), &res); err != nil {
		return fmt.Errorf("rollback failed: %s (see %s)", rootCause(err), runURL(cfg, id, run.GetRunID()))
	}
	if asJSON {
		return writeJSON(a.out, map[string]any{"workflow_id": id, "from": res.From, "to": res.To})
	}
	fmt.Fprintf(a.out, "champion rolled back from %s to %s (%s)\n", res.From, res.To, runURL(cfg, id, run.GetRunID()))
	return nil
}

// rollbackStatement names what a rollback will do: the champion now, the
// target (the previous champion unless to is given) and its ONNX file.
func (a *app) rollbackStatement(ctx context.Context, id, to, reason string) (approval.Statement, error) {
	reg, err := a.openRegistry(ctx)
	if err != nil {
		return approval.Statement{}, err
	}
	hist, err := reg.History(ctx, workflows.AliasChampion)
	if err != nil {
		return approval.Statement{}, fmt.Errorf("rollback: %w", err)
	}
	last := hist[len(hist)-1]
	if to == "" {
		if last.From == "" {
			return approval.Statement{}, fmt.Errorf("rollback: the champion has no previous version (it was first set to %s); name one with --to", last.To)
		}
		to = last.From
	}
	v, err := reg.Get(ctx, to)
	if err != nil {
		return approval.Statement{}, fmt.Errorf("rollback target: %w", err)
	}
	return approval.Statement{Decision: approval.Rollback, WorkflowID: id, Version: to, ONNXSHA256: v.ONNX.SHA256, From: last.To, Comment: reason}, nil
}
